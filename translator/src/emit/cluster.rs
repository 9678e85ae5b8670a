//! Clusters: AI Backends with the llmgate filter as an upstream HTTP filter,
//! priority groups as one cluster with a priority per group, Services, and the
//! cluster that answers 500.

use std::path::Path;

use serde_json::{json, Value};

use llmgate_filter::plugin_config::{Members, HOST_METADATA_KEY, HOST_METADATA_NAMESPACE};

use super::{address, credentials};
use crate::ir::{
    AiProvider, Cluster, FilterCode, ResolvedGroups, SecretDelivery, SubjectAltName, TrustedCa,
    Upstream, Validation, Wasm,
};
use crate::json::set_member;

/// Key of the endpoint metadata `transport_socket_matches` select on.
const TLS_MATCH_KEY: &str = "llmgate.provider";

/// The cluster a weighted rule sends the share of its unresolvable backendRefs
/// to. It leads to an Envoy internal listener that answers 500, so that share
/// gets exactly the Gateway API's 500 (an empty cluster would give 503).
pub const UNAVAILABLE_CLUSTER: &str = "llmgate_unavailable";

/// What every AI cluster shares: the filter module, the CA bundle and how
/// the keys are delivered.
pub struct AiContext<'a> {
    pub wasm: &'a Wasm,
    pub ca_bundle: &'a Path,
    pub secrets: SecretDelivery,
}

pub fn cluster(cluster: &Cluster, ai: &AiContext<'_>) -> Value {
    match cluster {
        Cluster::Ai { name, provider } => ai_cluster(name, provider, ai),
        Cluster::PriorityGroups {
            name,
            backend,
            groups,
        } => priority_groups_cluster(name, backend, groups, ai),
        Cluster::Service { name, host, port } => service_cluster(name, host, *port),
        Cluster::Endpoints { name, endpoints } => endpoints_cluster(name, endpoints),
        Cluster::Guard { name, upstream } => guard_cluster(name, upstream, ai.ca_bundle),
    }
}

/// A guard's service: the provider's address and TLS, no filters (the
/// filter adds the key to its call itself).
fn guard_cluster(name: &str, upstream: &Upstream, ca_bundle: &Path) -> Value {
    let mut cluster = service_cluster(name, &upstream.host, upstream.port);
    if let Some(socket) = upstream_transport_socket(upstream, ca_bundle) {
        set_member(&mut cluster, "transport_socket", socket);
    }
    cluster
}

/// The injectors of the prompt guards' keys, once per header (every
/// priority-group member carries the same policy).
fn guard_injectors<'a>(
    providers: impl IntoIterator<Item = &'a AiProvider>,
    delivery: SecretDelivery,
) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    providers
        .into_iter()
        .flat_map(|p| &p.guard_keys)
        .filter(|(header, _)| seen.insert(header.as_str()))
        .map(|(header, key)| credentials::injector(header, key, delivery))
        .collect()
}

fn envoy_code(code: &FilterCode) -> Value {
    match code {
        FilterCode::Local(path) => {
            json!({ "local": { "filename": path.display().to_string() } })
        }
        FilterCode::Remote {
            uri,
            cluster,
            sha256,
        } => json!({ "remote": {
            "http_uri": { "uri": uri, "cluster": cluster, "timeout": "10s" },
            "sha256": sha256,
            "retry_policy": { "num_retries": 5 }
        }}),
    }
}

/// `configuration`: the plugin configuration JSON (one provider's, or a
/// priority-group Backend's members).
fn wasm_filter(backend: &str, configuration: String, wasm: &Wasm) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": format!("llmgate/{backend}"),
                "root_id": "llmgate",
                // Same vm_id + code: one VM per worker shared by every backend.
                "vm_config": {
                    "vm_id": "llmgate",
                    "runtime": format!("envoy.wasm.runtime.{}", wasm.runtime),
                    "code": envoy_code(&wasm.code)
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration
                },
                // The filter pauses request headers until it has rewritten the
                // body (model override); without this Envoy never calls the body
                // callback and the request hangs until the route times out.
                "allow_on_headers_stop_iteration": true,
                // Without the filter a request would reach the provider without
                // credentials or accounting: fail closed.
                "failure_policy": "FAIL_CLOSED"
            }
        }
    })
}

fn cluster_discovery(host: &str) -> Value {
    if host.parse::<std::net::IpAddr>().is_ok() {
        json!("STATIC")
    } else {
        // One long-lived name per provider endpoint: LOGICAL_DNS, as Envoy
        // recommends for large web services.
        json!("LOGICAL_DNS")
    }
}

/// HTTP/1.1 upstream with the llmgate filter as an upstream HTTP filter: the
/// route is already chosen there, so rewriting :path and headers cannot
/// re-match it. Before it, one `credential_injector` per key (see
/// `ir::credential`): every attempt gets every key of the cluster's
/// providers in internal headers, and the filter keeps the chosen one's.
fn ai_protocol_options(
    backend: &str,
    configuration: String,
    injectors: Vec<Value>,
    wasm: &Wasm,
) -> Value {
    let mut filters = injectors;
    filters.push(wasm_filter(backend, configuration, wasm));
    filters.push(json!({
        "name": "envoy.filters.http.upstream_codec",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
        }
    }));
    json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": { "http_protocol_options": {} },
            "http_filters": filters
        }
    })
}

fn ai_cluster(name: &str, provider: &AiProvider, ai: &AiContext<'_>) -> Value {
    let up = &provider.upstream;
    let mut cluster = json!({
        "name": name,
        "type": cluster_discovery(&up.host),
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "10s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": address(&up.host, up.port) } }] }]
        },
        "typed_extension_protocol_options": ai_protocol_options(
            &provider.filter.backend,
            serde_json::to_string(&provider.filter).unwrap_or_default(),
            credentials::injectors([&provider.credential], ai.secrets)
                .into_iter()
                .chain(guard_injectors([provider], ai.secrets))
                .collect(),
            ai.wasm,
        )
    });
    if let Some(socket) = upstream_transport_socket(up, ai.ca_bundle) {
        set_member(&mut cluster, "transport_socket", socket);
    }
    cluster
}

/// The TLS transport socket to a provider; `None` when it is plaintext.
fn upstream_transport_socket(upstream: &Upstream, ca_bundle: &Path) -> Option<Value> {
    let tls = upstream.tls.as_ref()?;
    // No validation context: Envoy then accepts any certificate, which only
    // the skip-verify annotation asks for.
    let common_tls_context = match &tls.validation {
        Some(validation) => {
            json!({ "validation_context": validation_context(validation, ca_bundle) })
        }
        None => json!({}),
    };
    Some(json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": tls.server_name,
            "common_tls_context": common_tls_context
        }
    }))
}

fn validation_context(validation: &Validation, ca_bundle: &Path) -> Value {
    let trusted_ca = match &validation.trusted_ca {
        TrustedCa::System => json!({ "filename": ca_bundle.display().to_string() }),
        TrustedCa::Pem(pem) => json!({ "inline_string": pem }),
    };
    let subject_alt_names: Vec<Value> = validation
        .subject_alt_names
        .iter()
        .map(|san| {
            let (san_type, name) = match san {
                SubjectAltName::Dns(name) => ("DNS", name),
                SubjectAltName::Uri(uri) => ("URI", uri),
            };
            json!({ "san_type": san_type, "matcher": { "exact": name } })
        })
        .collect();
    json!({
        "trusted_ca": trusted_ca,
        "match_typed_subject_alt_names": subject_alt_names
    })
}

pub fn service_cluster(name: &str, host: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": if host.parse::<std::net::IpAddr>().is_ok() { "STATIC" } else { "STRICT_DNS" },
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": address(host, port) } }] }]
        }
    })
}

/// STATIC when all endpoints are IPs, STRICT_DNS otherwise. No endpoint
/// ready: an empty cluster (503).
fn endpoints_cluster(name: &str, endpoints: &[(String, u16)]) -> Value {
    let all_ips = endpoints
        .iter()
        .all(|(host, _)| host.parse::<std::net::IpAddr>().is_ok());
    let lb_endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(host, port)| json!({ "endpoint": { "address": address(host, *port) } }))
        .collect();
    json!({
        "name": name,
        "type": if all_ips { "STATIC" } else { "STRICT_DNS" },
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": lb_endpoints }] }
    })
}

pub fn unavailable_cluster() -> Value {
    json!({
        "name": UNAVAILABLE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": UNAVAILABLE_CLUSTER,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "envoy_internal_address": { "server_listener_name": UNAVAILABLE_CLUSTER }
            } } }] }]
        }
    })
}

/// The plugin configuration: every member's filter configuration.
fn plugin_configuration(groups: &ResolvedGroups) -> String {
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
fn load_assignment(cluster_name: &str, groups: &ResolvedGroups) -> Value {
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
fn transport_socket_matches(groups: &ResolvedGroups, ca_bundle: &Path) -> Vec<Value> {
    groups
        .members
        .iter()
        .filter_map(|m| {
            let name = m.resolved.filter.provider_name.clone().unwrap_or_default();
            upstream_transport_socket(&m.resolved.upstream, ca_bundle).map(|socket| {
                json!({
                    "name": format!("provider/{name}"),
                    "match": { TLS_MATCH_KEY: name },
                    "transport_socket": socket
                })
            })
        })
        .collect()
}

/// A provider that keeps failing (5xx, resets, refused connections) is taken
/// out for a while, so requests stop paying for a failed first attempt.
/// 429s are not failures of the provider (Envoy counts only 5xx and local
/// origin errors here); those move on through the retry policy.
fn outlier_detection() -> Value {
    json!({
        "consecutive_5xx": 3,
        "interval": "5s",
        "base_ejection_time": "30s",
        "max_ejection_percent": 100
    })
}

/// The Backend's cluster: every provider an endpoint, one priority per group.
/// Why one cluster with priorities: see `translate::priority_groups`.
fn priority_groups_cluster(
    name: &str,
    backend: &str,
    groups: &ResolvedGroups,
    ai: &AiContext<'_>,
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
        "typed_extension_protocol_options": ai_protocol_options(
            backend,
            plugin_configuration(groups),
            credentials::injectors(
                groups.members.iter().map(|m| &m.resolved.credential),
                ai.secrets,
            )
            .into_iter()
            .chain(guard_injectors(
                groups.members.iter().map(|m| &m.resolved),
                ai.secrets,
            ))
            .collect(),
            ai.wasm,
        ),
    });
    let matches = transport_socket_matches(groups, ai.ca_bundle);
    if !matches.is_empty() {
        set_member(
            &mut cluster,
            "transport_socket_matches",
            Value::Array(matches),
        );
    }
    cluster
}
