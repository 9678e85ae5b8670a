use super::*;
use crate::convert::test_support::*;
use crate::convert::SSE_DONE;
use crate::event_stream::{encode, HeaderValue};
use serde_json::json;

fn convert(openai: Value) -> Result<Value, ConvertError> {
    let native = ToBedrock.request(&serde_json::to_vec(&openai).unwrap(), NO_TARGET)?;
    Ok(serde_json::from_slice(&native.body).unwrap())
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// `[["event" | "exception", type, payload], …]` framed as AWS does.
fn encode_events(events: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events.as_array().unwrap() {
        let payload = serde_json::to_string(&event[2]).unwrap();
        let name = event[1].as_str().unwrap();
        out.extend(match event[0].as_str().unwrap() {
            "event" => encode::event(name, &payload),
            "exception" => encode::exception(name, &payload),
            other => panic!("{other}"),
        });
    }
    out
}

#[test]
fn requests() {
    let cases: &[(&str, Value, Value)] = &[
        (
            "plain text",
            json!({"model": "m", "messages": [user("hi")]}),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        ),
        (
            "system and developer, same roles merged, empty text dropped",
            json!({"messages": [
                {"role": "system", "content": "a"},
                user("b"),
                {"role": "developer", "content": [{"type": "text", "text": "c"}]},
                user(""),
                user("d"),
                {"role": "assistant", "content": "e"},
                {"role": "assistant", "content": [{"type": "text", "text": "f"}]},
                {"role": "assistant", "content": null},
            ]}),
            json!({
                "system": [{"text": "a"}, {"text": "c"}],
                "messages": [
                    {"role": "user", "content": [{"text": "b"}, {"text": "d"}]},
                    {"role": "assistant", "content": [{"text": "e"}, {"text": "f"}]},
                ],
            }),
        ),
        (
            "images of each format",
            json!({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {"type": "image_url", "image_url": {"url": "data:image/JPEG;base64,AB"}},
                {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,AC"}},
                {"type": "image_url", "image_url": {"url": "data:image/gif;base64,AD"}},
                {"type": "image_url", "image_url": {"url": "data:image/webp;base64,AE"}},
            ]}]}),
            json!({"messages": [{"role": "user", "content": [
                {"image": {"format": "png", "source": {"bytes": "AA"}}},
                {"image": {"format": "jpeg", "source": {"bytes": "AB"}}},
                {"image": {"format": "jpeg", "source": {"bytes": "AC"}}},
                {"image": {"format": "gif", "source": {"bytes": "AD"}}},
                {"image": {"format": "webp", "source": {"bytes": "AE"}}},
            ]}]}),
        ),
        (
            "tool calls and results, auto choice, tool without parameters",
            json!({"messages": [
                user("w?"),
                {"role": "assistant", "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                    {"id": "b", "type": "function", "function": {"name": "g", "arguments": " "}},
                ]},
                {"role": "tool", "tool_call_id": "a", "content": "{\"ok\":true}"},
                {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "[1]"}]},
            ], "tools": [{"type": "function", "function": {"name": "f", "description": ""}}],
               "tool_choice": "auto"}),
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "w?"}]},
                    {"role": "assistant", "content": [
                        {"toolUse": {"toolUseId": "a", "name": "f", "input": {"x": 1}}},
                        {"toolUse": {"toolUseId": "b", "name": "g", "input": {}}},
                    ]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "a", "content": [{"json": {"ok": true}}]}},
                        {"toolResult": {"toolUseId": "b", "content": [{"text": "[1]"}]}},
                    ]},
                ],
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": "f",
                        "inputSchema": {"json": {"type": "object", "properties": {}}}}}],
                    "toolChoice": {"auto": {}},
                },
            }),
        ),
        (
            "named tool, inference settings, dropped fields",
            json!({"messages": [user("x")],
                "tools": [{"type": "function", "function": {"name": "g", "description": "d",
                    "parameters": {"type": "object"}}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
                "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0, "top_p": 1,
                "stop": ["a", "b"], "n": 1, "seed": 3, "presence_penalty": 1, "logprobs": true,
                "reasoning_effort": "high", "response_format": {"type": "json_object"}, "user": "u"}),
            json!({
                "messages": [{"role": "user", "content": [{"text": "x"}]}],
                "inferenceConfig": {"maxTokens": 20, "temperature": 0, "topP": 1, "stopSequences": ["a", "b"]},
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": "g", "description": "d",
                        "inputSchema": {"json": {"type": "object"}}}}],
                    "toolChoice": {"tool": {"name": "g"}},
                },
            }),
        ),
        (
            "tool_choice none drops the tools; json schema",
            json!({"messages": [user("x")], "tool_choice": "none",
                "tools": [{"type": "function", "function": {"name": "g"}}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "n",
                    "schema": {"type": "object"}}}}),
            json!({
                "messages": [{"role": "user", "content": [{"text": "x"}]}],
                "outputConfig": {"textFormat": {"type": "json_schema", "structure": {
                    "jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "n"}}}},
            }),
        ),
        (
            "required; text format",
            json!({"messages": [user("x")], "tool_choice": "required", "max_tokens": 5,
                "tools": [{"type": "function", "function": {"name": "g"}}],
                "response_format": {"type": "text"}}),
            json!({
                "messages": [{"role": "user", "content": [{"text": "x"}]}],
                "inferenceConfig": {"maxTokens": 5},
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": "g",
                        "inputSchema": {"json": {"type": "object", "properties": {}}}}}],
                    "toolChoice": {"any": {}},
                },
            }),
        ),
    ];
    for (name, openai, want) in cases {
        assert_eq!(convert(openai.clone()).as_ref(), Ok(want), "{name}");
    }
}

#[test]
fn request_settings() {
    let body = br#"{"model":"client-model","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#;
    let cases: &[(&[u8], Option<&str>, bool, bool, &str)] = &[
        (body, None, true, true, "client-model"),
        (body, Some("route-model"), true, true, "route-model"),
        (br#"{"messages":[]}"#, None, false, false, ""),
    ];
    for (body, model, stream, include_usage, want_model) in cases {
        let native = ToBedrock.request(body, Target { model: *model }).unwrap();
        assert_eq!(
            (native.stream, native.include_usage, native.model.as_str()),
            (*stream, *include_usage, *want_model)
        );
        let sent: Value = serde_json::from_slice(&native.body).unwrap();
        assert_eq!(sent, json!({"messages": []}), "no model, no stream field");
    }
}

#[test]
fn refused_requests() {
    let cases: &[(&str, Option<&str>)] = &[
        ("", None),
        ("[]", None),
        ("{}", Some("messages")),
        (r#"{"messages":"hi"}"#, Some("messages")),
        (
            r#"{"messages":[{"role":"function","content":"x"}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"file"}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AA"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,AA"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"nope"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"assistant","tool_calls":"x"}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"tool","content":"x"}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"tool","tool_call_id":"a","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"tool","tool_call_id":"a","content":"x"}],"tool_choice":"none"}"#,
            Some("tool_choice"),
        ),
        (
            r#"{"messages":[],"tool_choice":"maybe"}"#,
            Some("tool_choice"),
        ),
        (r#"{"messages":[],"tool_choice":{}}"#, Some("tool_choice")),
        (
            r#"{"messages":[],"tools":[{"type":"code_interpreter"}]}"#,
            Some("tools"),
        ),
        (
            r#"{"messages":[],"tools":[{"type":"function"}]}"#,
            Some("tools"),
        ),
        (r#"{"messages":[],"tools":"x"}"#, Some("tools")),
        (r#"{"messages":[],"n":2}"#, Some("n")),
        (r#"{"messages":[],"n":"1"}"#, Some("n")),
        (r#"{"messages":[],"top_p":[]}"#, Some("top_p")),
        (r#"{"messages":[],"stop":{}}"#, Some("stop")),
        (
            r#"{"messages":[],"response_format":{"type":"json_schema","json_schema":{}}}"#,
            Some("response_format"),
        ),
        (
            r#"{"messages":[],"response_format":{}}"#,
            Some("response_format"),
        ),
    ];
    for (body, param) in cases {
        let err = ToBedrock.request(body.as_bytes(), NO_TARGET).unwrap_err();
        assert_eq!(err.param.as_deref(), *param, "{body}: {err:?}");
        assert!(!err.message.is_empty());
    }
    let err = ToBedrock
        .request(
            br#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}"#,
            NO_TARGET,
        )
        .unwrap_err();
    assert!(err.message.contains("data:"), "{}", err.message);
}

#[test]
fn replies() {
    let cases: &[(&str, Value, Value)] = &[
        (
            "text only, no usage",
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "a"}, {"text": "b"}]}},
                "stopReason": "stop_sequence"}),
            json!({"id": "chatcmpl-bedrock", "object": "chat.completion", "created": 0, "model": "asked",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ab"},
                    "logprobs": null, "finish_reason": "stop"}]}),
        ),
        (
            "empty content, guardrail, redacted reasoning not surfaced",
            json!({"output": {"message": {"content": [{"reasoningContent": {"redactedContent": "AAA="}}]}},
                "stopReason": "guardrail_intervened", "usage": {"inputTokens": 5, "outputTokens": 0}}),
            json!({"id": "chatcmpl-bedrock", "object": "chat.completion", "created": 0, "model": "asked",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null},
                    "logprobs": null, "finish_reason": "content_filter"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0}}}),
        ),
    ];
    for (name, reply, want) in cases {
        let got = ToBedrock
            .response(&serde_json::to_vec(reply).unwrap(), "asked")
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&got).unwrap(),
            *want,
            "{name}"
        );
    }
    let reasons = [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ];
    for (bedrock, openai) in reasons {
        assert_eq!(finish_reason(bedrock), openai);
    }
    for bad in ["", "[]", "{}", "{\"output\":{}}", "{\"message\":\"x\"}"] {
        assert!(ToBedrock.response(bad.as_bytes(), "m").is_err(), "{bad}");
    }
}

#[test]
fn errors() {
    let cases: &[(u16, &str, Value)] = &[
        (
            403,
            r#"{"Message":"User is not authorized"}"#,
            json!({"error": {"message": "User is not authorized", "type": "permission_error",
                "param": null, "code": "AccessDeniedException"}}),
        ),
        (
            424,
            r#"{"message":"Model failed","originalStatusCode":500}"#,
            json!({"error": {"message": "Model failed", "type": "api_error",
                "param": null, "code": "ModelErrorException"}}),
        ),
        (
            502,
            "",
            json!({"error": {"message": "the provider answered HTTP 502", "type": "api_error",
                "param": null, "code": null}}),
        ),
    ];
    for (status, body, want) in cases {
        let got = ToBedrock.error(*status, body.as_bytes());
        assert_eq!(
            serde_json::from_slice::<Value>(&got).unwrap(),
            *want,
            "{body}"
        );
    }
}

#[test]
fn streams() {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-bedrock", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let error_event = encode::message(
        &[
            (":message-type", HeaderValue::String("error")),
            (":error-code", HeaderValue::String("InternalFailure")),
            (":error-message", HeaderValue::String("boom")),
        ],
        b"",
    );
    let delta_only = encode_events(&json!([
        ["event", "contentBlockDelta", {"contentBlockIndex": 4, "delta": {"toolUse": {"input": "{}"}}}],
        ["event", "contentBlockDelta", {"delta": {"unknown": 1}}],
        ["event", "somethingNew", {}],
        ["event", "messageStop", {}],
        ["event", "metadata", {"metrics": {"latencyMs": 1}}],
    ]));
    let whole = encode_events(&json!([["event", "messageStart", {"role": "assistant"}]]));
    let cut = whole.get(..whole.len() - 1).unwrap().to_vec();
    let mut corrupt = whole.clone();
    corrupt[3] ^= 1;
    let cases: Vec<(&str, Vec<u8>, Vec<Value>)> = vec![
        ("nothing", Vec::new(), vec![json!("[DONE]")]),
        (
            "an error message",
            error_event,
            vec![
                json!({"error": {"message": "boom", "type": "api_error", "param": null, "code": "InternalFailure"}}),
                json!("[DONE]"),
            ],
        ),
        (
            "a delta before any start names the role; unknown events skipped",
            delta_only,
            vec![
                chunk(
                    json!({"role": "assistant", "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                    Value::Null,
                ),
                chunk(json!({}), json!("stop")),
                json!("[DONE]"),
            ],
        ),
        (
            "cut short",
            cut,
            vec![
                json!({"error": {"message": "the event stream ended inside a message", "type": "api_error",
                    "param": null, "code": null}}),
                json!("[DONE]"),
            ],
        ),
        (
            "corrupt framing",
            corrupt,
            vec![
                json!({"error": {"message": "event-stream prelude CRC mismatch", "type": "api_error",
                    "param": null, "code": null}}),
                json!("[DONE]"),
            ],
        ),
    ];
    for (name, native, want) in cases {
        let got = stream_every_split(&ToBedrock, &stream_request("m", false), &native);
        assert_eq!(events(&got), want, "{name}");
    }
}

#[test]
fn end_twice_sends_done_once() {
    let mut stream = ToBedrock.stream(&stream_request("m", true));
    assert_eq!(stream.end(), SSE_DONE);
    assert_eq!(stream.end(), b"");
}

#[test]
fn golden_files() {
    let request = fixture("bedrock/request-chat.openai.json");
    let native = ToBedrock.request(&request, Target { model: None }).unwrap();
    assert!(native.stream && native.include_usage);
    assert_eq!(native.model, "anthropic.claude-3-5-sonnet-20241022-v2:0");
    golden("bedrock/request-chat.bedrock.json", &pretty(&native.body));

    for name in ["response-text", "response-tool-use"] {
        let got = ToBedrock
            .response(
                &fixture(&format!("bedrock/{name}.json")),
                "anthropic.claude-3-7-sonnet-20250219-v1:0",
            )
            .unwrap();
        golden(&format!("bedrock/{name}.openai.json"), &pretty(&got));
    }
    for (name, status) in [("error-400", 400), ("error-429", 429)] {
        let got = ToBedrock.error(status, &fixture(&format!("bedrock/{name}.json")));
        golden(&format!("bedrock/{name}.openai.json"), &pretty(&got));
    }
    for (name, include_usage) in [("stream-tool-use", true), ("stream-throttled", false)] {
        let events_json: Value =
            serde_json::from_slice(&fixture(&format!("bedrock/{name}.events.json"))).unwrap();
        let native = encode_events(&events_json);
        let request = stream_request("anthropic.claude-3-7-sonnet-20250219-v1:0", include_usage);
        let got = stream_every_split(&ToBedrock, &request, &native);
        golden(&format!("bedrock/{name}.openai.sse"), &got);
    }
}

#[test]
fn garbage_never_panics() {
    let mut inputs = garbage();
    // Real framing around payloads that are not what they claim.
    for (kind, payload) in [
        ("messageStart", "null"),
        ("contentBlockStart", "{\"start\":{\"toolUse\":1}}"),
        ("contentBlockStart", "{\"start\":{\"toolUse\":{}}}"),
        (
            "contentBlockDelta",
            "{\"delta\":{\"text\":1,\"toolUse\":{\"input\":{}}}}",
        ),
        ("messageStop", "{\"stopReason\":[]}"),
        (
            "metadata",
            "{\"usage\":{\"inputTokens\":-1,\"outputTokens\":1e99}}",
        ),
        ("metadata", "[1,2"),
    ] {
        inputs.push(encode::event(kind, payload));
    }
    inputs.push(encode::exception("validationException", "not json"));
    for input in inputs {
        let _ = ToBedrock.request(&input, NO_TARGET);
        let _ = ToBedrock.response(&input, "m");
        let error = ToBedrock.error(400, &input);
        assert!(serde_json::from_slice::<Value>(&error).is_ok());
        let out = stream_in(&ToBedrock, &stream_request("m", true), &[&input]);
        assert!(out.ends_with(SSE_DONE));
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            stream_in(&ToBedrock, &stream_request("m", true), &pieces),
            out
        );
    }
}
