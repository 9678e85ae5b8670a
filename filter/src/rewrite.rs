//! Takes back what an injected `include_usage` added to an OpenAI-format
//! stream, so the client receives what the provider would have sent it
//! without the gateway:
//!
//! - the usage event (`"choices":[]` with a non-null `usage`) is removed;
//! - the `"usage":null` member that `include_usage` adds to every other chunk
//!   is removed from it (with its comma), byte-exactly: OpenAI's
//!   `…"choices":[…],"usage":null,"obfuscation":"…"}` becomes
//!   `…"choices":[…],"obfuscation":"…"}`, which is how the same chunk looks
//!   when usage was not asked for (compare the recorded `chat-streaming.yaml`
//!   and `chat-streaming-detailed-usage.yaml`).
//!
//! Complete events are forwarded as soon as they are complete; only the
//! unfinished trailing event is held back (it might be the usage event), up
//! to [`MAX_PENDING`]: a longer one is forwarded as it comes.

use crate::json_model;
use crate::sse::{Boundary, Event, MAX_PENDING};
use crate::usage::scan;
use serde::Deserialize;
use std::ops::Range;

#[derive(Debug, Default)]
pub struct InjectedUsageRemover {
    /// Raw bytes of the unfinished event, from earlier chunks.
    held: Vec<u8>,
    /// The unfinished event outgrew [`MAX_PENDING`]: its bytes are forwarded
    /// as they come until its end.
    passing_through: bool,
    /// An event ended with the chunk's last byte, a CR: an LF at the start of
    /// the next chunk completes that CR and goes (or not) with that event.
    trailing_cr: TrailingCr,
    /// Events removed so far.
    pub removed: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TrailingCr {
    #[default]
    No,
    OfKeptEvent,
    OfRemovedEvent,
}

/// What one event becomes.
enum Edit {
    Keep,
    Remove,
    /// Remove this range of the event's data (its one `data:` line).
    Cut(Range<usize>),
}

impl InjectedUsageRemover {
    pub fn new() -> Self {
        Self::default()
    }

    /// Call before feeding a chunk to the reader: returns where the next
    /// event's bytes start in it, after an LF that belongs to the event
    /// before (forwarded or removed with it).
    pub fn begin_chunk(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> usize {
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
            TrailingCr::OfRemovedEvent => 1,
        }
    }

    /// One boundary of the current chunk: appends what the client gets for
    /// the event that ended there to `out`. `start` is where the event's bytes
    /// begin in `chunk` (after what was already handled).
    pub fn on_boundary(
        &mut self,
        chunk: &[u8],
        start: usize,
        boundary: &Boundary<'_>,
        out: &mut Vec<u8>,
    ) {
        let piece = chunk.get(start..boundary.end).unwrap_or_default();
        let ends_in_cr = boundary.end == chunk.len() && chunk.last() == Some(&b'\r');
        self.trailing_cr = if ends_in_cr {
            TrailingCr::OfKeptEvent
        } else {
            TrailingCr::No
        };
        if std::mem::take(&mut self.passing_through) {
            out.extend_from_slice(piece);
            return;
        }
        let raw: &[u8] = if self.held.is_empty() {
            piece
        } else {
            self.held.extend_from_slice(piece);
            &self.held
        };
        match boundary.event.map(edit).unwrap_or(Edit::Keep) {
            Edit::Keep => out.extend_from_slice(raw),
            Edit::Remove => {
                self.removed = self.removed.saturating_add(1);
                if ends_in_cr {
                    self.trailing_cr = TrailingCr::OfRemovedEvent;
                }
            }
            Edit::Cut(data_range) => match cut_in_raw(raw, data_range) {
                Some(range) if range.end <= raw.len() => {
                    out.extend_from_slice(raw.get(..range.start).unwrap_or_default());
                    out.extend_from_slice(raw.get(range.end..).unwrap_or_default());
                }
                _ => out.extend_from_slice(raw),
            },
        }
        self.held.clear();
    }

    /// The rest of a chunk after its last boundary: held back, or forwarded
    /// when the event is too big to hold.
    pub fn end_chunk(&mut self, rest: &[u8], out: &mut Vec<u8>) {
        if self.passing_through {
            out.extend_from_slice(rest);
            return;
        }
        self.held.extend_from_slice(rest);
        if self.held.len() > MAX_PENDING {
            out.append(&mut self.held);
            self.held = Vec::new();
            self.passing_through = true;
        }
    }

    /// End of stream without a final boundary: whatever is held goes out.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
    }
}

#[derive(Deserialize)]
struct UsageChunk {
    #[serde(default)]
    choices: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    usage: Option<serde::de::IgnoredAny>,
}

fn edit(event: Event<'_>) -> Edit {
    if !scan::contains(event.data, b"\"usage\"") {
        return Edit::Keep;
    }
    if scan::has_non_null_member(event.data, b"\"usage\"") {
        return match serde_json::from_slice::<UsageChunk>(event.data) {
            Ok(UsageChunk {
                choices: Some(choices),
                usage: Some(_),
            }) if choices.is_empty() => Edit::Remove,
            _ => Edit::Keep,
        };
    }
    // Only a single-line event has its JSON verbatim in the raw bytes.
    if event.data_lines != 1 {
        return Edit::Keep;
    }
    null_usage_member(event.data)
        .map(Edit::Cut)
        .unwrap_or(Edit::Keep)
}

/// The span to cut from the raw event: the top-level `"usage":null` member
/// of the data with the comma that joins it to its neighbour. Offsets are in
/// the raw event, whose one `data:` line holds the JSON verbatim.
fn null_usage_member(data: &[u8]) -> Option<Range<usize>> {
    let members = json_model::members(data)?;
    let at = members.iter().position(|m| {
        data.get(m.key.clone())
            .is_some_and(|k| json_model::key_is(k, "usage"))
            && data.get(m.value.clone()) == Some(b"null")
    })?;
    let member = members.get(at)?;
    let cut = match (
        at.checked_sub(1).and_then(|i| members.get(i)),
        members.get(at + 1),
    ) {
        // `,"usage":null` after the previous member.
        (Some(prev), _) => prev.value.end..member.value.end,
        // `"usage":null,` before the next one.
        (None, Some(next)) => member.key.start..next.key.start,
        (None, None) => member.key.start..member.value.end,
    };
    Some(cut)
}

/// Where the JSON of the (single) `data:` line starts in a raw event.
pub(crate) fn data_offset(raw: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    loop {
        let line = raw.get(line_start..)?;
        let len = line
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .unwrap_or(line.len());
        let text = line.get(..len)?;
        if let Some(value) = text.strip_prefix(b"data:") {
            let space = usize::from(value.first() == Some(&b' '));
            return Some(line_start + 5 + space);
        }
        if len == line.len() {
            return None;
        }
        line_start += len + 1;
    }
}

/// [`Edit::Cut`] ranges are relative to the data; this shifts them to the raw
/// event. Kept separate so the data-level logic is testable on its own.
pub(crate) fn cut_in_raw(raw: &[u8], data_cut: Range<usize>) -> Option<Range<usize>> {
    let offset = data_offset(raw)?;
    Some(offset + data_cut.start..offset + data_cut.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_usage_cuts() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"choices":[{"index":0}],"usage":null,"obfuscation":"x"}"#,
                Some(r#"{"choices":[{"index":0}],"obfuscation":"x"}"#),
            ),
            (r#"{"a":1,"usage":null}"#, Some(r#"{"a":1}"#)),
            (r#"{"usage":null,"a":1}"#, Some(r#"{"a":1}"#)),
            (r#"{ "usage" : null }"#, Some(r#"{  }"#)),
            (
                r#"{"a":1 , "usage" : null , "b":2}"#,
                Some(r#"{"a":1 , "b":2}"#),
            ),
            (r#"{"a":{"usage":null}}"#, None),
            (r#"{"usage":{}}"#, None),
            ("[DONE]", None),
        ];
        for (data, want) in cases {
            let got = null_usage_member(data.as_bytes()).map(|r| {
                let mut s = data.to_string();
                s.replace_range(r, "");
                s
            });
            assert_eq!(got.as_deref(), *want, "{data}");
        }
    }

    #[test]
    fn data_offsets() {
        let cases: &[(&str, Option<usize>)] = &[
            ("data: {}\n\n", Some(6)),
            ("data:{}\n\n", Some(5)),
            ("event: x\r\ndata: {}\r\n\r\n", Some(16)),
            (": c\rdata: {}\r\r", Some(10)),
            ("event: x\n\n", None),
        ];
        for (raw, want) in cases {
            assert_eq!(data_offset(raw.as_bytes()), *want, "{raw:?}");
        }
    }
}
