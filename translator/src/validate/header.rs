//! Header names and values as Envoy takes them in matches and in header
//! changes: RFC 7230 tokens for names, field values without control
//! characters (Envoy refuses NUL, CR and LF; the others are refused here as
//! well, being no valid field value), at most 16 KiB each; and header changes
//! never touch `:`-pseudo-headers or `host`, which Envoy refuses to modify.

use super::quote;

/// Envoy's `max_bytes` for header names and values.
const MAX_BYTES: usize = 16384;

/// `tchar` of RFC 7230.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

pub fn name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a header name must not be empty".into());
    }
    if name.len() > MAX_BYTES {
        return Err(format!("header name longer than {MAX_BYTES} bytes"));
    }
    if name.starts_with(':') {
        return Err(format!(
            "header {}: pseudo-headers cannot be used here",
            quote(name)
        ));
    }
    match name.chars().find(|c| !is_tchar(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "header name {} contains {}, which is not allowed in a header name (RFC 7230 token)",
            quote(name),
            describe(c)
        )),
    }
}

/// A header a route adds, sets or removes.
pub fn modifiable(name: &str) -> Result<(), String> {
    self::name(name)?;
    if name.eq_ignore_ascii_case("host") {
        return Err(
            "header \"host\" cannot be changed by a header modifier (use URLRewrite hostname)"
                .into(),
        );
    }
    Ok(())
}

pub fn value(name: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_BYTES {
        return Err(format!(
            "header {}: value longer than {MAX_BYTES} bytes",
            quote(name)
        ));
    }
    match value.chars().find(|c| c.is_ascii_control() && *c != '\t') {
        None => Ok(()),
        Some(c) => Err(format!(
            "header {}: value contains {}, which is not allowed in a header value",
            quote(name),
            describe(c)
        )),
    }
}

/// A query parameter name in a match (Envoy: 1 to 1024 bytes).
pub fn query_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 1024 {
        return Err("a query parameter name must have 1 to 1024 bytes".into());
    }
    Ok(())
}

/// Text that ends up in a request line or a header (paths, rewrites): no
/// control characters, no spaces.
pub fn path(what: &str, path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{what} {} must start with /", quote(path)));
    }
    match path.chars().find(|c| c.is_ascii_control() || *c == ' ') {
        None => Ok(()),
        Some(c) => Err(format!(
            "{what} {} contains {}, which is not allowed in a path",
            quote(path),
            describe(c)
        )),
    }
}

pub(super) fn describe(c: char) -> String {
    match c {
        '\r' => "CR (\\r)".into(),
        '\n' => "LF (\\n)".into(),
        '\0' => "NUL".into(),
        ' ' => "a space".into(),
        c if c.is_ascii_control() => format!("control character 0x{:02x}", c as u32),
        c => format!("{c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["x-api-key", "X-Custom_Header", "a!#$%&'*+-.^_`|~"] {
            assert_eq!(name(ok), Ok(()), "{ok}");
            assert_eq!(modifiable(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "must not be empty"),
            (":path", "pseudo-headers"),
            (":authority", "pseudo-headers"),
            ("x y", "a space"),
            ("x:y", "':'"),
            ("x\r\ny", "CR"),
            ("é", "'é'"),
        ] {
            let err = name(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(name("host").is_ok());
        for host in ["host", "Host", "HOST"] {
            assert!(modifiable(host).unwrap_err().contains("host"), "{host}");
        }
        assert!(name(&"x".repeat(16385)).is_err());
    }

    #[test]
    fn values() {
        for ok in ["", "a b\tc", "Bearer abc==", "ünïcode", &"v".repeat(16384)] {
            assert_eq!(value("x", ok), Ok(()), "{ok:?}");
        }
        for (bad, why) in [
            ("a\r\nx-injected: 1", "CR (\\r)"),
            ("a\nb", "LF (\\n)"),
            ("a\0b", "NUL"),
            ("a\x07b", "0x07"),
            ("a\x7fb", "0x7f"),
        ] {
            let err = value("x-h", bad).expect_err(bad);
            assert!(
                err.contains(why) && err.contains("\"x-h\""),
                "{bad:?}: {err}"
            );
        }
        assert!(value("x", &"v".repeat(16385)).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(path("path", "/a/b?c=d"), Ok(()));
        for (bad, why) in [("a", "start with /"), ("/a b", "a space"), ("/a\r\n", "CR")] {
            let err = path("path", bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(query_name("").is_err());
        assert!(query_name(&"q".repeat(1025)).is_err());
        assert!(query_name("q").is_ok());
    }
}
