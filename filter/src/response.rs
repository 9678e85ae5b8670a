//! Reads a response body as it streams past, chunk by chunk, and says at the
//! end which model answered and how many tokens it reported. The body itself
//! is never held back or changed.

use crate::capped::CappedCopy;
use crate::sse::SseReader;
use crate::usage::{self, TokenUsage};

/// Largest non-streaming body kept for usage parsing. Chat completions are
/// kilobytes; beyond this the copy would cost more memory than the numbers
/// are worth.
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub model: Option<String>,
    pub usage: Option<TokenUsage>,
    /// The body could not be read for usage: not a JSON object, cut short,
    /// over [`MAX_JSON_BODY`], an SSE event over the carry-over cap, or an SSE
    /// data event (other than `[DONE]`) that is not a JSON object. A valid
    /// body or stream that simply has no `usage` is NOT unparsed.
    pub unparsed: bool,
}

#[derive(Debug)]
pub enum ResponseReader {
    Json(CappedCopy),
    Sse { reader: SseReader, seen: StreamSeen },
}

#[derive(Debug, Default)]
pub struct StreamSeen {
    model: Option<String>,
    usage: Option<TokenUsage>,
    bad_event: bool,
}

impl StreamSeen {
    fn on_event(&mut self, data: &[u8]) {
        if data == b"[DONE]" {
            return;
        }
        match usage::parse(data) {
            Ok(report) => {
                if self.model.is_none() {
                    self.model = report.model;
                }
                // Azure may send content-filter chunks after the usage chunk:
                // any non-null usage counts, and a later one is more complete.
                if report.usage.is_some() {
                    self.usage = report.usage;
                }
            }
            Err(_) => self.bad_event = true,
        }
    }
}

/// `text/event-stream`, with or without parameters, any case.
pub fn is_event_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

impl ResponseReader {
    pub fn new(event_stream: bool) -> Self {
        if event_stream {
            ResponseReader::Sse {
                reader: SseReader::new(),
                seen: StreamSeen::default(),
            }
        } else {
            ResponseReader::Json(CappedCopy::new(MAX_JSON_BODY))
        }
    }

    /// False when a chunk of `len` bytes would not be looked at anyway (the
    /// JSON copy is over its limit), so the caller need not fetch it.
    pub fn wants(&mut self, len: usize) -> bool {
        match self {
            ResponseReader::Json(copy) => copy.wants(len),
            ResponseReader::Sse { .. } => true,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        match self {
            ResponseReader::Json(copy) => copy.push(chunk),
            ResponseReader::Sse { reader, seen } => reader.feed(chunk, &mut |d| seen.on_event(d)),
        }
    }

    pub fn finish(self) -> Outcome {
        match self {
            ResponseReader::Json(copy) => match copy.get().map(usage::parse) {
                Some(Ok(report)) => Outcome {
                    model: report.model,
                    usage: report.usage,
                    unparsed: false,
                },
                Some(Err(_)) | None => Outcome {
                    unparsed: true,
                    ..Outcome::default()
                },
            },
            ResponseReader::Sse {
                mut reader,
                mut seen,
            } => {
                reader.finish(&mut |d| seen.on_event(d));
                Outcome {
                    model: seen.model,
                    usage: seen.usage,
                    unparsed: seen.bad_event || reader.overflowed(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(event_stream: bool, chunks: &[&[u8]]) -> Outcome {
        let mut r = ResponseReader::new(event_stream);
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
        let ok =
            br#"{"model":"m","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        let cases: Vec<(&str, Vec<&[u8]>, Outcome)> = vec![
            (
                "whole",
                vec![ok],
                Outcome {
                    model: Some("m".into()),
                    usage: Some(tokens(1, 2, 3)),
                    unparsed: false,
                },
            ),
            (
                "in pieces",
                vec![&ok[..10], &ok[10..11], &ok[11..]],
                Outcome {
                    model: Some("m".into()),
                    usage: Some(tokens(1, 2, 3)),
                    unparsed: false,
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
        assert_eq!(read(false, &[&body]).usage, Some(tokens(1, 0, 0)));
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
                Outcome { model: Some("gpt-4o".into()), usage: Some(tokens(2, 3, 5)), unparsed: false },
            ),
            (
                "last usage wins",
                "data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: {\"usage\":{\"prompt_tokens\":7}}\n\n",
                Outcome { model: None, usage: Some(tokens(7, 0, 0)), unparsed: false },
            ),
            (
                "no usage is not unparsed",
                "data: {\"model\":\"m\",\"choices\":[]}\n\ndata: [DONE]\n\n",
                Outcome { model: Some("m".into()), usage: None, unparsed: false },
            ),
            (
                "a broken event is unparsed, the rest still counts",
                "data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: {oops\n\n",
                Outcome { model: None, usage: Some(tokens(1, 0, 0)), unparsed: true },
            ),
            (
                "stream cut inside an event",
                "data: {\"model\":\"m\"}\n\ndata: {\"usage\":{\"prompt_",
                Outcome { model: Some("m".into()), usage: None, unparsed: true },
            ),
            (
                "mid-stream error after 200",
                "data: {\"error\":{\"message\":\"x\"}}\n\n",
                Outcome::default(),
            ),
            ("empty stream", "", Outcome::default()),
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
        assert_eq!(out.usage, Some(tokens(4, 0, 0)));
        assert!(out.unparsed);
    }
}
