//! Envoy v3 JSON shapes. Only this module knows Envoy's field names; the rest
//! of the translator works with Gateway API concepts.

use std::path::Path;

use serde_json::{json, Value};

use super::ai_backend::ResolvedBackend;

/// Prometheus labels for the filter's metrics. The filter names its stats
/// `llmgate_<metric>;key=value;…`; each regex's group 1 is cut from the name and
/// group 2 becomes the label value, leaving `llmgate_<metric>` as the name.
pub const FILTER_LABELS: &[&str] = &["backend", "provider", "model", "token_type", "status_class"];

pub fn stats_tags() -> Value {
    Value::Array(
        FILTER_LABELS
            .iter()
            .map(|label| json!({ "tag_name": label, "regex": format!("(;{label}=([^;]*))") }))
            .collect(),
    )
}

pub struct WasmOptions<'a> {
    pub filter_path: &'a Path,
    pub runtime: &'a str,
}

fn wasm_filter(backend: &ResolvedBackend, wasm: &WasmOptions<'_>) -> Value {
    let configuration = serde_json::to_string(&backend.filter).unwrap_or_default();
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": format!("llmgate/{}", backend.filter.backend),
                "root_id": "llmgate",
                // Same vm_id + code: one VM per worker shared by every backend.
                "vm_config": {
                    "vm_id": "llmgate",
                    "runtime": format!("envoy.wasm.runtime.{}", wasm.runtime),
                    "code": { "local": { "filename": wasm.filter_path.display().to_string() } }
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

fn address(host: &str, port: u16) -> Value {
    json!({ "socket_address": { "address": host, "port_value": port } })
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

pub fn ai_cluster(
    name: &str,
    backend: &ResolvedBackend,
    wasm: &WasmOptions<'_>,
    ca_bundle: &Path,
) -> Value {
    let up = &backend.upstream;
    let mut cluster = json!({
        "name": name,
        "type": cluster_discovery(&up.host),
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "10s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": address(&up.host, up.port) } }] }]
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http_protocol_options": {} },
                // Upstream filters: the route is already chosen, so rewriting
                // :path and headers here cannot re-match it.
                "http_filters": [
                    wasm_filter(backend, wasm),
                    {
                        "name": "envoy.filters.http.upstream_codec",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
                        }
                    }
                ]
            }
        }
    });
    if up.tls {
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": up.server_name,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": { "filename": ca_bundle.display().to_string() },
                        "match_typed_subject_alt_names": [{
                            "san_type": "DNS",
                            "matcher": { "exact": up.server_name }
                        }]
                    }
                }
            }
        });
    }
    cluster
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

pub fn listener(name: &str, bind: &str, port: u16, virtual_hosts: Vec<Value>) -> Value {
    json!({
        "name": name,
        "address": address(bind, port),
        "filter_chains": [{
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": name,
                    "codec_type": "AUTO",
                    // Gateway API hostnames never carry a port.
                    "strip_any_host_port": true,
                    "route_config": { "name": name, "virtual_hosts": virtual_hosts },
                    "http_filters": [{
                        "name": "envoy.filters.http.router",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                            // Providers need not learn about the gateway's internals.
                            "suppress_envoy_headers": true
                        }
                    }]
                }
            }]
        }]
    })
}

pub fn bootstrap(admin_port: u16, listeners: Vec<Value>, clusters: Vec<Value>) -> Value {
    json!({
        "node": { "id": "llmgate", "cluster": "llmgate" },
        "admin": { "address": address("127.0.0.1", admin_port) },
        "stats_config": { "stats_tags": stats_tags() },
        "static_resources": { "listeners": listeners, "clusters": clusters }
    })
}
