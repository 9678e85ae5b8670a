//! Hostnames as the Gateway API defines them (RFC 1123 names, optionally
//! `*.`-prefixed where a wildcard is allowed), which is also what Envoy takes
//! as a virtual host domain, an SNI name or a host rewrite.

use super::quote;

pub fn check(hostname: &str, wildcard_allowed: bool) -> Result<(), String> {
    let name = match hostname.strip_prefix("*.") {
        Some(rest) if wildcard_allowed => rest,
        Some(_) => {
            return Err(format!(
                "hostname {} cannot be a wildcard here",
                quote(hostname)
            ))
        }
        None => hostname,
    };
    let bad = |why: &str| Err(format!("invalid hostname {}: {why}", quote(hostname)));
    if hostname.len() > 253 {
        return bad("longer than 253 characters");
    }
    if name.is_empty() {
        return bad("empty");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each label must have 1 to 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad("only lowercase letters, digits, - and . (and a leading *.)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with -");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in ["example.com", "a.b-c.example", "localhost", "10.0.0.1"] {
            assert_eq!(check(ok, false), Ok(()), "{ok}");
        }
        assert_eq!(check("*.example.com", true), Ok(()));
        for (bad, wildcard) in [
            ("*.example.com", false),
            ("*", true),
            ("a.*.com", true),
            ("exa mple.com", true),
            ("Example.com", true),
            ("a..b", true),
            ("-a.com", true),
            ("a\r\nb", true),
            ("a:80", true),
            ("", true),
        ] {
            assert!(check(bad, wildcard).is_err(), "{bad:?}");
        }
        assert!(check(&format!("{}.com", "a".repeat(64)), true).is_err());
    }
}
