//! The Azure OpenAI story end to end: `llmgate translate` → real Envoy with the
//! real filter → the mock provider, and back.

use llmgate_e2e::harness::{start_gateway, Gateway};
use llmgate_e2e::manifests::{
    yaml_stream, AiBackend, AuthToken, Gateway as ManifestGateway, HttpRoute, Secret, GATEWAY_PORT,
};
use llmgate_e2e::mock::{MockConfig, MockProvider, ASSISTANT_TEXT, AZURE_MODEL};

const KEY: &str = "azure-test-key-7f3a";

/// The documented example, in namespace `ai`, with `host`/`port` sending it
/// to the mock.
fn seed_manifests(auth_token: AuthToken) -> String {
    yaml_stream(&[
        &ManifestGateway::http(GATEWAY_PORT)
            .named("agentgateway")
            .in_namespace("ai"),
        &Secret::new("azure-openai-secret")
            .in_namespace("ai")
            .string("Authorization", KEY),
        &AiBackend::azure(
            "azure-openai",
            "my-endpoint.openai.azure.com",
            "gpt-4o-mini",
            "2024-02-15-preview",
            auth_token,
        )
        .in_namespace("ai"),
        &HttpRoute::prefix("azure-openai", "/azure-openai", "azure-openai")
            .on("agentgateway")
            .in_namespace("ai"),
    ])
}

fn secret_ref() -> AuthToken {
    AuthToken::secret("azure-openai-secret")
}

const SEED_BODY: &str = r#"{
    "model": "",
    "messages": [
      {"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "Write a short haiku about cloud computing."}
    ]
  }"#;

fn start(auth_token: AuthToken) -> (MockProvider, Gateway) {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).expect("start mock");
    let gateway = start_gateway(&seed_manifests(auth_token), mock.addr().port());
    assert!(
        gateway.translated.status.success(),
        "translate failed: {}",
        gateway.translated.stderr
    );
    (mock, gateway)
}

#[test]
fn seed_request_reaches_the_deployment_with_the_key_and_its_tokens_are_counted() {
    let (mock, gateway) = start(secret_ref());
    let reply = gateway.post(
        "/azure-openai",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-credential-must-not-leak"),
        ],
        SEED_BODY.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());

    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    let upstream = &sent[0];
    assert_eq!(
        upstream.path_and_query,
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-02-15-preview"
    );
    assert_eq!(upstream.headers_named("api-key"), [KEY]);
    assert_eq!(
        upstream.header("host"),
        Some("my-endpoint.openai.azure.com")
    );
    assert_eq!(
        upstream.header("authorization"),
        None,
        "the client's Authorization was forwarded"
    );
    assert_eq!(
        upstream.body,
        SEED_BODY.as_bytes(),
        "the request body changed on the way"
    );

    // The client gets exactly the provider's bytes.
    assert_eq!(reply.body, mock.responses()[0]);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-ms-region"), Some("East US 2"));

    let labels = [
        ("backend", "ai/azure-openai"),
        ("provider", "azureopenai"),
        ("route", "ai/azure-openai/rule/0"),
        ("response_model", AZURE_MODEL),
    ];
    for (token_type, want) in [("input", 28.0), ("output", 19.0), ("total", 47.0)] {
        let mut l = labels.to_vec();
        l.push(("token_type", token_type));
        assert_eq!(
            gateway.metric("llmgate_tokens", &l, want),
            Some(want),
            "{token_type}\n{}",
            gateway.prometheus()
        );
    }
    let mut l = labels.to_vec();
    l.push(("status_class", "2xx"));
    assert_eq!(gateway.metric("llmgate_requests", &l, 1.0), Some(1.0));

    // The key appears nowhere but on the wire to the provider.
    assert!(!gateway.translated.stderr.contains(KEY));
    assert!(!gateway.envoy_log().contains(KEY));
}

#[test]
fn every_request_is_counted_and_tokens_add_up() {
    let (_mock, gateway) = start(secret_ref());
    for _ in 0..3 {
        assert_eq!(
            gateway
                .post("/azure-openai/anything", &[], SEED_BODY.as_bytes())
                .status,
            200
        );
    }
    let labels = [("backend", "ai/azure-openai"), ("token_type", "input")];
    assert_eq!(gateway.metric("llmgate_tokens", &labels, 84.0), Some(84.0));
    // Segment-wise prefix: /azure-openaix is another path.
    assert_eq!(
        gateway
            .post("/azure-openaix", &[], SEED_BODY.as_bytes())
            .status,
        404
    );
}

#[test]
fn passthrough_moves_the_clients_key_to_api_key() {
    let (mock, gateway) = start(AuthToken::Passthrough);
    let reply = gateway.post(
        "/azure-openai",
        &[("authorization", &format!("Bearer {KEY}"))],
        SEED_BODY.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = &mock.requests()[0];
    assert_eq!(upstream.headers_named("api-key"), [KEY]);
    assert_eq!(upstream.header("authorization"), None);

    // A wrong key is the provider's 401, passed through unchanged.
    let reply = gateway.post(
        "/azure-openai",
        &[("authorization", "Bearer wrong")],
        SEED_BODY.as_bytes(),
    );
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body, mock.responses()[1]);
    assert!(reply
        .text()
        .contains("Access denied due to invalid subscription key"));
    let labels = [("backend", "ai/azure-openai"), ("status_class", "4xx")];
    assert_eq!(gateway.metric("llmgate_requests", &labels, 1.0), Some(1.0));
}

#[test]
fn inline_token_is_sent_and_a_client_api_key_is_replaced() {
    let (mock, gateway) = start(AuthToken::inline(KEY));
    let reply = gateway.post(
        "/azure-openai",
        &[("api-key", "client-attempt")],
        SEED_BODY.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(mock.requests()[0].headers_named("api-key"), [KEY]);
}

#[test]
fn a_streamed_completion_reaches_the_client_unchanged() {
    let (mock, gateway) = start(secret_ref());
    let body = SEED_BODY.replacen('{', r#"{"stream": true,"#, 1);
    let reply = gateway.post("/azure-openai", &[], body.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream")));
    assert!(
        reply.text().ends_with("data: [DONE]\n\n"),
        "{}",
        reply.text()
    );
    assert_eq!(reply.body, mock.responses()[0]);
    // 2024-02-15-preview rejects stream_options: the gateway must not add it.
    assert!(!mock.requests()[0].body_text().contains("stream_options"));
    // So the stream carries no usage: that is counted as missing, with an
    // estimate (request bytes / 4, generated characters / 4) kept apart
    // from the provider-reported counts.
    let missing = [("reason", "not_requested")];
    assert_eq!(
        gateway.metric("llmgate_usage_missing", &missing, 1.0),
        Some(1.0),
        "{}",
        gateway.prometheus()
    );
    let estimate = |token_type: &str, want: usize| {
        let want = want.div_ceil(4) as f64;
        let labels = [("token_type", token_type)];
        assert_eq!(
            gateway.metric("llmgate_tokens_estimated", &labels, want),
            Some(want),
            "{token_type}\n{}",
            gateway.prometheus()
        );
    };
    estimate("input", body.len());
    estimate("output", ASSISTANT_TEXT.chars().count());
    let log = gateway.access_log(1);
    assert_eq!(log[0]["usage"], "missing:not_requested", "{log:?}");
    assert_eq!(log[0]["input_tokens"], serde_json::Value::Null, "{log:?}");
}
