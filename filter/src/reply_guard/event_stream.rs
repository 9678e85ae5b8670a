//! Bedrock's native ConverseStream (an AWS event stream) masked message by
//! message: a `contentBlockDelta`'s text (or reasoning text) goes through
//! its block's [`Pending`], the message framed again around the new
//! payload (lengths and CRCs follow); the text still held when the block
//! stops (or the message does, or the body ends) goes out first in a delta
//! of its own, with the headers of the block's last delta. Messages without
//! text to change are framed again byte for byte. After a broken frame
//! nothing that follows can be read, so nothing of it is passed on.

use super::json::{field, index, literal, object, splice, string, Span};
use super::pending::Pending;
use crate::event_stream::{frame, EventStreamReader, Message};
use crate::guard_patterns::Patterns;

#[derive(Debug, Default)]
pub struct EventStreamMasker {
    reader: EventStreamReader,
    blocks: Blocks,
}

#[derive(Debug, Default)]
struct Blocks {
    open: Vec<Block>,
    masks: usize,
}

#[derive(Debug)]
struct Block {
    index: u64,
    reasoning: bool,
    pending: Pending,
    /// The headers of the block's last delta, as framed.
    headers: Vec<u8>,
}

impl EventStreamMasker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn masks(&self) -> usize {
        self.blocks.masks
    }

    /// One chunk of the provider's bytes → what the client gets.
    pub fn feed(&mut self, patterns: &Patterns, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let blocks = &mut self.blocks;
        self.reader.feed(chunk, &mut |m: Message<'_>| {
            blocks.message(patterns, &m, &mut out);
        });
        out
    }

    /// The end of the body: the text blocks still hold.
    pub fn end(&mut self, patterns: &Patterns) -> Vec<u8> {
        let mut out = Vec::new();
        self.blocks.close(patterns, None, &mut out);
        out
    }
}

impl Blocks {
    fn message(&mut self, patterns: &Patterns, m: &Message<'_>, out: &mut Vec<u8>) {
        let is_event = m.message_type().is_none_or(|t| t == "event");
        match m.event_type().filter(|_| is_event) {
            Some("contentBlockDelta") => self.delta(patterns, m, out),
            Some("contentBlockStop") => {
                let payload = m.payload;
                let top = object(payload, &(0..payload.len())).unwrap_or_default();
                let i = index(payload, field(payload, &top, "contentBlockIndex")).unwrap_or(0);
                self.close(patterns, Some(i), out);
                pass(m, out);
            }
            Some("messageStop") => {
                self.close(patterns, None, out);
                pass(m, out);
            }
            _ => pass(m, out),
        }
    }

    fn delta(&mut self, patterns: &Patterns, m: &Message<'_>, out: &mut Vec<u8>) {
        let payload = m.payload;
        let Some(top) = object(payload, &(0..payload.len())) else {
            // Not JSON: it could carry text the gateway cannot find.
            return;
        };
        let i = index(payload, field(payload, &top, "contentBlockIndex")).unwrap_or(0);
        let delta = field(payload, &top, "delta").and_then(|d| object(payload, &d));
        let text = |members: &[(Span, Span)]| field(payload, members, "text");
        let found = delta.as_deref().and_then(|d| match text(d) {
            Some(span) => Some((span, false)),
            None => field(payload, d, "reasoningContent")
                .and_then(|r| object(payload, &r))
                .and_then(|r| text(&r))
                .map(|span| (span, true)),
        });
        let Some((span, reasoning)) = found else {
            return pass(m, out);
        };
        let Some(piece) = string(payload, &span) else {
            return pass(m, out);
        };
        let Some(block) = self.block(i, reasoning, m.raw_headers) else {
            return pass(m, out);
        };
        let released = block.pending.push(patterns, &piece);
        self.masks += released.masks;
        if released.text == piece {
            return pass(m, out);
        }
        let payload = splice(payload, vec![(span, literal(&released.text))]);
        out.extend(frame(m.raw_headers, &payload).unwrap_or_default());
    }

    fn block(&mut self, index: u64, reasoning: bool, headers: &[u8]) -> Option<&mut Block> {
        let is = |b: &Block| b.index == index && b.reasoning == reasoning;
        if !self.open.iter().any(is) {
            self.open.push(Block {
                index,
                reasoning,
                pending: Pending::default(),
                headers: Vec::new(),
            });
        }
        let block = self.open.iter_mut().find(|b| is(b))?;
        block.headers.clear();
        block.headers.extend_from_slice(headers);
        Some(block)
    }

    /// Ends block `index` (every block when `None`): its held text goes out
    /// in a delta of its own.
    fn close(&mut self, patterns: &Patterns, index: Option<u64>, out: &mut Vec<u8>) {
        let masks = &mut self.masks;
        self.open.retain_mut(|block| {
            if index.is_some_and(|i| i != block.index) {
                return true;
            }
            let released = block.pending.flush(patterns);
            *masks += released.masks;
            if !released.text.is_empty() {
                let text = literal(&released.text);
                let delta = if block.reasoning {
                    [&br#"{"reasoningContent":{"text":"#[..], &text, b"}}"].concat()
                } else {
                    [&br#"{"text":"#[..], &text, b"}"].concat()
                };
                let payload = [
                    &br#"{"contentBlockIndex":"#[..],
                    block.index.to_string().as_bytes(),
                    br#","delta":"#,
                    &delta,
                    b"}",
                ]
                .concat();
                out.extend(frame(&block.headers, &payload).unwrap_or_default());
            }
            false
        });
    }
}

/// The message as it came.
fn pass(m: &Message<'_>, out: &mut Vec<u8>) {
    out.extend(frame(m.raw_headers, m.payload).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_stream::encode;
    use crate::policy_config::Builtin;

    fn converse_stream(deltas: &[&str]) -> Vec<u8> {
        let mut out = encode::event("messageStart", r#"{"role":"assistant"}"#);
        for d in deltas {
            let payload = format!(
                r#"{{"contentBlockIndex":0,"delta":{{"text":{}}},"p":"abc"}}"#,
                serde_json::to_string(d).unwrap()
            );
            out.extend(encode::event("contentBlockDelta", &payload));
        }
        out.extend(encode::event(
            "contentBlockStop",
            r#"{"contentBlockIndex":0}"#,
        ));
        out.extend(encode::event("messageStop", r#"{"stopReason":"end_turn"}"#));
        out.extend(encode::event(
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":9,"totalTokens":12}}"#,
        ));
        out
    }

    /// (event type, payload) of every message the client reads.
    fn messages(bytes: &[u8]) -> Vec<(String, serde_json::Value)> {
        let mut reader = EventStreamReader::new();
        let mut got = Vec::new();
        reader.feed(bytes, &mut |m: Message<'_>| {
            got.push((
                m.event_type().unwrap_or_default().to_owned(),
                serde_json::from_slice(m.payload).unwrap(),
            ));
        });
        assert_eq!(reader.failed(), None);
        assert!(!reader.unfinished());
        got
    }

    #[test]
    fn the_text_of_a_converse_stream_is_masked_at_every_split() {
        let p = Patterns::new(&[], &[Builtin::CreditCard, Builtin::Email]).unwrap();
        let stream = converse_stream(&["Card 5555 55", "55 5555 4444", " or a@b.io"]);
        for i in 0..=stream.len() {
            let mut masker = EventStreamMasker::new();
            let mut chunks = vec![masker.feed(&p, &stream[..i]), masker.feed(&p, &stream[i..])];
            chunks.push(masker.end(&p));
            for chunk in &chunks {
                assert!(
                    !String::from_utf8_lossy(chunk).contains("5555"),
                    "split at {i}"
                );
            }
            let got = messages(&chunks.concat());
            let text: String = got
                .iter()
                .filter(|(t, _)| t == "contentBlockDelta")
                .map(|(_, v)| v["delta"]["text"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(text, "Card <CREDIT_CARD> or <EMAIL>", "split at {i}");
            let kinds: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
            assert_eq!(
                kinds,
                [
                    "messageStart",
                    "contentBlockDelta",
                    "contentBlockDelta",
                    "contentBlockDelta",
                    "contentBlockDelta",
                    "contentBlockStop",
                    "messageStop",
                    "metadata"
                ],
                "split at {i}"
            );
            assert_eq!(masker.masks(), 2);
        }
    }

    #[test]
    fn messages_without_text_to_change_pass_byte_for_byte() {
        let p = Patterns::new(&[], &[Builtin::CreditCard]).unwrap();
        let stream = converse_stream(&["Nothing here. ", "At all! "]);
        let mut masker = EventStreamMasker::new();
        let mut out = masker.feed(&p, &stream);
        out.extend(masker.end(&p));
        assert_eq!(out, stream);
        // A broken frame: nothing after it is passed on.
        let mut broken = stream.clone();
        broken[20] ^= 1;
        let mut masker = EventStreamMasker::new();
        assert!(masker.feed(&p, &broken).is_empty());
    }
}
