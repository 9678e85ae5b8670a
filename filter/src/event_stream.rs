//! Incremental reader of the AWS event-stream binary framing
//! (`application/vnd.amazon.eventstream`), which Bedrock's ConverseStream
//! answers in. Envoy hands the body over in arbitrary chunks; whole messages
//! inside a chunk are read in place, and only an unfinished message is kept.
//!
//! A message: total length (u32 BE), headers length (u32 BE), CRC-32 of
//! those 8 bytes, the headers, the payload, CRC-32 of everything before it.
//! A header: name length (u8), name, value type (u8), value.
//!
//! The framing has no resynchronisation point: after a bad length or CRC
//! nothing that follows can be trusted, so the reader gives up for the rest
//! of the stream and says so ([`EventStreamReader::failed`]).

/// AWS's own limit on one event-stream message; anything longer is not a
/// Bedrock event but a broken or hostile stream.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

const PRELUDE: usize = 12;
const TRAILER: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    String(&'a str),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub headers: Vec<(&'a str, HeaderValue<'a>)>,
    /// The headers as framed, for [`frame`].
    pub raw_headers: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The first string header of that name.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if *n == name => Some(*s),
            _ => None,
        })
    }

    /// `:event-type`, e.g. `metadata`, `contentBlockDelta`.
    pub fn event_type(&self) -> Option<&'a str> {
        self.header_str(":event-type")
    }

    /// `:message-type`: `event`, `exception` or `error`.
    pub fn message_type(&self) -> Option<&'a str> {
        self.header_str(":message-type")
    }

    /// `:exception-type` of an exception, e.g. `throttlingException`.
    pub fn exception_type(&self) -> Option<&'a str> {
        self.header_str(":exception-type")
    }

    pub fn content_type(&self) -> Option<&'a str> {
        self.header_str(":content-type")
    }
}

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A total length over [`MAX_MESSAGE`] or too small to hold a message,
    /// or headers longer than the message.
    BadLength,
    PreludeCrc,
    MessageCrc,
    /// Headers that do not parse: cut short, unknown type, non-UTF-8 text.
    BadHeaders,
}

impl Failure {
    /// A short name for the failure, fit for a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Failure::BadLength => "bad_length",
            Failure::PreludeCrc => "prelude_crc",
            Failure::MessageCrc => "message_crc",
            Failure::BadHeaders => "bad_headers",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Failure::BadLength => "event-stream message length out of range",
            Failure::PreludeCrc => "event-stream prelude CRC mismatch",
            Failure::MessageCrc => "event-stream message CRC mismatch",
            Failure::BadHeaders => "event-stream headers do not parse",
        })
    }
}

#[derive(Debug, Default)]
pub struct EventStreamReader {
    /// The unfinished message, when a chunk ended inside one.
    pending: Vec<u8>,
    failed: Option<Failure>,
}

impl EventStreamReader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn failed(&self) -> Option<Failure> {
        self.failed
    }

    /// Bytes of a message begun but not finished: at the end of the body,
    /// the stream was cut short.
    pub fn unfinished(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Feeds one chunk; `on_message` gets each complete, intact message.
    pub fn feed(&mut self, chunk: &[u8], on_message: &mut impl FnMut(Message<'_>)) {
        if self.failed.is_some() {
            return;
        }
        let mut rest = chunk;
        if !self.pending.is_empty() {
            match self.complete_pending(rest) {
                Ok(Some(used)) => {
                    rest = rest.get(used..).unwrap_or_default();
                    let pending = std::mem::take(&mut self.pending);
                    let read = self.read_message(&pending, on_message);
                    // Keep the allocation for the next unfinished message.
                    self.pending = pending;
                    self.pending.clear();
                    if !read {
                        return;
                    }
                }
                Ok(None) => return,
                Err(failure) => return self.fail(failure),
            }
        }
        while !rest.is_empty() {
            let total = match prelude(rest) {
                Ok(Some(total)) => total,
                Ok(None) => break,
                Err(failure) => return self.fail(failure),
            };
            let Some((message, after)) = rest.split_at_checked(total) else {
                break;
            };
            if !self.read_message(message, on_message) {
                return;
            }
            rest = after;
        }
        self.pending.extend_from_slice(rest);
    }

    /// Tops `pending` up from `chunk` until it holds a whole message;
    /// `Some(bytes taken)` once it does.
    fn complete_pending(&mut self, chunk: &[u8]) -> Result<Option<usize>, Failure> {
        let mut used = 0;
        if self.pending.len() < PRELUDE {
            used = (PRELUDE - self.pending.len()).min(chunk.len());
            self.pending
                .extend_from_slice(chunk.get(..used).unwrap_or_default());
        }
        let Some(total) = prelude(&self.pending)? else {
            return Ok(None);
        };
        let missing = total.saturating_sub(self.pending.len());
        let take = missing.min(chunk.len().saturating_sub(used));
        self.pending
            .extend_from_slice(chunk.get(used..used + take).unwrap_or_default());
        used += take;
        Ok((self.pending.len() == total).then_some(used))
    }

    fn read_message(&mut self, bytes: &[u8], on_message: &mut impl FnMut(Message<'_>)) -> bool {
        match decode(bytes) {
            Ok(message) => {
                on_message(message);
                true
            }
            Err(failure) => {
                self.fail(failure);
                false
            }
        }
    }

    fn fail(&mut self, failure: Failure) {
        self.failed = Some(failure);
        // Release the memory, not just the length: this happens on bad streams.
        self.pending = Vec::new();
    }
}

/// The message's total length once its 12-byte prelude is complete and
/// valid; `None` while it is not all there.
fn prelude(bytes: &[u8]) -> Result<Option<usize>, Failure> {
    let Some(prelude) = bytes.get(..PRELUDE) else {
        return Ok(None);
    };
    let (lengths, crc) = prelude.split_at(8);
    if crc32fast::hash(lengths) != be_u32(crc) {
        return Err(Failure::PreludeCrc);
    }
    let total = usize::try_from(be_u32(lengths.get(..4).unwrap_or_default()))
        .map_err(|_| Failure::BadLength)?;
    let headers = usize::try_from(be_u32(lengths.get(4..).unwrap_or_default()))
        .map_err(|_| Failure::BadLength)?;
    let ok =
        (PRELUDE + TRAILER..=MAX_MESSAGE).contains(&total) && headers <= total - PRELUDE - TRAILER;
    if ok {
        Ok(Some(total))
    } else {
        Err(Failure::BadLength)
    }
}

/// One whole message, prelude already checked by [`prelude`].
fn decode(bytes: &[u8]) -> Result<Message<'_>, Failure> {
    let split = bytes.len().saturating_sub(TRAILER);
    let (body, crc) = bytes.split_at_checked(split).ok_or(Failure::BadLength)?;
    if crc32fast::hash(body) != be_u32(crc) {
        return Err(Failure::MessageCrc);
    }
    let headers_len = usize::try_from(be_u32(body.get(4..8).unwrap_or_default()))
        .map_err(|_| Failure::BadLength)?;
    let after_prelude = body.get(PRELUDE..).ok_or(Failure::BadLength)?;
    let (headers, payload) = after_prelude
        .split_at_checked(headers_len)
        .ok_or(Failure::BadLength)?;
    Ok(Message {
        headers: parse_headers(headers).ok_or(Failure::BadHeaders)?,
        raw_headers: headers,
        payload,
    })
}

/// One message with these headers (as framed) and payload, its lengths and
/// both CRCs computed; `None` when it would be over [`MAX_MESSAGE`].
pub fn frame(raw_headers: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    let total = PRELUDE + raw_headers.len() + payload.len() + TRAILER;
    if total > MAX_MESSAGE {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).ok()?.to_be_bytes());
    out.extend_from_slice(&u32::try_from(raw_headers.len()).ok()?.to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(raw_headers);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Some(out)
}

fn parse_headers(mut bytes: &[u8]) -> Option<Vec<(&str, HeaderValue<'_>)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (&name_len, rest) = bytes.split_first()?;
        let (name, rest) = rest.split_at_checked(usize::from(name_len))?;
        let name = std::str::from_utf8(name).ok()?;
        let (&kind, rest) = rest.split_first()?;
        let (value, rest) = header_value(kind, rest)?;
        out.push((name, value));
        bytes = rest;
    }
    Some(out)
}

fn header_value(kind: u8, bytes: &[u8]) -> Option<(HeaderValue<'_>, &[u8])> {
    fn fixed<const N: usize>(bytes: &[u8]) -> Option<([u8; N], &[u8])> {
        let (value, rest) = bytes.split_at_checked(N)?;
        Some((value.try_into().ok()?, rest))
    }
    fn sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
        let (len, rest) = fixed::<2>(bytes)?;
        rest.split_at_checked(usize::from(u16::from_be_bytes(len)))
    }
    Some(match kind {
        0 => (HeaderValue::Bool(true), bytes),
        1 => (HeaderValue::Bool(false), bytes),
        2 => fixed(bytes).map(|(v, r)| (HeaderValue::Byte(i8::from_be_bytes(v)), r))?,
        3 => fixed(bytes).map(|(v, r)| (HeaderValue::Short(i16::from_be_bytes(v)), r))?,
        4 => fixed(bytes).map(|(v, r)| (HeaderValue::Int(i32::from_be_bytes(v)), r))?,
        5 => fixed(bytes).map(|(v, r)| (HeaderValue::Long(i64::from_be_bytes(v)), r))?,
        6 => sized(bytes).map(|(v, r)| (HeaderValue::Bytes(v), r))?,
        7 => {
            let (v, r) = sized(bytes)?;
            (HeaderValue::String(std::str::from_utf8(v).ok()?), r)
        }
        8 => fixed(bytes).map(|(v, r)| (HeaderValue::Timestamp(i64::from_be_bytes(v)), r))?,
        9 => fixed(bytes).map(|(v, r)| (HeaderValue::Uuid(v), r))?,
        _ => return None,
    })
}

fn be_u32(bytes: &[u8]) -> u32 {
    bytes.try_into().map(u32::from_be_bytes).unwrap_or_default()
}

/// Frames messages the way AWS does, for tests of everything that reads
/// event streams.
#[cfg(test)]
pub mod encode {
    use super::HeaderValue;

    pub fn message(headers: &[(&str, HeaderValue<'_>)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(u8::try_from(name.len()).unwrap());
            h.extend_from_slice(name.as_bytes());
            match value {
                HeaderValue::Bool(true) => h.push(0),
                HeaderValue::Bool(false) => h.push(1),
                HeaderValue::Byte(v) => {
                    h.push(2);
                    h.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Short(v) => {
                    h.push(3);
                    h.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Int(v) => {
                    h.push(4);
                    h.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Long(v) => {
                    h.push(5);
                    h.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Bytes(v) => {
                    h.push(6);
                    h.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
                    h.extend_from_slice(v);
                }
                HeaderValue::String(v) => {
                    h.push(7);
                    h.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
                    h.extend_from_slice(v.as_bytes());
                }
                HeaderValue::Timestamp(v) => {
                    h.push(8);
                    h.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Uuid(v) => {
                    h.push(9);
                    h.extend_from_slice(v);
                }
            }
        }
        let total = 12 + h.len() + payload.len() + 4;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&u32::try_from(total).unwrap().to_be_bytes());
        out.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(payload);
        out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
        out
    }

    /// A ConverseStream event (`:message-type: event`).
    pub fn event(event_type: &str, json: &str) -> Vec<u8> {
        message(
            &[
                (":event-type", HeaderValue::String(event_type)),
                (":content-type", HeaderValue::String("application/json")),
                (":message-type", HeaderValue::String("event")),
            ],
            json.as_bytes(),
        )
    }

    /// A modeled exception (`:message-type: exception`).
    pub fn exception(exception_type: &str, json: &str) -> Vec<u8> {
        message(
            &[
                (":exception-type", HeaderValue::String(exception_type)),
                (":content-type", HeaderValue::String("application/json")),
                (":message-type", HeaderValue::String("exception")),
            ],
            json.as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (event type or exception type, message type, payload) per message,
    /// and the reader's verdict.
    type Read = (Vec<(String, String, String)>, Option<Failure>, bool);

    fn read(chunks: &[&[u8]]) -> Read {
        let mut reader = EventStreamReader::new();
        let mut got = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, &mut |m: Message<'_>| {
                got.push((
                    m.event_type()
                        .or(m.exception_type())
                        .unwrap_or_default()
                        .to_owned(),
                    m.message_type().unwrap_or_default().to_owned(),
                    String::from_utf8(m.payload.to_vec()).unwrap(),
                ));
            });
        }
        (got, reader.failed(), reader.unfinished())
    }

    fn owned(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        list.iter()
            .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
            .collect()
    }

    fn cases() -> Vec<(&'static str, Vec<u8>, Vec<(String, String, String)>)> {
        let start = encode::event("messageStart", r#"{"role":"assistant"}"#);
        let delta = encode::event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        );
        let empty = encode::message(&[], b"");
        let throttled = encode::exception(
            "throttlingException",
            r#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        vec![
            ("nothing", Vec::new(), vec![]),
            (
                "one event",
                start.clone(),
                owned(&[("messageStart", "event", r#"{"role":"assistant"}"#)]),
            ),
            (
                "events and an exception",
                [start.clone(), delta.clone(), throttled.clone()].concat(),
                owned(&[
                    ("messageStart", "event", r#"{"role":"assistant"}"#),
                    (
                        "contentBlockDelta",
                        "event",
                        r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
                    ),
                    (
                        "throttlingException",
                        "exception",
                        r#"{"message":"Too many requests, please wait before trying again."}"#,
                    ),
                ]),
            ),
            (
                "no headers, no payload",
                [empty, start].concat(),
                owned(&[
                    ("", "", ""),
                    ("messageStart", "event", r#"{"role":"assistant"}"#),
                ]),
            ),
        ]
    }

    #[test]
    fn reads_messages_split_at_every_byte() {
        for (name, bytes, want) in cases() {
            assert_eq!(read(&[&bytes]), (want.clone(), None, false), "{name}");
            for i in 0..=bytes.len() {
                let got = read(&[&bytes[..i], &bytes[i..]]);
                assert_eq!(got, (want.clone(), None, false), "{name} split at {i}");
            }
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(read(&bytewise), (want, None, false), "{name} bytewise");
        }
    }

    #[test]
    fn a_message_framed_again_is_the_same_bytes() {
        for (name, bytes, _) in cases() {
            let mut again = Vec::new();
            EventStreamReader::new().feed(&bytes, &mut |m: Message<'_>| {
                again.extend(frame(m.raw_headers, m.payload).unwrap());
            });
            assert_eq!(again, bytes, "{name}");
        }
        // A new payload: the lengths and both CRCs follow.
        let mut read_back = Vec::new();
        let framed = frame(b"", b"{}").unwrap();
        EventStreamReader::new().feed(&framed, &mut |m: Message<'_>| {
            read_back.push(m.payload.to_vec());
        });
        assert_eq!(read_back, [b"{}".to_vec()]);
        assert!(frame(b"", &vec![0; MAX_MESSAGE]).is_none());
    }

    #[test]
    fn every_header_type() {
        let uuid = *b"0123456789abcdef";
        let headers = [
            ("t", HeaderValue::Bool(true)),
            ("f", HeaderValue::Bool(false)),
            ("b", HeaderValue::Byte(-2)),
            ("s", HeaderValue::Short(-300)),
            ("i", HeaderValue::Int(70_000)),
            ("l", HeaderValue::Long(-5_000_000_000)),
            ("bytes", HeaderValue::Bytes(&[0, 255, 7])),
            ("str", HeaderValue::String("caf\u{e9}")),
            ("ts", HeaderValue::Timestamp(1_700_000_000_000)),
            ("id", HeaderValue::Uuid(uuid)),
            (":event-type", HeaderValue::String("metadata")),
        ];
        let bytes = encode::message(&headers, b"{}");
        let mut seen = 0;
        EventStreamReader::new().feed(&bytes, &mut |m: Message<'_>| {
            assert_eq!(m.event_type(), Some("metadata"));
            assert_eq!(m.header_str("t"), None, "not a string");
            assert_eq!(m.headers, headers);
            assert_eq!(m.payload, b"{}");
            seen += 1;
        });
        assert_eq!(seen, 1);
    }

    #[test]
    fn corruption_stops_the_reader_for_good() {
        let first = encode::event("messageStart", r#"{"role":"assistant"}"#);
        let second = encode::event("messageStop", r#"{"stopReason":"end_turn"}"#);
        let stream = [first.clone(), second.clone()].concat();
        let at = first.len();
        let flip = |i: usize| {
            let mut s = stream.clone();
            s[i] ^= 0x01;
            s
        };
        let with_headers = |total: u32, headers: u32| {
            let mut prelude = [total.to_be_bytes(), headers.to_be_bytes()].concat();
            let crc = crc32fast::hash(&prelude);
            prelude.extend_from_slice(&crc.to_be_bytes());
            [first.clone(), prelude, vec![0; 64]].concat()
        };
        let bad_header = encode::message(&[(":event-type", HeaderValue::String("metadata"))], b"");
        // Type byte of the only header: 1 (name length) + 11 (name).
        let mut bad_type = bad_header.clone();
        bad_type[12 + 12] = 42;
        let crc_at = bad_type.len() - 4;
        let crc = crc32fast::hash(&bad_type[..crc_at]);
        bad_type[crc_at..].copy_from_slice(&crc.to_be_bytes());
        let start = owned(&[("messageStart", "event", r#"{"role":"assistant"}"#)]);
        let cases: Vec<(&str, Vec<u8>, Vec<(String, String, String)>, Failure)> = vec![
            (
                "total length bit",
                flip(at + 2),
                start.clone(),
                Failure::PreludeCrc,
            ),
            (
                "prelude crc",
                flip(at + 9),
                start.clone(),
                Failure::PreludeCrc,
            ),
            (
                "header byte",
                flip(at + 14),
                start.clone(),
                Failure::MessageCrc,
            ),
            (
                "payload byte",
                flip(stream.len() - 6),
                start.clone(),
                Failure::MessageCrc,
            ),
            (
                "message crc",
                flip(stream.len() - 1),
                start.clone(),
                Failure::MessageCrc,
            ),
            ("first message", flip(20), vec![], Failure::MessageCrc),
            (
                "over the size limit",
                with_headers(u32::try_from(MAX_MESSAGE + 1).unwrap(), 0),
                start.clone(),
                Failure::BadLength,
            ),
            (
                "shorter than a message",
                with_headers(15, 0),
                start.clone(),
                Failure::BadLength,
            ),
            (
                "headers past the end",
                with_headers(64, 60),
                start.clone(),
                Failure::BadLength,
            ),
            (
                "unknown header type",
                [first.clone(), bad_type].concat(),
                start.clone(),
                Failure::BadHeaders,
            ),
        ];
        for (name, bytes, want, failure) in cases {
            for i in [0, 1, 11, 12, 13, at, at + 5, bytes.len()] {
                let i = i.min(bytes.len());
                // More after the damage is ignored, intact or not.
                let got = read(&[&bytes[..i], &bytes[i..], &second]);
                assert_eq!(
                    got,
                    (want.clone(), Some(failure), false),
                    "{name} split at {i}"
                );
            }
        }
    }

    #[test]
    fn a_cut_message_is_unfinished() {
        let bytes = encode::event("messageStop", r#"{"stopReason":"end_turn"}"#);
        for cut in [1, 11, 12, bytes.len() - 1] {
            assert_eq!(read(&[&bytes[..cut]]), (vec![], None, true), "cut at {cut}");
        }
    }

    #[test]
    fn a_huge_announced_message_is_not_buffered() {
        // A valid prelude announcing the largest allowed message: the reader
        // waits for it, and gives up at once on one just over.
        for (total, failed) in [
            (MAX_MESSAGE, None),
            (MAX_MESSAGE + 1, Some(Failure::BadLength)),
        ] {
            let mut prelude = [u32::try_from(total).unwrap().to_be_bytes(), [0; 4]].concat();
            let crc = crc32fast::hash(&prelude);
            prelude.extend_from_slice(&crc.to_be_bytes());
            let mut reader = EventStreamReader::new();
            reader.feed(&prelude, &mut |_: Message<'_>| panic!("no message"));
            reader.feed(&[0; 1024], &mut |_: Message<'_>| panic!("no message"));
            assert_eq!(reader.failed(), failed);
            assert_eq!(reader.unfinished(), failed.is_none());
        }
    }

    #[test]
    fn failure_labels_are_distinct_metric_labels() {
        let failures = [
            Failure::BadLength,
            Failure::PreludeCrc,
            Failure::MessageCrc,
            Failure::BadHeaders,
        ];
        let mut seen = Vec::new();
        for f in failures {
            let label = f.label();
            assert_eq!(crate::metrics::sanitize_label(label), label);
            assert!(!seen.contains(&label), "{label} twice");
            assert!(!f.to_string().is_empty());
            seen.push(label);
        }
    }
}
