//! The control plane's port under mutual TLS (`llmgate certs`, `serve
//! --tls-dir`, `bootstrap --tls-dir`): xDS carries every provider key, so an
//! Envoy without a certificate from the control plane's CA gets nothing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use llmgate_e2e::controller::{eventually, Controller, XdsEnvoy};
use llmgate_e2e::harness::{find_sample, free_port, get, llmgate_binary, try_post};
use llmgate_e2e::manifests::HttpRoute;
use llmgate_e2e::manifests::{AiBackend, AuthToken, Gateway, Manifest as _};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "key-only-for-authenticated-envoys";
const BODY: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}]}"#;
/// The node id `llmgate certs` puts in the Envoys' certificate.
const NODE: &str = "llmgate-envoy";

fn certs(dir: &Path) {
    let out = Command::new(llmgate_binary())
        .args(["certs", "-o", &dir.display().to_string()])
        .output()
        .expect("llmgate certs");
    assert!(
        out.status.success(),
        "llmgate certs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rejected(metrics: &str) -> f64 {
    find_sample(metrics, "llmgate_xds_rejected_connections", &[]).unwrap_or(0.0)
}

#[test]
fn only_envoys_with_a_certificate_from_the_control_planes_ca_get_configuration() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let gateway_port = free_port();
    std::fs::write(
        folder.path().join("gateway.yaml"),
        Gateway::http(gateway_port).to_yaml(),
    )
    .unwrap();
    let backend = AiBackend::azure(
        "azure",
        "e.openai.azure.com",
        "d",
        "2024-02-15-preview",
        AuthToken::inline(KEY),
    )
    .at("127.0.0.1", mock.addr().port());
    std::fs::write(folder.path().join("backend.yaml"), backend.to_yaml()).unwrap();
    std::fs::write(
        folder.path().join("route.yaml"),
        HttpRoute::prefix("r", "/v1", "azure").to_yaml(),
    )
    .unwrap();
    let credentials = tempfile::tempdir().unwrap();
    let ours = credentials.path().join("ours");
    let theirs = credentials.path().join("theirs");
    certs(&ours);
    certs(&theirs);

    let controller = Controller::start_with_tls(folder.path(), Some(&ours.join("server")));
    let trusted = XdsEnvoy::start_unready(&controller, NODE, Some(&ours.join("envoy")));
    eventually(
        "the Envoy with our certificate serves the route",
        Duration::from_secs(30),
        || {
            try_post(&format!("http://127.0.0.1:{gateway_port}/v1"), &[], BODY)
                .is_ok_and(|r| r.status == 200)
        },
    );
    assert_eq!(mock.requests()[0].headers_named("api-key"), [KEY]);
    let log = controller.log();
    assert!(
        log.lines()
            .any(|l| l.contains("xDS client authenticated") && l.contains(NODE)),
        "the connecting node and its certificate are logged:\n{log}"
    );

    // Nothing on the port answers without a client certificate, not even
    // health or metrics.
    assert!(get(&format!("http://127.0.0.1:{}/healthz", controller.xds_port)).is_err());
    let metrics = |c: &Controller| {
        c.get_with_client_certificate("/metrics", &ours.join("envoy"))
            .expect("metrics with our client certificate")
    };
    let (status, body) = metrics(&controller);
    assert_eq!(status, 200);
    let before = rejected(&body);

    // A rogue Envoy in plaintext, and one whose certificate another CA
    // signed (with the right node id in it).
    let plaintext = XdsEnvoy::start_unready(&controller, "rogue", None);
    let foreign = XdsEnvoy::start_unready(&controller, NODE, Some(&theirs.join("envoy")));
    eventually(
        "both rogue connections are rejected and counted",
        Duration::from_secs(30),
        || rejected(&metrics(&controller).1) >= before + 2.0,
    );
    // Envoy retries a failed ADS stream within a second or so; give both
    // time to have tried more than once.
    std::thread::sleep(Duration::from_secs(3));
    for (who, rogue) in [("plaintext", &plaintext), ("foreign CA", &foreign)] {
        assert_eq!(rogue.listener_version(), None, "{who} got listeners");
        let dump = rogue.config_dump();
        assert!(!dump.is_empty(), "{who}: no config dump");
        assert!(!dump.contains(KEY), "{who} got the key");
        assert!(!dump.contains("gateway_"), "{who} got a listener");
    }
    let log = controller.log();
    assert!(
        log.lines()
            .any(|l| l.contains("rejected a connection to the control plane")),
        "rejections are logged:\n{log}"
    );
    assert!(
        !log.contains(KEY),
        "the key is never in the control plane's log"
    );
    // The trusted Envoy still serves.
    assert_eq!(
        try_post(&format!("http://127.0.0.1:{gateway_port}/v1"), &[], BODY)
            .map(|r| r.status)
            .ok(),
        Some(200)
    );
    drop(trusted);
}
