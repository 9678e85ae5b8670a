//! Regular expressions as Envoy's RE2 engine takes them.
//!
//! `regex-syntax` (the `regex` crate's parser) reads almost the same language,
//! so a pattern is parsed with it and then walked for what RE2 refuses or
//! reads differently: flags other than `imsU`, `\u` escapes, the newer word
//! boundaries, Unicode properties that are neither a general category nor a
//! script, nested classes and class set operations (RE2 reads `[a[b]]` and
//! `[a&&b]` as literals), capture names beyond word characters, repetition
//! counts over 1000 (also nested: RE2 multiplies them), a repetition of a
//! repetition (`a**`), and `\x{...}` escapes above `\x{FF}` (Envoy 1.40's
//! RE2 refuses them: "invalid escape sequence").
//!
//! Envoy also refuses a regex whose RE2 program is larger than the runtime key
//! `re2.max_program_size.error_level` (100 when unset, as llmgate leaves it).
//! RE2's program size cannot be computed outside RE2; [`program_size_bound`]
//! estimates it from above (literal bytes, UTF-8 byte ranges with shared
//! suffixes, one instruction per alternative, loop and capture), so a pattern
//! it lets through is one Envoy takes.

use std::collections::HashSet;

use regex_syntax::ast::{self, Ast, ClassSetItem, ClassUnicodeKind, Flag, GroupKind};
use regex_syntax::hir::{Class, Hir, HirKind};

/// Envoy's default `re2.max_program_size.error_level`.
pub const MAX_PROGRAM_SIZE: u64 = 100;
/// RE2's limit on a counted repetition, and on nested ones multiplied.
const MAX_REPEAT: u64 = 1000;

/// Why Envoy would refuse `pattern`, if it would.
pub fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a regular expression must not be empty".into());
    }
    syntax(pattern)?;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&ascii_perl_classes(pattern))
        .map_err(|e| format!("invalid regular expression: {e}").replace('\n', " "))?;
    let size = program_size_bound(&hir);
    if size > MAX_PROGRAM_SIZE {
        return Err(format!(
            "the regular expression is too complex for Envoy (RE2 program size up to {size}, the limit is {MAX_PROGRAM_SIZE}); simplify it"
        ));
    }
    Ok(())
}

/// RE2's syntax, without the program size.
fn syntax(pattern: &str) -> Result<(), String> {
    let parsed = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| format!("invalid regular expression: {}", e.kind()))?;
    ast::visit(&parsed, Re2Syntax::default())
}

/// RE2's `\d`, `\s` and `\w` are ASCII classes, the `regex` crate's
/// Unicode ones (far larger programs): spelled out as RE2 reads them before
/// the program is estimated. `pattern` is known to parse.
fn ascii_perl_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push(c);
                    break;
                };
                let ascii = match next {
                    'd' => Some(("0-9", false)),
                    'D' => Some(("0-9", true)),
                    's' => Some(("\\t\\n\\x0C\\r ", false)),
                    'S' => Some(("\\t\\n\\x0C\\r ", true)),
                    'w' => Some(("0-9A-Za-z_", false)),
                    'W' => Some(("0-9A-Za-z_", true)),
                    _ => None,
                };
                match ascii {
                    // Inside a class only the positive forms can be spelled out.
                    Some((set, false)) if in_class => out.push_str(set),
                    Some((set, negated)) if !in_class => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(set);
                        out.push(']');
                    }
                    _ => {
                        out.push(c);
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // `[:alpha:]` inside a class.
                out.push(c);
                for c in chars.by_ref() {
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Walks the syntax tree for what RE2 does not read as `regex` does.
#[derive(Default)]
struct Re2Syntax {
    /// Counts of the enclosing counted repetitions, multiplied.
    repeat_product: Vec<u64>,
}

fn not_re2(what: &str) -> Result<(), String> {
    Err(format!("not RE2 syntax (Envoy's regex engine): {what}"))
}

fn check_flags(flags: &ast::Flags) -> Result<(), String> {
    for item in &flags.items {
        if let ast::FlagsItemKind::Flag(flag) = &item.kind {
            match flag {
                Flag::CaseInsensitive
                | Flag::MultiLine
                | Flag::DotMatchesNewLine
                | Flag::SwapGreed => {}
                Flag::Unicode | Flag::CRLF | Flag::IgnoreWhitespace => {
                    return not_re2("flags other than i, m, s and U");
                }
            }
        }
    }
    Ok(())
}

fn check_literal(literal: &ast::Literal) -> Result<(), String> {
    use ast::{HexLiteralKind, LiteralKind};
    match &literal.kind {
        LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
        | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => {
            not_re2(r"\u and \U escapes (use \x{...})")
        }
        LiteralKind::Superfluous if !literal.c.is_ascii() => {
            not_re2("escaping a non-ASCII character")
        }
        // Envoy 1.40 refuses `\x{100}` and above ("invalid escape sequence").
        LiteralKind::HexFixed(_) | LiteralKind::HexBrace(_) if literal.c > '\u{ff}' => {
            not_re2(r"\x{...} above \x{FF}")
        }
        _ => Ok(()),
    }
}

fn check_unicode_class(class: &ast::ClassUnicode) -> Result<(), String> {
    let name = match &class.kind {
        ClassUnicodeKind::OneLetter(c) => return general_category(&c.to_string()),
        ClassUnicodeKind::Named(name) => name,
        ClassUnicodeKind::NamedValue { .. } => return not_re2(r"\p{name=value}"),
    };
    if name == "Any" || general_category(name).is_ok() {
        return Ok(());
    }
    // A script, spelled as RE2 spells it (`Greek`, `Old_Italic`).
    let spelled = name
        .split('_')
        .all(|w| w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    let is_script = regex_syntax::Parser::new()
        .parse(&format!(r"\p{{Script={name}}}"))
        .is_ok();
    if spelled && is_script {
        Ok(())
    } else {
        not_re2(r"\p{...} takes a general category (Lu) or a script (Greek) only")
    }
}

/// RE2's general categories.
fn general_category(name: &str) -> Result<(), String> {
    const CATEGORIES: &[&str] = &[
        "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
        "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
        "So", "Z", "Zl", "Zp", "Zs",
    ];
    if CATEGORIES.contains(&name) {
        Ok(())
    } else {
        not_re2(r"\p{...} takes a general category (Lu) or a script (Greek) only")
    }
}

fn repeat_count(range: &ast::RepetitionRange) -> u64 {
    use ast::RepetitionRange::{AtLeast, Bounded, Exactly};
    match *range {
        Exactly(n) | AtLeast(n) => u64::from(n),
        Bounded(_, max) => u64::from(max),
    }
}

impl ast::Visitor for Re2Syntax {
    type Output = ();
    type Err = String;

    fn finish(self) -> Result<(), String> {
        Ok(())
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), String> {
        match ast {
            Ast::Flags(set) => check_flags(&set.flags),
            Ast::Literal(literal) => check_literal(literal),
            Ast::Assertion(a) => {
                use ast::AssertionKind::*;
                match a.kind {
                    StartLine | EndLine | StartText | EndText | WordBoundary | NotWordBoundary => {
                        Ok(())
                    }
                    _ => not_re2(r"word boundaries other than \b and \B"),
                }
            }
            Ast::ClassUnicode(class) => check_unicode_class(class),
            Ast::Group(group) => match &group.kind {
                GroupKind::NonCapturing(flags) => check_flags(flags),
                GroupKind::CaptureName {
                    starts_with_p,
                    name,
                } => {
                    // Both (?P<name>...) and (?<name>...): Envoy 1.40 takes them.
                    let _ = starts_with_p;
                    if !name
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return not_re2("capture names other than letters, digits and _");
                    }
                    Ok(())
                }
                GroupKind::CaptureIndex(_) => Ok(()),
            },
            Ast::Repetition(rep) => {
                if matches!(*rep.ast, Ast::Repetition(_)) {
                    return not_re2("a repetition of a repetition (e.g. a**); group it");
                }
                let count = match &rep.op.kind {
                    ast::RepetitionKind::Range(range) => repeat_count(range),
                    _ => 1,
                };
                if count > MAX_REPEAT {
                    return not_re2("a repetition count over 1000");
                }
                let outer = self.repeat_product.last().copied().unwrap_or(1);
                let product = outer.saturating_mul(count.max(1));
                if product > MAX_REPEAT {
                    return not_re2("nested repetition counts multiplying to over 1000");
                }
                self.repeat_product.push(product);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn visit_post(&mut self, ast: &Ast) -> Result<(), String> {
        if let Ast::Repetition(_) = ast {
            self.repeat_product.pop();
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), String> {
        match item {
            ClassSetItem::Bracketed(_) => not_re2("a class inside a class ([a[b]])"),
            ClassSetItem::Unicode(class) => check_unicode_class(class),
            ClassSetItem::Literal(literal) => check_literal(literal),
            ClassSetItem::Range(range) => {
                check_literal(&range.start).and_then(|()| check_literal(&range.end))
            }
            _ => Ok(()),
        }
    }

    fn visit_class_set_binary_op_pre(&mut self, _op: &ast::ClassSetBinaryOp) -> Result<(), String> {
        not_re2("class set operations (&&, --, ~~)")
    }
}

/// An upper bound of the size of the program RE2 compiles `hir` to.
pub fn program_size_bound(hir: &Hir) -> u64 {
    // Fail and Match, and the unanchored `.*?` prefix loop.
    4 + size(hir)
}

fn size(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Bytes(class)) => {
            let n = class.ranges().len() as u64;
            2 * n
        }
        HirKind::Class(Class::Unicode(class)) => unicode_class_size(class),
        HirKind::Look(_) => 1,
        HirKind::Repetition(rep) => {
            let sub = size(&rep.sub);
            let min = u64::from(rep.min);
            match rep.max {
                // x{n,}: n copies, the last one looping.
                None => sub.saturating_mul(min.max(1)).saturating_add(1),
                // x{n,m}: n copies and m-n optional ones.
                Some(max) => {
                    let optional = u64::from(max).saturating_sub(min);
                    sub.saturating_mul(min)
                        .saturating_add(optional.saturating_mul(sub.saturating_add(1)))
                        .max(1)
                }
            }
        }
        HirKind::Capture(capture) => size(&capture.sub).saturating_add(2),
        HirKind::Concat(subs) => subs.iter().map(size).fold(0, u64::saturating_add),
        HirKind::Alternation(subs) => subs
            .iter()
            .map(size)
            .fold(subs.len().saturating_sub(1) as u64, u64::saturating_add),
    }
}

/// A Unicode class compiles to UTF-8 byte-range sequences whose common
/// suffixes RE2 shares; one alternative instruction per sequence. A class
/// covering all of U+0080..U+10FFFF (`.`, `[^/]`) RE2 compiles to a short
/// fixed form, which is counted as such.
fn unicode_class_size(class: &regex_syntax::hir::ClassUnicode) -> u64 {
    let mut ranges: Vec<(char, char)> = class
        .ranges()
        .iter()
        .map(|r| (r.start(), r.end()))
        .collect();
    let mut fixed = 0;
    if covers_non_ascii(&ranges) {
        ranges.retain(|(_, end)| end.is_ascii());
        if let Some(last) = ranges.last_mut() {
            last.1 = last.1.min('\x7f');
        }
        // [C2-DF][80-BF] | [E0-EF][80-BF]{2} | [F0-F4][80-BF]{3}, suffixes shared.
        fixed = 8;
    }
    let mut suffixes: HashSet<Vec<(u8, u8)>> = HashSet::new();
    let mut sequences = 0u64;
    for (start, end) in ranges {
        for seq in regex_syntax::utf8::Utf8Sequences::new(start, end) {
            sequences += 1;
            let bytes: Vec<(u8, u8)> = seq.as_slice().iter().map(|r| (r.start, r.end)).collect();
            let mut suffix = bytes.as_slice();
            while let Some((_, rest)) = suffix.split_first() {
                suffixes.insert(suffix.to_vec());
                suffix = rest;
            }
        }
    }
    let alternatives = sequences + u64::from(fixed > 0);
    suffixes.len() as u64 + fixed + alternatives.saturating_sub(1)
}

fn covers_non_ascii(ranges: &[(char, char)]) -> bool {
    let mut next = 0x80u32;
    for &(start, end) in ranges {
        if (end as u32) < next {
            continue;
        }
        if start as u32 > next && !(next == 0xD800 && start as u32 == 0xE000) {
            return false;
        }
        next = end as u32 + 1;
        if next == 0xD800 {
            next = 0xE000;
        }
    }
    next > 0x10FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_envoy_takes() {
        for pattern in [
            "/v1/.*",
            "^/openai/deployments/[^/]+/chat/completions$",
            "(?i)bearer .+",
            "^/a\\.b/*",
            "^/.*$",
            "[[:alpha:]]+",
            "(?P<version>v[0-9]+)",
            "a{2,5}",
            "(ab){10}|x",
            "(a{5}){5}",
            "\\x{FF}",
            "(?<v>a)",
            "a\\-b\\%c",
            "(?s:.)",
            "\\d+\\s*\\w",
        ] {
            assert_eq!(check(pattern), Ok(()), "{pattern}");
        }
    }

    /// Large Unicode classes are RE2 syntax but too large a program for
    /// Envoy's default limit.
    #[test]
    fn unicode_classes_are_re2_syntax() {
        for pattern in ["\\pL+", "\\p{Greek}", "\\p{Lu}", "\\p{Old_Italic}", "\\PN"] {
            assert_eq!(syntax(pattern), Ok(()), "{pattern}");
        }
        assert!(check("\\pL").unwrap_err().contains("too complex"));
    }

    #[test]
    fn what_envoy_refuses() {
        for (pattern, why) in [
            ("", "must not be empty"),
            ("(unclosed", "invalid regular expression"),
            ("a)", "invalid regular expression"),
            ("(?=look)ahead", "invalid regular expression"),
            ("(a)\\1", "invalid regular expression"),
            ("*a", "invalid regular expression"),
            ("(?x) a b", "flags other than"),
            ("(?u:a)", "flags other than"),
            ("(?R)a", "flags other than"),
            ("\\u0041", "\\u and \\U"),
            ("\\U{41}", "\\u and \\U"),
            ("\\b{start}a", "word boundaries"),
            ("\\<a\\>", "word boundaries"),
            ("\\p{Alphabetic}", "general category"),
            ("\\p{Script=Greek}", "name=value"),
            ("\\p{greek}", "general category"),
            ("[a[bc]]", "a class inside a class"),
            ("[a-z&&[^aeiou]]", "class set operations"),
            ("[a-z--b]", "class set operations"),
            ("\\x{100}", "above \\x{FF}"),
            ("[a-\\x{1F600}]", "above \\x{FF}"),
            ("a{1001}", "over 1000"),
            ("(a{100}){11}", "multiplying"),
            ("((a{10}){10}){11}", "multiplying"),
            ("(abcdefghij){20}", "too complex"),
            ("\\p{Greek}+\\p{Cyrillic}+\\p{Han}", "too complex"),
        ] {
            let err = check(pattern).expect_err(pattern);
            assert!(err.contains(why), "{pattern}: {err}");
        }
    }

    #[test]
    fn perl_classes_are_estimated_as_re2_reads_them() {
        for (pattern, want) in [
            (r"\d+", "[0-9]+"),
            (r"a\Sb", r"a[^\t\n\x0C\r ]b"),
            (r"[\w.]", "[0-9A-Za-z_.]"),
            (r"[]\d]", "[]0-9]"),
            (r"[^]\W]", r"[^]\W]"),
            (r"\\d", r"\\d"),
            (r"[[:alpha:]\d]", "[[:alpha:]0-9]"),
        ] {
            assert_eq!(ascii_perl_classes(pattern), want, "{pattern}");
        }
    }

    /// RE2 program sizes Envoy 1.40 reported (with
    /// `re2.max_program_size.error_level` 0, its error message gives the
    /// size): the bound is never below them.
    #[test]
    fn the_bound_is_never_below_what_envoy_measures() {
        for (pattern, envoy) in [
            ("/v1/.*", 10),
            ("^/openai/deployments/[^/]+/chat/completions$", 24),
            ("(?i)bearer .+", 14),
            ("^/.*$", 6),
            ("[[:alpha:]]+", 6),
            (r"\d+\s*\w", 13),
            ("(abcdefghij){20}", 244),
            (".", 6),
            ("[^/]", 6),
            ("abc", 7),
            ("(?P<v>v[0-9]+)", 9),
            ("a{2,5}", 12),
            ("/api/.*/v1/.*/x/.*", 22),
            ("[a-zA-Z0-9]", 6),
            ("é", 6),
            ("(?i)abc", 7),
            ("a|b|c", 5),
            ("(a)(b)", 10),
            ("a{5}", 9),
            ("a{2,}", 7),
            (r"\b", 5),
            ("^$", 2),
            (r"\S", 8),
            ("(ab|cd)+", 11),
            (&"a".repeat(98), 102),
        ] {
            let hir = regex_syntax::Parser::new()
                .parse(&ascii_perl_classes(pattern))
                .unwrap();
            let bound = program_size_bound(&hir);
            assert!(bound >= envoy, "{pattern}: bound {bound} < Envoy's {envoy}");
        }
    }

    #[test]
    fn program_size_bounds_grow_with_the_pattern() {
        let bound = |p: &str| program_size_bound(&regex_syntax::Parser::new().parse(p).unwrap());
        assert!(bound("abc") < bound("abcdef"));
        assert!(bound(".") <= 20, "{}", bound("."));
        assert!(bound("[^/]") <= 20, "{}", bound("[^/]"));
        assert!(bound("a{3}") >= 3 * bound("a") - 8);
    }
}
