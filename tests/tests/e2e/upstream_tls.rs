//! TLS to the provider, verified the way a BackendTLSPolicy says: against a
//! mock that serves HTTPS with a certificate for `localhost` from a CA of its own.

use llmgate_e2e::harness::{ai_route_manifests, start_gateway, Gateway};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "tls-key-0c4d";
const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#;

fn tls_mock() -> MockProvider {
    MockProvider::start_blocking(MockConfig {
        tls_dns_name: Some("localhost".into()),
        ..MockConfig::new(KEY)
    })
    .expect("start TLS mock")
}

/// An anthropic Backend `anthropic-tls` at `localhost:<mock port>` with
/// `annotations` (YAML flow map), routed from `/llm`, plus `extra` resources.
fn manifests(annotations: &str, extra: &str) -> String {
    let ai = format!(
        "    llm:\n      host: localhost\n      port: $MOCK_PORT\n      anthropic:\n        authToken: {{kind: Inline, inline: {KEY}}}\n"
    );
    ai_route_manifests("anthropic-tls", annotations, &ai, extra)
}

fn policy(validation: &str) -> String {
    format!(
        r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {{name: anthropic-tls}}
spec:
  targetRefs: [{{group: gateway.kgateway.dev, kind: Backend, name: anthropic-tls}}]
  validation: {validation}
"#
    )
}

/// The CA as a ConfigMap `ca.crt`, in a YAML block scalar.
fn ca_config_map(ca_pem: &str) -> String {
    let indented: String = ca_pem.lines().map(|l| format!("    {l}\n")).collect();
    format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: mock-ca}}\ndata:\n  ca.crt: |\n{indented}")
}

fn send(gateway: &Gateway) -> llmgate_e2e::harness::Reply {
    gateway.post(
        "/llm/v1/messages",
        &[("content-type", "application/json")],
        MESSAGES.as_bytes(),
    )
}

#[test]
fn backend_tls_policy_with_the_mocks_ca_connects() {
    let mock = tls_mock();
    let extra = format!(
        "{}{}",
        policy("{caCertificateRefs: [{group: \"\", kind: ConfigMap, name: mock-ca}], hostname: localhost}"),
        ca_config_map(mock.ca_pem().unwrap())
    );
    let gateway = start_gateway(&manifests("{}", &extra), mock.addr().port());
    let reply = send(&gateway);
    assert_eq!(
        reply.status,
        200,
        "{}\n{}",
        reply.text(),
        gateway.envoy_log()
    );
    let upstream = &mock.requests()[0];
    assert_eq!(upstream.path_and_query, "/v1/messages");
    assert_eq!(upstream.headers_named("x-api-key"), [KEY]);
    assert_eq!(reply.body, mock.responses()[0]);
    assert_eq!(mock.failed_handshakes(), 0);
}

#[test]
fn system_cas_do_not_trust_the_mock() {
    let mock = tls_mock();
    let extra = policy("{wellKnownCACertificates: System, hostname: localhost}");
    let gateway = start_gateway(&manifests("{}", &extra), mock.addr().port());
    let reply = send(&gateway);
    assert_eq!(reply.status, 503, "{}", reply.text());
    // Envoy's body only says "remote connection failure"; its TLS stats say why.
    let stats = gateway.prometheus();
    let verify_failures: f64 = stats
        .lines()
        .filter(|l| l.starts_with("envoy_cluster_ssl_fail_verify_error{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(
        verify_failures >= 1.0,
        "no certificate verification failure counted:\n{stats}"
    );
    assert!(mock.requests().is_empty(), "{:#?}", mock.requests());
    assert!(mock.failed_handshakes() >= 1);
}

#[test]
fn skip_verify_annotation_connects_and_warns() {
    let mock = tls_mock();
    let gateway = start_gateway(
        &manifests("{llmgate.io/insecure-skip-tls-verify: \"true\"}", ""),
        mock.addr().port(),
    );
    let stderr = gateway.translated.stderr.to_lowercase();
    assert!(
        stderr.contains("warn") && stderr.contains("llmgate.io/insecure-skip-tls-verify"),
        "{}",
        gateway.translated.stderr
    );
    let reply = send(&gateway);
    assert_eq!(
        reply.status,
        200,
        "{}\n{}",
        reply.text(),
        gateway.envoy_log()
    );
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(reply.body, mock.responses()[0]);
}
