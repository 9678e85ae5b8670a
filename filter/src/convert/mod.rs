//! Format conversion: a client speaking OpenAI chat completions in front of a
//! provider with another API (Anthropic Messages, Gemini / Vertex AI
//! `generateContent`, Bedrock Converse), and the reply converted back.
//!
//! Each provider's conversion is one type in its own file implementing
//! [`ChatConversion`]; the provider module hands it out
//! (`providers::Provider::chat_conversion`). Usage is *not* read here: the
//! filter's response reader still reads the provider's own bytes (one parser
//! per format, in `usage/`), so a conversion only changes what the client
//! sees. Conversions are serde_json `Value` work: requests and non-streamed
//! replies are small next to a provider's latency, and a stream is converted
//! one event at a time without holding the stream.

pub mod anthropic;

/// A request the gateway cannot convert: answered 400 in OpenAI's error
/// shape, never forwarded unconverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    pub message: String,
    /// The request field at fault, OpenAI's `param`.
    pub param: Option<String>,
}

impl ConvertError {
    pub fn new(message: impl Into<String>, param: Option<&str>) -> Self {
        ConvertError {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }
}

/// An OpenAI chat request in the provider's own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeRequest {
    pub body: Vec<u8>,
    /// The client asked for a stream (`"stream": true`).
    pub stream: bool,
    /// The client asked for a final usage chunk
    /// (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The model the reply is reported under (`model` of every chunk).
    pub model: String,
}

/// What a conversion is told about the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The model the gateway sends (the Backend's, or for providers that name
    /// it in the body and have none configured, the client's).
    pub model: Option<&'a str>,
}

/// OpenAI chat completions ⇄ one provider's API.
pub trait ChatConversion {
    /// The client's `/chat/completions` body → the provider's request body.
    fn request(&self, openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError>;
    /// A successful non-streamed provider reply → a `chat.completion` body.
    /// `model` is [`NativeRequest::model`]. `Err` when the reply is not of
    /// the provider's shape (the client then gets a 502 in OpenAI's shape).
    fn response(&self, native: &[u8], model: &str) -> Result<Vec<u8>, ConvertError>;
    /// A provider error reply (any non-2xx status, or an error event) → the
    /// body of an OpenAI error (`{"error": {"message", "type", "param",
    /// "code"}}`); the status is kept by the caller.
    fn error(&self, status: u16, native: &[u8]) -> Vec<u8>;
    /// A converter for one streamed reply.
    fn stream(&self, request: &NativeRequest) -> Box<dyn StreamConversion>;
}

/// One streamed reply, fed the provider's bytes as Envoy hands them over
/// (events split anywhere) and returning `chat.completion.chunk` SSE bytes
/// (`data: {...}\n\n`) for whatever complete events arrived.
pub trait StreamConversion {
    fn feed(&mut self, native: &[u8]) -> Vec<u8>;
    /// The stream ended: the rest, the usage chunk if asked for, and
    /// `data: [DONE]\n\n`.
    fn end(&mut self) -> Vec<u8>;
}

/// `data: <json>\n\n`, one SSE event of an OpenAI stream.
pub fn sse_data(json: &serde_json::Value) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    // Serialising a `Value` cannot fail.
    out.extend(serde_json::to_vec(json).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    out
}

/// The stream's last event.
pub const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

/// OpenAI's error body.
pub fn openai_error(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Vec<u8> {
    let error = serde_json::json!({
        "error": {"message": message, "type": kind, "param": param, "code": code}
    });
    serde_json::to_vec(&error).unwrap_or_default()
}

/// OpenAI's `type` for an HTTP status, as OpenAI itself answers.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 404 | 409 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "api_error",
    }
}
