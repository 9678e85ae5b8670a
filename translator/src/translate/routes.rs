//! HTTPRoute rules → Envoy route entries, ordered by Gateway API precedence.

use std::cmp::Reverse;

use super::ai_methods;
use super::filters::{self, FilterPlan};
use crate::ir::{
    ForwardAction, HeaderChanges, HeaderMatch, HeaderValue, PathMatch, Retry, Route, RouteAction,
    RouteMatch, StringMatch, Targets, WeightedCluster,
};
use crate::source::Object;
use crate::validate;
use gateway_api::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType,
    HttpRouteRulesMatchesPathType, HttpRouteRulesMatchesQueryParamsType,
};

/// The request header that tells the llmgate filter the route rewrote the
/// path (URLRewrite) and the provider's default path must not replace it.
pub use llmgate_filter::config::PATH_REWRITTEN_HEADER;

/// What a backendRef turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendTarget {
    Cluster {
        name: String,
        weight: u32,
        ai: bool,
        /// See [`super::backend_refs::AiCluster::failover_retries`].
        failover_retries: u32,
        /// An AI Backend's limit on request bodies.
        max_request_bytes: Option<u64>,
    },
    /// Counts toward the weights but cannot be served (Gateway API: 500).
    Unavailable { weight: u32 },
}

/// Does the rule send (a weighted share of) its requests to an AI Backend?
fn forwards_to_ai(targets: &[BackendTarget]) -> bool {
    targets
        .iter()
        .any(|t| matches!(t, BackendTarget::Cluster { ai: true, weight, .. } if *weight > 0))
}

/// A resolved RequestMirror.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorTarget {
    pub cluster: String,
    /// The share mirrored, in millionths.
    pub per_million: u32,
    /// An AI Backend: only the methods an AI route forwards are mirrored.
    pub ai: bool,
}

/// Sort key implementing the HTTPRoute precedence rules: exact path, then
/// (llmgate's choice, the spec leaves it open) regular expressions, then the
/// longest prefix; then method, most header matches, most query matches;
/// ties go to the oldest route (creationTimestamp), then namespace/name, then
/// rule and match order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    path_kind: u8,
    path_len: Reverse<usize>,
    has_method: Reverse<bool>,
    headers: Reverse<usize>,
    query_params: Reverse<usize>,
    /// Nanoseconds since the epoch; routes without one sort first.
    created: Option<i128>,
    namespace: String,
    name: String,
    rule: usize,
    match_index: usize,
    /// 0 for the match itself; higher for the routes right behind it that
    /// take a model list and the methods an AI route is not for (see
    /// `ai_methods`).
    part: u8,
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub precedence: Precedence,
    pub route: Route,
}

/// Everything a rule turned into.
pub struct RuleInput<'r> {
    pub route: &'r Object<HttpRoute>,
    pub rule_index: usize,
    pub rule: &'r HttpRouteRules,
    pub targets: &'r [BackendTarget],
    pub mirrors: &'r [MirrorTarget],
    /// The rule's filters, or why they cannot be honoured.
    pub filters: &'r Result<FilterPlan, String>,
    /// Its TrafficPolicy's request-count limit.
    pub request_rate_limit: Option<crate::ir::RequestRateLimit>,
    /// Its TrafficPolicy's global token budgets.
    pub global_budgets: Vec<crate::ir::GlobalTokenBudget>,
}

#[derive(Debug, Default)]
pub struct RuleOutput {
    pub entries: Vec<RouteEntry>,
    /// Why (part of) the rule answers 500 instead of doing what it says.
    pub invalid: Vec<String>,
    /// Matches left out because Envoy would refuse them (and with them the
    /// whole listener): why, field first.
    pub dropped: Vec<String>,
    /// A weighted share goes to the 500 cluster.
    pub uses_unavailable: bool,
}

pub fn rule_entries(input: &RuleInput<'_>) -> RuleOutput {
    let route = input.route;
    let rule_index = input.rule_index;
    let field = format!("spec.rules[{rule_index}]");
    let mut out = RuleOutput::default();
    let default_match = [HttpRouteRulesMatches::default()];
    let matches = match input.rule.matches.as_deref() {
        Some(m) if !m.is_empty() => m,
        _ => &default_match,
    };
    let created = route
        .value
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_nanosecond());
    let timeouts = timeouts(input.rule).map_err(|e| format!("{field}.timeouts: {e}"));
    for (match_index, m) in matches.iter().enumerate() {
        let matched = route_match(m);
        let action = match (input.filters, &timeouts) {
            (Err(why), _) | (_, Err(why)) => Err(why.clone()),
            (Ok(plan), Ok(timeouts)) => action(
                input,
                plan,
                timeouts,
                matched.prefix.as_deref(),
                &mut out.uses_unavailable,
            )
            .map_err(|e| format!("{field}.matches[{match_index}]: {e}")),
        };
        let (headers, action) = match action {
            Ok(done) => done,
            Err(why) => {
                if !out.invalid.contains(&why) {
                    out.invalid.push(why.clone());
                }
                (HeaderChanges::default(), RouteAction::NotReady(why))
            }
        };
        let precedence = Precedence {
            created,
            namespace: route.namespace.clone(),
            name: route.name.clone(),
            rule: rule_index,
            match_index,
            ..matched.precedence
        };
        let mut built = Route {
            name: super::names::route(&route.namespace, &route.name, rule_index, match_index),
            matcher: matched.matcher,
            headers,
            action,
        };
        let issues = validate::route(&built);
        if !issues.matcher.is_empty() {
            let field = format!("{field}.matches[{match_index}]");
            out.dropped
                .extend(issues.matcher.iter().map(|why| format!("{field}.{why}")));
            continue;
        }
        if !issues.action.is_empty() {
            let why = issues
                .action
                .iter()
                .map(|why| format!("{field}.{why}"))
                .collect::<Vec<_>>()
                .join("; ");
            if !out.invalid.contains(&why) {
                out.invalid.push(why.clone());
            }
            built.headers = HeaderChanges::default();
            built.action = RouteAction::NotReady(why);
        }
        let ai_mirrors: Vec<&str> = input
            .mirrors
            .iter()
            .filter(|m| m.ai)
            .map(|m| m.cluster.as_str())
            .collect();
        out.entries.extend(
            ai_methods::guard(built, forwards_to_ai(input.targets), &ai_mirrors)
                .into_iter()
                .map(|(part, route)| RouteEntry {
                    precedence: Precedence {
                        part,
                        ..precedence.clone()
                    },
                    route,
                }),
        );
    }
    out
}

struct Matched {
    matcher: RouteMatch,
    precedence: Precedence,
    /// The PathPrefix, trailing `/` trimmed (`""` for `/`); None for other path types.
    prefix: Option<String>,
}

fn route_match(m: &HttpRouteRulesMatches) -> Matched {
    let (path_type, value) = match &m.path {
        Some(p) => (
            p.r#type
                .clone()
                .unwrap_or(HttpRouteRulesMatchesPathType::PathPrefix),
            p.value.clone().unwrap_or_else(|| "/".into()),
        ),
        None => (HttpRouteRulesMatchesPathType::PathPrefix, "/".into()),
    };
    let mut prefix = None;
    let (path, path_kind) = match path_type {
        HttpRouteRulesMatchesPathType::Exact => (PathMatch::Exact(value.clone()), 0),
        HttpRouteRulesMatchesPathType::RegularExpression => (PathMatch::Regex(value.clone()), 1),
        HttpRouteRulesMatchesPathType::PathPrefix => {
            // Gateway API prefixes match whole path segments: /foo matches
            // /foo and /foo/bar but not /foobar.
            let trimmed = value.trim_end_matches('/').to_string();
            prefix = Some(trimmed.clone());
            (PathMatch::Prefix(trimmed), 2)
        }
    };
    let headers: Vec<HeaderMatch> = m
        .headers
        .iter()
        .flatten()
        .map(|h| HeaderMatch {
            name: h.name.to_ascii_lowercase(),
            value: match h.r#type {
                Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                    StringMatch::Regex(h.value.clone())
                }
                _ => StringMatch::Exact(h.value.clone()),
            },
        })
        .collect();
    let query_params: Vec<HeaderMatch> = m
        .query_params
        .iter()
        .flatten()
        .map(|q| HeaderMatch {
            name: q.name.clone(),
            value: match q.r#type {
                Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression) => {
                    StringMatch::Regex(q.value.clone())
                }
                _ => StringMatch::Exact(q.value.clone()),
            },
        })
        .collect();
    // The Gateway API's name for the method (`GET`, …).
    let method = m.method.as_ref().map(|method| {
        serde_json::to_value(method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    });
    let precedence = Precedence {
        path_kind,
        path_len: Reverse(value.len()),
        has_method: Reverse(m.method.is_some()),
        headers: Reverse(headers.len()),
        query_params: Reverse(query_params.len()),
        created: None,
        namespace: String::new(),
        name: String::new(),
        rule: 0,
        match_index: 0,
        part: 0,
    };
    Matched {
        matcher: RouteMatch {
            path,
            headers,
            method,
            query_params,
        },
        precedence,
        prefix,
    }
}

#[derive(Debug, Default)]
struct Timeouts {
    request: Option<String>,
    backend_request: Option<String>,
}

fn timeouts(rule: &HttpRouteRules) -> Result<Timeouts, String> {
    let Some(t) = &rule.timeouts else {
        return Ok(Timeouts::default());
    };
    let request = t
        .request
        .as_deref()
        .map(envoy_duration)
        .transpose()
        .map_err(|e| format!("request: {e}"))?;
    let backend_request = t
        .backend_request
        .as_deref()
        .map(envoy_duration)
        .transpose()
        .map_err(|e| format!("backendRequest: {e}"))?;
    if let (Some(r), Some(b)) = (&request, &backend_request) {
        let secs = |d: &str| d.trim_end_matches('s').parse::<f64>().unwrap_or(0.0);
        if secs(r) != 0.0 && (secs(b) == 0.0 || secs(b) > secs(r)) {
            return Err("backendRequest must not be longer than request".into());
        }
    }
    Ok(Timeouts {
        request,
        backend_request,
    })
}

/// The route's header changes and action — forward to clusters, redirect,
/// or a 500 when nothing behind the rule can serve.
fn action(
    input: &RuleInput<'_>,
    plan: &FilterPlan,
    timeouts: &Timeouts,
    prefix: Option<&str>,
    uses_unavailable: &mut bool,
) -> Result<(HeaderChanges, RouteAction), String> {
    let mut headers = plan.headers.clone();
    if let Some(redirect) = &plan.redirect {
        let redirect = filters::redirect(redirect, prefix).map_err(|e| e.to_string())?;
        return Ok((headers, RouteAction::Redirect(redirect)));
    }
    let clusters: Vec<(&str, u32, bool)> = input
        .targets
        .iter()
        .filter_map(|t| match t {
            BackendTarget::Cluster {
                name, weight, ai, ..
            } if *weight > 0 => Some((name.as_str(), *weight, *ai)),
            _ => None,
        })
        .collect();
    let unavailable_weight: u32 = input
        .targets
        .iter()
        .map(|t| match t {
            BackendTarget::Unavailable { weight } => *weight,
            _ => 0,
        })
        .sum();
    if clusters.is_empty() {
        let why = if input.targets.is_empty() {
            "the rule has no backendRefs"
        } else {
            "no backend of this rule is ready"
        };
        return Ok((headers, RouteAction::NotReady(why.into())));
    }
    let any_ai = clusters.iter().any(|(_, _, ai)| *ai);
    // The filter would otherwise put the provider's path over the rewritten one.
    let path_rewritten = plan.path_rewrite.is_some();
    let rewritten_header = || HeaderValue {
        name: PATH_REWRITTEN_HEADER.into(),
        value: "1".into(),
        overwrite: true,
    };
    let targets = if let ([(name, _, ai)], 0) = (clusters.as_slice(), unavailable_weight) {
        if *ai && path_rewritten {
            headers.request_add.push(rewritten_header());
        }
        Targets::Single((*name).to_owned())
    } else {
        if unavailable_weight > 0 {
            *uses_unavailable = true;
        }
        Targets::Weighted {
            clusters: clusters
                .iter()
                .map(|(name, weight, ai)| WeightedCluster {
                    name: (*name).to_owned(),
                    weight: *weight,
                    request_headers_to_add: if *ai && path_rewritten {
                        vec![rewritten_header()]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
            unavailable_weight,
        }
    };
    let path_rewrite = plan
        .path_rewrite
        .as_ref()
        .map(|rewrite| filters::rewrite(rewrite, prefix))
        .transpose()
        .map_err(|e| e.to_string())?;
    let timeout = match &timeouts.request {
        Some(d) => Some(d.clone()),
        // A completion can take minutes and a stream longer: Envoy's default
        // 15 s route timeout would cut them off, so AI routes have none.
        None if any_ai => Some("0s".to_owned()),
        None => None,
    };
    let failover_retries = input
        .targets
        .iter()
        .map(|t| match t {
            BackendTarget::Cluster {
                weight,
                failover_retries,
                ..
            } if *weight > 0 => *failover_retries,
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    // Envoy must be able to hold what the filter holds (and what it
    // buffers for failover) on every AI Backend the route sends to.
    let request_body_buffer_limit = input
        .targets
        .iter()
        .filter_map(|t| match t {
            BackendTarget::Cluster {
                weight,
                max_request_bytes: Some(max),
                ..
            } if *weight > 0 => Some(super::request_limit::envoy_buffer_limit(*max)),
            _ => None,
        })
        .max();
    let retry = match &timeouts.backend_request {
        _ if failover_retries > 0 => Retry::Failover {
            retries: failover_retries,
            per_try_timeout: timeouts.backend_request.clone(),
        },
        Some(d) => Retry::PerTryTimeout(d.clone()),
        None => Retry::None,
    };
    Ok((
        headers,
        RouteAction::Forward(ForwardAction {
            targets,
            path_rewrite,
            host_rewrite: plan.host_rewrite.clone(),
            mirrors: input
                .mirrors
                .iter()
                .map(|m| (m.cluster.clone(), m.per_million))
                .collect(),
            timeout,
            retry,
            request_body_buffer_limit,
            request_rate_limit: input.request_rate_limit,
            global_budgets: input.global_budgets.clone(),
        }),
    ))
}

/// Gateway API durations (`1h30m`, `10s`, `500ms`, `0s`) → Envoy's `N.NNNs`.
pub fn envoy_duration(d: &str) -> Result<String, String> {
    let mut millis: u64 = 0;
    let mut rest = d;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {d:?}: expected e.g. 10s, 1m, 500ms"))?;
        let (unit, tail) = if let Some(t) = tail.strip_prefix("ms") {
            (1, t)
        } else if let Some(t) = tail.strip_prefix('s') {
            (1000, t)
        } else if let Some(t) = tail.strip_prefix('m') {
            (60_000, t)
        } else if let Some(t) = tail.strip_prefix('h') {
            (3_600_000, t)
        } else {
            return Err(format!("invalid duration {d:?}: units are h, m, s, ms"));
        };
        millis = millis.saturating_add(number.saturating_mul(unit));
        rest = tail;
    }
    Ok(format!("{}.{:03}s", millis / 1000, millis % 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (input, want) in [
            ("10s", Ok("10.000s")),
            ("1h30m", Ok("5400.000s")),
            ("500ms", Ok("0.500s")),
            ("0s", Ok("0.000s")),
        ] {
            assert_eq!(
                envoy_duration(input).as_deref(),
                want.map(|s: &str| s),
                "{input}"
            );
        }
        for bad in ["", "10", "1d", "s"] {
            assert!(envoy_duration(bad).is_err(), "{bad}");
        }
    }
}
