//! A mock LLM provider that answers like Azure OpenAI, OpenAI, Anthropic, Gemini,
//! Vertex AI and Amazon Bedrock do.
//!
//! Routes (an unknown path is a 404 in the shape of the provider it looks like;
//! anything else is Azure's `{"error":{"code":"404","message":"Resource not found"}}`):
//!
//! | route | auth | notes |
//! |---|---|---|
//! | `POST /openai/deployments/{deployment}/chat/completions?api-version=YYYY-MM-DD[-preview]` | `api-key: <key>` or `Authorization: Bearer <key>` | Azure classic |
//! | `POST /openai/v1/chat/completions[?api-version=preview]` | same | Azure v1; body `model` required |
//! | `POST /v1/chat/completions`, `POST /chat/completions` | `Authorization: Bearer <key>` | OpenAI (and DeepSeek-style compatible servers); body `model` required and echoed; offered function `tools` are answered with a call of the first (JSON answers) |
//! | `POST /v1/embeddings`, `POST /v1/responses`, `GET /v1/models` | same | OpenAI; embeddings as floats or `encoding_format: base64`; Responses JSON or SSE (`response.completed` with usage); the list is [`OPENAI_MODELS`] |
//! | `POST /openai/deployments/{deployment}/embeddings?api-version=…`, `/openai/v1/{embeddings,responses,models}` | as Azure above | Azure, same bodies as OpenAI's |
//! | `POST /v1/messages`, `/v1/messages/count_tokens` | `x-api-key: <key>` + `anthropic-version` | Anthropic; body `model`, `messages`, `max_tokens` (not for a count) required, `model` echoed; wrong key 401 `authentication_error` |
//! | `POST /{v1…}/models/{model}:generateContent`, `:streamGenerateContent[?alt=sse]`, `:countTokens` | `x-goog-api-key: <key>` or `?key=` | Gemini; unknown top-level body fields (e.g. `stream`) are 400 `INVALID_ARGUMENT`; wrong key 400 `API_KEY_INVALID` |
//! | `POST /{v1…}/projects/{p}/locations/{l}/publishers/google/models/{model}:…` | `Authorization: Bearer <key>` | Vertex AI; same bodies as Gemini; wrong token 401 `UNAUTHENTICATED` |
//! | `POST /model/{url-encoded model id}/converse`, `/converse-stream` | `Authorization: Bearer <key>` or SigV4 | Bedrock; the SigV4 signature is recomputed over what arrived (403 `InvalidSignatureException` on mismatch); unknown body fields are 400 `ValidationException` |
//!
//! Azure: a missing `api-version` on the classic path is a 404 (as above); one that is
//! not `YYYY-MM-DD[-preview]` (or, on v1, anything but `preview`/`latest`) is a 400
//! `{"error":{"code":"BadRequest","message":"API version not supported"}}`, which is
//! what Azure answers today. `stream_options` with a classic version dated before
//! 2024-09-01 is a 400 `unknown_parameter`, like the real service.
//!
//! Every answer carries the same usage, in each provider's fields: input 28, output
//! 19, total 47 ([`PROMPT_TOKENS`], [`COMPLETION_TOKENS`], [`TOTAL_TOKENS`]; Anthropic's
//! cache counts are 0; embeddings and token counts: input 28 only). Streams are sent event by event with
//! [`MockConfig::chunk_delay`] between them:
//!
//! | provider | streams when | framing | usage |
//! |---|---|---|---|
//! | OpenAI, Azure | body `"stream": true` | SSE `\n\n`, `data: [DONE]` | a last chunk, only with `stream_options.include_usage` |
//! | Anthropic | body `"stream": true` | SSE `event:`/`data:`, `\n\n`: `message_start`, `content_block_start`, `ping`, `content_block_delta`…, `content_block_stop`, `message_delta`, `message_stop` | input and cache in `message_start`, cumulative output in `message_delta` |
//! | Gemini, Vertex | `:streamGenerateContent?alt=sse` (without `alt=sse`: one JSON array) | SSE `data:`, `\r\n\r\n` | `usageMetadata` on every chunk, totals on the last |
//! | Bedrock | `/converse-stream` | AWS event-stream binary frames ([`eventstream`]): `messageStart`, `contentBlockDelta`…, `contentBlockStop`, `messageStop`, `metadata` | the `metadata` event |
//!
//! Failure injection ([`MockConfig::force_status`]): after the auth check, every
//! request gets that status in the provider's error shape (Anthropic 429
//! `rate_limit_error`, 529 `overloaded_error`; Google `RESOURCE_EXHAUSTED`,
//! `UNAVAILABLE`; Bedrock `ThrottlingException`, …); a 429 carries `retry-after: 1`.
//!
//! HTTPS ([`MockConfig::tls_dns_name`]): a CA is generated at start and issues the
//! mock's certificate; [`MockProvider::ca_pem`] is what a client must trust.
//!
//! Compression ([`MockConfig::compress`]): gzip when `accept-encoding` allows it,
//! streams flushed event by event (or always, like an upstream that ignores it).
//!
//! Every request is recorded (before any check) and can be read back with
//! [`MockProvider::requests`], and what was sent back with [`MockProvider::responses`].
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

mod anthropic;
// Answering with an early `Err(Response)` is how the handlers stop at the
// first failed check; the size of axum's Response does not matter in a mock.
#[allow(clippy::result_large_err)]
mod bedrock;
mod bodies;
pub mod eventstream;
#[allow(clippy::result_large_err)]
mod gemini;
mod gzip;
mod handler;
mod openai_apis;
pub use openai_apis::FLAGGED_WORD;
pub use openai_apis::MODELS as OPENAI_MODELS;
mod sigv4_header;
mod tls;

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
/// The access key id the Bedrock routes accept for SigV4 by default.
pub const DEFAULT_AWS_ACCESS_KEY_ID: &str = "AKIAMOCKLLMGATE00001";
/// The matching secret (a mock's, not a real one).
pub const DEFAULT_AWS_SECRET_ACCESS_KEY: &str = "mockSecretKeyForLlmgateTests0000000000000";
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
    /// The AWS credentials Bedrock's SigV4 requests must be signed with (a Bearer
    /// `api_key` works too). Default: [`DEFAULT_AWS_ACCESS_KEY_ID`] and its secret,
    /// no session token.
    pub aws_credentials: AwsCredentials,
    /// Serve HTTPS with a certificate for this DNS name, issued by a CA generated
    /// at start ([`MockProvider::ca_pem`]). Default `None`: plain HTTP.
    pub tls_dns_name: Option<String>,
    /// When to gzip responses. Default [`Compress::WhenAccepted`], as real
    /// providers do.
    pub compress: Compress,
    /// The assistant's answer in OpenAI chat completions (JSON and, cut
    /// into deltas, SSE). Default [`ASSISTANT_TEXT`].
    pub answer: String,
}

/// When the mock gzips its responses (streams flushed event by event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compress {
    /// When the request's `accept-encoding` allows gzip.
    #[default]
    WhenAccepted,
    /// Whatever the request says: an upstream that ignores `accept-encoding`.
    Always,
}

/// AWS credentials. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, requests must carry it as `x-amz-security-token`; when not, they must not.
    pub session_token: Option<String>,
}

impl Default for AwsCredentials {
    fn default() -> Self {
        AwsCredentials {
            access_key_id: DEFAULT_AWS_ACCESS_KEY_ID.to_owned(),
            secret_access_key: DEFAULT_AWS_SECRET_ACCESS_KEY.to_owned(),
            session_token: None,
        }
    }
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
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
            aws_credentials: AwsCredentials::default(),
            tls_dns_name: None,
            compress: Compress::default(),
            answer: ASSISTANT_TEXT.to_owned(),
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
    aws_credentials: AwsCredentials,
    chunk_delay: Duration,
    response_delay: Duration,
    answer: String,
    log_requests: bool,
    compress: Compress,
    force_status: Mutex<Option<u16>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// What was sent back for each request, same index as `requests`.
    responses: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn new(config: MockConfig) -> Arc<Shared> {
        Arc::new(Shared {
            api_key: config.api_key,
            aws_credentials: config.aws_credentials,
            chunk_delay: config.chunk_delay,
            response_delay: config.response_delay,
            answer: config.answer,
            log_requests: config.log_requests,
            compress: config.compress,
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
    tls: Option<tls::MockTls>,
    shutdown: Option<oneshot::Sender<()>>,
    /// Set when the server runs on its own runtime thread ([`MockProvider::start_blocking`]).
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockProvider {
    /// Binds `config.listen` and serves on the current tokio runtime. Dropping the
    /// handle stops accepting and closes idle connections; responses in flight finish.
    pub async fn start(config: MockConfig) -> io::Result<MockProvider> {
        let tls = make_tls(&config)?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(config);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, tls.clone(), shared.clone(), async move {
            let _ = rx.await;
        }));
        Ok(MockProvider {
            addr,
            shared,
            tls,
            shutdown: Some(tx),
            thread: None,
        })
    }

    /// Binds `config.listen` (synchronously, so a bind error is returned here) and
    /// serves on a runtime of its own, on a thread of its own: for plain `#[test]`s.
    /// Dropping the handle stops the server and cuts every open connection.
    pub fn start_blocking(config: MockConfig) -> io::Result<MockProvider> {
        let tls = make_tls(&config)?;
        let std_listener = std::net::TcpListener::bind(config.listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Shared::new(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel::<()>();
        let (thread_tls, thread_shared) = (tls.clone(), shared.clone());
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
                    let stop = async move {
                        let _ = rx.await;
                    };
                    // Not graceful: the runtime is dropped right after, and with it
                    // every connection task.
                    tokio::select! {
                        _ = serve(listener, thread_tls, thread_shared, std::future::pending()) => {}
                        _ = stop => {}
                    }
                });
                drop(runtime);
            })?;
        Ok(MockProvider {
            addr,
            shared,
            tls,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (`https://<dns name>:<port>` when serving TLS), without a
    /// trailing slash.
    pub fn base_url(&self) -> String {
        match &self.tls {
            Some(tls) => format!("https://{}:{}", tls.dns_name(), self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// The PEM certificate of the CA that issued the mock's certificate, when it
    /// serves TLS: what a client (or a ConfigMap's `ca.crt`) must trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem())
    }

    /// How many TLS handshakes failed (a client that rejected the certificate,
    /// or spoke plaintext to the HTTPS port). Always 0 without TLS.
    pub fn failed_handshakes(&self) -> usize {
        self.tls.as_ref().map_or(0, |tls| tls.failed_handshakes())
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

fn make_tls(config: &MockConfig) -> io::Result<Option<tls::MockTls>> {
    config
        .tls_dns_name
        .as_deref()
        .map(tls::MockTls::generate)
        .transpose()
}

/// Serves the router on `listener`, through TLS when `tls` is set, until `stop`.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tls::MockTls>,
    shared: Arc<Shared>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = handler::router(shared);
    let _ = match tls {
        Some(tls) => {
            axum::serve(tls.listener(listener), app)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    };
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
