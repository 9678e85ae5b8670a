//! An OpenAI chat client in front of a provider with its own API: the
//! request converted and held until it is, the reply converted as the
//! client gets it (streams chunk by chunk, whole replies with their status),
//! and usage counted from the provider's own bytes.

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conversion");

pub(super) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

pub(super) fn anthropic() -> Plugin {
    plugin(
        ProviderConfig::Anthropic {
            model: None,
            api_version: None,
        },
        TokenSource::Value {
            value: "ant".into(),
        },
    )
}

fn gemini() -> Plugin {
    plugin(
        ProviderConfig::Gemini {
            model: "gemini-2.5-flash".into(),
            api_version: "v1beta".into(),
        },
        TokenSource::Value {
            value: "goog".into(),
        },
    )
}

pub(super) const CHAT: &str =
    r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}"#;
pub(super) const CHAT_STREAM: &str = r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;

/// Sends a chat request to `path`; returns the stream and fake with the
/// request gone upstream.
pub(super) fn request(p: &Plugin, path: &str, body: &str) -> (Stream, Fake) {
    let len = body.len().to_string();
    let mut f = fake(&[
        (":method", "POST"),
        (":path", path),
        ("content-length", &len),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(p, &mut f, false), Flow::Pause);
    let bytes = body.as_bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    assert_eq!(
        send_body(&mut s, p, &mut f, &[a, b], true),
        [Flow::Pause, Flow::Continue]
    );
    (s, f)
}

/// Like Envoy: a paused body callback leaves the bytes buffered, so the next
/// one sees everything so far; the client gets what a continuing callback
/// leaves (headers only once they continue).
pub(super) fn reply(
    s: &mut Stream,
    p: &Plugin,
    f: &mut Fake,
    status: &str,
    ct: &str,
    chunks: &[&[u8]],
) {
    f.response_headers.insert(":status".into(), status.into());
    f.response_headers.insert("content-type".into(), ct.into());
    f.response_headers
        .insert("content-length".into(), "123".into());
    let mut paused = s.on_response_headers(p, f, chunks.is_empty()) == Flow::Pause;
    f.response_chunk.clear();
    for (i, chunk) in chunks.iter().enumerate() {
        f.response_chunk.extend_from_slice(chunk);
        let flow = s.on_response_body(p, f, f.response_chunk.len(), i + 1 == chunks.len());
        if flow == Flow::Continue {
            paused = false;
            let sent = std::mem::take(&mut f.response_chunk);
            f.client_got.extend(sent);
        }
    }
    assert!(!paused, "the reply never continued");
}

/// The SSE events of an OpenAI stream, each `data:` parsed (key order is
/// not part of the format).
fn events(sse: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.ends_with("\n\n"), "{text}");
    text.split_terminator("\n\n")
        .map(|event| {
            let data = event.strip_prefix("data: ").unwrap();
            serde_json::from_str(data).unwrap_or_else(|_| data.into())
        })
        .collect()
}

pub(super) fn total_tokens(f: &Fake) -> u64 {
    f.counters
        .iter()
        .filter(|(k, _)| k.starts_with("llmgate_tokens;") && k.ends_with("token_type=total"))
        .map(|(_, v)| *v)
        .sum()
}

#[test]
fn a_chat_request_reaches_anthropic_as_messages_and_the_reply_comes_back_as_chat() {
    let p = anthropic();
    let (mut s, mut f) = request(&p, "/anthropic/v1/chat/completions", CHAT);
    assert_eq!(f.request_headers[":path"], "/v1/messages");
    assert_eq!(f.request_headers["x-api-key"], "ant");
    let sent: serde_json::Value = serde_json::from_slice(&f.request_body).unwrap();
    assert_eq!(sent["model"], "claude-haiku-4-5");
    assert_eq!(sent["max_tokens"], 4096);
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(
        f.request_headers["content-length"],
        f.request_body.len().to_string()
    );

    let native = fixture("anthropic/message.json");
    let (a, b) = native.split_at(native.len() / 3);
    reply(&mut s, &p, &mut f, "200", "application/json", &[a, b]);
    s.finish(&p, &mut f);
    let want: serde_json::Value =
        serde_json::from_slice(&fixture("anthropic/message.openai.json")).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
    assert_eq!(got, want);
    assert_eq!(f.response_headers.get("content-length"), None);
    assert_eq!(f.response_headers["content-type"], "application/json");
    assert_eq!(f.response_headers[":status"], "200");
    assert_eq!(
        total_tokens(&f),
        want["usage"]["total_tokens"].as_u64().unwrap()
    );
}

#[test]
fn a_stream_is_converted_chunk_by_chunk_whatever_the_split() {
    let native = fixture("anthropic/stream-text.sse");
    let want = String::from_utf8(fixture("anthropic/stream-text.openai.sse")).unwrap();
    for split in [1, 7, 100, native.len() / 2, native.len() - 1] {
        let p = anthropic();
        let (mut s, mut f) = request(&p, "/anthropic/chat/completions", CHAT_STREAM);
        let sent: serde_json::Value = serde_json::from_slice(&f.request_body).unwrap();
        assert_eq!(sent["stream"], true);
        let (a, b) = native.split_at(split);
        reply(&mut s, &p, &mut f, "200", "text/event-stream", &[a, b]);
        s.finish(&p, &mut f);
        assert_eq!(
            events(&f.client_got),
            events(want.as_bytes()),
            "split at {split}"
        );
        assert_eq!(f.response_headers["content-type"], "text/event-stream");
        assert_eq!(f.response_headers.get("content-length"), None);
        // Counted from Anthropic's own events: 25 + 12 + 100 in, 15 out.
        assert_eq!(total_tokens(&f), 152, "split at {split}");
    }
}

#[test]
fn gemini_streams_from_its_streaming_method_and_the_client_gets_openai_chunks() {
    let p = gemini();
    let (mut s, mut f) = request(&p, "/gemini/chat/completions", CHAT_STREAM);
    assert_eq!(
        f.request_headers[":path"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let native = fixture("gemini/stream-text.sse");
    reply(&mut s, &p, &mut f, "200", "text/event-stream", &[&native]);
    s.finish(&p, &mut f);
    let got = String::from_utf8(f.client_got.clone()).unwrap();
    assert!(got.starts_with("data: {"), "{got}");
    assert!(got.ends_with("data: [DONE]\n\n"), "{got}");
    assert!(got.contains("chat.completion.chunk"), "{got}");
    assert!(total_tokens(&f) > 0);
}

#[test]
fn a_provider_error_keeps_its_status_in_openais_shape() {
    let p = anthropic();
    let (mut s, mut f) = request(&p, "/anthropic/chat/completions", CHAT);
    let native = fixture("anthropic/error.json");
    // Anthropic's `overloaded_error`.
    reply(&mut s, &p, &mut f, "529", "application/json", &[&native]);
    s.finish(&p, &mut f);
    let want: serde_json::Value =
        serde_json::from_slice(&fixture("anthropic/error.openai.json")).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
    assert_eq!(got, want);
    assert_eq!(f.response_headers[":status"], "529");
    assert!(f.counters.keys().any(|k| k.contains("status_class=5xx")));
}

#[test]
fn a_reply_not_of_the_providers_shape_is_a_502() {
    let p = anthropic();
    let (mut s, mut f) = request(&p, "/anthropic/chat/completions", CHAT);
    reply(
        &mut s,
        &p,
        &mut f,
        "200",
        "application/json",
        &[b"<html>oops</html>"],
    );
    s.finish(&p, &mut f);
    assert_eq!(f.response_headers[":status"], "502");
    let got: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
    assert_eq!(got["error"]["code"], "unreadable_reply");
}

#[test]
fn a_request_that_cannot_be_converted_is_refused_and_nothing_goes_upstream() {
    let cases: Vec<(Plugin, &str, Option<&str>)> = vec![
        (
            anthropic(),
            r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"n":2}"#,
            Some("n"),
        ),
        (anthropic(), "not json", None),
        (gemini(), r#"{"model":"g"}"#, Some("messages")),
    ];
    for (p, body, param) in cases {
        let len = body.len().to_string();
        let mut f = fake(&[
            (":method", "POST"),
            (":path", "/x/chat/completions"),
            ("content-length", &len),
        ]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let flows = send_body(&mut s, &p, &mut f, &[body.as_bytes()], true);
        assert_eq!(flows, [Flow::Pause], "{body}");
        let (status, _, reply) = f.local_reply.clone().expect(body);
        assert_eq!(status, 400, "{body}");
        let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(reply["error"]["code"], CONVERSION_CODE, "{body}");
        if let Some(param) = param {
            assert_eq!(reply["error"]["param"], param, "{body}");
        }
        s.finish(&p, &mut f);
        assert!(
            f.counters.keys().any(|k| k.contains("status_class=4xx")),
            "{body}"
        );
    }
    // No body at all.
    let p = anthropic();
    let mut f = fake(&[(":method", "POST"), (":path", "/x/chat/completions")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Pause);
    assert_eq!(f.local_reply.as_ref().map(|r| r.0), Some(400));
}

// ------------------------------------------------- Anthropic Messages clients

pub(super) const MESSAGES: &str =
    r#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;

fn bedrock_key() -> Plugin {
    plugin(
        ProviderConfig::Bedrock {
            model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            region: "us-east-1".into(),
            guardrail: None,
        },
        TokenSource::Value {
            value: "bedrock-key".into(),
        },
    )
}

#[test]
fn messages_reach_an_openai_provider_as_chat_and_come_back_as_a_message() {
    let p = openai_forcing("gpt-4o-mini");
    let (mut s, mut f) = request(&p, "/openai/v1/messages", MESSAGES);
    assert_eq!(f.request_headers[":path"], "/v1/chat/completions");
    assert_eq!(f.request_headers["authorization"], "Bearer sk-1");
    let sent: serde_json::Value = serde_json::from_slice(&f.request_body).unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["messages"][0]["content"], "hi");
    let native = fixture("messages/response-text.json");
    reply(&mut s, &p, &mut f, "200", "application/json", &[&native]);
    s.finish(&p, &mut f);
    let want: serde_json::Value =
        serde_json::from_slice(&fixture("messages/response-text.anthropic.json")).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
    assert_eq!(got, want);
    let usage: serde_json::Value = serde_json::from_slice(&native).unwrap();
    assert_eq!(
        total_tokens(&f),
        usage["usage"]["total_tokens"].as_u64().unwrap()
    );
}

#[test]
fn a_messages_stream_from_an_openai_provider_is_anthropics_event_sequence() {
    let native = fixture("messages/stream-text.sse");
    let want = String::from_utf8(fixture("messages/stream-text.anthropic.sse")).unwrap();
    for split in [1, 50, native.len() / 2] {
        let p = openai_forcing("gpt-4o-mini");
        let body = MESSAGES.replace("\"max_tokens\":64", "\"max_tokens\":64,\"stream\":true");
        let (mut s, mut f) = request(&p, "/openai/v1/messages", &body);
        let sent: serde_json::Value = serde_json::from_slice(&f.request_body).unwrap();
        assert_eq!(sent["stream_options"]["include_usage"], true);
        let (a, b) = native.split_at(split);
        reply(&mut s, &p, &mut f, "200", "text/event-stream", &[a, b]);
        s.finish(&p, &mut f);
        assert_eq!(
            anthropic_events(&f.client_got),
            anthropic_events(want.as_bytes()),
            "split at {split}"
        );
        assert!(total_tokens(&f) > 0);
    }
}

/// `(event, data)` pairs of an Anthropic stream, data parsed.
fn anthropic_events(sse: &[u8]) -> Vec<(String, serde_json::Value)> {
    let text = std::str::from_utf8(sse).unwrap();
    text.split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            (
                name.strip_prefix("event: ").unwrap().to_owned(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn messages_reach_bedrock_through_chat_and_its_errors_come_back_in_anthropics_shape() {
    let p = bedrock_key();
    let (mut s, mut f) = request(&p, "/bedrock/v1/messages", MESSAGES);
    assert_eq!(
        f.request_headers[":path"],
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    let sent: serde_json::Value = serde_json::from_slice(&f.request_body).unwrap();
    assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 64);
    reply(
        &mut s,
        &p,
        &mut f,
        "429",
        "application/json",
        &[br#"{"message":"Too many requests, please wait before trying again."}"#],
    );
    s.finish(&p, &mut f);
    let got: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
    assert_eq!(got["type"], "error");
    assert_eq!(got["error"]["type"], "rate_limit_error");
    assert_eq!(f.response_headers[":status"], "429");
}

#[test]
fn a_messages_request_that_cannot_be_converted_is_refused_in_anthropics_shape() {
    let p = openai_forcing("gpt-4o-mini");
    let body = r#"{"model":"c","max_tokens":8,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#;
    let len = body.len().to_string();
    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/openai/v1/messages"),
        ("content-length", &len),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    send_body(&mut s, &p, &mut f, &[body.as_bytes()], true);
    let (status, _, reply) = f.local_reply.clone().unwrap();
    assert_eq!(status, 400);
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["error"]["type"], "invalid_request_error");
}
