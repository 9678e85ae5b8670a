//! AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's
//! `converse-stream` sends it: binary messages, each
//!
//! ```text
//! total length (u32 BE) | headers length (u32 BE) | CRC32 of the 8 bytes before
//! headers: name length (u8), name, value type (u8, 7 = string), value length (u16 BE), value
//! payload
//! CRC32 of everything before it
//! ```
//!
//! [`encode`] writes the mock's frames; [`decode`] reads them back (checking both
//! CRCs), for tests that look at what came through the gateway.

/// Header value type 7: a UTF-8 string.
const STRING: u8 = 7;
/// Total length, headers length and prelude CRC.
const PRELUDE: usize = 12;
const MESSAGE_CRC: usize = 4;

/// One decoded message: its string headers, in order, and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The value of string header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `:event-type`, e.g. `messageStart`, `contentBlockDelta`, `metadata`.
    pub fn event_type(&self) -> Option<&str> {
        self.header(":event-type")
    }

    /// The payload as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// Why bytes are not a sequence of well-formed messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside a message (at this offset).
    Truncated(usize),
    /// The prelude CRC of the message at this offset is wrong.
    PreludeCrc(usize),
    /// The message CRC of the message at this offset is wrong.
    MessageCrc(usize),
    /// A header of the message at this offset is malformed or not a string.
    Header(usize),
}

/// One event message: `:event-type`, `:content-type: application/json`,
/// `:message-type: event`, and the JSON payload.
pub fn event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An exception message (`:message-type: exception`), as AWS sends errors that
/// happen after the stream has started.
pub fn exception(exception_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )
}

/// A message with string headers. Names longer than 255 bytes or values longer
/// than 65535 bytes are cut (the format cannot say more; the mock never needs it).
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(u8::MAX as usize)];
        let value = &value.as_bytes()[..value.len().min(u16::MAX as usize)];
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name);
        encoded_headers.push(STRING);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value);
    }
    let total = PRELUDE + encoded_headers.len() + payload.len() + MESSAGE_CRC;
    let mut message = Vec::with_capacity(total);
    message.extend_from_slice(&(total as u32).to_be_bytes());
    message.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&message);
    message.extend_from_slice(&prelude_crc.to_be_bytes());
    message.extend_from_slice(&encoded_headers);
    message.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&message);
    message.extend_from_slice(&message_crc.to_be_bytes());
    message
}

/// Every message in `bytes`, which must end exactly at a message boundary.
pub fn decode(bytes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let total = read_u32(rest, 0).ok_or(DecodeError::Truncated(at))? as usize;
        let headers_len = read_u32(rest, 4).ok_or(DecodeError::Truncated(at))? as usize;
        let prelude_crc = read_u32(rest, 8).ok_or(DecodeError::Truncated(at))?;
        if crc32fast::hash(&rest[..8]) != prelude_crc {
            return Err(DecodeError::PreludeCrc(at));
        }
        if total < PRELUDE + headers_len + MESSAGE_CRC || rest.len() < total {
            return Err(DecodeError::Truncated(at));
        }
        let message_crc = read_u32(rest, total - MESSAGE_CRC).ok_or(DecodeError::Truncated(at))?;
        if crc32fast::hash(&rest[..total - MESSAGE_CRC]) != message_crc {
            return Err(DecodeError::MessageCrc(at));
        }
        let headers =
            decode_headers(&rest[PRELUDE..PRELUDE + headers_len]).ok_or(DecodeError::Header(at))?;
        frames.push(Frame {
            headers,
            payload: rest[PRELUDE + headers_len..total - MESSAGE_CRC].to_vec(),
        });
        at += total;
    }
    Ok(frames)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let four: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(four))
}

fn decode_headers(mut bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    while let Some((&name_len, rest)) = bytes.split_first() {
        let name = rest.get(..name_len as usize)?;
        let rest = &rest[name_len as usize..];
        let (&kind, rest) = rest.split_first()?;
        if kind != STRING {
            return None;
        }
        let value_len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let value = rest.get(2..2 + value_len)?;
        headers.push((
            String::from_utf8(name.to_vec()).ok()?,
            String::from_utf8(value.to_vec()).ok()?,
        ));
        bytes = &rest[2 + value_len..];
    }
    Some(headers)
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // tables of cases
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_message_bytes() {
        let cases: Vec<(&[(&str, &str)], &[u8], &str)> = vec![
            // AWS's own test vector `encoded/positive/empty_message`.
            (&[], b"", "000000100000000005c248eb7d98c8ff"),
            // One string header and a payload; CRCs computed with zlib's crc32.
            (
                &[("event-type", "hello")],
                b"{'foo':'bar'}",
                "000000300000001340bd26310a6576656e742d7479706507000568656c6c6f7b27666f6f273a27626172277d144994d7",
            ),
        ];
        for (headers, payload, want) in cases {
            assert_eq!(hex(&encode(headers, payload)), want, "{headers:?}");
        }
    }

    #[test]
    fn round_trip_and_crc_checks() {
        let mut stream = event("messageStart", br#"{"role":"assistant"}"#);
        stream.extend(event("metadata", br#"{"usage":{"inputTokens":28}}"#));
        let frames = decode(&stream).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].event_type(), Some("messageStart"));
        assert_eq!(frames[0].header(":message-type"), Some("event"));
        assert_eq!(frames[0].header(":content-type"), Some("application/json"));
        assert_eq!(frames[1].json().unwrap()["usage"]["inputTokens"], 28);

        let first_len = event("messageStart", br#"{"role":"assistant"}"#).len();
        let cases: Vec<(usize, DecodeError)> = vec![
            (2, DecodeError::PreludeCrc(0)),
            (9, DecodeError::PreludeCrc(0)),
            (20, DecodeError::MessageCrc(0)),
            (first_len - 1, DecodeError::MessageCrc(0)),
            (first_len + 30, DecodeError::MessageCrc(first_len)),
        ];
        for (flip, want) in cases {
            let mut broken = stream.clone();
            broken[flip] ^= 0x01;
            assert_eq!(decode(&broken), Err(want), "byte {flip} flipped");
        }
        assert_eq!(
            decode(&stream[..stream.len() - 1]),
            Err(DecodeError::Truncated(first_len))
        );
        assert_eq!(decode(&stream[..5]), Err(DecodeError::Truncated(0)));
    }
}
