//! Amazon Bedrock's Converse API: `POST /model/<url-encoded model id>/converse`
//! (JSON) and `/converse-stream` (AWS event-stream binary framing). Auth is a
//! Bedrock API key (`Authorization: Bearer`) or SigV4, whose signature the mock
//! recomputes with AWS's own signer (`aws-sigv4`, as the AWS SDKs sign) over
//! what actually arrived: so a header, path or body changed after signing, or
//! a gateway signer that signs differently from AWS, shows up as AWS's 403.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::bodies::{self, Headers, JSON};
use super::eventstream;
use super::handler::{reply, single_header, stream_reply, strip_bearer};
use super::sigv4_header::{self, parse_amz_date, parse_authorization};
use super::{
    AwsCredentials, Shared, ASSISTANT_TEXT, COMPLETION_TOKENS, PROMPT_TOKENS, TOTAL_TOKENS,
};

/// The service name SigV4 signs Bedrock requests for.
const SERVICE: &str = "bedrock";
/// How far `x-amz-date` may be from the mock's clock, as AWS allows.
const MAX_SKEW_SECS: u64 = 5 * 60;

/// Top-level members of a Converse request; anything else is a ValidationException.
const KNOWN_FIELDS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
];

pub(super) const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you \
provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// A recognised path's operation (the model id in it is not checked: any is served).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Call {
    pub stream: bool,
}

/// `Some` for `/model/<id>/converse` and `/model/<id>/converse-stream`.
pub(super) fn parse_path(path: &str) -> Option<Call> {
    let rest = path.strip_prefix("/model/")?;
    let (model, operation) = rest.rsplit_once('/')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let stream = match operation {
        "converse" => false,
        "converse-stream" => true,
        _ => return None,
    };
    Some(Call { stream })
}

/// Whether `path` is under Bedrock's `/model/` (so an unknown operation gets
/// Bedrock's error rather than another provider's 404).
pub(super) fn is_bedrock_path(path: &str) -> bool {
    path.starts_with("/model/")
}

pub(super) struct Received<'a> {
    pub method: &'a Method,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

pub(super) fn handle(shared: &Shared, call: Option<Call>, request: &Received<'_>) -> Response {
    let Some(call) = call.filter(|_| request.method == Method::POST) else {
        return error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "The requested operation is not recognized by the service.",
        );
    };
    if let Err(response) = check_auth(shared, request) {
        return response;
    }
    if let Some(status) = shared.force_status() {
        return forced(status);
    }
    let json: Value = match serde_json::from_slice(request.body) {
        Ok(json @ Value::Object(_)) => json,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "Unexpected character while parsing the request body.",
            )
        }
    };
    if let Some(unknown) = json
        .as_object()
        .and_then(|o| o.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &format!(
                "Malformed input request: extraneous key [{unknown}] is not permitted, please reformat your input \
                 and try again."
            ),
        );
    }
    if !json.get("messages").is_some_and(Value::is_array) {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be \
             null",
        );
    }
    if call.stream {
        return stream_reply(
            response_headers("application/vnd.amazon.eventstream"),
            stream_frames(),
            shared.chunk_delay,
        );
    }
    match tool_use(&json) {
        Some(tool_use) => {
            let mut answer: Value = serde_json::from_str(&converse_answer()).unwrap_or_default();
            answer["output"]["message"]["content"] = json!([{"toolUse": tool_use}]);
            answer["stopReason"] = json!("tool_use");
            reply(StatusCode::OK, response_headers(JSON), answer.to_string())
        }
        None => reply(StatusCode::OK, response_headers(JSON), converse_answer()),
    }
}

/// A call of the first tool offered, unless the conversation already ends
/// with a tool's result (non-streamed answers).
fn tool_use(request: &Value) -> Option<Value> {
    let last = request.get("messages")?.as_array()?.last()?;
    let answers_a_tool = last
        .get("content")
        .and_then(Value::as_array)
        .is_some_and(|blocks| blocks.iter().any(|b| b.get("toolResult").is_some()));
    if answers_a_tool {
        return None;
    }
    let spec = request
        .pointer("/toolConfig/tools")?
        .as_array()?
        .first()?
        .get("toolSpec")?;
    let input = super::openai_apis::placeholder_arguments(spec.pointer("/inputSchema/json"));
    Some(json!({
        "toolUseId": format!("tooluse_{}", bodies::random_alnum(22)),
        "name": spec.get("name")?.as_str()?,
        "input": input,
    }))
}

fn check_auth(shared: &Shared, request: &Received<'_>) -> Result<(), Response> {
    let Some(authorization) = single_header(request.headers, "authorization") else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    if let Some(key) = strip_bearer(authorization) {
        if key == shared.api_key {
            return Ok(());
        }
        return Err(error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ));
    }
    check_sigv4(shared, authorization, request)
}

fn check_sigv4(
    shared: &Shared,
    authorization: &str,
    request: &Received<'_>,
) -> Result<(), Response> {
    let mismatch = || {
        error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            SIGNATURE_MISMATCH,
        )
    };
    let Some(parsed) = parse_authorization(authorization) else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "IncompleteSignatureException",
            &format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
                 Authorization={}",
                sigv4_header::ALGORITHM
            ),
        ));
    };
    let creds = &shared.aws_credentials;
    if parsed.access_key_id != creds.access_key_id {
        return Err(error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ));
    }
    if single_header(request.headers, "x-amz-security-token") != creds.session_token.as_deref() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ));
    }
    if parsed.service != SERVICE {
        return Err(error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            &format!("Credential should be scoped to correct service: '{SERVICE}'. "),
        ));
    }
    let amz_date = single_header(request.headers, "x-amz-date").unwrap_or("");
    let Some(signed_at) = parse_amz_date(amz_date) else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    if !amz_date.starts_with(parsed.date) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP",
        ));
    }
    if bodies::now_secs().abs_diff(signed_at) > MAX_SKEW_SECS {
        return Err(error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            &format!(
                "Signature expired: {amz_date} is now earlier or later than the allowed 5 minutes."
            ),
        ));
    }

    // Every header the client says it signed, with the value that arrived. A
    // signed header that did not arrive cannot verify.
    let mut signed: Vec<(&str, String)> = Vec::new();
    for name in &parsed.signed_headers {
        let values: Vec<&str> = request
            .headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(mismatch());
        }
        signed.push((name, values.join(",")));
    }
    let expected = aws_signature(
        request,
        &signed,
        parsed.region,
        creds,
        UNIX_EPOCH + Duration::from_secs(signed_at),
    );
    if expected.as_deref() != Some(parsed.signature) {
        return Err(mismatch());
    }
    Ok(())
}

/// The signature AWS's own signer (the one its SDKs use) computes for what
/// arrived: `headers` are exactly the ones the client listed as signed,
/// `x-amz-date` and `x-amz-security-token` among them. `None` when the
/// signer cannot take the request (a path that is no URI, say): that does
/// not verify either.
fn aws_signature(
    request: &Received<'_>,
    headers: &[(&str, String)],
    region: &str,
    creds: &AwsCredentials,
    signed_at: SystemTime,
) -> Option<String> {
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "llmgate-mock",
    )
    .into();
    let mut settings = SigningSettings::default();
    // AWS checks every header the client signed; the SDK's default leaves
    // out some (user-agent, …) that a client cannot sign.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(signed_at)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let signable = SignableRequest::new(
        request.method.as_str(),
        request.path_and_query,
        headers.iter().map(|(name, value)| (*name, value.as_str())),
        SignableBody::Bytes(request.body),
    )
    .ok()?;
    let output = aws_sigv4::http_request::sign(signable, &params).ok()?;
    Some(output.signature().to_owned())
}

fn response_headers(content_type: &str) -> Headers {
    vec![
        ("content-type", content_type.to_owned()),
        ("x-amzn-requestid", bodies::uuid()),
    ]
}

fn usage() -> Value {
    json!({"inputTokens": PROMPT_TOKENS, "outputTokens": COMPLETION_TOKENS, "totalTokens": TOTAL_TOKENS})
}

fn converse_answer() -> String {
    json!({
        "metrics": {"latencyMs": 412},
        "output": {"message": {"content": [{"text": ASSISTANT_TEXT}], "role": "assistant"}},
        "stopReason": "end_turn",
        "usage": usage()
    })
    .to_string()
}

/// Like AWS, every event carries a `p` field of padding that varies its size.
fn with_padding(mut payload: Value) -> Vec<u8> {
    if let Some(map) = payload.as_object_mut() {
        let len = 1
            + (bodies::random_alnum(1)
                .as_bytes()
                .first()
                .copied()
                .unwrap_or(0)
                % 24) as usize;
        map.insert("p".into(), Value::String(bodies::random_alnum(len)));
    }
    payload.to_string().into_bytes()
}

/// messageStart, a contentBlockDelta per text piece, contentBlockStop,
/// messageStop, metadata (usage and latency).
pub(super) fn stream_frames() -> Vec<Vec<u8>> {
    let mut frames = vec![eventstream::event(
        "messageStart",
        &with_padding(json!({"role": "assistant"})),
    )];
    for piece in bodies::text_pieces() {
        frames.push(eventstream::event(
            "contentBlockDelta",
            &with_padding(json!({"contentBlockIndex": 0, "delta": {"text": piece}})),
        ));
    }
    frames.push(eventstream::event(
        "contentBlockStop",
        &with_padding(json!({"contentBlockIndex": 0})),
    ));
    frames.push(eventstream::event(
        "messageStop",
        &with_padding(json!({"stopReason": "end_turn"})),
    ));
    frames.push(eventstream::event(
        "metadata",
        &with_padding(json!({"metrics": {"latencyMs": 412}, "usage": usage()})),
    ));
    frames
}

/// AWS's JSON error: `{"message": …}` with the type in `x-amzn-errortype`.
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut headers = response_headers(JSON);
    headers.push((
        "x-amzn-errortype",
        format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
    ));
    reply(status, headers, json!({ "message": message }).to_string())
}

fn forced(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, message) = match status.as_u16() {
        429 => (
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        500 => (
            "InternalServerException",
            "The server encountered an error processing your request.",
        ),
        503 => (
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        400 => (
            "ValidationException",
            "The mock provider was told to answer 400.",
        ),
        403 => (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        404 => (
            "ResourceNotFoundException",
            "The provided model identifier is invalid.",
        ),
        424 => ("ModelErrorException", "The model returned an error."),
        _ => (
            "InternalServerException",
            "The mock provider was told to fail.",
        ),
    };
    let mut response = error(status, kind, message);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let cases: Vec<(&str, Option<bool>)> = vec![
            (
                "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                Some(false),
            ),
            ("/model/amazon.nova-lite-v1%3A0/converse-stream", Some(true)),
            (
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse",
                Some(false),
            ),
            ("/model/m/invoke", None),
            ("/model//converse", None),
            ("/model/a/b/converse", None),
            ("/models/m/converse", None),
        ];
        for (path, want) in cases {
            assert_eq!(parse_path(path).map(|c| c.stream), want, "{path}");
        }
    }

    #[test]
    fn stream_frames_decode_to_the_converse_events() {
        let bytes: Vec<u8> = stream_frames().concat();
        let frames = eventstream::decode(&bytes).unwrap();
        let types: Vec<&str> = frames.iter().filter_map(|f| f.event_type()).collect();
        let deltas = bodies::text_pieces().len();
        assert_eq!(types[0], "messageStart");
        assert!(types[1..=deltas].iter().all(|t| *t == "contentBlockDelta"));
        assert_eq!(
            &types[deltas + 1..],
            ["contentBlockStop", "messageStop", "metadata"]
        );
        let text: String = frames[1..=deltas]
            .iter()
            .map(|f| {
                f.json().unwrap()["delta"]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, ASSISTANT_TEXT);
        let metadata = frames.last().unwrap().json().unwrap();
        assert_eq!(metadata["usage"], usage());
    }
}
