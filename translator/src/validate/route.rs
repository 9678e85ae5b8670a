//! One resolved route checked as a whole. What its match says cannot be
//! served at all (the route is dropped); what it does (header changes,
//! rewrites, timeouts, weights) can be refused by answering 500 instead.

use super::{header, hostname, limits, re2};
use crate::ir::{
    HeaderChanges, HeaderMatch, HeaderValue, PathMatch, RedirectPath, Retry, Rewrite, Route,
    RouteAction, RouteMatch, StringMatch, Targets,
};

/// Messages start with the field (relative to the rule's match, or to the
/// rule for the action).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteIssues {
    pub matcher: Vec<String>,
    pub action: Vec<String>,
}

pub fn route(route: &Route) -> RouteIssues {
    let mut out = RouteIssues::default();
    matcher(&route.matcher, &mut out.matcher);
    header_changes(&route.headers, &mut out.action);
    match &route.action {
        // The 405 is the translator's own fixed answer.
        RouteAction::NotReady(_) | RouteAction::MethodNotAllowed { .. } => {}
        RouteAction::Redirect(redirect) => {
            let field = "filters[requestRedirect]";
            if let Some(host) = &redirect.hostname {
                push(&mut out.action, field, hostname::check(host, false));
            }
            match &redirect.path {
                Some(RedirectPath::Full(path)) => {
                    push(&mut out.action, field, header::path("path", path));
                }
                Some(RedirectPath::Rewrite(rewrite)) => {
                    path_rewrite(rewrite, field, &mut out.action);
                }
                None => {}
            }
        }
        RouteAction::Forward(forward) => {
            if let Targets::Weighted {
                clusters,
                unavailable_weight,
            } = &forward.targets
            {
                let weights = clusters.iter().map(|c| c.weight);
                push(
                    &mut out.action,
                    "backendRefs",
                    limits::weight_sum(weights.chain([*unavailable_weight])),
                );
                for c in clusters {
                    added(&c.request_headers_to_add, "backendRefs", &mut out.action);
                }
            }
            let field = "filters[urlRewrite]";
            if let Some(rewrite) = &forward.path_rewrite {
                path_rewrite(rewrite, field, &mut out.action);
            }
            if let Some(host) = &forward.host_rewrite {
                push(&mut out.action, field, hostname::check(host, false));
            }
            if let Some(timeout) = &forward.timeout {
                push(
                    &mut out.action,
                    "timeouts.request",
                    limits::duration(timeout),
                );
            }
            let per_try = match &forward.retry {
                Retry::None => None,
                Retry::PerTryTimeout(d) => Some(d),
                Retry::Failover {
                    per_try_timeout, ..
                } => per_try_timeout.as_ref(),
            };
            if let Some(d) = per_try {
                push(
                    &mut out.action,
                    "timeouts.backendRequest",
                    limits::duration(d),
                );
            }
        }
    }
    out
}

fn push(out: &mut Vec<String>, field: &str, result: Result<(), String>) {
    if let Err(why) = result {
        let line = format!("{field}: {why}");
        if !out.contains(&line) {
            out.push(line);
        }
    }
}

fn matcher(m: &RouteMatch, out: &mut Vec<String>) {
    match &m.path {
        PathMatch::Regex(regex) => push(out, "path.value", re2::check(regex)),
        PathMatch::Exact(path) => push(out, "path.value", header::path("path", path)),
        // `""` stands for `/`.
        PathMatch::Prefix(prefix) if prefix.is_empty() => {}
        PathMatch::Prefix(prefix) => {
            // Envoy's path_separated_prefix takes no query or fragment.
            let result = header::path("path", prefix).and_then(|()| {
                if prefix.contains(['?', '#']) {
                    Err(format!(
                        "path prefix {} cannot contain ? or #",
                        super::quote(prefix)
                    ))
                } else {
                    Ok(())
                }
            });
            push(out, "path.value", result);
        }
    }
    for (i, h) in m.headers.iter().enumerate() {
        let field = format!("headers[{i}]");
        push(out, &field, header::name(&h.name));
        push(out, &field, value_match(h));
    }
    for (i, q) in m.query_params.iter().enumerate() {
        let field = format!("queryParams[{i}]");
        push(out, &field, header::query_name(&q.name));
        push(out, &field, value_match(q));
    }
}

fn value_match(m: &HeaderMatch) -> Result<(), String> {
    match &m.value {
        StringMatch::Exact(_) => Ok(()),
        StringMatch::Regex(regex) => re2::check(regex),
    }
}

fn header_changes(changes: &HeaderChanges, out: &mut Vec<String>) {
    for (field, add, remove) in [
        (
            "filters[requestHeaderModifier]",
            &changes.request_add,
            &changes.request_remove,
        ),
        (
            "filters[responseHeaderModifier]",
            &changes.response_add,
            &changes.response_remove,
        ),
    ] {
        added(add, field, out);
        for name in remove {
            push(out, field, header::modifiable(name));
        }
    }
}

fn added(headers: &[HeaderValue], field: &str, out: &mut Vec<String>) {
    for h in headers {
        push(out, field, header::modifiable(&h.name));
        push(out, field, header::value(&h.name, &h.value));
    }
}

fn path_rewrite(rewrite: &Rewrite, field: &str, out: &mut Vec<String>) {
    match rewrite {
        Rewrite::Prefix(prefix) => push(out, field, header::path("path", prefix)),
        Rewrite::Regex {
            regex,
            substitution,
        } => {
            push(out, field, re2::check(regex));
            push(out, field, header::path("path", substitution));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ForwardAction, WeightedCluster};

    fn forward() -> ForwardAction {
        ForwardAction {
            targets: Targets::Single("c".into()),
            path_rewrite: None,
            host_rewrite: None,
            mirrors: vec![],
            timeout: None,
            retry: Retry::None,
            request_body_buffer_limit: None,
            request_rate_limit: None,
            global_budgets: Vec::new(),
        }
    }

    fn base() -> Route {
        Route {
            name: "r".into(),
            matcher: RouteMatch {
                path: PathMatch::Prefix("/v1".into()),
                headers: vec![],
                method: None,
                query_params: vec![],
            },
            headers: HeaderChanges::default(),
            action: RouteAction::Forward(forward()),
        }
    }

    fn header(name: &str, value: &str) -> HeaderValue {
        HeaderValue {
            name: name.into(),
            value: value.into(),
            overwrite: true,
        }
    }

    fn with(f: impl FnOnce(&mut Route)) -> RouteIssues {
        let mut r = base();
        f(&mut r);
        route(&r)
    }

    /// A change to the valid route, and what the issue must start with.
    type Change = Box<dyn FnOnce(&mut Route)>;

    fn forward_mut(r: &mut Route) -> &mut ForwardAction {
        match &mut r.action {
            RouteAction::Forward(f) => f,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_valid_route_has_no_issues() {
        assert_eq!(route(&base()), RouteIssues::default());
    }

    #[test]
    fn match_issues_name_the_match_field() {
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|r| r.matcher.path = PathMatch::Regex("/v1/(unclosed".into())),
                "path.value: invalid regular expression",
            ),
            (
                Box::new(|r| r.matcher.path = PathMatch::Prefix("/a?b".into())),
                "path.value: path prefix \"/a?b\" cannot contain",
            ),
            (
                Box::new(|r| r.matcher.path = PathMatch::Exact("/a\nb".into())),
                "path.value: path \"/a\\nb\" contains LF",
            ),
            (
                Box::new(|r| {
                    r.matcher.headers = vec![
                        HeaderMatch {
                            name: "x-ok".into(),
                            value: StringMatch::Exact("v".into()),
                        },
                        HeaderMatch {
                            name: "x-v".into(),
                            value: StringMatch::Regex("(?x) a".into()),
                        },
                    ]
                }),
                "headers[1]: not RE2 syntax",
            ),
            (
                Box::new(|r| {
                    r.matcher.query_params = vec![HeaderMatch {
                        name: String::new(),
                        value: StringMatch::Exact("v".into()),
                    }]
                }),
                "queryParams[0]: a query parameter name",
            ),
        ];
        for (change, want) in cases {
            let issues = with(change);
            assert!(issues.action.is_empty(), "{issues:?}");
            assert!(
                issues.matcher.iter().any(|m| m.starts_with(want)),
                "{want}: {issues:?}"
            );
        }
    }

    #[test]
    fn action_issues_name_the_filter_or_field() {
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|r| r.headers.request_add = vec![header("x-a", "1\r\nx-b: 2")]),
                "filters[requestHeaderModifier]: header \"x-a\": value contains CR",
            ),
            (
                Box::new(|r| r.headers.request_add = vec![header(":path", "/admin")]),
                "filters[requestHeaderModifier]: header \":path\": pseudo-headers",
            ),
            (
                Box::new(|r| r.headers.response_remove = vec!["host".into()]),
                "filters[responseHeaderModifier]: header \"host\" cannot be changed",
            ),
            (
                Box::new(|r| forward_mut(r).timeout = Some("18446744073709551.615s".into())),
                "timeouts.request: duration",
            ),
            (
                Box::new(|r| {
                    forward_mut(r).retry = Retry::Failover {
                        retries: 1,
                        per_try_timeout: Some("99999999999.000s".into()),
                    }
                }),
                "timeouts.backendRequest: duration",
            ),
            (
                Box::new(|r| {
                    forward_mut(r).targets = Targets::Weighted {
                        clusters: vec![WeightedCluster {
                            name: "a".into(),
                            weight: u32::MAX,
                            request_headers_to_add: vec![],
                        }],
                        unavailable_weight: 1,
                    }
                }),
                "backendRefs: the weights add up to 4294967296",
            ),
            (
                Box::new(|r| forward_mut(r).host_rewrite = Some("evil\r\nx: y".into())),
                "filters[urlRewrite]: invalid hostname",
            ),
            (
                Box::new(|r| {
                    forward_mut(r).path_rewrite = Some(Rewrite::Regex {
                        regex: format!("^{}/*", "/segment".repeat(20)),
                        substitution: "/".into(),
                    })
                }),
                "filters[urlRewrite]: the regular expression is too complex",
            ),
        ];
        for (change, want) in cases {
            let issues = with(change);
            assert!(issues.matcher.is_empty(), "{issues:?}");
            assert!(
                issues.action.iter().any(|m| m.starts_with(want)),
                "{want}: {issues:?}"
            );
        }
    }
}
