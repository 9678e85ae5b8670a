//! Keys are never repeated in what the translator reports. Messages already
//! avoid quoting values, but a key pasted into the wrong place can come back
//! through a message that names what it read (serde's "unknown variant
//! `…`", "unknown field `…`", a `{:?}` of a name), so every `error:` /
//! `warning:` line and every status condition also goes through a
//! [`Redactor`] that knows every value of every Secret and every inline token
//! of the input, in the spellings a message may use (as is, JSON-escaped,
//! Rust-escaped, without `Bearer `).

use serde_json::Value;

use llmgate_filter::request::strip_bearer;

use crate::problem::Problem;
use crate::source::Snapshot;
use crate::status::{ObjectStatus, Status};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not looked for: replacing every `abc` would
/// garble messages, and no provider issues keys that short.
const MIN_LEN: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every spelling of every value, longest first (so a key is replaced
    /// whole before a shorter value inside it could be).
    forms: Vec<String>,
}

impl Redactor {
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        let mut forms = Vec::new();
        for value in values {
            let value = value.as_ref();
            for base in [value, value.trim(), strip_bearer(value)] {
                let json = serde_json::to_string(base).unwrap_or_default();
                let debug = format!("{base:?}");
                for form in [
                    base,
                    unquote(&json).unwrap_or(base),
                    unquote(&debug).unwrap_or(base),
                ] {
                    if form.chars().count() >= MIN_LEN && !forms.iter().any(|f| f == form) {
                        forms.push(form.to_owned());
                    }
                }
            }
        }
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Redactor { forms }
    }

    /// Every Secret value and inline token the snapshot holds, plus what the
    /// loader collected from documents it could not read
    /// ([`Snapshot::sensitive`]).
    pub fn of_snapshot(snapshot: &Snapshot) -> Self {
        let mut values: Vec<String> = snapshot.sensitive.clone();
        for secret in &snapshot.secrets {
            let s = &secret.value;
            values.extend(s.string_data.iter().flat_map(|d| d.values().cloned()));
            values.extend(
                s.data
                    .iter()
                    .flat_map(|d| d.values())
                    .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned()),
            );
        }
        for backend in &snapshot.backends {
            let raw = serde_json::to_value(&backend.value).unwrap_or_default();
            values.extend(inline_tokens(&raw));
        }
        Redactor::new(values)
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        out
    }

    pub fn problem(&self, problem: &mut Problem) {
        problem.message = self.text(&problem.message);
        if let Some(field) = &mut problem.field {
            *field = self.text(field);
        }
    }

    pub fn problems(&self, problems: &mut [Problem]) {
        if self.is_empty() {
            return;
        }
        problems.iter_mut().for_each(|p| self.problem(p));
    }

    pub fn statuses(&self, statuses: &mut [ObjectStatus]) {
        if self.is_empty() {
            return;
        }
        for status in statuses {
            let conditions: Vec<&mut crate::status::Condition> = match &mut status.status {
                Status::Gateway {
                    conditions,
                    listeners,
                } => conditions
                    .iter_mut()
                    .chain(listeners.iter_mut().flat_map(|l| l.conditions.iter_mut()))
                    .collect(),
                Status::Route { parents } => parents
                    .iter_mut()
                    .flat_map(|p| p.conditions.iter_mut())
                    .collect(),
                Status::Policy { ancestors } => ancestors
                    .iter_mut()
                    .flat_map(|a| a.conditions.iter_mut())
                    .collect(),
                Status::Conditions { conditions } => conditions.iter_mut().collect(),
            };
            for condition in conditions {
                condition.message = self.text(&condition.message);
            }
        }
    }
}

/// The sensitive values of one document as read, typed or not: a Secret's
/// `data` (as written and decoded) and `stringData`, and every `inline`
/// string anywhere (an inline token, even in a Backend that fails to parse).
pub fn sensitive_values(document: &Value) -> Vec<String> {
    let mut out = inline_tokens(document);
    let is_secret = document.get("kind").and_then(Value::as_str) == Some("Secret");
    if is_secret {
        if let Some(Value::Object(data)) = document.get("stringData") {
            out.extend(data.values().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(Value::Object(data)) = document.get("data") {
            for encoded in data.values().filter_map(Value::as_str) {
                out.push(encoded.to_owned());
                if let Some(decoded) = base64_decode(encoded) {
                    out.push(decoded);
                }
            }
        }
    }
    out
}

/// Every string under a key `inline`, at any depth.
fn inline_tokens(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (key, child) in map {
                    match child {
                        Value::String(s) if key == "inline" => out.push(s.clone()),
                        _ => stack.push(child),
                    }
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

fn unquote(quoted: &str) -> Option<&str> {
    quoted.strip_prefix('"')?.strip_suffix('"')
}

/// Standard base64 (whitespace ignored), as in a Secret's `data`; `None`
/// when it is not base64 or not UTF-8.
fn base64_decode(text: &str) -> Option<String> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_spelling_of_a_value_is_replaced() {
        let r = Redactor::new(["Bearer sk-live-abc123", "key\"with\\quote-9", "ab"]);
        let cases = [
            // (message, what must be left)
            (
                "unknown variant `sk-live-abc123`, expected one of `Inline`",
                "unknown variant `[redacted]`, expected one of `Inline`",
            ),
            ("token \"Bearer sk-live-abc123\"", "token \"[redacted]\""),
            (
                "value \"key\\\"with\\\\quote-9\" (JSON)",
                "value \"[redacted]\" (JSON)",
            ),
            ("raw key\"with\\quote-9 here", "raw [redacted] here"),
            // Too short to look for.
            ("grab a cab", "grab a cab"),
            ("nothing to hide", "nothing to hide"),
        ];
        for (message, want) in cases {
            assert_eq!(r.text(message), want, "{message}");
        }
    }

    #[test]
    fn problems_and_status_conditions_are_redacted() {
        let r = Redactor::new(["sk-hidden-77"]);
        let mut problem = Problem::error("unknown field `sk-hidden-77`").field("spec.sk-hidden-77");
        r.problem(&mut problem);
        assert!(!problem.to_string().contains("sk-hidden-77"), "{problem}");
        let mut statuses = vec![ObjectStatus {
            kind: "Backend".into(),
            namespace: "default".into(),
            name: "b".into(),
            status: Status::Conditions {
                conditions: vec![crate::status::Condition::new(
                    "Accepted",
                    false,
                    "Invalid",
                    "not served: spec.type: unknown variant `sk-hidden-77`",
                )],
            },
        }];
        r.statuses(&mut statuses);
        assert_eq!(
            statuses[0].conditions()[0].message,
            "not served: spec.type: unknown variant `[redacted]`"
        );
    }

    #[test]
    fn sensitive_values_of_documents() {
        let cases = [
            (
                json!({"kind": "Secret", "stringData": {"Authorization": "Bearer k-one-1"},
                       "data": {"x": "c2stdHdvLTI="}}),
                vec!["k-one-1", "sk-two-2", "c2stdHdvLTI="],
            ),
            (
                // A Backend that fails to parse still gives up its inline token.
                json!({"kind": "Backend", "spec": {"type": "sk-three-3", "ai": {"llm": {"openai":
                    {"authToken": {"kind": "Inline", "inline": "sk-three-3"}}}}}}),
                vec!["sk-three-3"],
            ),
            (
                json!({"kind": "ConfigMap", "data": {"ca.crt": "not-a-secret"}}),
                vec![],
            ),
        ];
        for (doc, want) in cases {
            let r = Redactor::new(sensitive_values(&doc));
            for value in &want {
                assert_eq!(r.text(value), REDACTED, "{doc}: {value}");
            }
            if want.is_empty() {
                assert!(r.is_empty(), "{doc}");
            }
        }
    }

    #[test]
    fn base64_of_secret_data() {
        let cases = [
            ("c2stdHdvLTI=", Some("sk-two-2")),
            ("YWJj", Some("abc")),
            ("YQ==", Some("a")),
            ("", Some("")),
            ("not base64!", None),
        ];
        for (encoded, want) in cases {
            assert_eq!(base64_decode(encoded).as_deref(), want, "{encoded}");
        }
    }
}
