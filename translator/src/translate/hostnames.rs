//! Route hostnames intersected with a listener's, as the Gateway API defines it.

/// The hostnames a route serves on a listener; `["*"]` when neither restricts
/// them, empty when they have nothing in common (the route does not attach:
/// `NoMatchingListenerHostname`).
///
/// A listener `*.example.com` takes route hostnames it covers (`a.example.com`,
/// `*.a.example.com`); a route wildcard that covers the listener's hostname
/// yields the listener's (the narrower of the two).
pub fn intersect(route: &[String], listener: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |h: &str| {
        if !out.iter().any(|o| o == h) {
            out.push(h.to_string());
        }
    };
    match (route.is_empty(), listener) {
        (true, None) => push("*"),
        (true, Some(l)) => push(l),
        (false, None) => route.iter().for_each(|r| push(r)),
        (false, Some(l)) => {
            for r in route {
                if covers(l, r) {
                    push(r);
                } else if covers(r, l) {
                    push(l);
                }
            }
        }
    }
    out
}

/// Does `pattern` (a name, or `*.suffix`) cover `host` (a name or a wildcard)?
/// A wildcard covers one or more labels, never the bare suffix.
pub fn covers(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_follows_the_spec() {
        let cases: &[(&[&str], Option<&str>, &[&str])] = &[
            (&[], None, &["*"]),
            (&[], Some("a.example.com"), &["a.example.com"]),
            (&["a.com", "b.com"], None, &["a.com", "b.com"]),
            (
                &["a.example.com"],
                Some("a.example.com"),
                &["a.example.com"],
            ),
            (&["b.example.com"], Some("a.example.com"), &[]),
            // Listener wildcard keeps the route names it covers, at any depth.
            (
                &[
                    "a.example.com",
                    "x.a.example.com",
                    "example.com",
                    "a.example.org",
                ],
                Some("*.example.com"),
                &["a.example.com", "x.a.example.com"],
            ),
            // A route wildcard narrows to the listener's name.
            (
                &["*.example.com"],
                Some("a.example.com"),
                &["a.example.com"],
            ),
            (&["*.example.com"], Some("example.com"), &[]),
            // Two wildcards: the narrower one.
            (
                &["*.a.example.com"],
                Some("*.example.com"),
                &["*.a.example.com"],
            ),
            (
                &["*.example.com"],
                Some("*.a.example.com"),
                &["*.a.example.com"],
            ),
            (
                &["*.example.com"],
                Some("*.example.com"),
                &["*.example.com"],
            ),
            // Duplicates collapse.
            (
                &["*.example.com", "a.example.com"],
                Some("a.example.com"),
                &["a.example.com"],
            ),
        ];
        for (route, listener, want) in cases {
            let route: Vec<String> = route.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                intersect(&route, *listener),
                *want,
                "{route:?} on {listener:?}"
            );
        }
    }
}
