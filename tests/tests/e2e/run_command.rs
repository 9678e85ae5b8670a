//! `llmgate run`, the one-command local gateway: it writes each request's
//! access log line when the request ends, and however it is stopped it
//! leaves no Envoy behind holding the gateway's ports.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmgate_e2e::controller::{eventually, port_in_use};
use llmgate_e2e::harness::{envoy_binary, filter_module, free_port, llmgate_binary, try_post};
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "run-test-key";
const BODY: &[u8] = br#"{"model":"","messages":[{"role":"user","content":"hi"}]}"#;

struct Run {
    child: Child,
    gateway_port: u16,
    admin_port: u16,
    stdout: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn start(mock_port: u16) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let gateway_port = free_port();
    let admin_port = free_port();
    let manifests = yaml_stream(&[
        &Gateway::http(gateway_port),
        &AiBackend::azure(
            "azure",
            "e.openai.azure.com",
            "d",
            "2024-10-21",
            AuthToken::inline(KEY),
        )
        .at("127.0.0.1", mock_port),
        &HttpRoute::prefix("llm", "/llm", "azure"),
    ]);
    let folder = dir.path().join("manifests");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("all.yaml"), manifests).unwrap();
    let stdout = dir.path().join("stdout");
    let child = Command::new(llmgate_binary())
        .arg("run")
        .args(["-f", &folder.display().to_string()])
        .args(["--xds-port", &free_port().to_string()])
        .args(["--admin-port", &admin_port.to_string()])
        .args(["--envoy", &envoy_binary().display().to_string()])
        .args(["--filter", &filter_module().display().to_string()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let run = Run {
        child,
        gateway_port,
        admin_port,
        stdout,
        _dir: dir,
    };
    eventually("the gateway answers", Duration::from_secs(30), || {
        run.post().is_some_and(|status| status == 200)
    });
    run
}

impl Run {
    fn post(&self) -> Option<u16> {
        try_post(
            &format!("http://127.0.0.1:{}/llm", self.gateway_port),
            &[],
            BODY,
        )
        .ok()
        .map(|r| r.status)
    }

    fn access_log_lines(&self) -> usize {
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('{'))
            .count()
    }

    /// The Envoy `llmgate run` started: its only child process.
    fn envoy_pid(&self) -> u32 {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.child.id()))
                .unwrap_or_default();
        let mut pids: Vec<u32> = children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            // Spawned from a runtime worker thread: look through every task.
            for task in std::fs::read_dir(format!("/proc/{}/task", self.child.id())).unwrap() {
                let path = task.unwrap().path().join("children");
                let text = std::fs::read_to_string(path).unwrap_or_default();
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
        assert_eq!(pids.len(), 1, "children of llmgate run: {pids:?}");
        pids[0]
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // SIGTERM, so `run` takes its Envoy down with it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent has not looked yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
}

fn assert_stops_cleanly(signal: &str) {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let mut run = start(mock.addr().port());
    let envoy = run.envoy_pid();
    run.signal(signal);
    let exited = Instant::now();
    while run.child.try_wait().unwrap().is_none() {
        assert!(
            exited.elapsed() < Duration::from_secs(15),
            "llmgate run ignored SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eventually(
        &format!("Envoy {envoy} gone after SIG{signal}"),
        Duration::from_secs(10),
        || !alive(envoy),
    );
    assert!(
        !port_in_use(run.gateway_port),
        "the gateway port is still taken"
    );
    assert!(
        !port_in_use(run.admin_port),
        "the admin port is still taken"
    );
}

#[test]
fn sigterm_stops_envoy_and_frees_the_ports() {
    assert_stops_cleanly("TERM");
}

#[test]
fn sighup_stops_envoy_and_frees_the_ports() {
    assert_stops_cleanly("HUP");
}

#[test]
fn sigint_stops_envoy_and_frees_the_ports() {
    assert_stops_cleanly("INT");
}

/// Even a `kill -9`, which gives llmgate no chance to clean up, takes Envoy
/// down with it.
#[test]
fn sigkill_takes_envoy_down_too() {
    assert_stops_cleanly("KILL");
}

#[test]
fn the_access_log_line_appears_when_the_request_ends() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let run = start(mock.addr().port());
    // Lines of the requests that waited for the gateway to come up.
    std::thread::sleep(Duration::from_millis(1500));
    let before = run.access_log_lines();
    assert_eq!(run.post(), Some(200));
    // Envoy's default flush interval is 10 s; `run` sets 0.5 s.
    let took = eventually(
        "the request's access log line",
        Duration::from_secs(3),
        || run.access_log_lines() > before,
    );
    eprintln!("access log line written {took:?} after the response");
}
