//! What one SSE event of each client-facing format says about the reply's
//! text: which text it carries for which choice or block (a [`Key`]),
//! which complete texts it repeats (Responses' `*.done` events, a
//! `message_start`), which streams it ends — and, for text held back past
//! a stream's last delta, an event of the same format that carries it.

use super::json::{field, index, is_set, items, object, string, strings_at, Span, Step};
use super::Format;
use Step::{Each, Key as K};

/// One stream of text in a reply: a chat choice, a Messages content block,
/// a Responses content part, a Gemini candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    pub index: u64,
    pub sub: u64,
    pub kind: Kind,
}

/// Which text of the stream (they are held apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    /// Chat's `delta.refusal`, Responses' `response.refusal.delta`.
    Refusal,
    /// Legacy completions' `choices[].text`.
    Completion,
    /// Gemini's `thought` parts.
    Thought,
}

/// A piece of a stream's text in the event.
#[derive(Debug, Clone)]
pub(super) struct Text {
    pub key: Key,
    pub span: Span,
}

/// Streams an event ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Ends {
    #[default]
    None,
    /// Every stream of that index (and sub, when given).
    Some(Vec<(u64, Option<u64>)>),
    All,
}

impl Ends {
    pub fn covers(&self, key: Key) -> bool {
        match self {
            Ends::None => false,
            Ends::All => true,
            Ends::Some(ends) => ends
                .iter()
                .any(|(i, sub)| *i == key.index && sub.is_none_or(|s| s == key.sub)),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Inspected {
    pub texts: Vec<Text>,
    /// Complete texts, masked at once.
    pub whole: Vec<Span>,
    pub ends: Ends,
}

/// The top-level members of a stream's event that its closing event copies
/// (its id, model, item…), as raw `"key":value` pairs joined by commas.
fn template(format: Format, data: &[u8]) -> Vec<u8> {
    let skips = template_skips(format);
    let mut template = Vec::new();
    for (key, value) in object(data, &(0..data.len())).unwrap_or_default() {
        let name = data.get(key).unwrap_or_default();
        if skips.iter().any(|s| crate::json_model::key_is(name, s)) {
            continue;
        }
        if !template.is_empty() {
            template.push(b',');
        }
        template.extend_from_slice(name);
        template.push(b':');
        template.extend_from_slice(data.get(value).unwrap_or_default());
    }
    template
}

/// Members left out of a template: the text carriers, usage, padding.
fn template_skips(format: Format) -> &'static [&'static str] {
    match format {
        Format::Chat => &["choices", "usage", "obfuscation"],
        Format::Messages => &["delta", "content_block"],
        Format::Responses => &["delta", "logprobs", "obfuscation"],
        Format::Gemini => &["candidates", "usageMetadata"],
        Format::Converse => &[],
    }
}

/// Reads one event's JSON `data`; `None` when it is not a JSON object.
pub(super) fn inspect(format: Format, data: &[u8]) -> Option<Inspected> {
    let top = object(data, &(0..data.len()))?;
    let mut seen = Inspected::default();
    match format {
        Format::Chat => chat(data, &top, &mut seen),
        Format::Messages => messages(data, &top, &mut seen),
        Format::Responses => responses(data, &top, &mut seen),
        Format::Gemini => gemini(data, &top, &mut seen),
        // Converse streams are AWS event streams, not SSE.
        Format::Converse => {}
    }
    Some(seen)
}

fn is_string(data: &[u8], span: &Span) -> bool {
    data.get(span.start) == Some(&b'"')
}

fn kind_of(data: &[u8], top: &[(Span, Span)]) -> String {
    field(data, top, "type")
        .and_then(|s| string(data, &s))
        .unwrap_or_default()
}

fn key(index: u64, sub: u64, kind: Kind) -> Key {
    Key { index, sub, kind }
}

fn chat(data: &[u8], top: &[(Span, Span)], seen: &mut Inspected) {
    let Some(choices) = field(data, top, "choices") else {
        return;
    };
    let mut ends = Vec::new();
    for (position, choice) in items(data, &choices).iter().enumerate() {
        let Some(members) = object(data, choice) else {
            continue;
        };
        let i = index(data, field(data, &members, "index")).unwrap_or(position as u64);
        if let Some(delta) = field(data, &members, "delta").and_then(|d| object(data, &d)) {
            for (name, kind) in [("content", Kind::Text), ("refusal", Kind::Refusal)] {
                if let Some(span) = field(data, &delta, name).filter(|s| is_string(data, s)) {
                    seen.texts.push(Text {
                        key: key(i, 0, kind),
                        span,
                    });
                }
            }
        }
        if let Some(span) = field(data, &members, "text").filter(|s| is_string(data, s)) {
            seen.texts.push(Text {
                key: key(i, 0, Kind::Completion),
                span,
            });
        }
        if is_set(data, field(data, &members, "finish_reason").as_ref()) {
            ends.push((i, None));
        }
    }
    if !ends.is_empty() {
        seen.ends = Ends::Some(ends);
    }
}

fn messages(data: &[u8], top: &[(Span, Span)], seen: &mut Inspected) {
    let i = index(data, field(data, top, "index")).unwrap_or(0);
    let whole = 0..data.len();
    match kind_of(data, top).as_str() {
        "content_block_start" => {
            strings_at(
                data,
                whole,
                &[K("content_block"), K("text")],
                &mut seen.whole,
            );
        }
        "content_block_delta" => {
            let mut spans = Vec::new();
            strings_at(data, whole, &[K("delta"), K("text")], &mut spans);
            seen.texts.extend(spans.into_iter().map(|span| Text {
                key: key(i, 0, Kind::Text),
                span,
            }));
        }
        "content_block_stop" => seen.ends = Ends::Some(vec![(i, None)]),
        "message_start" => {
            let path = [K("message"), K("content"), Each, K("text")];
            strings_at(data, whole, &path, &mut seen.whole);
        }
        "message_delta" | "message_stop" => seen.ends = Ends::All,
        _ => {}
    }
}

fn responses(data: &[u8], top: &[(Span, Span)], seen: &mut Inspected) {
    let output = index(data, field(data, top, "output_index")).unwrap_or(0);
    let content = index(data, field(data, top, "content_index")).unwrap_or(0);
    let whole = 0..data.len();
    let mut paths: Vec<&[Step]> = Vec::new();
    match kind_of(data, top).as_str() {
        kind @ ("response.output_text.delta" | "response.refusal.delta") => {
            let text_kind = if kind == "response.refusal.delta" {
                Kind::Refusal
            } else {
                Kind::Text
            };
            if let Some(span) = field(data, top, "delta").filter(|s| is_string(data, s)) {
                seen.texts.push(Text {
                    key: key(output, content, text_kind),
                    span,
                });
            }
        }
        "response.output_text.done" | "response.refusal.done" => {
            paths.extend([&[K("text")][..], &[K("refusal")]]);
            seen.ends = Ends::Some(vec![(output, Some(content))]);
        }
        kind @ ("response.content_part.added" | "response.content_part.done") => {
            paths.extend([&[K("part"), K("text")][..], &[K("part"), K("refusal")]]);
            if kind.ends_with(".done") {
                seen.ends = Ends::Some(vec![(output, Some(content))]);
            }
        }
        kind @ ("response.output_item.added" | "response.output_item.done") => {
            paths.extend([
                &[K("item"), K("content"), Each, K("text")][..],
                &[K("item"), K("content"), Each, K("refusal")],
            ]);
            if kind.ends_with(".done") {
                seen.ends = Ends::Some(vec![(output, None)]);
            }
        }
        kind if kind.starts_with("response.") && field(data, top, "response").is_some() => {
            paths.extend([
                &[K("response"), K("output_text")][..],
                &[
                    K("response"),
                    K("output"),
                    Each,
                    K("content"),
                    Each,
                    K("text"),
                ],
                &[
                    K("response"),
                    K("output"),
                    Each,
                    K("content"),
                    Each,
                    K("refusal"),
                ],
            ]);
            if matches!(
                kind,
                "response.completed" | "response.incomplete" | "response.failed"
            ) {
                seen.ends = Ends::All;
            }
        }
        _ => {}
    }
    for path in paths {
        strings_at(data, whole.clone(), path, &mut seen.whole);
    }
}

fn gemini(data: &[u8], top: &[(Span, Span)], seen: &mut Inspected) {
    let Some(candidates) = field(data, top, "candidates") else {
        return;
    };
    let mut ends = Vec::new();
    for (position, candidate) in items(data, &candidates).iter().enumerate() {
        let Some(members) = object(data, candidate) else {
            continue;
        };
        let i = index(data, field(data, &members, "index")).unwrap_or(position as u64);
        let parts = field(data, &members, "content")
            .and_then(|c| object(data, &c))
            .and_then(|c| field(data, &c, "parts"));
        for part in parts.map(|p| items(data, &p)).unwrap_or_default() {
            let Some(part) = object(data, &part) else {
                continue;
            };
            let thought = field(data, &part, "thought")
                .and_then(|s| data.get(s))
                .is_some_and(|raw| raw == b"true");
            let kind = if thought { Kind::Thought } else { Kind::Text };
            if let Some(span) = field(data, &part, "text").filter(|s| is_string(data, s)) {
                seen.texts.push(Text {
                    key: key(i, 0, kind),
                    span,
                });
            }
        }
        if is_set(data, field(data, &members, "finishReason").as_ref()) {
            ends.push((i, None));
        }
    }
    if !ends.is_empty() {
        seen.ends = Ends::Some(ends);
    }
}

/// A whole SSE event carrying `text` (a JSON string literal) for stream
/// `key`, in the shape of the stream's own deltas; `last` is the data of
/// the stream's last event with text.
pub(super) fn closing_event(format: Format, key: Key, last: &[u8], text: &[u8]) -> Vec<u8> {
    let template = template(format, last);
    let mut data = b"{".to_vec();
    data.extend_from_slice(&template);
    if !template.is_empty() {
        data.push(b',');
    }
    let i = key.index;
    let (name, body): (&str, Vec<u8>) = match format {
        Format::Chat => {
            let choice = match key.kind {
                Kind::Completion => [
                    &br#"{"index":"#[..],
                    i.to_string().as_bytes(),
                    br#","text":"#,
                    text,
                    br#","finish_reason":null}"#,
                ]
                .concat(),
                kind => {
                    let field: &[u8] = if kind == Kind::Refusal {
                        b"refusal"
                    } else {
                        b"content"
                    };
                    [
                        &br#"{"index":"#[..],
                        i.to_string().as_bytes(),
                        br#","delta":{""#,
                        field,
                        br#"":"#,
                        text,
                        br#"},"finish_reason":null}"#,
                    ]
                    .concat()
                }
            };
            ("", [&br#""choices":["#[..], &choice, b"]"].concat())
        }
        Format::Messages => (
            "content_block_delta",
            [&br#""delta":{"type":"text_delta","text":"#[..], text, b"}"].concat(),
        ),
        Format::Responses => {
            let name = if key.kind == Kind::Refusal {
                "response.refusal.delta"
            } else {
                "response.output_text.delta"
            };
            (name, [&br#""delta":"#[..], text].concat())
        }
        Format::Gemini => {
            let thought: &[u8] = if key.kind == Kind::Thought {
                br#","thought":true"#
            } else {
                b""
            };
            (
                "",
                [
                    &br#""candidates":[{"content":{"parts":[{"text":"#[..],
                    text,
                    thought,
                    br#"}],"role":"model"},"index":"#,
                    i.to_string().as_bytes(),
                    b"}]",
                ]
                .concat(),
            )
        }
        Format::Converse => ("", Vec::new()),
    };
    data.extend(body);
    data.push(b'}');
    let mut event = Vec::with_capacity(data.len() + 40);
    if !name.is_empty() {
        event.extend_from_slice(b"event: ");
        event.extend_from_slice(name.as_bytes());
        event.push(b'\n');
    }
    event.extend_from_slice(b"data: ");
    event.extend(data);
    event.extend_from_slice(b"\n\n");
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(format: Format, data: &str) -> Vec<(u64, u64, Kind, String)> {
        let seen = inspect(format, data.as_bytes()).unwrap();
        seen.texts
            .iter()
            .map(|t| {
                let k = t.key;
                (
                    k.index,
                    k.sub,
                    k.kind,
                    string(data.as_bytes(), &t.span).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_each_formats_text_and_ends() {
        use Kind::*;
        // (format, data, texts, whole texts, ends)
        let cases: &[(Format, &str, &[(u64, u64, Kind, &str)], &[&str], Ends)] = &[
            (
                Format::Chat,
                r#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"refusal":"b"},"finish_reason":"stop"}]}"#,
                &[(0, 0, Text, "a"), (1, 0, Refusal, "b")],
                &[],
                Ends::Some(vec![(1, None)]),
            ),
            (
                Format::Chat,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":null}],"usage":null}"#,
                &[],
                &[],
                Ends::None,
            ),
            (
                Format::Chat,
                r#"{"choices":[{"index":2,"text":"c","finish_reason":"length"}]}"#,
                &[(2, 0, Completion, "c")],
                &[],
                Ends::Some(vec![(2, None)]),
            ),
            (
                Format::Messages,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"hi"}}"#,
                &[(1, 0, Text, "hi")],
                &[],
                Ends::None,
            ),
            (
                Format::Messages,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
                &[],
                &[],
                Ends::None,
            ),
            (
                Format::Messages,
                r#"{"type":"content_block_stop","index":1}"#,
                &[],
                &[],
                Ends::Some(vec![(1, None)]),
            ),
            (
                Format::Messages,
                r#"{"type":"message_start","message":{"content":[{"type":"text","text":"x"}]}}"#,
                &[],
                &["x"],
                Ends::None,
            ),
            (
                Format::Messages,
                r#"{"type":"message_stop"}"#,
                &[],
                &[],
                Ends::All,
            ),
            (
                Format::Responses,
                r#"{"type":"response.output_text.delta","item_id":"m","output_index":1,"content_index":2,"delta":"d"}"#,
                &[(1, 2, Text, "d")],
                &[],
                Ends::None,
            ),
            (
                Format::Responses,
                r#"{"type":"response.output_text.done","output_index":1,"content_index":2,"text":"all"}"#,
                &[],
                &["all"],
                Ends::Some(vec![(1, Some(2))]),
            ),
            (
                Format::Responses,
                r#"{"type":"response.output_item.done","output_index":1,"item":{"content":[{"type":"output_text","text":"all"}]}}"#,
                &[],
                &["all"],
                Ends::Some(vec![(1, None)]),
            ),
            (
                Format::Responses,
                r#"{"type":"response.completed","response":{"output":[{"content":[{"text":"all"}]}],"usage":{}}}"#,
                &[],
                &["all"],
                Ends::All,
            ),
            (
                Format::Gemini,
                r#"{"candidates": [{"content": {"parts": [{"text": "t", "thought": true}, {"text": "u"}]}, "finishReason": "STOP", "index": 0}]}"#,
                &[(0, 0, Thought, "t"), (0, 0, Text, "u")],
                &[],
                Ends::Some(vec![(0, None)]),
            ),
        ];
        for (format, data, want_texts, want_whole, want_ends) in cases {
            let got: Vec<(u64, u64, Kind, String)> = texts(*format, data);
            let want: Vec<(u64, u64, Kind, String)> = want_texts
                .iter()
                .map(|(i, s, k, t)| (*i, *s, *k, (*t).to_owned()))
                .collect();
            assert_eq!(got, want, "{data}");
            let seen = inspect(*format, data.as_bytes()).unwrap();
            let whole: Vec<String> = seen
                .whole
                .iter()
                .map(|s| string(data.as_bytes(), s).unwrap())
                .collect();
            assert_eq!(&whole, want_whole, "{data}");
            assert_eq!(&seen.ends, want_ends, "{data}");
        }
        assert!(inspect(Format::Chat, b"[DONE]").is_none());
    }

    #[test]
    fn closing_events_are_deltas_of_the_stream() {
        // (format, the stream's last text event, key, the closing event)
        let cases: &[(Format, &str, Key, &str)] = &[
            (
                Format::Chat,
                r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}"#,
                key(0, 0, Kind::Text),
                "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"held\"},\"finish_reason\":null}]}\n\n",
            ),
            (
                Format::Chat,
                r#"{"choices":[{"index":3,"text":"x"}]}"#,
                key(3, 0, Kind::Completion),
                "data: {\"choices\":[{\"index\":3,\"text\":\"held\",\"finish_reason\":null}]}\n\n",
            ),
            (
                Format::Messages,
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"x"}}"#,
                key(2, 0, Kind::Text),
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"held\"}}\n\n",
            ),
            (
                Format::Responses,
                r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"x","logprobs":[],"sequence_number":4}"#,
                key(0, 0, Kind::Text),
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"sequence_number\":4,\"delta\":\"held\"}\n\n",
            ),
            (
                Format::Gemini,
                r#"{"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": 1}], "usageMetadata": {}, "modelVersion": "g"}"#,
                key(1, 0, Kind::Text),
                "data: {\"modelVersion\":\"g\",\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"held\"}],\"role\":\"model\"},\"index\":1}]}\n\n",
            ),
        ];
        for (format, last, key, want) in cases {
            let event = closing_event(*format, *key, last.as_bytes(), b"\"held\"");
            assert_eq!(String::from_utf8(event).unwrap(), *want, "{format:?}");
        }
    }
}
