//! The `openai` provider through Envoy: Bearer auth, the `model` override,
//! `path.full` and `authHeader`.

use llmgate_e2e::harness::start_gateway;
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, GATEWAY_PORT};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "sk-openai-test-91c2";

/// Backend `openai` at the mock behind `/openai`, as `edit` makes it.
fn manifests(edit: impl FnOnce(AiBackend) -> AiBackend) -> String {
    yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &edit(AiBackend::openai("openai", AuthToken::inline(KEY))),
        &HttpRoute::prefix("openai", "/openai", "openai"),
    ])
}

const BODY: &str = r#"{"messages":[{"role":"user","content":"Say \"model\": hi"}],"model":"gpt-3.5-turbo","temperature":0.2,"metadata":{"model":"keep-me"}}"#;

#[test]
fn model_override_changes_only_the_model_field() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(
        &manifests(|b| b.provider_field("model", "gpt-4o")),
        mock.addr().port(),
    );
    let reply = gateway.post(
        "/openai",
        &[("content-type", "application/json")],
        BODY.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());

    let upstream = &mock.requests()[0];
    assert_eq!(upstream.path_and_query, "/v1/chat/completions");
    assert_eq!(
        upstream.headers_named("authorization"),
        [format!("Bearer {KEY}")]
    );
    assert_eq!(
        upstream.header("host"),
        Some(&*format!("127.0.0.1:{}", mock.addr().port()))
    );
    let want = BODY.replace(r#""model":"gpt-3.5-turbo""#, r#""model":"gpt-4o""#);
    assert_eq!(upstream.body_text(), want);
    assert_eq!(
        upstream.header("content-length"),
        Some(&*want.len().to_string())
    );

    assert_eq!(reply.body, mock.responses()[0]);
    let labels = [
        ("backend", "default/openai"),
        ("provider", "openai"),
        ("response_model", "gpt-4o"),
        ("token_type", "output"),
    ];
    assert_eq!(
        gateway.metric("llmgate_tokens", &labels, 19.0),
        Some(19.0),
        "{}",
        gateway.prometheus()
    );
}

#[test]
fn without_override_the_clients_model_is_kept_byte_for_byte() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(&manifests(|backend| backend), mock.addr().port());
    let reply = gateway.post(
        "/openai/v1/chat/completions",
        &[("authorization", "Bearer client")],
        BODY.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = &mock.requests()[0];
    assert_eq!(upstream.body, BODY.as_bytes());
    assert_eq!(
        upstream.headers_named("authorization"),
        [format!("Bearer {KEY}")]
    );
    let labels = [
        ("backend", "default/openai"),
        ("request_model", "gpt-3.5-turbo"),
        ("token_type", "input"),
    ];
    assert_eq!(
        gateway.metric("llmgate_tokens", &labels, 28.0),
        Some(28.0),
        "{}",
        gateway.prometheus()
    );
}

/// With nothing to edit. (With a forced model the gateway refuses it
/// itself: `counting.rs`.)
#[test]
fn a_body_that_is_not_json_passes_through_unchanged() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(&manifests(|b| b), mock.addr().port());
    let body = b"model=gpt-3.5&not json at all \xff";
    let reply = gateway.post("/openai", &[], body);
    assert_eq!(reply.status, 400, "the mock rejects it, as OpenAI would");
    assert_eq!(mock.requests()[0].body, body);
}

#[test]
fn path_full_and_auth_header_overrides() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    // An Azure-style key header on an OpenAI-compatible server: the mock's Azure
    // v1 route takes `api-key` and `?api-version=preview`.
    let gateway = start_gateway(
        &manifests(|backend| {
            backend
                .llm_field(
                    "path",
                    "{full: /openai/v1/chat/completions?api-version=preview}",
                )
                .llm_field("authHeader", "{headerName: api-key}")
        }),
        mock.addr().port(),
    );
    let reply = gateway.post("/openai", &[], BODY.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = &mock.requests()[0];
    assert_eq!(
        upstream.path_and_query,
        "/openai/v1/chat/completions?api-version=preview"
    );
    assert_eq!(upstream.headers_named("api-key"), [KEY]);
    assert_eq!(upstream.header("authorization"), None);
}
