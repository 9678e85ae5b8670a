//! Google's `generateContent` / `streamGenerateContent`, as the Gemini API
//! (`/<v>/models/<model>:<method>`, `x-goog-api-key` or `?key=`) and Vertex AI
//! (`/<v>/projects/<p>/locations/<l>/publishers/google/models/<model>:<method>`,
//! `Authorization: Bearer`) serve them. Same bodies on both.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};

use super::bodies::{self, Headers, JSON};
use super::handler::{query_param, reply, single_header, stream_reply, strip_bearer};
use super::{Shared, ASSISTANT_TEXT, COMPLETION_TOKENS, PROMPT_TOKENS, TOTAL_TOKENS};

/// Top-level fields of a `GenerateContentRequest`, in JSON (lowerCamel) and proto
/// (snake_case) spelling, which Google's JSON parser both accepts. Anything else
/// (an OpenAI-style `stream`, say) is rejected like the real API does.
const KNOWN_FIELDS: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "tool_config",
    "safetySettings",
    "safety_settings",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "cached_content",
    "labels",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Api {
    Gemini,
    Vertex,
}

/// A recognised path: which API, the model and the method after the `:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Call<'a> {
    pub api: Api,
    pub model: &'a str,
    pub method: &'a str,
}

/// `Some` for a path of either API (whatever the method), `None` otherwise.
pub(super) fn parse_path(path: &str) -> Option<Call<'_>> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !version.starts_with("v1") {
        return None;
    }
    let (api, rest) = match rest.strip_prefix("models/") {
        Some(rest) => (Api::Gemini, rest),
        None => {
            let rest = rest.strip_prefix("projects/")?;
            let (project, rest) = rest.split_once('/')?;
            let rest = rest.strip_prefix("locations/")?;
            let (location, rest) = rest.split_once('/')?;
            let rest = rest.strip_prefix("publishers/google/models/")?;
            if project.is_empty() || location.is_empty() {
                return None;
            }
            (Api::Vertex, rest)
        }
    };
    let (model, method) = rest.split_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    Some(Call { api, model, method })
}

pub(super) fn handle(
    shared: &Shared,
    method: &Method,
    call: Call<'_>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let (stream, count_tokens) = match call.method {
        "generateContent" => (false, false),
        "streamGenerateContent" => (true, false),
        "countTokens" => (false, true),
        _ => return not_found(call),
    };
    if method != Method::POST {
        return not_found(call);
    }
    if let Err(response) = check_auth(shared, call.api, query, headers) {
        return response;
    }
    if let Some(status) = shared.force_status() {
        return forced(status);
    }
    let json: Value = match serde_json::from_slice(body) {
        Ok(json @ Value::Object(_)) => json,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid JSON payload received. Expected an object.",
                vec![],
            )
        }
    };
    if count_tokens {
        return count(&json);
    }
    if let Some(unknown) = json
        .as_object()
        .and_then(|o| o.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())))
    {
        let message = format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        );
        let details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"description": message}]
        })];
        return error(StatusCode::BAD_REQUEST, &message, details);
    }
    if json
        .get("contents")
        .is_none_or(|c| c.as_array().is_none_or(|a| a.is_empty()))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified\n",
            vec![],
        );
    }

    let response_id = bodies::random_alnum(22);
    if !stream {
        let mut answer = whole_answer(call.model, &response_id);
        if let Some(call) = function_call(&json) {
            answer["candidates"][0]["content"]["parts"] = json!([{"functionCall": call}]);
        }
        return reply(StatusCode::OK, response_headers(JSON), pretty(&answer));
    }
    let chunks = stream_chunks(call.model, &response_id);
    if query_param(query, "alt") == Some("sse") {
        // Google ends SSE events with CRLF pairs.
        let events: Vec<String> = chunks
            .iter()
            .map(|c| format!("data: {c}\r\n\r\n"))
            .collect();
        return stream_reply(
            response_headers("text/event-stream"),
            events,
            shared.chunk_delay,
        );
    }
    // Without `alt=sse` the stream is one pretty JSON array of the same chunks.
    let array = Value::Array(chunks);
    reply(StatusCode::OK, response_headers(JSON), pretty(&array))
}

/// A call of the first function declared, unless the conversation already
/// ends with a function's response or calling is `NONE` (non-streamed
/// answers).
fn function_call(request: &Value) -> Option<Value> {
    let mode = request.pointer("/toolConfig/functionCallingConfig/mode");
    if mode.and_then(Value::as_str) == Some("NONE") {
        return None;
    }
    let last = request.get("contents")?.as_array()?.last()?;
    let answers_a_call = last
        .get("parts")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()));
    if answers_a_call {
        return None;
    }
    let declaration = request
        .get("tools")?
        .as_array()?
        .iter()
        .find_map(|t| t.get("functionDeclarations")?.as_array()?.first())?;
    let schema = declaration
        .get("parametersJsonSchema")
        .or_else(|| declaration.get("parameters"));
    let args = super::openai_apis::placeholder_arguments(schema);
    Some(json!({"name": declaration.get("name")?.as_str()?, "args": args}))
}

/// `:countTokens`: `contents` or a whole `generateContentRequest` (not
/// both), answered with `totalTokens` [`PROMPT_TOKENS`].
fn count(json: &Value) -> Response {
    const FIELDS: &[&str] = &[
        "contents",
        "generateContentRequest",
        "generate_content_request",
    ];
    let object = json.as_object();
    if let Some(unknown) = object.and_then(|o| o.keys().find(|k| !FIELDS.contains(&k.as_str()))) {
        let message = format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        );
        return error(StatusCode::BAD_REQUEST, &message, vec![]);
    }
    let present = |name: &str| object.is_some_and(|o| o.get(name).is_some_and(|v| !v.is_null()));
    let request = present("generateContentRequest") || present("generate_content_request");
    if present("contents") == request {
        return error(
            StatusCode::BAD_REQUEST,
            "contents and generate_content_request cannot both be set or both be empty.",
            vec![],
        );
    }
    let body = json!({"totalTokens": PROMPT_TOKENS, "promptTokensDetails": prompt_details()});
    reply(StatusCode::OK, response_headers(JSON), pretty(&body))
}

fn check_auth(
    shared: &Shared,
    api: Api,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Response> {
    match api {
        Api::Gemini => {
            let key = single_header(headers, "x-goog-api-key").or(query_param(query, "key"));
            match key {
                None => Err(error(
                    StatusCode::FORBIDDEN,
                    "Method doesn't allow unregistered callers (callers without established identity). Please use \
                     API Key or other form of API consumer identity to call this API.",
                    vec![],
                )),
                Some(key) if key != shared.api_key => Err(error(
                    StatusCode::BAD_REQUEST,
                    "API key not valid. Please pass a valid API key.",
                    vec![json!({
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}
                    })],
                )),
                Some(_) => Ok(()),
            }
        }
        Api::Vertex => {
            let token = single_header(headers, "authorization").and_then(strip_bearer);
            if token == Some(shared.api_key.as_str()) {
                return Ok(());
            }
            Err(error(
                StatusCode::UNAUTHORIZED,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or \
                 other valid authentication credential. See \
                 https://developers.google.com/identity/sign-in/web/devconsole-project.",
                vec![json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                    "metadata": {"service": "aiplatform.googleapis.com"}
                })],
            ))
        }
    }
}

fn response_headers(content_type: &str) -> Headers {
    vec![
        ("content-type", format!("{content_type}; charset=UTF-8")),
        ("vary", "Origin, X-Origin, Referer".into()),
        ("server", "scaffolding on HTTPServer2".into()),
        ("x-content-type-options", "nosniff".into()),
    ]
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn prompt_details() -> Value {
    json!([{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}])
}

fn full_usage() -> Value {
    json!({
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": COMPLETION_TOKENS,
        "totalTokenCount": TOTAL_TOKENS,
        "promptTokensDetails": prompt_details()
    })
}

fn whole_answer(model: &str, response_id: &str) -> Value {
    json!({
        "candidates": [{
            "content": {"parts": [{"text": ASSISTANT_TEXT}], "role": "model"},
            "finishReason": "STOP",
            "avgLogprobs": -0.0921
        }],
        "usageMetadata": full_usage(),
        "modelVersion": model,
        "responseId": response_id
    })
}

/// One chunk per text piece. Every chunk carries `usageMetadata`; only the last
/// (with `finishReason`) has the candidates count and the final total.
pub(super) fn stream_chunks(model: &str, response_id: &str) -> Vec<Value> {
    let pieces = bodies::text_pieces();
    let last = pieces.len().saturating_sub(1);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut candidate = json!({"content": {"parts": [{"text": piece}], "role": "model"}});
            let usage = if i == last {
                candidate["finishReason"] = json!("STOP");
                full_usage()
            } else {
                json!({
                    "promptTokenCount": PROMPT_TOKENS,
                    "totalTokenCount": PROMPT_TOKENS,
                    "promptTokensDetails": prompt_details()
                })
            };
            json!({
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id
            })
        })
        .collect()
}

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// `{"error": {"code", "message", "status", "details"?}}`, pretty, in Google's order.
pub(super) fn error_body(code: u16, message: &str, details: Vec<Value>) -> String {
    #[derive(Serialize)]
    struct Inner<'a> {
        code: u16,
        message: &'a str,
        status: &'static str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        details: Vec<Value>,
    }
    #[derive(Serialize)]
    struct Outer<'a> {
        error: Inner<'a>,
    }
    serde_json::to_string_pretty(&Outer {
        error: Inner {
            code,
            message,
            status: status_name(code),
            details,
        },
    })
    .unwrap_or_default()
}

fn error(status: StatusCode, message: &str, details: Vec<Value>) -> Response {
    reply(
        status,
        response_headers(JSON),
        error_body(status.as_u16(), message, details),
    )
}

fn not_found(call: Call<'_>) -> Response {
    let message = match call.api {
        Api::Gemini => format!(
            "models/{} is not found for API version v1beta, or is not supported for {}.",
            call.model, call.method
        ),
        Api::Vertex => format!(
            "Publisher Model `{}` was not found or your project does not have access to it.",
            call.model
        ),
    };
    error(StatusCode::NOT_FOUND, &message, vec![])
}

fn forced(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (message, details) = match status.as_u16() {
        429 => (
            "You exceeded your current quota, please check your plan and billing details."
                .to_owned(),
            vec![json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"})],
        ),
        500 => (
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting"
                .to_owned(),
            vec![],
        ),
        503 => (
            "The model is overloaded. Please try again later.".to_owned(),
            vec![],
        ),
        other => (
            format!("The mock provider was told to answer {other}."),
            vec![],
        ),
    };
    let mut response = error(status, &message, details);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // tables of cases
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let cases: Vec<(&str, Option<(Api, &str, &str)>)> = vec![
            ("/v1beta/models/gemini-2.0-flash:generateContent", Some((Api::Gemini, "gemini-2.0-flash", "generateContent"))),
            ("/v1/models/gemini-pro:streamGenerateContent", Some((Api::Gemini, "gemini-pro", "streamGenerateContent"))),
            ("/v1/models/gemini-pro:countTokens", Some((Api::Gemini, "gemini-pro", "countTokens"))),
            (
                "/v1/projects/p-1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent",
                Some((Api::Vertex, "gemini-2.5-pro", "generateContent")),
            ),
            ("/v1/projects//locations/l/publishers/google/models/m:generateContent", None),
            ("/v1/projects/p/locations/l/publishers/anthropic/models/m:rawPredict", None),
            ("/v1/models/gemini-pro", None),
            ("/v1/models/:generateContent", None),
            ("/v2/models/m:generateContent", None),
            ("/v1/chat/completions", None),
            ("/models/m:generateContent", None),
        ];
        for (path, want) in cases {
            let got = parse_path(path).map(|c| (c.api, c.model, c.method));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn only_the_last_chunk_has_the_totals() {
        let chunks = stream_chunks("gemini-x", "rid");
        let (last, rest) = chunks.split_last().unwrap();
        assert_eq!(last["usageMetadata"]["totalTokenCount"], TOTAL_TOKENS);
        assert_eq!(
            last["usageMetadata"]["candidatesTokenCount"],
            COMPLETION_TOKENS
        );
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert!(!rest.is_empty());
        for chunk in rest {
            assert_eq!(chunk["usageMetadata"]["promptTokenCount"], PROMPT_TOKENS);
            assert!(chunk["usageMetadata"].get("candidatesTokenCount").is_none());
            assert!(chunk["candidates"][0].get("finishReason").is_none());
        }
        let text: String = chunks
            .iter()
            .map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(text, ASSISTANT_TEXT);
    }

    #[test]
    fn error_shape_keeps_googles_field_order() {
        let body = error_body(429, "m", vec![]);
        let compact: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(compact["error"]["status"], "RESOURCE_EXHAUSTED");
        let order: Vec<usize> = ["\"code\"", "\"message\"", "\"status\""]
            .iter()
            .map(|k| body.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{body}");
    }
}
