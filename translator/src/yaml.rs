//! Every YAML the project reads or writes goes through here (serde-saphyr, the
//! maintained YAML crate kube also uses), so the two dialects in play are
//! handled in one place:
//! - manifests are read as Kubernetes does: YAML 1.2 core, where only
//!   `true`/`false` are booleans and `yes`, `on`, `2024-01-01` are strings;
//! - Envoy reads its bootstrap with yaml-cpp, YAML 1.1 style: a plain `yes`,
//!   `off`, `y`, `~` or `0x10` is a boolean, null or number there, and Envoy
//!   then refuses the whole file ("header.value: string expected"). So every
//!   string written for Envoy is quoted.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A YAML syntax error, with the 1-based line within the parsed text.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SyntaxError {}

/// One YAML document, with Kubernetes' (YAML 1.2) reading of plain scalars.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, SyntaxError> {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| SyntaxError {
        line: e.location().map(|l| l.line() as usize),
        message: strip_location(&e.to_string()),
    })
}

/// YAML for people (CRDs, status): plain where unambiguous, and strings that
/// YAML 1.1 would read as something else quoted. Long strings stay on one
/// line (no folded blocks to misread).
pub fn to_string<T: Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(value, options).unwrap_or_default()
}

/// YAML for Envoy: every string quoted, so yaml-cpp reads each as the string
/// it is, whatever it looks like.
pub fn to_envoy_string<T: Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! { quote_all: true };
    serde_saphyr::to_string_with_options(value, options).unwrap_or_default()
}

/// The crate appends " at line L, column C"; callers report the line in their
/// own terms (file:line), so it is taken off the message.
fn strip_location(message: &str) -> String {
    if let Some(i) = message.rfind(" at line ") {
        let at = &message[i + " at line ".len()..];
        let numbers = at.split(", column ");
        if numbers
            .into_iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return message[..i].to_string();
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The strings YAML 1.1 (and so Envoy's yaml-cpp) reads as something else.
    const TRICKY: &[&str] = &[
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Y",
        "N",
        "YES",
        "Off",
        "true",
        "False",
        "~",
        "null",
        "Null",
        "",
        "  ",
        " x",
        "x ",
        "1e3",
        "0x10",
        "0o17",
        "017",
        "0b101",
        "1_000",
        "+1",
        "-1",
        ".5",
        ".inf",
        "-.inf",
        ".nan",
        "NaN",
        "2024-01-01",
        "2024-01-01T10:00:00Z",
        "12:30:00",
        "1:20",
        "=",
        "<<",
        "- x",
        "a: b",
        "#x",
        "x #y",
        "&a",
        "*a",
        "!tag",
        "%x",
        "@x",
        "`x",
        "'q'",
        "\"q\"",
        "{a}",
        "[a]",
        "|",
        ">",
        "?",
        ",",
        "line\nbreak",
        "tab\there",
        "back\\slash",
        "ünïcödé",
        "---",
        "...",
    ];

    /// Envoy's reading, approximated by the YAML 1.1 rules yaml-cpp applies to
    /// plain scalars: `yes`/`on`/`y`… are booleans, `0x10` an integer, `~` null.
    fn read_as_yaml_11(text: &str) -> Value {
        let options = serde_saphyr::options! { strict_booleans: false, legacy_octal_numbers: true, with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).unwrap()
    }

    #[test]
    fn every_string_written_for_envoy_reads_back_unchanged() {
        let mut value = json!({ "list": TRICKY, "nested": { "value": "yes" } });
        for (i, s) in TRICKY.iter().enumerate() {
            value[format!("k{i}")] = json!(s);
            value["nested"][*s] = json!(s);
        }
        value["port"] = json!(8080);
        value["flag"] = json!(true);
        value["nothing"] = Value::Null;
        let text = to_envoy_string(&value);
        assert_eq!(read_as_yaml_11(&text), value, "{text}");
    }

    #[test]
    fn yaml_for_people_still_quotes_what_yaml_11_would_misread() {
        let value = json!({ "list": TRICKY, "port": 8080, "flag": false });
        assert_eq!(read_as_yaml_11(&to_string(&value)), value);
    }

    #[test]
    fn manifests_are_read_as_yaml_12() {
        let cases: &[(&str, Value)] = &[
            ("v: yes", json!("yes")),
            ("v: off", json!("off")),
            ("v: y", json!("y")),
            ("v: 2024-02-15-preview", json!("2024-02-15-preview")),
            ("v: 2024-01-01", json!("2024-01-01")),
            ("v: true", json!(true)),
            ("v: 8080", json!(8080)),
            ("v: ~", Value::Null),
            ("v: 'yes'", json!("yes")),
        ];
        for (text, want) in cases {
            let got: Value = from_str(text).unwrap();
            assert_eq!(&got["v"], want, "{text}");
        }
    }

    #[test]
    fn syntax_errors_carry_the_line_apart_from_the_message() {
        let err = from_str::<Value>("a: 1\nmetadata: {name: a\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(!err.message.contains("line"), "{err:?}");
        let err = from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.contains("duplicate"), "{err:?}");
    }
}
