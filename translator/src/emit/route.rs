//! Routes: matches, header changes, and the action (forward, redirect, 500).

use serde_json::{json, Map, Value};

use super::cluster::UNAVAILABLE_CLUSTER;
use crate::ir::{
    ForwardAction, GlobalTokenBudget, HeaderChanges, HeaderMatch, HeaderValue, PathMatch, Redirect,
    RedirectPath, RedirectPort, RequestRateLimit, Retry, Rewrite, Route, RouteAction, RouteMatch,
    StringMatch, Targets,
};

/// The HTTP filter that enforces [`RequestRateLimit`]s; in every listener's
/// chain, idle on routes without one.
pub const LOCAL_RATE_LIMIT_FILTER: &str = "envoy.filters.http.local_ratelimit";

/// One bucket per route, shared by Envoy's workers; a request over it gets
/// Envoy's 429 with the `x-ratelimit-*` headers (draft 03).
fn local_rate_limit(limit: RequestRateLimit) -> Value {
    let all = json!({ "default_value": { "numerator": 100, "denominator": "HUNDRED" } });
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": "llmgate_requests",
        "token_bucket": {
            "max_tokens": limit.max_tokens,
            "tokens_per_fill": limit.tokens_per_fill,
            "fill_interval": super::duration_ms(limit.fill_interval_ms)
        },
        "filter_enabled": all.clone(),
        "filter_enforced": all,
        "enable_x_ratelimit_headers": "DRAFT_VERSION_03"
    })
}

/// `listener_port`: a redirect that takes the listener's port leaves it out
/// of Location when it is `well_known_port`, the scheme's default.
pub fn route(route: Route, listener_port: u16, well_known_port: u16) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(route.name));
    out.insert("match".into(), route_match(&route.matcher));
    header_changes(&mut out, &route.headers);
    match route.action {
        RouteAction::NotReady(why) => {
            out.insert("direct_response".into(), not_ready_response(&why));
        }
        RouteAction::Redirect(redirect) => {
            out.insert(
                "redirect".into(),
                redirect_action(&redirect, listener_port, well_known_port),
            );
        }
        RouteAction::Forward(forward) => {
            // A `Route` field, not a `RouteAction` one. It replaces the
            // listener's buffer limit for this route's request bodies: the
            // body the llmgate filter holds, and the copy the router keeps
            // for retries (measured on 1.40, envoy/README.md).
            if let Some(limit) = forward.request_body_buffer_limit {
                out.insert("request_body_buffer_limit".into(), json!(limit));
            }
            let mut per_filter = Map::new();
            if let Some(limit) = forward.request_rate_limit {
                per_filter.insert(LOCAL_RATE_LIMIT_FILTER.into(), local_rate_limit(limit));
            }
            if !forward.global_budgets.is_empty() {
                per_filter.insert(
                    GLOBAL_RATE_LIMIT_FILTER.into(),
                    global_rate_limits(&forward.global_budgets),
                );
            }
            if !per_filter.is_empty() {
                out.insert("typed_per_filter_config".into(), Value::Object(per_filter));
            }
            out.insert("route".into(), forward_action(forward));
        }
        RouteAction::MethodNotAllowed { allow } => {
            let allow = allow.join(", ");
            out.insert("direct_response".into(), method_not_allowed(&allow));
            let headers = [
                ("allow", allow.as_str()),
                ("content-type", "application/json"),
            ]
            .into_iter()
            .map(|(name, value)| {
                header_value(&HeaderValue {
                    name: name.into(),
                    value: value.into(),
                    overwrite: true,
                })
            })
            .collect();
            out.insert("response_headers_to_add".into(), Value::Array(headers));
        }
    }
    Value::Object(out)
}

/// The 405 body, shaped like the providers' own errors so OpenAI-style
/// clients show the message.
fn method_not_allowed(allow: &str) -> Value {
    let body = json!({ "error": {
        "message": format!("llmgate: this route accepts only {allow}"),
        "type": "invalid_request_error",
        "param": null,
        "code": "method_not_allowed"
    }});
    json!({ "status": 405, "body": { "inline_string": body.to_string() } })
}

/// Envoy refuses a route whose direct response body is over 4 KiB (its
/// `max_direct_response_body_size_bytes` default); the reason is cut well
/// short of that.
const MAX_REASON_BYTES: usize = 2048;

pub fn not_ready_response(why: &str) -> Value {
    let mut cut = why.len().min(MAX_REASON_BYTES);
    while !why.is_char_boundary(cut) {
        cut -= 1;
    }
    let ellipsis = if cut < why.len() { "…" } else { "" };
    let why = &why[..cut];
    json!({ "status": 500, "body": { "inline_string": format!("llmgate: backend not ready: {why}{ellipsis}\n") } })
}

fn string_match(m: &StringMatch) -> Value {
    match m {
        StringMatch::Exact(value) => json!({ "exact": value }),
        StringMatch::Regex(regex) => json!({ "safe_regex": { "regex": regex } }),
    }
}

fn header_matches(matches: &[HeaderMatch]) -> impl Iterator<Item = Value> + '_ {
    matches
        .iter()
        .map(|h| json!({ "name": h.name, "string_match": string_match(&h.value) }))
}

fn route_match(m: &RouteMatch) -> Value {
    let mut out = Map::new();
    match &m.path {
        PathMatch::Exact(path) => {
            out.insert("path".into(), json!(path));
        }
        PathMatch::Regex(regex) => {
            out.insert("safe_regex".into(), json!({ "regex": regex }));
        }
        PathMatch::Prefix(prefix) if prefix.is_empty() => {
            out.insert("prefix".into(), json!("/"));
        }
        PathMatch::Prefix(prefix) => {
            out.insert("path_separated_prefix".into(), json!(prefix));
        }
    }
    let mut headers: Vec<Value> = header_matches(&m.headers).collect();
    if let Some(method) = &m.method {
        headers.push(json!({ "name": ":method", "string_match": { "exact": method } }));
    }
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Array(headers));
    }
    let queries: Vec<Value> = header_matches(&m.query_params).collect();
    if !queries.is_empty() {
        out.insert("query_parameters".into(), Value::Array(queries));
    }
    Value::Object(out)
}

fn header_value(h: &HeaderValue) -> Value {
    let action = if h.overwrite {
        "OVERWRITE_IF_EXISTS_OR_ADD"
    } else {
        "APPEND_IF_EXISTS_OR_ADD"
    };
    json!({ "header": { "key": h.name, "value": h.value }, "append_action": action })
}

fn header_changes(out: &mut Map<String, Value>, changes: &HeaderChanges) {
    for (direction, add, remove) in [
        ("request", &changes.request_add, &changes.request_remove),
        ("response", &changes.response_add, &changes.response_remove),
    ] {
        if !add.is_empty() {
            out.insert(
                format!("{direction}_headers_to_add"),
                Value::Array(add.iter().map(header_value).collect()),
            );
        }
        if !remove.is_empty() {
            out.insert(format!("{direction}_headers_to_remove"), json!(remove));
        }
    }
}

/// The Envoy field rewriting the path.
pub fn rewrite_field(rewrite: &Rewrite) -> (&'static str, Value) {
    match rewrite {
        Rewrite::Prefix(prefix) => ("prefix_rewrite", json!(prefix)),
        Rewrite::Regex {
            regex,
            substitution,
        } => (
            "regex_rewrite",
            json!({ "pattern": { "regex": regex }, "substitution": substitution }),
        ),
    }
}

fn redirect_action(r: &Redirect, listener_port: u16, well_known_port: u16) -> Value {
    let mut out = Map::new();
    if let Some(scheme) = &r.scheme {
        out.insert("scheme_redirect".into(), json!(scheme));
    }
    if let Some(host) = &r.hostname {
        out.insert("host_redirect".into(), json!(host));
    }
    match r.port {
        RedirectPort::Fixed(port) => {
            out.insert("port_redirect".into(), json!(port));
        }
        RedirectPort::Listener if listener_port != well_known_port => {
            out.insert("port_redirect".into(), json!(listener_port));
        }
        // The listener strips the port from Host, so none is carried over.
        RedirectPort::Listener | RedirectPort::SchemeDefault => {}
    }
    match &r.path {
        Some(RedirectPath::Full(p)) => {
            out.insert("path_redirect".into(), json!(p));
        }
        Some(RedirectPath::Rewrite(rewrite)) => {
            let (k, v) = rewrite_field(rewrite);
            out.insert(k.into(), v);
        }
        None => {}
    }
    let code = match r.status {
        301 => "MOVED_PERMANENTLY",
        303 => "SEE_OTHER",
        307 => "TEMPORARY_REDIRECT",
        308 => "PERMANENT_REDIRECT",
        _ => "FOUND",
    };
    out.insert("response_code".into(), json!(code));
    Value::Object(out)
}

/// Envoy's `ratelimit` filter, which asks the control plane about global
/// token budgets.
pub const GLOBAL_RATE_LIMIT_FILTER: &str = "envoy.filters.http.ratelimit";

/// The filter's own per-route rate limits, not the route's `rate_limits`:
/// only these evaluate a `hits_addend` format (measured on 1.40: the
/// route's send none), and they replace the route's.
fn global_rate_limits(budgets: &[GlobalTokenBudget]) -> Value {
    let limits: Vec<Value> = budgets
        .iter()
        .flat_map(|b| [global_budget(b, false), global_budget(b, true)])
        .collect();
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute",
        "rate_limits": limits
    })
}

/// One of a global budget's two rate limits: before the request (admit:
/// is anything left?) and, when the stream is done, the charge of the tokens
/// the llmgate filter counted (`hits_addend` from its filter state; the
/// service reads the phase from the descriptor, see `ratelimit`).
fn global_budget(budget: &GlobalTokenBudget, charge: bool) -> Value {
    use crate::ratelimit::descriptor::{self as d, Bucket};
    let key =
        |k: &str, v: &str| json!({ "generic_key": { "descriptor_key": k, "descriptor_value": v } });
    let bucket = Bucket {
        max_tokens: budget.max_tokens,
        tokens_per_fill: budget.tokens_per_fill,
        fill_interval_ms: budget.fill_interval_ms,
    };
    let mut actions = vec![
        key(d::BUDGET_KEY, &budget.id),
        key(d::BUCKET_KEY, &bucket.encode()),
    ];
    if let Some(header) = &budget.client_header {
        actions.push(json!({ "request_headers": {
            "header_name": header,
            "descriptor_key": d::CLIENT_KEY,
            "skip_if_absent": true
        } }));
    }
    actions.push(key(d::PHASE_KEY, if charge { d::CHARGE } else { d::ADMIT }));
    let mut limit = json!({ "actions": actions });
    if charge {
        let state = llmgate_filter::budget::global_state(budget.count);
        crate::json::set_member(&mut limit, "apply_on_stream_done", json!(true));
        crate::json::set_member(
            &mut limit,
            "hits_addend",
            json!({ "format": format!("%{}(wasm.{state}:PLAIN)%", super::observability::FILTER_STATE_OPERATOR) }),
        );
    }
    limit
}

fn forward_action(forward: ForwardAction) -> Value {
    let mut route = Map::new();
    match forward.targets {
        Targets::Single(name) => {
            route.insert("cluster".into(), Value::String(name));
        }
        Targets::Weighted {
            clusters,
            unavailable_weight,
        } => {
            let mut weighted: Vec<Value> = clusters
                .iter()
                .map(|c| {
                    let mut entry = json!({ "name": c.name, "weight": c.weight });
                    if !c.request_headers_to_add.is_empty() {
                        crate::json::set_member(
                            &mut entry,
                            "request_headers_to_add",
                            Value::Array(
                                c.request_headers_to_add.iter().map(header_value).collect(),
                            ),
                        );
                    }
                    entry
                })
                .collect();
            if unavailable_weight > 0 {
                weighted.push(json!({ "name": UNAVAILABLE_CLUSTER, "weight": unavailable_weight }));
            }
            route.insert("weighted_clusters".into(), json!({ "clusters": weighted }));
        }
    }
    if let Some(rewrite) = &forward.path_rewrite {
        let (key, value) = rewrite_field(rewrite);
        route.insert(key.into(), value);
    }
    if let Some(host) = forward.host_rewrite {
        route.insert("host_rewrite_literal".into(), Value::String(host));
    }
    if !forward.mirrors.is_empty() {
        let policies: Vec<Value> = forward
            .mirrors
            .iter()
            .map(|(cluster, per_million)| {
                json!({ "cluster": cluster, "runtime_fraction": { "default_value": { "numerator": per_million, "denominator": "MILLION" } } })
            })
            .collect();
        route.insert("request_mirror_policies".into(), Value::Array(policies));
    }
    if let Some(timeout) = forward.timeout {
        route.insert("timeout".into(), Value::String(timeout));
    }
    match forward.retry {
        Retry::None => {}
        Retry::PerTryTimeout(d) => {
            route.insert(
                "retry_policy".into(),
                json!({ "num_retries": 0, "per_try_timeout": d }),
            );
        }
        Retry::Failover {
            retries,
            per_try_timeout,
        } => {
            route.insert(
                "retry_policy".into(),
                failover_retry_policy(retries, per_try_timeout.as_deref()),
            );
        }
    }
    Value::Object(route)
}

/// Route retry policy: a provider answering 429 or 5xx, resetting, or not
/// accepting connections → the next attempt goes to the next group
/// (`previous_priorities` skips every priority already tried).
///
/// `retry-after`: Envoy can wait for it before retrying
/// (`rate_limited_retry_back_off`), but the retry goes to a *different*
/// provider, which did not ask for a pause; and Envoy cannot eject a provider
/// for the time a header names. So failover is immediate, and when every
/// group has refused, the client gets the last provider's answer, its
/// `retry-after` included, unchanged.
fn failover_retry_policy(retries: u32, per_try_timeout: Option<&str>) -> Value {
    let mut policy = json!({
        "retry_on": "5xx,reset,connect-failure,retriable-status-codes",
        "retriable_status_codes": [429],
        "num_retries": retries,
        "retry_priority": {
            "name": "envoy.retry_priorities.previous_priorities",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
                "update_frequency": 1
            }
        },
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
            }
        }],
        "host_selection_retry_max_attempts": 3,
        // Envoy's default back-off (25 ms base, jittered) is for retrying the
        // same overloaded service; the next attempt goes to another provider,
        // so it only needs to be quick. Measured: the default added 14 ms
        // (p50) to a failed-over request (docs/benchmarks.md).
        "retry_back_off": { "base_interval": "0.001s", "max_interval": "0.005s" }
    });
    if let Some(d) = per_try_timeout {
        crate::json::set_member(&mut policy, "per_try_timeout", json!(d));
    }
    policy
}
