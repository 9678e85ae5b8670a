//! xDS mode through real Envoys: `llmgate serve` on a folder, Envoys that know
//! only the controller's address, route changes going live without a restart.

use std::path::Path;
use std::time::Duration;

use llmgate_e2e::controller::{eventually, Controller, XdsEnvoy};
use llmgate_e2e::harness::{free_port, post, try_post};
use llmgate_e2e::manifests::{AiBackend, AuthToken, Gateway, HttpRoute, Manifest as _};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "xds-test-key";
const BODY: &[u8] = br#"{"model":"","messages":[{"role":"user","content":"hi"}]}"#;

fn write_manifests(dir: &Path, gateway_port: u16, mock_port: u16, prefix: &str) {
    std::fs::write(
        dir.join("gateway.yaml"),
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
    .at("127.0.0.1", mock_port);
    std::fs::write(dir.join("backend.yaml"), backend.to_yaml()).unwrap();
    write_route(dir, prefix);
}

fn write_route(dir: &Path, prefix: &str) {
    // Written beside and renamed, as editors and kubectl-style tools do.
    let tmp = dir.join("route.yaml.tmp");
    std::fs::write(&tmp, HttpRoute::prefix("r", prefix, "azure").to_yaml()).unwrap();
    std::fs::rename(tmp, dir.join("route.yaml")).unwrap();
}

/// The status a request gets, 0 while nothing listens.
fn status(port: u16, path: &str) -> u16 {
    try_post(&format!("http://127.0.0.1:{port}{path}"), &[], BODY).map_or(0, |r| r.status)
}

/// A mock, a folder of manifests routing `/v1` to it, `llmgate serve` on
/// the folder and one Envoy serving the route.
struct Served {
    mock: MockProvider,
    folder: tempfile::TempDir,
    gateway_port: u16,
    controller: Controller,
    envoy: XdsEnvoy,
}

impl Served {
    fn start(mock: MockConfig) -> Served {
        let mock = MockProvider::start_blocking(mock).unwrap();
        let folder = tempfile::tempdir().unwrap();
        let gateway_port = free_port();
        write_manifests(folder.path(), gateway_port, mock.addr().port(), "/v1");
        let controller = Controller::start(folder.path());
        let envoy = XdsEnvoy::start(&controller, "envoy-a");
        eventually("served", Duration::from_secs(20), || {
            status(gateway_port, "/v1") == 200
        });
        Served {
            mock,
            folder,
            gateway_port,
            controller,
            envoy,
        }
    }
}

#[test]
fn a_route_change_goes_live_in_every_envoy_without_a_restart() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let gateway_port = free_port();
    write_manifests(folder.path(), gateway_port, mock.addr().port(), "/v1");
    let controller = Controller::start(folder.path());
    let mut first = XdsEnvoy::start(&controller, "envoy-a");
    eventually("the first route is served", Duration::from_secs(20), || {
        status(gateway_port, "/v1") == 200
    });
    assert_eq!(mock.requests()[0].headers_named("api-key"), [KEY]);

    write_route(folder.path(), "/v2");
    let took = eventually(
        "the changed route is served",
        Duration::from_secs(20),
        || status(gateway_port, "/v2") == 200,
    );
    assert_eq!(status(gateway_port, "/v1"), 404);
    assert!(first.is_running(), "Envoy restarted");
    eprintln!("route change live after {took:?}");

    // A second Envoy (on the same port, with SO_REUSEPORT) converges to the same version.
    let second = XdsEnvoy::start(&controller, "envoy-b");
    eventually(
        "both Envoys accept the same listener version",
        Duration::from_secs(20),
        || {
            first.listener_version().is_some()
                && first.listener_version() == second.listener_version()
        },
    );
    eventually(
        "the controller counts two Envoys",
        Duration::from_secs(5),
        || {
            controller
                .metrics()
                .contains("llmgate_xds_connected_envoys 2")
        },
    );
}

#[test]
fn envoy_keeps_serving_without_the_controller_and_converges_when_it_returns() {
    let Served {
        mock: _mock,
        folder,
        gateway_port,
        mut controller,
        envoy,
    } = Served::start(MockConfig::new(KEY));

    controller.stop();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        status(gateway_port, "/v1"),
        200,
        "Envoy stopped serving without its controller"
    );

    write_route(folder.path(), "/v3");
    controller.restart();
    eventually(
        "Envoy reconnected and took the change",
        Duration::from_secs(30),
        || status(gateway_port, "/v3") == 200,
    );
    assert!(!envoy.log().is_empty());
}

#[test]
fn a_stream_in_flight_survives_a_configuration_change() {
    let mut config = MockConfig::new(KEY);
    config.chunk_delay = Duration::from_millis(100);
    let Served {
        mock,
        folder,
        gateway_port,
        controller: _controller,
        envoy: _envoy,
    } = Served::start(config);

    let before = mock.requests().len();
    let streaming = std::thread::spawn(move || {
        post(
            &format!("http://127.0.0.1:{gateway_port}/v1"),
            &[],
            br#"{"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
    });
    // Change the configuration while the stream is being sent.
    eventually("the stream started", Duration::from_secs(10), || {
        mock.requests().len() == before + 1
    });
    write_route(folder.path(), "/v4");
    eventually("the change is live", Duration::from_secs(20), || {
        status(gateway_port, "/v4") == 200
    });
    let reply = streaming.join().unwrap();
    assert_eq!(reply.status, 200);
    assert!(
        reply.text().ends_with("data: [DONE]\n\n"),
        "stream cut: {}",
        reply.text()
    );
    assert_eq!(reply.body, mock.responses()[before]);
}

#[test]
fn one_tenants_broken_route_does_not_hold_back_anothers_change() {
    let Served {
        mock: _mock,
        folder,
        gateway_port,
        controller,
        envoy: _envoy,
    } = Served::start(MockConfig::new(KEY));

    // Tenant B's route matches with a regex RE2 refuses (a lookahead): an
    // error, and that route is left out.
    let broken = HttpRoute::prefix("broken", "/b", "azure")
        .to_yaml()
        .replace(
            "type: PathPrefix, value: /b",
            "type: RegularExpression, value: '/b(?=x)'",
        );
    std::fs::write(folder.path().join("tenant-b.yaml"), broken).unwrap();
    // Tenant A's change comes next and goes live all the same.
    write_route(folder.path(), "/v2");
    eventually(
        "the valid change is served beside the broken route",
        Duration::from_secs(20),
        || status(gateway_port, "/v2") == 200,
    );
    assert_eq!(
        status(gateway_port, "/b"),
        404,
        "the broken route is served"
    );
    let log = controller.log();
    assert!(
        log.contains("tenant-b.yaml") && log.contains("HTTPRoute default/broken"),
        "the broken route's problem is logged:\n{log}"
    );
}
