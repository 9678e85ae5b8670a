//! An SSE reply masked event by event as it streams past. Each complete
//! event goes on at once: byte for byte when it carries no text to change,
//! else with only its text strings replaced (the event's framing kept).
//! Only the unfinished trailing event is held (as the `include_usage`
//! rewrite does), and per choice or block a short tail of text
//! ([`Pending`]) that later events carry; before the event that ends a
//! choice or block (or at `[DONE]`, or at the end of the body) that tail
//! goes out in an event of its own, shaped like the stream's deltas.
//!
//! An event whose data is not JSON (other than `[DONE]`) could carry text
//! the gateway cannot find: it is dropped, as is an event over
//! [`MAX_PENDING`].

use super::events::{self, Ends, Key};
use super::json::{literal, splice, string};
use super::pending::Pending;
use super::Format;
use crate::guard_patterns::Patterns;
use crate::sse::{Boundary, Event, SseReader, MAX_PENDING};

#[derive(Debug)]
pub struct SseMasker {
    reader: SseReader,
    framing: Framing,
    texts: Texts,
}

/// The raw bytes of the event under way.
#[derive(Debug, Default)]
struct Framing {
    /// The unfinished event's bytes from earlier chunks.
    held: Vec<u8>,
    /// The unfinished event outgrew [`MAX_PENDING`]: its bytes are gone, and
    /// it is rebuilt from what the reader kept, or dropped.
    lost: bool,
    trailing_cr: TrailingCr,
}

/// An event ended with its chunk's last byte, a CR: an LF opening the next
/// chunk completes it and goes (or not) with that event.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TrailingCr {
    #[default]
    No,
    OfKeptEvent,
    OfRebuiltEvent,
}

#[derive(Debug)]
struct Texts {
    format: Format,
    streams: Vec<TextStream>,
    masks: usize,
    dropped: usize,
}

#[derive(Debug)]
struct TextStream {
    key: Key,
    pending: Pending,
    /// The data of the stream's last event with text: the model of its
    /// closing event ([`events::closing_event`]).
    last: Vec<u8>,
}

impl SseMasker {
    pub fn new(format: Format) -> Self {
        SseMasker {
            reader: SseReader::new(),
            framing: Framing::default(),
            texts: Texts {
                format,
                streams: Vec::new(),
                masks: 0,
                dropped: 0,
            },
        }
    }

    /// Matches masked so far.
    pub fn masks(&self) -> usize {
        self.texts.masks
    }

    /// Events dropped so far (not JSON, or too large to read).
    pub fn dropped(&self) -> usize {
        self.texts.dropped
    }

    /// One chunk of the client's bytes → what the client gets instead.
    pub fn feed(&mut self, patterns: &Patterns, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let framing = &mut self.framing;
        let texts = &mut self.texts;
        let mut start = framing.begin_chunk(chunk, &mut out);
        self.reader
            .feed_with_boundaries(chunk, &mut |b: Boundary<'_>| {
                framing.boundary(chunk, start, &b, &mut out, &mut |raw, event, out| {
                    texts.event(patterns, raw, event, out)
                });
                start = b.end;
            });
        framing.end_chunk(chunk.get(start..).unwrap_or_default());
        out
    }

    /// The end of the body: a last event without its blank line, then the
    /// text still held for streams that never said they ended.
    pub fn end(&mut self, patterns: &Patterns) -> Vec<u8> {
        let mut out = Vec::new();
        let unterminated = !self.framing.held.is_empty() || self.framing.lost;
        let framing = &mut self.framing;
        let texts = &mut self.texts;
        self.reader.finish_with_boundaries(&mut |b: Boundary<'_>| {
            framing.boundary(&[], 0, &b, &mut out, &mut |raw, event, out| {
                texts.event(patterns, raw, event, out)
            });
        });
        let mut closing = Vec::new();
        texts.close(patterns, &Ends::All, &[], &mut closing);
        if unterminated && !closing.is_empty() {
            out.extend_from_slice(b"\n\n");
        }
        out.extend(closing);
        out
    }
}

impl Framing {
    /// Where the next event's bytes start in `chunk`: after an LF that
    /// belongs to the event before.
    fn begin_chunk(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> usize {
        if chunk.is_empty() {
            return 0;
        }
        if chunk.first() != Some(&b'\n') {
            self.trailing_cr = TrailingCr::No;
            return 0;
        }
        match std::mem::take(&mut self.trailing_cr) {
            TrailingCr::No => 0,
            TrailingCr::OfKeptEvent => {
                out.push(b'\n');
                1
            }
            TrailingCr::OfRebuiltEvent => 1,
        }
    }

    /// An event ended at `boundary`; `on_event` appends what the client
    /// gets for it and says whether its raw terminator went along.
    fn boundary(
        &mut self,
        chunk: &[u8],
        start: usize,
        boundary: &Boundary<'_>,
        out: &mut Vec<u8>,
        on_event: &mut impl FnMut(Option<&[u8]>, Event<'_>, &mut Vec<u8>) -> bool,
    ) {
        let piece = chunk.get(start..boundary.end).unwrap_or_default();
        let ends_in_cr = boundary.end == chunk.len() && chunk.last() == Some(&b'\r');
        let raw: Option<&[u8]> = if self.lost {
            None
        } else if self.held.is_empty() {
            Some(piece)
        } else {
            self.held.extend_from_slice(piece);
            Some(&self.held)
        };
        let kept = match (boundary.overflowed, boundary.event, raw) {
            (true, _, _) => false,
            (false, Some(event), raw) => on_event(raw, event, out),
            // No data: a comment, a bare `event:`, blank lines.
            (false, None, Some(raw)) => {
                out.extend_from_slice(raw);
                true
            }
            (false, None, None) => false,
        };
        self.trailing_cr = match (ends_in_cr, kept) {
            (false, _) => TrailingCr::No,
            (true, true) => TrailingCr::OfKeptEvent,
            (true, false) => TrailingCr::OfRebuiltEvent,
        };
        self.held.clear();
        self.lost = false;
    }

    /// The rest of a chunk after its last boundary: the event under way.
    fn end_chunk(&mut self, rest: &[u8]) {
        if self.lost {
            return;
        }
        self.held.extend_from_slice(rest);
        if self.held.len() > MAX_PENDING {
            self.held = Vec::new();
            self.lost = true;
        }
    }
}

impl Texts {
    /// Appends what the client gets for one event; `true` when the event's
    /// raw terminator went with it.
    fn event(
        &mut self,
        patterns: &Patterns,
        raw: Option<&[u8]>,
        event: Event<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        if event.data == b"[DONE]" {
            self.close(patterns, &Ends::All, &[], out);
            return emit(raw, event, None, out);
        }
        let Some(seen) = events::inspect(self.format, event.data) else {
            self.dropped += 1;
            return false;
        };
        let mut edits = Vec::new();
        for (n, text) in seen.texts.iter().enumerate() {
            let Some(piece) = string(event.data, &text.span) else {
                continue;
            };
            let Some(stream) = self.stream(text.key) else {
                continue;
            };
            stream.last.clear();
            stream.last.extend_from_slice(event.data);
            let mut released = stream.pending.push(patterns, &piece);
            let later = seen.texts.get(n + 1..).unwrap_or_default();
            if seen.ends.covers(text.key) && !later.iter().any(|t| t.key == text.key) {
                released.append(stream.pending.flush(patterns));
            }
            self.masks += released.masks;
            if released.text != piece {
                edits.push((text.span.clone(), literal(&released.text)));
            }
        }
        let with_text: Vec<Key> = seen.texts.iter().map(|t| t.key).collect();
        self.close(patterns, &seen.ends, &with_text, out);
        for span in &seen.whole {
            let Some(text) = string(event.data, span) else {
                continue;
            };
            let found = patterns.find(&text);
            if !found.is_empty() {
                self.masks += found.len();
                let masked = crate::guard_patterns::splice(&text, &found);
                edits.push((span.clone(), literal(&masked)));
            }
        }
        if edits.is_empty() {
            return emit(raw, event, None, out);
        }
        emit(raw, event, Some(&splice(event.data, edits)), out)
    }

    fn stream(&mut self, key: Key) -> Option<&mut TextStream> {
        if !self.streams.iter().any(|s| s.key == key) {
            self.streams.push(TextStream {
                key,
                pending: Pending::default(),
                last: Vec::new(),
            });
        }
        self.streams.iter_mut().find(|s| s.key == key)
    }

    /// Ends the streams `ends` covers; the text still held for those
    /// without text in this event (`skip`) goes out in an event first.
    fn close(&mut self, patterns: &Patterns, ends: &Ends, skip: &[Key], out: &mut Vec<u8>) {
        let format = self.format;
        let masks = &mut self.masks;
        self.streams.retain_mut(|stream| {
            if !ends.covers(stream.key) {
                return true;
            }
            if !skip.contains(&stream.key) && !stream.pending.is_empty() {
                let released = stream.pending.flush(patterns);
                *masks += released.masks;
                let text = literal(&released.text);
                out.extend(events::closing_event(
                    format,
                    stream.key,
                    &stream.last,
                    &text,
                ));
            }
            false
        });
    }
}

/// Appends the event, its data replaced by `data` when given: in its own
/// framing where its data is one line, else rebuilt. `true` when the raw
/// terminator went along.
fn emit(raw: Option<&[u8]>, event: Event<'_>, data: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    match (raw, data) {
        (Some(raw), None) => {
            out.extend_from_slice(raw);
            return true;
        }
        (Some(raw), Some(data)) if event.data_lines == 1 => {
            let at = crate::rewrite::data_offset(raw);
            let end = at.map(|at| at + event.data.len());
            if let (Some(at), Some(end)) = (at, end) {
                if raw.get(at..end) == Some(event.data) {
                    out.extend_from_slice(raw.get(..at).unwrap_or_default());
                    out.extend_from_slice(data);
                    out.extend_from_slice(raw.get(end..).unwrap_or_default());
                    return true;
                }
            }
        }
        _ => {}
    }
    if !event.name.is_empty() {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.name);
        out.push(b'\n');
    }
    for line in data.unwrap_or(event.data).split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    false
}

#[cfg(test)]
mod tests;
