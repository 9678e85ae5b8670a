//! Every provider through a real Envoy: the request reaches the (mock) provider
//! on its native path with its own auth, the client gets the provider's bytes
//! unchanged, streams pass through, and the tokens are counted per provider.

use llmgate_e2e::harness::{ai_route_manifests, start_gateway, Gateway, Reply};
use llmgate_e2e::mock::{eventstream, AwsCredentials, MockConfig, MockProvider, RecordedRequest};

const KEY: &str = "provider-key-5b1e";

/// `spec.ai.llm` with `provider` (its YAML at six spaces), pointed at the mock.
fn single(provider: &str) -> String {
    format!("    llm:\n      host: 127.0.0.1\n      port: $MOCK_PORT\n{provider}")
}

fn inline_token() -> String {
    format!("authToken: {{kind: Inline, inline: {KEY}}}")
}

fn start(mock: &MockProvider, ai: &str, extra: &str) -> Gateway {
    start_gateway(
        &ai_route_manifests("llm", "{}", ai, extra),
        mock.addr().port(),
    )
}

/// A JSON POST, as the provider's SDKs send it.
fn post_json(gateway: &Gateway, path: &str, body: &str) -> Reply {
    gateway.post(
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

fn mock() -> MockProvider {
    MockProvider::start_blocking(MockConfig::new(KEY)).expect("start mock")
}

/// The one request the mock received.
fn only_request(mock: &MockProvider) -> RecordedRequest {
    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests[0].clone()
}

/// The reply is exactly what the mock sent.
fn assert_unchanged(reply: &Reply, mock: &MockProvider, index: usize) {
    assert_eq!(
        reply.body,
        mock.responses()[index],
        "the client got other bytes than the provider sent"
    );
}

/// `llmgate_tokens` input 28 and output 19 for `provider`, and the series carry a
/// `provider_name` label.
fn assert_tokens(gateway: &Gateway, provider: &str, input: f64, output: f64) {
    for (token_type, want) in [("input", input), ("output", output)] {
        let labels = [
            ("backend", "default/llm"),
            ("provider", provider),
            ("token_type", token_type),
        ];
        assert_eq!(
            gateway.metric("llmgate_tokens", &labels, want),
            Some(want),
            "{provider} {token_type}:\n{}",
            gateway.prometheus()
        );
    }
    let text = gateway.prometheus();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("llmgate_tokens{") && l.contains(&format!("provider=\"{provider}\""))
        })
        .collect();
    assert!(!series.is_empty());
    assert!(
        series.iter().all(|l| l.contains("provider_name=\"")),
        "{series:#?}"
    );
}

fn assert_requests(gateway: &Gateway, provider: &str, class: &str, want: f64) {
    let labels = [
        ("backend", "default/llm"),
        ("provider", provider),
        ("status_class", class),
    ];
    assert_eq!(
        gateway.metric("llmgate_requests", &labels, want),
        Some(want),
        "{}",
        gateway.prometheus()
    );
}

// ---------------------------------------------------------------- Anthropic

/// Anthropic's own API under the route's prefix (the SDK's `/v1/messages`).
const MESSAGES_PATH: &str = "/llm/v1/messages";

const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#;

#[test]
fn anthropic_gets_its_path_key_and_version_and_usage_is_counted() {
    let mock = mock();
    let gateway = start(
        &mock,
        &single(&format!("      anthropic:\n        {}\n", inline_token())),
        "",
    );
    let reply = gateway.post(
        MESSAGES_PATH,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-secret"),
        ],
        MESSAGES.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = only_request(&mock);
    assert_eq!(upstream.path_and_query, "/v1/messages");
    assert_eq!(upstream.headers_named("x-api-key"), [KEY]);
    assert_eq!(upstream.headers_named("anthropic-version"), ["2023-06-01"]);
    assert_eq!(upstream.header("authorization"), None);
    assert_eq!(upstream.body, MESSAGES.as_bytes());
    assert_unchanged(&reply, &mock, 0);
    assert_tokens(&gateway, "anthropic", 28.0, 19.0);
    assert_requests(&gateway, "anthropic", "2xx", 1.0);
}

#[test]
fn anthropic_stream_passes_through_and_output_is_not_summed() {
    let mock = MockProvider::start_blocking(MockConfig {
        chunk_delay: std::time::Duration::from_millis(5),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let provider = format!(
        "      anthropic:\n        {}\n        apiVersion: \"2024-10-22\"\n",
        inline_token()
    );
    let gateway = start(&mock, &single(&provider), "");
    let body = MESSAGES.replace(r#""max_tokens":64"#, r#""max_tokens":64,"stream":true"#);
    let reply = post_json(&gateway, MESSAGES_PATH, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .text()
        .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert_unchanged(&reply, &mock, 0);
    assert_eq!(
        only_request(&mock).headers_named("anthropic-version"),
        ["2024-10-22"]
    );
    // message_start says output 1, message_delta 19 (cumulative): 19, not 20.
    assert_tokens(&gateway, "anthropic", 28.0, 19.0);
}

#[test]
fn anthropic_auth_error_reaches_the_client_and_counts_as_4xx() {
    let mock = MockProvider::start_blocking(MockConfig::new("the-real-key")).unwrap();
    let gateway = start(
        &mock,
        &single(&format!("      anthropic:\n        {}\n", inline_token())),
        "",
    );
    let reply = gateway.post(MESSAGES_PATH, &[], MESSAGES.as_bytes());
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_unchanged(&reply, &mock, 0);
    assert!(
        reply.text().contains("authentication_error"),
        "{}",
        reply.text()
    );
    assert_requests(&gateway, "anthropic", "4xx", 1.0);
}

// ---------------------------------------------------------------- Gemini

const CONTENTS: &str = r#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"generationConfig":{"maxOutputTokens":64}}"#;

fn gemini() -> String {
    single(&format!(
        "      gemini:\n        {}\n        model: gemini-2.0-flash\n        apiVersion: v1beta\n",
        inline_token()
    ))
}

#[test]
fn gemini_gets_its_path_and_key_header() {
    let mock = mock();
    let gateway = start(&mock, &gemini(), "");
    // The method counts, not the model the client's path names.
    let reply = post_json(
        &gateway,
        "/llm/v1beta/models/other:generateContent",
        CONTENTS,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = only_request(&mock);
    assert_eq!(
        upstream.path_and_query,
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(upstream.headers_named("x-goog-api-key"), [KEY]);
    assert_eq!(upstream.body, CONTENTS.as_bytes());
    assert_unchanged(&reply, &mock, 0);
    assert_tokens(&gateway, "gemini", 28.0, 19.0);
}

#[test]
fn gemini_streams_when_the_client_path_asks() {
    let mock = mock();
    let gateway = start(&mock, &gemini(), "");
    let reply = post_json(
        &gateway,
        "/llm/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
        CONTENTS,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = only_request(&mock);
    assert_eq!(
        upstream.path_and_query,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(upstream.body, CONTENTS.as_bytes());
    assert!(reply.text().ends_with("\r\n\r\n"));
    assert_unchanged(&reply, &mock, 0);
    assert_tokens(&gateway, "gemini", 28.0, 19.0);
}

#[test]
fn an_openai_chat_stream_reaches_gemini_converted_and_comes_back_as_chunks() {
    let mock = mock();
    let gateway = start(&mock, &gemini(), "");
    let chat = r#"{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;
    let reply = post_json(&gateway, "/llm/chat/completions", chat);
    // Gemini rejects OpenAI's fields with 400: a 200 means it got its own.
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = only_request(&mock);
    assert_eq!(
        upstream.path_and_query,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    let sent = upstream.body_json().expect("JSON body");
    assert_eq!(sent["contents"][0]["parts"][0]["text"], "Hi");
    assert_eq!(sent.get("stream"), None);
    assert_eq!(
        upstream.header("content-length"),
        Some(&*upstream.body.len().to_string())
    );
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let text = reply.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let usage = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .find(|c| c["usage"].is_object())
        .expect("a usage chunk");
    assert_eq!(usage["usage"]["prompt_tokens"], 28);
    assert_eq!(usage["usage"]["completion_tokens"], 19);
    assert_tokens(&gateway, "gemini", 28.0, 19.0);
}

#[test]
fn gemini_rate_limit_reaches_the_client_unchanged() {
    let mock = MockProvider::start_blocking(MockConfig {
        force_status: Some(429),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let gateway = start(&mock, &gemini(), "");
    let reply = gateway.post(
        "/llm/v1beta/models/gemini-2.0-flash:generateContent",
        &[],
        CONTENTS.as_bytes(),
    );
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(reply.text().contains("RESOURCE_EXHAUSTED"));
    assert_unchanged(&reply, &mock, 0);
    assert_requests(&gateway, "gemini", "4xx", 1.0);
}

// ---------------------------------------------------------------- Vertex AI

#[test]
fn vertexai_gets_the_project_path_and_a_bearer_token_and_streams() {
    let mock = mock();
    let provider = format!(
        "      vertexai:\n        {}\n        model: gemini-2.5-flash\n        apiVersion: v1\n        projectId: my-proj\n        location: us-central1\n        publisher: GOOGLE\n",
        inline_token()
    );
    let gateway = start(&mock, &single(&provider), "");
    let base =
        "/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash";

    let reply = gateway.post("/llm/v1/models/m:generateContent", &[], CONTENTS.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = &mock.requests()[0];
    assert_eq!(upstream.path_and_query, format!("{base}:generateContent"));
    assert_eq!(
        upstream.headers_named("authorization"),
        [format!("Bearer {KEY}")]
    );
    assert_unchanged(&reply, &mock, 0);

    let streamed = gateway.post(
        "/llm/v1/models/m:streamGenerateContent",
        &[],
        CONTENTS.as_bytes(),
    );
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    let upstream = &mock.requests()[1];
    assert_eq!(
        upstream.path_and_query,
        format!("{base}:streamGenerateContent?alt=sse")
    );
    assert_eq!(upstream.body_json().unwrap().get("stream"), None);
    assert_unchanged(&streamed, &mock, 1);
    assert_tokens(&gateway, "vertexai", 56.0, 38.0);
}

// ---------------------------------------------------------------- Bedrock

const CONVERSE: &str = r#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":64}}"#;
const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const BEDROCK_PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0";

fn aws() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIAE2EPROVIDERS0001".into(),
        secret_access_key: "providers/e2e+secret/key/000000000000000".into(),
        session_token: Some("IQoJb3JpZ2luX2VjE2E/session+token==".into()),
    }
}

fn bedrock_secret() -> String {
    let creds = aws();
    format!(
        r#"---
apiVersion: v1
kind: Secret
metadata: {{name: aws-creds}}
type: Opaque
stringData:
  accessKey: {}
  secretKey: {}
  sessionToken: {}
"#,
        creds.access_key_id,
        creds.secret_access_key,
        creds.session_token.unwrap_or_default()
    )
}

#[test]
fn bedrock_sigv4_converse_and_converse_stream() {
    let mock = MockProvider::start_blocking(MockConfig {
        aws_credentials: aws(),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let provider = format!(
        "      bedrock:\n        auth: {{type: Secret, secretRef: {{name: aws-creds}}}}\n        model: {BEDROCK_MODEL}\n        region: us-west-2\n"
    );
    let gateway = start(&mock, &single(&provider), &bedrock_secret());

    let reply = post_json(&gateway, &format!("/llm{BEDROCK_PATH}/converse"), CONVERSE);
    // The mock recomputes the signature over what arrived: 200 means it matched.
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = &mock.requests()[0];
    assert_eq!(upstream.path_and_query, format!("{BEDROCK_PATH}/converse"));
    let authorization = upstream.header("authorization").unwrap();
    assert!(
        authorization.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={}/",
            aws().access_key_id
        )) && authorization.contains("/us-west-2/bedrock/aws4_request"),
        "{authorization}"
    );
    assert_eq!(
        upstream.header("x-amz-security-token"),
        aws().session_token.as_deref()
    );
    assert_eq!(upstream.body, CONVERSE.as_bytes());
    assert_unchanged(&reply, &mock, 0);

    let streamed = post_json(
        &gateway,
        &format!("/llm{BEDROCK_PATH}/converse-stream"),
        CONVERSE,
    );
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    assert_eq!(
        mock.requests()[1].path_and_query,
        format!("{BEDROCK_PATH}/converse-stream")
    );
    assert_eq!(
        streamed.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_unchanged(&streamed, &mock, 1);
    let frames = eventstream::decode(&streamed.body).expect("intact event-stream frames");
    assert_eq!(frames.last().and_then(|f| f.event_type()), Some("metadata"));
    assert_tokens(&gateway, "bedrock", 56.0, 38.0);
}

#[test]
fn bedrock_api_key_is_a_bearer_token() {
    let mock = mock();
    let provider = format!(
        "      bedrock:\n        auth: {{type: Secret, secretRef: {{name: bedrock-key}}}}\n        model: {BEDROCK_MODEL}\n        region: us-east-1\n"
    );
    // A Secret with `Authorization` (and no `accessKey`) holds a Bedrock API key.
    let secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bedrock-key}}\ntype: Opaque\nstringData: {{Authorization: {KEY}}}\n"
    );
    let gateway = start(&mock, &single(&provider), &secret);
    let reply = gateway.post(
        "/llm/model/any/converse",
        &[("authorization", "Bearer client-secret")],
        CONVERSE.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = only_request(&mock);
    assert_eq!(upstream.path_and_query, format!("{BEDROCK_PATH}/converse"));
    assert_eq!(
        upstream.headers_named("authorization"),
        [format!("Bearer {KEY}")]
    );
    assert_eq!(upstream.header("x-amz-date"), None);
    assert_unchanged(&reply, &mock, 0);
    assert_tokens(&gateway, "bedrock", 28.0, 19.0);
}

// ---------------------------------------------------------------- Azure OpenAI v1, OpenAI-compatible

const CHAT: &str = r#"{"model":"","messages":[{"role":"user","content":"Hi"}]}"#;

#[test]
fn azure_openai_v1_and_preview_paths() {
    for (api_version, want_path) in [
        ("v1", "/openai/v1/chat/completions"),
        ("preview", "/openai/v1/chat/completions?api-version=preview"),
    ] {
        let mock = mock();
        let provider = format!(
            "      azureopenai:\n        endpoint: my-resource.openai.azure.com\n        deploymentName: gpt-4o-mini\n        apiVersion: {api_version}\n        {}\n",
            inline_token()
        );
        let gateway = start(&mock, &single(&provider), "");
        let reply = post_json(&gateway, "/llm", CHAT);
        assert_eq!(reply.status, 200, "{api_version}: {}", reply.text());
        let upstream = only_request(&mock);
        assert_eq!(upstream.path_and_query, want_path, "{api_version}");
        assert_eq!(upstream.headers_named("api-key"), [KEY]);
        assert_eq!(
            upstream.header("host"),
            Some("my-resource.openai.azure.com")
        );
        // v1 names the deployment in the body's `model`.
        assert_eq!(
            upstream.body_json().unwrap()["model"],
            "gpt-4o-mini",
            "{api_version}"
        );
        assert_unchanged(&reply, &mock, 0);
        assert_tokens(&gateway, "azureopenai", 28.0, 19.0);
    }
}

#[test]
fn openai_compatible_server_with_full_path_and_auth_header() {
    let mock = mock();
    let ai = format!(
        "    llm:\n      host: 127.0.0.1\n      port: $MOCK_PORT\n      path: {{full: /chat/completions}}\n      authHeader: {{headerName: Authorization, prefix: Bearer}}\n      openai:\n        {}\n        model: deepseek-chat\n",
        inline_token()
    );
    let gateway = start(&mock, &ai, "");
    let reply = post_json(&gateway, "/llm", CHAT);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = only_request(&mock);
    assert_eq!(upstream.path_and_query, "/chat/completions");
    assert_eq!(
        upstream.headers_named("authorization"),
        [format!("Bearer {KEY}")]
    );
    assert_eq!(upstream.body_json().unwrap()["model"], "deepseek-chat");
    assert_unchanged(&reply, &mock, 0);
    assert_tokens(&gateway, "openai", 28.0, 19.0);
}

#[test]
fn provider_name_label_names_the_priority_group_provider() {
    let mock = mock();
    let ai = format!(
        "    priorityGroups:\n    - providers:\n      - name: claude-primary\n        host: 127.0.0.1\n        port: $MOCK_PORT\n        anthropic:\n          {}\n",
        inline_token()
    );
    let gateway = start(&mock, &ai, "");
    let reply = gateway.post(MESSAGES_PATH, &[], MESSAGES.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let labels = [
        ("provider", "anthropic"),
        ("provider_name", "claude-primary"),
        ("token_type", "input"),
    ];
    assert_eq!(
        gateway.metric("llmgate_tokens", &labels, 28.0),
        Some(28.0),
        "{}",
        gateway.prometheus()
    );
}
