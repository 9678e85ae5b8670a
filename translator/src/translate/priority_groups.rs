//! `spec.ai.priorityGroups` → one Envoy cluster whose endpoints are the
//! providers, one priority level per group, plus the route retry policy that
//! fails over from one group to the next.
//!
//! Why one cluster with priorities and not Envoy's aggregate cluster of one
//! cluster per provider: the aggregate cluster runs the upstream HTTP filters
//! of the *aggregate* (measured on 1.40: the member clusters' filters never
//! run), so per-provider filter configuration would be lost. With priorities,
//! each provider is an endpoint carrying its own
//! - filter configuration: the one plugin holds every provider's and picks the
//!   one named by the chosen endpoint's metadata (`llmgate.provider`), which
//!   the upstream filter can read because Envoy picks the endpoint first;
//! - TLS context and SNI: `transport_socket_matches` on the same metadata;
//! - Host header: set by the filter from that provider's configuration.
//!
//! Providers inside one group share a priority level, so Envoy balances load
//! between them; a later group only gets traffic when a retry moves there
//! (`previous_priorities`) or when outlier detection has ejected every
//! provider of the earlier groups.

use serde_json::{json, Value};

use llmgate_filter::plugin_config::{Members, HOST_METADATA_KEY, HOST_METADATA_NAMESPACE};

use super::ai_backend::{self, ResolvedBackend, Unavailable};
use super::envoy;
use crate::backend::{Backend, PriorityGroup};
use crate::problem::{Problem, Severity};
use crate::source::{Object, Snapshot};

/// Key of the endpoint metadata `transport_socket_matches` select on.
const TLS_MATCH_KEY: &str = "llmgate.provider";
const MAX_GROUPS: usize = 32;
const MAX_PROVIDERS_PER_GROUP: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Envoy priority: the rank of the provider's group among the groups that
    /// have at least one ready provider (priorities must be contiguous).
    pub priority: u32,
    /// `resolved.filter.provider_name` is the provider's `name`.
    pub resolved: ResolvedBackend,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedGroups {
    pub members: Vec<Member>,
    /// Providers left out because something they refer to is missing (their
    /// Secret, a BackendTLSPolicy's CA); the others still serve.
    pub left_out: Vec<Problem>,
    /// Served, but to be reported (certificate verification turned off).
    pub warnings: Vec<Problem>,
}

impl ResolvedGroups {
    /// Retries a request may need to reach the last ready group.
    pub fn failover_retries(&self) -> u32 {
        self.members.iter().map(|m| m.priority).max().unwrap_or(0)
    }
}

pub fn resolve(
    backend: &Object<Backend>,
    groups: &[PriorityGroup],
    snapshot: &Snapshot,
) -> Result<ResolvedGroups, Unavailable> {
    let object = backend.object_ref("Backend");
    let invalid = |field: String, message: String| {
        Box::new(
            Problem::error(message)
                .at(&backend.origin)
                .object(object.clone())
                .field(field),
        )
    };
    let base = "spec.ai.priorityGroups";
    if groups.is_empty() || groups.len() > MAX_GROUPS {
        return Err(invalid(
            base.into(),
            format!("must have 1-{MAX_GROUPS} groups, has {}", groups.len()),
        ));
    }
    let mut seen_names: Vec<&str> = Vec::new();
    let mut members = Vec::new();
    let mut warnings = Vec::new();
    let mut left_out = Vec::new();
    let mut priority = 0;
    for (g, group) in groups.iter().enumerate() {
        let group_field = format!("{base}[{g}].providers");
        if group.providers.is_empty() || group.providers.len() > MAX_PROVIDERS_PER_GROUP {
            return Err(invalid(
                group_field,
                format!(
                    "must have 1-{MAX_PROVIDERS_PER_GROUP} providers, has {}",
                    group.providers.len()
                ),
            ));
        }
        let mut group_ready = false;
        for (i, named) in group.providers.iter().enumerate() {
            let field = format!("{group_field}[{i}]");
            if named.name.is_empty() {
                return Err(invalid(format!("{field}.name"), "must not be empty".into()));
            }
            if seen_names.contains(&named.name.as_str()) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!(
                        "{:?} is used by another provider; names are unique across all groups",
                        named.name
                    ),
                ));
            }
            seen_names.push(&named.name);
            match ai_backend::resolve_named_provider(named, &field, backend, snapshot) {
                Ok(mut resolved) => {
                    resolved.filter.provider_name = Some(named.name.clone());
                    // Backend-wide warnings (verification disabled, a
                    // policy conflict) come once per provider: keep one.
                    for w in std::mem::take(&mut resolved.warnings) {
                        if !warnings.contains(&w) {
                            warnings.push(w);
                        }
                    }
                    members.push(Member { priority, resolved });
                    group_ready = true;
                }
                Err(problem) if problem.severity == Severity::Warning => {
                    let why = problem
                        .message
                        .split("; routes to ")
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    left_out.push(Problem {
                        message: format!(
                            "{why}; provider {:?} is left out of its priority group",
                            named.name
                        ),
                        ..*problem
                    });
                }
                Err(problem) => return Err(problem),
            }
        }
        if group_ready {
            priority += 1;
        }
    }
    if members.is_empty() {
        let first = left_out
            .first()
            .map(|w| w.message.clone())
            .unwrap_or_default();
        return Err(Box::new(
            Problem::warning(format!(
                "no provider of any priority group is ready ({first}); routes to this backend answer 500"
            ))
            .at(&backend.origin)
            .object(object)
            .field(base),
        ));
    }
    Ok(ResolvedGroups {
        members,
        left_out,
        warnings,
    })
}

/// The plugin configuration: every member's filter configuration.
pub fn plugin_configuration(groups: &ResolvedGroups) -> String {
    let members = Members {
        members: groups
            .members
            .iter()
            .map(|m| m.resolved.filter.clone())
            .collect(),
    };
    serde_json::to_string(&members).unwrap_or_default()
}

/// The endpoints, one locality per priority, each endpoint named in its
/// metadata for the filter and for `transport_socket_matches`.
pub fn load_assignment(cluster_name: &str, groups: &ResolvedGroups) -> Value {
    let mut by_priority: Vec<Vec<Value>> = Vec::new();
    for m in &groups.members {
        let name = m.resolved.filter.provider_name.clone().unwrap_or_default();
        let up = &m.resolved.upstream;
        let endpoint = json!({
            "endpoint": {
                "address": { "socket_address": { "address": up.host, "port_value": up.port } },
                // Shown in admin output and used as the health-check host.
                "hostname": up.host
            },
            "metadata": { "filter_metadata": {
                HOST_METADATA_NAMESPACE: { HOST_METADATA_KEY: name },
                "envoy.transport_socket_match": { TLS_MATCH_KEY: name }
            }}
        });
        let p = m.priority as usize;
        if by_priority.len() <= p {
            by_priority.resize_with(p + 1, Vec::new);
        }
        if let Some(locality) = by_priority.get_mut(p) {
            locality.push(endpoint);
        }
    }
    let endpoints: Vec<Value> = by_priority
        .into_iter()
        .enumerate()
        .map(|(priority, lb_endpoints)| json!({ "priority": priority, "lb_endpoints": lb_endpoints }))
        .collect();
    json!({ "cluster_name": cluster_name, "endpoints": endpoints })
}

/// One match per TLS provider; plaintext providers fall through to the
/// cluster's default (no transport socket = plaintext).
pub fn transport_socket_matches(
    groups: &ResolvedGroups,
    tls_socket: impl Fn(&ResolvedBackend) -> Option<Value>,
) -> Value {
    Value::Array(
        groups
            .members
            .iter()
            .filter_map(|m| {
                let name = m.resolved.filter.provider_name.clone().unwrap_or_default();
                tls_socket(&m.resolved).map(|socket| {
                    json!({
                        "name": format!("provider/{name}"),
                        "match": { TLS_MATCH_KEY: name },
                        "transport_socket": socket
                    })
                })
            })
            .collect(),
    )
}

/// A provider that keeps failing (5xx, resets, refused connections) is taken
/// out for a while, so requests stop paying for a failed first attempt.
/// 429s are not failures of the provider (Envoy counts only 5xx and local
/// origin errors here); those move on through the retry policy.
pub fn outlier_detection() -> Value {
    json!({
        "consecutive_5xx": 3,
        "interval": "5s",
        "base_ejection_time": "30s",
        "max_ejection_percent": 100
    })
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
pub fn retry_policy(retries: u32, per_try_timeout: Option<&str>) -> Value {
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
        envoy::set_member(&mut policy, "per_try_timeout", json!(d));
    }
    policy
}

/// The Backend's cluster: every provider an endpoint, one priority per group.
pub fn cluster(
    name: &str,
    backend: &str,
    groups: &ResolvedGroups,
    wasm: &envoy::WasmOptions<'_>,
    ca_bundle: &std::path::Path,
) -> Value {
    let needs_dns = groups.members.iter().any(|m| {
        m.resolved
            .upstream
            .host
            .parse::<std::net::IpAddr>()
            .is_err()
    });
    let mut cluster = json!({
        "name": name,
        // STRICT_DNS: LOGICAL_DNS allows only one endpoint.
        "type": if needs_dns { "STRICT_DNS" } else { "STATIC" },
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "10s",
        "load_assignment": load_assignment(name, groups),
        "outlier_detection": outlier_detection(),
        "typed_extension_protocol_options": envoy::ai_protocol_options(
            backend,
            plugin_configuration(groups),
            wasm,
        ),
    });
    let matches = transport_socket_matches(groups, |r| {
        envoy::upstream_transport_socket(&r.upstream, ca_bundle)
    });
    if matches.as_array().is_some_and(|m| !m.is_empty()) {
        envoy::set_member(&mut cluster, "transport_socket_matches", matches);
    }
    cluster
}
