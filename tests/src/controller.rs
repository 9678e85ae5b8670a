//! xDS mode for tests: `llmgate serve` on a folder of manifests, and Envoys
//! bootstrapped by `llmgate bootstrap` that get everything else over ADS.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{envoy_binary, filter_module, free_port, get, llmgate_binary};

/// A running `llmgate serve`. Stopping and starting it again keeps its port
/// (one, not the default: xDS, the filter module, health and metrics).
pub struct Controller {
    pub dir: PathBuf,
    pub xds_port: u16,
    /// `serve --tls-dir`: mutual TLS on the whole port.
    tls: Option<PathBuf>,
    /// `serve --redis`: the rate-limit service for global token budgets.
    redis: Option<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Controller {
    pub fn start(dir: &Path) -> Controller {
        Controller::start_with_tls(dir, None)
    }

    /// `llmgate serve --tls-dir TLS` (the `server/` folder of `llmgate certs`).
    pub fn start_with_tls(dir: &Path, tls: Option<&Path>) -> Controller {
        Controller::start_with(dir, tls, None)
    }

    /// `llmgate serve --redis URL`.
    pub fn start_with_redis(dir: &Path, redis: &str) -> Controller {
        Controller::start_with(dir, None, Some(redis))
    }

    fn start_with(dir: &Path, tls: Option<&Path>, redis: Option<&str>) -> Controller {
        let log = dir.with_extension("controller.log");
        let mut c = Controller {
            dir: dir.to_path_buf(),
            xds_port: free_port(),
            tls: tls.map(Path::to_path_buf),
            redis: redis.map(str::to_owned),
            log,
            child: None,
        };
        c.restart();
        c
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("controller log");
        let child = Command::new(llmgate_binary())
            .arg("serve")
            .args(["-f", &self.dir.display().to_string()])
            .args(["--xds-port", &self.xds_port.to_string()])
            .args(["--filter", &filter_module().display().to_string()])
            .args(
                self.tls
                    .iter()
                    .flat_map(|dir| ["--tls-dir".to_string(), dir.display().to_string()]),
            )
            .args(
                self.redis
                    .iter()
                    .flat_map(|url| ["--redis".to_string(), url.clone()]),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start llmgate serve");
        self.child = Some(child);
        // Under mutual TLS nothing answers without a client certificate: a
        // TCP connection is what Kubernetes' probe checks then too.
        let tls = self.tls.is_some();
        wait_for(
            || {
                if tls {
                    port_in_use(self.xds_port)
                } else {
                    health(self.xds_port)
                }
            },
            "llmgate serve to answer /healthz",
            || self.log(),
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The controller's own Prometheus metrics.
    pub fn metrics(&self) -> String {
        get(&format!("http://127.0.0.1:{}/metrics", self.xds_port))
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// `GET path` over mutual TLS with the client credentials in `client`
    /// (`ca.crt`, `tls.crt`, `tls.key`): the status and body, or why not.
    pub fn get_with_client_certificate(
        &self,
        path: &str,
        client: &Path,
    ) -> Result<(u16, String), String> {
        crate::tls_client::get(self.xds_port, path, client)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop();
    }
}

fn health(port: u16) -> bool {
    get(&format!("http://127.0.0.1:{port}/healthz")).is_ok_and(|(s, _)| s == 200)
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An Envoy that knows only the controller's address.
pub struct XdsEnvoy {
    pub admin_port: u16,
    pub pid: u32,
    dir: tempfile::TempDir,
    child: Child,
}

impl XdsEnvoy {
    pub fn start(controller: &Controller, node_id: &str) -> XdsEnvoy {
        XdsEnvoy::start_logging(controller, node_id, "info")
    }

    /// [`XdsEnvoy::start`], Envoy logging at `log_level` (`debug`, `trace`…).
    pub fn start_logging(controller: &Controller, node_id: &str, log_level: &str) -> XdsEnvoy {
        let envoy = XdsEnvoy::launch(controller, node_id, None, log_level);
        wait_for(
            || envoy.admin_status("/ready") == Some(200),
            "Envoy to be ready",
            || envoy.log(),
        );
        envoy
    }

    /// An Envoy bootstrapped with `--tls-dir tls` (or plaintext), once its
    /// admin port answers: it may never get its configuration.
    pub fn start_unready(controller: &Controller, node_id: &str, tls: Option<&Path>) -> XdsEnvoy {
        XdsEnvoy::launch(controller, node_id, tls, "info")
    }

    fn launch(
        controller: &Controller,
        node_id: &str,
        tls: Option<&Path>,
        log_level: &str,
    ) -> XdsEnvoy {
        let dir = tempfile::tempdir().expect("tempdir");
        let admin_port = free_port();
        let bootstrap = dir.path().join("bootstrap.yaml");
        let output = Command::new(llmgate_binary())
            .arg("bootstrap")
            .args([
                "--xds-address",
                &format!("127.0.0.1:{}", controller.xds_port),
            ])
            .args(["--node-id", node_id])
            .args(["--admin-port", &admin_port.to_string()])
            .args(["-o", &bootstrap.display().to_string()])
            .args(
                tls.iter()
                    .flat_map(|dir| ["--tls-dir".to_string(), dir.display().to_string()]),
            )
            .output()
            .expect("llmgate bootstrap");
        assert!(
            output.status.success(),
            "llmgate bootstrap: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let child = Command::new(envoy_binary())
            .args(["-c", &bootstrap.display().to_string()])
            .arg("--disable-hot-restart")
            .args(["--concurrency", "2"])
            .args(["--log-level", log_level])
            .args([
                "--log-path",
                &dir.path().join("envoy.log").display().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Envoy");
        let pid = child.id();
        let envoy = XdsEnvoy {
            admin_port,
            pid,
            dir,
            child,
        };
        wait_for(
            || envoy.admin_status("/server_info").is_some(),
            "Envoy's admin port",
            || envoy.log(),
        );
        envoy
    }

    fn admin_status(&self, path: &str) -> Option<u16> {
        get(&format!("http://127.0.0.1:{}{path}", self.admin_port))
            .ok()
            .map(|(s, _)| s)
    }

    /// Envoy's whole configuration as its admin port shows it.
    pub fn config_dump(&self) -> String {
        get(&format!(
            "http://127.0.0.1:{}/config_dump?include_eds",
            self.admin_port
        ))
        .map(|(_, b)| b)
        .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last listener (LDS) version Envoy accepted.
    pub fn listener_version(&self) -> Option<String> {
        let url = format!(
            "http://127.0.0.1:{}/stats?filter=^listener_manager.lds.version_text$",
            self.admin_port
        );
        let (_, stats) = get(&url).ok()?;
        let value = stats.split_once(": ")?.1.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    }
}

impl Drop for XdsEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it holds; returns how long that took.
pub fn eventually(what: &str, timeout: Duration, mut probe: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !probe() {
        assert!(start.elapsed() < timeout, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// True while something listens on the port.
pub fn port_in_use(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}
