use super::*;
use crate::usage::TokenUsage;

fn read(event_stream: bool, chunks: &[&[u8]]) -> Outcome {
    let mut r = ResponseReader::new(UsageFormat::OpenAiChat, event_stream, false);
    for c in chunks {
        r.feed(c);
    }
    r.finish()
}

fn tokens(input: u64, output: u64, total: u64) -> TokenUsage {
    TokenUsage {
        input,
        output,
        total,
        ..TokenUsage::default()
    }
}

#[test]
fn content_types() {
    let cases = [
        ("text/event-stream", true),
        ("text/event-stream; charset=utf-8", true),
        ("Text/Event-Stream ;charset=utf-8", true),
        ("application/json", false),
        ("text/event-streamx", false),
        ("", false),
    ];
    for (ct, want) in cases {
        assert_eq!(is_event_stream(ct), want, "{ct}");
    }
}

#[test]
fn json_bodies() {
    let ok = br#"{"model":"m","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let cases: Vec<(&str, Vec<&[u8]>, Outcome)> = vec![
        (
            "whole",
            vec![ok],
            Outcome {
                model: Some("m".into()),
                usage: Some(tokens(1, 2, 3)),
                ..Outcome::default()
            },
        ),
        (
            "in pieces",
            vec![&ok[..10], &ok[10..11], &ok[11..]],
            Outcome {
                model: Some("m".into()),
                usage: Some(tokens(1, 2, 3)),
                ..Outcome::default()
            },
        ),
        (
            "no usage",
            vec![br#"{"model":"m"}"#],
            Outcome {
                model: Some("m".into()),
                ..Outcome::default()
            },
        ),
        (
            "cut short",
            vec![&ok[..20]],
            Outcome {
                unparsed: true,
                ..Outcome::default()
            },
        ),
        (
            "empty",
            vec![],
            Outcome {
                unparsed: true,
                ..Outcome::default()
            },
        ),
        (
            "html",
            vec![b"<html></html>"],
            Outcome {
                unparsed: true,
                ..Outcome::default()
            },
        ),
    ];
    for (name, chunks, want) in cases {
        assert_eq!(read(false, &chunks), want, "{name}");
    }
}

#[test]
fn json_over_the_limit_is_unparsed() {
    let head = br#"{"usage":{"prompt_tokens":1},"pad":""#;
    let pad = vec![b'x'; MAX_JSON_BODY];
    let out = read(false, &[head, &pad, b"\"}"]);
    assert_eq!(
        out,
        Outcome {
            unparsed: true,
            ..Outcome::default()
        }
    );
    // Exactly at the limit is still read.
    let mut body = head.to_vec();
    body.resize(MAX_JSON_BODY - 2, b'x');
    body.extend_from_slice(b"\"}");
    assert_eq!(read(false, &[&body]).usage, Some(tokens(1, 0, 1)));
}

#[test]
fn streams() {
    let cases: &[(&str, &str, Outcome)] = &[
        (
            "azure: empty model first, usage then filter chunk",
            "data: {\"model\":\"\",\"choices\":[]}\n\n\
             data: {\"model\":\"gpt-4o\",\"usage\":null}\n\n\
             data: {\"model\":\"gpt-4o-2024\",\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}}\n\n\
             data: {\"id\":\"\",\"choices\":[{\"content_filter_results\":{}}]}\n\n\
             data: [DONE]\n\n",
            Outcome { model: Some("gpt-4o".into()), usage: Some(tokens(2, 3, 5)), streamed: true, ..Outcome::default() },
        ),
        (
            "last usage wins",
            "data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: {\"usage\":{\"prompt_tokens\":7}}\n\n",
            Outcome { usage: Some(tokens(7, 0, 7)), streamed: true, ..Outcome::default() },
        ),
        (
            "no usage is not unparsed",
            "data: {\"model\":\"m\",\"choices\":[]}\n\ndata: [DONE]\n\n",
            Outcome { model: Some("m".into()), streamed: true, ..Outcome::default() },
        ),
        (
            "a broken event is unparsed, the rest still counts",
            "data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: {oops\n\n",
            Outcome { usage: Some(tokens(1, 0, 1)), unparsed: true, streamed: true, ..Outcome::default() },
        ),
        (
            "stream cut inside an event",
            "data: {\"model\":\"m\"}\n\ndata: {\"usage\":{\"prompt_",
            Outcome { model: Some("m".into()), unparsed: true, streamed: true, ..Outcome::default() },
        ),
        (
            "mid-stream error after 200",
            "data: {\"model\":\"m\"}\n\ndata: {\"error\":{\"message\":\"x\"}}\n\n",
            Outcome { model: Some("m".into()), stream_errors: 1, streamed: true, ..Outcome::default() },
        ),
        ("empty stream", "", Outcome { streamed: true, ..Outcome::default() }),
    ];
    for (name, input, want) in cases {
        let bytes = input.as_bytes();
        for split in 0..=bytes.len() {
            let got = read(true, &[&bytes[..split], &bytes[split..]]);
            assert_eq!(&got, want, "{name} split at {split}");
        }
    }
}

#[test]
fn oversized_stream_event_is_unparsed() {
    let big = format!(
        "data: {{\"pad\":\"{}\"}}\n\n",
        "x".repeat(crate::sse::MAX_PENDING)
    );
    let input = format!("{big}data: {{\"usage\":{{\"prompt_tokens\":4}}}}\n\n");
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(16 * 1024).collect();
    let out = read(true, &chunks);
    assert_eq!(out.usage, Some(tokens(4, 0, 4)));
    assert!(out.unparsed);
}

/// Feeds `input` split at `splits` through a rewriting reader, as the stream
/// callback does (end of stream on the last chunk), and returns what the
/// client gets plus the outcome.
fn rewrite(input: &[u8], splits: &[usize]) -> (Vec<u8>, Outcome) {
    let mut r = ResponseReader::new(UsageFormat::OpenAiChat, true, true);
    assert!(r.rewrites());
    let mut out = Vec::new();
    let mut from = 0;
    for &at in splits.iter().chain(std::iter::once(&input.len())) {
        out.extend(r.feed(&input[from..at]).unwrap());
        from = at;
    }
    out.extend(r.end().unwrap());
    assert_eq!(r.end(), None, "end is idempotent");
    (out, r.finish())
}

#[test]
fn injected_usage_is_removed_at_every_split() {
    let usage_event = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":28,\"completion_tokens\":19,\"total_tokens\":47}}";
    // (name, stream as the provider sends it with include_usage, what the client gets)
    let cases: Vec<(&str, String, String)> = vec![
        (
            "openai, lf",
            format!("data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"delta\":{{}}}}],\"usage\":null,\"obfuscation\":\"x\"}}\n\n{usage_event}\n\ndata: [DONE]\n\n"),
            "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"delta\":{}}],\"obfuscation\":\"x\"}\n\ndata: [DONE]\n\n".into(),
        ),
        (
            "azure: content filter after usage, crlf",
            format!("data: {{\"choices\":[],\"id\":\"\",\"model\":\"\",\"usage\":null}}\r\n\r\ndata: {{\"model\":\"m\",\"choices\":[{{}}],\"usage\":null}}\r\n\r\n{usage_event}\r\n\r\ndata: {{\"choices\":[{{\"content_filter_results\":{{}}}}],\"id\":\"\",\"usage\":null}}\r\n\r\ndata: [DONE]\r\n\r\n"),
            "data: {\"choices\":[],\"id\":\"\",\"model\":\"\"}\r\n\r\ndata: {\"model\":\"m\",\"choices\":[{}]}\r\n\r\ndata: {\"choices\":[{\"content_filter_results\":{}}],\"id\":\"\"}\r\n\r\ndata: [DONE]\r\n\r\n".into(),
        ),
        (
            "cr separators, comment kept",
            format!(": keep-alive\r\rdata: {{\"model\":\"m\",\"usage\":null}}\r\r{usage_event}\r\rdata: [DONE]\r\r"),
            ": keep-alive\r\rdata: {\"model\":\"m\"}\r\rdata: [DONE]\r\r".into(),
        ),
        (
            "usage event last, without a final blank line",
            format!("data: {{\"model\":\"m\",\"usage\":null}}\n\n{usage_event}"),
            "data: {\"model\":\"m\"}\n\n".into(),
        ),
    ];
    for (name, input, want) in &cases {
        let bytes = input.as_bytes();
        for i in 0..=bytes.len() {
            let (out, outcome) = rewrite(bytes, &[i]);
            assert_eq!(String::from_utf8_lossy(&out), *want, "{name} split at {i}");
            assert_eq!(
                outcome.usage,
                Some(tokens(28, 19, 47)),
                "{name} split at {i}"
            );
            assert_eq!(outcome.model.as_deref(), Some("m"), "{name}");
        }
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        let (out, _) = rewrite(bytes, &bytewise);
        assert_eq!(String::from_utf8_lossy(&out), *want, "{name} byte by byte");
    }
}

#[test]
fn complete_events_are_forwarded_at_once() {
    let mut r = ResponseReader::new(UsageFormat::OpenAiChat, true, true);
    let first = b"data: {\"model\":\"m\",\"usage\":null}\n\ndata: {\"choi";
    assert_eq!(r.feed(first).unwrap(), b"data: {\"model\":\"m\"}\n\n");
    assert_eq!(r.feed(b"ces\":[1]}\n").unwrap(), b"", "held: unfinished");
    assert_eq!(r.feed(b"\n").unwrap(), b"data: {\"choices\":[1]}\n\n");
}

#[test]
fn without_injection_nothing_is_rewritten() {
    let mut r = ResponseReader::new(UsageFormat::OpenAiChat, true, false);
    assert!(!r.rewrites());
    assert_eq!(r.feed(b"data: {\"choices\":[],\"usage\":{}}\n\n"), None);
    let mut json = ResponseReader::new(UsageFormat::OpenAiChat, false, true);
    assert!(!json.rewrites(), "only streams are rewritten");
    assert_eq!(json.feed(b"{}"), None);
}

#[test]
fn oversized_event_passes_through_while_rewriting() {
    let big = format!(
        "data: {{\"pad\":\"{}\"}}\n\n",
        "x".repeat(crate::sse::MAX_PENDING + 10)
    );
    let input = format!(
        "{big}data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":4}}}}\n\ndata: [DONE]\n\n"
    );
    let bytes = input.as_bytes();
    let splits: Vec<usize> = (1..bytes.len() / 65536 + 1).map(|i| i * 65536).collect();
    let (out, outcome) = rewrite(bytes, &splits);
    assert_eq!(out, format!("{big}data: [DONE]\n\n").as_bytes());
    assert_eq!(outcome.usage, Some(tokens(4, 0, 4)));
    assert!(outcome.unparsed);
}

#[test]
fn framings() {
    let cases = [
        ("application/json", Framing::Json),
        ("text/event-stream; charset=utf-8", Framing::Sse),
        (
            "application/vnd.amazon.eventstream",
            Framing::AwsEventStream,
        ),
        (
            "Application/Vnd.Amazon.EventStream ; x=y",
            Framing::AwsEventStream,
        ),
        ("application/vnd.amazon.eventstreamx", Framing::Json),
        ("", Framing::Json),
    ];
    for (ct, want) in cases {
        assert_eq!(Framing::of(ct), want, "{ct}");
    }
}

mod bedrock {
    use super::*;
    use crate::event_stream::encode::{event, exception, message};
    use crate::event_stream::HeaderValue;

    /// A ConverseStream answer as Bedrock frames it (payloads as in the
    /// ConverseStream API reference, with the `p` padding Bedrock adds).
    fn converse_stream(metadata: &str) -> Vec<u8> {
        [
            event("messageStart", r#"{"p":"abcdefghijkl","role":"assistant"}"#),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefgh"}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"! How can I help?"},"p":"abc"}"#,
            ),
            event(
                "contentBlockStop",
                r#"{"contentBlockIndex":0,"p":"abcdefghijklmn"}"#,
            ),
            event(
                "messageStop",
                r#"{"p":"abcdefghijklmnop","stopReason":"end_turn"}"#,
            ),
            event("metadata", metadata),
        ]
        .concat()
    }

    const METADATA: &str = r#"{"metrics":{"latencyMs":612},"p":"abcdefghi","usage":{"inputTokens":21,"outputTokens":9,"totalTokens":30}}"#;

    fn read(chunks: &[&[u8]]) -> Outcome {
        let mut r =
            ResponseReader::with_framing(UsageFormat::Bedrock, Framing::AwsEventStream, true);
        assert!(!r.rewrites(), "an AWS event stream is never rewritten");
        for c in chunks {
            assert_eq!(r.feed(c), None);
        }
        assert_eq!(r.end(), None);
        r.finish()
    }

    fn streamed(usage: Option<TokenUsage>, stream_errors: u32, unparsed: bool) -> Outcome {
        Outcome {
            model: None,
            usage,
            unparsed,
            stream_errors,
            streamed: true,
            text_chars: 0,
        }
    }

    #[test]
    fn converse_stream_at_every_split() {
        let full = converse_stream(METADATA);
        let throttled = [
            event("messageStart", r#"{"role":"assistant"}"#),
            exception(
                "throttlingException",
                r#"{"message":"Too many requests, please wait before trying again."}"#,
            ),
        ]
        .concat();
        let cut_by_model_error = [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hel"}}"#,
            ),
            exception(
                "modelStreamErrorException",
                r#"{"message":"Model stream error","originalStatusCode":500}"#,
            ),
        ]
        .concat();
        let error_message = message(
            &[
                (":message-type", HeaderValue::String("error")),
                (":error-code", HeaderValue::String("InternalFailure")),
                (":error-message", HeaderValue::String("internal failure")),
            ],
            b"",
        );
        let cached = converse_stream(
            r#"{"metrics":{"latencyMs":900},"usage":{"inputTokens":4,"outputTokens":9,"totalTokens":1303,"cacheReadInputTokens":1290,"cacheWriteInputTokens":0}}"#,
        );
        let no_metadata = converse_stream(r#"{"metrics":{"latencyMs":1}}"#);
        let cases: Vec<(&str, Vec<u8>, Outcome)> = vec![
            (
                "full",
                full.clone(),
                streamed(Some(tokens(21, 9, 30)), 0, false),
            ),
            (
                "with cache reads",
                cached,
                streamed(
                    Some(TokenUsage {
                        input: 1294,
                        output: 9,
                        total: 1303,
                        cached_input: 1290,
                        ..TokenUsage::default()
                    }),
                    0,
                    false,
                ),
            ),
            (
                "metadata without usage",
                no_metadata,
                streamed(None, 0, false),
            ),
            ("throttled", throttled, streamed(None, 1, false)),
            ("model error", cut_by_model_error, streamed(None, 1, false)),
            (
                "error message after usage",
                [full.clone(), error_message].concat(),
                streamed(Some(tokens(21, 9, 30)), 1, false),
            ),
            (
                "metadata that is not JSON",
                converse_stream(r#"{"usage":{"inputTokens":"#),
                streamed(None, 0, true),
            ),
            ("empty body", Vec::new(), streamed(None, 0, false)),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(read(&[&bytes]), want, "{name}");
            for i in 0..=bytes.len() {
                assert_eq!(
                    read(&[&bytes[..i], &bytes[i..]]),
                    want,
                    "{name} split at {i}"
                );
            }
        }
    }

    #[test]
    fn broken_or_cut_streams_are_unparsed() {
        let full = converse_stream(METADATA);
        let metadata_at = full.len() - event("metadata", METADATA).len();
        let mut corrupt_before_usage = full.clone();
        corrupt_before_usage[metadata_at + 20] ^= 0x20;
        let mut corrupt_early = full.clone();
        corrupt_early[30] ^= 0x20;
        let cases: Vec<(&str, &[u8])> = vec![
            ("crc mismatch in the metadata event", &corrupt_before_usage),
            ("crc mismatch in the first event", &corrupt_early),
            ("cut inside the metadata event", &full[..full.len() - 5]),
            ("cut inside a prelude", &full[..metadata_at + 3]),
        ];
        for (name, bytes) in cases {
            let chunks: Vec<&[u8]> = bytes.chunks(7).collect();
            assert_eq!(read(&chunks), streamed(None, 0, true), "{name}");
        }
    }

    #[test]
    fn converse_json_is_read_as_a_document() {
        let body: &[u8] = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello! How can I help?"}]}},"stopReason":"end_turn","usage":{"inputTokens":21,"outputTokens":9,"totalTokens":30},"metrics":{"latencyMs":612}}"#;
        let mut r = ResponseReader::with_framing(UsageFormat::Bedrock, Framing::Json, false);
        r.feed(&body[..40]);
        r.feed(&body[40..]);
        assert_eq!(
            r.finish(),
            Outcome {
                usage: Some(tokens(21, 9, 30)),
                ..Outcome::default()
            }
        );
        // An event stream mistaken for JSON is not a document.
        let mut r = ResponseReader::with_framing(UsageFormat::Bedrock, Framing::Json, false);
        r.feed(&converse_stream(METADATA));
        assert!(r.finish().unparsed);
    }
}
