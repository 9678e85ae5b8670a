//! The gateway's own answer to a request its policy stops, in the error
//! shape of the API the client speaks, so its SDK raises its usual error
//! with the policy's message.

use serde_json::json;

use super::Format;
use crate::convert;

/// What the client gets instead of the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: Vec<u8>,
}

/// `code` of a prompt a guard rejected.
pub const REJECTED_CODE: &str = "prompt_rejected";
/// `code` when the policy cannot be applied (a guard that does not compile).
pub const UNUSABLE_CODE: &str = "policy_unusable";

/// An error in `format`'s dialect. `code` and `param` go where the dialect
/// has room for them (OpenAI's error object).
pub(super) fn error(
    format: Format,
    status: u16,
    message: &str,
    code: &str,
    param: Option<&str>,
) -> Answer {
    let json_type = ("content-type", "application/json");
    let (headers, body) = match format {
        Format::Chat | Format::Responses | Format::Embeddings => (
            vec![json_type],
            convert::openai_error(message, convert::error_type(status), param, Some(code)),
        ),
        Format::Messages => (
            vec![json_type],
            convert::messages::anthropic_error(convert::messages::error_type(status), message),
        ),
        // Google's `google.rpc.Status` as its JSON APIs answer it.
        Format::Gemini => (
            vec![json_type],
            serde_json::to_vec(&json!({"error": {
                "code": status,
                "message": message,
                "status": google_status(status),
            }}))
            .unwrap_or_default(),
        ),
        // AWS's JSON protocol: the exception's name in `x-amzn-errortype`,
        // the message in the body.
        Format::Converse => (
            vec![json_type, ("x-amzn-errortype", aws_exception(status))],
            serde_json::to_vec(&json!({"message": message})).unwrap_or_default(),
        ),
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn google_status(status: u16) -> &'static str {
    match status {
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
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

fn aws_exception(status: u16) -> &'static str {
    convert::bedrock::status_code(status).unwrap_or(if status < 500 {
        "ValidationException"
    } else {
        "InternalServerException"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn each_format_gets_its_own_error_shape() {
        // (format, status, want body, want extra header)
        let cases = [
            (
                Format::Chat,
                403,
                json!({"error": {"message": "no", "type": "permission_error", "param": null, "code": "prompt_rejected"}}),
                None,
            ),
            (
                Format::Responses,
                400,
                json!({"error": {"message": "no", "type": "invalid_request_error", "param": null, "code": "prompt_rejected"}}),
                None,
            ),
            (
                Format::Embeddings,
                422,
                json!({"error": {"message": "no", "type": "invalid_request_error", "param": null, "code": "prompt_rejected"}}),
                None,
            ),
            (
                Format::Messages,
                403,
                json!({"type": "error", "error": {"type": "permission_error", "message": "no"}}),
                None,
            ),
            (
                Format::Messages,
                400,
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": "no"}}),
                None,
            ),
            (
                Format::Gemini,
                403,
                json!({"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}}),
                None,
            ),
            (
                Format::Gemini,
                451,
                json!({"error": {"code": 451, "message": "no", "status": "FAILED_PRECONDITION"}}),
                None,
            ),
            (
                Format::Converse,
                403,
                json!({"message": "no"}),
                Some("AccessDeniedException"),
            ),
            (
                Format::Converse,
                451,
                json!({"message": "no"}),
                Some("ValidationException"),
            ),
        ];
        for (format, status, want, errortype) in cases {
            let answer = error(format, status, "no", REJECTED_CODE, None);
            assert_eq!(answer.status, status);
            let body: Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(body, want, "{format:?} {status}");
            assert!(answer
                .headers
                .contains(&("content-type", "application/json")));
            let got = answer
                .headers
                .iter()
                .find(|(name, _)| *name == "x-amzn-errortype")
                .map(|(_, value)| *value);
            assert_eq!(got, errortype, "{format:?} {status}");
        }
    }
}
