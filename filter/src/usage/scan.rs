//! Byte scans that decide whether a stream event is worth handing to serde.
//! Most events of a stream are content deltas; these scans let them pass
//! with one linear pass and no allocation.
//!
//! A quoted key like `"usage"` can only appear unescaped in JSON as a real
//! string token (inside another string its quotes would be escaped), so a
//! match is either the key itself or a string value equal to it — at worst a
//! needless parse, never a missed one.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of `x` that is zero (exact for the lowest such byte,
/// which is all the callers use).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

/// First position of `a` or `b` in `hay`: eight bytes per step (u64 words
/// are native in wasm32 too), then byte by byte for the tail.
#[inline]
pub fn find_byte2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let (pa, pb) = (LO.wrapping_mul(u64::from(a)), LO.wrapping_mul(u64::from(b)));
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let hit = zero_bytes(w ^ pa) | zero_bytes(w ^ pb);
        if hit != 0 {
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == a || c == b)
        .map(|i| at + i)
}

/// First position of `a` in `hay`.
#[inline]
pub fn find_byte(a: u8, hay: &[u8]) -> Option<usize> {
    find_byte2(a, a, hay)
}

/// How common a byte is in provider JSON (higher: more common). Keys are
/// searched by their rarest byte, not by their leading quote: quotes are a
/// fifth of a typical chunk, so a scan keyed on `"` stopped every few bytes.
fn commonness(b: u8) -> u8 {
    match b {
        b'"' | b':' | b',' | b' ' => 255,
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'l' => 200,
        b'r' | b'c' | b'd' | b'u' | b'h' | b'f' | b'm' | b'_' | b'0'..=b'9' => 150,
        b'{' | b'}' | b'[' | b']' | b'p' => 120,
        _ => 50,
    }
}

/// Where `needle` occurs in `hay`, from `from` on.
pub fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    // The needle's rarest byte (the first of equals) is what the scan looks for.
    let (pivot, &rare) = needle
        .iter()
        .enumerate()
        .min_by_key(|&(_, &b)| commonness(b))?;
    let mut i = from.checked_add(pivot)?;
    while let Some(rest) = hay.get(i..) {
        let at = i + find_byte(rare, rest)?;
        let start = at - pivot;
        // The bytes around the pivot first: most candidates fail there,
        // without a call to memcmp.
        let next = at + 1;
        let plausible = hay.get(start) == needle.first()
            && (next >= start + needle.len() || hay.get(next) == needle.get(pivot + 1));
        if plausible && hay.get(start..start.checked_add(needle.len())?) == Some(needle) {
            return Some(start);
        }
        i = at + 1;
    }
    None
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find_from(hay, needle, 0).is_some()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// True when `quoted_key` (e.g. `"usage"`, with its quotes) appears as a key
/// whose value is not `null`. OpenAI sends `"usage":null` on every chunk of
/// a stream that asked for usage; only the one real usage is worth parsing.
pub fn has_non_null_member(hay: &[u8], quoted_key: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = find_from(hay, quoted_key, from) {
        let colon = skip_ws(hay, at + quoted_key.len());
        if hay.get(colon) == Some(&b':') {
            let value = skip_ws(hay, colon + 1);
            if hay.get(value..value + 4) != Some(b"null") {
                return true;
            }
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles() {
        let cases: &[(&[u8], &[u8], Option<usize>)] = &[
            (b"abcabc", b"bc", Some(1)),
            (b"abcabc", b"cab", Some(2)),
            (b"abcab", b"abc", Some(0)),
            (b"ab", b"abc", None),
            (b"", b"a", None),
            (b"a", b"", None),
            (b"aaab", b"aab", Some(1)),
        ];
        for (hay, needle, want) in cases {
            assert_eq!(find_from(hay, needle, 0), *want, "{hay:?} {needle:?}");
        }
        assert_eq!(find_from(b"abcabc", b"bc", 2), Some(4));
        // `from` inside a match, pivot after it: not found before `from`.
        assert_eq!(find_from(br#"x"usage"x"usage""#, b"\"usage\"", 1), Some(1));
        assert_eq!(find_from(br#"x"usage"x"usage""#, b"\"usage\"", 2), Some(9));
    }

    #[test]
    fn word_scans_match_byte_scans() {
        // Every length around the word size, the byte at every position.
        for len in 0..40usize {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                if let Some(b) = hay.get_mut(at) {
                    *b = b'\n';
                }
                let want = hay.iter().position(|&c| c == b'\n' || c == b'\r');
                assert_eq!(find_byte2(b'\n', b'\r', &hay), want, "{len} {at}");
                assert_eq!(find_byte(b'\n', &hay), want, "{len} {at}");
                // High bytes and the other needle before it.
                let mut hay2: Vec<u8> = (0..len).map(|i| 0x80 | (i as u8)).collect();
                if let Some(b) = hay2.get_mut(at) {
                    *b = b'\r';
                }
                let want2 = hay2.iter().position(|&c| c == b'\n' || c == b'\r');
                assert_eq!(find_byte2(b'\n', b'\r', &hay2), want2, "{len} {at} high");
            }
        }
        // A zero byte next to a match must not be reported first.
        assert_eq!(find_byte(1, &[0, 0, 1, 0, 0, 0, 0, 0, 0]), Some(2));
        assert_eq!(find_byte(0x80, &[0x7f, 0x00, 0x80]), Some(2));
    }

    #[test]
    fn find_from_agrees_with_naive_search() {
        let hay = br#"{"choices":[{"delta":{"content":"\"usage\": error"}}],"usage":null,"error":{"usage":1}}"#;
        for needle in [
            &b"\"usage\""[..],
            b"\"error\"",
            b"\"model\"",
            b"null",
            b"}",
            b"\"",
        ] {
            for from in 0..hay.len() {
                let want = hay
                    .windows(needle.len())
                    .enumerate()
                    .skip(from)
                    .find(|(_, w)| *w == needle)
                    .map(|(i, _)| i);
                assert_eq!(find_from(hay, needle, from), want, "{needle:?} from {from}");
            }
        }
    }

    #[test]
    fn non_null_members() {
        let cases: &[(&str, bool)] = &[
            (r#"{"usage":null}"#, false),
            (r#"{"usage" : null ,"x":1}"#, false),
            (r#"{"usage":{"prompt_tokens":1}}"#, true),
            (r#"{"usage":null,"choices":[],"u":{"usage":{}}}"#, true),
            (
                r#"{"choices":[{"delta":{"content":"\"usage\":{}"}}]}"#,
                false,
            ),
            (r#"{"x":"usage"}"#, false),
            (r#"{"usage":nul"#, true),
            (r#"{"usage""#, false),
            ("", false),
        ];
        for (json, want) in cases {
            assert_eq!(
                has_non_null_member(json.as_bytes(), b"\"usage\""),
                *want,
                "{json}"
            );
        }
    }
}
