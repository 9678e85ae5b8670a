//! Every change the gateway makes to a held request body, applied in one pass
//! over the list so the body is rewritten (and re-measured) once. Each edit is
//! surgical ([`json_model`]): bytes it does not touch stay as the client sent
//! them.

use crate::include_usage;
use crate::json_model;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit<'a> {
    /// Overwrite (or add) the top-level `model`.
    SetModel(&'a str),
    /// Bedrock: apply the configured guardrail unless the client chose one.
    AddGuardrail {
        identifier: &'a str,
        version: &'a str,
    },
    /// `stream_options.include_usage: true` on streaming OpenAI requests.
    IncludeUsage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub body: Vec<u8>,
    /// [`Edit::IncludeUsage`] changed the body: the response must hide it.
    pub usage_injected: bool,
}

/// The body after `edits`, in order. `None` when nothing changed — the body
/// is not a JSON object (it then passes byte-identical) or no edit applied.
pub fn apply(body: &[u8], edits: &[Edit<'_>]) -> Option<Edited> {
    json_model::members(body)?;
    let mut current: Option<Vec<u8>> = None;
    let mut usage_injected = false;
    for edit in edits {
        let input = current.as_deref().unwrap_or(body);
        let changed = match edit {
            Edit::SetModel(model) => json_model::set_model(input, model),
            Edit::AddGuardrail {
                identifier,
                version,
            } => add_guardrail(input, identifier, version),
            Edit::IncludeUsage => {
                let injected = include_usage::inject(input);
                usage_injected |= injected.is_some();
                injected
            }
        };
        if let Some(changed) = changed {
            current = Some(changed);
        }
    }
    let body = current.filter(|new| new.as_slice() != body)?;
    Some(Edited {
        body,
        usage_injected,
    })
}

fn add_guardrail(body: &[u8], identifier: &str, version: &str) -> Option<Vec<u8>> {
    if json_model::value_of(body, "guardrailConfig").is_some() {
        return None;
    }
    let config = serde_json::json!({
        "guardrailIdentifier": identifier,
        "guardrailVersion": version,
    });
    let raw = serde_json::to_vec(&config).ok()?;
    json_model::prepend_member(body, "guardrailConfig", &raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: Edit<'static> = Edit::AddGuardrail {
        identifier: "gr-1",
        version: "2",
    };

    #[test]
    fn applies_edits_in_order() {
        let cases: Vec<(&str, Vec<Edit>, Option<&str>, bool)> = vec![
            (
                r#"{"model":"x","stream":true}"#,
                vec![Edit::SetModel("gpt-4o-mini"), Edit::IncludeUsage],
                Some(
                    r#"{"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true}"#,
                ),
                true,
            ),
            (
                r#"{"model":"x"}"#,
                vec![Edit::SetModel("m"), Edit::IncludeUsage],
                Some(r#"{"model":"m"}"#),
                false,
            ),
            (
                r#"{"messages":[],"stream":true}"#,
                vec![GUARD],
                Some(
                    r#"{"guardrailConfig":{"guardrailIdentifier":"gr-1","guardrailVersion":"2"},"messages":[],"stream":true}"#,
                ),
                false,
            ),
            (
                r#"{"guardrailConfig":{"guardrailIdentifier":"mine","guardrailVersion":"1"},"messages":[]}"#,
                vec![GUARD],
                None,
                false,
            ),
            (r#"{"model":"m"}"#, vec![Edit::SetModel("m")], None, false),
            (r#"{"stream":true}"#, vec![], None, false),
            ("not json", vec![Edit::SetModel("m"), GUARD], None, false),
            (
                r#"[{"stream":true}]"#,
                vec![GUARD, Edit::IncludeUsage],
                None,
                false,
            ),
        ];
        for (body, edits, want, injected) in cases {
            let got = apply(body.as_bytes(), &edits);
            assert_eq!(
                got.as_ref().map(|e| String::from_utf8_lossy(&e.body)),
                want.map(Into::into),
                "{body} {edits:?}"
            );
            assert_eq!(
                got.is_some_and(|e| e.usage_injected),
                injected,
                "{body} {edits:?}"
            );
        }
    }

    #[test]
    fn edits_apply_whatever_the_whitespace() {
        let edits = [Edit::SetModel("forced"), GUARD, Edit::IncludeUsage];
        for n in [0, 768 * 1024 + 1, 2 * 1024 * 1024] {
            let w = " \n".repeat(n / 2);
            let body = format!("{w}{{{w}\"model\":{w}\"mine\",{w}\"stream\":true{w}}}{w}");
            let got = apply(body.as_bytes(), &edits).unwrap_or_else(|| panic!("{n}"));
            assert!(got.usage_injected, "{n}");
            let v: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
            assert_eq!(v["model"], "forced", "{n}");
            assert_eq!(v["guardrailConfig"]["guardrailIdentifier"], "gr-1", "{n}");
            assert_eq!(v["stream_options"]["include_usage"], true, "{n}");
        }
    }

    #[test]
    fn guardrail_values_are_json_escaped() {
        let edits = [Edit::AddGuardrail {
            identifier: "a\"b",
            version: "DRAFT",
        }];
        let got = apply(br#"{}"#, &edits).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(v["guardrailConfig"]["guardrailIdentifier"], "a\"b");
        assert_eq!(v["guardrailConfig"]["guardrailVersion"], "DRAFT");
    }
}
