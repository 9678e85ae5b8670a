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
//!
//! `messages` is the reverse direction: a client speaking Anthropic Messages
//! in front of an OpenAI-format provider (`messages::FromMessages`, same
//! shape as [`ChatConversion`] with the roles swapped).

pub mod anthropic;
pub mod bedrock;
pub mod gemini;
pub mod messages;
#[cfg(test)]
mod test_support;

use serde_json::{json, Map, Value};

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
    let error = json!({
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

// ---- Shared by the conversions: reading the OpenAI request, writing chunks.

/// The client's chat request: a JSON object with a `messages` array.
pub fn chat_request(openai: &[u8]) -> Result<Map<String, Value>, ConvertError> {
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(openai) else {
        return Err(ConvertError::new(
            "the request body must be a JSON object",
            None,
        ));
    };
    if !matches!(request.get("messages"), Some(Value::Array(_))) {
        return Err(ConvertError::new(
            "`messages` must be an array",
            Some("messages"),
        ));
    }
    Ok(request)
}

/// The model the reply is reported under: the route's, else the client's.
pub fn reply_model(request: &Map<String, Value>, target: Target<'_>) -> String {
    target
        .model
        .or_else(|| request.get("model").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// `stream` and `stream_options.include_usage`.
pub fn stream_flags(request: &Map<String, Value>) -> (bool, bool) {
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = stream
        && request
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);
    (stream, include_usage)
}

/// A numeric field, `None` when absent or null; any other type is refused.
pub fn number(request: &Map<String, Value>, field: &str) -> Result<Option<Value>, ConvertError> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(n @ Value::Number(_)) => Ok(Some(n.clone())),
        Some(_) => Err(ConvertError::new(
            format!("`{field}` must be a number"),
            Some(field),
        )),
    }
}

/// `max_completion_tokens`, else the older `max_tokens`.
pub fn max_tokens(request: &Map<String, Value>) -> Result<Option<Value>, ConvertError> {
    match number(request, "max_completion_tokens")? {
        Some(n) => Ok(Some(n)),
        None => number(request, "max_tokens"),
    }
}

/// `stop`: one string or an array of strings.
pub fn stop_sequences(request: &Map<String, Value>) -> Result<Option<Vec<Value>>, ConvertError> {
    let refuse = || {
        ConvertError::new(
            "`stop` must be a string or an array of strings",
            Some("stop"),
        )
    };
    match request.get("stop") {
        None | Some(Value::Null) => Ok(None),
        Some(s @ Value::String(_)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(Some(items.clone())),
        Some(_) => Err(refuse()),
    }
}

/// One part of an OpenAI message's `content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentPart<'a> {
    Text(&'a str),
    /// `image_url.url`: a `data:` URL or an http(s) address.
    Image(&'a str),
}

/// A message's `content`: a string, null, or an array of `text` and
/// `image_url` parts. Other part types (audio, files) are refused rather than
/// silently dropped.
pub fn content_parts(content: Option<&Value>) -> Result<Vec<ContentPart<'_>>, ConvertError> {
    let bad = |what: &str| ConvertError::new(what.to_owned(), Some("messages"));
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![ContentPart::Text(text)]),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => part
                    .get("text")
                    .and_then(Value::as_str)
                    .map(ContentPart::Text)
                    .ok_or_else(|| bad("a `text` content part needs a string `text`")),
                Some("image_url") => {
                    let url = part.get("image_url");
                    url.and_then(|u| u.get("url"))
                        .or(url)
                        .and_then(Value::as_str)
                        .map(ContentPart::Image)
                        .ok_or_else(|| bad("an `image_url` content part needs `image_url.url`"))
                }
                Some(other) => Err(bad(&format!(
                    "content parts of type `{other}` are not supported for this provider"
                ))),
                None => Err(bad("a content part needs a `type`")),
            })
            .collect(),
        Some(_) => Err(bad("`content` must be a string, an array of parts or null")),
    }
}

/// The text of a `content` that may hold only text (system, tool messages).
pub fn content_text(content: Option<&Value>, role: &str) -> Result<String, ConvertError> {
    let mut text = String::new();
    for part in content_parts(content)? {
        match part {
            ContentPart::Text(t) => text.push_str(t),
            ContentPart::Image(_) => {
                return Err(ConvertError::new(
                    format!("`{role}` messages may hold only text"),
                    Some("messages"),
                ))
            }
        }
    }
    Ok(text)
}

/// Appends `items` under `key` to the last turn when it has the same role
/// (Gemini and Bedrock want alternating roles); a turn without items is
/// dropped.
pub fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut() {
        if last.get("role").and_then(Value::as_str) == Some(role) {
            if let Some(Value::Array(existing)) = last.get_mut(key) {
                existing.extend(items);
                return;
            }
        }
    }
    turns.push(json!({"role": role, key: items}));
}

/// `data:<mime>;base64,<data>` → (mime, base64 data).
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime, data))
}

/// A tool message's text as a JSON object when it is one.
pub fn json_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// What every chunk of one converted stream shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkWriter {
    pub id: String,
    pub model: String,
    pub include_usage: bool,
}

impl ChunkWriter {
    /// One `chat.completion.chunk` with these `choices`.
    pub fn chunk(&self, choices: Value) -> Vec<u8> {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": choices,
        });
        if self.include_usage {
            if let Some(object) = chunk.as_object_mut() {
                object.insert("usage".into(), Value::Null);
            }
        }
        sse_data(&chunk)
    }

    /// A chunk of one choice with this `delta` and finish reason.
    pub fn delta(&self, index: u64, delta: Value, finish_reason: Option<&str>) -> Vec<u8> {
        self.chunk(json!([{
            "index": index,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]))
    }

    /// The final usage chunk: no choices.
    pub fn usage(&self, usage: Value) -> Vec<u8> {
        sse_data(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }))
    }
}

/// OpenAI's `usage` object.
pub fn usage(prompt: u64, completion: u64, total: u64, cached: u64, reasoning: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    })
}

/// An error event inside an OpenAI stream, `data: {"error": {...}}`.
pub fn stream_error(message: &str, kind: &str, code: Option<&str>) -> Vec<u8> {
    sse_data(&json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

/// A provider error body that is not of its documented shape: its text when
/// short and readable, else the status.
pub fn fallback_error_message(status: u16, native: &[u8]) -> String {
    const MAX: usize = 1024;
    match std::str::from_utf8(native) {
        Ok(text) if !text.trim().is_empty() && text.len() <= MAX => text.trim().to_owned(),
        _ => format!("the provider answered HTTP {status}"),
    }
}
