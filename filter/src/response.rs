//! Reads a response body as it streams past, chunk by chunk, and says at the
//! end which model answered and how many tokens it reported. The body is
//! forwarded as it comes; only when the gateway injected `include_usage` are
//! SSE chunks rewritten ([`crate::rewrite`]). Bedrock's binary event streams
//! are only read, never rewritten.

use crate::capped::CappedCopy;
use crate::event_stream::{EventStreamReader, Message};
use crate::rewrite::InjectedUsageRemover;
use crate::sse::{Boundary, SseReader};
use crate::usage::{self, StreamUsage, TokenUsage, UsageFormat};

/// Largest non-streaming body kept for usage parsing. Chat completions are
/// kilobytes; beyond this the copy would cost more memory than the numbers
/// are worth, and the body still passes to the client untouched.
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub model: Option<String>,
    pub usage: Option<TokenUsage>,
    /// The body could not be read for usage: not a JSON document of the
    /// format, cut short, over [`MAX_JSON_BODY`], an SSE event over the
    /// carry-over cap, an AWS event stream with a broken frame or a cut
    /// message, or a stream event that looked like it carried usage but was
    /// not valid JSON. A valid body or stream that simply has no usage is NOT
    /// unparsed.
    pub unparsed: bool,
    /// Error events inside a stream that started as a success (SSE error
    /// events, AWS event-stream exception messages).
    pub stream_errors: u32,
    /// The response was an event stream.
    pub streamed: bool,
    /// Characters of generated text, when counted for an estimate (see
    /// [`ResponseReader::count_text`]).
    pub text_chars: u64,
}

#[derive(Debug)]
pub struct ResponseReader {
    kind: Kind,
}

// One per response, created once and never moved around: boxing the big
// variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Kind {
    Json {
        copy: CappedCopy,
        format: UsageFormat,
        count_text: bool,
    },
    Sse {
        reader: SseReader,
        usage: StreamUsage,
        remover: Option<InjectedUsageRemover>,
        ended: bool,
    },
    AwsEventStream {
        reader: EventStreamReader,
        usage: StreamUsage,
    },
    /// A `content-encoding` the filter does not decode: never read, never
    /// rewritten, always unparsed.
    Encoded { streamed: bool },
    /// Nothing to read in it: never read, never rewritten.
    Unread { streamed: bool },
}

/// How a response body is framed, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One document (JSON, or anything else: read as JSON, at worst unparsed).
    Json,
    /// `text/event-stream`.
    Sse,
    /// `application/vnd.amazon.eventstream` (Bedrock ConverseStream).
    AwsEventStream,
}

impl Framing {
    pub fn of(content_type: &str) -> Framing {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case("text/event-stream") {
            Framing::Sse
        } else if media.eq_ignore_ascii_case("application/vnd.amazon.eventstream") {
            Framing::AwsEventStream
        } else {
            Framing::Json
        }
    }
}

/// `text/event-stream`, with or without parameters, any case.
pub fn is_event_stream(content_type: &str) -> bool {
    Framing::of(content_type) == Framing::Sse
}

impl ResponseReader {
    /// `remove_injected_usage`: the gateway added `include_usage` to the
    /// request, so its traces are taken out of the stream.
    pub fn new(format: UsageFormat, event_stream: bool, remove_injected_usage: bool) -> Self {
        let framing = if event_stream {
            Framing::Sse
        } else {
            Framing::Json
        };
        Self::with_framing(format, framing, remove_injected_usage)
    }

    /// `remove_injected_usage` only applies to SSE: the only framing the
    /// gateway rewrites.
    pub fn with_framing(
        format: UsageFormat,
        framing: Framing,
        remove_injected_usage: bool,
    ) -> Self {
        let kind = match framing {
            Framing::Sse => Kind::Sse {
                reader: SseReader::new(),
                usage: StreamUsage::new(format),
                remover: remove_injected_usage.then(InjectedUsageRemover::new),
                ended: false,
            },
            Framing::AwsEventStream => Kind::AwsEventStream {
                reader: EventStreamReader::new(),
                usage: StreamUsage::new(format),
            },
            Framing::Json => Kind::Json {
                copy: CappedCopy::new(MAX_JSON_BODY),
                format,
                count_text: false,
            },
        };
        ResponseReader { kind }
    }

    /// A reply that carries no usage (a token count, a passthrough): passed
    /// on untouched and reported as read, with nothing in it.
    pub fn unread(framing: Framing) -> Self {
        ResponseReader {
            kind: Kind::Unread {
                streamed: framing != Framing::Json,
            },
        }
    }

    /// A body under a content coding: passed on untouched and reported
    /// unparsed (what it would have said cannot be read).
    pub fn encoded(framing: Framing) -> Self {
        ResponseReader {
            kind: Kind::Encoded {
                streamed: framing != Framing::Json,
            },
        }
    }

    /// Counts generated text for an estimate when the provider reports no
    /// usage (OpenAI chat streams it was not asked for, JSON replies without
    /// it).
    pub fn count_text(&mut self) {
        match &mut self.kind {
            Kind::Sse { usage, .. } | Kind::AwsEventStream { usage, .. } => usage.count_text(),
            Kind::Json { count_text, .. } => *count_text = true,
            Kind::Encoded { .. } | Kind::Unread { .. } => {}
        }
    }

    /// Whether [`Self::feed`] returns replacement bytes.
    pub fn rewrites(&self) -> bool {
        matches!(
            self.kind,
            Kind::Sse {
                remover: Some(_),
                ..
            }
        )
    }

    /// False when a chunk of `len` bytes would not be looked at anyway (the
    /// JSON copy is over its limit), so the caller need not fetch it.
    pub fn wants(&mut self, len: usize) -> bool {
        match &mut self.kind {
            Kind::Json { copy, .. } => copy.wants(len),
            Kind::Sse { .. } | Kind::AwsEventStream { .. } => true,
            Kind::Encoded { .. } | Kind::Unread { .. } => false,
        }
    }

    /// Reads one chunk. When rewriting, returns what the client gets instead
    /// of it (possibly nothing yet: an unfinished event is held back).
    pub fn feed(&mut self, chunk: &[u8]) -> Option<Vec<u8>> {
        match &mut self.kind {
            Kind::Json { copy, .. } => {
                copy.push(chunk);
                None
            }
            Kind::Sse {
                reader,
                usage,
                remover: None,
                ..
            } => {
                reader.feed(chunk, &mut |e| usage.on_event(e.name, e.data));
                None
            }
            Kind::Sse {
                reader,
                usage,
                remover: Some(remover),
                ..
            } => {
                let mut out = Vec::with_capacity(chunk.len());
                let mut start = remover.begin_chunk(chunk, &mut out);
                reader.feed_with_boundaries(chunk, &mut |b: Boundary<'_>| {
                    if let Some(e) = b.event {
                        usage.on_event(e.name, e.data);
                    }
                    remover.on_boundary(chunk, start, &b, &mut out);
                    start = b.end;
                });
                remover.end_chunk(chunk.get(start..).unwrap_or_default(), &mut out);
                Some(out)
            }
            Kind::AwsEventStream { reader, usage } => {
                reader.feed(chunk, &mut |m: Message<'_>| match m.message_type() {
                    Some("exception" | "error") => usage.on_error_message(),
                    _ => usage.on_event(m.event_type().unwrap_or_default().as_bytes(), m.payload),
                });
                None
            }
            Kind::Encoded { .. } | Kind::Unread { .. } => None,
        }
    }

    /// Reads a chunk as it passes (`end`: the body ends with it); `Some`
    /// with what the client gets instead when rewriting.
    pub fn pass(&mut self, chunk: &[u8], end: bool) -> Option<Vec<u8>> {
        if self.rewrites() {
            let mut out = self.feed(chunk).unwrap_or_default();
            if end {
                out.extend(self.end().unwrap_or_default());
            }
            return Some(out);
        }
        if !chunk.is_empty() && self.wants(chunk.len()) {
            self.feed(chunk);
        }
        None
    }

    /// End of the body: reads a final event that had no blank line and, when
    /// rewriting, returns the bytes still held back. Idempotent.
    pub fn end(&mut self) -> Option<Vec<u8>> {
        let Kind::Sse {
            reader,
            usage,
            remover,
            ended,
        } = &mut self.kind
        else {
            return None;
        };
        if std::mem::replace(ended, true) {
            return None;
        }
        match remover {
            None => {
                reader.finish(&mut |e| usage.on_event(e.name, e.data));
                None
            }
            Some(remover) => {
                let mut out = Vec::new();
                reader.finish_with_boundaries(&mut |b: Boundary<'_>| {
                    if let Some(e) = b.event {
                        usage.on_event(e.name, e.data);
                    }
                    remover.on_boundary(&[], 0, &b, &mut out);
                });
                remover.flush(&mut out);
                Some(out)
            }
        }
    }

    pub fn finish(mut self) -> Outcome {
        self.end();
        match self.kind {
            Kind::Json {
                copy,
                format,
                count_text,
            } => match copy.get().map(|b| usage::parse_body(format, b)) {
                Some(Ok(report)) => Outcome {
                    text_chars: match (&report.usage, count_text, format) {
                        (None, true, UsageFormat::OpenAiChat) => {
                            copy.get().map_or(0, usage::openai::text_chars)
                        }
                        _ => 0,
                    },
                    model: report.model,
                    usage: report.usage,
                    ..Outcome::default()
                },
                Some(Err(_)) | None => Outcome {
                    unparsed: true,
                    ..Outcome::default()
                },
            },
            Kind::Sse { reader, usage, .. } => {
                let unparsed = usage.bad_event || reader.overflowed();
                let stream_errors = usage.errors;
                let text_chars = usage.text_chars;
                let report = usage.into_report();
                Outcome {
                    model: report.model,
                    usage: report.usage,
                    unparsed,
                    stream_errors,
                    streamed: true,
                    text_chars,
                }
            }
            Kind::AwsEventStream { reader, usage } => {
                // A cut message is a stream cut short: whatever it held is lost.
                let unparsed = usage.bad_event || reader.failed().is_some() || reader.unfinished();
                let stream_errors = usage.errors;
                let report = usage.into_report();
                Outcome {
                    model: report.model,
                    usage: report.usage,
                    unparsed,
                    stream_errors,
                    streamed: true,
                    text_chars: 0,
                }
            }
            Kind::Encoded { streamed } => Outcome {
                unparsed: true,
                streamed,
                ..Outcome::default()
            },
            Kind::Unread { streamed } => Outcome {
                streamed,
                ..Outcome::default()
            },
        }
    }
}

#[cfg(test)]
mod tests;
