//! The control plane's rate-limit service (Envoy's
//! `envoy.service.ratelimit.v3`), for global token budgets: Envoy's
//! `ratelimit` filter asks it whether a request may start (its budget still
//! holds tokens) and, when the stream is done, tells it the tokens the reply
//! used (the route's `hits_addend`, from the llmgate filter's count). The
//! buckets live in Redis ([`store`]), so every Envoy of every replica
//! shares them.
//!
//! Descriptors that are not a token budget's are answered OK: this service
//! only judges what the translator asked it to.

pub mod descriptor;
mod store;

use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{Code, DescriptorStatus};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService, RateLimitServiceServer,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};

use descriptor::Phase;
pub use store::Store;

pub struct Limiter {
    store: Store,
}

impl Limiter {
    pub fn server(store: Store) -> RateLimitServiceServer<Limiter> {
        RateLimitServiceServer::new(Limiter { store })
    }
}

/// Whole seconds, rounded up, at least 1.
fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

#[tonic::async_trait]
impl RateLimitService for Limiter {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        let request = request.into_inner();
        let mut statuses = Vec::with_capacity(request.descriptors.len());
        // The budget with the longest wait, and the wait.
        let mut wait: Option<(String, u64)> = None;
        for d in &request.descriptors {
            let entries: Vec<(&str, &str)> = d
                .entries
                .iter()
                .map(|e| (e.key.as_str(), e.value.as_str()))
                .collect();
            let hits = d
                .hits_addend
                .as_ref()
                .map(|h| h.value)
                .or((request.hits_addend > 0).then_some(u64::from(request.hits_addend)));
            let ok = DescriptorStatus {
                code: Code::Ok as i32,
                ..DescriptorStatus::default()
            };
            let Some(ask) = descriptor::parse(&entries, hits) else {
                statuses.push(ok);
                continue;
            };
            let charge = match ask.phase {
                Phase::Admit => 0,
                Phase::Charge(n) => n,
            };
            let level = self
                .store
                .take(&ask.key, ask.bucket, charge)
                .await
                .map_err(|e| {
                    tracing::warn!("token budget store: {e}");
                    // Envoy then applies the filter's failure mode.
                    tonic::Status::unavailable(e)
                })?;
            if ask.phase == Phase::Admit && level.tokens <= 0 {
                if wait.as_ref().is_none_or(|(_, ms)| level.wait_ms > *ms) {
                    wait = Some((ask.budget.clone(), level.wait_ms));
                }
                statuses.push(DescriptorStatus {
                    code: Code::OverLimit as i32,
                    ..DescriptorStatus::default()
                });
            } else {
                statuses.push(DescriptorStatus {
                    limit_remaining: u32::try_from(level.tokens.max(0)).unwrap_or(u32::MAX),
                    ..ok
                });
            }
        }
        let mut response = RateLimitResponse {
            overall_code: Code::Ok as i32,
            statuses,
            ..RateLimitResponse::default()
        };
        if let Some((budget, ms)) = wait {
            let s = seconds(ms);
            response.overall_code = Code::OverLimit as i32;
            // The same 429 as a budget of one Envoy's (OpenAI's shape: the
            // service does not know the client's dialect).
            response.raw_body = llmgate_filter::budget::exhausted(&budget, s, false);
            response.response_headers_to_add = [
                ("retry-after", s.to_string()),
                ("content-type", "application/json".to_owned()),
            ]
            .into_iter()
            .map(|(key, value)| HeaderValue {
                key: key.to_owned(),
                value,
                ..HeaderValue::default()
            })
            .collect();
        }
        Ok(tonic::Response::new(response))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        for (ms, s) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (60_000, 60)] {
            assert_eq!(super::seconds(ms), s, "{ms}");
        }
    }
}
