//! Streamed responses through Envoy: forwarded chunk by chunk, counted, and
//! — when the gateway added `include_usage` — without the usage chunk the
//! client did not ask for.

use std::io::Read;
use std::time::Duration;

use llmgate_e2e::harness::{start_gateway, Gateway};
use llmgate_e2e::manifests::{
    yaml_stream, AiBackend, AuthToken, Gateway as ManifestGateway, HttpRoute, Manifest,
    GATEWAY_PORT,
};
use llmgate_e2e::mock::{MockConfig, MockProvider, AZURE_MODEL};

const KEY: &str = "stream-test-key-51d0";

/// Azure OpenAI at a current and an old API version, and OpenAI, each at the
/// mock and routed from `/<its name>`.
fn manifests() -> String {
    let azure = |name: &str, version: &str| {
        AiBackend::azure(
            name,
            "e.openai.azure.com",
            "gpt-4o-mini",
            &format!("\"{version}\""),
            AuthToken::inline(KEY),
        )
    };
    let backends = [
        azure("azure", "2024-10-21"),
        azure("azure-old", "2024-02-15-preview"),
        AiBackend::openai("openai", AuthToken::inline(KEY)),
    ];
    let routes = ["azure", "azure-old", "openai"]
        .map(|name| HttpRoute::prefix(name, &format!("/{name}"), name));
    let gateway = ManifestGateway::http(GATEWAY_PORT);
    let mut documents: Vec<&dyn Manifest> = vec![&gateway];
    for (backend, route) in backends.iter().zip(&routes) {
        documents.push(backend);
        documents.push(route);
    }
    yaml_stream(&documents)
}

fn start(chunk_delay: Duration) -> (MockProvider, Gateway) {
    let mut config = MockConfig::new(KEY);
    config.chunk_delay = chunk_delay;
    let mock = MockProvider::start_blocking(config).expect("start mock");
    let gateway = start_gateway(&manifests(), mock.addr().port());
    assert!(
        gateway.translated.status.success(),
        "{}",
        gateway.translated.stderr
    );
    (mock, gateway)
}

const ASKS_NOTHING: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true}"#;
const ASKS_FOR_USAGE: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;

/// What a client that did not ask for usage would have received from the
/// provider: the stream minus the usage event, and without the `"usage":null`
/// that `include_usage` adds to every other chunk.
fn without_usage_traces(sent: &[u8]) -> String {
    String::from_utf8_lossy(sent)
        .split_inclusive("\n\n")
        .filter(|event| !(event.contains(r#""choices":[]"#) && event.contains(r#""usage":{"#)))
        .map(|event| event.replace(r#","usage":null"#, ""))
        .collect()
}

fn read_all(mut body: impl Read) -> String {
    let mut rest = String::new();
    body.read_to_string(&mut rest).expect("read the stream");
    rest
}

fn tokens(gateway: &Gateway, route: &str, token_type: &str, want: f64) -> Option<f64> {
    gateway.metric(
        "llmgate_tokens",
        &[("route", route), ("token_type", token_type)],
        want,
    )
}

#[test]
fn first_event_arrives_before_the_provider_is_done_and_the_added_usage_is_hidden() {
    let (mock, gateway) = start(Duration::from_millis(200));
    let (status, mut body) = gateway.post_streaming("/azure", &[], ASKS_NOTHING.as_bytes());
    assert_eq!(status, 200);

    // Read until the first complete event, then look at what the provider
    // has sent so far: it must not have finished.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\n\n") {
        let n = body.read(&mut buf).expect("read");
        assert!(n > 0, "stream ended before a first event");
        got.extend_from_slice(&buf[..n]);
    }
    let sent_so_far = mock.responses()[0].clone();
    assert!(
        !String::from_utf8_lossy(&sent_so_far).contains("[DONE]"),
        "the first event only reached the client after the provider finished"
    );
    got.extend(read_all(body).into_bytes());

    // The gateway asked for usage on the client's behalf...
    let upstream = mock.requests()[0].body_json().expect("JSON body");
    assert_eq!(upstream["stream_options"]["include_usage"], true);
    // ...and the client gets the stream it would have got without that.
    let sent = &mock.responses()[0];
    assert!(String::from_utf8_lossy(sent).contains(r#""usage":{"#));
    let want = without_usage_traces(sent);
    assert!(!want.contains("usage"));
    assert_eq!(String::from_utf8_lossy(&got), want);

    for (token_type, want) in [("input", 28.0), ("output", 19.0), ("total", 47.0)] {
        assert_eq!(
            tokens(&gateway, "default/azure/rule/0", token_type, want),
            Some(want),
            "{token_type}\n{}",
            gateway.prometheus()
        );
    }
    let labels = [
        ("route", "default/azure/rule/0"),
        ("backend", "default/azure"),
        ("provider", "azureopenai"),
        ("request_model", "gpt-4o-mini"),
        ("response_model", AZURE_MODEL),
    ];
    assert_eq!(
        gateway.metric("gen_ai_server_time_to_first_token_ms_count", &labels, 1.0),
        Some(1.0),
        "{}",
        gateway.prometheus()
    );
    // Token buckets (powers of 4), not Envoy's millisecond defaults: 28 input
    // tokens are above 16 and within 64.
    let input = |le| {
        [
            ("route", "default/azure/rule/0"),
            ("token_type", "input"),
            ("le", le),
        ]
    };
    assert_eq!(
        gateway.metric("gen_ai_client_token_usage_bucket", &input("64"), 1.0),
        Some(1.0),
        "{}",
        gateway.prometheus()
    );
    assert_eq!(
        gateway.metric("gen_ai_client_token_usage_bucket", &input("16"), 0.0),
        Some(0.0)
    );
}

#[test]
fn a_client_that_asked_for_usage_gets_the_stream_unchanged() {
    let (mock, gateway) = start(Duration::ZERO);
    for (i, path) in ["/azure", "/openai"].iter().enumerate() {
        let reply = gateway.post(path, &[], ASKS_FOR_USAGE.as_bytes());
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(mock.requests()[i].body, ASKS_FOR_USAGE.as_bytes(), "{path}");
        assert_eq!(
            reply.text(),
            String::from_utf8_lossy(&mock.responses()[i]),
            "{path}"
        );
        assert!(reply.text().contains(r#""usage":{"#));
    }
    assert_eq!(
        tokens(&gateway, "default/azure/rule/0", "input", 28.0),
        Some(28.0)
    );
    assert_eq!(
        tokens(&gateway, "default/openai/rule/0", "output", 19.0),
        Some(19.0)
    );
}

#[test]
fn openai_counts_with_added_usage_and_old_azure_is_left_alone() {
    let (mock, gateway) = start(Duration::ZERO);
    let reply = gateway.post("/openai", &[], ASKS_NOTHING.as_bytes());
    assert_eq!(reply.status, 200);
    assert_eq!(
        mock.requests()[0].body_json().unwrap()["stream_options"]["include_usage"],
        true
    );
    assert_eq!(reply.text(), without_usage_traces(&mock.responses()[0]));
    for (token_type, want) in [("input", 28.0), ("output", 19.0), ("total", 47.0)] {
        assert_eq!(
            tokens(&gateway, "default/openai/rule/0", token_type, want),
            Some(want),
            "{token_type}"
        );
    }

    // 2024-02-15-preview rejects `stream_options`: nothing is added, the
    // stream is the provider's, and there is no usage to count.
    let reply = gateway.post("/azure-old", &[], ASKS_NOTHING.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(mock.requests()[1].body, ASKS_NOTHING.as_bytes());
    assert_eq!(reply.body, mock.responses()[1]);
    let labels = [
        ("route", "default/azure-old/rule/0"),
        ("status_class", "2xx"),
    ];
    assert_eq!(gateway.metric("llmgate_requests", &labels, 1.0), Some(1.0));
    assert_eq!(
        tokens(&gateway, "default/azure-old/rule/0", "input", 1.0),
        None
    );
}
