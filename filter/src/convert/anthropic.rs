//! OpenAI chat completions ⇄ Anthropic Messages (`POST /v1/messages`).
//!
//! Like every conversion (see `convert`), this is serde_json `Value` work:
//! the OpenAI request is an open set of fields of which most are copied or
//! renamed one by one, and unknown ones must be recognised to be dropped —
//! typed structs would need a field (and a test) for each, with no gain on
//! bodies that are small next to a provider's latency. Replies are read the
//! same way, a stream one event at a time (`stream.rs`).
//!
//! ## Request
//!
//! | OpenAI | Anthropic |
//! |---|---|
//! | `model` | `model`; the route's model wins when it has one; none at all → 400 |
//! | `messages`, role `system` / `developer` | top-level `system`: one string, or text blocks when there are several (hoisted from wherever they are in the conversation) |
//! | role `user` / `assistant` | `messages`, consecutive messages of one role merged (Anthropic requires alternation); empty text dropped |
//! | content string / `text` part | `text` block |
//! | `image_url` part, `data:<mime>;base64,<data>` | `image` block, `{"type":"base64","media_type","data"}` source (`detail` dropped) |
//! | `image_url` part, `http(s)://` | `image` block, `{"type":"url","url"}` source |
//! | `file` part with `file_data` (a base64 data URL) | `document` block, base64 source; `file_id` → 400 |
//! | assistant `tool_calls` | `tool_use` blocks (`id`, `name`, `input` = the parsed `arguments`; `""` is `{}`; not a JSON object → 400) |
//! | role `tool` (`tool_call_id`, `content`) | a `user` message of `tool_result` blocks (consecutive tool messages share one) |
//! | `tools` (type `function`) | `tools`: `name`, `description`, `input_schema` = `parameters` (absent → an empty object schema), `strict` when true |
//! | `tool_choice` `auto` / `required` / `none` / `{function: {name}}` | `{type: auto}` / `{type: any}` / `{type: none}` / `{type: tool, name}` |
//! | `parallel_tool_calls: false` | `tool_choice.disable_parallel_tool_use: true` (with `auto` when no choice was given; not with `none`) |
//! | `max_completion_tokens`, else `max_tokens` | `max_tokens`; required by Anthropic, so [`DEFAULT_MAX_TOKENS`] when absent |
//! | `reasoning_effort` `minimal`, `low` / `medium` / `high` | `thinking: {type: enabled, budget_tokens}` of 1024 / 4096 / 16384 ([`thinking_budget`]); `none` → no thinking |
//! | (with thinking) | no client limit: `max_tokens` = budget + [`DEFAULT_MAX_TOKENS`]; a limit at or below the budget lowers the budget to limit − 1; below Anthropic's minimum budget (1024) → 400. Anthropic itself refuses thinking with `temperature`, a forced tool (`required`, a named tool), and a tool-use turn sent back without its thinking block — which OpenAI clients never keep, so thinking suits single turns and tool loops do not |
//! | `temperature`, `top_p` | same names, values as sent (Anthropic refuses `temperature` above 1, and sampling settings together with thinking, itself) |
//! | `stop` (string or array) | `stop_sequences` |
//! | `stream` | `stream` |
//! | `stream_options.include_usage` | not sent; the converted stream ends with a usage chunk ([`NativeRequest::include_usage`]) |
//! | `response_format` `json_schema` | `output_config.format: {type: json_schema, schema}` (Anthropic's JSON outputs: the reply is the JSON text) |
//! | `response_format` `json_object` | 400: Anthropic has no schema-less JSON mode; send a `json_schema` |
//! | `response_format` `text` | nothing (the default) |
//! | `user` | `metadata.user_id` |
//! | `n` other than 1, `logprobs: true`, `audio`, `functions` | 400: Anthropic has no equivalent, and silently answering differently would mislead |
//! | `frequency_penalty`, `presence_penalty`, `seed`, `logit_bias`, `top_logprobs`, `store`, `metadata`, `service_tier`, `prediction`, `modalities`, `web_search_options`, `verbosity`, `prompt_cache_key`, `safety_identifier`, `function_call`, message `name`, anything else | dropped |
//!
//! ## Reply
//!
//! | Anthropic | OpenAI `chat.completion` |
//! |---|---|
//! | `id`, `model` | `id`, `model` (the request's model when the reply has none) |
//! | — | `created: 0`: the conversion has no clock, and the provider sends no time |
//! | `text` blocks | `message.content`, concatenated; `null` when there is no text but tool calls |
//! | `tool_use` blocks | `message.tool_calls` (`id`, `type: function`, `function.name`, `function.arguments` = `input` as a JSON string) |
//! | `thinking` blocks | `message.reasoning_content` (the field DeepSeek and vLLM use; OpenAI has none) |
//! | `redacted_thinking`, server tool blocks (`server_tool_use`, `web_search_tool_result`, …) | dropped |
//! | `stop_reason` `end_turn`, `stop_sequence`, `pause_turn` / `max_tokens`, `model_context_window_exceeded` / `tool_use` / `refusal` | `finish_reason` `stop` / `length` / `tool_calls` / `content_filter`; anything else `stop` |
//! | `usage` | `prompt_tokens` = `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens`, `completion_tokens` = `output_tokens`, `total_tokens`, `prompt_tokens_details.cached_tokens` = `cache_read_input_tokens` |
//!
//! Errors: Anthropic's `{"type":"error","error":{"type","message"}}` becomes
//! OpenAI's `{"error":{"message","type","param":null,"code"}}`, `type` from
//! the HTTP status as OpenAI answers it, `code` Anthropic's error type
//! (`overloaded_error`, …).
//!
//! The request is converted in `request.rs`, a stream in `stream.rs`; the
//! tests (`tests.rs`) run the golden files of
//! `tests/fixtures/conversion/anthropic/`.

use super::{
    error_type, openai_error, ChatConversion, ConvertError, NativeRequest, StreamConversion, Target,
};
use crate::usage::anthropic::Parts;
use serde::Deserialize as _;
use serde_json::{json, Map, Value};

mod request;
mod stream;
#[cfg(test)]
mod tests;

pub use request::{thinking_budget, DEFAULT_MAX_TOKENS, MIN_THINKING_BUDGET};
pub use stream::AnthropicStream;

/// OpenAI chat completions to Anthropic Messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToAnthropic;

impl ChatConversion for ToAnthropic {
    fn request(&self, openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
        request::request(openai, target)
    }

    fn response(&self, native: &[u8], model: &str) -> Result<Vec<u8>, ConvertError> {
        response(native, model)
    }

    fn error(&self, status: u16, native: &[u8]) -> Vec<u8> {
        error(status, native)
    }

    fn stream(&self, request: &NativeRequest) -> Box<dyn StreamConversion> {
        Box::new(AnthropicStream::new(request))
    }
}

/// `finish_reason` for an Anthropic `stop_reason`.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's `usage` for Anthropic's counts.
fn openai_usage(parts: &Parts) -> Value {
    let usage = parts.usage();
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input},
    })
}

fn parts(usage: Option<&Value>) -> Parts {
    usage
        .and_then(|u| Parts::deserialize(u).ok())
        .unwrap_or_default()
}

fn response(native: &[u8], model: &str) -> Result<Vec<u8>, ConvertError> {
    let reply: Value = serde_json::from_slice(native).map_err(|e| {
        ConvertError::new(format!("the Anthropic reply is not valid JSON: {e}"), None)
    })?;
    let content = reply
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ConvertError::new(
                "the Anthropic reply is not a message (it has no `content` array)",
                None,
            )
        })?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        let str_of = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or("");
        match str_of("type") {
            "text" => text.push_str(str_of("text")),
            "thinking" => reasoning.push_str(str_of("thinking")),
            "tool_use" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(json!({
                    "id": str_of("id"),
                    "type": "function",
                    "function": {
                        "name": str_of("name"),
                        "arguments": serde_json::to_string(&input).unwrap_or_default(),
                    },
                }));
            }
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !tool_calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    message.insert("content".into(), content);
    message.insert("refusal".into(), Value::Null);
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), Value::String(reasoning));
    }
    let str_of = |name: &str| reply.get(name).and_then(Value::as_str);
    let completion = json!({
        "id": str_of("id").unwrap_or(""),
        "object": "chat.completion",
        "created": 0,
        "model": str_of("model").filter(|m| !m.is_empty()).unwrap_or(model),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(str_of("stop_reason").unwrap_or("")),
        }],
        "usage": openai_usage(&parts(reply.get("usage"))),
    });
    Ok(serde_json::to_vec(&completion).unwrap_or_default())
}

/// The HTTP status Anthropic answers with an error type, for errors that
/// arrive inside a stream (after the 200).
fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// `(message, Anthropic's error type)` of an Anthropic error body.
fn anthropic_error(native: &[u8]) -> Option<(String, Option<String>)> {
    let body: Value = serde_json::from_slice(native).ok()?;
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?.to_owned();
    let kind = error.get("type").and_then(Value::as_str).map(str::to_owned);
    Some((message, kind))
}

fn error(status: u16, native: &[u8]) -> Vec<u8> {
    match anthropic_error(native) {
        Some((message, kind)) => openai_error(&message, error_type(status), None, kind.as_deref()),
        None => openai_error(
            &format!("the provider answered HTTP {status} without an error in Anthropic's format"),
            error_type(status),
            None,
            None,
        ),
    }
}
