//! `stream_options.include_usage` without side effects.
//!
//! OpenAI-format streams report usage only when the request asks for it. When
//! a client did not, the gateway adds `"stream_options":{"include_usage":true}`
//! to the request (where the API accepts it, see
//! [`crate::providers::Provider::accepts_stream_options`]) and then removes
//! what that changed from the response ([`crate::rewrite`]), so the client
//! receives the stream it would have received without the gateway.
//!
//! The request edit is surgical like the `model` override: every other byte of
//! the body stays as sent.

use crate::json_model::{self, Member};

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
    fn any_amount_of_whitespace_is_fine() {
        // (whitespace before each token, where)
        let ws = |n: usize| " \n\t\r".repeat(n / 4);
        for n in [0, 4, 768 * 1024, 2 * 1024 * 1024] {
            let w = ws(n);
            let cases = [
                format!("{w}{{{w}\"stream\"{w}:{w}true{w}}}{w}"),
                format!("{{\"messages\":[{w}],\"stream\":true,\"stream_options\":{w}{{{w}}}{w}}}"),
                format!("{{\"stream\":true,{w}\"stream_options\":{{{w}\"include_usage\"{w}:{w}false}}}}"),
            ];
            for body in cases {
                let got = inject(body.as_bytes()).unwrap_or_else(|| panic!("{n} {:.80}", body));
                let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
                assert_eq!(v["stream_options"]["include_usage"], true, "{n}");
                assert!(got.len().abs_diff(body.len()) <= 40, "{n}");
            }
        }
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
