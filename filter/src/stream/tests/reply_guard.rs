//! Response guards, as the client sees them: a streamed reply with a card
//! cut across events and Envoy's chunks arrives masked (converted or not,
//! with the injected usage event taken out), a whole reply is masked with
//! its length fixed, and a reply the guard cannot check is a 502 — while
//! usage is counted from the provider's bytes as without a guard.

use super::conversion::{self, CHAT, CHAT_STREAM};
use super::*;
use crate::policy_config::{AiPolicy, Builtin, Guard, GuardAction, RegexGuard, Rejection};

fn guarded(p: Plugin) -> Plugin {
    let policy = AiPolicy {
        response_guards: vec![Guard::Regex(RegexGuard {
            matches: vec![],
            builtins: vec![
                Builtin::Ssn,
                Builtin::CreditCard,
                Builtin::PhoneNumber,
                Builtin::Email,
            ],
            action: GuardAction::Mask,
            rejection: Rejection {
                status: 403,
                message: "no".into(),
            },
        })],
        ..AiPolicy::default()
    };
    Plugin::new(FilterConfig { policy, ..p.cfg })
}

fn openai() -> Plugin {
    plugin(
        ProviderConfig::Openai { model: None },
        TokenSource::Value {
            value: "sk-1".into(),
        },
    )
}

/// What the client got: the headers' flow, then each body callback's bytes
/// as Envoy passes them on (a paused callback passes nothing; Envoy hands
/// everything so far to the next one).
fn deliver(
    s: &mut Stream,
    p: &Plugin,
    f: &mut Fake,
    status: &str,
    headers: &[(&str, &str)],
    chunks: &[&[u8]],
) -> (Flow, Vec<Vec<u8>>) {
    f.response_headers.insert(":status".into(), status.into());
    for (k, v) in headers {
        f.response_headers.insert((*k).into(), (*v).into());
    }
    let flow = s.on_response_headers(p, f, chunks.is_empty());
    f.response_chunk.clear();
    let mut got = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        f.response_chunk.extend_from_slice(chunk);
        let end = i + 1 == chunks.len();
        if s.on_response_body(p, f, f.response_chunk.len(), end) == Flow::Continue {
            got.push(std::mem::take(&mut f.response_chunk));
        } else {
            assert!(!end, "the reply never continued");
        }
    }
    s.finish(p, f);
    f.client_got = got.concat();
    (flow, got)
}

/// The text of a chat stream's deltas, as a client assembles it.
fn chat_text(sse: &[u8]) -> String {
    let mut text = String::new();
    let mut reader = crate::sse::SseReader::new();
    let mut add = |e: crate::sse::Event<'_>| {
        if e.data == b"[DONE]" {
            return;
        }
        let v: serde_json::Value = serde_json::from_slice(e.data).unwrap();
        for c in v["choices"].as_array().unwrap() {
            text.push_str(c["delta"]["content"].as_str().unwrap_or_default());
        }
    };
    reader.feed(sse, &mut add);
    reader.finish(&mut add);
    text
}

/// Counters other than the guard's own.
fn usage_counters(f: &Fake) -> BTreeMap<String, u64> {
    f.counters
        .iter()
        .filter(|(k, _)| !k.starts_with("llmgate_prompt_guard;"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The replies counted as masked (whatever the provider labels).
fn masked_replies(f: &Fake) -> Option<&u64> {
    f.counters.iter().find_map(|(k, v)| {
        (k.starts_with("llmgate_prompt_guard;route=ns/r/rule/0;backend=ns/ai;")
            && k.ends_with(";direction=response;action=mask"))
        .then_some(v)
    })
}

/// A chat stream the gateway asked usage of: the card cut across events,
/// the usage event last.
const CHAT_SSE: &[u8] = b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"model\":\"gpt-4o-mini\",\"usage\":null}\n\n\
data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Card 5555 55\"}}],\"model\":\"gpt-4o-mini\",\"usage\":null}\n\n\
data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"55 5555 4444 is yours.\"}}],\"model\":\"gpt-4o-mini\",\"usage\":null}\n\n\
data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"model\":\"gpt-4o-mini\",\"usage\":null}\n\n\
data: {\"id\":\"c\",\"choices\":[],\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":28,\"completion_tokens\":19,\"total_tokens\":47}}\n\n\
data: [DONE]\n\n";

/// Streams `CHAT_SSE` cut at `cuts` to a chat request that asked no usage
/// (so the gateway adds and takes back `include_usage`).
fn stream_chat(p: &Plugin, cuts: &[usize]) -> (Fake, Vec<Vec<u8>>) {
    let body: &[u8] = br#"{"model":"gpt-4o-mini","messages":[],"stream":true}"#;
    let len = body.len().to_string();
    let mut f = fake(&[(":path", "/v1/chat/completions"), ("content-length", &len)]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(p, &mut f, false), Flow::Pause);
    send_body(&mut s, p, &mut f, &[body], true);
    assert!(String::from_utf8_lossy(&f.request_body).contains("include_usage"));
    let mut chunks = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        chunks.push(&CHAT_SSE[at..cut]);
        at = cut;
    }
    chunks.push(&CHAT_SSE[at..]);
    let ct = [("content-type", "text/event-stream")];
    let (flow, got) = deliver(&mut s, p, &mut f, "200", &ct, &chunks);
    assert_eq!(flow, Flow::Continue);
    (f, got)
}

#[test]
fn a_streamed_card_cut_across_events_and_chunks_reaches_the_client_masked() {
    let (plain, _) = stream_chat(&openai(), &[]);
    assert_eq!(
        chat_text(&plain.client_got),
        "Card 5555 5555 5555 4444 is yours."
    );
    let p = guarded(openai());
    let mut cuts: Vec<Vec<usize>> = (0..=CHAT_SSE.len()).map(|i| vec![i]).collect();
    cuts.extend((0..CHAT_SSE.len() - 9).step_by(3).map(|i| vec![i, i + 9]));
    for cut in cuts {
        let (f, got) = stream_chat(&p, &cut);
        assert_eq!(
            chat_text(&f.client_got),
            "Card <CREDIT_CARD> is yours.",
            "cut at {cut:?}"
        );
        for chunk in &got {
            let chunk = String::from_utf8_lossy(chunk);
            assert!(
                !chunk.contains("5555") && !chunk.contains("4444"),
                "{chunk}"
            );
        }
        // The injected usage event is still taken out, and counted.
        let client = String::from_utf8_lossy(&f.client_got);
        assert!(!client.contains("prompt_tokens"), "{client}");
        assert!(client.ends_with("data: [DONE]\n\n"), "{client}");
        assert_eq!(usage_counters(&f), usage_counters(&plain), "cut at {cut:?}");
        assert_eq!(masked_replies(&f), Some(&1), "cut at {cut:?}");
    }
    assert_eq!(masked_replies(&plain), None);
}

#[test]
fn a_converted_anthropic_stream_reaches_the_chat_client_masked() {
    let native = String::from_utf8(conversion::fixture("anthropic/stream-text.sse"))
        .unwrap()
        .replace(r#""text":"Hello""#, r#""text":"Card 5555 5555""#)
        .replace(
            r#""text":"! How can I help — \"today\"?""#,
            r#""text":" 5555 4444, or mail jane@example.com""#,
        );
    let run = |p: &Plugin, split: usize| {
        let (mut s, mut f) = conversion::request(p, "/anthropic/chat/completions", CHAT_STREAM);
        let (a, b) = native.as_bytes().split_at(split);
        let ct = [("content-type", "text/event-stream")];
        let (_, got) = deliver(&mut s, p, &mut f, "200", &ct, &[a, b]);
        (f, got)
    };
    let (plain, _) = run(&conversion::anthropic(), 0);
    let p = guarded(conversion::anthropic());
    for split in (0..native.len()).step_by(7) {
        let (f, got) = run(&p, split);
        assert_eq!(
            chat_text(&f.client_got),
            "Card <CREDIT_CARD>, or mail <EMAIL>",
            "split at {split}"
        );
        assert!(got
            .iter()
            .all(|c| !String::from_utf8_lossy(c).contains("5555")));
        assert_eq!(conversion::total_tokens(&f), 152, "split at {split}");
        assert_eq!(
            usage_counters(&f),
            usage_counters(&plain),
            "split at {split}"
        );
        assert_eq!(masked_replies(&f), Some(&1));
    }
}

const CHAT_JSON: &str = r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Your SSN is 123-45-6789."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;

/// A chat request to `p` answered with `reply` in `chunks` pieces.
fn answer(p: &Plugin, status: &str, headers: &[(&str, &str)], reply: &[u8]) -> (Fake, Flow) {
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    let mut s = Stream::new();
    s.on_request_headers(p, &mut f, true);
    let (a, b) = reply.split_at(reply.len() / 2);
    let (flow, _) = deliver(&mut s, p, &mut f, status, headers, &[a, b]);
    (f, flow)
}

#[test]
fn a_whole_reply_is_held_masked_and_its_length_fixed() {
    let len = CHAT_JSON.len().to_string();
    let headers = [
        ("content-type", "application/json"),
        ("content-length", &len),
    ];
    let (plain, flow) = answer(&openai(), "200", &headers, CHAT_JSON.as_bytes());
    assert_eq!(flow, Flow::Continue);
    assert_eq!(plain.client_got, CHAT_JSON.as_bytes());

    let (f, flow) = answer(&guarded(openai()), "200", &headers, CHAT_JSON.as_bytes());
    assert_eq!(flow, Flow::Pause, "headers wait for the masked length");
    let want = CHAT_JSON.replace("123-45-6789", "<SSN>");
    assert_eq!(String::from_utf8_lossy(&f.client_got), want);
    assert_eq!(f.response_headers["content-length"], want.len().to_string());
    assert_eq!(usage_counters(&f), usage_counters(&plain));
    assert_eq!(masked_replies(&f), Some(&1));

    // Nothing to mask: the reply as it came, not counted as masked.
    let clean = CHAT_JSON.replace("123-45-6789", "on file");
    let (f, _) = answer(&guarded(openai()), "200", &headers, clean.as_bytes());
    assert_eq!(f.client_got, clean.as_bytes());
    assert_eq!(masked_replies(&f), None);
}

#[test]
fn replies_the_guard_does_not_check_pass_as_they_are() {
    let error = r#"{"error":{"message":"bad card 5555 5555 5555 4444"}}"#;
    let json = [("content-type", "application/json")];
    let embeddings = r#"{"data":[{"embedding":[0.1]}],"model":"e","usage":{"prompt_tokens":1,"total_tokens":1}}"#;
    // (path, status, reply)
    let cases = [
        ("/v1/chat/completions", "400", error),
        ("/v1/embeddings", "200", embeddings),
    ];
    for (path, status, reply) in cases {
        let p = guarded(openai());
        let mut f = fake(&[(":path", path)]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        let (flow, _) = deliver(&mut s, &p, &mut f, status, &json, &[reply.as_bytes()]);
        assert_eq!(flow, Flow::Continue, "{path}");
        assert_eq!(f.client_got, reply.as_bytes(), "{path}");
    }
}

#[test]
fn a_reply_the_guard_cannot_check_is_a_502() {
    let big = format!(
        r#"{{"choices":[{{"message":{{"content":"5555 5555 5555 4444 {}"}}}}]}}"#,
        "x".repeat(3000)
    );
    // (plugin, headers, reply, what the error says)
    let cases: Vec<(Plugin, Vec<(&str, &str)>, Vec<u8>, &str)> = vec![
        (
            guarded(with_limit(openai(), 1024)),
            vec![("content-type", "application/json")],
            big.into_bytes(),
            "over 1024 bytes",
        ),
        (
            guarded(openai()),
            vec![("content-type", "application/json")],
            b"card 5555 5555 5555 4444".to_vec(),
            "could not be read",
        ),
        (
            guarded(openai()),
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            b"\x1f\x8b5555 5555 5555 4444".to_vec(),
            "content coding",
        ),
        (
            guarded(openai()),
            vec![
                ("content-type", "text/event-stream"),
                ("content-encoding", "br"),
            ],
            b"data: 5555 5555 5555 4444\n\n".to_vec(),
            "content coding",
        ),
    ];
    for (p, headers, reply, says) in cases {
        let mut f = fake(&[(":path", "/v1/chat/completions")]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        let chunks: Vec<&[u8]> = reply.chunks(700).collect();
        deliver(&mut s, &p, &mut f, "200", &headers, &chunks);
        assert_eq!(f.response_headers[":status"], "502", "{says}");
        assert_eq!(f.response_headers["content-type"], "application/json");
        assert!(!f.response_headers.contains_key("content-encoding"));
        assert_eq!(
            f.response_headers["content-length"],
            f.client_got.len().to_string()
        );
        let error: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
        assert_eq!(error["error"]["code"], "response_guard");
    }
}

#[test]
fn a_converted_whole_reply_is_masked_in_the_clients_format() {
    let native = String::from_utf8(conversion::fixture("anthropic/message.json"))
        .unwrap()
        .replace(
            r#""text": "I'll"#,
            r#""text": "Mail jane@example.com. I'll"#,
        );
    let p = guarded(conversion::anthropic());
    let (mut s, mut f) = conversion::request(&p, "/anthropic/chat/completions", CHAT);
    let ct = [("content-type", "application/json")];
    deliver(&mut s, &p, &mut f, "200", &ct, &[native.as_bytes()]);
    let got: serde_json::Value = serde_json::from_slice(&f.client_got).unwrap();
    let content = got["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("Mail <EMAIL>. "), "{content}");
    assert_eq!(f.response_headers[":status"], "200");
    assert_eq!(masked_replies(&f), Some(&1));
    assert!(conversion::total_tokens(&f) > 0);
}

#[test]
fn a_held_reply_that_ends_with_trailers_is_masked_too() {
    let p = guarded(openai());
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    let mut s = Stream::new();
    s.on_request_headers(&p, &mut f, true);
    f.response_headers.insert(":status".into(), "200".into());
    f.response_headers
        .insert("content-type".into(), "application/json".into());
    assert_eq!(s.on_response_headers(&p, &mut f, false), Flow::Pause);
    f.response_chunk = CHAT_JSON.as_bytes().to_vec();
    let len = f.response_chunk.len();
    assert_eq!(s.on_response_body(&p, &mut f, len, false), Flow::Pause);
    assert_eq!(s.on_response_trailers(&p, &mut f), Flow::Continue);
    let want = CHAT_JSON.replace("123-45-6789", "<SSN>");
    assert_eq!(String::from_utf8_lossy(&f.response_chunk), want);
    assert!(f.counters.keys().any(|k| k.contains("token_type=total")));
    assert_eq!(masked_replies(&f), Some(&1));
}

#[test]
fn a_messages_client_of_a_chat_provider_reads_anthropic_events_masked() {
    let native = String::from_utf8(conversion::fixture("messages/stream-text.sse"))
        .unwrap()
        .replace(r#""content":"Hello""#, r#""content":"Call 555-12""#)
        .replace(
            r#""content":"! How can I help — \"today\"?""#,
            r#""content":"3-4567 today.""#,
        );
    let p = guarded(openai_forcing("gpt-4o-mini"));
    let body =
        conversion::MESSAGES.replace("\"max_tokens\":64", "\"max_tokens\":64,\"stream\":true");
    for split in (0..native.len()).step_by(11) {
        let (mut s, mut f) = conversion::request(&p, "/openai/v1/messages", &body);
        let (a, b) = native.as_bytes().split_at(split);
        let ct = [("content-type", "text/event-stream")];
        deliver(&mut s, &p, &mut f, "200", &ct, &[a, b]);
        let mut text = String::new();
        let mut reader = crate::sse::SseReader::new();
        let mut add = |e: crate::sse::Event<'_>| {
            let v: serde_json::Value = serde_json::from_slice(e.data).unwrap();
            if v["type"] == "content_block_delta" {
                text.push_str(v["delta"]["text"].as_str().unwrap());
            }
        };
        reader.feed(&f.client_got, &mut add);
        reader.finish(&mut add);
        assert_eq!(text, "Call <PHONE_NUMBER> today.", "split at {split}");
        assert!(conversion::total_tokens(&f) > 0);
    }
}

#[test]
fn a_native_bedrock_converse_stream_is_masked_message_by_message() {
    use crate::event_stream::{encode, EventStreamReader, Message};
    let bedrock = || {
        plugin(
            ProviderConfig::Bedrock {
                model: "m".into(),
                region: "us-west-2".into(),
                guardrail: None,
            },
            TokenSource::Value {
                value: "bedrock-api-key".into(),
            },
        )
    };
    let mut native = encode::event("messageStart", r#"{"role":"assistant"}"#);
    for text in ["Card 5555 55", "55 5555 4444."] {
        let payload = format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"{text}"}}}}"#);
        native.extend(encode::event("contentBlockDelta", &payload));
    }
    native.extend(encode::event(
        "contentBlockStop",
        r#"{"contentBlockIndex":0}"#,
    ));
    native.extend(encode::event("messageStop", r#"{"stopReason":"end_turn"}"#));
    native.extend(encode::event(
        "metadata",
        r#"{"usage":{"inputTokens":3,"outputTokens":9,"totalTokens":12}}"#,
    ));
    let run = |p: &Plugin, split: usize| {
        let mut f = fake(&[(":path", "/model/x/converse-stream")]);
        let mut s = Stream::new();
        s.on_request_headers(p, &mut f, true);
        let ct = [("content-type", "application/vnd.amazon.eventstream")];
        let (a, b) = native.split_at(split);
        let (_, got) = deliver(&mut s, p, &mut f, "200", &ct, &[a, b]);
        (f, got)
    };
    let (plain, _) = run(&bedrock(), 0);
    assert_eq!(plain.client_got, native);
    let p = guarded(bedrock());
    for split in 0..=native.len() {
        let (f, got) = run(&p, split);
        assert!(got
            .iter()
            .all(|c| !String::from_utf8_lossy(c).contains("5555")));
        let mut text = String::new();
        let mut reader = EventStreamReader::new();
        reader.feed(&f.client_got, &mut |m: Message<'_>| {
            if m.event_type() == Some("contentBlockDelta") {
                let v: serde_json::Value = serde_json::from_slice(m.payload).unwrap();
                text.push_str(v["delta"]["text"].as_str().unwrap());
            }
        });
        assert_eq!(reader.failed(), None);
        assert_eq!(text, "Card <CREDIT_CARD>.", "split at {split}");
        assert_eq!(
            usage_counters(&f),
            usage_counters(&plain),
            "split at {split}"
        );
        assert_eq!(masked_replies(&f), Some(&1));
    }
}
