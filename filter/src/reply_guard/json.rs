//! Text fields of a JSON document found and replaced in place: every byte
//! but the masked strings stays as the provider wrote it (key order,
//! number spellings, escapes), so a reply without a match is unchanged and
//! one with a match differs only there.

use std::ops::Range;

use super::Format;
use crate::guard_patterns::Patterns;
use crate::json_model;

/// A value's bytes in the document.
pub(super) type Span = Range<usize>;

/// One step of a path to text fields.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    /// The member of that name (the last one, as most parsers read it).
    Key(&'static str),
    /// Every element of an array.
    Each,
}

use Step::{Each, Key};

/// Members of the object at `span` as (key, value) spans of `doc`; `None`
/// when it is not a JSON object.
pub(super) fn object(doc: &[u8], span: &Span) -> Option<Vec<(Span, Span)>> {
    let members = json_model::members(doc.get(span.clone())?)?;
    let at = span.start;
    Some(
        members
            .into_iter()
            .map(|m| {
                (
                    m.key.start + at..m.key.end + at,
                    m.value.start + at..m.value.end + at,
                )
            })
            .collect(),
    )
}

/// The value of member `name` among `members`.
pub(super) fn field(doc: &[u8], members: &[(Span, Span)], name: &str) -> Option<Span> {
    members
        .iter()
        .rev()
        .find(|(key, _)| {
            doc.get(key.clone())
                .is_some_and(|k| json_model::key_is(k, name))
        })
        .map(|(_, value)| value.clone())
}

/// The elements of the array at `span`; none when it is not an array.
pub(super) fn items(doc: &[u8], span: &Span) -> Vec<Span> {
    doc.get(span.clone())
        .and_then(json_model::elements)
        .map(|elements| {
            elements
                .into_iter()
                .map(|e| e.start + span.start..e.end + span.start)
                .collect()
        })
        .unwrap_or_default()
}

/// The text of the JSON string at `span`; `None` when it is not a string.
pub(super) fn string(doc: &[u8], span: &Span) -> Option<String> {
    let raw = doc.get(span.clone())?;
    if raw.first() != Some(&b'"') {
        return None;
    }
    // Without escapes the text is the bytes between the quotes (the
    // document was validated as UTF-8 JSON when its members were read).
    if !raw.contains(&b'\\') {
        let inner = raw.get(1..raw.len().checked_sub(1)?)?;
        return std::str::from_utf8(inner).ok().map(str::to_owned);
    }
    serde_json::from_slice(raw).ok()
}

/// A JSON string literal of `text`.
pub(super) fn literal(text: &str) -> Vec<u8> {
    serde_json::to_vec(text).unwrap_or_else(|_| b"\"\"".to_vec())
}

/// A number member's value, when it is a non-negative integer.
pub(super) fn index(doc: &[u8], span: Option<Span>) -> Option<u64> {
    let raw = doc.get(span?)?;
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Whether the value at `span` is present and not `null`.
pub(super) fn is_set(doc: &[u8], span: Option<&Span>) -> bool {
    span.and_then(|s| doc.get(s.clone()))
        .is_some_and(|raw| raw != b"null")
}

/// Spans of the strings at `path` below `span`.
pub(super) fn strings_at(doc: &[u8], span: Span, path: &[Step], out: &mut Vec<Span>) {
    let Some((step, rest)) = path.split_first() else {
        if doc.get(span.start) == Some(&b'"') {
            out.push(span);
        }
        return;
    };
    match step {
        Key(name) => {
            if let Some(value) = object(doc, &span).and_then(|m| field(doc, &m, name)) {
                strings_at(doc, value, rest, out);
            }
        }
        Each => {
            for item in items(doc, &span) {
                strings_at(doc, item, rest, out);
            }
        }
    }
}

/// `doc` with each span replaced (spans sorted, not overlapping).
pub(super) fn splice(doc: &[u8], mut edits: Vec<(Span, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(span, _)| span.start);
    let mut out = Vec::with_capacity(doc.len() + 64);
    let mut at = 0;
    for (span, bytes) in edits {
        out.extend_from_slice(doc.get(at..span.start).unwrap_or_default());
        out.extend_from_slice(&bytes);
        at = span.end;
    }
    out.extend_from_slice(doc.get(at..).unwrap_or_default());
    out
}

/// Where a whole reply of each format keeps its generated text.
fn reply_paths(format: Format) -> &'static [&'static [Step]] {
    match format {
        Format::Chat => &[
            &[Key("choices"), Each, Key("message"), Key("content")],
            &[
                Key("choices"),
                Each,
                Key("message"),
                Key("content"),
                Each,
                Key("text"),
            ],
            &[Key("choices"), Each, Key("message"), Key("refusal")],
            // Legacy completions.
            &[Key("choices"), Each, Key("text")],
        ],
        Format::Messages => &[&[Key("content"), Each, Key("text")]],
        Format::Responses => &[
            &[Key("output_text")],
            &[Key("output"), Each, Key("content"), Each, Key("text")],
            &[Key("output"), Each, Key("content"), Each, Key("refusal")],
        ],
        Format::Gemini => &[&[
            Key("candidates"),
            Each,
            Key("content"),
            Key("parts"),
            Each,
            Key("text"),
        ]],
        Format::Converse => &[&[
            Key("output"),
            Key("message"),
            Key("content"),
            Each,
            Key("text"),
        ]],
    }
}

/// A whole reply the gateway must mask but cannot read: not a JSON
/// document of the format's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

/// A reply with its text masked, and how many matches were masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    /// `None` when nothing matched: the reply goes as it is.
    pub body: Option<Vec<u8>>,
    pub masks: usize,
}

/// Masks the text fields of a whole (non-streamed) reply in the client's
/// format. Gemini's `streamGenerateContent` without `alt=sse` answers a JSON
/// array of its replies: each is masked.
pub fn mask_reply(format: Format, patterns: &Patterns, body: &[u8]) -> Result<Masked, Unreadable> {
    let whole = 0..body.len();
    let docs = if object(body, &whole).is_some() {
        vec![whole]
    } else if format == Format::Gemini && json_model::elements(body).is_some() {
        items(body, &whole)
    } else {
        return Err(Unreadable);
    };
    let mut spans = Vec::new();
    for doc in docs {
        for path in reply_paths(format) {
            strings_at(body, doc.clone(), path, &mut spans);
        }
    }
    let mut edits = Vec::new();
    let mut masks = 0;
    for span in spans {
        let Some(text) = string(body, &span) else {
            continue;
        };
        let found = patterns.find(&text);
        if !found.is_empty() {
            masks += found.len();
            let masked = crate::guard_patterns::splice(&text, &found);
            edits.push((span, literal(&masked)));
        }
    }
    Ok(Masked {
        body: (!edits.is_empty()).then(|| splice(body, edits)),
        masks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_config::Builtin;

    fn patterns() -> Patterns {
        Patterns::new(&[], &[Builtin::CreditCard, Builtin::Email]).unwrap()
    }

    const CARD: &str = "4111 1111 1111 1111";

    #[test]
    fn masks_the_text_of_every_format_and_nothing_else() {
        // (format, reply, the reply as the client gets it)
        let cases: &[(Format, String, String)] = &[
            (
                Format::Chat,
                format!(
                    r#"{{"id":"c1","choices":[{{"index":0,"message":{{"role":"assistant","content":"card {CARD}, mail a@b.io","refusal":null}},"finish_reason":"stop"}}],"usage":{{"total_tokens":7}}}}"#
                ),
                r#"{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"card <CREDIT_CARD>, mail <EMAIL>","refusal":null},"finish_reason":"stop"}],"usage":{"total_tokens":7}}"#.into(),
            ),
            (
                Format::Chat,
                format!(
                    r#"{{"choices":[{{"message":{{"content":[{{"type":"text","text":"{CARD}"}}],"refusal":"no, a@b.io"}}}},{{"text":"{CARD}"}}]}}"#
                ),
                r#"{"choices":[{"message":{"content":[{"type":"text","text":"<CREDIT_CARD>"}],"refusal":"no, <EMAIL>"}},{"text":"<CREDIT_CARD>"}]}"#.into(),
            ),
            (
                Format::Messages,
                format!(
                    r#"{{"type":"message","content":[{{"type":"text","text":"x {CARD}"}},{{"type":"tool_use","input":{{"text":"{CARD}"}}}}]}}"#
                ),
                format!(
                    r#"{{"type":"message","content":[{{"type":"text","text":"x <CREDIT_CARD>"}},{{"type":"tool_use","input":{{"text":"{CARD}"}}}}]}}"#
                ),
            ),
            (
                Format::Responses,
                format!(
                    r#"{{"output":[{{"type":"message","content":[{{"type":"output_text","text":"{CARD}"}},{{"type":"refusal","refusal":"a@b.io"}}]}}],"output_text":"{CARD}"}}"#
                ),
                r#"{"output":[{"type":"message","content":[{"type":"output_text","text":"<CREDIT_CARD>"},{"type":"refusal","refusal":"<EMAIL>"}]}],"output_text":"<CREDIT_CARD>"}"#.into(),
            ),
            (
                Format::Gemini,
                format!(
                    r#"{{"candidates": [{{"content": {{"parts": [{{"text": "{CARD}"}}, {{"functionCall": {{"args": {{"text": "{CARD}"}}}}}}]}}}}]}}"#
                ),
                format!(
                    r#"{{"candidates": [{{"content": {{"parts": [{{"text": "<CREDIT_CARD>"}}, {{"functionCall": {{"args": {{"text": "{CARD}"}}}}}}]}}}}]}}"#
                ),
            ),
            (
                Format::Gemini,
                format!(
                    r#"[{{"candidates":[{{"content":{{"parts":[{{"text":"{CARD}"}}]}}}}]}},{{"candidates":[{{"content":{{"parts":[{{"text":"a@b.io"}}]}}}}]}}]"#
                ),
                r#"[{"candidates":[{"content":{"parts":[{"text":"<CREDIT_CARD>"}]}}]},{"candidates":[{"content":{"parts":[{"text":"<EMAIL>"}]}}]}]"#.into(),
            ),
            (
                Format::Converse,
                format!(
                    r#"{{"output":{{"message":{{"role":"assistant","content":[{{"text":"{CARD}"}}]}}}},"usage":{{"inputTokens":1}}}}"#
                ),
                r#"{"output":{"message":{"role":"assistant","content":[{"text":"<CREDIT_CARD>"}]}},"usage":{"inputTokens":1}}"#.into(),
            ),
            // Escapes in and around the match; the rest keeps its spelling.
            (
                Format::Chat,
                r#"{"choices":[{"message":{"content":"\u00e9 \"a@b.io\"\n","x":1.0e3}}]}"#.into(),
                r#"{"choices":[{"message":{"content":"é \"<EMAIL>\"\n","x":1.0e3}}]}"#.into(),
            ),
        ];
        for (format, reply, want) in cases {
            let masked = mask_reply(*format, &patterns(), reply.as_bytes()).unwrap();
            let got = String::from_utf8(masked.body.unwrap()).unwrap();
            assert_eq!(&got, want, "{format:?}");
            assert!(masked.masks > 0);
        }
    }

    #[test]
    fn a_reply_without_matches_is_left_alone() {
        let reply = br#"{"choices":[{"message":{"content":"nothing here, 1234"}}]}"#;
        let masked = mask_reply(Format::Chat, &patterns(), reply).unwrap();
        assert_eq!(
            masked,
            Masked {
                body: None,
                masks: 0
            }
        );
    }

    #[test]
    fn a_reply_that_is_not_json_cannot_be_masked() {
        for (format, reply) in [
            (Format::Chat, &b"not json"[..]),
            (Format::Chat, b"[1]"),
            (Format::Messages, b"{\"content\":"),
            (Format::Gemini, b"[{\"candidates\":[]},"),
        ] {
            assert_eq!(mask_reply(format, &patterns(), reply), Err(Unreadable));
        }
    }
}
