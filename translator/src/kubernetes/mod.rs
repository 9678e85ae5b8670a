//! `llmgate controller`: Kubernetes mode. Watches the cluster's Gateway API
//! objects (BackendTLSPolicies when their CRD is installed), Backends,
//! TrafficPolicies (when their CRD is installed),
//! Services, EndpointSlices, Namespaces and the Secrets and CA ConfigMaps in
//! use; re-translates everything on any change (debounced) and serves the
//! result over ADS like `llmgate serve` — every replica does. One replica,
//! the Lease holder, writes statuses back.
//!
//! IO stays at the edges: `watch` (reflectors, Secret and ConfigMap GETs), `leader` (the
//! Lease), `status_writer::write` (patches). What happens in between —
//! objects → `Snapshot` → translation → status patches — is plain functions.

pub mod leader;
pub mod snapshot;
pub mod status_writer;
pub mod watch;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, GroupVersionKind};
use kube::Client;
use tokio::sync::{watch as channel, Notify};

use crate::problem::Problem;
use crate::serve::{self, Endpoints};
use crate::status::{self as object_status, ObjectStatus};
use crate::translate;
use crate::xds::rejections;
use crate::xds::resources::{Encoder, XdsSnapshot};
use crate::xds::server::AdsStats;
use snapshot::ClusterState;

/// The custom-resource kinds llmgate watches untyped (see `snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GatewayClass,
    Gateway,
    HttpRoute,
    ReferenceGrant,
    BackendTlsPolicy,
    Backend,
    TrafficPolicy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::GatewayClass => "GatewayClass",
            Kind::Gateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
            Kind::ReferenceGrant => "ReferenceGrant",
            Kind::BackendTlsPolicy => "BackendTLSPolicy",
            Kind::Backend => "Backend",
            Kind::TrafficPolicy => "TrafficPolicy",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Kind::GatewayClass
    }

    /// The versions served by the Gateway API standard channel: v1, except
    /// ReferenceGrant, which is v1beta1 there. BackendTLSPolicy is v1 from
    /// Gateway API 1.4 on; older clusters lack it (see `watch`).
    pub fn api_resource(self) -> ApiResource {
        let (group, version, plural) = match self {
            Kind::GatewayClass => (translate::GATEWAY_GROUP, "v1", "gatewayclasses"),
            Kind::Gateway => (translate::GATEWAY_GROUP, "v1", "gateways"),
            Kind::HttpRoute => (translate::GATEWAY_GROUP, "v1", "httproutes"),
            Kind::ReferenceGrant => (translate::GATEWAY_GROUP, "v1beta1", "referencegrants"),
            Kind::BackendTlsPolicy => (translate::GATEWAY_GROUP, "v1", "backendtlspolicies"),
            Kind::Backend => (translate::BACKEND_GROUP, "v1alpha1", "backends"),
            Kind::TrafficPolicy => (translate::BACKEND_GROUP, "v1alpha1", "trafficpolicies"),
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.name()),
            plural,
        )
    }
}

#[derive(Debug, Clone)]
pub struct ControllerOptions {
    pub endpoints: Endpoints,
    pub translate: translate::Options,
    /// Watch only this namespace (namespaced kinds); all when `None`.
    pub namespace: Option<String>,
    pub lease: leader::LeaseOptions,
    /// Quiet time after the last change before re-translating.
    pub debounce: Duration,
    /// Re-translate (and re-plan statuses) this often even without changes:
    /// a status patch that failed for a reason no watch event will undo
    /// (a timeout, a webhook) is retried then.
    pub resync: Duration,
}

/// The controller's own Prometheus metrics (the ADS server's are in `AdsStats`).
#[derive(Debug, Default)]
pub struct Metrics {
    pub translations: AtomicU64,
    /// Translations whose result could not be encoded for Envoy (not published).
    pub translation_failures: AtomicU64,
    pub status_writes: AtomicU64,
    pub leader: AtomicU64,
    duration: Mutex<Histogram>,
    /// The ADS server's view of the Envoys: NACKs go into Gateway status.
    pub xds: Option<Arc<AdsStats>>,
}

/// Translation time, seconds.
#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    last: f64,
}

const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

impl Metrics {
    pub fn observe_translation(&self, seconds: f64) {
        self.translations.fetch_add(1, Relaxed);
        if let Ok(mut h) = self.duration.lock() {
            for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
            h.last = seconds;
        }
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "# TYPE llmgate_controller_translations counter\nllmgate_controller_translations {}\n\
             # TYPE llmgate_controller_translation_failures counter\nllmgate_controller_translation_failures {}\n\
             # TYPE llmgate_controller_status_writes counter\nllmgate_controller_status_writes {}\n\
             # TYPE llmgate_controller_leader gauge\nllmgate_controller_leader {}\n",
            self.translations.load(Relaxed),
            self.translation_failures.load(Relaxed),
            self.status_writes.load(Relaxed),
            self.leader.load(Relaxed),
        );
        if let Ok(h) = self.duration.lock() {
            out.push_str("# TYPE llmgate_controller_translation_duration_seconds histogram\n");
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                out.push_str(&format!(
                    "llmgate_controller_translation_duration_seconds_bucket{{le=\"{bound}\"}} {count}\n"
                ));
            }
            out.push_str(&format!(
                "llmgate_controller_translation_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
                 llmgate_controller_translation_duration_seconds_sum {}\n\
                 llmgate_controller_translation_duration_seconds_count {}\n\
                 # TYPE llmgate_controller_last_translation_seconds gauge\n\
                 llmgate_controller_last_translation_seconds {}\n",
                h.count, h.sum, h.count, h.last
            ));
        }
        out
    }
}

/// `llmgate controller`: the cluster from the environment (in-cluster service
/// account, or KUBECONFIG), served until Ctrl-C or a server fails.
pub async fn controller(options: ControllerOptions, wasm: Vec<u8>) -> Result<(), String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let (publish, snapshots) = channel::channel::<Option<Arc<XdsSnapshot>>>(None);
    let stats = Arc::new(AdsStats::default());
    let metrics = Arc::new(Metrics {
        xds: Some(stats.clone()),
        ..Metrics::default()
    });
    let rendered = metrics.clone();
    let serving = serve::serve_snapshots(
        &options.endpoints,
        snapshots,
        wasm,
        stats,
        Some(Arc::new(move || rendered.render())),
    );
    tokio::select! {
        r = serving => r,
        r = run(client, &options, publish, metrics) => r,
        _ = crate::shutdown::requested() => Ok(()),
    }
}

/// The controller minus the servers: watches, translation loop, leader
/// election, status writes. Runs until the watches stop (they do not, short
/// of the client being dropped).
pub async fn run(
    client: Client,
    options: &ControllerOptions,
    publish: channel::Sender<Option<Arc<XdsSnapshot>>>,
    metrics: Arc<Metrics>,
) -> Result<(), String> {
    let changed = Arc::new(Notify::new());
    let (stores, drivers) = watch::stores(&client, options.namespace.as_deref(), changed.clone());
    let leadership = leader::Leadership::default();
    let elected = changed.clone();
    let leading = leader::run(
        Api::<Lease>::namespaced(client.clone(), &options.lease.namespace),
        options.lease.clone(),
        leadership.clone(),
        move || elected.notify_one(),
    );
    let translating = async {
        stores.ready().await;
        tracing::info!("every watch has listed its objects");
        let mut secrets = watch::SecretCache::default();
        let mut config_maps = watch::ConfigMapCache::default();
        let mut last_report = Vec::new();
        let mut encoder = Encoder::default();
        loop {
            let referenced =
                snapshot::referenced_secrets(&stores.gateways.state(), &stores.backends.state());
            secrets.refresh(&client, &stores.secrets, &referenced).await;
            let cas = snapshot::referenced_config_maps(&stores.backend_tls_policies.state());
            config_maps
                .refresh(&client, &stores.config_maps, &cas)
                .await;
            let state = Arc::new(stores.state(&secrets, &config_maps));
            let started = Instant::now();
            // On a blocking thread: a large translation must not stall the
            // tasks serving xDS, health and metrics.
            let (job, translate_options, mut cache) = (
                state.clone(),
                options.translate.clone(),
                std::mem::take(&mut encoder),
            );
            let done = tokio::task::spawn_blocking(move || {
                let outcome = translate_state(&job, &translate_options, &mut cache);
                (outcome, cache)
            })
            .await;
            let outcome = match done {
                Ok((outcome, cache)) => {
                    encoder = cache;
                    outcome
                }
                Err(e) => {
                    metrics.translation_failures.fetch_add(1, Relaxed);
                    tracing::error!("configuration not updated, the translation failed: {e}");
                    wait_for_change(&changed, options).await;
                    continue;
                }
            };
            metrics.observe_translation(started.elapsed().as_secs_f64());
            let report: Vec<String> = outcome.problems.iter().map(ToString::to_string).collect();
            if report != last_report {
                for line in &report {
                    tracing::warn!("{line}");
                }
                last_report = report;
            }
            match outcome.snapshot {
                Ok(snapshot) => serve::publish_if_changed(&publish, snapshot),
                Err(e) => {
                    metrics.translation_failures.fetch_add(1, Relaxed);
                    tracing::error!("configuration not updated, still serving the last good one: the translation cannot be encoded for Envoy: {e}");
                }
            }
            let is_leader = leadership.is_leader();
            metrics.leader.store(u64::from(is_leader), Relaxed);
            if is_leader {
                let mut statuses = outcome.statuses;
                if let Some(xds) = &metrics.xds {
                    // Checked again at the next change or resync.
                    rejections::report_on_gateways(&mut statuses, &xds.rejections().rejecting());
                }
                let patches = status_writer::plan(
                    &statuses,
                    &state,
                    &outcome.our_gateways,
                    &options.translate.controller_name,
                    &now(),
                );
                let written = status_writer::write(&client, &patches).await;
                metrics.status_writes.fetch_add(written as u64, Relaxed);
            }
            wait_for_change(&changed, options).await;
        }
    };
    tokio::select! {
        _ = futures::future::join_all(drivers) => Err("the Kubernetes watches stopped".into()),
        _ = leading => Err("leader election stopped".into()),
        () = translating => Err("the translation loop stopped".into()),
    }
}

/// Until something changed (or the resync period passed), then quiet.
async fn wait_for_change(changed: &Notify, options: &ControllerOptions) {
    tokio::select! {
        _ = changed.notified() => {}
        _ = tokio::time::sleep(options.resync) => {}
    }
    // Debounce: an `kubectl apply -f dir/` is many events.
    while tokio::time::timeout(options.debounce, changed.notified())
        .await
        .is_ok()
    {}
}

/// What one translation of the cluster produced.
pub struct Outcome {
    pub snapshot: Result<XdsSnapshot, String>,
    pub problems: Vec<Problem>,
    /// The translator's statuses plus `Accepted: False` for objects the types
    /// rejected.
    pub statuses: Vec<ObjectStatus>,
    /// (namespace, name) of the Gateways llmgate serves.
    pub our_gateways: HashSet<(String, String)>,
}

/// Cluster state → xDS resources and statuses. Pure.
///
/// As in folder mode, every translation that encodes is published: an
/// invalid object is one user's object, left out with its status saying why,
/// and must not freeze everyone else's changes.
pub fn translate_state(
    state: &ClusterState,
    options: &translate::Options,
    encoder: &mut Encoder,
) -> Outcome {
    let (snapshot, mut problems) = snapshot::build(state, &options.controller_name);
    let translation = translate::translate(&snapshot, options);
    let mut statuses = translation.statuses;
    statuses.extend(object_status::unreadable_objects(&problems, &statuses));
    problems.extend(translation.problems);
    Outcome {
        snapshot: encoder.snapshot(&translation.bootstrap),
        problems,
        statuses,
        our_gateways: snapshot
            .gateways
            .iter()
            .map(|g| (g.namespace.clone(), g.name.clone()))
            .collect(),
    }
}

/// `lastTransitionTime` is a `meta/v1 Time`: RFC 3339, whole seconds.
fn now() -> String {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}
