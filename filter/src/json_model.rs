//! Surgical edits of a request body's top-level members (`"model"`,
//! `"stream"`, …): the rest of the body stays byte-identical (clients sign, hash or diff bodies; re-serialising would
//! reorder keys and change number formatting).
//!
//! The scanner validates the whole document, so a body that is not a JSON
//! object is reported as `None` and the caller passes it through untouched.
//! Nested values are skipped with an explicit stack: hostile nesting depth costs
//! heap, never native stack.

use std::ops::Range;

/// One top-level `"key": value` member, as byte spans of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key with its quotes.
    pub key: Range<usize>,
    pub value: Range<usize>,
}

/// Where the top-level members are.
struct TopLevel {
    /// Index just after the opening `{`.
    after_open: usize,
    empty: bool,
    /// Value spans of every top-level `"model"` key (duplicates included).
    model_values: Vec<Range<usize>>,
    members: Vec<Member>,
}

/// Every top-level member of a JSON object, in order; `None` when the body
/// is not a valid JSON object.
pub fn members(body: &[u8]) -> Option<Vec<Member>> {
    scan(body).map(|top| top.members)
}

/// Every element of a JSON array, as byte spans of the body; `None` when
/// the body is not a valid JSON array.
pub fn elements(body: &[u8]) -> Option<Vec<Range<usize>>> {
    std::str::from_utf8(body).ok()?;
    let mut i = skip_ws(body, 0);
    if body.get(i) != Some(&b'[') {
        return None;
    }
    let mut elements = Vec::new();
    i = skip_ws(body, i + 1);
    if body.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            let end = skip_value(body, i)?;
            elements.push(i..end);
            i = skip_ws(body, end);
            match body.get(i) {
                Some(b',') => i = skip_ws(body, i + 1),
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(body, i) == body.len()).then_some(elements)
}

/// Index just after the opening `{` of a valid JSON object.
pub fn after_open(body: &[u8]) -> Option<usize> {
    scan(body).map(|top| top.after_open)
}

/// Whether the quoted key (as it appears in the body) names `name`,
/// escaped spellings included.
pub fn key_is(quoted: &[u8], name: &str) -> bool {
    if quoted.len() == name.len() + 2 && quoted.get(1..quoted.len() - 1) == Some(name.as_bytes()) {
        return true;
    }
    quoted.contains(&b'\\') && serde_json::from_slice::<String>(quoted).is_ok_and(|k| k == name)
}

/// The top-level `model` string. With duplicate keys the last one is returned,
/// matching what most JSON parsers (and so most providers) would use.
pub fn read_model(body: &[u8]) -> Option<String> {
    let top = scan(body)?;
    let span = top.model_values.last()?;
    let raw = body.get(span.clone())?;
    serde_json::from_slice::<String>(raw).ok()
}

/// The body with every top-level `model` value replaced by `model` (inserted
/// first when absent). `None` when the body is not a JSON object.
pub fn set_model(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let top = scan(body)?;
    let value = serde_json::to_string(model).ok()?;
    let mut out = Vec::with_capacity(body.len().saturating_add(value.len()).saturating_add(10));
    if top.model_values.is_empty() {
        out.extend_from_slice(body.get(..top.after_open)?);
        out.extend_from_slice(b"\"model\":");
        out.extend_from_slice(value.as_bytes());
        if !top.empty {
            out.push(b',');
        }
        out.extend_from_slice(body.get(top.after_open..)?);
        return Some(out);
    }
    // Every copy is replaced: otherwise a client could add a second `model`
    // that the provider reads instead of the gateway's.
    let mut copied = 0;
    for span in &top.model_values {
        out.extend_from_slice(body.get(copied..span.start)?);
        out.extend_from_slice(value.as_bytes());
        copied = span.end;
    }
    out.extend_from_slice(body.get(copied..)?);
    Some(out)
}

/// The raw value of the last top-level member named `name` (what most
/// parsers keep with duplicate keys). `None` when absent or not an object.
pub fn value_of<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let member = members(body)?
        .into_iter()
        .rev()
        .find(|m| body.get(m.key.clone()).is_some_and(|k| key_is(k, name)))?;
    body.get(member.value)
}

/// The body without any top-level member named `name`, separators fixed up
/// and every other byte kept. `None` when the body is not a JSON object or
/// has no such member.
pub fn remove_member(body: &[u8], name: &str) -> Option<Vec<u8>> {
    let members = members(body)?;
    let removed: Vec<bool> = members
        .iter()
        .map(|m| body.get(m.key.clone()).is_some_and(|k| key_is(k, name)))
        .collect();
    if !removed.contains(&true) {
        return None;
    }
    // Cut spans: a member followed by another loses everything up to the next
    // key (its comma included); a removed tail is cut from the end of the
    // last kept value, taking the comma that led into it.
    let last_kept = removed.iter().rposition(|r| !r);
    let mut cuts: Vec<Range<usize>> = Vec::new();
    for (i, member) in members.iter().enumerate() {
        if !removed.get(i).copied().unwrap_or(false) {
            continue;
        }
        let in_tail = last_kept.is_none_or(|k| i > k);
        if !in_tail {
            let next = members.get(i + 1)?;
            cuts.push(member.key.start..next.key.start);
        }
    }
    let tail_from = match last_kept {
        Some(k) => members.get(k)?.value.end,
        None => members.first()?.key.start,
    };
    if last_kept.is_none_or(|k| k + 1 < members.len()) {
        cuts.push(tail_from..members.last()?.value.end);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    for cut in cuts {
        out.extend_from_slice(body.get(copied..cut.start)?);
        copied = cut.end;
    }
    out.extend_from_slice(body.get(copied..)?);
    Some(out)
}

/// The body with `"key":<raw_value>` added as its first member. `raw_value`
/// must be valid JSON. `None` when the body is not a JSON object.
pub fn prepend_member(body: &[u8], key: &str, raw_value: &[u8]) -> Option<Vec<u8>> {
    let top = scan(body)?;
    let key = serde_json::to_string(key).ok()?;
    let mut out = Vec::with_capacity(
        body.len()
            .saturating_add(key.len())
            .saturating_add(raw_value.len())
            .saturating_add(2),
    );
    out.extend_from_slice(body.get(..top.after_open)?);
    out.extend_from_slice(key.as_bytes());
    out.push(b':');
    out.extend_from_slice(raw_value);
    if !top.empty {
        out.push(b',');
    }
    out.extend_from_slice(body.get(top.after_open..)?);
    Some(out)
}

fn scan(body: &[u8]) -> Option<TopLevel> {
    // JSON text is UTF-8; checking once up front keeps the scanner byte-based.
    std::str::from_utf8(body).ok()?;
    let mut i = skip_ws(body, 0);
    if body.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let after_open = i;
    let mut model_values = Vec::new();
    let mut members = Vec::new();
    i = skip_ws(body, i);
    let empty = body.get(i) == Some(&b'}');
    if empty {
        i += 1;
    } else {
        loop {
            let key = i..skip_string(body, i)?;
            i = skip_ws(body, key.end);
            if body.get(i) != Some(&b':') {
                return None;
            }
            let start = skip_ws(body, i + 1);
            let end = skip_value(body, start)?;
            if key_is(body.get(key.clone())?, "model") {
                model_values.push(start..end);
            }
            members.push(Member {
                key,
                value: start..end,
            });
            i = skip_ws(body, end);
            match body.get(i) {
                Some(b',') => i = skip_ws(body, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(body, i) == body.len()).then_some(TopLevel {
        after_open,
        empty,
        model_values,
        members,
    })
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `i` at the opening quote → index after the closing quote.
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of the word is `"`, `\` or a control character — the
/// only bytes a string scan must look at. Exact as to presence, which is all
/// the caller uses (a hit falls back to the byte loop). Bytes >= 0x80 are
/// never flagged: the body is valid UTF-8 already.
#[inline(always)]
fn has_string_special(w: u64) -> bool {
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let quote = zero(w ^ LO.wrapping_mul(u64::from(b'"')));
    let backslash = zero(w ^ LO.wrapping_mul(u64::from(b'\\')));
    let control = w.wrapping_sub(LO.wrapping_mul(0x20)) & !w & HI;
    (quote | backslash | control) != 0
}

/// Most of a request body is string content (prompts): plain runs are
/// skipped eight bytes at a time.
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    while let Some(word) = b.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        if has_string_special(u64::from_le_bytes(word)) {
            break;
        }
        i += 8;
    }
    i
}

fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        i = skip_plain(b, i);
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                i += 1;
                match *b.get(i)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                    b'u' => {
                        let hex = b.get(i + 1..i + 5)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 5;
                    }
                    _ => return None,
                }
            }
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

fn skip_digits(b: &[u8], mut i: usize) -> (usize, usize) {
    let start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    (i, i - start)
}

fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let (end, n) = skip_digits(b, i);
    if n == 0 || (n > 1 && b.get(i) == Some(&b'0')) {
        return None;
    }
    i = end;
    if b.get(i) == Some(&b'.') {
        let (end, n) = skip_digits(b, i + 1);
        if n == 0 {
            return None;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (end, n) = skip_digits(b, i);
        if n == 0 {
            return None;
        }
        i = end;
    }
    Some(i)
}

fn skip_literal(b: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    let end = i.checked_add(lit.len())?;
    (b.get(i..end)? == lit).then_some(end)
}

/// `i` at the first byte of a value → index after it.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    // Open containers, innermost last: b'{' or b'['.
    let mut stack: Vec<u8> = Vec::new();
    loop {
        // Parse one value starting at `i`, or open a container.
        i = skip_ws(b, i);
        match *b.get(i)? {
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                let inner = skip_ws(b, i + 1);
                if b.get(inner) == Some(&close) {
                    i = inner + 1;
                } else {
                    stack.push(open);
                    i = if open == b'{' {
                        skip_member_key(b, inner)?
                    } else {
                        inner
                    };
                    continue;
                }
            }
            b'"' => i = skip_string(b, i)?,
            b't' => i = skip_literal(b, i, b"true")?,
            b'f' => i = skip_literal(b, i, b"false")?,
            b'n' => i = skip_literal(b, i, b"null")?,
            _ => i = skip_number(b, i)?,
        }
        // After a complete value: close containers or move to the next element.
        loop {
            let Some(&open) = stack.last() else {
                return Some(i);
            };
            i = skip_ws(b, i);
            match (open, *b.get(i)?) {
                (b'{', b',') => {
                    i = skip_member_key(b, skip_ws(b, i + 1))?;
                    break;
                }
                (b'[', b',') => {
                    i += 1;
                    break;
                }
                (b'{', b'}') | (b'[', b']') => {
                    stack.pop();
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// `"key" :` → index after the colon.
fn skip_member_key(b: &[u8], i: usize) -> Option<usize> {
    let i = skip_ws(b, skip_string(b, i)?);
    (b.get(i) == Some(&b':')).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    /// The byte-at-a-time string scan the word scan must agree with.
    fn skip_string_bytewise(b: &[u8], mut i: usize) -> Option<usize> {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        loop {
            match *b.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => {
                    i += 1;
                    match *b.get(i)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                        b'u' => {
                            let hex = b.get(i + 1..i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 5;
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    #[test]
    fn word_scan_agrees_with_the_byte_scan() {
        // Every special byte (and a few plain ones, ASCII and not) at every
        // position of strings of every length up to 40, closed or not.
        let specials: [&[u8]; 9] = [
            b"\"",
            b"\\n",
            b"\\u00e9",
            b"\\x",
            b"\n",
            b"\x1f",
            b" ",
            b"\x7f",
            "\u{e9}".as_bytes(),
        ];
        for len in 0..40 {
            for at in 0..=len {
                for special in specials {
                    for closed in [true, false] {
                        let mut body = vec![b'"'];
                        body.extend(std::iter::repeat_n(b'a', at));
                        body.extend_from_slice(special);
                        body.extend(std::iter::repeat_n(b'b', len - at));
                        if closed {
                            body.push(b'"');
                        }
                        assert_eq!(
                            skip_string(&body, 0),
                            skip_string_bytewise(&body, 0),
                            "{:?}",
                            String::from_utf8_lossy(&body)
                        );
                    }
                }
            }
        }
    }

    use super::*;

    #[test]
    fn reads_the_top_level_model() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"model":"gpt-4o"}"#, Some("gpt-4o")),
            (" {\n \"model\" : \"gpt-4o\" ,\"x\":1}\n", Some("gpt-4o")),
            (r#"{"a":{"model":"inner"},"model":"outer"}"#, Some("outer")),
            (r#"{"a":{"model":"inner"}}"#, None),
            (r#"{"messages":[{"model":"x"}]}"#, None),
            (r#"{"model":"a\"b\\c\u00e9"}"#, Some("a\"b\\cé")),
            (r#"{"mod\u0065l":"escaped-key"}"#, Some("escaped-key")),
            (r#"{"model":"first","model":"last"}"#, Some("last")),
            (r#"{"model":null}"#, None),
            (r#"{"model":42}"#, None),
            (r#"{"model":""}"#, Some("")),
            (r#"{"x":"\"model\":\"fake\""}"#, None),
            (r#"{}"#, None),
            (r#"["model"]"#, None),
            (r#"{"model":"x""#, None),
            (r#"{"model":"x"} trailing"#, None),
            ("", None),
        ];
        for (body, want) in cases {
            assert_eq!(read_model(body.as_bytes()).as_deref(), *want, "{body}");
        }
    }

    #[test]
    fn sets_the_model_leaving_other_bytes_alone() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                r#"{"model":"a","x":1}"#,
                "b",
                Some(r#"{"model":"b","x":1}"#),
            ),
            (
                "{ \"x\" : [1, {\"model\": \"keep\"}],\n  \"model\" :  \"old\"  }",
                "new",
                Some("{ \"x\" : [1, {\"model\": \"keep\"}],\n  \"model\" :  \"new\"  }"),
            ),
            (r#"{"x":1}"#, "m", Some(r#"{"model":"m","x":1}"#)),
            (" {\n\"x\":1}", "m", Some(" {\"model\":\"m\",\n\"x\":1}")),
            (r#"{}"#, "m", Some(r#"{"model":"m"}"#)),
            ("{ \n }", "m", Some("{\"model\":\"m\" \n }")),
            (r#"{"model":null}"#, "m", Some(r#"{"model":"m"}"#)),
            (
                r#"{"model":{"nested":"model"}}"#,
                "m",
                Some(r#"{"model":"m"}"#),
            ),
            (
                r#"{"model":"a","model":"b"}"#,
                "m",
                Some(r#"{"model":"m","model":"m"}"#),
            ),
            (
                r#"{"model":"a"}"#,
                "q\"uote\\\n",
                Some(r#"{"model":"q\"uote\\\n"}"#),
            ),
            (r#"{"model":"a"}"#, "é", Some(r#"{"model":"é"}"#)),
            (r#"{"mod\u0065l":"a"}"#, "m", Some(r#"{"mod\u0065l":"m"}"#)),
            ("not json", "m", None),
            (r#"["model"]"#, "m", None),
            (r#""model""#, "m", None),
            (r#"{"model":"a",}"#, "m", None),
            (r#"{"model":"a"}{}"#, "m", None),
            (r#"{"model":01}"#, "m", None),
            (r#"{"a":[1,]}"#, "m", None),
            (r#"{"a":{"b" 1}}"#, "m", None),
            (r#"{"a":"\x"}"#, "m", None),
            (r#"{"a":tru}"#, "m", None),
            ("{\"a\":\"raw\ncontrol\"}", "m", None),
            ("", "m", None),
        ];
        for (body, model, want) in cases {
            let got = set_model(body.as_bytes(), model);
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{body}");
        }
    }

    #[test]
    fn removes_a_member_leaving_other_bytes_alone() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"stream":true,"x":1}"#, Some(r#"{"x":1}"#)),
            (r#"{"x":1,"stream":true}"#, Some(r#"{"x":1}"#)),
            (r#"{"x":1,"stream":true,"y":2}"#, Some(r#"{"x":1,"y":2}"#)),
            (r#"{"stream":true}"#, Some(r#"{}"#)),
            ("{ \"stream\" : true }", Some("{  }")),
            (
                "{\n  \"x\": 1,\n  \"stream\": true\n}",
                Some("{\n  \"x\": 1\n}"),
            ),
            (
                "{\n  \"stream\": true,\n  \"x\": 1\n}",
                Some("{\n  \"x\": 1\n}"),
            ),
            (
                r#"{"stream":1,"x":{"stream":true},"stream":2}"#,
                Some(r#"{"x":{"stream":true}}"#),
            ),
            (r#"{"x":1,"stream":1,"stream":2}"#, Some(r#"{"x":1}"#)),
            (r#"{"stream":1,"stream":2}"#, Some(r#"{}"#)),
            (r#"{"stre\u0061m":false,"x":[]}"#, Some(r#"{"x":[]}"#)),
            (r#"{"x":1}"#, None),
            (r#"{}"#, None),
            (r#"{"stream":true"#, None),
            (r#"[{"stream":true}]"#, None),
        ];
        for (body, want) in cases {
            let got = remove_member(body.as_bytes(), "stream");
            assert_eq!(
                got.as_deref().map(String::from_utf8_lossy),
                want.map(Into::into),
                "{body}"
            );
            if let Some(new) = got {
                let v: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&new).unwrap();
                assert!(!v.contains_key("stream"), "{body}");
            }
        }
    }

    #[test]
    fn prepends_a_member() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"x":1}"#, Some(r#"{"g":{"a":1},"x":1}"#)),
            (" { } ", Some(r#" {"g":{"a":1} } "#)),
            ("nope", None),
        ];
        for (body, want) in cases {
            let got = prepend_member(body.as_bytes(), "g", br#"{"a":1}"#);
            assert_eq!(
                got.as_deref().map(String::from_utf8_lossy),
                want.map(Into::into),
                "{body}"
            );
        }
    }

    #[test]
    fn reads_a_top_level_value() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"stream":true}"#, Some("true")),
            (r#"{"stream" : false , "x":1}"#, Some("false")),
            (r#"{"stream":true,"stream":false}"#, Some("false")),
            (r#"{"x":{"stream":true}}"#, None),
            (r#"{"stream":true"#, None),
        ];
        for (body, want) in cases {
            assert_eq!(
                value_of(body.as_bytes(), "stream"),
                want.map(str::as_bytes),
                "{body}"
            );
        }
    }

    #[test]
    fn lists_array_elements() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("[]", Some(&[])),
            (" [ ] ", Some(&[])),
            (
                r#"[1, "a" ,{"b":[2]}]"#,
                Some(&["1", r#""a""#, r#"{"b":[2]}"#]),
            ),
            ("[1,]", None),
            ("[1 2]", None),
            ("[1] x", None),
            ("{}", None),
        ];
        for (body, want) in cases {
            let got = super::elements(body.as_bytes())
                .map(|spans| spans.into_iter().map(|s| &body[s]).collect::<Vec<_>>());
            assert_eq!(got.as_deref(), *want, "{body}");
        }
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(set_model(b"{\"model\":\"\xff\"}", "m"), None);
    }

    #[test]
    fn agrees_with_serde_json_on_validity_and_value() {
        let bodies = [
            r#"{"a":[1,2.5,-3e+2,{"b":[true,false,null,"s"]}],"model":"m","c":{}}"#,
            r#"{"a":[[[[]]]],"b":{"c":{"d":{}}}}"#,
            r#"{"a":-0.0e-1,"b":"\ud83d\ude00"}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":1e}"#,
        ];
        for body in bodies {
            let serde_ok =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body).is_ok();
            let rewritten = set_model(body.as_bytes(), "z");
            assert_eq!(rewritten.is_some(), serde_ok, "{body}");
            if let Some(new) = rewritten {
                let v: serde_json::Value = serde_json::from_slice(&new).unwrap();
                assert_eq!(v["model"], "z", "{body}");
            }
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 100_000;
        let body = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            set_model(body.as_bytes(), "m").map(|b| b.len()),
            Some(body.len() + 12)
        );
    }
}
