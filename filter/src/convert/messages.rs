//! Anthropic Messages (`POST /v1/messages`) clients — Claude Code, the
//! Anthropic SDKs — in front of providers speaking OpenAI chat completions
//! (OpenAI, Azure OpenAI, OpenAI-compatible servers). The reverse of
//! `convert::anthropic`; Gemini and Bedrock are reached by composing this
//! with their conversions (Messages → OpenAI chat → provider).
//!
//! [`FromMessages`] mirrors [`super::ChatConversion`] in this direction:
//! `request` turns the client's Messages body into an OpenAI chat body
//! ([`NativeRequest::body`]; `stream`/`model` as for the other conversions,
//! `include_usage` is set for a stream because the converted request always
//! asks for the usage chunk), `response` a `chat.completion` into a
//! `message`, `error` an OpenAI error body into Anthropic's error shape, and
//! `stream` gives a [`StreamConversion`] whose output is Anthropic's event
//! stream (`event: <type>\ndata: <json>\n\n`). A [`ConvertError`] is answered
//! 400 with [`FromMessages::refusal`] (`invalid_request_error`).
//!
//! ## Request
//!
//! | Anthropic | OpenAI chat |
//! |---|---|
//! | `model` | `model`; the route's model wins when it has one; none at all → 400 |
//! | `system` (string, or text blocks) | a leading `system` message, its text blocks joined by a blank line into one string (`cache_control` dropped) |
//! | `messages` `user` / `assistant`, string content | the same message, string content |
//! | `text` block | a `text` part; a message of one text part gets a plain string `content` (what every compatible server reads), otherwise an array of parts; empty text dropped |
//! | `image`, `base64` source | `image_url` part with a `data:<media_type>;base64,<data>` URL |
//! | `image`, `url` source | `image_url` part with that URL; `file` (Files API) sources → 400 |
//! | `document`, `base64` source (PDF) | `file` part, `{"filename": title or "document.pdf", "file_data": "data:application/pdf;base64,…"}` |
//! | `document`, `text` source | a `text` part with the document's text; `url` / `content` / `file` sources → 400 |
//! | assistant `tool_use` blocks | `tool_calls` (`id`, `type: function`, `function.name`, `function.arguments` = `input` as a JSON string); `content` null when there is no text |
//! | user `tool_result` blocks | one `tool` message each (`tool_call_id`, `content` = the result's text, text blocks joined by a newline), in order, before the user message with the rest of the blocks; `is_error: true` → the text prefixed `Error: ` (OpenAI has no error flag); images in a result → image parts at the start of that following user message (tool messages hold only text) |
//! | `thinking`, `redacted_thinking` blocks in history | dropped: OpenAI-format models take no reasoning back, and the signature is Anthropic's |
//! | other blocks (`search_result`, server tool blocks, `container_upload`, …), a `tool_use` in a user message, other roles | 400 |
//! | `tools` (no `type`, or `custom`) | `{type: function, function: {name, description, parameters = input_schema, strict when true}}` (`cache_control` dropped) |
//! | server tools (`web_search_20250305`, `bash_…`, `text_editor_…`, `computer_…`, `code_execution_…`, any other `type`), `mcp_servers` | 400: the model behind the gateway has no such tool, and the gateway does not run them |
//! | `tool_choice` `auto` / `any` / `tool` + `name` / `none` | `auto` / `required` / `{type: function, function: {name}}` / `none`; only with tools (OpenAI refuses a `tool_choice` without them) |
//! | `tool_choice.disable_parallel_tool_use: true` | `parallel_tool_calls: false`, likewise only with tools |
//! | `max_tokens` | `max_tokens` (known to every OpenAI-compatible server); `max_completion_tokens` for OpenAI's reasoning models, which refuse `max_tokens` (`o1`/`o3`/`o4…`/`gpt-5…` by name, [`model_family`]) |
//! | `temperature`, `top_p` | same names, values as sent; dropped for OpenAI's reasoning models, which refuse any but the default |
//! | `stop_sequences` | `stop` |
//! | `stream` | `stream`, with `stream_options: {include_usage: true}` (`message_delta` carries the usage) |
//! | `metadata.user_id` | `user` |
//! | `thinking: {type: enabled, budget_tokens}` | `reasoning_effort`: `low` ≤ 2048 < `medium` ≤ 8192 < `high` ([`reasoning_effort`]); `disabled` / `adaptive` → none; dropped for OpenAI's chat models (`gpt-4o`, `gpt-4.1`, … by name), which refuse it — Claude Code turns thinking on by itself |
//! | `output_config.format` (or the older `output_format`) `{type: json_schema, schema}` | `response_format: {type: json_schema, json_schema: {name: "output", schema}}` |
//! | `top_k`, `service_tier`, `container`, `context_management`, `metadata` other than `user_id`, `cache_control` anywhere, `citations`, anything else | dropped (OpenAI has no equivalent; none changes what a correct answer is) |
//!
//! ## Reply
//!
//! | OpenAI `chat.completion` | Anthropic `message` |
//! |---|---|
//! | `id` | `id`, unchanged (the provider's id, so it can be found in the provider's logs) |
//! | `model` | `model` (the request's model when the reply has none) |
//! | — | `type: message`, `role: assistant`, `stop_sequence: null` (OpenAI does not say which stop sequence matched) |
//! | `message.reasoning_content` (DeepSeek, vLLM) or `message.reasoning` | a `thinking` block first, `signature: ""` (there is none; clients send it back, and this conversion drops thinking from history) |
//! | `message.content` (string, or text parts) and `message.refusal` | a `text` block each, when not empty |
//! | `message.tool_calls` | `tool_use` blocks: `id` (made up as `call_<reply id>_<n>` when missing), `name`, `input` = the parsed `arguments`; empty arguments, or arguments that are not a JSON object, → `{}` (the tool then reports its missing input to the model) |
//! | `finish_reason` `stop` / `length` / `tool_calls`, `function_call` / `content_filter`; other or none | `stop_reason` `end_turn` / `max_tokens` / `tool_use` / `refusal`; `end_turn` |
//! | `usage` | `input_tokens` = `prompt_tokens` − `prompt_tokens_details.cached_tokens`, `cache_read_input_tokens` = cached, `cache_creation_input_tokens: 0`, `output_tokens` = `completion_tokens` (zeros when absent) |
//! | `choices` other than the first | dropped (the request never asks for more) |
//!
//! ## Errors
//!
//! An OpenAI / Azure error `{"error": {"message", "type", "code"}}` (or
//! `{"error": "text"}`, or `{"message": …}`) becomes `{"type": "error",
//! "error": {"type", "message"}}`, `type` from the HTTP status as Anthropic
//! answers it ([`error_type`]). A body without a message keeps its text when
//! short, else says the status.
//!
//! The stream is converted in `stream.rs` (its table is there), the request
//! in `request.rs`; the tests (`tests.rs`) run the golden files of
//! `tests/fixtures/conversion/messages/`.

use super::{fallback_error_message, ConvertError, NativeRequest, StreamConversion, Target};
use serde_json::{json, Value};

mod request;
mod stream;
#[cfg(test)]
mod tests;

pub use request::{model_family, reasoning_effort, ModelFamily};
pub use stream::{sse_event, MessagesStream};

/// Anthropic Messages clients in front of OpenAI chat completions.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromMessages;

impl FromMessages {
    /// An Anthropic Messages request → an OpenAI chat completions body.
    pub fn request(
        &self,
        anthropic: &[u8],
        target: Target<'_>,
    ) -> Result<NativeRequest, ConvertError> {
        request::request(anthropic, target)
    }

    /// A `chat.completion` body → an Anthropic `message` body. `model` is
    /// [`NativeRequest::model`]. `Err` when the reply is not a chat
    /// completion.
    pub fn response(&self, openai: &[u8], model: &str) -> Result<Vec<u8>, ConvertError> {
        response(openai, model)
    }

    /// An OpenAI error body (any status) → Anthropic's error body; the
    /// status is kept by the caller.
    pub fn error(&self, status: u16, openai: &[u8]) -> Vec<u8> {
        error(status, openai)
    }

    /// The 400 body for a request that cannot be converted.
    pub fn refusal(&self, error: &ConvertError) -> Vec<u8> {
        anthropic_error("invalid_request_error", &error.message)
    }

    /// OpenAI `chat.completion.chunk` SSE → Anthropic's event stream.
    pub fn stream(&self, request: &NativeRequest) -> Box<dyn StreamConversion> {
        Box::new(MessagesStream::new(request))
    }
}

/// Anthropic's error body, `{"type": "error", "error": {"type", "message"}}`.
pub fn anthropic_error(kind: &str, message: &str) -> Vec<u8> {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Anthropic's error `type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Anthropic's error type for an error inside an OpenAI stream (no status):
/// its `type` when Anthropic has the same one, rate limits by `type` or
/// `code`, anything else `api_error`.
fn stream_error_type(error: &Value) -> &'static str {
    let field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or("");
    const SAME: [&str; 6] = [
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "rate_limit_error",
        "overloaded_error",
    ];
    if let Some(same) = SAME.iter().find(|&&t| t == field("type")) {
        return same;
    }
    if [field("type"), field("code")]
        .iter()
        .any(|t| t.starts_with("rate_limit") || *t == "tokens" || *t == "requests")
    {
        return "rate_limit_error";
    }
    "api_error"
}

/// `stop_reason` for an OpenAI `finish_reason`.
fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's `usage` for an OpenAI `usage` (zeros when absent).
fn openai_usage(usage: Option<&Value>) -> Value {
    let count = |pointer: &str| {
        usage
            .and_then(|u| u.pointer(pointer))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = count("/prompt_tokens_details/cached_tokens");
    json!({
        "input_tokens": count("/prompt_tokens").saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": count("/completion_tokens"),
    })
}

/// The text of an OpenAI message's `content`: a string, or the `text` of its
/// parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn response(openai: &[u8], model: &str) -> Result<Vec<u8>, ConvertError> {
    let reply: Value = serde_json::from_slice(openai)
        .map_err(|e| ConvertError::new(format!("the OpenAI reply is not valid JSON: {e}"), None))?;
    let choice = reply
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .filter(|c| c.is_object())
        .ok_or_else(|| {
            ConvertError::new(
                "the OpenAI reply is not a chat completion (it has no `choices`)",
                None,
            )
        })?;
    let str_of =
        |value: &Value, name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    let id = str_of(&reply, "id").unwrap_or_default();
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    let reasoning = str_of(message, "reasoning_content")
        .filter(|r| !r.is_empty())
        .or_else(|| str_of(message, "reasoning"))
        .filter(|r| !r.is_empty());
    if let Some(thinking) = reasoning {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": ""}));
    }
    for text in [
        content_text(message.get("content")),
        str_of(message, "refusal").unwrap_or_default(),
    ] {
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for (n, call) in calls.into_iter().flatten().enumerate() {
        let function = call.get("function").unwrap_or(&Value::Null);
        let call_id = str_of(call, "id")
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| format!("call_{id}_{n}"));
        let input = match function.get("arguments").and_then(Value::as_str) {
            Some(arguments) => match serde_json::from_str::<Value>(arguments) {
                Ok(object @ Value::Object(_)) => object,
                _ => json!({}),
            },
            None => match function.get("arguments") {
                Some(object @ Value::Object(_)) => object.clone(),
                _ => json!({}),
            },
        };
        content.push(json!({
            "type": "tool_use",
            "id": call_id,
            "name": str_of(function, "name").unwrap_or_default(),
            "input": input,
        }));
    }
    let message = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": str_of(&reply, "model").filter(|m| !m.is_empty()).unwrap_or_else(|| model.to_owned()),
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason").and_then(Value::as_str).unwrap_or("")),
        "stop_sequence": null,
        "usage": openai_usage(reply.get("usage")),
    });
    Ok(serde_json::to_vec(&message).unwrap_or_default())
}

fn error(status: u16, openai: &[u8]) -> Vec<u8> {
    let body = serde_json::from_slice::<Value>(openai).ok();
    let message = body.as_ref().and_then(|b| {
        let error = b.get("error");
        error
            .and_then(|e| e.get("message"))
            .or(error)
            .or_else(|| b.get("message"))
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
    });
    let message = message.unwrap_or_else(|| fallback_error_message(status, openai));
    anthropic_error(error_type(status), &message)
}
