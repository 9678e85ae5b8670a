//! Byte scans that decide whether a stream event is worth handing to serde.
//! Most events of a stream are content deltas; these scans let them pass
//! with one linear pass and no allocation.
//!
//! A quoted key like `"usage"` can only appear unescaped in JSON as a real
//! string token (inside another string its quotes would be escaped), so a
//! match is either the key itself or a string value equal to it — at worst a
//! needless parse, never a missed one.

/// Where `needle` occurs in `hay`, from `from` on.
pub fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while let Some(rest) = hay.get(i..) {
        let at = i + rest.iter().position(|&b| b == first)?;
        if hay.get(at..at.checked_add(needle.len())?) == Some(needle) {
            return Some(at);
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
