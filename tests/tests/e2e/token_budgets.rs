//! TrafficPolicy `rateLimit` through Envoy: budgets in LLM tokens, charged
//! from the usage the provider reports, shared by Envoy's workers (local) or
//! by every Envoy through the control plane and a real Redis (global); and
//! request-count limits on Envoy's own `local_ratelimit`.

use std::path::Path;
use std::time::Duration;

use llmgate_e2e::controller::{eventually, Controller, XdsEnvoy};
use llmgate_e2e::harness::{free_port, post, start_gateway, Reply};
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, GATEWAY_PORT};
use llmgate_e2e::mock::{MockConfig, MockProvider, TOTAL_TOKENS};
use llmgate_e2e::redis::Redis;

const KEY: &str = "sk-budget-test-77aa";
const BODY: &[u8] = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

/// A TrafficPolicy `budget` on HTTPRoute `llm` with `spec.rateLimit` (YAML
/// flow map).
fn policy(rate_limit: &str) -> String {
    format!(
        "---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: budget}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}}]\n  rateLimit: {rate_limit}\n"
    )
}

fn manifests(gateway_port: impl std::fmt::Display, rate_limit: &str) -> String {
    let documents = yaml_stream(&[
        &Gateway::http(gateway_port),
        &AiBackend::openai("openai", AuthToken::inline(KEY)),
        &HttpRoute::prefix("llm", "/llm", "openai"),
    ]);
    format!("{documents}{}", policy(rate_limit))
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no retry-after: {:?}", reply.headers))
}

fn assert_exhausted(reply: &Reply) {
    assert_eq!(reply.status, 429, "{}", reply.text());
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("a JSON error");
    assert_eq!(body["error"]["code"], "token_budget_exhausted", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
}

#[test]
fn a_token_budget_lets_requests_in_until_spent_then_429_then_refills() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    // Two replies (47 tokens each) spend 60: the first leaves 13, the
    // second is let in on them and leaves the bucket in debt.
    let gateway = start_gateway(
        &manifests(
            GATEWAY_PORT,
            "{llmTokens: [{maxTokens: 60, fillInterval: 3s}]}",
        ),
        mock.addr().port(),
    );
    assert_eq!(TOTAL_TOKENS, 47);
    let url = gateway.url("/llm/v1/chat/completions");
    let statuses: Vec<u16> = (0..2).map(|_| post(&url, &[], BODY).status).collect();
    assert_eq!(statuses, [200, 200]);
    let refused = post(&url, &[], BODY);
    assert_exhausted(&refused);
    let wait = retry_after(&refused);
    assert!((1..=3).contains(&wait), "retry-after {wait}");
    assert_eq!(
        mock.requests().len(),
        2,
        "the refused request went upstream"
    );
    assert_eq!(
        gateway.metric(
            "llmgate_token_budget_rejected",
            &[("budget", "default/budget/0")],
            1.0
        ),
        Some(1.0),
        "{}",
        gateway.prometheus()
    );
    // Refilled once the interval has passed (-34 + 60 > 0).
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(200));
    assert_eq!(post(&url, &[], BODY).status, 200);
    assert_eq!(mock.requests().len(), 3);
}

#[test]
fn each_client_has_its_own_budget() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(
        &manifests(
            GATEWAY_PORT,
            "{llmTokens: [{maxTokens: 40, fillInterval: 1h, clientHeader: x-user-id}]}",
        ),
        mock.addr().port(),
    );
    let url = gateway.url("/llm/v1/chat/completions");
    let ask = |user: &str| post(&url, &[("x-user-id", user)], BODY);
    assert_eq!(ask("alice").status, 200);
    assert_exhausted(&ask("alice"));
    assert_eq!(ask("bob").status, 200, "bob pays for alice");
    assert_exhausted(&ask("bob"));
}

#[test]
fn a_request_limit_is_envoys_local_rate_limit() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(
        &manifests(
            GATEWAY_PORT,
            "{local: {tokenBucket: {maxTokens: 2, tokensPerFill: 2, fillInterval: 1h}}}",
        ),
        mock.addr().port(),
    );
    let url = gateway.url("/llm/v1/chat/completions");
    let statuses: Vec<u16> = (0..3).map(|_| post(&url, &[], BODY).status).collect();
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(mock.requests().len(), 2);
}

/// A folder served by its own `llmgate serve --redis` (a replica of the
/// control plane) and its own Envoy.
struct Replica {
    gateway_port: u16,
    _folder: tempfile::TempDir,
    _controller: Controller,
    _envoy: XdsEnvoy,
}

impl Replica {
    fn start(redis: &Redis, mock_port: u16, rate_limit: &str, node: &str) -> Replica {
        let folder = tempfile::tempdir().unwrap();
        let gateway_port = free_port();
        let documents = yaml_stream(&[
            &Gateway::http(gateway_port),
            &AiBackend::openai("openai", AuthToken::inline(KEY)).at("127.0.0.1", mock_port),
            &HttpRoute::prefix("llm", "/llm", "openai"),
        ]);
        write(folder.path(), &format!("{documents}{}", policy(rate_limit)));
        let controller = Controller::start_with_redis(folder.path(), &redis.url());
        let envoy = XdsEnvoy::start(&controller, node);
        let replica = Replica {
            gateway_port,
            _folder: folder,
            _controller: controller,
            _envoy: envoy,
        };
        eventually("the route is served", Duration::from_secs(20), || {
            replica.try_ask().is_some()
        });
        replica
    }

    fn try_ask(&self) -> Option<Reply> {
        llmgate_e2e::harness::try_post(
            &format!(
                "http://127.0.0.1:{}/llm/v1/chat/completions",
                self.gateway_port
            ),
            &[],
            BODY,
        )
        .ok()
        .filter(|r| r.status != 404)
    }

    fn ask(&self) -> Reply {
        let reply = self.try_ask().expect("served");
        // The charge is sent when the stream is done, after the reply.
        std::thread::sleep(Duration::from_millis(300));
        reply
    }
}

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("manifests.yaml"), text).unwrap();
}

#[test]
fn two_envoys_sharing_a_redis_budget_stop_together() {
    let redis = Redis::start();
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let budget = "{llmTokens: [{maxTokens: 100, fillInterval: 1h, global: true}]}";
    let a = Replica::start(&redis, mock.addr().port(), budget, "envoy-a");
    let b = Replica::start(&redis, mock.addr().port(), budget, "envoy-b");
    // Probing for readiness went through the budget too: start over.
    let spent_on_probes = mock.requests().len();
    assert_eq!(spent_on_probes, 2);
    // 2 probes × 47 = 94 of 100: one more request from either is let in.
    assert_eq!(a.ask().status, 200);
    let refused_a = a.ask();
    assert_exhausted(&refused_a);
    assert!(retry_after(&refused_a) >= 1);
    assert_exhausted(&b.ask());
    assert_eq!(mock.requests().len(), spent_on_probes + 1);
}
