//! The texts of a whole reply a response webhook checks, as mutable
//! strings so its mask can be written back, in every format a reply
//! reaches the client in: the generated text only (what
//! [`crate::reply_guard`] masks too), never tool-call arguments or ids.
//! Each text goes to the webhook as one choice with role `assistant`.

use serde_json::{Map, Value};

use crate::reply_guard::Format;

/// The texts of `reply` in document order.
pub fn of(format: Format, reply: &mut Map<String, Value>) -> Vec<&mut String> {
    let mut out = Vec::new();
    match format {
        Format::Chat => {
            for choice in array(reply.get_mut("choices")) {
                let Value::Object(choice) = choice else {
                    continue;
                };
                for (key, value) in choice.iter_mut() {
                    match (key.as_str(), value) {
                        ("message", Value::Object(message)) => {
                            content(message.get_mut("content"), &mut out);
                        }
                        // Legacy completions.
                        ("text", Value::String(text)) => out.push(text),
                        _ => {}
                    }
                }
            }
        }
        Format::Messages => content(reply.get_mut("content"), &mut out),
        Format::Responses => {
            for item in array(reply.get_mut("output")) {
                if let Value::Object(item) = item {
                    content(item.get_mut("content"), &mut out);
                }
            }
        }
        Format::Gemini => {
            for candidate in array(reply.get_mut("candidates")) {
                if let Some(Value::Object(c)) = candidate.get_mut("content") {
                    content(c.get_mut("parts"), &mut out);
                }
            }
        }
        Format::Converse => {
            if let Some(Value::Object(output)) = reply.get_mut("output") {
                if let Some(Value::Object(message)) = output.get_mut("message") {
                    content(message.get_mut("content"), &mut out);
                }
            }
        }
    }
    out
}

fn array(value: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    match value {
        Some(Value::Array(items)) => Some(items.iter_mut()),
        _ => None,
    }
    .into_iter()
    .flatten()
}

/// A string, or parts each with a string `text` (whatever their `type`:
/// text the client reads but the webhook does not see would pass
/// unchecked).
fn content<'a>(value: Option<&'a mut Value>, out: &mut Vec<&'a mut String>) {
    match value {
        Some(Value::String(text)) => out.push(text),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Value::Object(part) = part {
                    if let Some(Value::String(text)) = part.get_mut("text") {
                        out.push(text);
                    }
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

    #[test]
    fn texts_of_each_format() {
        let cases = [
            (
                Format::Chat,
                json!({"choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "a"}},
                    {"index": 1, "message": {"role": "assistant", "content": null,
                        "tool_calls": [{"function": {"arguments": "{\"q\":1}"}}]}},
                    {"index": 2, "message": {"role": "assistant", "content": [{"type": "text", "text": "b"}]}},
                ]}),
                vec!["a", "b"],
            ),
            (
                Format::Chat,
                json!({"choices": [{"text": "legacy"}]}),
                vec!["legacy"],
            ),
            (
                Format::Messages,
                json!({"content": [
                    {"type": "text", "text": "a"},
                    {"type": "tool_use", "input": {"text": "not generated prose"}},
                    {"type": "text", "text": "b"},
                ]}),
                vec!["a", "b"],
            ),
            (
                Format::Responses,
                json!({"output": [
                    {"type": "reasoning", "summary": []},
                    {"type": "message", "content": [{"type": "output_text", "text": "a"}]},
                ]}),
                vec!["a"],
            ),
            (
                Format::Gemini,
                json!({"candidates": [{"content": {"parts": [{"text": "a"}, {"functionCall": {}}]}}]}),
                vec!["a"],
            ),
            (
                Format::Converse,
                json!({"output": {"message": {"content": [{"text": "a"}, {"toolUse": {}}]}}}),
                vec!["a"],
            ),
            (Format::Chat, json!({"error": "x"}), vec![]),
        ];
        for (format, reply, want) in cases {
            let Value::Object(mut reply) = reply else {
                panic!("not an object")
            };
            let got: Vec<String> = of(format, &mut reply)
                .into_iter()
                .map(|t| t.clone())
                .collect();
            assert_eq!(got, want, "{format:?}");
        }
    }

    #[test]
    fn a_mask_writes_back() {
        let Value::Object(mut reply) =
            json!({"choices": [{"message": {"role": "assistant", "content": "call 555-1234"}}]})
        else {
            panic!("not an object")
        };
        for text in of(Format::Chat, &mut reply) {
            *text = "call <PHONE>".into();
        }
        assert_eq!(reply["choices"][0]["message"]["content"], "call <PHONE>");
    }
}
