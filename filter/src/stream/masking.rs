//! Response guards on the wire ([`crate::reply_guard`] does the masking): a
//! whole reply is held, headers too, until it is complete, then masked and
//! its `content-length` fixed; a stream is masked chunk by chunk as it
//! passes. A reply the gateway must mask but cannot — over the hold limit,
//! under a content coding, not JSON, or with patterns that did not compile
//! — never reaches the client: it gets a 502 instead. Usage is still read
//! from the provider's own bytes (the caller's `read`).

use super::{Flow, Host};
use crate::convert;
use crate::guard_patterns::Patterns;
use crate::reply_guard::{mask_reply, EventStreamMasker, Format, ReplyGuard, SseMasker};
use crate::response::Framing;

/// Reads the provider's bytes of a callback (`true`: the last) and returns
/// what the client gets instead, when that differs.
pub(super) type Read<'a> = dyn FnMut(&[u8], bool) -> Option<Vec<u8>> + 'a;

/// The status of a reply the response guard could not check.
const UNCHECKED_REPLY: u32 = 502;

#[derive(Debug)]
pub(super) struct Masking {
    format: Format,
    kind: Kind,
    masks: usize,
}

#[derive(Debug)]
enum Kind {
    /// A whole reply, held with its headers until it ends (at most `cap`
    /// bytes); `held` so far.
    Hold {
        cap: usize,
        held: usize,
    },
    /// A whole reply held by its conversion ([`Masking::whole`]), or one
    /// already masked.
    Whole,
    Stream(SseMasker),
    /// Bedrock's ConverseStream.
    Events(EventStreamMasker),
    /// Answered 502 instead: the error body, until it is sent.
    Refused {
        body: Option<Vec<u8>>,
    },
}

/// Why a reply could not be checked.
#[derive(Debug, Clone, Copy)]
enum Unchecked {
    TooLarge(usize),
    Unreadable,
    Encoded,
    NoPatterns,
}

impl Masking {
    /// At the response headers of a reply the gateway does not convert
    /// (and that has a body); `None` when it goes unmasked: no guard, an
    /// error reply, or no generated text in it.
    pub(super) fn start(
        guard: Option<&ReplyGuard>,
        host: &mut impl Host,
        status: Option<u32>,
        framing: Framing,
        encoded: bool,
        format: Option<Format>,
        cap: usize,
    ) -> Option<(Masking, Flow)> {
        let (patterns, format) = (guard?.patterns(), format?);
        let events = framing == Framing::AwsEventStream;
        if !matches!(status, Some(200..=299)) || (events && format != Format::Converse) {
            return None;
        }
        let mut masking = Masking {
            format,
            kind: Kind::Whole,
            masks: 0,
        };
        let flow = match (patterns, encoded, framing) {
            (None, _, _) => masking.refuse_at_headers(host, Unchecked::NoPatterns),
            (Some(_), true, _) => masking.refuse_at_headers(host, Unchecked::Encoded),
            (Some(_), false, Framing::Sse) => {
                host.remove_response_header("content-length");
                masking.kind = Kind::Stream(SseMasker::new(format));
                Flow::Continue
            }
            (Some(_), false, Framing::AwsEventStream) => {
                host.remove_response_header("content-length");
                masking.kind = Kind::Events(EventStreamMasker::new());
                Flow::Continue
            }
            (Some(_), false, _) => {
                masking.kind = Kind::Hold { cap, held: 0 };
                Flow::Pause
            }
        };
        Some((masking, flow))
    }

    /// At the response headers of a converted reply with a body; `format`
    /// is the client's. A whole reply is held by the conversion.
    pub(super) fn for_conversion(
        guard: Option<&ReplyGuard>,
        host: &mut impl Host,
        status: Option<u32>,
        streamed: bool,
        format: Format,
    ) -> Option<Masking> {
        let patterns = guard?.patterns();
        if !matches!(status, Some(200..=299)) {
            return None;
        }
        let mut masking = Masking {
            format,
            kind: Kind::Whole,
            masks: 0,
        };
        match (streamed, patterns) {
            (true, Some(_)) => masking.kind = Kind::Stream(SseMasker::new(format)),
            (true, None) => {
                masking.refuse_at_headers(host, Unchecked::NoPatterns);
            }
            (false, _) => {}
        }
        Some(masking)
    }

    /// Matches masked in the reply.
    pub(super) fn masks(&self) -> usize {
        self.masks
    }

    /// One body callback of a reply the gateway does not convert. `read`
    /// gets the provider's bytes once each (and `true` with the last) and
    /// returns what the client gets instead, when that differs.
    pub(super) fn on_body(
        &mut self,
        patterns: Option<&Patterns>,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
        read: &mut Read<'_>,
    ) -> Flow {
        match self.kind {
            Kind::Hold { cap, .. } if !end_of_stream => {
                if body_size <= cap {
                    // Envoy keeps it and hands over everything so far next time.
                    self.kind = Kind::Hold {
                        cap,
                        held: body_size,
                    };
                    return Flow::Pause;
                }
                let held = host.response_body(body_size).unwrap_or_default();
                read(&held, false);
                let error = self.error(Unchecked::TooLarge(cap));
                self.refuse_held(host, body_size, &error);
                self.kind = Kind::Refused { body: None };
                Flow::Continue
            }
            Kind::Hold { .. } => {
                self.end_hold(patterns, host, body_size, read);
                Flow::Continue
            }
            Kind::Stream(_) | Kind::Events(_) | Kind::Refused { .. } => {
                let chunk = fetch(host, body_size);
                let client = read(&chunk, end_of_stream);
                let out = self.stream(patterns, client.as_deref().unwrap_or(&chunk), end_of_stream);
                if out != chunk {
                    host.replace_response_body(body_size, &out);
                }
                Flow::Continue
            }
            Kind::Whole => Flow::Continue,
        }
    }

    /// Response trailers: a held reply that ended with them is complete.
    pub(super) fn on_trailers(
        &mut self,
        patterns: Option<&Patterns>,
        host: &mut impl Host,
        read: &mut Read<'_>,
    ) {
        if let Kind::Hold { held, .. } = self.kind {
            self.end_hold(patterns, host, held, read);
        }
    }

    /// The whole held reply is in: masked, or refused.
    fn end_hold(
        &mut self,
        patterns: Option<&Patterns>,
        host: &mut impl Host,
        body_size: usize,
        read: &mut Read<'_>,
    ) {
        let body = fetch(host, body_size);
        let client = read(&body, true).unwrap_or(body);
        self.kind = Kind::Whole;
        if client.is_empty() {
            return;
        }
        match self.whole(patterns, &client) {
            Ok(None) => {}
            Ok(Some(masked)) => {
                host.replace_response_body(body_size, &masked);
                if host.response_header("content-length").is_some() {
                    host.set_response_header("content-length", &masked.len().to_string());
                }
            }
            Err(error) => self.refuse_held(host, body_size, &error),
        }
    }

    /// The client's bytes of a streamed reply → what the client gets.
    pub(super) fn stream(
        &mut self,
        patterns: Option<&Patterns>,
        bytes: &[u8],
        end_of_stream: bool,
    ) -> Vec<u8> {
        match (&mut self.kind, patterns) {
            (Kind::Stream(masker), Some(patterns)) => {
                let mut out = masker.feed(patterns, bytes);
                if end_of_stream {
                    out.extend(masker.end(patterns));
                }
                self.masks = masker.masks();
                out
            }
            (Kind::Events(masker), Some(patterns)) => {
                let mut out = masker.feed(patterns, bytes);
                if end_of_stream {
                    out.extend(masker.end(patterns));
                }
                self.masks = masker.masks();
                out
            }
            (Kind::Refused { body }, _) => body.take().unwrap_or_default(),
            (Kind::Stream(_) | Kind::Events(_), None) => Vec::new(),
            (Kind::Hold { .. } | Kind::Whole, _) => bytes.to_vec(),
        }
    }

    /// A whole reply in the client's format, masked: `Ok(None)` when
    /// nothing matched, `Err` with the error body (status 502) when it
    /// cannot be checked.
    pub(super) fn whole(
        &mut self,
        patterns: Option<&Patterns>,
        reply: &[u8],
    ) -> Result<Option<Vec<u8>>, Vec<u8>> {
        let Some(patterns) = patterns else {
            return Err(self.error(Unchecked::NoPatterns));
        };
        match mask_reply(self.format, patterns, reply) {
            Ok(masked) => {
                self.masks += masked.masks;
                Ok(masked.body)
            }
            Err(_) => Err(self.error(Unchecked::Unreadable)),
        }
    }

    /// 502 from the response headers on: the error replaces the body.
    fn refuse_at_headers(&mut self, host: &mut impl Host, why: Unchecked) -> Flow {
        let body = self.error(why);
        set_error_headers(host, body.len());
        self.kind = Kind::Refused { body: Some(body) };
        Flow::Continue
    }

    /// 502 for a reply held so far (its headers still held too).
    fn refuse_held(&self, host: &mut impl Host, body_size: usize, error: &[u8]) {
        set_error_headers(host, error.len());
        host.replace_response_body(body_size, error);
    }

    /// The error body, in the client's format.
    fn error(&self, why: Unchecked) -> Vec<u8> {
        let message = match why {
            Unchecked::TooLarge(cap) => format!(
                "llmgate: the reply is over {cap} bytes, more than the response guard holds to check it"
            ),
            Unchecked::Unreadable => {
                "llmgate: the reply could not be read for the response guard to check it".into()
            }
            Unchecked::Encoded => {
                "llmgate: the reply has a content coding the response guard cannot read".into()
            }
            Unchecked::NoPatterns => {
                "llmgate: the response guard's patterns did not compile".into()
            }
        };
        match self.format {
            Format::Messages => convert::messages::anthropic_error("api_error", &message),
            _ => convert::openai_error(&message, "api_error", None, Some("response_guard")),
        }
    }
}

fn set_error_headers(host: &mut impl Host, length: usize) {
    host.set_response_header(":status", &UNCHECKED_REPLY.to_string());
    host.set_response_header("content-type", "application/json");
    host.remove_response_header("content-encoding");
    host.set_response_header("content-length", &length.to_string());
}

fn fetch(host: &impl Host, body_size: usize) -> Vec<u8> {
    if body_size == 0 {
        return Vec::new();
    }
    host.response_body(body_size).unwrap_or_default()
}
