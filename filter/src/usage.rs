//! Token usage in the OpenAI chat-completions format, which Azure OpenAI uses
//! too: a whole JSON response, or one SSE chunk of a streamed response.
//!
//! Typed, borrowing structs: serde skips everything else (choices, content)
//! without building a tree, and `model` is borrowed from the body unless it
//! contains escapes.

use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub total: u64,
    /// Part of `input` served from the prompt cache.
    pub cached_input: u64,
    /// Part of `output` spent on reasoning.
    pub reasoning: u64,
}

/// What one response (or one stream chunk) says about itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Non-empty model name, if any (Azure's first stream chunk has `""`).
    pub model: Option<String>,
    /// `None` when `usage` is absent or `null`.
    pub usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<UsageWire> for TokenUsage {
    fn from(u: UsageWire) -> Self {
        TokenUsage {
            input: u.prompt_tokens.unwrap_or(0),
            output: u.completion_tokens.unwrap_or(0),
            total: u.total_tokens.unwrap_or(0),
            cached_input: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// `Err` when the bytes are not a JSON object of the expected shape (a body
/// cut short, an HTML error page, a `usage` that is not an object, ...).
pub fn parse(json: &[u8]) -> Result<Report, serde_json::Error> {
    let wire: Wire<'_> = serde_json::from_slice(json)?;
    Ok(Report {
        model: wire.model.filter(|m| !m.is_empty()).map(Cow::into_owned),
        usage: wire.usage.map(TokenUsage::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, total: u64, cached_input: u64, reasoning: u64) -> TokenUsage {
        TokenUsage {
            input,
            output,
            total,
            cached_input,
            reasoning,
        }
    }

    #[test]
    fn parses_reports() {
        let cases: &[(&str, Option<&str>, Option<TokenUsage>)] = &[
            (
                r#"{"model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,
                   "prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},
                   "completion_tokens_details":{"reasoning_tokens":1}},"choices":[{"message":{"content":"x"}}]}"#,
                Some("gpt-4o"),
                Some(usage(3, 4, 7, 2, 1)),
            ),
            (
                r#"{"usage":{"prompt_tokens":5}}"#,
                None,
                Some(usage(5, 0, 0, 0, 0)),
            ),
            (r#"{"usage":{}}"#, None, Some(usage(0, 0, 0, 0, 0))),
            (
                r#"{"usage":{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":null}}"#,
                None,
                Some(usage(1, 0, 0, 0, 0)),
            ),
            (r#"{"model":"m","usage":null}"#, Some("m"), None),
            (r#"{"model":"","choices":[]}"#, None, None),
            (r#"{"model":null}"#, None, None),
            (r#"{"model":"a\/b\u00e9"}"#, Some("a/bé"), None),
            (r#"{"error":{"message":"bad","code":"x"}}"#, None, None),
            (r#"{"choices":[{"usage":{"prompt_tokens":9}}]}"#, None, None),
        ];
        for (body, model, want) in cases {
            let report = parse(body.as_bytes()).unwrap();
            assert_eq!(report.model.as_deref(), *model, "{body}");
            assert_eq!(report.usage, *want, "{body}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_response_object() {
        for body in [
            "",
            "[DONE]",
            "<html>bad gateway</html>",
            r#"{"usage":{"prompt_tokens":1"#,
            r#"{"usage":"lots"}"#,
            r#"{"usage":{"prompt_tokens":-1}}"#,
            r#"[{"usage":{}}]"#,
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
    }
}
