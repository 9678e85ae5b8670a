//! The answer when a body edit the configuration requires (a forced `model`,
//! a Bedrock guardrail, a prompt policy) cannot be made because the body is
//! not a JSON object.
//! Forwarding it unedited would let the client's own model (or no guardrail)
//! through to an upstream that may well accept NaN, a byte order mark or
//! trailing bytes; so the gateway answers 400 itself, in the OpenAI error
//! shape, naming what is wrong. Only called once a body failed the scan, so
//! the second look (with serde_json, for its positions) costs nothing on the
//! common path.

/// What the gateway had to do to the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Model,
    Guardrail,
    PromptGuard,
    /// Prompt guards read it, enrichment and defaults edit it.
    PromptPolicy,
}

/// `code` of the error, for clients that branch on it.
pub const CODE: &str = "invalid_json";

const BOM: &[u8] = b"\xef\xbb\xbf";

/// What is wrong with a body that is not a JSON object.
pub fn problem(body: &[u8]) -> String {
    if body.starts_with(BOM) {
        return "the request body starts with a byte order mark (U+FEFF), which JSON does not allow"
            .to_owned();
    }
    if let Err(e) = std::str::from_utf8(body) {
        return format!(
            "the request body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        );
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => "the request body is JSON but not an object".to_owned(),
        Err(e) if e.is_eof() => format!("the request body ends before its JSON is complete ({e})"),
        Err(e) => format!("the request body is not valid JSON: {e}"),
    }
}

/// The OpenAI-style error body for [`problem`].
pub fn error_body(problem: &str, requirement: Requirement) -> Vec<u8> {
    let needs = match requirement {
        Requirement::Model => "this route sets the request's `model`",
        Requirement::Guardrail => "this route adds a Bedrock `guardrailConfig`",
        Requirement::PromptGuard => "this route's prompt guards read the request's messages",
        Requirement::PromptPolicy => "this route applies a prompt policy to the request",
    };
    crate::convert::openai_error(
        &format!("{problem}; {needs}, which needs a JSON object"),
        "invalid_request_error",
        None,
        Some(CODE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"model":"m","temperature":NaN}"#,
                "the request body is not valid JSON: expected value at line 1 column 28",
            ),
            (
                b"\xef\xbb\xbf{\"model\":\"m\"}",
                "the request body starts with a byte order mark (U+FEFF), which JSON does not allow",
            ),
            (
                br#"{"model":"m"} and more"#,
                "the request body is not valid JSON: trailing characters at line 1 column 15",
            ),
            (
                b"{\"model\":\"m\", // mine\n\"x\":1}",
                "the request body is not valid JSON: key must be a string at line 1 column 15",
            ),
            (
                b"{\"model\":\"m\",\"x\":\"\xff\"}",
                "the request body is not valid UTF-8 (at byte 18)",
            ),
            (
                br#"{"model":"m","messages":["#,
                "the request body ends before its JSON is complete (EOF while parsing a list at line 1 column 25)",
            ),
            (b"", "the request body ends before its JSON is complete (EOF while parsing a value at line 1 column 0)"),
            (br#"["model"]"#, "the request body is JSON but not an object"),
        ];
        for (body, want) in cases {
            assert_eq!(problem(body), *want, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn answers_in_the_openai_error_shape() {
        for (requirement, names) in [
            (Requirement::Model, "`model`"),
            (Requirement::Guardrail, "`guardrailConfig`"),
            (Requirement::PromptPolicy, "prompt policy"),
        ] {
            let body = error_body("the body is \"odd\"", requirement);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("the body is \"odd\"; "), "{message}");
            assert!(message.contains(names), "{message}");
            assert_eq!(v["error"]["type"], "invalid_request_error");
            assert_eq!(v["error"]["code"], CODE);
            assert_eq!(v["error"]["param"], serde_json::Value::Null);
        }
    }
}
