//! Routing, checks and answers. One fallback handler does all the routing, so every
//! unknown path or method gets the provider's own 404 rather than axum's.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::Value;

use super::bodies::{self, Headers, JSON, SSE};
use super::openai_apis::{self, Operation};
use super::{anthropic, bedrock, gemini, gzip, Compress, RecordedRequest, Shared};

/// Bodies larger than this are refused (413) rather than buffered.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// The first dated Azure api-version that accepts `stream_options`.
const AZURE_STREAM_OPTIONS_SINCE: &str = "2024-09-01";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let recorded = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.as_ref().map(|b| b.to_vec()).unwrap_or_default(),
    };
    let index = {
        // Both under the requests lock so the indexes stay aligned.
        let mut requests = shared.requests();
        requests.push(recorded);
        shared.responses().push(Vec::new());
        requests.len() - 1
    };

    if !shared.response_delay.is_zero() {
        tokio::time::sleep(shared.response_delay).await;
    }

    let response = match body {
        Ok(body) => route(
            &shared,
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        ),
        Err(_) => reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            bodies::azure_headers(JSON, None),
            bodies::azure_error("413", "The request body is too large or could not be read."),
        ),
    };
    if shared.log_requests {
        // Method, path and status only: never header values, never the query
        // (some providers take keys in it).
        println!(
            "llmgate-mock: {} {} -> {}",
            parts.method,
            parts.uri.path(),
            response.status().as_u16()
        );
    }
    let gzip = match shared.compress {
        Compress::WhenAccepted => gzip::accepted(&parts.headers),
        Compress::Always => true,
    };
    let response = record_response_body(shared, index, response).await;
    if gzip {
        gzip::compress(response)
    } else {
        response
    }
}

/// Records what is sent in `responses[index]`. A stream is teed chunk by chunk
/// so it is still sent as it is produced; any other body is already in memory
/// and keeps its exact `content-length`.
async fn record_response_body(shared: Arc<Shared>, index: usize, response: Response) -> Response {
    use futures_util::StreamExt as _;
    let (parts, body) = response.into_parts();
    let is_stream = parts.headers.get("content-type").is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"text/event-stream") || v.starts_with(b"application/vnd.amazon.eventstream")
    });
    if !is_stream {
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        if let Some(recorded) = shared.responses().get_mut(index) {
            recorded.extend_from_slice(&bytes);
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    let stream = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            if let Some(recorded) = shared.responses().get_mut(index) {
                recorded.extend_from_slice(bytes);
            }
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Which provider a path belongs to.
#[derive(Clone, Copy)]
enum Api<'a> {
    AzureClassic { deployment: &'a str },
    AzureV1,
    OpenAi,
}

impl Api<'_> {
    fn is_azure(&self) -> bool {
        !matches!(self, Api::OpenAi)
    }
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if path == anthropic::PATH || path == anthropic::COUNT_TOKENS_PATH {
        let count_tokens = path == anthropic::COUNT_TOKENS_PATH;
        return anthropic::handle(shared, count_tokens, method, headers, body);
    }
    if let Some(call) = gemini::parse_path(path) {
        return gemini::handle(shared, method, call, query, headers, body);
    }
    if bedrock::is_bedrock_path(path) {
        let path_and_query = match query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let received = bedrock::Received {
            method,
            path_and_query: &path_and_query,
            headers,
            body,
        };
        return bedrock::handle(shared, bedrock::parse_path(path), &received);
    }
    let Some((api, operation)) = parse_openai_path(path) else {
        return not_found();
    };
    if method.as_str() != operation.method() {
        return not_found();
    }

    // The api-version: required and dated on the classic API; absent or `preview`
    // on v1. Azure answers an unknown version with 400 "API version not supported".
    let api_version = query_param(query, "api-version");
    match (&api, api_version) {
        (Api::AzureClassic { .. }, None) => return not_found(),
        (Api::AzureClassic { .. }, Some(v)) if !is_dated_azure_version(v) => {
            return version_not_supported()
        }
        (Api::AzureV1, Some(v)) if v != "preview" && v != "latest" => {
            return version_not_supported()
        }
        _ => {}
    }

    // Auth.
    match api {
        Api::OpenAi => {
            let authorization = single_header(headers, "authorization");
            let key = authorization.and_then(|v| strip_bearer(v));
            if authorization.is_none() {
                return openai_reply(
                    StatusCode::UNAUTHORIZED,
                    bodies::openai_error(
                        bodies::OPENAI_NO_KEY,
                        "invalid_request_error",
                        None,
                        None,
                    ),
                );
            }
            if key != Some(shared.api_key.as_str()) {
                return openai_reply(
                    StatusCode::UNAUTHORIZED,
                    bodies::openai_error(
                        bodies::OPENAI_WRONG_KEY,
                        "invalid_request_error",
                        None,
                        Some("invalid_api_key"),
                    ),
                );
            }
        }
        Api::AzureClassic { .. } | Api::AzureV1 => {
            let by_api_key = single_header(headers, "api-key") == Some(shared.api_key.as_str());
            let by_bearer = single_header(headers, "authorization").and_then(strip_bearer)
                == Some(shared.api_key.as_str());
            if !(by_api_key || by_bearer) {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    bodies::azure_headers(JSON, None),
                    bodies::azure_error("401", bodies::AZURE_ACCESS_DENIED),
                );
            }
        }
    }

    // Failure injection.
    if let Some(status) = shared.force_status() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = bodies::forced_error(api.is_azure(), status.as_u16(), api_version);
        let mut headers = if api.is_azure() {
            bodies::azure_headers(JSON, None)
        } else {
            bodies::openai_headers(JSON)
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            headers.push(("retry-after", "1".into()));
            headers.push(("retry-after-ms", "1000".into()));
        }
        return reply(status, headers, body);
    }

    let json = || {
        serde_json::from_slice::<Value>(body).map_err(|_| {
            bodies::openai_error(bodies::OPENAI_BAD_JSON, "invalid_request_error", None, None)
        })
    };
    match operation {
        Operation::Chat => chat(shared, api, api_version, body),
        Operation::Models => success(api, None, JSON, openai_apis::model_list()),
        Operation::Moderations => match json().and_then(|json| openai_apis::moderation(&json)) {
            Ok(answer) => success(api, None, JSON, answer),
            Err(error) => model_error(api, StatusCode::BAD_REQUEST, error),
        },
        Operation::Embeddings => match json().and_then(|json| {
            let model = json.get("model").and_then(Value::as_str).map(str::to_owned);
            Ok((model, openai_apis::embeddings(&json)?))
        }) {
            Ok((model, answer)) => success(api, model.as_deref(), JSON, answer),
            Err(error) => model_error(api, StatusCode::BAD_REQUEST, error),
        },
        Operation::Responses => match json().and_then(|json| openai_apis::parse_responses(&json)) {
            Ok(request) if request.stream => {
                let headers = if api.is_azure() {
                    bodies::azure_headers(SSE, None)
                } else {
                    bodies::openai_headers(SSE)
                };
                stream_reply(
                    headers,
                    openai_apis::response_stream(&request.model),
                    shared.chunk_delay,
                )
            }
            Ok(request) => success(
                api,
                Some(&request.model),
                JSON,
                openai_apis::response(&request.model),
            ),
            Err(error) => model_error(api, StatusCode::BAD_REQUEST, error),
        },
    }
}

/// The path's API and operation: OpenAI's `/v1/<op>` (and `/chat/completions`,
/// as DeepSeek-style servers serve it), Azure's v1 `/openai/v1/<op>`, and a
/// classic deployment's chat completions and embeddings.
fn parse_openai_path(path: &str) -> Option<(Api<'_>, Operation)> {
    if path == "/chat/completions" {
        return Some((Api::OpenAi, Operation::Chat));
    }
    if let Some(suffix) = path.strip_prefix("/v1/") {
        return Some((Api::OpenAi, Operation::from_suffix(suffix)?));
    }
    if let Some(suffix) = path.strip_prefix("/openai/v1/") {
        return Some((Api::AzureV1, Operation::from_suffix(suffix)?));
    }
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, suffix) = rest.split_once('/')?;
    let operation = Operation::from_suffix(suffix)
        .filter(|op| matches!(op, Operation::Chat | Operation::Embeddings))?;
    (!deployment.is_empty()).then_some((Api::AzureClassic { deployment }, operation))
}

fn deployment_header(api: Api<'_>, model: Option<&str>) -> Option<String> {
    match api {
        Api::AzureClassic { deployment } => Some(deployment.to_owned()),
        Api::AzureV1 => model.map(str::to_owned),
        Api::OpenAi => None,
    }
}

/// An error about the request's content, in the API's headers.
fn model_error(api: Api<'_>, status: StatusCode, body: String) -> Response {
    if api.is_azure() {
        let mut headers = bodies::azure_headers(JSON, deployment_header(api, None).as_deref());
        bodies::azure_model_headers(&mut headers);
        reply(status, headers, body)
    } else {
        openai_reply(status, body)
    }
}

/// A 200 with the API's headers.
fn success(api: Api<'_>, model: Option<&str>, content_type: &str, body: String) -> Response {
    if api.is_azure() {
        let mut headers =
            bodies::azure_headers(content_type, deployment_header(api, model).as_deref());
        bodies::azure_model_headers(&mut headers);
        reply(StatusCode::OK, headers, body)
    } else {
        reply(StatusCode::OK, bodies::openai_headers(content_type), body)
    }
}

/// Chat completions: checks, then the answer (a tool call when the request
/// offers tools, JSON or SSE).
fn chat(shared: &Shared, api: Api<'_>, api_version: Option<&str>, body: &[u8]) -> Response {
    let model_error = |status, body| model_error(api, status, body);
    let deployment_header = |model| deployment_header(api, model);
    // The body.
    let chat = match parse_chat(body) {
        Ok(chat) => chat,
        Err(body) => return model_error(StatusCode::BAD_REQUEST, body),
    };
    match api {
        Api::OpenAi if chat.model.is_empty() => {
            return model_error(
                StatusCode::BAD_REQUEST,
                bodies::openai_error(
                    "you must provide a model parameter",
                    "invalid_request_error",
                    None,
                    None,
                ),
            );
        }
        Api::AzureV1 if chat.model.is_empty() => {
            let message = "No model specified in request. Please provide a model name in the request body or as a \
                           x-ms-model-mesh-model-name header.";
            return model_error(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": {"code": "no_model_name", "message": message, "details": message}})
                    .to_string(),
            );
        }
        _ => {}
    }
    if let Some(err) = check_messages(&chat.json) {
        return model_error(StatusCode::BAD_REQUEST, err);
    }
    if chat.has_stream_options {
        let too_old = matches!(api, Api::AzureClassic { .. })
            && api_version.is_some_and(|v| {
                v.get(..10)
                    .is_some_and(|date| date < AZURE_STREAM_OPTIONS_SINCE)
            });
        if too_old {
            return model_error(
                StatusCode::BAD_REQUEST,
                bodies::openai_error(
                    "Unknown parameter: 'stream_options'.",
                    "invalid_request_error",
                    Some("stream_options"),
                    Some("unknown_parameter"),
                ),
            );
        }
        if !chat.stream {
            return model_error(
                StatusCode::BAD_REQUEST,
                bodies::openai_error(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    "invalid_request_error",
                    Some("stream_options"),
                    None,
                ),
            );
        }
    }

    // Success.
    let model = (!chat.model.is_empty()).then_some(chat.model.as_str());
    let tool_call = openai_apis::tool_call(&chat.json).filter(|_| !chat.stream);
    let (headers, events) = if api.is_azure() {
        let content_type = if chat.stream { SSE } else { JSON };
        let mut headers = bodies::azure_headers(content_type, deployment_header(model).as_deref());
        bodies::azure_model_headers(&mut headers);
        if !chat.stream {
            let mut body = bodies::azure_completion();
            if let Some(call) = tool_call {
                body = openai_apis::with_tool_call(&body, call);
            }
            return reply(StatusCode::OK, headers, body);
        }
        (headers, bodies::azure_stream(chat.include_usage))
    } else {
        if !chat.stream {
            let mut body = bodies::openai_completion(&chat.model, &shared.answer);
            if let Some(call) = tool_call {
                body = openai_apis::with_tool_call(&body, call);
            }
            return openai_reply(StatusCode::OK, body);
        }
        (
            bodies::openai_headers(SSE),
            bodies::openai_stream(&chat.model, chat.include_usage, &shared.answer),
        )
    };
    stream_reply(headers, events, shared.chunk_delay)
}

/// What the checks need from a chat request body.
struct Chat {
    json: Value,
    /// `""` when absent or not a string.
    model: String,
    stream: bool,
    has_stream_options: bool,
    include_usage: bool,
}

fn parse_chat(body: &[u8]) -> Result<Chat, String> {
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        bodies::openai_error(bodies::OPENAI_BAD_JSON, "invalid_request_error", None, None)
    })?;
    if !json.is_object() {
        return Err(bodies::openai_error(
            "Invalid type for request body: expected an object.",
            "invalid_request_error",
            None,
            Some("invalid_type"),
        ));
    }
    let model = json
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let stream = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let stream_options = json.get("stream_options").filter(|v| !v.is_null());
    let include_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Chat {
        has_stream_options: stream_options.is_some(),
        json,
        model,
        stream,
        include_usage,
    })
}

fn check_messages(json: &Value) -> Option<String> {
    let error = |message: &str, code: &str| {
        Some(bodies::openai_error(
            message,
            "invalid_request_error",
            Some("messages"),
            Some(code),
        ))
    };
    match json.get("messages") {
        None | Some(Value::Null) => error("Missing required parameter: 'messages'.", "missing_required_parameter"),
        Some(Value::Array(messages)) if messages.is_empty() => error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "empty_array",
        ),
        Some(Value::Array(_)) => None,
        Some(other) => error(
            &format!("Invalid type for 'messages': expected an array of objects, but got {} instead.", kind(other)),
            "invalid_type",
        ),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD-preview`.
fn is_dated_azure_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    let b = date.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The raw value of the first `name=` in the query.
pub(super) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// The header's value when it is present exactly once (a repeated header is, by
/// HTTP's rules, one comma-joined value, which never matches a key).
pub(super) fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some("");
    }
    first.to_str().ok()
}

pub(super) fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        bodies::azure_headers(JSON, None),
        bodies::resource_not_found(),
    )
}

fn version_not_supported() -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        bodies::azure_headers(JSON, None),
        bodies::azure_error("BadRequest", "API version not supported"),
    )
}

fn openai_reply(status: StatusCode, body: String) -> Response {
    reply(status, bodies::openai_headers(JSON), body)
}

pub(super) fn reply(status: StatusCode, headers: Headers, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            map.append(name, value);
        }
    }
    response
}

/// SSE (or event-stream frames), one event per body frame, with `delay` between frames: the client sees the
/// first event long before the last one is written.
pub(super) fn stream_reply<E>(headers: Headers, events: Vec<E>, delay: Duration) -> Response
where
    E: Into<Bytes> + Send + 'static,
{
    let stream = futures_util::stream::unfold(
        (events.into_iter(), true),
        move |(mut events, first)| async move {
            let event = events.next()?;
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<Bytes, Infallible>(event.into()), (events, false)))
        },
    );
    let mut response = reply(StatusCode::OK, headers, Body::from_stream(stream));
    response.headers_mut().insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-cache"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_versions() {
        assert!(is_dated_azure_version("2024-02-15-preview"));
        assert!(is_dated_azure_version("2024-10-21"));
        assert!(!is_dated_azure_version("2024-10-2"));
        assert!(!is_dated_azure_version("v1"));
        assert!(!is_dated_azure_version("preview"));
        assert!(!is_dated_azure_version("2024-10-21-beta"));
        assert!(!is_dated_azure_version(""));
    }

    #[test]
    fn query_params() {
        assert_eq!(
            query_param(Some("a=1&api-version=2024-10-21"), "api-version"),
            Some("2024-10-21")
        );
        assert_eq!(query_param(Some("api-version"), "api-version"), Some(""));
        assert_eq!(query_param(Some("x-api-version=1"), "api-version"), None);
        assert_eq!(query_param(None, "api-version"), None);
    }

    #[test]
    fn bearer() {
        assert_eq!(strip_bearer("Bearer k"), Some("k"));
        assert_eq!(strip_bearer("bearer k"), Some("k"));
        assert_eq!(strip_bearer("Basic k"), None);
        assert_eq!(strip_bearer("k"), None);
    }
}
