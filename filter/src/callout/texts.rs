//! The prompt texts a callout guard sends, each with the role of its
//! message, as mutable strings so a webhook's mask can be written back: an
//! OpenAI chat request's `messages` (string content or text parts) and an
//! Anthropic Messages request's `system` and `messages` (string or blocks).
//! Any part with a string `text`, whatever its `type`, is a text: what the
//! provider reads but the guard does not see would be a way around it.

use serde_json::{Map, Value};

/// The request formats a callout guard reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Chat,
    Messages,
}

/// The texts of `request` in document order, `system` first.
pub fn of(format: Format, request: &mut Map<String, Value>) -> Vec<(String, &mut String)> {
    let mut system = Vec::new();
    let mut rest = Vec::new();
    for (key, value) in request.iter_mut() {
        match (format, key.as_str()) {
            (Format::Messages, "system") => parts("system", value, &mut system),
            (_, "messages") => {
                if let Value::Array(messages) = value {
                    for message in messages {
                        message_texts(message, &mut rest);
                    }
                }
            }
            _ => {}
        }
    }
    system.extend(rest);
    system
}

fn message_texts<'a>(message: &'a mut Value, out: &mut Vec<(String, &'a mut String)>) {
    let Value::Object(message) = message else {
        return;
    };
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user")
        .to_owned();
    if let Some(content) = message.get_mut("content") {
        parts(&role, content, out);
    }
}

/// A string, or an array of parts each with a string `text`.
fn parts<'a>(role: &str, value: &'a mut Value, out: &mut Vec<(String, &'a mut String)>) {
    match value {
        Value::String(text) => out.push((role.to_owned(), text)),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(text) => out.push((role.to_owned(), text)),
                    Value::Object(part) => {
                        if let Some(Value::String(text)) = part.get_mut("text") {
                            out.push((role.to_owned(), text));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(format: Format, request: Value) -> Vec<(String, String)> {
        let Value::Object(mut request) = request else {
            panic!("not an object")
        };
        of(format, &mut request)
            .into_iter()
            .map(|(role, text)| (role, text.clone()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn finds_the_texts_of_each_format() {
        let cases = [
            (
                Format::Chat,
                json!({"model": "m", "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:"}},
                        {"type": "text", "text": "here"}
                    ]},
                    {"role": "assistant", "content": null, "tool_calls": []},
                    {"role": "tool", "content": "42"}
                ]}),
                pairs(&[
                    ("system", "Be brief."),
                    ("user", "look"),
                    ("user", "here"),
                    ("tool", "42"),
                ]),
            ),
            (
                Format::Messages,
                json!({"messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                    {"role": "assistant", "content": "hello"}
                ], "system": [{"type": "text", "text": "Be brief."}]}),
                pairs(&[
                    ("system", "Be brief."),
                    ("user", "hi"),
                    ("assistant", "hello"),
                ]),
            ),
            // Chat has no top-level `system`; shapes without text hold none.
            (
                Format::Chat,
                json!({"system": "x", "messages": [{"content": "no role"}, 3, {"role": "user", "content": 7}]}),
                pairs(&[("user", "no role")]),
            ),
            (Format::Messages, json!({"messages": "nope"}), vec![]),
        ];
        for (format, request, want) in cases {
            assert_eq!(texts(format, request.clone()), want, "{request}");
        }
    }

    #[test]
    fn texts_are_written_back_in_place() {
        let Value::Object(mut request) = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]}) else {
            unreachable!()
        };
        for (i, (_, text)) in of(Format::Chat, &mut request).into_iter().enumerate() {
            *text = format!("<{i}>");
        }
        assert_eq!(
            Value::Object(request),
            json!({"messages": [
                {"role": "user", "content": [{"type": "text", "text": "<0>"}, {"type": "text", "text": "<1>"}]}
            ]})
        );
    }
}
