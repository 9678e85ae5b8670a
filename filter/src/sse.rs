//! Incremental Server-Sent Events reader. Envoy hands the body over in
//! arbitrary chunks, and the filter streams them on to the client, so this
//! keeps only the unfinished line and the current event's data — never the
//! whole stream.
//!
//! Framing (WHATWG): lines end with LF, CRLF or CR; a blank line ends an event;
//! `data:` lines (one optional space after the colon) are joined with LF;
//! `event:` names the event; lines starting with `:` are comments; other
//! fields are ignored.
//!
//! Every blank line is also reported as a boundary with its offset in the
//! chunk, so a caller that rewrites the stream (see `crate::rewrite`) knows
//! exactly which raw bytes made up each event.

/// Longest `event:` name kept; names are short identifiers (`message_delta`,
/// `response.completed`), a longer one is cut (and then matches nothing).
pub const MAX_EVENT_NAME: usize = 64;

/// One dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` field, empty when absent.
    pub name: &'a [u8],
    /// The `data:` lines joined with LF.
    pub data: &'a [u8],
    /// How many `data:` lines there were (1 for every real provider).
    pub data_lines: usize,
}

/// What [`SseReader::feed_with_boundaries`] reports at each blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary<'a> {
    /// Offset in the current chunk just after the blank line's terminator.
    /// A CR at the very end of a chunk may still be followed by an LF in the
    /// next chunk, which then belongs to this boundary (see
    /// [`SseReader::skipped_leading_lf`]).
    pub end: usize,
    /// The event the blank line dispatched, if it had `data:`.
    pub event: Option<Event<'a>>,
    /// The event was over [`MAX_PENDING`] and dropped.
    pub overflowed: bool,
}

/// Above this much pending (unterminated) data the event is dropped: one
/// event is a single JSON chunk, megabytes means a broken or hostile stream.
pub const MAX_PENDING: usize = 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseReader {
    /// The current line when a chunk ended inside it.
    line: Vec<u8>,
    /// Joined `data:` values of the current event.
    data: Vec<u8>,
    data_lines: usize,
    /// `event:` of the current event.
    name: Vec<u8>,
    /// The current event went over the cap (reported at its boundary).
    event_overflowed: bool,
    /// The last chunk started with an LF that completed a CR at the end of
    /// the chunk before it.
    skipped_lf: bool,
    /// The previous chunk ended with CR: a leading LF belongs to that CR.
    after_cr: bool,
    /// Over [`MAX_PENDING`]: ignore everything up to the next blank line.
    skipping: bool,
    /// The skipped current line had bytes (so its end is not a blank line).
    skipped_line_nonempty: bool,
    overflowed: bool,
}

impl SseReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once an event was dropped for exceeding [`MAX_PENDING`].
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// True when the last chunk fed began with an LF that only completed the
    /// previous chunk's final CR: that byte belongs to the boundary reported
    /// at the end of the previous chunk.
    pub fn skipped_leading_lf(&self) -> bool {
        self.skipped_lf
    }

    /// Feeds one chunk; `on_event` gets each completed event that had at
    /// least one `data:` line.
    pub fn feed(&mut self, chunk: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
        self.feed_with_boundaries(chunk, &mut |b: Boundary<'_>| {
            if let Some(event) = b.event {
                on_event(event);
            }
        });
    }

    /// Feeds one chunk and reports every blank line (event boundary).
    pub fn feed_with_boundaries(
        &mut self,
        chunk: &[u8],
        on_boundary: &mut impl FnMut(Boundary<'_>),
    ) {
        let total = chunk.len();
        let mut chunk = chunk;
        self.skipped_lf = false;
        if chunk.is_empty() {
            return;
        }
        if std::mem::take(&mut self.after_cr) {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
                self.skipped_lf = true;
            }
        }
        while let Some(pos) = crate::usage::scan::find_byte2(b'\n', b'\r', chunk) {
            let (head, tail) = chunk.split_at(pos);
            let rest = match tail {
                [b'\r', b'\n', rest @ ..] => rest,
                [b'\r'] => {
                    self.after_cr = true;
                    &[][..]
                }
                [_, rest @ ..] => rest,
                [] => &[][..],
            };
            let end = total - rest.len();
            self.finish_line(head, end, on_boundary);
            chunk = rest;
        }
        self.keep_partial_line(chunk);
    }

    /// End of stream: a final event without its blank line still counts —
    /// providers do not always send the last separator.
    pub fn finish(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        self.finish_with_boundaries(&mut |b: Boundary<'_>| {
            if let Some(event) = b.event {
                on_event(event);
            }
        });
    }

    /// [`Self::finish`], reporting the implied final boundary (offset 0).
    pub fn finish_with_boundaries(&mut self, on_boundary: &mut impl FnMut(Boundary<'_>)) {
        if !self.line.is_empty() || self.skipped_line_nonempty {
            self.finish_line(&[], 0, on_boundary);
        }
        self.finish_line(&[], 0, on_boundary);
    }

    fn keep_partial_line(&mut self, part: &[u8]) {
        if part.is_empty() {
            return;
        }
        if self.skipping {
            self.skipped_line_nonempty = true;
            return;
        }
        let pending = self
            .line
            .len()
            .saturating_add(self.data.len())
            .saturating_add(part.len());
        if pending > MAX_PENDING {
            self.start_skipping();
            self.skipped_line_nonempty = true;
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn start_skipping(&mut self) {
        self.overflowed = true;
        self.event_overflowed = true;
        self.skipping = true;
        // Release the memory, not just the length: this happens on bad streams.
        self.line = Vec::new();
        self.data = Vec::new();
        self.data_lines = 0;
        self.name.clear();
    }

    /// `tail` completes the line begun in `self.line`; `end` is where the
    /// line's terminator ends in the current chunk.
    fn finish_line(&mut self, tail: &[u8], end: usize, on_boundary: &mut impl FnMut(Boundary<'_>)) {
        if self.skipping {
            let blank = tail.is_empty() && !self.skipped_line_nonempty;
            self.skipped_line_nonempty = false;
            if blank {
                self.skipping = false;
                self.event_overflowed = false;
                on_boundary(Boundary {
                    end,
                    event: None,
                    overflowed: true,
                });
            }
            return;
        }
        if self.line.is_empty() {
            self.process_line(tail, end, on_boundary);
        } else {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(tail);
            self.process_line(&line, end, on_boundary);
            // Keep the allocation for the next partial line.
            line.clear();
            self.line = line;
        }
    }

    fn process_line(
        &mut self,
        line: &[u8],
        end: usize,
        on_boundary: &mut impl FnMut(Boundary<'_>),
    ) {
        if line.is_empty() {
            let event = (self.data_lines > 0).then_some(Event {
                name: &self.name,
                data: &self.data,
                data_lines: self.data_lines,
            });
            on_boundary(Boundary {
                end,
                event,
                overflowed: std::mem::take(&mut self.event_overflowed),
            });
            self.data.clear();
            self.data_lines = 0;
            self.name.clear();
            return;
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(colon) => {
                let (field, rest) = line.split_at(colon);
                let value = rest.get(1..).unwrap_or_default();
                (field, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {}
            b"event" => {
                self.name.clear();
                self.name
                    .extend_from_slice(value.get(..MAX_EVENT_NAME).unwrap_or(value));
                return;
            }
            // Comments (empty field), `id:`, `retry:` carry no usage.
            _ => return,
        }
        let pending = self
            .data
            .len()
            .saturating_add(value.len())
            .saturating_add(1);
        if pending > MAX_PENDING {
            self.start_skipping();
            return;
        }
        if self.data_lines > 0 {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.data_lines += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_in_chunks(chunks: &[&[u8]]) -> (Vec<String>, bool) {
        let mut reader = SseReader::new();
        let mut events = Vec::new();
        let mut push = |e: Event<'_>| events.push(String::from_utf8(e.data.to_vec()).unwrap());
        for chunk in chunks {
            reader.feed(chunk, &mut push);
        }
        reader.finish(&mut push);
        (events, reader.overflowed())
    }

    const CASES: &[(&str, &str, &[&str])] = &[
        ("lf", "data: a\n\ndata: b\n\n", &["a", "b"]),
        ("crlf", "data: a\r\n\r\ndata: b\r\n\r\n", &["a", "b"]),
        ("cr", "data: a\r\rdata: b\r\r", &["a", "b"]),
        ("mixed", "data: a\r\n\ndata: b\n\r\n", &["a", "b"]),
        ("no space", "data:a\n\n", &["a"]),
        ("two spaces keep one", "data:  a\n\n", &[" a"]),
        ("multi-line data", "data: a\ndata: b\n\n", &["a\nb"]),
        ("multi-line crlf", "data: a\r\ndata: b\r\n\r\n", &["a\nb"]),
        ("multi-line cr", "data: a\rdata: b\r\r", &["a\nb"]),
        ("empty data line", "data\n\n", &[""]),
        ("comments", ": keep-alive\n\n: x\ndata: a\n\n", &["a"]),
        (
            "event and id",
            "event: message_start\nid: 1\ndata: {}\n\n",
            &["{}"],
        ),
        ("event without data", "event: ping\n\ndata: a\n\n", &["a"]),
        (
            "done",
            "data: {\"x\":1}\n\ndata: [DONE]\n\n",
            &["{\"x\":1}", "[DONE]"],
        ),
        ("no final blank line", "data: a\n\ndata: b", &["a", "b"]),
        ("no final blank, lf", "data: a\n", &["a"]),
        ("leading blank lines", "\n\n\r\ndata: a\n\n", &["a"]),
        (
            "colon in value",
            "data: {\"a\":\"b:c\"}\n\n",
            &["{\"a\":\"b:c\"}"],
        ),
        ("other field names", "datax: a\nDATA: b\n\n", &[]),
    ];

    #[test]
    fn frames_events() {
        for (name, input, want) in CASES {
            let (got, overflowed) = events_in_chunks(&[input.as_bytes()]);
            assert_eq!(got, *want, "{name}");
            assert!(!overflowed, "{name}");
        }
    }

    #[test]
    fn same_events_at_every_split() {
        for (name, input, want) in CASES {
            let bytes = input.as_bytes();
            for i in 0..=bytes.len() {
                for j in i..=bytes.len() {
                    let chunks = [&bytes[..i], &bytes[i..j], &bytes[j..]];
                    assert_eq!(
                        events_in_chunks(&chunks).0,
                        *want,
                        "{name} split at {i},{j}"
                    );
                }
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        for (name, input, want) in CASES {
            let chunks: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
            assert_eq!(events_in_chunks(&chunks).0, *want, "{name}");
        }
    }

    #[test]
    fn oversized_event_is_dropped_and_reading_resumes() {
        let big = "x".repeat(MAX_PENDING + 10);
        let input = format!("data: a\n\ndata: {big}\ndata: more\n\ndata: b\n\n");
        let bytes = input.as_bytes();
        for split in [
            0,
            5,
            9,
            20,
            MAX_PENDING / 2,
            MAX_PENDING + 12,
            bytes.len() - 3,
        ] {
            let (got, overflowed) = events_in_chunks(&[&bytes[..split], &bytes[split..]]);
            assert_eq!(got, ["a", "b"], "split at {split}");
            assert!(overflowed);
        }
        let chunks: Vec<&[u8]> = bytes.chunks(4096).collect();
        let (got, overflowed) = events_in_chunks(&chunks);
        assert_eq!(got, ["a", "b"]);
        assert!(overflowed);
    }

    #[test]
    fn many_data_lines_count_towards_the_cap() {
        let line = format!("data: {}\n", "y".repeat(1000));
        let input = format!("{}\ndata: b\n\n", line.repeat(MAX_PENDING / 1000 + 2));
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(777).collect();
        let (got, overflowed) = events_in_chunks(&chunks);
        assert_eq!(got, ["b"]);
        assert!(overflowed);
    }
}
