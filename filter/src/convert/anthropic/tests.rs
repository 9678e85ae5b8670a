use super::*;
use serde_json::json;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/conversion/anthropic/"
);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const NO_MODEL: Target<'static> = Target { model: None };

fn convert(openai: &Value, target: Target<'_>) -> Result<NativeRequest, ConvertError> {
    ToAnthropic.request(&serde_json::to_vec(openai).unwrap(), target)
}

fn body(native: &NativeRequest) -> Value {
    serde_json::from_slice(&native.body).unwrap()
}

/// The events of an OpenAI stream; panics unless every event is framed
/// `data: <payload>\n\n`. `[DONE]` is kept as a string.
fn events(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text}");
    text.split_terminator("\n\n")
        .map(|event| {
            let payload = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"));
            assert!(!payload.contains('\n'), "{event:?}");
            if payload == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(payload).unwrap()
            }
        })
        .collect()
}

fn native(include_usage: bool) -> NativeRequest {
    NativeRequest {
        body: Vec::new(),
        stream: true,
        include_usage,
        model: "claude-requested".into(),
    }
}

/// The whole conversion of `chunks` fed in order, then `end()`.
fn stream(include_usage: bool, chunks: &[&[u8]]) -> Vec<u8> {
    let mut conversion = ToAnthropic.stream(&native(include_usage));
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(conversion.feed(chunk));
    }
    out.extend(conversion.end());
    out
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"type": "text", "text": text}]})
}

// ---------------------------------------------------------------- request

#[test]
fn request_golden() {
    let native = ToAnthropic
        .request(&fixture("request.openai.json"), NO_MODEL)
        .unwrap();
    assert_eq!(body(&native), json_fixture("request.anthropic.json"));
    assert_eq!(
        (native.stream, native.include_usage, native.model.as_str()),
        (true, true, "claude-sonnet-4-5")
    );
}

#[test]
fn request_fields() {
    let hi = json!([{"role": "user", "content": "Hi"}]);
    // (case, OpenAI request, the route's model, Anthropic request)
    let cases: Vec<(&str, Value, Option<&str>, Value)> = vec![
        (
            "minimal: max_tokens defaults",
            json!({"model": "claude-x", "messages": hi}),
            None,
            json!({"model": "claude-x", "messages": [user("Hi")], "max_tokens": 4096}),
        ),
        (
            "the route's model wins",
            json!({"model": "gpt-4o", "messages": hi}),
            Some("claude-y"),
            json!({"model": "claude-y", "messages": [user("Hi")], "max_tokens": 4096}),
        ),
        (
            "the route's model when the client names none",
            json!({"messages": hi}),
            Some("claude-y"),
            json!({"model": "claude-y", "messages": [user("Hi")], "max_tokens": 4096}),
        ),
        (
            "system and developer hoisted into text blocks, same roles merged, empty text dropped",
            json!({"model": "m", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "a"},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}, {"type": "text", "text": ""}]},
                {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": ""}]},
                {"role": "user", "content": ""},
                {"role": "assistant", "content": "c", "name": "bot"},
                {"role": "assistant", "content": [{"type": "text", "text": "d"}, {"type": "refusal", "refusal": "no"}]},
                {"role": "assistant", "content": null},
            ]}),
            None,
            json!({
                "model": "m",
                "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "c"}, {"type": "text", "text": "d"}, {"type": "text", "text": "no"}
                    ]},
                ],
                "max_tokens": 4096,
            }),
        ),
        (
            "images by URL and data URL, a PDF file",
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
            ]}]}),
            None,
            json!({"model": "m", "max_tokens": 4096, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
            ]}]}),
        ),
        (
            "tool call without arguments, text beside it, a tool result with no content",
            json!({"model": "m", "messages": [
                {"role": "assistant", "content": "Looking.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "now", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": null},
            ]}),
            None,
            json!({"model": "m", "max_tokens": 4096, "messages": [
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "call_1", "name": "now", "input": {}},
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": ""}]},
            ]}),
        ),
        (
            "tools: missing parameters, strict; required",
            json!({"model": "m", "messages": hi, "tool_choice": "required", "tools": [
                {"type": "function", "function": {"name": "now"}},
                {"type": "function", "function": {"name": "add", "description": "Adds", "strict": true,
                    "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}},
            ]}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096,
            "tool_choice": {"type": "any"},
            "tools": [
                {"name": "now", "input_schema": {"type": "object", "properties": {}}},
                {"name": "add", "description": "Adds", "strict": true,
                    "input_schema": {"type": "object", "properties": {"a": {"type": "number"}}}},
            ]}),
        ),
        (
            "a named tool, serial",
            json!({"model": "m", "messages": hi, "parallel_tool_calls": false,
                "tool_choice": {"type": "function", "function": {"name": "now"}},
                "tools": [{"type": "function", "function": {"name": "now"}}]}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096,
                "tool_choice": {"type": "tool", "name": "now", "disable_parallel_tool_use": true},
                "tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]}),
        ),
        (
            "serial without a choice is auto",
            json!({"model": "m", "messages": hi, "parallel_tool_calls": false,
                "tools": [{"type": "function", "function": {"name": "now"}}]}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096,
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
                "tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]}),
        ),
        (
            "none stays none when serial",
            json!({"model": "m", "messages": hi, "parallel_tool_calls": false, "tool_choice": "none",
                "tools": [{"type": "function", "function": {"name": "now"}}]}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096,
                "tool_choice": {"type": "none"},
                "tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]}),
        ),
        (
            "serial without tools: nothing",
            json!({"model": "m", "messages": hi, "parallel_tool_calls": false, "tools": []}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096}),
        ),
        (
            "max_completion_tokens wins; sampling, stop list, user; dropped fields",
            json!({"model": "m", "messages": hi, "max_completion_tokens": 300, "max_tokens": 100,
                "temperature": 1, "top_p": 0.9, "stop": ["END", "STOP"], "user": "u-1", "n": 1,
                "stream": false, "logprobs": false, "frequency_penalty": 1, "presence_penalty": 1, "seed": 7,
                "logit_bias": {"50256": -100}, "store": true, "metadata": {"a": "b"}, "service_tier": "auto",
                "top_logprobs": null, "modalities": ["text"], "audio": null, "functions": null,
                "response_format": {"type": "text"}, "stream_options": {"include_usage": true}}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 300, "temperature": 1,
                "top_p": 0.9, "stop_sequences": ["END", "STOP"], "metadata": {"user_id": "u-1"}}),
        ),
        (
            "max_tokens alone; empty stop list",
            json!({"model": "m", "messages": hi, "max_tokens": 100, "stop": []}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 100}),
        ),
        (
            "json_schema → output_config",
            json!({"model": "m", "messages": hi, "response_format": {"type": "json_schema",
                "json_schema": {"name": "answer", "strict": true,
                    "schema": {"type": "object", "properties": {"x": {"type": "string"}}}}}}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096,
                "output_config": {"format": {"type": "json_schema",
                    "schema": {"type": "object", "properties": {"x": {"type": "string"}}}}}}),
        ),
        (
            "reasoning low without a limit: budget plus the default",
            json!({"model": "m", "messages": hi, "reasoning_effort": "low"}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 5120,
                "thinking": {"type": "enabled", "budget_tokens": 1024}}),
        ),
        (
            "reasoning high inside the limit",
            json!({"model": "m", "messages": hi, "reasoning_effort": "high", "max_completion_tokens": 20000}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 20000,
                "thinking": {"type": "enabled", "budget_tokens": 16384}}),
        ),
        (
            "reasoning medium above the limit: the budget shrinks",
            json!({"model": "m", "messages": hi, "reasoning_effort": "medium", "max_tokens": 2000}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 2000,
                "thinking": {"type": "enabled", "budget_tokens": 1999}}),
        ),
        (
            "reasoning none",
            json!({"model": "m", "messages": hi, "reasoning_effort": "none"}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "max_tokens": 4096}),
        ),
    ];
    for (name, openai, model, want) in cases {
        let native = convert(&openai, Target { model }).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(body(&native), want, "{name}");
    }
}

#[test]
fn request_flags_and_model() {
    // (request, stream, include_usage, model)
    let cases = [
        (json!({"model": "m", "messages": []}), false, false, "m"),
        (
            json!({"model": "m", "messages": [], "stream": true}),
            true,
            false,
            "m",
        ),
        (
            json!({"model": "m", "messages": [], "stream": true, "stream_options": {"include_usage": true}}),
            true,
            true,
            "m",
        ),
        (
            json!({"model": "m", "messages": [], "stream": true, "stream_options": {"include_usage": false}}),
            true,
            false,
            "m",
        ), // No usage chunk without a stream (found by the `conversions`
        // fuzz target: `stream` misspelled, `stream_options` kept).
        (
            json!({"model": "m", "messages": [], "stream_options": {"include_usage": true}}),
            false,
            false,
            "m",
        ),
        (
            json!({"model": "m", "messages": [], "stream": false, "stream_options": {"include_usage": true}}),
            false,
            false,
            "m",
        ),
    ];
    for (openai, stream, include_usage, model) in cases {
        let native = convert(&openai, NO_MODEL).unwrap();
        assert_eq!(
            (native.stream, native.include_usage, native.model.as_str()),
            (stream, include_usage, model),
            "{openai}"
        );
    }
}

#[test]
fn request_refusals() {
    let hi = json!([{"role": "user", "content": "Hi"}]);
    let with = |extra: Value| {
        let mut req = json!({"model": "m", "messages": hi});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        serde_json::to_vec(&req).unwrap()
    };
    let call = |arguments: &str| {
        with(json!({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        ]}]}))
    };
    let part = |part: Value| with(json!({"messages": [{"role": "user", "content": [part]}]}));
    // (case, body, message, param)
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        ("not JSON", b"{\"model\":".to_vec(), "the request body ends before its JSON is complete (EOF while parsing a value at line 1 column 9)", None),
        ("not an object", b"[1]".to_vec(), "the request body is JSON but not an object", None),
        ("no model", br#"{"messages":[]}"#.to_vec(), "`model` is required", Some("model")),
        ("empty model", br#"{"model":"","messages":[]}"#.to_vec(), "`model` is required", Some("model")),
        ("no messages", br#"{"model":"m"}"#.to_vec(), "`messages` must be an array", Some("messages")),
        ("messages not an array", br#"{"model":"m","messages":{}}"#.to_vec(), "`messages` must be an array", Some("messages")),
        ("n", with(json!({"n": 2})), "Anthropic returns one choice per request: `n` must be 1", Some("n")),
        ("logprobs", with(json!({"logprobs": true})), "Anthropic does not return log probabilities: `logprobs` is not supported", Some("logprobs")),
        ("audio", with(json!({"audio": {"voice": "alloy", "format": "mp3"}})), "Anthropic does not produce audio: `audio` is not supported", Some("audio")),
        ("functions", with(json!({"functions": [{"name": "f"}]})), "`functions` is not supported for this model; use `tools`", Some("functions")),
        ("unparsable arguments", call("{\"a\":"), "messages[0]: the arguments of tool call \"call_1\" are not valid JSON: EOF while parsing a value at line 1 column 5", Some("messages")),
        ("arguments not an object", call("[1]"), "messages[0]: the arguments of tool call \"call_1\" are not a JSON object", Some("messages")),
        ("tool call without id", with(json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]})), "messages[0]: a tool call needs `id` and `function.name`", Some("messages")),
        ("tool_calls not an array", with(json!({"messages": [{"role": "assistant", "tool_calls": {}}]})), "messages[0]: `tool_calls` must be an array", Some("messages")),
        ("tool message without id", with(json!({"messages": [{"role": "tool", "content": "x"}]})), "messages[0]: a tool message needs `tool_call_id`", Some("messages")),
        ("legacy function role", with(json!({"messages": [{"role": "function", "name": "f", "content": "x"}]})), "messages[0]: role \"function\" is not supported", Some("messages")),
        ("no role", with(json!({"messages": [{"content": "x"}]})), "messages[0]: role \"\" is not supported", Some("messages")),
        ("content a number", with(json!({"messages": [{"role": "user", "content": 5}]})), "messages[0]: `content` must be a string or an array", Some("messages")),
        ("image in system", with(json!({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})), "messages[0]: content part \"image_url\" is not supported here (text only)", Some("messages")),
        ("audio part", part(json!({"type": "input_audio", "input_audio": {"data": "", "format": "wav"}})), "messages[0]: content part \"input_audio\" is not supported by Anthropic", Some("messages")),
        ("text part without text", part(json!({"type": "text"})), "messages[0]: a text part needs `text`", Some("messages")),
        ("image without url", part(json!({"type": "image_url", "image_url": {}})), "messages[0]: an image_url part needs `image_url.url`", Some("messages")),
        ("ftp image", part(json!({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}})), "messages[0]: an image URL must be http(s) or a base64 data URL (data:<type>;base64,...)", Some("messages")),
        ("data URL not base64", part(json!({"type": "image_url", "image_url": {"url": "data:image/svg+xml,<svg/>"}})), "messages[0]: an image URL must be http(s) or a base64 data URL (data:<type>;base64,...)", Some("messages")),
        ("file by id", part(json!({"type": "file", "file": {"file_id": "file-abc"}})), "messages[0]: a file part needs `file.file_data` as a base64 data URL (`file_id` cannot be read by Anthropic)", Some("messages")),
        ("tools not an array", with(json!({"tools": {}})), "`tools` must be an array", Some("tools")),
        ("custom tool", with(json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]})), "tools[0]: only tools of type function with `function.name` are supported", Some("tools")),
        ("tool_choice unknown", with(json!({"tool_choice": "sometimes"})), "`tool_choice` must be auto, required, none or {\"type\": \"function\", \"function\": {\"name\": ...}}", Some("tool_choice")),
        ("tool_choice allowed_tools", with(json!({"tool_choice": {"type": "allowed_tools"}})), "`tool_choice` must be auto, required, none or {\"type\": \"function\", \"function\": {\"name\": ...}}", Some("tool_choice")),
        ("json_object", with(json!({"response_format": {"type": "json_object"}})), "Anthropic has no schema-less JSON mode: use `response_format` of type json_schema", Some("response_format")),
        ("json_schema without schema", with(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})), "`response_format.json_schema.schema` must be a JSON schema object", Some("response_format")),
        ("response_format unknown", with(json!({"response_format": {"type": "grammar"}})), "`response_format.type` must be text or json_schema", Some("response_format")),
        ("reasoning_effort unknown", with(json!({"reasoning_effort": "extreme"})), "`reasoning_effort` \"extreme\" is not one of none, minimal, low, medium, high", Some("reasoning_effort")),
        ("reasoning_effort number", with(json!({"reasoning_effort": 3})), "`reasoning_effort` must be a string", Some("reasoning_effort")),
        ("limit too small for thinking", with(json!({"reasoning_effort": "minimal", "max_tokens": 1024})), "`max_tokens` 1024 leaves no room for thinking: Anthropic's smallest thinking budget is 1024 tokens; raise it or set `reasoning_effort` to none", Some("max_tokens")),
        ("max_tokens zero", with(json!({"max_tokens": 0})), "`max_tokens` must be a positive integer", Some("max_tokens")),
        ("max_completion_tokens a string", with(json!({"max_completion_tokens": "10"})), "`max_completion_tokens` must be a positive integer", Some("max_completion_tokens")),
        ("stop a number", with(json!({"stop": 5})), "`stop` must be a string or an array of strings", Some("stop")),
    ];
    for (name, body, message, param) in cases {
        let err = ToAnthropic.request(&body, NO_MODEL).unwrap_err();
        assert_eq!(err, ConvertError::new(message, param), "{name}");
    }
}

// ---------------------------------------------------------------- reply

#[test]
fn response_golden() {
    let out = ToAnthropic
        .response(&fixture("message.json"), "claude-sonnet-4-5")
        .unwrap();
    let got: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(got, json_fixture("message.openai.json"));
}

#[test]
fn response_fields() {
    let reply = |content: Value, stop: Value, extra: Value| {
        let mut r = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-z",
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 4}});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let completion = |message: Value, finish: &str, model: &str, usage: Value| {
        json!({"id": "msg_1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage})
    };
    let usage_3_4 = json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0}});
    let text = |t: &str| json!({"role": "assistant", "content": t, "refusal": null});
    let hello = json!([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]);
    // (case, Anthropic reply, chat.completion)
    let cases = vec![
        (
            "text blocks joined, end_turn",
            reply(hello.clone(), json!("end_turn"), json!({})),
            completion(text("Hello"), "stop", "claude-z", usage_3_4.clone()),
        ),
        (
            "max_tokens",
            reply(hello.clone(), json!("max_tokens"), json!({})),
            completion(text("Hello"), "length", "claude-z", usage_3_4.clone()),
        ),
        (
            "stop_sequence",
            reply(
                hello.clone(),
                json!("stop_sequence"),
                json!({"stop_sequence": "END"}),
            ),
            completion(text("Hello"), "stop", "claude-z", usage_3_4.clone()),
        ),
        (
            "refusal, empty content",
            reply(json!([]), json!("refusal"), json!({})),
            completion(text(""), "content_filter", "claude-z", usage_3_4.clone()),
        ),
        (
            "pause_turn; server tool blocks and redacted thinking dropped",
            reply(
                json!([
                    {"type": "redacted_thinking", "data": "abc"},
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    {"type": "text", "text": "Searching"},
                ]),
                json!("pause_turn"),
                json!({}),
            ),
            completion(text("Searching"), "stop", "claude-z", usage_3_4.clone()),
        ),
        (
            "tool use only: content null; unknown stop reason; no model in the reply",
            reply(
                json!([{"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}]),
                json!("something_new"),
                json!({"model": null}),
            ),
            completion(
                json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
                ]}),
                "stop",
                "claude-requested",
                usage_3_4.clone(),
            ),
        ),
        (
            "cache creation counts as prompt, not as cached",
            reply(
                hello.clone(),
                json!("end_turn"),
                json!({"usage": {"input_tokens": 3, "output_tokens": 4,
                    "cache_creation_input_tokens": 10, "cache_read_input_tokens": null}}),
            ),
            completion(
                text("Hello"),
                "stop",
                "claude-z",
                json!({"prompt_tokens": 13, "completion_tokens": 4, "total_tokens": 17,
                    "prompt_tokens_details": {"cached_tokens": 0}}),
            ),
        ),
        (
            "no usage",
            reply(hello, json!(null), json!({"usage": null})),
            completion(
                text("Hello"),
                "stop",
                "claude-z",
                json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                    "prompt_tokens_details": {"cached_tokens": 0}}),
            ),
        ),
    ];
    for (name, anthropic, want) in cases {
        let out = ToAnthropic
            .response(&serde_json::to_vec(&anthropic).unwrap(), "claude-requested")
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let got: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn response_not_a_message() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"",
            "the Anthropic reply is not valid JSON: EOF while parsing a value at line 1 column 0",
        ),
        (
            b"<html>",
            "the Anthropic reply is not valid JSON: expected value at line 1 column 1",
        ),
        (
            b"{\"type\":\"message\"}",
            "the Anthropic reply is not a message (it has no `content` array)",
        ),
        (
            b"[]",
            "the Anthropic reply is not a message (it has no `content` array)",
        ),
    ];
    for (body, message) in cases {
        let err = ToAnthropic.response(body, "m").unwrap_err();
        assert_eq!(err, ConvertError::new(*message, None), "{body:?}");
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn error_golden() {
    let got: Value =
        serde_json::from_slice(&ToAnthropic.error(529, &fixture("error.json"))).unwrap();
    assert_eq!(got, json_fixture("error.openai.json"));
}

#[test]
fn errors() {
    let anthropic = |kind: &str, message: &str| {
        serde_json::to_vec(&json!({"type": "error", "error": {"type": kind, "message": message}}))
            .unwrap()
    };
    // (status, body, message, type, code)
    let cases: Vec<(u16, Vec<u8>, &str, &str, Option<&str>)> = vec![
        (
            400,
            anthropic("invalid_request_error", "max_tokens: Field required"),
            "max_tokens: Field required",
            "invalid_request_error",
            Some("invalid_request_error"),
        ),
        (
            401,
            anthropic("authentication_error", "invalid x-api-key"),
            "invalid x-api-key",
            "authentication_error",
            Some("authentication_error"),
        ),
        (
            403,
            anthropic("permission_error", "no"),
            "no",
            "permission_error",
            Some("permission_error"),
        ),
        (
            404,
            anthropic("not_found_error", "model: x"),
            "model: x",
            "invalid_request_error",
            Some("not_found_error"),
        ),
        (
            413,
            anthropic("request_too_large", "too big"),
            "too big",
            "invalid_request_error",
            Some("request_too_large"),
        ),
        (
            429,
            anthropic("rate_limit_error", "slow down"),
            "slow down",
            "rate_limit_error",
            Some("rate_limit_error"),
        ),
        (
            500,
            anthropic("api_error", "oops"),
            "oops",
            "api_error",
            Some("api_error"),
        ),
        (
            400,
            br#"{"error":{"message":"untyped"}}"#.to_vec(),
            "untyped",
            "invalid_request_error",
            None,
        ),
        (
            502,
            b"<html>Bad Gateway</html>".to_vec(),
            "the provider answered HTTP 502 without an error in Anthropic's format",
            "api_error",
            None,
        ),
        (
            503,
            Vec::new(),
            "the provider answered HTTP 503 without an error in Anthropic's format",
            "api_error",
            None,
        ),
        (
            429,
            br#"{"error":"slow"}"#.to_vec(),
            "the provider answered HTTP 429 without an error in Anthropic's format",
            "rate_limit_error",
            None,
        ),
    ];
    for (status, body, message, kind, code) in cases {
        let got: Value = serde_json::from_slice(&ToAnthropic.error(status, &body)).unwrap();
        assert_eq!(
            got,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
            "{status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

// ---------------------------------------------------------------- stream

/// (fixture, include_usage)
const STREAMS: &[(&str, bool)] = &[
    ("stream-text", true),
    ("stream-tool-use", false),
    ("stream-error", false),
];

#[test]
fn stream_golden() {
    for (name, include_usage) in STREAMS {
        let input = fixture(&format!("{name}.sse"));
        let want = events(&fixture(&format!("{name}.openai.sse")));
        assert_eq!(events(&stream(*include_usage, &[&input])), want, "{name}");
    }
}

#[test]
fn stream_same_output_at_every_split() {
    for (name, include_usage) in STREAMS {
        let input = fixture(&format!("{name}.sse"));
        let whole = stream(*include_usage, &[&input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(
                stream(*include_usage, &[a, b]),
                whole,
                "{name} split at {i}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(stream(*include_usage, &bytes), whole, "{name} byte by byte");
    }
}

#[test]
fn stream_emits_as_events_complete() {
    let input = fixture("stream-text.sse");
    let mut conversion = ToAnthropic.stream(&native(false));
    let first_event_end = input.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    assert_eq!(conversion.feed(&input[..first_event_end - 1]), b"");
    let out = conversion.feed(&input[first_event_end - 1..first_event_end]);
    assert_eq!(
        events(&out).len(),
        1,
        "the role chunk as soon as message_start is complete"
    );
}

fn chunk(delta: Value, finish: Value, usage: bool) -> Value {
    let mut c = json!({"id": "msg_1", "object": "chat.completion.chunk", "created": 0, "model": "claude-s",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    if usage {
        c["usage"] = Value::Null;
    }
    c
}

#[test]
fn stream_cases() {
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-s\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n";
    let text = |t: &str| {
        format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{t}\"}}}}\n\n")
    };
    let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let role = json!({"role": "assistant", "content": ""});
    let done = json!("[DONE]");
    let usage = |prompt: u64, completion: u64| {
        json!({"id": "msg_1", "object": "chat.completion.chunk", "created": 0, "model": "claude-s",
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": 0}}})
    };
    // (case, include_usage, Anthropic stream, OpenAI events)
    let cases: Vec<(&str, bool, String, Vec<Value>)> = vec![
        ("empty stream", true, String::new(), vec![done.clone()]),
        (
            "usage chunk at message_stop, once, even without a message_delta",
            true,
            format!("{start}{}{stop}{stop}", text("a")),
            vec![
                chunk(role.clone(), Value::Null, true),
                chunk(json!({"content": "a"}), Value::Null, true),
                usage(5, 1),
                done.clone(),
            ],
        ),
        (
            "usage chunk at the end without message_stop; message_delta without stop_reason only counts",
            true,
            format!("{start}event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{}},\"usage\":{{\"output_tokens\":9,\"input_tokens\":6}}}}\n\n"),
            vec![chunk(role.clone(), Value::Null, true), usage(6, 9), done.clone()],
        ),
        (
            "no usage without message_start; the request's model and an empty id",
            true,
            text("x"),
            vec![
                json!({"id": "", "object": "chat.completion.chunk", "created": 0, "model": "claude-requested",
                    "choices": [{"index": 0, "delta": role, "logprobs": null, "finish_reason": null}], "usage": null}),
                json!({"id": "", "object": "chat.completion.chunk", "created": 0, "model": "claude-requested",
                    "choices": [{"index": 0, "delta": {"content": "x"}, "logprobs": null, "finish_reason": null}], "usage": null}),
                done.clone(),
            ],
        ),
        (
            "last event without its blank line; CRLF; type from data over the event name",
            false,
            format!("{}event: ping\r\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"b\"}}}}", start.replace('\n', "\r\n")),
            vec![chunk(role.clone(), Value::Null, false), chunk(json!({"content": "b"}), Value::Null, false), done.clone()],
        ),
        (
            "text in a block start; empty deltas skipped; unknown deltas and events ignored",
            false,
            format!("{start}event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"pre\"}}}}\n\n{}event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"citations_delta\",\"citation\":{{}}}}}}\n\nevent: future_event\ndata: {{\"type\":\"future_event\"}}\n\n: comment\n\n", text("")),
            vec![chunk(role.clone(), Value::Null, false), chunk(json!({"content": "pre"}), Value::Null, false), done.clone()],
        ),
        (
            "arguments for a block that is not an open tool use are dropped",
            false,
            format!("{start}event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":4,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{}}\"}}}}\n\n"),
            vec![chunk(role.clone(), Value::Null, false), done.clone()],
        ),
        (
            "max_tokens and refusal finish reasons",
            false,
            format!("{start}event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"max_tokens\"}}}}\n\nevent: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"refusal\"}}}}\n\n"),
            vec![
                chunk(role.clone(), Value::Null, false),
                chunk(json!({}), json!("length"), false),
                chunk(json!({}), json!("content_filter"), false),
                done.clone(),
            ],
        ),
        (
            "an error event that is not JSON; events that are not JSON are skipped",
            false,
            "data: {not json\n\nevent: error\ndata: <html>\n\n".to_owned(),
            vec![
                json!({"error": {"message": "the provider reported an error in the stream", "type": "api_error", "param": null, "code": null}}),
                done.clone(),
            ],
        ),
        (
            "a rate limit error inside the stream",
            true,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}\n\n".to_owned(),
            vec![
                json!({"error": {"message": "slow", "type": "rate_limit_error", "param": null, "code": "rate_limit_error"}}),
                done,
            ],
        ),
    ];
    for (name, include_usage, input, want) in cases {
        let got = stream(include_usage, &[input.as_bytes()]);
        assert_eq!(events(&got), want, "{name}");
    }
}

#[test]
fn stream_ends_once() {
    let mut conversion = ToAnthropic.stream(&native(true));
    let _ = conversion.feed(&fixture("stream-text.sse"));
    assert_eq!(events(&conversion.end()), vec![json!("[DONE]")]);
    assert_eq!(conversion.end(), b"");
    assert_eq!(
        conversion.feed(b"data: {\"type\":\"message_stop\"}\n\n"),
        b""
    );
}

// ---------------------------------------------------------------- robustness

/// A small deterministic generator: the same "random" bytes every run.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

#[test]
fn arbitrary_bytes_never_panic() {
    let names = [
        "request.openai.json",
        "request.anthropic.json",
        "message.json",
        "error.json",
        "stream-text.sse",
        "stream-tool-use.sse",
        "stream-error.sse",
    ];
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for name in names {
        let bytes = fixture(name);
        for end in 0..=bytes.len() {
            inputs.push(bytes[..end].to_vec());
        }
        // The fixture with one byte replaced at a time, every 7th position.
        for (i, seed) in (0..bytes.len()).step_by(7).zip(1u64..) {
            let mut changed = bytes.clone();
            changed[i] = noise(seed, 1)[0];
            inputs.push(changed);
        }
    }
    for seed in 0..200u64 {
        inputs.push(noise(seed, (seed as usize * 13) % 700));
    }
    for input in &inputs {
        let _ = ToAnthropic.request(input, NO_MODEL);
        let _ = ToAnthropic.request(input, Target { model: Some("m") });
        let _ = ToAnthropic.response(input, "m");
        let _ = ToAnthropic.error(500, input);
        for include_usage in [false, true] {
            let whole = stream(include_usage, &[input]);
            let third = input.len() / 3;
            let parts = [
                &input[..third],
                &input[third..2 * third],
                &input[2 * third..],
            ];
            assert_eq!(stream(include_usage, &parts), whole);
        }
    }
}
