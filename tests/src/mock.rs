//! A mock LLM provider that answers like Azure OpenAI and OpenAI do.
//!
//! Routes (everything else is a 404 `{"error":{"code":"404","message":"Resource not found"}}`):
//!
//! | route | auth | notes |
//! |---|---|---|
//! | `POST /openai/deployments/{deployment}/chat/completions?api-version=YYYY-MM-DD[-preview]` | `api-key: <key>` or `Authorization: Bearer <key>` | Azure classic |
//! | `POST /openai/v1/chat/completions[?api-version=preview]` | same | Azure v1; body `model` required |
//! | `POST /v1/chat/completions` | `Authorization: Bearer <key>` | OpenAI; body `model` required and echoed |
//!
//! Azure: a missing `api-version` on the classic path is a 404 (as above); one that is
//! not `YYYY-MM-DD[-preview]` (or, on v1, anything but `preview`/`latest`) is a 400
//! `{"error":{"code":"BadRequest","message":"API version not supported"}}`, which is
//! what Azure answers today. `stream_options` with a classic version dated before
//! 2024-09-01 is a 400 `unknown_parameter`, like the real service.
//!
//! Every answer carries the same usage: prompt 28, completion 19, total 47
//! ([`PROMPT_TOKENS`], [`COMPLETION_TOKENS`], [`TOTAL_TOKENS`]). With `"stream": true`
//! the answer is SSE, sent chunk by chunk with [`MockConfig::chunk_delay`] between
//! chunks; the usage chunk is sent only when `stream_options.include_usage` is true.
//!
//! Every request is recorded (before any check) and can be read back with
//! [`MockProvider::requests`].
//!
//! ```no_run
//! use llmgate_e2e::mock::{MockConfig, MockProvider};
//! let mock = MockProvider::start_blocking(MockConfig::new("test-key")).unwrap();
//! let url = format!("{}/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", mock.base_url());
//! // ... send requests through the gateway ...
//! let sent = mock.requests();
//! assert_eq!(sent[0].header("api-key"), Some("test-key"));
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

mod bodies;
mod handler;

/// The key the binary accepts when none is given.
pub const DEFAULT_API_KEY: &str = "mock-azure-key";
/// `usage.prompt_tokens` of every successful answer.
pub const PROMPT_TOKENS: u64 = 28;
/// `usage.completion_tokens` of every successful answer.
pub const COMPLETION_TOKENS: u64 = 19;
/// `usage.total_tokens` of every successful answer.
pub const TOTAL_TOKENS: u64 = 47;
/// The `model` Azure answers with (the deployment's model), whatever the request says.
pub const AZURE_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The assistant's answer, in the JSON `message.content` and, split into deltas, in SSE.
pub const ASSISTANT_TEXT: &str =
    "Hello! This is the llmgate mock provider answering your chat request. How can I help you today?";

/// How the mock behaves. `MockConfig::default()` listens on 127.0.0.1 on an ephemeral
/// port and accepts [`DEFAULT_API_KEY`].
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// The one key accepted (`api-key` header or `Authorization: Bearer`). Never echoed.
    pub api_key: String,
    /// Pause between two SSE chunks (none before the first). Default 0.
    pub chunk_delay: Duration,
    /// Pause before answering at all (after the request body is read). Default 0.
    pub response_delay: Duration,
    /// Where to listen. Default `127.0.0.1:0` (an ephemeral port; see [`MockProvider::addr`]).
    pub listen: SocketAddr,
    /// Failure injection: when set, every request to a known route that passes the
    /// route's path and auth checks is answered with this status and a provider-shaped
    /// error body (429 also carries `retry-after: 1` and `retry-after-ms: 1000`).
    /// Can be changed later with [`MockProvider::set_force_status`].
    pub force_status: Option<u16>,
    /// Print one line per request to stdout: method, path (no query), status.
    /// Never header values. Default false (the binary turns it on).
    pub log_requests: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            api_key: DEFAULT_API_KEY.to_owned(),
            chunk_delay: Duration::ZERO,
            response_delay: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            force_status: None,
            log_requests: false,
        }
    }
}

impl MockConfig {
    /// The defaults, accepting `api_key`.
    pub fn new(api_key: impl Into<String>) -> Self {
        MockConfig {
            api_key: api_key.into(),
            ..MockConfig::default()
        }
    }
}

/// One request as the mock received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The request target as received, e.g. `/openai/deployments/d/chat/completions?api-version=2024-10-21`.
    pub path_and_query: String,
    /// Header names lowercase, in the order received (values of a repeated name are
    /// listed together, at the place of its first occurrence). Non-UTF-8 bytes are
    /// replaced with U+FFFD.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (any case), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap_or("")
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, q)| q)
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// State shared by the handler and the handle.
pub(crate) struct Shared {
    api_key: String,
    chunk_delay: Duration,
    response_delay: Duration,
    log_requests: bool,
    force_status: Mutex<Option<u16>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// What was sent back for each request, same index as `requests`.
    responses: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn new(config: MockConfig) -> Arc<Shared> {
        Arc::new(Shared {
            api_key: config.api_key,
            chunk_delay: config.chunk_delay,
            response_delay: config.response_delay,
            log_requests: config.log_requests,
            force_status: Mutex::new(config.force_status),
            requests: Mutex::new(Vec::new()),
            responses: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panicking test thread must not make every later call panic too.
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn responses(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.responses.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn force_status(&self) -> Option<u16> {
        *self.force_status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running mock provider. Dropping it stops the server.
pub struct MockProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    /// Set when the server runs on its own runtime thread ([`MockProvider::start_blocking`]).
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockProvider {
    /// Binds `config.listen` and serves on the current tokio runtime. Dropping the
    /// handle stops accepting and closes idle connections; responses in flight finish.
    pub async fn start(config: MockConfig) -> io::Result<MockProvider> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(config);
        let app = handler::router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockProvider {
            addr,
            shared,
            shutdown: Some(tx),
            thread: None,
        })
    }

    /// Binds `config.listen` (synchronously, so a bind error is returned here) and
    /// serves on a runtime of its own, on a thread of its own: for plain `#[test]`s.
    /// Dropping the handle stops the server and cuts every open connection.
    pub fn start_blocking(config: MockConfig) -> io::Result<MockProvider> {
        let std_listener = std::net::TcpListener::bind(config.listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Shared::new(config);
        let app = handler::router(shared.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("llmgate-mock-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            eprintln!("llmgate-mock: cannot serve on {addr}: {e}");
                            return;
                        }
                    };
                    let server = std::future::IntoFuture::into_future(axum::serve(listener, app));
                    tokio::select! {
                        _ = server => {}
                        _ = rx => {}
                    }
                });
                // Dropping the runtime here drops every connection task.
                drop(runtime);
            })?;
        Ok(MockProvider {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The key it accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Everything received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// The response body bytes sent for each request, in the order of
    /// [`MockProvider::requests`] (a stream as far as it has been sent).
    pub fn responses(&self) -> Vec<Vec<u8>> {
        self.shared.responses().clone()
    }

    /// Forget the requests (and responses) so far.
    pub fn clear_requests(&self) {
        let mut requests = self.shared.requests();
        requests.clear();
        self.shared.responses().clear();
    }

    /// Change [`MockConfig::force_status`] on the fly (`None`: answer normally again).
    pub fn set_force_status(&self, status: Option<u16>) {
        *self
            .shared
            .force_status
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = status;
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
