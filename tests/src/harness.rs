//! Runs the real thing: `llmgate translate` on a manifest, Envoy on the
//! bootstrap it wrote, with the built filter. Tests talk HTTP to the result.
//!
//! Nothing is built or installed here: `make test` builds `target/release/llmgate`
//! and the filter and installs Envoy into `.venv/` first.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::manifests::{self, yaml_stream, AiBackend, HttpRoute, GATEWAY_PORT};

const HOW_TO_FIX: &str = "run `make test` (it builds llmgate and the filter and installs Envoy)";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn must_exist(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "{what} not found at {} — {HOW_TO_FIX}",
        path.display()
    );
    path
}

pub fn llmgate_binary() -> PathBuf {
    must_exist(target_dir().join("release/llmgate"), "the llmgate binary")
}

pub fn filter_module() -> PathBuf {
    must_exist(
        target_dir().join("wasm32-wasip1/release/llmgate_filter.wasm"),
        "the llmgate filter",
    )
}

pub fn envoy_binary() -> PathBuf {
    let path = std::env::var_os("LLMGATE_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/envoy"));
    must_exist(path, "Envoy")
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    // Not from the kernel's ephemeral range (`127.0.0.1:0`): a port found free
    // there can be taken as the *source* port of any outgoing connection (the
    // tests make many) before the server binds it — seen as "Address already
    // in use" from `llmgate serve`. Below Linux's default ephemeral range,
    // nothing is assigned implicitly. Each test process starts at its own
    // offset and never hands out the same port twice.
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (offset + n) % SPAN).expect("below 32000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN)
}

/// The manifests of `manifests/examples/<name>/` (its `.yaml` files in name
/// order, as one multi-document text) ready for [`start_gateway`]: the demo's
/// fixed ports, `port: 8080` (the Gateway) and `port: 8081` (the mock
/// provider), become `$GATEWAY_PORT` and `$MOCK_PORT`, so tests run beside
/// `make run` and each other.
pub fn example_manifests(name: &str) -> String {
    let dir = workspace_root().join("manifests/examples").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let text = files
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("read example"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let text = text
        .replace("port: 8080", "port: $GATEWAY_PORT")
        .replace("port: 8081", "port: $MOCK_PORT");
    assert!(
        text.contains("$GATEWAY_PORT") && text.contains("$MOCK_PORT"),
        "{name}: the example no longer uses ports 8080 and 8081"
    );
    text
}

/// What `llmgate translate` said and wrote.
pub struct Translated {
    pub dir: tempfile::TempDir,
    pub bootstrap: PathBuf,
    pub status: std::process::ExitStatus,
    pub stderr: String,
}

/// The manifests most AI tests need: a Gateway `gw` with an HTTP listener on
/// `$GATEWAY_PORT`, an AI Backend `backend` with `annotations` (a YAML flow
/// map, `{}` for none) and `spec.ai` = `ai` (YAML indented by four spaces),
/// and an HTTPRoute `PathPrefix /llm` → that Backend; then `extra` documents.
pub fn ai_route_manifests(backend: &str, annotations: &str, ai: &str, extra: &str) -> String {
    let documents = yaml_stream(&[
        &manifests::Gateway::http(GATEWAY_PORT),
        &AiBackend::with_ai_yaml(backend, ai).annotations(annotations),
        &HttpRoute::prefix("llm", "/llm", backend),
    ]);
    format!("{documents}{extra}")
}

/// Writes `manifests` to a fresh folder and runs `llmgate translate` on it.
pub fn translate(manifests: &str, admin_port: u16) -> Translated {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("manifests.yaml"), manifests).expect("write manifests");
    let bootstrap = dir.path().join("envoy.yaml");
    let output = Command::new(llmgate_binary())
        .arg("translate")
        .args([
            "-f",
            &dir.path().join("manifests.yaml").display().to_string(),
        ])
        .args(["--filter", &filter_module().display().to_string()])
        .args(["--admin-port", &admin_port.to_string()])
        .args(["--listen-address", "127.0.0.1"])
        .args(["-o", &bootstrap.display().to_string()])
        .output()
        .expect("run llmgate translate");
    Translated {
        dir,
        bootstrap,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running Envoy serving the translation of a manifest.
pub struct Gateway {
    pub port: u16,
    pub admin_port: u16,
    pub translated: Translated,
    child: Child,
}

/// `$GATEWAY_PORT` and `$MOCK_PORT` in the manifest are replaced by the real ports.
pub fn start_gateway(manifests: &str, mock_port: u16) -> Gateway {
    start_gateway_with(manifests, mock_port, |bootstrap| bootstrap)
}

/// [`start_gateway`], with the bootstrap (YAML text) edited before Envoy
/// starts: for experiments on Envoy itself.
pub fn start_gateway_with(
    manifests: &str,
    mock_port: u16,
    edit_bootstrap: impl FnOnce(String) -> String,
) -> Gateway {
    start_gateway_logging(manifests, mock_port, "info", edit_bootstrap)
}

/// [`start_gateway_with`], Envoy logging at `log_level` (`debug`, `trace`…).
pub fn start_gateway_logging(
    manifests: &str,
    mock_port: u16,
    log_level: &str,
    edit_bootstrap: impl FnOnce(String) -> String,
) -> Gateway {
    let port = free_port();
    let admin_port = free_port();
    let manifests = manifests
        .replace("$GATEWAY_PORT", &port.to_string())
        .replace("$MOCK_PORT", &mock_port.to_string());
    let translated = translate(&manifests, admin_port);
    assert!(
        translated.bootstrap.is_file(),
        "llmgate translate wrote nothing: {}",
        translated.stderr
    );
    let text = std::fs::read_to_string(&translated.bootstrap).expect("read bootstrap");
    std::fs::write(&translated.bootstrap, edit_bootstrap(text)).expect("write bootstrap");
    let log = translated.dir.path().join("envoy.log");
    // Envoy's stdout is the access log (one JSON line per request).
    let access_log =
        std::fs::File::create(translated.dir.path().join("access.log")).expect("access.log");
    let child = Command::new(envoy_binary())
        .args(["-c", &translated.bootstrap.display().to_string()])
        // Several Envoys run at once in tests: no shared-memory hot restart.
        .arg("--disable-hot-restart")
        .args(["--concurrency", "2"])
        .args(["--log-level", log_level])
        // The access log is written at most this long after a request ends.
        .args(["--file-flush-interval-msec", "100"])
        .args(["--log-path", &log.display().to_string()])
        .stdin(Stdio::null())
        .stdout(access_log)
        .stderr(Stdio::null())
        .spawn()
        .expect("start Envoy");
    let mut gateway = Gateway {
        port,
        admin_port,
        translated,
        child,
    };
    gateway.wait_ready();
    gateway
}

/// One HTTP exchange as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Gateway {
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Envoy exited ({status}) at start:\n{}", self.envoy_log());
            }
            let ready = self
                .admin_get("/ready")
                .map(|(s, _)| s == 200)
                .unwrap_or(false);
            if ready && TcpListener::bind(("127.0.0.1", self.port)).is_err() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Envoy not ready after 30 s:\n{}",
                self.envoy_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn envoy_log(&self) -> String {
        std::fs::read_to_string(self.translated.dir.path().join("envoy.log")).unwrap_or_default()
    }

    /// The access log lines (JSON) so far, waiting up to 5 s for at least
    /// `at_least`: Envoy writes the line after the stream ends and flushes
    /// its log on a timer.
    pub fn access_log(&self, at_least: usize) -> Vec<serde_json::Value> {
        let path = self.translated.dir.path().join("access.log");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if lines.len() >= at_least || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// POSTs and returns as soon as the response headers are in: the body is
    /// read by the caller, as it arrives.
    pub fn post_streaming(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, impl std::io::Read + 'static) {
        let mut request = http_agent().post(&self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.envoy_log()));
        let status = response.status().as_u16();
        (status, response.into_body().into_reader())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        try_post(&self.url(path), headers, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.envoy_log()))
    }

    /// GET on Envoy's admin port (`/config_dump`, `/clusters`…): the body.
    pub fn admin(&self, path: &str) -> String {
        self.admin_get(path)
            .map(|(_, body)| body)
            .unwrap_or_else(|e| panic!("GET admin {path}: {e}"))
    }

    fn admin_get(&self, path: &str) -> Result<(u16, String), ureq::Error> {
        get(&format!("http://127.0.0.1:{}{path}", self.admin_port))
    }

    pub fn prometheus(&self) -> String {
        self.admin_get("/stats/prometheus")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// The value of the Prometheus sample `name{labels…}` whose labels include
    /// all of `labels`. Waits up to 5 s for it to reach `at_least`: the filter
    /// counts when the stream ends, which may be just after the client is done.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)], at_least: f64) -> Option<f64> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let value = find_sample(&self.prometheus(), name, labels);
            if value.is_some_and(|v| v >= at_least) || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that reports every status instead of turning 4xx/5xx into errors.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A safety net, not a performance check: a request that hangs (a
        // body shorter than its content-length, say) fails the test instead
        // of blocking the run.
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs `body` to `url`; an error only when no HTTP answer came.
pub fn try_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, ureq::Error> {
    let mut request = http_agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(into_reply(request.send(body)?))
}

pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    try_post(url, headers, body).unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// GETs `url`: status and body.
pub fn get(url: &str) -> Result<(u16, String), ureq::Error> {
    let mut response = http_agent().get(url).call()?;
    let status = response.status().as_u16();
    Ok((status, response.body_mut().read_to_string()?))
}

fn into_reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let _ = response.body_mut().as_reader().read_to_end(&mut body);
    Reply {
        status,
        headers,
        body,
    }
}

/// Finds `name{…}` in Prometheus text whose labels contain every pair in `labels`.
pub fn find_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            if all {
                value.parse().ok()
            } else {
                None
            }
        })
}

/// The sum of every `name{…}` sample in Prometheus text whose labels contain
/// all of `labels` (a counter split by other labels, e.g. the models);
/// `None` when there is none.
pub fn sum_samples(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (metric == name && all).then(|| value.parse::<f64>().ok())?
        })
        .reduce(|a, b| a + b)
}
