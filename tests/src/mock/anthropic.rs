//! Anthropic's Messages API: `POST /v1/messages`, and its token count
//! `POST /v1/messages/count_tokens` (`{"input_tokens": 28}`).

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::bodies::{self, Headers, JSON, SSE};
use super::handler::{reply, single_header, stream_reply};
use super::{Shared, ASSISTANT_TEXT, COMPLETION_TOKENS, PROMPT_TOKENS};

pub(super) const PATH: &str = "/v1/messages";
pub(super) const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

/// `count_tokens`: the request is to [`COUNT_TOKENS_PATH`].
pub(super) fn handle(
    shared: &Shared,
    count_tokens: bool,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if method != Method::POST {
        return error(StatusCode::NOT_FOUND, "not_found_error", "Not Found");
    }
    match single_header(headers, "x-api-key") {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "x-api-key header is required",
            )
        }
        Some(key) if key != shared.api_key => {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key",
            )
        }
        Some(_) => {}
    }
    if single_header(headers, "anthropic-version").is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    if let Some(status) = shared.force_status() {
        return forced(status);
    }
    let json: Value = match serde_json::from_slice(body) {
        Ok(json @ Value::Object(_)) => json,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "The request body is not valid JSON.",
            )
        }
    };
    if let Some(message) = missing_field(&json, count_tokens) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", message);
    }
    if count_tokens {
        let body = json!({"input_tokens": PROMPT_TOKENS}).to_string();
        return reply(StatusCode::OK, response_headers(JSON), body);
    }
    let model = json.get("model").and_then(Value::as_str).unwrap_or("");
    if json.get("stream").and_then(Value::as_bool) == Some(true) {
        return stream_reply(
            response_headers(SSE),
            stream_events(model),
            shared.chunk_delay,
        );
    }
    if let Some(tool_use) = tool_use(&json) {
        return reply(
            StatusCode::OK,
            response_headers(JSON),
            tool_message(model, tool_use),
        );
    }
    reply(StatusCode::OK, response_headers(JSON), message(model))
}

/// A call of the first tool offered, unless the conversation already ends
/// with a tool's result or `tool_choice` is `none` (non-streamed answers).
fn tool_use(request: &Value) -> Option<Value> {
    if request.pointer("/tool_choice/type").and_then(Value::as_str) == Some("none") {
        return None;
    }
    let last = request.get("messages")?.as_array()?.last()?;
    let answers_a_tool = last
        .get("content")
        .and_then(Value::as_array)
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"));
    if answers_a_tool {
        return None;
    }
    let tool = request.get("tools")?.as_array()?.first()?;
    let input = super::openai_apis::placeholder_arguments(tool.get("input_schema"));
    Some(json!({
        "type": "tool_use",
        "id": format!("toolu_01{}", bodies::random_alnum(22)),
        "name": tool.get("name")?.as_str()?,
        "input": input,
    }))
}

fn tool_message(model: &str, tool_use: Value) -> String {
    json!({
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [tool_use],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": usage(COMPLETION_TOKENS)
    })
    .to_string()
}

/// The first required field that is missing, as Anthropic words it (a token
/// count needs no `max_tokens`).
fn missing_field(json: &Value, count_tokens: bool) -> Option<&'static str> {
    let present = |name: &str| json.get(name).is_some_and(|v| !v.is_null());
    if !json.get("model").is_some_and(Value::is_string) {
        return Some("model: Field required");
    }
    if !present("messages") {
        return Some("messages: Field required");
    }
    if !count_tokens && !present("max_tokens") {
        return Some("max_tokens: Field required");
    }
    None
}

fn response_headers(content_type: &str) -> Headers {
    vec![
        ("content-type", content_type.to_owned()),
        ("request-id", format!("req_{}", bodies::random_alnum(24))),
        ("anthropic-organization-id", bodies::uuid()),
        ("anthropic-ratelimit-requests-limit", "50".into()),
        ("anthropic-ratelimit-requests-remaining", "49".into()),
        ("anthropic-ratelimit-tokens-limit", "40000".into()),
        ("anthropic-ratelimit-tokens-remaining", "39953".into()),
    ]
}

fn message_id() -> String {
    format!("msg_01{}", bodies::random_alnum(22))
}

/// `input_tokens` is [`PROMPT_TOKENS`]; with no cache in play the cache counts are 0,
/// so a gateway's total input (the sum of the three) is still 28.
fn usage(output_tokens: u64) -> Value {
    json!({
        "input_tokens": PROMPT_TOKENS,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard"
    })
}

fn message(model: &str) -> String {
    json!({
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": ASSISTANT_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": usage(COMPLETION_TOKENS)
    })
    .to_string()
}

fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// `message_start` (input and cache counts, output 1), a text block with a `ping`
/// after its start, `message_delta` with the cumulative output count, `message_stop`.
pub(super) fn stream_events(model: &str) -> Vec<String> {
    let mut events = vec![
        sse(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": message_id(), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1)
            }}),
        ),
        sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        sse("ping", &json!({"type": "ping"})),
    ];
    for piece in bodies::text_pieces() {
        events.push(sse(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(sse(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(sse(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": COMPLETION_TOKENS}}),
    ));
    events.push(sse("message_stop", &json!({"type": "message_stop"})));
    events
}

pub(super) fn error_body(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    reply(status, response_headers(JSON), error_body(kind, message))
}

fn forced(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, message) = match status.as_u16() {
        429 => (
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute.",
        ),
        529 => ("overloaded_error", "Overloaded"),
        400 => ("invalid_request_error", "The mock provider was told to answer 400."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "Your API key does not have permission to use the specified resource."),
        404 => ("not_found_error", "Not Found"),
        _ => ("api_error", "Internal server error"),
    };
    let mut headers = response_headers(JSON);
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.push(("retry-after", "1".into()));
    }
    reply(status, headers, error_body(kind, message))
}
