//! What an attacker can make the gateway send with its own key: methods an
//! AI route is not for, paths that climb out of the route's prefix (also
//! after a URLRewrite), credential headers meant for other providers, and
//! Backends whose names would share one Envoy cluster.
//!
//! Requests go over a raw socket: the bytes are sent as written, with no
//! client normalising the path first.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use llmgate_e2e::harness::start_gateway;
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, GATEWAY_PORT};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "sk-hygiene-test-5d1e";
const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

/// A response as read off the socket.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request exactly as written and reads the response.
fn raw(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Raw {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nhost: gw.example.com\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Backend `openai` (the mock, key `KEY`) behind `/openai`, and behind `/rw`
/// with a URLRewrite to `/v1/chat/completions`.
fn openai_routes() -> String {
    let rewrite = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rw}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /rw}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v1/chat/completions}}}]
    backendRefs: [{name: openai, group: gateway.kgateway.dev, kind: Backend}]
"#;
    let documents = yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &AiBackend::openai("openai", AuthToken::inline(KEY)),
        &HttpRoute::prefix("openai", "/openai", "openai"),
    ]);
    format!("{documents}---{rewrite}")
}

#[test]
fn methods_an_ai_route_is_not_for_get_405_and_never_reach_the_provider() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(&openai_routes(), mock.addr().port());
    for method in ["GET", "DELETE", "PUT", "PATCH"] {
        for path in ["/openai/v1/chat/completions", "/rw/x"] {
            let reply = raw(gateway.port, method, path, &[], "");
            assert_eq!(reply.status, 405, "{method} {path}: {}", reply.body);
            assert_eq!(reply.header("allow"), Some("POST"), "{method} {path}");
            assert_eq!(
                reply.header("content-type"),
                Some("application/json"),
                "{method} {path}"
            );
            let error: serde_json::Value = serde_json::from_str(&reply.body)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}: {:?}", reply.body));
            assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
            assert!(
                error["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("POST")),
                "{error}"
            );
        }
    }
    let reached = mock.requests();
    assert!(reached.is_empty(), "reached the provider: {reached:?}");

    // POST, what the route is for, still goes through.
    let reply = raw(
        gateway.port,
        "POST",
        "/openai/v1/chat/completions",
        &[],
        CHAT,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn dot_segments_and_escaped_slashes_never_reach_the_provider() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(&openai_routes(), mock.addr().port());
    let attacks = [
        "/rw/../../v1/files",
        "/rw/%2e%2e/%2e%2e/v1/files",
        "/rw/%2E%2E/%2E%2E/v1/files",
        "/rw/.%2e/v1/files",
        "/rw/..%2F..%2Fv1/files",
        "/rw/..%2f..%2fv1/files",
        "/rw/..%5C..%5Cv1/files",
        "/rw//../../v1/files",
        "//rw/../../v1/files",
        "/openai/../../v1/files",
        "/openai/%2e%2e/v1/files",
    ];
    // Dot segments that stay inside the route are resolved, not refused.
    let inside = raw(gateway.port, "POST", "/rw/a/../b", &[], CHAT);
    let mut answers = Vec::new();
    for path in attacks {
        let reply = raw(gateway.port, "POST", path, &[], CHAT);
        answers.push(format!("{path} → {}", reply.status));
    }
    let seen: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.path_and_query.clone())
        .collect();
    for path in &seen {
        let lower = path.to_ascii_lowercase();
        for bad in ["..", "%2e", "%2f", "%5c", "//"] {
            assert!(
                !lower.contains(bad),
                "the provider saw {path:?} ({bad}); answers: {answers:?}"
            );
        }
    }
    assert!(
        seen.iter().any(|p| p == "/v1/chat/completions/b"),
        "/rw/a/../b → {}: {seen:?}",
        inside.status
    );
    // An escaped slash is refused outright.
    for (path, answer) in attacks.iter().zip(&answers) {
        if path.to_ascii_lowercase().contains("%2f") || path.to_ascii_lowercase().contains("%5c") {
            assert!(answer.ends_with("→ 400"), "{answer}");
        }
    }
    eprintln!("answers: {answers:?}; the provider saw {seen:?}");
    // Whatever did reach the provider went where a route sends it.
    for path in &seen {
        assert!(
            path.starts_with("/v1/chat/completions"),
            "{path}; answers: {answers:?}"
        );
    }
}

#[test]
fn credential_headers_of_other_providers_never_reach_the_provider() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(&openai_routes(), mock.addr().port());
    let forged = [
        ("authorization", "Bearer client-secret"),
        ("proxy-authorization", "Basic Y2xpZW50OnNlY3JldA=="),
        ("x-api-key", "client-anthropic-key"),
        ("api-key", "client-azure-key"),
        ("x-goog-api-key", "client-gemini-key"),
        ("ocp-apim-subscription-key", "client-apim-key"),
        ("x-amz-date", "20240101T000000Z"),
        ("x-amz-security-token", "client-session"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let reply = raw(
        gateway.port,
        "POST",
        "/openai/v1/chat/completions",
        &forged,
        CHAT,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let upstream = &mock.requests()[0];
    assert_eq!(
        upstream.headers_named("authorization"),
        [format!("Bearer {KEY}")]
    );
    for (name, _) in &forged[1..] {
        assert_eq!(upstream.header(name), None, "{name} reached the provider");
    }
}

#[test]
fn backends_whose_names_join_alike_keep_their_own_keys() {
    let key_a = "sk-team-x-llm-1111";
    let key_b = "sk-team-x_llm-2222";
    let mock_a = MockProvider::start_blocking(MockConfig::new(key_a)).unwrap();
    let mock_b = MockProvider::start_blocking(MockConfig::new(key_b)).unwrap();
    let gateway_doc = format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: llmgate
  listeners: [{{name: http, protocol: HTTP, port: {GATEWAY_PORT}, allowedRoutes: {{namespaces: {{from: All}}}}}}]
"#
    );
    let route = |namespace: &str, name: &str, prefix: &str, backend: &str| {
        format!(
            r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  parentRefs: [{{name: gw, namespace: default}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]
    backendRefs: [{{name: {backend}, group: gateway.kgateway.dev, kind: Backend}}]
"#
        )
    };
    let backends = yaml_stream(&[
        &AiBackend::openai("llm", AuthToken::inline(key_a)).in_namespace("team_x"),
        &AiBackend::openai("x_llm", AuthToken::inline(key_b))
            .in_namespace("team")
            .at("127.0.0.1", mock_b.addr().port()),
    ]);
    let manifests = format!(
        "{gateway_doc}---\n{backends}---\n{}---\n{}",
        route("team_x", "a", "/a", "llm"),
        route("team", "b", "/b", "x_llm")
    );
    let gateway = start_gateway(&manifests, mock_a.addr().port());

    let a = raw(gateway.port, "POST", "/a", &[], CHAT);
    let b = raw(gateway.port, "POST", "/b", &[], CHAT);
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.body, b.body);
    let seen = |mock: &MockProvider| -> Vec<String> {
        mock.requests()
            .iter()
            .flat_map(|r| r.headers_named("authorization"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(seen(&mock_a), [format!("Bearer {key_a}")]);
    assert_eq!(seen(&mock_b), [format!("Bearer {key_b}")]);
}
