use super::*;
use crate::policy_config::Builtin;
use serde_json::Value;

/// The four builtins, compiled once for all the splits.
fn patterns() -> &'static Patterns {
    static PATTERNS: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        Patterns::new(
            &[],
            &[
                Builtin::Ssn,
                Builtin::CreditCard,
                Builtin::PhoneNumber,
                Builtin::Email,
            ],
        )
        .unwrap()
    })
}

/// Feeds `chunks` like Envoy would; returns what each chunk became (the
/// end's bytes as one more chunk).
fn mask_chunks(format: Format, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
    let p = patterns();
    let mut masker = SseMasker::new(format);
    let mut out: Vec<Vec<u8>> = chunks.iter().map(|c| masker.feed(p, c)).collect();
    out.push(masker.end(p));
    (out, masker.masks())
}

/// The `data:` of every event the client reads, parsed; `[DONE]` as a
/// string. Panics on an event that is not JSON.
fn client_events(bytes: &[u8]) -> Vec<(String, Value)> {
    let mut reader = SseReader::new();
    let mut events = Vec::new();
    let mut push = |e: Event<'_>| {
        let name = String::from_utf8(e.name.to_vec()).unwrap();
        let data = if e.data == b"[DONE]" {
            Value::from("[DONE]")
        } else {
            serde_json::from_slice(e.data)
                .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(e.data)))
        };
        events.push((name, data));
    };
    reader.feed(bytes, &mut push);
    reader.finish(&mut push);
    events
}

/// The text a client of `format` assembles from the stream, per choice or
/// block.
fn client_text(format: Format, bytes: &[u8]) -> Vec<(u64, String)> {
    let mut texts: Vec<(u64, String)> = Vec::new();
    let mut add = |i: u64, t: &str| match texts.iter_mut().find(|(k, _)| *k == i) {
        Some((_, text)) => text.push_str(t),
        None => texts.push((i, t.to_owned())),
    };
    for (_, data) in client_events(bytes) {
        match format {
            Format::Chat => {
                for c in data["choices"].as_array().into_iter().flatten() {
                    if let Some(t) = c["delta"]["content"].as_str() {
                        add(c["index"].as_u64().unwrap(), t);
                    }
                }
            }
            Format::Messages => {
                if data["type"] == "content_block_delta" {
                    add(
                        data["index"].as_u64().unwrap(),
                        data["delta"]["text"].as_str().unwrap(),
                    );
                }
            }
            Format::Responses => {
                if data["type"] == "response.output_text.delta" {
                    add(0, data["delta"].as_str().unwrap());
                }
            }
            Format::Gemini => {
                for c in data["candidates"].as_array().into_iter().flatten() {
                    for part in c["content"]["parts"].as_array().into_iter().flatten() {
                        if let Some(t) = part["text"].as_str() {
                            add(c["index"].as_u64().unwrap_or(0), t);
                        }
                    }
                }
            }
            Format::Converse => {}
        }
    }
    texts
}

const CARD: &str = "5555 5555 5555 4444";
const MAIL: &str = "jane.doe@example.com";

/// The deltas of the reply: the card and the address cut across events.
const DELTAS: [&str; 7] = [
    "Your card ",
    "5555 55",
    "55 5555 4",
    "444 is on file; mail jane.",
    "doe@exa",
    "mple.com",
    " if lost.",
];

fn text() -> String {
    DELTAS.concat()
}

fn masked_text() -> String {
    text()
        .replace(CARD, "<CREDIT_CARD>")
        .replace(MAIL, "<EMAIL>")
}

fn chat_stream() -> String {
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let mut s = chunk(r#"{"role":"assistant","content":""}"#, "null");
    for d in DELTAS {
        s += &chunk(
            &format!("{{\"content\":{}}}", serde_json::to_string(d).unwrap()),
            "null",
        );
    }
    s += &chunk("{}", "\"stop\"");
    s += "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}\n\ndata: [DONE]\n\n";
    s
}

fn messages_stream() -> String {
    let mut s = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n");
    for d in DELTAS {
        s += &format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
            serde_json::to_string(d).unwrap()
        );
    }
    s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    s
}

fn responses_stream() -> String {
    let mut s = String::from("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"output\":[]},\"sequence_number\":0}\n\n");
    for (n, d) in DELTAS.iter().enumerate() {
        s += &format!(
            "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":{},\"logprobs\":[],\"sequence_number\":{}}}\n\n",
            serde_json::to_string(d).unwrap(),
            n + 1
        );
    }
    let full = serde_json::to_string(&text()).unwrap();
    s += &format!("event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"text\":{full},\"sequence_number\":20}}\n\n");
    s += &format!("event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"id\":\"r\",\"output\":[{{\"type\":\"message\",\"content\":[{{\"type\":\"output_text\",\"text\":{full}}}]}}],\"usage\":{{\"input_tokens\":3,\"output_tokens\":9,\"total_tokens\":12}}}},\"sequence_number\":21}}\n\n");
    s
}

fn gemini_stream() -> String {
    let mut s = String::new();
    for (n, d) in DELTAS.iter().enumerate() {
        let finish = if n + 1 == DELTAS.len() {
            ",\"finishReason\": \"STOP\""
        } else {
            ""
        };
        s += &format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": {}}}],\"role\": \"model\"}}{finish},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 3}},\"modelVersion\": \"gemini-2.5-flash\"}}\r\n\r\n",
            serde_json::to_string(d).unwrap()
        );
    }
    s
}

/// Each format's stream and the matches masked in it (Responses repeats
/// the whole text twice).
fn streams() -> [(Format, String, usize); 4] {
    [
        (Format::Chat, chat_stream(), 2),
        (Format::Messages, messages_stream(), 2),
        (Format::Responses, responses_stream(), 6),
        (Format::Gemini, gemini_stream(), 2),
    ]
}

/// What the client of `format` reads from `chunks`, checked: every event
/// valid, the text masked, no chunk with a run of the card's digits.
fn check(format: Format, chunks: &[&[u8]], want_masks: usize, what: &str) {
    let (out, masks) = mask_chunks(format, chunks);
    for chunk in &out {
        let chunk = String::from_utf8_lossy(chunk);
        for digits in ["5555", "4444", "jane", "example"] {
            assert!(!chunk.contains(digits), "{format:?} {what}: {chunk}");
        }
    }
    let all = out.concat();
    assert_eq!(
        client_text(format, &all),
        [(0, masked_text())],
        "{format:?} {what}"
    );
    assert_eq!(masks, want_masks, "{format:?} {what}");
}

#[test]
fn a_match_is_masked_whatever_the_events_and_chunks_it_is_cut_into() {
    for (format, stream, masks) in streams() {
        let bytes = stream.as_bytes();
        check(format, &[bytes], masks, "whole");
        for i in 0..=bytes.len() {
            check(
                format,
                &[&bytes[..i], &bytes[i..]],
                masks,
                &format!("cut at {i}"),
            );
            for width in [1, 5, 40] {
                let j = (i + width).min(bytes.len());
                let chunks = [&bytes[..i], &bytes[i..j], &bytes[j..]];
                check(format, &chunks, masks, &format!("cut at {i},{j}"));
            }
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        check(format, &bytewise, masks, "byte by byte");
    }
}

#[test]
fn complete_texts_in_responses_events_are_masked_too() {
    let (out, _) = mask_chunks(Format::Responses, &[responses_stream().as_bytes()]);
    let events = client_events(&out.concat());
    let done = events
        .iter()
        .find(|(name, _)| name == "response.output_text.done")
        .unwrap();
    assert_eq!(done.1["text"], masked_text());
    let completed = &events.last().unwrap().1;
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        masked_text()
    );
    assert_eq!(completed["response"]["usage"]["total_tokens"], 12);
}

#[test]
fn held_text_goes_out_before_the_event_that_ends_its_stream() {
    // (format, stream ending with held text, the events' types / finish in order)
    let chat = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mail a@b.io\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let (out, _) = mask_chunks(Format::Chat, &[chat.as_bytes()]);
    let events = client_events(&out.concat());
    let seen: Vec<String> = events
        .iter()
        .map(|(_, d)| {
            format!(
                "{}|{}",
                d["choices"][0]["delta"]["content"].as_str().unwrap_or("-"),
                d["choices"][0]["finish_reason"]
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "mail |null",
            "<EMAIL>|null",
            "-|\"stop\"",
            "-|null" // [DONE]
        ]
    );
    assert_eq!(events[1].1["id"], "c");

    let messages = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"call 555-123-4567\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n";
    let (out, _) = mask_chunks(Format::Messages, &[messages.as_bytes()]);
    assert_eq!(
        String::from_utf8(out.concat()).unwrap(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"call \"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"<PHONE_NUMBER>\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    );

    // No end at all: the end of the body flushes, after a last event
    // without its blank line.
    let gemini = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"ssn 123-45-6789\"}]},\"index\":0}]}";
    let (out, _) = mask_chunks(Format::Gemini, &[gemini.as_bytes()]);
    assert_eq!(
        client_text(Format::Gemini, &out.concat()),
        [(0, "ssn <SSN>".to_owned())]
    );
}

#[test]
fn choices_and_blocks_are_masked_apart() {
    let chunk = |i: u32, text: &str| {
        format!(
            "data: {{\"choices\":[{{\"index\":{i},\"delta\":{{\"content\":{}}}}}]}}\n\n",
            serde_json::to_string(text).unwrap()
        )
    };
    let stream = [
        chunk(0, "card 5555 5555"),
        chunk(1, "5555 4444 is not"),
        chunk(0, " 5555 4444."),
        chunk(1, " a card."),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (out, masks) = mask_chunks(Format::Chat, &[stream.as_bytes()]);
    assert_eq!(
        client_text(Format::Chat, &out.concat()),
        [
            (0, "card <CREDIT_CARD>.".to_owned()),
            (1, "5555 4444 is not a card.".to_owned())
        ]
    );
    assert_eq!(masks, 1);
}

#[test]
fn events_without_anything_to_change_pass_byte_for_byte() {
    // Deltas ending where no match can grow: nothing is held.
    let stream = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello! \"}}],\"obfuscation\":\"x\"}\r\n\r\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n";
    for i in 0..=stream.len() {
        let (out, _) = mask_chunks(
            Format::Chat,
            &[&stream.as_bytes()[..i], &stream.as_bytes()[i..]],
        );
        assert_eq!(out.concat(), stream.as_bytes(), "cut at {i}");
    }
}

#[test]
fn an_edited_event_keeps_its_framing() {
    let stream = "event: content_block_delta\r\nid: 7\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a@b.io!\"}}\r\n\r\n";
    let (out, _) = mask_chunks(Format::Messages, &[stream.as_bytes()]);
    assert_eq!(
        String::from_utf8(out.concat()).unwrap(),
        "event: content_block_delta\r\nid: 7\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"<EMAIL>!\"}}\r\n\r\n"
    );
    // Data over two lines is rebuilt on one event's lines.
    let split =
        "data: {\"choices\":[{\"index\":0,\"delta\":\ndata: {\"content\":\"a@b.io!\"}}]}\n\n";
    let (out, _) = mask_chunks(Format::Chat, &[split.as_bytes()]);
    assert_eq!(
        String::from_utf8(out.concat()).unwrap(),
        "data: {\"choices\":[{\"index\":0,\"delta\":\ndata: {\"content\":\"<EMAIL>!\"}}]}\n\n"
    );
}

#[test]
fn events_the_gateway_cannot_read_are_dropped() {
    let big = "x".repeat(MAX_PENDING + 10);
    let stream = format!(
        "data: not json 5555 5555 5555 4444\n\ndata: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{big}\"}}}}]}}\n\ndata: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"ok!\"}}}}]}}\n\ndata: [DONE]\n\n"
    );
    let p = patterns();
    let mut masker = SseMasker::new(Format::Chat);
    let mut out = Vec::new();
    for piece in stream.as_bytes().chunks(64 * 1024) {
        out.extend(masker.feed(p, piece));
    }
    out.extend(masker.end(p));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok!\"}}]}\n\ndata: [DONE]\n\n"
    );
    assert_eq!(masker.dropped(), 1);
}
