//! A stream's token budgets ([`crate::budget`]): checked before anything is
//! done to the request, charged once when it ends. Buckets are in Envoy's
//! shared data, which every worker reads and writes: a charge is a
//! compare-and-swap, retried on a concurrent change. Admission only reads
//! (a request in flight has not used anything yet), except that it creates a
//! bucket nobody has used, so charges always find one to swap.

use super::host::SharedWriteError;
use super::{Flow, Host, Plugin, Stream};
use crate::budget::bucket::{Bucket, Shape};
use crate::budget::{self, key, Tokens};
use crate::metrics;
use crate::policy_config::TokenBudget;

/// Compare-and-swap attempts before a charge is given up: each retry means
/// another worker charged the same bucket within microseconds, so running
/// out takes contention the gateway should report rather than spin on.
pub(super) const CAS_ATTEMPTS: usize = 8;

/// The buckets a request subject to budgets was let in under.
#[derive(Debug, Default)]
pub(super) struct Admitted {
    /// Index of the local budget in the policy, and its bucket's key.
    buckets: Vec<(usize, String)>,
}

impl Stream {
    /// `Some(Pause)` when a local budget is exhausted: the client has its
    /// 429 and nothing goes upstream.
    pub(super) fn check_budgets(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        anthropic_client: bool,
    ) -> Option<Flow> {
        let budgets = &plugin.cfg.policy.token_budgets;
        if budgets.is_empty() {
            return None;
        }
        let now = host.now_ms();
        let mut admitted = Admitted::default();
        // The budget that keeps the request out longest, and for how long.
        let mut refusal: Option<(&TokenBudget, u64)> = None;
        for (i, b) in budgets.iter().enumerate().filter(|(_, b)| !b.global) {
            let client = b
                .client_header
                .as_deref()
                .and_then(|name| host.request_header(&name.to_ascii_lowercase()));
            let key = key::of(&b.id, client.as_deref());
            let shape = Shape::of(b);
            let bucket = current(host, &key, shape, now).refilled(shape, now);
            if let Some(secs) = bucket.retry_after_secs(shape, now) {
                let route = self.route.as_deref().unwrap_or(metrics::UNKNOWN_ROUTE);
                host.add_counter(
                    &metrics::budget_rejected(route, &plugin.backend_label, &b.id),
                    1,
                );
                if refusal.is_none_or(|(_, longest)| secs > longest) {
                    refusal = Some((b, secs));
                }
            }
            admitted.buckets.push((i, key));
        }
        let Some((b, secs)) = refusal else {
            self.budgets = Some(admitted);
            return None;
        };
        // Refused: no bucket to charge, yet global budgets still get the
        // tokens it used (none) published.
        self.budgets = Some(Admitted::default());
        let retry_after = secs.to_string();
        // Envoy's router would retry a 429 on a priority-group Backend
        // (another member, the same bucket); `x-envoy-ratelimited` is the
        // header it never retries.
        host.send_response(
            429,
            &[
                ("content-type", "application/json"),
                ("retry-after", &retry_after),
                ("x-envoy-ratelimited", "true"),
            ],
            &budget::exhausted(&b.id, secs, anthropic_client),
        );
        self.status = Some(429);
        Some(Flow::Pause)
    }

    /// Charges what the request used to every bucket it was let in under,
    /// and publishes it for global budgets. Once: `finish` calls it once.
    pub(super) fn charge_budgets(&mut self, plugin: &Plugin, host: &mut impl Host, used: Tokens) {
        let Some(admitted) = self.budgets.take() else {
            return;
        };
        let budgets = &plugin.cfg.policy.token_budgets;
        if budgets.iter().any(|b| b.global) {
            for (count, name) in budget::GLOBAL_STATE {
                host.set_filter_state(name, used.counted(count).to_string().as_bytes());
            }
        }
        for (i, key) in &admitted.buckets {
            let Some(b) = budgets.get(*i) else {
                continue;
            };
            let amount = used.counted(b.count);
            if amount == 0 {
                continue;
            }
            if let Err(e) = charge(host, key, Shape::of(b), amount) {
                // The budget's id only: the key may stand for a client.
                log::warn!("token budget {}: {amount} tokens not charged: {e}", b.id);
            }
        }
    }
}

/// The bucket as stored, or a full one (created for the charges to swap).
fn current(host: &mut impl Host, key: &str, shape: Shape, now: u64) -> Bucket {
    match host.shared_data(key) {
        Some((bytes, cas)) => Bucket::decode(&bytes).unwrap_or_else(|| {
            let full = Bucket::full(shape, now);
            let _ = host.set_shared_data(key, &full.encode(), Some(cas));
            full
        }),
        None => {
            // Two workers creating it at once write the same full bucket.
            let full = Bucket::full(shape, now);
            let _ = host.set_shared_data(key, &full.encode(), None);
            full
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChargeError {
    /// Every attempt met another worker's change.
    Contended,
    Failed,
}

impl std::fmt::Display for ChargeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChargeError::Contended => write!(
                f,
                "the bucket changed under each of {CAS_ATTEMPTS} compare-and-swap attempts"
            ),
            ChargeError::Failed => write!(f, "Envoy refused the write to shared data"),
        }
    }
}

/// Takes `amount` from the bucket at `key`: read, refill, charge, swap;
/// again from the top when another worker swapped first.
pub(super) fn charge(
    host: &mut impl Host,
    key: &str,
    shape: Shape,
    amount: u64,
) -> Result<(), ChargeError> {
    let now = host.now_ms();
    for _ in 0..CAS_ATTEMPTS {
        let (stored, cas) = match host.shared_data(key) {
            Some((bytes, cas)) => (Bucket::decode(&bytes), Some(cas)),
            None => (None, None),
        };
        let bucket = stored.unwrap_or_else(|| Bucket::full(shape, now));
        let next = bucket.refilled(shape, now).charged(amount);
        match host.set_shared_data(key, &next.encode(), cas) {
            Ok(()) => return Ok(()),
            Err(SharedWriteError::Conflict) => continue,
            Err(SharedWriteError::Failed) => return Err(ChargeError::Failed),
        }
    }
    Err(ChargeError::Contended)
}
