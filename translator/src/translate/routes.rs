//! HTTPRoute rules → Envoy route entries, ordered by Gateway API precedence.

use std::cmp::Reverse;

use gateway_api::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType,
    HttpRouteRulesMatchesPathType, HttpRouteRulesMatchesQueryParamsType,
};
use serde_json::{json, Map, Value};

use crate::problem::{ObjectRef, Problem};
use crate::source::Object;

/// What a backendRef turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendTarget {
    Cluster {
        name: String,
        weight: u32,
        ai: bool,
    },
    /// Counts toward the weights but cannot be served (Gateway API: 500).
    Unavailable {
        weight: u32,
    },
}

/// Sort key implementing the HTTPRoute precedence rules: exact path, then the
/// longest prefix, then method, most header matches, most query matches; ties
/// go to the older route, then namespace/name, then rule and match order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    path_kind: u8,
    path_len: Reverse<usize>,
    has_method: Reverse<bool>,
    headers: Reverse<usize>,
    query_params: Reverse<usize>,
    created: String,
    namespace: String,
    name: String,
    rule: usize,
    match_index: usize,
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub precedence: Precedence,
    pub route: Value,
}

pub fn rule_entries(
    route: &Object<HttpRoute>,
    rule_index: usize,
    rule: &HttpRouteRules,
    targets: &[BackendTarget],
    problems: &mut Vec<Problem>,
) -> Vec<RouteEntry> {
    let object = route.object_ref("HTTPRoute");
    let field = format!("spec.rules[{rule_index}]");
    let action = match route_action(rule, targets, &object, &field, problems) {
        Ok(action) => action,
        Err(()) => return Vec::new(),
    };
    let default_match = [HttpRouteRulesMatches::default()];
    let matches = match rule.matches.as_deref() {
        Some(m) if !m.is_empty() => m,
        _ => &default_match,
    };
    let created = route
        .value
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    matches
        .iter()
        .enumerate()
        .map(|(match_index, m)| {
            let (route_match, precedence) = envoy_match(m);
            let mut envoy_route = Map::new();
            envoy_route.insert(
                "name".into(),
                json!(format!(
                    "httproute/{}/{}/rule/{rule_index}/match/{match_index}",
                    route.namespace, route.name
                )),
            );
            envoy_route.insert("match".into(), route_match);
            for (k, v) in action.iter() {
                envoy_route.insert(k.clone(), v.clone());
            }
            RouteEntry {
                precedence: Precedence {
                    created: created.clone(),
                    namespace: route.namespace.clone(),
                    name: route.name.clone(),
                    rule: rule_index,
                    match_index,
                    ..precedence
                },
                route: Value::Object(envoy_route),
            }
        })
        .collect()
}

fn envoy_match(m: &HttpRouteRulesMatches) -> (Value, Precedence) {
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
    let path_kind = match path_type {
        HttpRouteRulesMatchesPathType::Exact => {
            out.insert("path".into(), json!(value));
            0
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
            1
        }
        HttpRouteRulesMatchesPathType::RegularExpression => {
            out.insert("safe_regex".into(), json!({ "regex": value }));
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
        path_len: Reverse(if path_kind == 2 { 0 } else { value.len() }),
        has_method: Reverse(m.method.is_some()),
        headers: Reverse(header_count),
        query_params: Reverse(query_count),
        created: String::new(),
        namespace: String::new(),
        name: String::new(),
        rule: 0,
        match_index: 0,
    };
    (Value::Object(out), precedence)
}

/// The route's action fields: `route` to clusters, or a 500 direct response
/// when nothing behind the rule can serve.
fn route_action(
    rule: &HttpRouteRules,
    targets: &[BackendTarget],
    object: &ObjectRef,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Result<Map<String, Value>, ()> {
    let mut action = Map::new();
    if let Some(filters) = rule.filters.as_ref().filter(|f| !f.is_empty()) {
        let names: Vec<String> = filters
            .iter()
            .map(|f| serde_json::to_string(&f.r#type).unwrap_or_default())
            .collect();
        problems.push(
            Problem::warning(format!(
                "filters {} are not supported yet; this rule answers 500",
                names.join(", ")
            ))
            .object(object.clone())
            .field(format!("{field}.filters")),
        );
        action.insert(
            "direct_response".into(),
            not_ready_response("route filters are not supported yet"),
        );
        return Ok(action);
    }
    let clusters: Vec<(&str, u32, bool)> = targets
        .iter()
        .filter_map(|t| match t {
            BackendTarget::Cluster { name, weight, ai } if *weight > 0 => {
                Some((name.as_str(), *weight, *ai))
            }
            _ => None,
        })
        .collect();
    let unavailable_weight: u32 = targets
        .iter()
        .map(|t| match t {
            BackendTarget::Unavailable { weight } => *weight,
            _ => 0,
        })
        .sum();
    if clusters.is_empty() {
        let why = if targets.is_empty() {
            "the rule has no backendRefs"
        } else {
            "no backend of this rule is ready"
        };
        action.insert("direct_response".into(), not_ready_response(why));
        return Ok(action);
    }
    if unavailable_weight > 0 {
        problems.push(
            Problem::warning("some backendRefs cannot be served; requests go to the others only")
                .object(object.clone())
                .field(format!("{field}.backendRefs")),
        );
    }
    let mut route = Map::new();
    if let [(name, _, _)] = clusters.as_slice() {
        route.insert("cluster".into(), json!(name));
    } else {
        let weighted: Vec<Value> = clusters
            .iter()
            .map(|(n, w, _)| json!({ "name": n, "weight": w }))
            .collect();
        route.insert("weighted_clusters".into(), json!({ "clusters": weighted }));
    }
    let any_ai = clusters.iter().any(|(_, _, ai)| *ai);
    let timeout = rule.timeouts.as_ref().and_then(|t| t.request.as_deref());
    match timeout.map(envoy_duration) {
        Some(Ok(d)) => {
            route.insert("timeout".into(), json!(d));
        }
        Some(Err(e)) => problems.push(
            Problem::error(e)
                .object(object.clone())
                .field(format!("{field}.timeouts.request")),
        ),
        // A completion can take minutes and a stream longer: Envoy's default
        // 15 s route timeout would cut them off, so AI routes have none.
        None if any_ai => {
            route.insert("timeout".into(), json!("0s"));
        }
        None => {}
    }
    action.insert("route".into(), Value::Object(route));
    Ok(action)
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
