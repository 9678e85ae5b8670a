use super::*;
use crate::convert::test_support::*;
use crate::convert::SSE_DONE;
use serde_json::json;

fn convert(openai: Value) -> Result<Value, ConvertError> {
    let native = ToGemini.request(&serde_json::to_vec(&openai).unwrap(), NO_TARGET)?;
    Ok(serde_json::from_slice(&native.body).unwrap())
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn requests() {
    let cases: &[(&str, Value, Value)] = &[
        (
            "plain text",
            json!({"model": "m", "messages": [user("hi")]}),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
        ),
        (
            "system and developer join the system instruction; same roles merge",
            json!({"messages": [
                {"role": "system", "content": "a"},
                user("b"),
                {"role": "developer", "content": [{"type": "text", "text": "c"}]},
                user("d"),
                {"role": "assistant", "content": "e"},
                {"role": "assistant", "content": [{"type": "text", "text": "f"}]},
            ]}),
            json!({
                "systemInstruction": {"parts": [{"text": "a"}, {"text": "c"}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "b"}, {"text": "d"}]},
                    {"role": "model", "parts": [{"text": "e"}, {"text": "f"}]},
                ],
            }),
        ),
        (
            "empty text and empty turns are dropped",
            json!({"messages": [user(""), {"role": "system", "content": ""}, user("x"),
                {"role": "assistant", "content": null}]}),
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]}),
        ),
        (
            "images: data URL inline, http URL by reference",
            json!({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/webp;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.PNG#frag"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.gif?x=y.png"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/doc.pdf"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/img"}},
            ]}]}),
            json!({"contents": [{"role": "user", "parts": [
                {"inlineData": {"mimeType": "image/webp", "data": "AAAA"}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a.PNG#frag"}},
                {"fileData": {"mimeType": "image/gif", "fileUri": "https://x.test/a.gif?x=y.png"}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x.test/doc.pdf"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/img"}},
            ]}]}),
        ),
        (
            "tool calls and results; Gemini 2 models get no signature placeholder",
            json!({"model": "gemini-2.5-pro", "messages": [
                user("w?"),
                {"role": "assistant", "content": "looking", "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                    {"id": "b", "type": "function", "function": {"name": "g", "arguments": ""}},
                ]},
                {"role": "tool", "tool_call_id": "b", "content": "[1,2]"},
                {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "{\"ok\":true}"}]},
                user("so?"),
            ]}),
            json!({"contents": [
                {"role": "user", "parts": [{"text": "w?"}]},
                {"role": "model", "parts": [
                    {"text": "looking"},
                    {"functionCall": {"name": "f", "args": {"x": 1}}},
                    {"functionCall": {"name": "g", "args": {}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "g", "response": {"content": "[1,2]"}}},
                    {"functionResponse": {"name": "f", "response": {"ok": true}}},
                    {"text": "so?"},
                ]},
            ]}),
        ),
        (
            "other models get the placeholder signature on replayed calls",
            json!({"model": "gemini-3-pro-preview", "messages": [
                {"role": "assistant", "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                ]},
            ]}),
            json!({"contents": [{"role": "model", "parts": [
                {"functionCall": {"name": "f", "args": {}},
                 "thoughtSignature": "skip_thought_signature_validator"},
            ]}]}),
        ),
        (
            "tools, named tool choice, generation settings",
            json!({"messages": [user("x")],
                "tools": [
                    {"type": "function", "function": {"name": "f", "description": "d",
                        "parameters": {"type": "object", "additionalProperties": false}}},
                    {"type": "function", "function": {"name": "g"}},
                ],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
                "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0, "top_p": 1,
                "presence_penalty": 0.5, "frequency_penalty": -0.5, "n": 2, "stop": "END",
                "response_format": {"type": "json_object"}, "reasoning_effort": "high",
                "logprobs": true, "user": "u", "parallel_tool_calls": false}),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "tools": [{"functionDeclarations": [
                    {"name": "f", "description": "d",
                     "parametersJsonSchema": {"type": "object", "additionalProperties": false}},
                    {"name": "g"},
                ]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["g"]}},
                "generationConfig": {
                    "maxOutputTokens": 20, "temperature": 0, "topP": 1,
                    "presencePenalty": 0.5, "frequencyPenalty": -0.5, "candidateCount": 2,
                    "stopSequences": ["END"], "responseMimeType": "application/json",
                    "thinkingConfig": {"thinkingBudget": 24576},
                },
            }),
        ),
        (
            "tool choice words, json schema, no thinking, max_tokens alone",
            json!({"messages": [user("x")], "tool_choice": "required", "max_tokens": 5,
                "reasoning_effort": "none", "tools": [],
                "response_format": {"type": "json_schema", "json_schema": {"name": "n", "strict": true,
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
                "generationConfig": {
                    "maxOutputTokens": 5,
                    "responseMimeType": "application/json",
                    "responseJsonSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
                    "thinkingConfig": {"thinkingBudget": 0},
                },
            }),
        ),
        (
            "none and auto; text format adds nothing",
            json!({"messages": [user("x")], "tool_choice": "none", "response_format": {"type": "text"},
                "reasoning_effort": "medium", "stop": ["a", "b"]}),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
                "generationConfig": {"stopSequences": ["a", "b"], "thinkingConfig": {"thinkingBudget": 8192}},
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
        (
            br#"{"messages":[],"stream_options":{"include_usage":true}}"#,
            None,
            false,
            false,
            "",
        ),
        (br#"{"messages":[],"stream":true}"#, None, true, false, ""),
    ];
    for (body, model, stream, include_usage, want_model) in cases {
        let native = ToGemini.request(body, Target { model: *model }).unwrap();
        assert_eq!(
            (native.stream, native.include_usage, native.model.as_str()),
            (*stream, *include_usage, *want_model)
        );
        let sent: Value = serde_json::from_slice(&native.body).unwrap();
        assert_eq!(sent, json!({"contents": []}), "no model, no stream field");
    }
}

#[test]
fn refused_requests() {
    let cases: &[(&str, Option<&str>)] = &[
        ("", None),
        ("[]", None),
        ("{}", Some("messages")),
        (r#"{"messages":{}}"#, Some("messages")),
        (
            r#"{"messages":[{"role":"function","content":"x"}]}"#,
            Some("messages"),
        ),
        (r#"{"messages":[{"content":"x"}]}"#, Some("messages")),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":1}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,AAAA"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{x"}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{}}]}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"assistant","tool_calls":{}}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"tool","tool_call_id":"a","content":"x"}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[{"role":"tool","content":"x"}]}"#,
            Some("messages"),
        ),
        (
            r#"{"messages":[],"tools":[{"type":"web_search"}]}"#,
            Some("tools"),
        ),
        (
            r#"{"messages":[],"tools":[{"type":"function","function":{}}]}"#,
            Some("tools"),
        ),
        (r#"{"messages":[],"tools":{}}"#, Some("tools")),
        (
            r#"{"messages":[],"tool_choice":"sometimes"}"#,
            Some("tool_choice"),
        ),
        (
            r#"{"messages":[],"tool_choice":{"type":"function"}}"#,
            Some("tool_choice"),
        ),
        (
            r#"{"messages":[],"temperature":"hot"}"#,
            Some("temperature"),
        ),
        (r#"{"messages":[],"max_tokens":"10"}"#, Some("max_tokens")),
        (r#"{"messages":[],"stop":[1]}"#, Some("stop")),
        (
            r#"{"messages":[],"response_format":{"type":"json_schema"}}"#,
            Some("response_format"),
        ),
        (
            r#"{"messages":[],"response_format":{"type":"yaml"}}"#,
            Some("response_format"),
        ),
        (
            r#"{"messages":[],"reasoning_effort":"max"}"#,
            Some("reasoning_effort"),
        ),
    ];
    for (body, param) in cases {
        let err = ToGemini.request(body.as_bytes(), NO_TARGET).unwrap_err();
        assert_eq!(err.param.as_deref(), *param, "{body}: {err:?}");
        assert!(!err.message.is_empty());
    }
}

#[test]
fn replies() {
    let cases: &[(&str, Value, Value)] = &[
        (
            "text, no usage, no id: defaults",
            json!({"candidates": [{"content": {"parts": [{"text": "a"}, {"text": "b"}], "role": "model"},
                "finishReason": "STOP"}]}),
            json!({"id": "chatcmpl-gemini", "object": "chat.completion", "created": 0, "model": "asked",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ab"},
                    "logprobs": null, "finish_reason": "stop"}]}),
        ),
        (
            "two candidates, lengths and filters, Gemini's own call id",
            json!({"responseId": "r", "modelVersion": "v", "candidates": [
                {"index": 1, "content": {"parts": [{"text": "x"}]}, "finishReason": "MAX_TOKENS"},
                {"index": 0, "content": {"parts": [{"functionCall": {"id": "g1", "name": "f"}}]},
                    "finishReason": "SAFETY"},
            ]}),
            json!({"id": "r", "object": "chat.completion", "created": 0, "model": "v", "choices": [
                {"index": 1, "message": {"role": "assistant", "content": "x"},
                    "logprobs": null, "finish_reason": "length"},
                {"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "g1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                    "logprobs": null, "finish_reason": "content_filter"},
            ]}),
        ),
        (
            "a candidate with no content and an unknown reason",
            json!({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}],
                "usageMetadata": {"promptTokenCount": 3}}),
            json!({"id": "chatcmpl-gemini", "object": "chat.completion", "created": 0, "model": "asked",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null},
                    "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0}}}),
        ),
    ];
    for (name, reply, want) in cases {
        let got = ToGemini
            .response(&serde_json::to_vec(reply).unwrap(), "asked")
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&got).unwrap(),
            *want,
            "{name}"
        );
    }
    for bad in [
        "",
        "[]",
        "{}",
        "{\"candidates\":{}}",
        "\"x\"",
        "{\"error\":{}}",
    ] {
        assert!(ToGemini.response(bad.as_bytes(), "m").is_err(), "{bad}");
    }
}

#[test]
fn errors() {
    let cases: &[(u16, &str, Value)] = &[
        (
            404,
            r#"{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}"#,
            json!({"error": {"message": "models/x is not found", "type": "invalid_request_error",
                "param": null, "code": "NOT_FOUND"}}),
        ),
        (
            503,
            "upstream connect error",
            json!({"error": {"message": "upstream connect error", "type": "api_error",
                "param": null, "code": null}}),
        ),
        (
            500,
            "",
            json!({"error": {"message": "the provider answered HTTP 500", "type": "api_error",
                "param": null, "code": null}}),
        ),
        (
            401,
            r#"{"error":{"code":401}}"#,
            json!({"error": {"message": "{\"error\":{\"code\":401}}", "type": "authentication_error",
                "param": null, "code": null}}),
        ),
    ];
    for (status, body, want) in cases {
        let got = ToGemini.error(*status, body.as_bytes());
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
        json!({"id": "chatcmpl-gemini", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let cases: &[(&str, &str, bool, Vec<Value>)] = &[
        ("nothing", "", false, vec![json!("[DONE]")]),
        ("a final event without its blank line", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}]}",
            false,
            vec![chunk(json!({"role": "assistant", "content": "x"}), Value::Null),
                 chunk(json!({}), json!("stop")), json!("[DONE]")]),
        ("a finish with nothing before it still names the role",
            "data: {\"candidates\":[{\"finishReason\":\"RECITATION\"}]}\n\n", false,
            vec![chunk(json!({"role": "assistant"}), Value::Null),
                 chunk(json!({}), json!("content_filter")), json!("[DONE]")]),
        ("a blocked prompt", "data: {\"promptFeedback\":{\"blockReason\":\"OTHER\"}}\n\n", true,
            vec![{
                let mut c = chunk(json!({"role": "assistant"}), Value::Null);
                c["usage"] = Value::Null;
                c
            }, {
                let mut c = chunk(json!({}), json!("content_filter"));
                c["usage"] = Value::Null;
                c
            }, json!("[DONE]")]),
        ("an error event, comments and junk skipped",
            ": keepalive\n\ndata: not json\n\ndata: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\n\n",
            true,
            vec![json!({"error": {"message": "boom", "type": "api_error", "param": null, "code": "INTERNAL"}}),
                 json!("[DONE]")]),
    ];
    for (name, native, include_usage, want) in cases {
        let got = stream_every_split(
            &ToGemini,
            &stream_request("m", *include_usage),
            native.as_bytes(),
        );
        assert_eq!(events(&got), *want, "{name}");
    }
}

#[test]
fn end_twice_sends_done_once() {
    let mut stream = ToGemini.stream(&stream_request("m", false));
    assert_eq!(stream.end(), SSE_DONE);
    assert_eq!(stream.end(), b"");
}

#[test]
fn golden_files() {
    let request = fixture("gemini/request-chat.openai.json");
    let native = ToGemini
        .request(
            &request,
            Target {
                model: Some("gemini-2.5-flash"),
            },
        )
        .unwrap();
    assert!(native.stream && native.include_usage);
    golden("gemini/request-chat.gemini.json", &pretty(&native.body));

    for name in [
        "response-text",
        "response-function-call",
        "response-blocked",
    ] {
        let got = ToGemini
            .response(&fixture(&format!("gemini/{name}.json")), "gemini-2.5-flash")
            .unwrap();
        golden(&format!("gemini/{name}.openai.json"), &pretty(&got));
    }
    for (name, status) in [("error-400", 400), ("error-429-vertex", 429)] {
        let got = ToGemini.error(status, &fixture(&format!("gemini/{name}.json")));
        golden(&format!("gemini/{name}.openai.json"), &pretty(&got));
    }
    for (name, include_usage) in [("stream-text", true), ("stream-function-call", false)] {
        let native = fixture(&format!("gemini/{name}.sse"));
        let got = stream_every_split(
            &ToGemini,
            &stream_request("gemini-2.5-flash", include_usage),
            &native,
        );
        golden(&format!("gemini/{name}.openai.sse"), &got);
    }
}

#[test]
fn garbage_never_panics() {
    for input in garbage() {
        let _ = ToGemini.request(&input, NO_TARGET);
        let _ = ToGemini.request(
            &input,
            Target {
                model: Some("gemini-3"),
            },
        );
        let _ = ToGemini.response(&input, "m");
        let error = ToGemini.error(500, &input);
        assert!(serde_json::from_slice::<Value>(&error).is_ok());
        let out = stream_in(&ToGemini, &stream_request("m", true), &[&input]);
        assert!(out.ends_with(SSE_DONE));
        // Byte by byte, too.
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        let _ = stream_in(&ToGemini, &stream_request("m", true), &pieces);
    }
}
