//! Leader election with a `coordination.k8s.io/v1 Lease`, for status writes
//! only: every replica serves xDS, one writes status (two writers would fight
//! over `lastTransitionTime` and conflict on every patch).
//!
//! [`decide`] is the whole policy, pure; [`run`] is the IO around it: read the
//! Lease, write what `decide` says with a resourceVersion-conditional
//! create/replace (a lost race is a 409, never two leaders), repeat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

#[derive(Debug, Clone)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    /// This replica (the pod name in a cluster).
    pub identity: String,
    /// How long a holder that stops renewing keeps the lease.
    pub duration: Duration,
    /// How often the lease is read and renewed (well under `duration`).
    pub renew_every: Duration,
}

impl LeaseOptions {
    pub fn new(namespace: String, name: String, identity: String) -> Self {
        LeaseOptions {
            namespace,
            name,
            identity,
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No lease, nobody holds it, or the holder's lease expired: take it.
    Acquire,
    /// It is ours: renew it.
    Renew,
    /// Someone else holds a fresh lease.
    StandBy { holder: String },
}

/// What to do with the lease as read at `now`. A lease without a renew time
/// (or a duration) counts as expired: a holder that never renewed holds nothing.
pub fn decide(lease: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == me {
        return Decision::Renew;
    }
    let expires = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(MicroTime(renewed)), Some(seconds)) => renewed
            .checked_add(SignedDuration::from_secs(seconds.into()))
            .ok(),
        _ => None,
    };
    match expires {
        Some(expires) if expires > now => Decision::StandBy {
            holder: holder.to_string(),
        },
        _ => Decision::Acquire,
    }
}

/// The lease spec this replica writes for `decision` (None: write nothing).
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    options: &LeaseOptions,
    now: Timestamp,
) -> Option<LeaseSpec> {
    let seconds = i32::try_from(options.duration.as_secs()).unwrap_or(i32::MAX);
    let transitions = current.and_then(|s| s.lease_transitions).unwrap_or(0);
    match decision {
        Decision::StandBy { .. } => None,
        Decision::Renew => Some(LeaseSpec {
            renew_time: Some(MicroTime(now)),
            lease_duration_seconds: Some(seconds),
            ..current.cloned().unwrap_or_default()
        }),
        Decision::Acquire => Some(LeaseSpec {
            holder_identity: Some(options.identity.clone()),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_duration_seconds: Some(seconds),
            lease_transitions: Some(if current.is_some() {
                transitions + 1
            } else {
                0
            }),
            ..LeaseSpec::default()
        }),
    }
}

/// Whether this replica leads, as status writers ask it: leadership ends on
/// its own `duration` after the last successful write, even if the renew loop
/// is stuck, so a replica cut off from the API server stops writing before
/// another one can take over.
#[derive(Debug, Clone, Default)]
pub struct Leadership(Arc<Mutex<Option<Instant>>>);

impl Leadership {
    pub fn is_leader(&self) -> bool {
        self.0
            .lock()
            .map(|until| until.is_some_and(|u| Instant::now() < u))
            .unwrap_or(false)
    }
    fn set(&self, until: Option<Instant>) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = until;
        }
    }
}

/// One read-decide-write round. Returns whether this replica now holds the lease.
pub async fn round(api: &Api<Lease>, options: &LeaseOptions) -> Result<bool, kube::Error> {
    let existing = api.get_opt(&options.name).await?;
    let now = Timestamp::now();
    let spec = existing.as_ref().and_then(|l| l.spec.as_ref());
    let decision = decide(spec, &options.identity, now);
    let Some(next) = next_spec(spec, &decision, options, now) else {
        if let Decision::StandBy { holder } = &decision {
            tracing::debug!(%holder, "lease held by another replica");
        }
        return Ok(false);
    };
    let written = match existing {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(options.name.clone()),
                    namespace: Some(options.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(next),
            };
            api.create(&PostParams::default(), &lease).await
        }
        Some(mut lease) => {
            // `replace` carries the resourceVersion read above: if another
            // replica wrote in between, this is a 409 and it keeps the lease.
            lease.spec = Some(next);
            api.replace(&options.name, &PostParams::default(), &lease)
                .await
        }
    };
    match written {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keeps `leadership` up to date forever; `on_elected` runs when this
/// replica starts leading (so it writes status without waiting for a change).
pub async fn run(
    api: Api<Lease>,
    options: LeaseOptions,
    leadership: Leadership,
    on_elected: impl Fn(),
) {
    loop {
        let started = Instant::now();
        let leading = leadership.is_leader();
        match round(&api, &options).await {
            Ok(true) => {
                // Counted from before the round: the lease was written at or
                // after `started`, so it is ours at least until then.
                leadership.set(Some(started + options.duration));
                if !leading {
                    tracing::info!(identity = %options.identity, lease = %options.name,
                        "leading: this replica writes status");
                    on_elected();
                }
            }
            Ok(false) => {
                if leading {
                    tracing::info!("lost the lease: status writes stop");
                }
                leadership.set(None);
            }
            // Keep the deadline already set: it runs out on its own.
            Err(e) => tracing::warn!("lease {}/{}: {e}", options.namespace, options.name),
        }
        tokio::time::sleep(options.renew_every).await;
    }
}
