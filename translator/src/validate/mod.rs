//! What Envoy would refuse, found before it is sent: one bad value in one
//! route or listener must never make Envoy reject the whole listener (a NACK
//! under xDS, no start at all from a bootstrap). Pure functions, one per kind
//! of value; `translate` calls them on what it resolves and drops or answers
//! 500 for what fails, with the reason in an `error:` line and a condition.
//! [`route`] checks one resolved route of the IR as a whole.

pub mod header;
pub mod hostname;
pub mod limits;
pub mod re2;
pub mod route;
pub mod tls;

pub use route::{route, RouteIssues};

/// A user's value in a message: quoted, escaped, and cut short (a message
/// also goes into a condition and a 500's body).
pub fn quote(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut out: String = value.chars().take(MAX_CHARS).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_escape_and_cut() {
        assert_eq!(super::quote("a\r\nb"), "\"a\\r\\nb\"");
        let long = super::quote(&"x".repeat(1000));
        assert!(long.len() < 80 && long.ends_with("…\""), "{long}");
    }
}
