//! Percent-encoding as RFC 3986 and SigV4 want it: every byte outside
//! "unreserved" (`A-Z a-z 0-9 - . _ ~`) as `%XX` in upper-case hex, so a
//! value can sit in a path segment or a query value without changing the
//! URL's structure.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Real deployment names and api-versions pass through unchanged.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

/// `%XX` sequences to bytes; anything else, a malformed `%` included, kept
/// as is. `+` stays `+`. Invalid UTF-8 becomes U+FFFD.
pub fn decode_lossy(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_only_what_would_break_the_url() {
        let cases = [
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("2024-02-15-preview", "2024-02-15-preview"),
            ("a.b_c~d", "a.b_c~d"),
            ("a/b", "a%2Fb"),
            ("a b?c&d#e", "a%20b%3Fc%26d%23e"),
            ("é", "%C3%A9"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(encode(input), want, "{input:?}");
        }
    }

    #[test]
    fn every_byte_encodes_as_the_unreserved_rule_says() {
        for b in 0u8..=0x7f {
            let s = char::from(b).to_string();
            let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            let want = if unreserved {
                s.clone()
            } else {
                format!("%{b:02X}")
            };
            assert_eq!(encode(&s), want, "{b:#04x}");
        }
    }

    #[test]
    fn decodes_escapes_and_keeps_everything_else() {
        let cases = [
            ("a%20b", "a b"),
            ("%3a%3A", "::"),
            ("a+b", "a+b"),
            ("100%", "100%"),
            ("%zz%4", "%zz%4"),
            ("%C3%A9", "é"),
            ("%FF", "\u{FFFD}"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(decode_lossy(input), want, "{input:?}");
        }
    }
}
