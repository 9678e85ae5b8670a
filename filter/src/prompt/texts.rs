//! Every prompt text of a request, in the client's own format, as mutable
//! strings: what a guard checks and masks. A text the provider reads but the
//! guard does not see is a way around it, so this errs towards more: every
//! role's messages (an assistant turn a client wrote is prompt too), tool
//! results, and any content part with a string `text` whatever its `type`.
//! Shapes the format does not have (a number where text goes) hold no text;
//! the provider refuses them.

use serde_json::{Map, Value};

use super::Format;

/// The texts of `request`, in document order within each field.
pub(super) fn of(format: Format, request: &mut Map<String, Value>) -> Vec<&mut String> {
    let mut out = Vec::new();
    // `iter_mut` lends each member apart, so several fields can be held at once.
    for (key, value) in request.iter_mut() {
        match (format, key.as_str()) {
            (Format::Chat, "messages") => each_item(value, content_of, &mut out),
            (Format::Messages, "system") => parts(value, &mut out),
            (Format::Messages, "messages") => {
                each_item(value, content_of, &mut out);
            }
            (Format::Responses, "instructions") => string(value, &mut out),
            (Format::Responses, "input") => match value {
                Value::String(text) => out.push(text),
                items => each_item(items, responses_item, &mut out),
            },
            (Format::Embeddings, "input") => match value {
                Value::String(text) => out.push(text),
                // Token arrays hold no text.
                items => each_item(items, string, &mut out),
            },
            (Format::Gemini, "contents" | "systemInstruction" | "system_instruction") => {
                gemini(key, value, &mut out);
            }
            // countTokens may wrap a whole generateContent request.
            (Format::Gemini, "generateContentRequest" | "generate_content_request") => {
                if let Value::Object(inner) = value {
                    for (key, value) in inner.iter_mut() {
                        gemini(key, value, &mut out);
                    }
                }
            }
            (Format::Converse, "system") => parts(value, &mut out),
            (Format::Converse, "messages") => {
                each_item(value, content_of, &mut out);
            }
            _ => {}
        }
    }
    out
}

fn string<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    if let Value::String(text) = value {
        out.push(text);
    }
}

fn each_item<'a>(
    value: &'a mut Value,
    visit: impl Fn(&'a mut Value, &mut Vec<&'a mut String>),
    out: &mut Vec<&'a mut String>,
) {
    if let Value::Array(items) = value {
        for item in items {
            visit(item, out);
        }
    }
}

/// A message's `content`.
fn content_of<'a>(message: &'a mut Value, out: &mut Vec<&'a mut String>) {
    if let Some(content) = message.get_mut("content") {
        parts(content, out);
    }
}

/// A string, or a list of parts / blocks: each one's `text`, and the
/// `content` of a tool result (Anthropic's `tool_result`, Bedrock's
/// `toolResult`), itself a string or blocks.
fn parts<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => {
            for item in items {
                let Value::Object(part) = item else { continue };
                for (key, value) in part.iter_mut() {
                    match key.as_str() {
                        "text" => string(value, out),
                        "content" => parts(value, out),
                        "toolResult" => content_of(value, out),
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
}

/// A Responses `input` item: a message (`content` a string or parts) or a
/// function call's output.
fn responses_item<'a>(item: &'a mut Value, out: &mut Vec<&'a mut String>) {
    let Value::Object(item) = item else { return };
    for (key, value) in item.iter_mut() {
        match key.as_str() {
            "content" => parts(value, out),
            "output" => string(value, out),
            _ => {}
        }
    }
}

/// Gemini's `contents` (turns of `parts`) or `systemInstruction` (one
/// `parts`), by either JSON spelling.
fn gemini<'a>(key: &str, value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    let parts_of = |turn: &'a mut Value, out: &mut Vec<&'a mut String>| {
        if let Some(parts) = turn.get_mut("parts") {
            each_item(parts, text_of, out);
        }
    };
    match key {
        "contents" => each_item(value, parts_of, out),
        "systemInstruction" | "system_instruction" => parts_of(value, out),
        _ => {}
    }
}

fn text_of<'a>(part: &'a mut Value, out: &mut Vec<&'a mut String>) {
    if let Some(text) = part.get_mut("text") {
        string(text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(format: Format, request: Value) -> Vec<String> {
        let Value::Object(mut request) = request else {
            panic!("not an object")
        };
        of(format, &mut request)
            .into_iter()
            .map(|t| t.clone())
            .collect()
    }

    #[test]
    fn finds_every_prompt_text_of_each_format() {
        let cases = [
            (
                Format::Chat,
                json!({"model": "m", "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "u1"},
                        {"type": "image_url", "image_url": {"url": "data:x"}},
                        {"type": "text", "text": "u2"}]},
                    {"role": "assistant", "content": null, "tool_calls": []},
                    {"role": "tool", "tool_call_id": "c", "content": "t"},
                    {"role": "user", "content": 7}]}),
                vec!["s", "u1", "u2", "t"],
            ),
            (
                Format::Messages,
                json!({"system": "s", "messages": [
                    {"role": "user", "content": "u"},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "a"},
                        {"type": "tool_use", "id": "c", "name": "f", "input": {"text": "no"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "c", "content": "r1"},
                        {"type": "tool_result", "tool_use_id": "d", "content": [
                            {"type": "text", "text": "r2"}]},
                        {"type": "text", "text": "u2"}]}]}),
                vec!["s", "u", "a", "r1", "r2", "u2"],
            ),
            (
                Format::Messages,
                json!({"system": [{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}],
                       "messages": []}),
                vec!["s1", "s2"],
            ),
            (
                Format::Responses,
                json!({"instructions": "i", "input": "u"}),
                vec!["i", "u"],
            ),
            (
                Format::Responses,
                json!({"input": [
                    {"role": "user", "content": "u"},
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_text", "text": "u2"},
                        {"type": "input_image", "image_url": "https://x"}]},
                    {"type": "message", "role": "assistant", "content": [
                        {"type": "output_text", "text": "a"}]},
                    {"type": "function_call", "call_id": "c", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c", "output": "o"}]}),
                vec!["u", "u2", "a", "o"],
            ),
            (Format::Embeddings, json!({"input": "e"}), vec!["e"]),
            (
                Format::Embeddings,
                json!({"input": ["e1", "e2"]}),
                vec!["e1", "e2"],
            ),
            (Format::Embeddings, json!({"input": [[1, 2], [3]]}), vec![]),
            (
                Format::Gemini,
                json!({"systemInstruction": {"parts": [{"text": "s"}]},
                       "contents": [
                           {"role": "user", "parts": [{"text": "u"}, {"inlineData": {"data": "x"}}]},
                           {"role": "model", "parts": [{"text": "a"}]}]}),
                vec!["s", "u", "a"],
            ),
            (
                Format::Gemini,
                json!({"system_instruction": {"parts": [{"text": "s"}]},
                       "generateContentRequest": {"contents": [{"parts": [{"text": "u"}]}]}}),
                vec!["s", "u"],
            ),
            (
                Format::Converse,
                json!({"system": [{"text": "s"}, {"guardContent": {}}],
                       "messages": [
                           {"role": "user", "content": [{"text": "u"}, {"image": {}}]},
                           {"role": "assistant", "content": [{"toolUse": {"toolUseId": "c", "input": {"text": "no"}}}]},
                           {"role": "user", "content": [{"toolResult": {"toolUseId": "c",
                               "content": [{"text": "r"}, {"json": {"text": "no"}}]}}]}]}),
                vec!["s", "u", "r"],
            ),
        ];
        for (format, request, want) in cases {
            let mut got = texts(format, request.clone());
            let mut want: Vec<String> = want.into_iter().map(Into::into).collect();
            // Field order is the map's, not the format's concern.
            got.sort();
            want.sort();
            assert_eq!(got, want, "{format:?} {request}");
        }
    }

    #[test]
    fn other_formats_fields_are_not_prompts() {
        // A chat body read as Gemini, and so on: nothing.
        let chat = json!({"messages": [{"role": "user", "content": "u"}], "input": "x"});
        assert_eq!(texts(Format::Gemini, chat.clone()), Vec::<String>::new());
        assert_eq!(
            texts(Format::Chat, json!({"input": "x", "prompt": "p"})),
            Vec::<String>::new()
        );
        assert_eq!(texts(Format::Embeddings, chat), vec!["x".to_owned()]);
    }

    #[test]
    fn texts_are_the_requests_own_strings() {
        let Value::Object(mut request) = json!({"messages": [{"role": "user", "content": "a"}]})
        else {
            unreachable!()
        };
        for text in of(Format::Chat, &mut request) {
            text.push('!');
        }
        assert_eq!(request["messages"][0]["content"], "a!");
    }
}
