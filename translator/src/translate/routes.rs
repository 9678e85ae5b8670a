//! HTTPRoute rules → Envoy route entries, ordered by Gateway API precedence.

use std::cmp::Reverse;

use gateway_api::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType,
    HttpRouteRulesMatchesPathType, HttpRouteRulesMatchesQueryParamsType,
};
use serde_json::{json, Map, Value};

use super::envoy::UNAVAILABLE_CLUSTER;
use super::filters::{self, FilterPlan};
use crate::source::Object;

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
    },
    /// Counts toward the weights but cannot be served (Gateway API: 500).
    Unavailable { weight: u32 },
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
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub precedence: Precedence,
    pub route: Value,
    /// A redirect whose Location takes the listener's port (known only when
    /// the entry is placed on a listener).
    pub redirect_port_from_listener: bool,
}

/// Everything a rule turned into.
pub struct RuleInput<'r> {
    pub route: &'r Object<HttpRoute>,
    pub rule_index: usize,
    pub rule: &'r HttpRouteRules,
    pub targets: &'r [BackendTarget],
    /// Resolved RequestMirror clusters with their share in millionths.
    pub mirrors: &'r [(String, u32)],
    /// The rule's filters, or why they cannot be honoured.
    pub filters: &'r Result<FilterPlan, String>,
}

#[derive(Debug, Default)]
pub struct RuleOutput {
    pub entries: Vec<RouteEntry>,
    /// Why (part of) the rule answers 500 instead of doing what it says.
    pub invalid: Vec<String>,
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
        let matched = envoy_match(m);
        let mut envoy_route = Map::new();
        envoy_route.insert(
            "name".into(),
            json!(format!(
                "httproute/{}/{}/rule/{rule_index}/match/{match_index}",
                route.namespace, route.name
            )),
        );
        envoy_route.insert("match".into(), matched.value);
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
        let mut redirect_port_from_listener = false;
        match action {
            Ok((fields, port_from_listener)) => {
                envoy_route.extend(fields);
                redirect_port_from_listener = port_from_listener;
            }
            Err(why) => {
                envoy_route.insert("direct_response".into(), not_ready_response(&why));
                if !out.invalid.contains(&why) {
                    out.invalid.push(why);
                }
            }
        }
        out.entries.push(RouteEntry {
            precedence: Precedence {
                created,
                namespace: route.namespace.clone(),
                name: route.name.clone(),
                rule: rule_index,
                match_index,
                ..matched.precedence
            },
            route: Value::Object(envoy_route),
            redirect_port_from_listener,
        });
    }
    out
}

struct Matched {
    value: Value,
    precedence: Precedence,
    /// The PathPrefix, trailing `/` trimmed (`""` for `/`); None for other path types.
    prefix: Option<String>,
}

fn envoy_match(m: &HttpRouteRulesMatches) -> Matched {
    let mut out = Map::new();
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
    let path_kind = match path_type {
        HttpRouteRulesMatchesPathType::Exact => {
            out.insert("path".into(), json!(value));
            0
        }
        HttpRouteRulesMatchesPathType::RegularExpression => {
            out.insert("safe_regex".into(), json!({ "regex": value }));
            1
        }
        HttpRouteRulesMatchesPathType::PathPrefix => {
            // Gateway API prefixes match whole path segments: /foo matches
            // /foo and /foo/bar but not /foobar.
            let trimmed = value.trim_end_matches('/');
            if trimmed.is_empty() {
                out.insert("prefix".into(), json!("/"));
            } else {
                out.insert("path_separated_prefix".into(), json!(trimmed));
            }
            prefix = Some(trimmed.to_string());
            2
        }
    };
    let mut headers: Vec<Value> = m
        .headers
        .iter()
        .flatten()
        .map(|h| {
            let matcher = match h.r#type {
                Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                    json!({ "safe_regex": { "regex": h.value } })
                }
                _ => json!({ "exact": h.value }),
            };
            json!({ "name": h.name.to_ascii_lowercase(), "string_match": matcher })
        })
        .collect();
    let header_count = headers.len();
    if let Some(method) = &m.method {
        let method = serde_json::to_value(method).unwrap_or_default();
        headers.push(json!({ "name": ":method", "string_match": { "exact": method } }));
    }
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Array(headers));
    }
    let queries: Vec<Value> = m
        .query_params
        .iter()
        .flatten()
        .map(|q| {
            let matcher = match q.r#type {
                Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression) => {
                    json!({ "safe_regex": { "regex": q.value } })
                }
                _ => json!({ "exact": q.value }),
            };
            json!({ "name": q.name, "string_match": matcher })
        })
        .collect();
    let query_count = queries.len();
    if !queries.is_empty() {
        out.insert("query_parameters".into(), Value::Array(queries));
    }
    let precedence = Precedence {
        path_kind,
        path_len: Reverse(value.len()),
        has_method: Reverse(m.method.is_some()),
        headers: Reverse(header_count),
        query_params: Reverse(query_count),
        created: None,
        namespace: String::new(),
        name: String::new(),
        rule: 0,
        match_index: 0,
    };
    Matched {
        value: Value::Object(out),
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

/// The route's action fields — `route` to clusters, `redirect`, or a 500
/// direct response when nothing behind the rule can serve — plus the header
/// changes; and whether a redirect takes the listener's port.
fn action(
    input: &RuleInput<'_>,
    plan: &FilterPlan,
    timeouts: &Timeouts,
    prefix: Option<&str>,
    uses_unavailable: &mut bool,
) -> Result<(Map<String, Value>, bool), String> {
    let mut action = plan.headers.clone();
    if let Some(redirect) = &plan.redirect {
        let (redirect, port_from_listener) = filters::redirect_action(redirect, prefix)?;
        action.insert("redirect".into(), Value::Object(redirect));
        return Ok((action, port_from_listener));
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
        action.insert("direct_response".into(), not_ready_response(why));
        return Ok((action, false));
    }
    let any_ai = clusters.iter().any(|(_, _, ai)| *ai);
    // The filter would otherwise put the provider's path over the rewritten one.
    let path_rewritten = plan.path_rewrite.is_some();
    let rewritten_header = || json!({ "header": { "key": PATH_REWRITTEN_HEADER, "value": "1" }, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD" });
    let mut route = Map::new();
    if let ([(name, _, ai)], 0) = (clusters.as_slice(), unavailable_weight) {
        route.insert("cluster".into(), json!(name));
        if *ai && path_rewritten {
            let headers = action
                .entry("request_headers_to_add")
                .or_insert_with(|| json!([]));
            if let Value::Array(list) = headers {
                list.push(rewritten_header());
            }
        }
    } else {
        let mut weighted: Vec<Value> = clusters
            .iter()
            .map(|(n, w, ai)| {
                if *ai && path_rewritten {
                    json!({ "name": n, "weight": w, "request_headers_to_add": [rewritten_header()] })
                } else {
                    json!({ "name": n, "weight": w })
                }
            })
            .collect();
        if unavailable_weight > 0 {
            *uses_unavailable = true;
            weighted.push(json!({ "name": UNAVAILABLE_CLUSTER, "weight": unavailable_weight }));
        }
        route.insert("weighted_clusters".into(), json!({ "clusters": weighted }));
    }
    if let Some(rewrite) = &plan.path_rewrite {
        let (key, value) = filters::path_rewrite_field(rewrite, prefix)?;
        route.insert(key.into(), value);
    }
    if let Some(host) = &plan.host_rewrite {
        route.insert("host_rewrite_literal".into(), json!(host));
    }
    if !input.mirrors.is_empty() {
        let policies: Vec<Value> = input
            .mirrors
            .iter()
            .map(|(cluster, per_million)| {
                json!({ "cluster": cluster, "runtime_fraction": { "default_value": { "numerator": per_million, "denominator": "MILLION" } } })
            })
            .collect();
        route.insert("request_mirror_policies".into(), Value::Array(policies));
    }
    match &timeouts.request {
        Some(d) => {
            route.insert("timeout".into(), json!(d));
        }
        // A completion can take minutes and a stream longer: Envoy's default
        // 15 s route timeout would cut them off, so AI routes have none.
        None if any_ai => {
            route.insert("timeout".into(), json!("0s"));
        }
        None => {}
    }
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
    if failover_retries > 0 {
        route.insert(
            "retry_policy".into(),
            super::priority_groups::retry_policy(
                failover_retries,
                timeouts.backend_request.as_deref(),
            ),
        );
    } else if let Some(d) = &timeouts.backend_request {
        route.insert(
            "retry_policy".into(),
            json!({ "num_retries": 0, "per_try_timeout": d }),
        );
    }
    action.insert("route".into(), Value::Object(route));
    Ok((action, false))
}

pub fn not_ready_response(why: &str) -> Value {
    json!({ "status": 500, "body": { "inline_string": format!("llmgate: backend not ready: {why}\n") } })
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
