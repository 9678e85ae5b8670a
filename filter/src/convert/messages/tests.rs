use super::*;
use crate::convert::anthropic::ToAnthropic;
use crate::convert::test_support::{garbage, noise};
use crate::convert::ChatConversion as _;
use serde_json::json;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/conversion/messages/"
);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compares `got` with the golden file (JSON as values, SSE event by event),
/// or with `LLMGATE_BLESS=1` writes it for review.
fn golden(name: &str, got: &[u8]) {
    if std::env::var_os("LLMGATE_BLESS").is_some() {
        let bytes = if name.ends_with(".sse") {
            got.to_vec()
        } else {
            let value: Value = serde_json::from_slice(got).unwrap();
            let mut pretty = serde_json::to_vec_pretty(&value).unwrap();
            pretty.push(b'\n');
            pretty
        };
        std::fs::write(format!("{FIXTURES}{name}"), bytes).unwrap();
        return;
    }
    let want = fixture(name);
    if name.ends_with(".sse") {
        assert_eq!(events(got), events(&want), "{name}");
    } else {
        let got: Value = serde_json::from_slice(got).unwrap();
        let want: Value = serde_json::from_slice(&want).unwrap();
        assert_eq!(got, want, "{name}");
    }
}

const NO_MODEL: Target<'static> = Target { model: None };

fn convert(anthropic: &Value, target: Target<'_>) -> Result<NativeRequest, ConvertError> {
    FromMessages.request(&serde_json::to_vec(anthropic).unwrap(), target)
}

fn body(native: &NativeRequest) -> Value {
    serde_json::from_slice(&native.body).unwrap()
}

/// The events of an Anthropic stream as `{"event": name, "data": json}`;
/// panics unless every event is framed `event: <type>\ndata: <json>\n\n`
/// with the name equal to the data's `type`.
fn events(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text}");
    text.split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event
                .strip_prefix("event: ")
                .and_then(|e| e.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not an Anthropic event: {event:?}"));
            assert!(!data.contains('\n'), "{event:?}");
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], json!(name), "{event:?}");
            data
        })
        .collect()
}

fn native() -> NativeRequest {
    NativeRequest {
        body: Vec::new(),
        stream: true,
        include_usage: true,
        model: "gpt-requested".into(),
    }
}

/// The whole conversion of `pieces` fed in order, then `end()`.
fn stream(pieces: &[&[u8]]) -> Vec<u8> {
    let mut conversion = FromMessages.stream(&native());
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(conversion.feed(piece));
    }
    out.extend(conversion.end());
    out
}

/// Checks Anthropic's documented order: `message_start`; blocks each
/// `content_block_start`, deltas of the block's kind, `content_block_stop`,
/// indices from 0 in order; `message_delta`; `message_stop` last. A stream
/// may instead end with one `error` event.
fn assert_well_formed(events: &[Value], name: &str) {
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let (body, ended_by_error) = match kinds.split_last() {
        Some((&"error", rest)) => (rest, true),
        _ => (kinds.as_slice(), false),
    };
    if body.is_empty() {
        assert!(ended_by_error, "{name}: empty");
        return;
    }
    assert_eq!(body.first(), Some(&"message_start"), "{name}");
    let mut open: Option<(u64, String)> = None;
    let mut next = 0;
    for (event, kind) in events.iter().zip(body).skip(1) {
        match *kind {
            "content_block_start" => {
                assert!(open.is_none(), "{name}: block started while one is open");
                assert_eq!(event["index"], json!(next), "{name}");
                let block = event["content_block"]["type"].as_str().unwrap().to_owned();
                open = Some((next, block));
                next += 1;
            }
            "content_block_delta" => {
                let (index, block) = open.as_ref().expect("a delta outside a block");
                assert_eq!(event["index"], json!(index), "{name}");
                let want = match block.as_str() {
                    "text" => "text_delta",
                    "thinking" => "thinking_delta",
                    _ => "input_json_delta",
                };
                assert_eq!(event["delta"]["type"], json!(want), "{name}");
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("a stop outside a block");
                assert_eq!(event["index"], json!(index), "{name}");
            }
            "message_delta" | "message_stop" => assert!(open.is_none(), "{name}"),
            other => panic!("{name}: unexpected {other}"),
        }
    }
    if !ended_by_error {
        assert_eq!(
            body.get(body.len().saturating_sub(2)..),
            Some(&["message_delta", "message_stop"][..]),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- request

/// (Anthropic request, expected OpenAI request, stream)
const REQUESTS: &[(&str, &str, bool)] = &[
    (
        "request-tool-loop.json",
        "request-tool-loop.openai.json",
        true,
    ),
    ("request-media.json", "request-media.openai.json", false),
];

#[test]
fn request_golden() {
    for (input, output, stream) in REQUESTS {
        let native = FromMessages.request(&fixture(input), NO_MODEL).unwrap();
        golden(output, &native.body);
        assert_eq!(
            (native.stream, native.include_usage),
            (*stream, *stream),
            "{input}"
        );
        assert_eq!(native.model, json_fixture(input)["model"], "{input}");
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn request_fields() {
    let hi = json!([{"role": "user", "content": "Hi"}]);
    // (case, Anthropic request, the route's model, OpenAI request)
    let cases: Vec<(&str, Value, Option<&str>, Value)> = vec![
        (
            "minimal",
            json!({"model": "gpt-4o", "max_tokens": 10, "messages": hi}),
            None,
            json!({"model": "gpt-4o", "max_tokens": 10, "messages": [user("Hi")]}),
        ),
        (
            "the route's model wins; a reasoning model gets max_completion_tokens",
            json!({"model": "claude-x", "max_tokens": 10, "messages": hi}),
            Some("gpt-5-mini"),
            json!({"model": "gpt-5-mini", "max_completion_tokens": 10, "messages": [user("Hi")]}),
        ),
        (
            "the route's model when the client names none; no max_tokens",
            json!({"messages": hi}),
            Some("o4-mini"),
            json!({"model": "o4-mini", "messages": [user("Hi")]}),
        ),
        (
            "system blocks joined, empty ones and empty text dropped, thinking dropped",
            json!({"model": "m", "system": [{"type": "text", "text": "A."}, {"type": "text", "text": ""}, {"type": "text", "text": "B."}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": ""}, {"type": "text", "text": "b"}]},
                    {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xx"}, {"type": "text", "text": "c"}]},
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
                    {"role": "user", "content": []},
                ]}),
            None,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "A.\n\nB."},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "c"},
            ]}),
        ),
        (
            "an empty system is no message",
            json!({"model": "m", "system": "", "messages": hi}),
            None,
            json!({"model": "m", "messages": [user("Hi")]}),
        ),
        (
            "tool results before the rest of the user message, images from a result after them; text documents",
            json!({"model": "m", "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}, {"type": "tool_use", "id": "t2", "name": "now"}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "Here."},
                    {"type": "tool_result", "tool_use_id": "t1", "content": [
                        {"type": "text", "text": "a screenshot"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
                    ]},
                    {"type": "tool_result", "tool_use_id": "t2"},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
                ]},
            ]}),
            None,
            json!({"model": "m", "messages": [
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
                    {"id": "t2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "t1", "content": "a screenshot"},
                {"role": "tool", "tool_call_id": "t2", "content": ""},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
                    {"type": "text", "text": "Here."},
                    {"type": "text", "text": "notes"},
                ]},
            ]}),
        ),
        (
            "a user message of tool results only; an error result",
            json!({"model": "m", "messages": [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": true, "content": [{"type": "text", "text": "boom"}]}]},
            ]}),
            None,
            json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}]}),
        ),
        (
            "tools without schema, strict, custom type; tool_choice any, none, serial without tools",
            json!({"model": "m", "messages": hi, "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
                "tools": [{"name": "now"}, {"type": "custom", "name": "add", "description": "Adds", "strict": true,
                    "input_schema": {"type": "object", "properties": {"a": {"type": "number"}}}}]}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "tool_choice": "required", "parallel_tool_calls": false,
                "tools": [
                    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
                    {"type": "function", "function": {"name": "add", "description": "Adds", "strict": true,
                        "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}},
                ]}),
        ),
        (
            "tool_choice none with tools",
            json!({"model": "m", "messages": hi, "tool_choice": {"type": "none"}, "tools": [{"name": "now"}]}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "tool_choice": "none",
                "tools": [{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]}),
        ),
        (
            "tool_choice and serial without tools are dropped",
            json!({"model": "m", "messages": hi, "tools": [], "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}),
            None,
            json!({"model": "m", "messages": [user("Hi")]}),
        ),
        (
            "a reasoning model: max_completion_tokens, no temperature or top_p, reasoning_effort",
            json!({"model": "m", "max_tokens": 10, "messages": hi, "temperature": 1, "top_p": 0.5,
                "thinking": {"type": "enabled", "budget_tokens": 1024}}),
            Some("gpt-5"),
            json!({"model": "gpt-5", "max_completion_tokens": 10, "messages": [user("Hi")], "reasoning_effort": "low"}),
        ),
        (
            "a chat model: no reasoning_effort",
            json!({"model": "gpt-4.1", "max_tokens": 10, "messages": hi, "temperature": 1,
                "thinking": {"type": "enabled", "budget_tokens": 31999}}),
            None,
            json!({"model": "gpt-4.1", "max_tokens": 10, "messages": [user("Hi")], "temperature": 1}),
        ),
        (
            "thinking high",
            json!({"model": "m", "messages": hi, "thinking": {"type": "enabled", "budget_tokens": 8193}}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "reasoning_effort": "high"}),
        ),
        (
            "thinking budgets",
            json!({"model": "m", "messages": hi, "thinking": {"type": "enabled", "budget_tokens": 2048}}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "reasoning_effort": "low"}),
        ),
        (
            "thinking medium",
            json!({"model": "m", "messages": hi, "thinking": {"type": "enabled", "budget_tokens": 8192}}),
            None,
            json!({"model": "m", "messages": [user("Hi")], "reasoning_effort": "medium"}),
        ),
        (
            "thinking disabled; nulls; empty stop_sequences; empty metadata",
            json!({"model": "m", "messages": hi, "thinking": {"type": "disabled"}, "temperature": null,
                "stop_sequences": [], "metadata": {}, "tools": null, "tool_choice": null, "stream": false}),
            None,
            json!({"model": "m", "messages": [user("Hi")]}),
        ),
        (
            "structured output",
            json!({"model": "m", "messages": hi, "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}}),
            None,
            json!({"model": "m", "messages": [user("Hi")],
                "response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}}}}),
        ),
        (
            "dropped fields",
            json!({"model": "m", "messages": hi, "top_k": 5, "service_tier": "auto", "container": "c",
                "context_management": {}, "mcp_servers": [], "metadata": {"user_id": "", "x": 1}}),
            None,
            json!({"model": "m", "messages": [user("Hi")]}),
        ),
    ];
    for (name, anthropic, model, want) in cases {
        let native =
            convert(&anthropic, Target { model }).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(body(&native), want, "{name}");
    }
}

#[test]
fn model_families() {
    use ModelFamily::*;
    for (model, want) in [
        ("o1", OpenAiReasoning),
        ("o3-mini", OpenAiReasoning),
        ("o4-mini-2025-04-16", OpenAiReasoning),
        ("gpt-5", OpenAiReasoning),
        ("gpt-5.1-codex", OpenAiReasoning),
        ("openai/gpt-5-mini", OpenAiReasoning),
        ("GPT-5", OpenAiReasoning),
        ("gpt-4o", OpenAiChat),
        ("gpt-4o-mini-2024-07-18", OpenAiChat),
        ("gpt-4.1", OpenAiChat),
        ("gpt-4-turbo", OpenAiChat),
        ("gpt-3.5-turbo", OpenAiChat),
        ("chatgpt-4o-latest", OpenAiChat),
        ("o1x", Other),
        ("omni", Other),
        ("gpt-40", Other),
        ("llama-3.1-70b", Other),
        ("deepseek-reasoner", Other),
        ("my-azure-deployment", Other),
        ("", Other),
    ] {
        assert_eq!(model_family(model), want, "{model}");
    }
}

#[test]
fn request_refusals() {
    let hi = json!([{"role": "user", "content": "Hi"}]);
    // (case, Anthropic request, the field at fault)
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("not an object", json!([]), None),
        ("no model", json!({"messages": hi}), Some("model")),
        ("no messages", json!({"model": "m"}), Some("messages")),
        (
            "a system role",
            json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}),
            Some("messages"),
        ),
        (
            "content neither string nor array",
            json!({"model": "m", "messages": [{"role": "user", "content": 1}]}),
            Some("messages"),
        ),
        (
            "a server tool",
            json!({"model": "m", "messages": hi, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            Some("tools"),
        ),
        (
            "a bash tool",
            json!({"model": "m", "messages": hi, "tools": [{"type": "bash_20250124", "name": "bash"}]}),
            Some("tools"),
        ),
        (
            "a tool without a name",
            json!({"model": "m", "messages": hi, "tools": [{"input_schema": {}}]}),
            Some("tools"),
        ),
        (
            "a schema that is not an object",
            json!({"model": "m", "messages": hi, "tools": [{"name": "a", "input_schema": 1}]}),
            Some("tools"),
        ),
        (
            "mcp servers",
            json!({"model": "m", "messages": hi, "mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]}),
            Some("mcp_servers"),
        ),
        (
            "a tool choice without a name",
            json!({"model": "m", "messages": hi, "tool_choice": {"type": "tool"}}),
            Some("tool_choice"),
        ),
        (
            "an unknown tool choice",
            json!({"model": "m", "messages": hi, "tool_choice": "auto"}),
            Some("tool_choice"),
        ),
        (
            "max_tokens 0",
            json!({"model": "m", "messages": hi, "max_tokens": 0}),
            Some("max_tokens"),
        ),
        (
            "temperature as a string",
            json!({"model": "m", "messages": hi, "temperature": "hot"}),
            Some("temperature"),
        ),
        (
            "stop_sequences as a string",
            json!({"model": "m", "messages": hi, "stop_sequences": "x"}),
            Some("stop_sequences"),
        ),
        (
            "thinking without a budget",
            json!({"model": "m", "messages": hi, "thinking": {"type": "enabled"}}),
            Some("thinking"),
        ),
        (
            "a system image",
            json!({"model": "m", "messages": hi, "system": [{"type": "image"}]}),
            Some("system"),
        ),
        (
            "an output format without a schema",
            json!({"model": "m", "messages": hi, "output_format": {"type": "json_schema"}}),
            Some("output_config"),
        ),
        (
            "a file image",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            Some("messages"),
        ),
        (
            "an image without data",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]}]}),
            Some("messages"),
        ),
        (
            "a PDF by URL",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}]}),
            Some("messages"),
        ),
        (
            "a search result",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "search_result", "source": "s", "title": "t", "content": []}]}]}),
            Some("messages"),
        ),
        (
            "a tool use from the user",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {}}]}]}),
            Some("messages"),
        ),
        (
            "an image from the assistant",
            json!({"model": "m", "messages": [{"role": "assistant", "content": [{"type": "image", "source": {"type": "url", "url": "https://x"}}]}]}),
            Some("messages"),
        ),
        (
            "a tool use without an id",
            json!({"model": "m", "messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "b", "input": {}}]}]}),
            Some("messages"),
        ),
        (
            "a tool use input that is not an object",
            json!({"model": "m", "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": [1]}]}]}),
            Some("messages"),
        ),
        (
            "a tool result without an id",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]}),
            Some("messages"),
        ),
        (
            "a tool result holding a document",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": [{"type": "document"}]}]}]}),
            Some("messages"),
        ),
        (
            "a text block without text",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            Some("messages"),
        ),
    ];
    for (name, anthropic, param) in cases {
        let error = convert(&anthropic, NO_MODEL).expect_err(name);
        assert_eq!(error.param.as_deref(), param, "{name}: {error:?}");
        let refusal: Value = serde_json::from_slice(&FromMessages.refusal(&error)).unwrap();
        assert_eq!(
            refusal,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": error.message}}),
            "{name}"
        );
    }
}

#[test]
fn request_body_not_json() {
    let error = FromMessages
        .request(b"\xef\xbb\xbf{}", NO_MODEL)
        .unwrap_err();
    assert!(error.message.contains("byte order mark"), "{error:?}");
}

// ---------------------------------------------------------------- round trip

/// What survives Anthropic → OpenAI → Anthropic: the system text, the
/// messages without thinking blocks (tool results as one text, `Error: ` for
/// `is_error`, consecutive text blocks of a message merged, string content as
/// a text block), tools (`cache_control` dropped), tool_choice and the limits.
fn comparable(request: &Value) -> Value {
    let system = match &request["system"] {
        Value::String(s) => json!(s),
        Value::Array(blocks) => json!(blocks
            .iter()
            .map(|b| b["text"].as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n\n")),
        _ => Value::Null,
    };
    let text_of = |content: &Value| match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| p["text"].as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let messages: Vec<Value> = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            let blocks = match &message["content"] {
                Value::String(s) => vec![json!({"type": "text", "text": s})],
                Value::Array(blocks) => blocks.clone(),
                _ => Vec::new(),
            };
            let blocks: Vec<Value> = blocks
                .into_iter()
                .filter(|b| !matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")))
                .map(|mut b| {
                    if let Some(map) = b.as_object_mut() {
                        map.remove("cache_control");
                        if map.get("type") == Some(&json!("tool_result")) {
                            let mut text = text_of(map.get("content").unwrap_or(&Value::Null));
                            if map.remove("is_error") == Some(json!(true)) {
                                text.insert_str(0, "Error: ");
                            }
                            map.insert("content".into(), json!(text));
                        }
                        if map.get("type") == Some(&json!("document")) {
                            map.remove("title");
                        }
                    }
                    b
                })
                .collect();
            json!({"role": message["role"], "content": blocks})
        })
        .collect();
    let tools: Vec<Value> = request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| json!({"name": t["name"], "description": t["description"], "input_schema": t["input_schema"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "model": request["model"],
        "system": system,
        "messages": messages,
        "tools": tools,
        "tool_choice": request["tool_choice"],
        "max_tokens": request["max_tokens"],
        "temperature": request["temperature"],
        "top_p": request["top_p"],
        "stop_sequences": request["stop_sequences"],
        "stream": request["stream"].as_bool().unwrap_or(false),
        "user": request["metadata"]["user_id"],
        "thinking": request["thinking"]["type"],
    })
}

#[test]
fn round_trip_through_openai_keeps_the_request() {
    for (input, _, _) in REQUESTS {
        let original = json_fixture(input);
        let openai = FromMessages.request(&fixture(input), NO_MODEL).unwrap();
        let back = ToAnthropic.request(&openai.body, NO_MODEL).unwrap();
        let back = body(&back);
        assert_eq!(comparable(&back), comparable(&original), "{input}");
    }
    // Thinking budgets come back as ToAnthropic's budget for the effort.
    let openai = FromMessages
        .request(&fixture("request-tool-loop.json"), NO_MODEL)
        .unwrap();
    let back = body(&ToAnthropic.request(&openai.body, NO_MODEL).unwrap());
    assert_eq!(
        back["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
}

// ---------------------------------------------------------------- reply

/// (OpenAI reply, expected Anthropic message)
const RESPONSES: &[(&str, &str)] = &[
    (
        "response-tool-calls.json",
        "response-tool-calls.anthropic.json",
    ),
    ("response-text.json", "response-text.anthropic.json"),
];

#[test]
fn response_golden() {
    for (input, output) in RESPONSES {
        let got = FromMessages
            .response(&fixture(input), "gpt-requested")
            .unwrap();
        golden(output, &got);
    }
}

fn completion(message: Value, finish: Value, usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
}

fn message(content: Value, stop_reason: &str, usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-x",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage})
}

#[test]
fn response_fields() {
    let zero = json!({"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0});
    // (case, OpenAI reply, Anthropic message)
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "no usage, no finish reason, empty content",
            completion(json!({"role": "assistant", "content": ""}), Value::Null, Value::Null),
            message(json!([]), "end_turn", zero.clone()),
        ),
        (
            "content parts, a refusal, content filter",
            completion(json!({"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "refusal": "no"}),
                json!("content_filter"), Value::Null),
            message(json!([{"type": "text", "text": "ab"}, {"type": "text", "text": "no"}]), "refusal", zero.clone()),
        ),
        (
            "reasoning (OpenRouter's name), arguments empty, broken and not an object, no id; function_call",
            completion(json!({"role": "assistant", "content": null, "reasoning": "hm", "tool_calls": [
                {"type": "function", "function": {"name": "a", "arguments": ""}},
                {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{\"x\":"}},
                {"id": "c3", "type": "function", "function": {"name": "c", "arguments": "[1]"}},
                {"id": "c4", "type": "function", "function": {"name": "d", "arguments": {"y": 1}}},
            ]}), json!("function_call"), Value::Null),
            message(json!([
                {"type": "thinking", "thinking": "hm", "signature": ""},
                {"type": "tool_use", "id": "call_chatcmpl-1_0", "name": "a", "input": {}},
                {"type": "tool_use", "id": "c2", "name": "b", "input": {}},
                {"type": "tool_use", "id": "c3", "name": "c", "input": {}},
                {"type": "tool_use", "id": "c4", "name": "d", "input": {"y": 1}},
            ]), "tool_use", zero.clone()),
        ),
        (
            "cached tokens above the prompt count do not underflow; an unknown finish reason",
            completion(json!({"role": "assistant", "content": "x"}), json!("eos"),
                json!({"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 9}})),
            message(json!([{"type": "text", "text": "x"}]), "end_turn",
                json!({"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 9, "output_tokens": 2})),
        ),
    ];
    for (name, openai, want) in cases {
        let got = FromMessages
            .response(&serde_json::to_vec(&openai).unwrap(), "gpt-requested")
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            serde_json::from_slice::<Value>(&got).unwrap(),
            want,
            "{name}"
        );
    }
    // No model in the reply: the request's.
    let got = FromMessages
        .response(
            br#"{"choices":[{"message":{"content":"x"}}]}"#,
            "gpt-requested",
        )
        .unwrap();
    let got: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(
        (got["model"].clone(), got["id"].clone()),
        (json!("gpt-requested"), json!(""))
    );
}

#[test]
fn response_not_a_completion() {
    for body in [
        &b""[..],
        b"null",
        b"{}",
        b"{\"choices\":[]}",
        b"{\"choices\":[1]}",
        b"<html>",
    ] {
        assert!(FromMessages.response(body, "m").is_err(), "{body:?}");
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn error_golden() {
    golden(
        "error-429.anthropic.json",
        &FromMessages.error(429, &fixture("error-429.json")),
    );
    golden(
        "error-400-azure.anthropic.json",
        &FromMessages.error(400, &fixture("error-400-azure.json")),
    );
}

#[test]
fn errors() {
    let openai = br#"{"error":{"message":"nope","type":"x","param":null,"code":null}}"#;
    // (status, body, Anthropic type, message)
    let cases: Vec<(u16, &[u8], &str, &str)> = vec![
        (400, openai, "invalid_request_error", "nope"),
        (401, openai, "authentication_error", "nope"),
        (402, openai, "billing_error", "nope"),
        (403, openai, "permission_error", "nope"),
        (404, openai, "not_found_error", "nope"),
        (409, openai, "invalid_request_error", "nope"),
        (413, openai, "request_too_large", "nope"),
        (422, openai, "invalid_request_error", "nope"),
        (429, openai, "rate_limit_error", "nope"),
        (500, openai, "api_error", "nope"),
        (502, openai, "api_error", "nope"),
        (503, openai, "overloaded_error", "nope"),
        (504, openai, "timeout_error", "nope"),
        (529, openai, "overloaded_error", "nope"),
        (500, br#"{"error":"plain"}"#, "api_error", "plain"),
        (500, br#"{"message":"top"}"#, "api_error", "top"),
        (
            502,
            b"upstream connect error",
            "api_error",
            "upstream connect error",
        ),
        (500, b"", "api_error", "the provider answered HTTP 500"),
        (
            500,
            br#"{"error":{"message":""}}"#,
            "api_error",
            r#"{"error":{"message":""}}"#,
        ),
    ];
    for (status, body, kind, text) in cases {
        let got: Value = serde_json::from_slice(&FromMessages.error(status, body)).unwrap();
        assert_eq!(
            got,
            json!({"type": "error", "error": {"type": kind, "message": text}}),
            "{status} {body:?}"
        );
    }
    let refusal: Value =
        serde_json::from_slice(&anthropic_error("invalid_request_error", "bad \"x\"")).unwrap();
    assert_eq!(
        refusal,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad \"x\""}})
    );
}

// ---------------------------------------------------------------- stream

/// (OpenAI stream, expected Anthropic stream)
const STREAMS: &[(&str, &str)] = &[
    ("stream-text.sse", "stream-text.anthropic.sse"),
    ("stream-tool-calls.sse", "stream-tool-calls.anthropic.sse"),
    ("stream-reasoning.sse", "stream-reasoning.anthropic.sse"),
    ("stream-error.sse", "stream-error.anthropic.sse"),
];

#[test]
fn stream_golden() {
    for (input, output) in STREAMS {
        let got = stream(&[&fixture(input)]);
        assert_well_formed(&events(&got), input);
        golden(output, &got);
    }
}

#[test]
fn stream_same_output_at_every_split() {
    for (input, _) in STREAMS {
        let input_bytes = fixture(input);
        let whole = stream(&[&input_bytes]);
        for i in 0..=input_bytes.len() {
            let (a, b) = input_bytes.split_at(i);
            assert_eq!(stream(&[a, b]), whole, "{input} split at {i}");
        }
        let bytes: Vec<&[u8]> = input_bytes.chunks(1).collect();
        assert_eq!(stream(&bytes), whole, "{input} byte by byte");
    }
}

#[test]
fn stream_emits_as_events_complete() {
    let input = fixture("stream-text.sse");
    let mut conversion = FromMessages.stream(&native());
    let first_end = input.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let (head, rest) = input.split_at(first_end - 1);
    assert_eq!(conversion.feed(head), b"");
    let (blank, _) = rest.split_at(1);
    let out = conversion.feed(blank);
    assert_eq!(
        events(&out)
            .iter()
            .map(|e| e["type"].clone())
            .collect::<Vec<_>>(),
        vec![json!("message_start")],
        "message_start as soon as the first chunk is complete"
    );
}

fn chunk(delta: Value, finish: Value) -> String {
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

fn start(usage: Value) -> Value {
    json!({"type": "message_start", "message": {"id": "c1", "type": "message", "role": "assistant",
        "model": "gpt-x", "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}})
}

fn block_start(index: u64, block: Value) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": block})
}

fn block_delta(index: u64, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

fn block_stop(index: u64) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

fn text_block() -> Value {
    json!({"type": "text", "text": ""})
}

fn text(t: &str) -> Value {
    json!({"type": "text_delta", "text": t})
}

fn end(stop_reason: Value, usage: Value) -> Vec<Value> {
    vec![
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": usage}),
        json!({"type": "message_stop"}),
    ]
}

#[test]
fn stream_cases() {
    let zero = json!({"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0});
    let tool = |index: u64, id: &str, name: &str, args: &str| json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": args}}]});
    let args = |index: u64, args: &str| json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]});
    let tool_block =
        |id: &str, name: &str| json!({"type": "tool_use", "id": id, "name": name, "input": {}});
    let json_delta = |s: &str| json!({"type": "input_json_delta", "partial_json": s});
    let error = |kind: &str, message: &str| json!({"type": "error", "error": {"type": kind, "message": message}});
    // (case, OpenAI stream, Anthropic events)
    let cases: Vec<(&str, String, Vec<Value>)> = vec![
        (
            "an empty stream is an error",
            String::new(),
            vec![error("api_error", "the provider's stream ended before any reply")],
        ),
        (
            "[DONE] alone is an error too",
            "data: [DONE]\n\n".into(),
            vec![error("api_error", "the provider's stream ended before any reply")],
        ),
        (
            "cut off without [DONE] or finish reason: stop_reason null, the open block closed",
            chunk(json!({"content": "a"}), Value::Null),
            [vec![start(zero.clone()), block_start(0, text_block()), block_delta(0, text("a")), block_stop(0)], end(Value::Null, zero.clone())].concat(),
        ),
        (
            "usage in the first chunk goes into message_start and message_delta; no choices",
            "data: {\"id\":\"c1\",\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":0}}\n\ndata: [DONE]\n\n".into(),
            {
                let usage = json!({"input_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0});
                [vec![start(usage.clone())], end(Value::Null, usage)].concat()
            },
        ),
        (
            "the request's model and an empty id when the chunk has none; other choices ignored",
            "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"x\"}}]}\n\n".into(),
            [vec![json!({"type": "message_start", "message": {"id": "", "type": "message", "role": "assistant",
                "model": "gpt-requested", "content": [], "stop_reason": null, "stop_sequence": null, "usage": zero}})],
                end(Value::Null, zero.clone())].concat(),
        ),
        (
            "text, thinking, text: three blocks; a refusal is text",
            [chunk(json!({"content": "a"}), Value::Null), chunk(json!({"reasoning_content": "r"}), Value::Null),
                chunk(json!({"refusal": "no"}), json!("content_filter"))].concat(),
            [vec![start(zero.clone()),
                block_start(0, text_block()), block_delta(0, text("a")), block_stop(0),
                block_start(1, json!({"type": "thinking", "thinking": "", "signature": ""})),
                block_delta(1, json!({"type": "thinking_delta", "thinking": "r"})), block_stop(1),
                block_start(2, text_block()), block_delta(2, text("no")), block_stop(2)],
                end(json!("refusal"), zero.clone())].concat(),
        ),
        (
            "a whole tool call in one chunk, no id, no index; text after it",
            [chunk(json!({"tool_calls": [{"function": {"name": "now", "arguments": "{}"}}]}), Value::Null),
                chunk(json!({"content": "done"}), json!("stop"))].concat(),
            [vec![start(zero.clone()),
                block_start(0, tool_block("call_c1_0", "now")), block_delta(0, json_delta("{}")), block_stop(0),
                block_start(1, text_block()), block_delta(1, text("done")), block_stop(1)],
                end(json!("end_turn"), zero.clone())].concat(),
        ),
        (
            "two calls in one chunk; arguments for a closed call dropped",
            [chunk(json!({"tool_calls": [
                    {"index": 0, "id": "a", "function": {"name": "x", "arguments": "{"}},
                    {"index": 1, "id": "b", "function": {"name": "y", "arguments": "{}"}}]}), Value::Null),
                chunk(args(0, "}"), Value::Null), chunk(args(1, ""), json!("tool_calls"))].concat(),
            [vec![start(zero.clone()),
                block_start(0, tool_block("a", "x")), block_delta(0, json_delta("{")), block_stop(0),
                block_start(1, tool_block("b", "y")), block_delta(1, json_delta("{}")), block_stop(1)],
                end(json!("tool_use"), zero.clone())].concat(),
        ),
        (
            "every chunk repeats index 0 with a new id: each id its own call; the same id continues",
            [chunk(tool(0, "a", "x", "{}"), Value::Null), chunk(tool(0, "a", "x", ""), Value::Null),
                chunk(tool(0, "b", "y", "{}"), json!("tool_calls"))].concat(),
            [vec![start(zero.clone()),
                block_start(0, tool_block("a", "x")), block_delta(0, json_delta("{}")), block_stop(0),
                block_start(1, tool_block("b", "y")), block_delta(1, json_delta("{}")), block_stop(1)],
                end(json!("tool_use"), zero.clone())].concat(),
        ),
        (
            "length; usage with null fields ignored; events that are not JSON objects skipped; CRLF",
            [chunk(json!({"content": "a"}), json!("length")), "data: {oops\n\ndata: [1]\n\n: keep-alive\n\n".into(),
                "data: {\"choices\":[],\"usage\":null}\r\n\r\ndata: [DONE]\r\n\r\n".into()].concat(),
            [vec![start(zero.clone()), block_start(0, text_block()), block_delta(0, text("a")), block_stop(0)],
                end(json!("max_tokens"), zero.clone())].concat(),
        ),
        (
            "an error before any chunk; nothing after it",
            "data: {\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n".to_owned() + &chunk(json!({"content": "a"}), Value::Null),
            vec![error("rate_limit_error", "slow down")],
        ),
        (
            "an error as a string; an error of Anthropic's kind",
            "data: {\"error\":\"boom\"}\n\n".into(),
            vec![error("api_error", "boom")],
        ),
        (
            "an error without a message",
            "data: {\"error\":{\"type\":\"invalid_request_error\"}}\n\n".into(),
            vec![error("invalid_request_error", "the provider reported an error in the stream")],
        ),
        (
            "the last event without its blank line",
            chunk(json!({"content": "a"}), json!("stop")).trim_end().to_owned(),
            [vec![start(zero.clone()), block_start(0, text_block()), block_delta(0, text("a")), block_stop(0)],
                end(json!("end_turn"), zero.clone())].concat(),
        ),
    ];
    for (name, input, want) in cases {
        let got = events(&stream(&[input.as_bytes()]));
        assert_well_formed(&got, name);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn stream_ends_once() {
    let mut conversion = FromMessages.stream(&native());
    let out = conversion.feed(&fixture("stream-text.sse"));
    assert_eq!(events(&out).last(), Some(&json!({"type": "message_stop"})));
    assert_eq!(conversion.end(), b"");
    assert_eq!(conversion.feed(b"data: {\"choices\":[]}\n\n"), b"");
    assert_eq!(conversion.end(), b"");
}

// ---------------------------------------------------------------- robustness

#[test]
fn arbitrary_bytes_never_panic() {
    let names = [
        "request-tool-loop.json",
        "request-media.json",
        "response-tool-calls.json",
        "response-text.json",
        "error-429.json",
        "stream-text.sse",
        "stream-tool-calls.sse",
        "stream-reasoning.sse",
        "stream-error.sse",
    ];
    let mut inputs: Vec<Vec<u8>> = garbage();
    for name in names {
        let bytes = fixture(name);
        inputs.extend(
            (0..=bytes.len())
                .filter_map(|end| bytes.get(..end))
                .map(<[u8]>::to_vec),
        );
        // The fixture with one byte replaced at a time, every 5th position.
        for (i, seed) in (0..bytes.len()).step_by(5).zip(1u64..) {
            let mut changed = bytes.clone();
            changed[i] = noise(seed, 1)[0];
            inputs.push(changed);
        }
    }
    for seed in 0..100u64 {
        inputs.push(noise(seed + 100, (seed as usize * 13) % 700));
    }
    for input in &inputs {
        let _ = FromMessages.request(input, NO_MODEL);
        let _ = FromMessages.request(
            input,
            Target {
                model: Some("gpt-5"),
            },
        );
        let _ = FromMessages.response(input, "m");
        let _ = FromMessages.error(500, input);
        let whole = stream(&[input]);
        assert_well_formed(&events(&whole), "garbage");
        let third = input.len() / 3;
        let parts = [
            &input[..third],
            &input[third..2 * third],
            &input[2 * third..],
        ];
        assert_eq!(stream(&parts), whole);
    }
}

// ---------------------------------------------------------------- composition

/// Messages → OpenAI chat composes with the conversions to other providers:
/// the golden requests convert on to Anthropic, Gemini and Bedrock — except
/// a PDF, whose OpenAI `file` part the Gemini and Bedrock conversions do not
/// take (yet): there the request is refused, never sent without it.
#[test]
fn requests_compose_with_other_providers() {
    use crate::convert::{bedrock::ToBedrock, gemini::ToGemini, ChatConversion};
    let target = Target {
        model: Some("routed-model"),
    };
    let conversions: [(&str, &dyn ChatConversion); 3] = [
        ("anthropic", &ToAnthropic),
        ("gemini", &ToGemini),
        ("bedrock", &ToBedrock),
    ];
    for (input, _, stream) in REQUESTS {
        let openai = FromMessages.request(&fixture(input), target).unwrap();
        for (name, conversion) in conversions {
            let refused_file = *input == "request-media.json" && name != "anthropic";
            match conversion.request(&openai.body, target) {
                Ok(native) => {
                    assert!(
                        !refused_file,
                        "{input} → {name}: now converts; update the docs"
                    );
                    assert_eq!(
                        (native.stream, native.include_usage),
                        (*stream, *stream),
                        "{input} → {name}"
                    );
                }
                Err(e) => assert!(
                    refused_file && e.message.contains("file"),
                    "{input} → {name}: {e:?}"
                ),
            }
        }
    }
}

/// A provider stream converted to OpenAI chunks (with the usage chunk the
/// converted request asks for) and on to Anthropic events.
fn composed(conversion: &dyn crate::convert::ChatConversion, provider: &[u8]) -> Vec<Value> {
    let request = NativeRequest {
        body: Vec::new(),
        stream: true,
        include_usage: true,
        model: "routed-model".into(),
    };
    let mut to_openai = conversion.stream(&request);
    let mut to_messages = FromMessages.stream(&request);
    let mut out = Vec::new();
    // Two provider pieces, to go through the chunked path of both.
    let (a, b) = provider.split_at(provider.len() / 2);
    for piece in [a, b] {
        out.extend(to_messages.feed(&to_openai.feed(piece)));
    }
    out.extend(to_messages.feed(&to_openai.end()));
    out.extend(to_messages.end());
    let events = events(&out);
    assert_well_formed(&events, "composed");
    events
}

/// Anthropic → OpenAI chunks → Anthropic gives back the original stream's
/// content events; what OpenAI chunks cannot carry (`ping`,
/// `signature_delta`, empty `input_json_delta`s) is gone, and the usage
/// arrives in `message_delta`.
#[test]
fn anthropic_stream_round_trip() {
    let original_bytes = std::fs::read(format!(
        "{}/tests/fixtures/conversion/anthropic/stream-tool-use.sse",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let got = composed(&ToAnthropic, &original_bytes);
    let original: Vec<Value> = std::str::from_utf8(&original_bytes)
        .unwrap()
        .split_terminator("\n\n")
        .map(|e| serde_json::from_str(e.split_once("data: ").unwrap().1).unwrap())
        .collect();
    let content = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| {
                let kind = e["type"].as_str().unwrap();
                kind.starts_with("content_block")
                    && e["delta"]["type"] != json!("signature_delta")
                    && e["delta"]["partial_json"] != json!("")
            })
            .map(|e| {
                let mut e = e.clone();
                // The converted thinking block carries an empty signature.
                if let Some(block) = e.get_mut("content_block").and_then(Value::as_object_mut) {
                    block.remove("signature");
                }
                e
            })
            .collect()
    };
    assert_eq!(content(&got), content(&original));
    let delta = got.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(
        delta,
        &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 89}})
    );
    assert_eq!(got[0]["message"]["id"], original[0]["message"]["id"]);
}

/// Gemini's stream through both conversions: a function call arrives as a
/// `tool_use` block with its whole input, with Gemini's usage.
#[test]
fn gemini_stream_composes() {
    use crate::convert::gemini::ToGemini;
    let gemini = std::fs::read(format!(
        "{}/tests/fixtures/conversion/gemini/stream-function-call.sse",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let got = composed(&ToGemini, &gemini);
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"content_block_start"), "{got:#?}");
    let tool = got
        .iter()
        .find(|e| e["content_block"]["type"] == "tool_use")
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert!(tool["content_block"]["name"].is_string());
    let last = got
        .iter()
        .rev()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(last["delta"]["stop_reason"], json!("tool_use"));
    assert!(
        last["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{last}"
    );
}
