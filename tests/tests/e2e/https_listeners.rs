//! HTTPS listeners: TLS from kubernetes.io/tls Secrets, one certificate per
//! hostname on a shared port (SNI), a Secret in another namespace through a
//! ReferenceGrant. Certificates are made with `openssl`, requests sent with
//! `curl` (the e2e client has no TLS).

use std::path::Path;
use std::process::Command;

use llmgate_e2e::harness::start_gateway;
use llmgate_e2e::mock::{MockConfig, MockProvider};

fn self_signed(dir: &Path, host: &str) -> (String, String) {
    let key = dir.join(format!("{host}.key"));
    let crt = dir.join(format!("{host}.crt"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={host}"),
            "-addext",
            &format!("subjectAltName=DNS:{host}"),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("run openssl");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    (
        std::fs::read_to_string(crt).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

fn tls_secret(namespace: &str, name: &str, (crt, key): &(String, String)) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(crt),
        indent(key)
    )
}

/// `curl` through the gateway with `host` resolved to it, trusting only `ca`.
/// Returns the HTTP status, or 0 when TLS failed.
fn curl(port: u16, host: &str, ca: &Path) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .arg(format!("https://{host}:{port}/tls"))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn https_listeners_terminate_tls_with_the_certificate_of_each_hostname() {
    let dir = tempfile::tempdir().unwrap();
    let a = self_signed(dir.path(), "a.example.com");
    let b = self_signed(dir.path(), "b.example.com");
    let mock = MockProvider::start_blocking(MockConfig::default()).unwrap();
    let manifests = format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: infra}}
spec:
  gatewayClassName: llmgate
  listeners:
  - {{name: a, protocol: HTTPS, port: $GATEWAY_PORT, hostname: a.example.com, tls: {{certificateRefs: [{{name: cert-a}}]}}}}
  - {{name: b, protocol: HTTPS, port: $GATEWAY_PORT, hostname: b.example.com, tls: {{certificateRefs: [{{name: cert-b, namespace: certs}}]}}}}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{name: gateways, namespace: certs}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}}]
  to: [{{group: "", kind: Secret}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: echo-1, namespace: infra, labels: {{kubernetes.io/service-name: echo}}}}
addressType: IPv4
ports: [{{port: $MOCK_PORT}}]
endpoints: [{{addresses: [127.0.0.1]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r, namespace: infra}}
spec:
  parentRefs: [{{name: gw}}]
  rules: [{{backendRefs: [{{name: echo, port: $MOCK_PORT}}]}}]
{}{}"#,
        tls_secret("infra", "cert-a", &a),
        tls_secret("certs", "cert-b", &b),
    );
    let gateway = start_gateway(&manifests, mock.addr().port());
    assert!(
        !gateway.translated.stderr.contains("PRIVATE KEY"),
        "{}",
        gateway.translated.stderr
    );
    let ca_a = dir.path().join("a.example.com.crt");
    let ca_b = dir.path().join("b.example.com.crt");
    // The mock answers 404 to /tls: the request went through.
    assert_eq!(
        curl(gateway.port, "a.example.com", &ca_a),
        404,
        "{}",
        gateway.envoy_log()
    );
    assert_eq!(curl(gateway.port, "b.example.com", &ca_b), 404);
    // Each name gets its own certificate: b's is not signed by a's.
    assert_eq!(curl(gateway.port, "b.example.com", &ca_a), 0);
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(mock.requests()[1].header("host"), Some("b.example.com"));
}
