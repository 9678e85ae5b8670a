//! `stream_options.include_usage` without side effects.
//!
//! OpenAI-format streams report usage only when the request asks for it. When
//! a client did not, the gateway adds `"stream_options":{"include_usage":true}`
//! to the request (where the API accepts it) and then removes what that
//! changed from the response ([`crate::rewrite`]), so the client receives the
//! stream it would have received without the gateway.
//!
//! The request edit is surgical like the `model` override: every other byte of
//! the body stays as sent.

use crate::config::ProviderConfig;
use crate::json_model::{self, Member};

/// The first Azure api-version date that accepts `stream_options`
/// (`2024-09-01-preview`); older versions answer 400 `unknown_parameter`.
const AZURE_STREAM_OPTIONS_SINCE: &str = "2024-09-01";

/// Whether the provider's API accepts `stream_options` on chat completions.
pub fn api_accepts_stream_options(provider: &ProviderConfig) -> bool {
    match provider {
        ProviderConfig::Openai { .. } => true,
        ProviderConfig::Azureopenai { api_version, .. } => azure_accepts(api_version),
        // Not OpenAI-format APIs: their streams report usage unasked.
        ProviderConfig::Anthropic { .. }
        | ProviderConfig::Gemini { .. }
        | ProviderConfig::Vertexai { .. }
        | ProviderConfig::Bedrock { .. } => false,
    }
}

/// `v1`, `preview`, `latest`, or a dated version (`YYYY-MM-DD[-preview]`) from
/// 2024-09-01 on. Anything unrecognised is treated as not accepting: a missed
/// count is better than a request the provider refuses.
fn azure_accepts(api_version: &str) -> bool {
    if matches!(api_version, "v1" | "preview" | "latest") {
        return true;
    }
    let date = api_version.strip_suffix("-preview").unwrap_or(api_version);
    let dated = date.len() == 10
        && date.bytes().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    // ISO dates compare correctly as strings.
    dated && date >= AZURE_STREAM_OPTIONS_SINCE
}

/// The body with `include_usage: true` added, when it is a JSON object with
/// `"stream": true` whose `stream_options.include_usage` is not already true.
/// `None`: leave the body alone (not streaming, already asking, not JSON, or a
/// `stream_options` of an unexpected type).
pub fn inject(body: &[u8]) -> Option<Vec<u8>> {
    let members = json_model::members(body)?;
    let value = |m: &Member| body.get(m.value.clone());
    let is_key = |m: &Member, name: &str| {
        body.get(m.key.clone())
            .is_some_and(|k| json_model::key_is(k, name))
    };
    // Duplicate keys: the last one is what a provider's parser keeps.
    let stream = members.iter().rev().find(|m| is_key(m, "stream"))?;
    if value(stream)? != b"true" {
        return None;
    }
    let options = members.iter().rev().find(|m| is_key(m, "stream_options"));
    let options = match options {
        Some(m) if value(m)? == b"null" => {
            return Some(splice(body, m.value.clone(), b"{\"include_usage\":true}"));
        }
        Some(m) => m,
        // Absent: add the member right after the opening brace.
        None => {
            let at = json_model::after_open(body)?;
            let separator: &[u8] = if members.is_empty() { b"" } else { b"," };
            return Some(splice(
                body,
                at..at,
                &[b"\"stream_options\":{\"include_usage\":true}", separator].concat(),
            ));
        }
    };
    let inner_span = options.value.clone();
    let inner = body.get(inner_span.clone())?;
    let inner_members = json_model::members(inner)?;
    let include = inner_members.iter().rev().find(|m| {
        inner
            .get(m.key.clone())
            .is_some_and(|k| json_model::key_is(k, "include_usage"))
    });
    match include {
        Some(m) => match inner.get(m.value.clone())? {
            b"true" => None,
            // `false` or `null`: the client does not want it; the response
            // edit hides it again, just as when it was absent.
            b"false" | b"null" => {
                let at = inner_span.start + m.value.start..inner_span.start + m.value.end;
                Some(splice(body, at, b"true"))
            }
            _ => None,
        },
        None => {
            let at = inner_span.start + json_model::after_open(inner)?;
            let separator: &[u8] = if inner_members.is_empty() { b"" } else { b"," };
            Some(splice(
                body,
                at..at,
                &[b"\"include_usage\":true", separator].concat(),
            ))
        }
    }
}

fn splice(body: &[u8], range: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len().saturating_add(with.len()));
    out.extend_from_slice(body.get(..range.start).unwrap_or_default());
    out.extend_from_slice(with);
    out.extend_from_slice(body.get(range.end..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_apis_accept_stream_options() {
        let cases = [
            ("2024-02-15-preview", false),
            ("2024-06-01", false),
            ("2024-08-01-preview", false),
            ("2024-09-01-preview", true),
            ("2024-09-01", true),
            ("2024-10-21", true),
            ("2025-04-01-preview", true),
            ("v1", true),
            ("preview", true),
            ("latest", true),
            ("2024-10-2", false),
            ("2024-1x-21", false),
            ("", false),
            ("v2", false),
        ];
        for (version, want) in cases {
            let provider = ProviderConfig::Azureopenai {
                deployment_name: "d".into(),
                api_version: version.into(),
            };
            assert_eq!(api_accepts_stream_options(&provider), want, "{version}");
        }
        assert!(api_accepts_stream_options(&ProviderConfig::Openai {
            model: None
        }));
    }

    #[test]
    fn injects_only_where_missing() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"model":"m","stream":true}"#,
                Some(r#"{"stream_options":{"include_usage":true},"model":"m","stream":true}"#),
            ),
            (
                "{ \"stream\" : true }",
                Some("{\"stream_options\":{\"include_usage\":true}, \"stream\" : true }"),
            ),
            (
                r#"{"stream":true,"stream_options":null}"#,
                Some(r#"{"stream":true,"stream_options":{"include_usage":true}}"#),
            ),
            (
                r#"{"stream":true,"stream_options":{}}"#,
                Some(r#"{"stream":true,"stream_options":{"include_usage":true}}"#),
            ),
            (
                r#"{"stream":true,"stream_options":{"include_obfuscation":false}}"#,
                Some(
                    r#"{"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}"#,
                ),
            ),
            (
                r#"{"stream":true,"stream_options":{"include_usage": false}}"#,
                Some(r#"{"stream":true,"stream_options":{"include_usage": true}}"#),
            ),
            (
                r#"{"stream":true,"stream_options":{"include_usage":true}}"#,
                None,
            ),
            (r#"{"stream":false}"#, None),
            (r#"{"stream":"true"}"#, None),
            (r#"{"model":"m"}"#, None),
            (r#"{"stream":true,"stream_options":"x"}"#, None),
            (
                r#"{"stream":true,"stream_options":{"include_usage":1}}"#,
                None,
            ),
            (r#"{"stream":true"#, None),
            ("not json", None),
            (r#"[{"stream":true}]"#, None),
            (r#"{"a":{"stream":true}}"#, None),
        ];
        for (body, want) in cases {
            let got = inject(body.as_bytes());
            assert_eq!(
                got.as_deref().map(String::from_utf8_lossy),
                want.map(Into::into),
                "{body}"
            );
            if let Some(new) = got {
                let v: serde_json::Value = serde_json::from_slice(&new).unwrap();
                assert_eq!(v["stream_options"]["include_usage"], true, "{body}");
            }
        }
    }
}
