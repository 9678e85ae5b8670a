//! Token counting a client cannot dodge: not by asking for gzip (what most
//! HTTP clients do), not by padding a streaming request with whitespace, not
//! by sending a body that is not strict JSON to a Backend that forces its
//! model.

use std::io::Read;
use std::time::Duration;

use flate2::read::GzDecoder;
use llmgate_e2e::harness::{start_gateway, Gateway, Reply};
use llmgate_e2e::manifests::{
    yaml_stream, AiBackend, AuthToken, Gateway as ManifestGateway, HttpRoute, Manifest,
    GATEWAY_PORT,
};
use llmgate_e2e::mock::{Compress, MockConfig, MockProvider};

const KEY: &str = "sk-counting-test-4e1a";

/// `/plain`: a Service (not AI) at the mock, which answers its own 404,
/// gzipped when asked.
const PLAIN_SERVICE: &str = r#"
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: default}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: plain-x1, namespace: default, labels: {kubernetes.io/service-name: plain}}
addressType: IPv4
ports: [{name: http, port: $MOCK_PORT}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: plain, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /plain}}]
    backendRefs: [{name: plain, port: 8080}]
"#;

/// `/openai`: OpenAI as the client asks; `/forced`: OpenAI with its `model`
/// forced by the Backend; `/plain`: not AI.
fn manifests() -> String {
    let openai = AiBackend::openai("openai", AuthToken::inline(KEY));
    let forced =
        AiBackend::openai("forced", AuthToken::inline(KEY)).provider_field("model", "gpt-4o");
    let routes = [
        HttpRoute::prefix("openai", "/openai", "openai"),
        HttpRoute::prefix("forced", "/forced", "forced"),
    ];
    let gateway = ManifestGateway::http(GATEWAY_PORT);
    let documents: Vec<&dyn Manifest> = vec![&gateway, &openai, &routes[0], &forced, &routes[1]];
    yaml_stream(&documents) + PLAIN_SERVICE
}

fn start(config: MockConfig) -> (MockProvider, Gateway) {
    let mock = MockProvider::start_blocking(config).expect("start mock");
    let gateway = start_gateway(&manifests(), mock.addr().port());
    assert!(
        gateway.translated.status.success(),
        "{}",
        gateway.translated.stderr
    );
    (mock, gateway)
}

const GZIP: (&str, &str) = ("accept-encoding", "gzip, deflate");
const JSON: (&str, &str) = ("content-type", "application/json");

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
const STREAM: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true}"#;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

/// What a client that did not ask for usage would have received from the
/// provider: the stream minus the usage event and its `"usage":null`s.
fn without_usage_traces(sent: &[u8]) -> String {
    String::from_utf8_lossy(sent)
        .split_inclusive("\n\n")
        .filter(|event| !(event.contains(r#""choices":[]"#) && event.contains(r#""usage":{"#)))
        .map(|event| event.replace(r#","usage":null"#, ""))
        .collect()
}

fn tokens(gateway: &Gateway, route: &str, token_type: &str, want: f64) -> Option<f64> {
    gateway.metric(
        "llmgate_tokens",
        &[("route", route), ("token_type", token_type)],
        want,
    )
}

fn assert_counted(gateway: &Gateway, route: &str) {
    for (token_type, want) in [("input", 28.0), ("output", 19.0), ("total", 47.0)] {
        assert_eq!(
            tokens(gateway, route, token_type, want),
            Some(want),
            "{route} {token_type}\n{}",
            gateway.prometheus()
        );
    }
}

fn assert_gzipped(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("content-encoding"),
        Some("gzip"),
        "{:?}",
        reply.headers
    );
}

#[test]
fn a_gzip_accepting_client_is_counted_and_still_gets_gzip() {
    let (mock, gateway) = start(MockConfig::new(KEY));

    let reply = gateway.post("/openai", &[GZIP, JSON], CHAT.as_bytes());
    assert_gzipped(&reply);
    // The provider was asked for a body the filter can read...
    assert_eq!(mock.requests()[0].header("accept-encoding"), None);
    // ...and the client gets exactly its bytes, compressed by the gateway.
    assert_eq!(gunzip(&reply.body), mock.responses()[0]);
    assert_counted(&gateway, "default/openai/rule/0");

    let reply = gateway.post("/openai", &[GZIP, JSON], STREAM.as_bytes());
    assert_gzipped(&reply);
    let upstream = &mock.requests()[1];
    assert_eq!(upstream.header("accept-encoding"), None);
    assert_eq!(
        upstream.body_json().unwrap()["stream_options"]["include_usage"],
        true
    );
    let sent = &mock.responses()[1];
    assert!(String::from_utf8_lossy(sent).contains(r#""usage":{"#));
    let got = String::from_utf8(gunzip(&reply.body)).expect("UTF-8 stream");
    assert!(!got.contains("usage"), "the added usage leaked: {got}");
    assert_eq!(got, without_usage_traces(sent));
    assert_eq!(
        tokens(&gateway, "default/openai/rule/0", "input", 56.0),
        Some(56.0),
        "{}",
        gateway.prometheus()
    );

    // A route that is not AI is left alone: its upstream sees the client's
    // accept-encoding, and its gzip reaches the client compressed once.
    let reply = gateway.post("/plain", &[GZIP, JSON], b"{}");
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert_eq!(
        mock.requests()[2].header("accept-encoding"),
        Some("gzip, deflate")
    );
    assert_eq!(gunzip(&reply.body), mock.responses()[2]);
    let reply = gateway.post("/plain", &[JSON], b"{}");
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.body, mock.responses()[3]);
}

#[test]
fn a_gzipped_stream_still_delivers_each_event_as_it_comes() {
    let mut config = MockConfig::new(KEY);
    config.chunk_delay = Duration::from_millis(200);
    let (mock, gateway) = start(config);
    let (status, body) = gateway.post_streaming("/openai", &[GZIP, JSON], STREAM.as_bytes());
    assert_eq!(status, 200);
    let mut body = GzDecoder::new(body);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\n\n") {
        let n = body.read(&mut buf).expect("read");
        assert!(n > 0, "stream ended before a first event");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        !String::from_utf8_lossy(&mock.responses()[0]).contains("[DONE]"),
        "the first event only reached the client after the provider finished"
    );
    body.read_to_end(&mut got).expect("read the rest");
    assert_eq!(
        String::from_utf8_lossy(&got),
        without_usage_traces(&mock.responses()[0])
    );
    assert_counted(&gateway, "default/openai/rule/0");
}

#[test]
fn an_upstream_that_compresses_anyway_is_passed_through_intact_and_counted_unparsed() {
    let mut config = MockConfig::new(KEY);
    config.compress = Compress::Always;
    let (mock, gateway) = start(config);
    let reply = gateway.post("/openai", &[JSON], STREAM.as_bytes());
    assert_gzipped(&reply);
    // Nothing was cut out of (or spliced into) the compressed bytes.
    assert_eq!(gunzip(&reply.body), mock.responses()[0]);
    let labels = [("route", "default/openai/rule/0")];
    assert_eq!(
        gateway.metric("llmgate_usage_unparsed", &labels, 1.0),
        Some(1.0),
        "{}",
        gateway.prometheus()
    );
}

/// A streaming request of exactly `len` bytes, padded with whitespace.
fn padded_stream(len: usize) -> String {
    let (head, tail) = (
        r#"{"model":"gpt-4o-mini","#,
        r#""messages":[{"role":"user","content":"Hi"}],"stream":true}"#,
    );
    let pad = " \n\t".repeat(len / 3 + 1);
    let body = format!("{head}{}{tail}", &pad[..len - head.len() - tail.len()]);
    assert_eq!(body.len(), len);
    body
}

/// `"stream_options":{"include_usage":true},`: what the gateway adds.
const ADDED: usize = 40;

#[test]
fn whitespace_cannot_push_a_stream_past_counting() {
    let (mock, gateway) = start(MockConfig::new(KEY));
    // Around the old 768 KiB / 1 MiB marks and past them: held whole up to
    // the Backend's request limit (32 MiB by default; the limit itself is
    // tested in `body_limit`), so padding never sends a stream on uncounted.
    let sizes = [
        800 * 1024,
        1024 * 1024 - ADDED,
        1024 * 1024 - ADDED + 1,
        3 * 1024 * 1024,
    ];
    for (i, len) in sizes.into_iter().enumerate() {
        let body = padded_stream(len);
        let reply = gateway.post("/openai", &[JSON], body.as_bytes());
        assert_eq!(reply.status, 200, "{len}: {}", reply.text());
        let upstream = &mock.requests()[i];
        assert_eq!(upstream.body.len(), len + ADDED);
        let upstream = upstream.body_json().expect("JSON body");
        assert_eq!(upstream["stream_options"]["include_usage"], true, "{len}");
        assert_eq!(
            reply.text(),
            without_usage_traces(&mock.responses()[i]),
            "{len}"
        );
        let want = 28.0 * (i + 1) as f64;
        assert_eq!(
            tokens(&gateway, "default/openai/rule/0", "input", want),
            Some(want),
            "{len}\n{}",
            gateway.prometheus()
        );
    }
}

#[test]
fn a_forced_model_is_never_skipped_for_a_body_that_is_not_json() {
    let (mock, gateway) = start(MockConfig::new(KEY));
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "NaN",
            br#"{"model":"gpt-4o-mini","messages":[],"temperature":NaN}"#,
            "line 1 column 52",
        ),
        (
            "byte order mark",
            b"\xef\xbb\xbf{\"model\":\"gpt-4o-mini\",\"messages\":[]}",
            "byte order mark",
        ),
        (
            "trailing garbage",
            br#"{"model":"gpt-4o-mini","messages":[]} and more"#,
            "trailing",
        ),
        (
            "comment",
            b"{\"model\":\"gpt-4o-mini\", // mine\n\"messages\":[]}",
            "line 1 column 25",
        ),
        (
            "invalid UTF-8",
            b"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
            "UTF-8",
        ),
        (
            "truncated",
            br#"{"model":"gpt-4o-mini","messages":[{"role":"#,
            "ends",
        ),
        ("an array", br#"[{"model":"gpt-4o-mini"}]"#, "object"),
    ];
    for (name, body, names_problem) in cases {
        let reply = gateway.post("/forced", &[JSON], body);
        assert_eq!(reply.status, 400, "{name}: {}", reply.text());
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{name}: {:?}",
            reply.headers
        );
        let error: serde_json::Value = serde_json::from_slice(&reply.body).expect("a JSON error");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{name}");
        assert_eq!(error["error"]["code"], "invalid_json", "{name}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names_problem), "{name}: {message}");
        assert!(message.contains("model"), "{name}: {message}");
    }
    assert_eq!(mock.requests().len(), 0, "{:?}", mock.requests());

    // Nothing to edit: the body goes as the client sent it, and the
    // provider judges it.
    let nan = br#"{"model":"gpt-4o-mini","messages":[],"temperature":NaN}"#;
    gateway.post("/openai", &[JSON], nan);
    assert_eq!(mock.requests()[0].body, nan);
}
