//! Envoy v3 JSON shapes. Only this module knows Envoy's field names; the rest
//! of the translator works with Gateway API concepts.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::ai_backend::{ResolvedBackend, Upstream};
use super::backend_tls::{SubjectAltName, TrustedCa, Validation};

/// `object[key] = member` without its panic: IndexMut panics when `object`
/// is not a JSON object. Every caller passes an object it built itself, so
/// anything else is left unchanged rather than taking the gateway down.
pub fn set_member(object: &mut Value, key: &str, member: Value) {
    if let Some(members) = object.as_object_mut() {
        members.insert(key.to_owned(), member);
    }
}

/// Prometheus labels for the filter's metrics. The filter names its stats
/// `<metric>;key=value;…`; each regex's group 1 is cut from the name and
/// group 2 becomes the label value, leaving `<metric>` as the name. The `;`
/// before each key keeps `model=` from matching inside `request_model=`, and
/// the `=` after it keeps `provider` from matching `provider_name=`.
pub const FILTER_LABELS: &[&str] = &[
    "route",
    "backend",
    "provider",
    "provider_name",
    "request_model",
    "response_model",
    "token_type",
    "status_class",
];

/// Token-count buckets for `gen_ai_client_token_usage` (OpenTelemetry's
/// advice for `gen_ai.client.token.usage`: powers of 4 up to 64 Mi). The
/// millisecond histograms keep Envoy's default buckets (0.5 ms … 1 h).
pub const TOKEN_BUCKETS: &[u64] = &[
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

/// `stats_config.histogram_bucket_settings`. The matcher sees the stat's
/// full name (`wasmcustom.gen_ai_client_token_usage;…`), hence `contains`.
pub fn histogram_bucket_settings() -> Value {
    json!([{
        "match": { "contains": "gen_ai_client_token_usage" },
        "buckets": TOKEN_BUCKETS
    }])
}

/// How the access log reads what the filter published. Although the filter
/// is an upstream HTTP filter, its `set_property` lands in the downstream
/// request's filter state: Envoy 1.40 shows it with `FILTER_STATE`, while
/// `UPSTREAM_FILTER_STATE` sees nothing (verified by `tests/tests/access_log.rs`).
pub const FILTER_STATE_OPERATOR: &str = "FILTER_STATE";

/// One JSON line per request on Envoy's stdout (Envoy's own log stays on
/// stderr). Envoy's values are typed (numbers stay numbers); the filter's are
/// strings (`PLAIN` filter state), and `null` when it did not set them (no
/// usage, not a stream, or a route without an AI backend).
pub fn access_log() -> Value {
    let mut format = serde_json::Map::new();
    for (key, command) in [
        ("start_time", "%START_TIME%"),
        ("method", "%REQ(:METHOD)%"),
        ("status", "%RESPONSE_CODE%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("duration_ms", "%DURATION%"),
        ("route_name", "%ROUTE_NAME%"),
        ("upstream_cluster", "%UPSTREAM_CLUSTER%"),
    ] {
        format.insert(key.to_owned(), json!(command));
    }
    for field in llmgate_filter::access_log::FIELDS {
        format.insert(
            (*field).to_owned(),
            json!(format!(
                "%{FILTER_STATE_OPERATOR}(wasm.{}{field}:PLAIN)%",
                llmgate_filter::access_log::PREFIX
            )),
        );
    }
    json!([{
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": { "json_format": format }
        }
    }])
}

pub fn stats_tags() -> Value {
    Value::Array(
        FILTER_LABELS
            .iter()
            .map(|label| json!({ "tag_name": label, "regex": format!("(;{label}=([^;]*))") }))
            .collect(),
    )
}

/// Where Envoy gets the filter module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterCode {
    /// A path on Envoy's machine.
    Local(PathBuf),
    /// Fetched over HTTP through a cluster of the bootstrap (the controller
    /// serves it), checked against its SHA-256: no shared filesystem needed.
    Remote {
        uri: String,
        cluster: String,
        sha256: String,
    },
}

impl FilterCode {
    fn envoy_code(&self) -> Value {
        match self {
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
}

pub struct WasmOptions<'a> {
    pub code: &'a FilterCode,
    pub runtime: &'a str,
}

/// `configuration`: the plugin configuration JSON (one provider's, or a
/// priority-group Backend's members).
fn wasm_filter(backend: &str, configuration: String, wasm: &WasmOptions<'_>) -> Value {
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
                    "code": wasm.code.envoy_code()
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

/// HTTP/1.1 upstream with the llmgate filter as an upstream HTTP filter: the
/// route is already chosen there, so rewriting :path and headers cannot
/// re-match it.
pub fn ai_protocol_options(backend: &str, configuration: String, wasm: &WasmOptions<'_>) -> Value {
    json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": { "http_protocol_options": {} },
            "http_filters": [
                wasm_filter(backend, configuration, wasm),
                {
                    "name": "envoy.filters.http.upstream_codec",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
                    }
                }
            ]
        }
    })
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
        "typed_extension_protocol_options": ai_protocol_options(
            &backend.filter.backend,
            serde_json::to_string(&backend.filter).unwrap_or_default(),
            wasm,
        )
    });
    if let Some(socket) = upstream_transport_socket(up, ca_bundle) {
        set_member(&mut cluster, "transport_socket", socket);
    }
    cluster
}

/// The TLS transport socket to a provider; `None` when it is plaintext.
pub fn upstream_transport_socket(upstream: &Upstream, ca_bundle: &Path) -> Option<Value> {
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
                    "route_config": {
                        "name": name,
                        "virtual_hosts": virtual_hosts,
                        // A client must not be able to claim that the route
                        // rewrote the path (the filter would then keep the
                        // client's path, with the provider's credentials).
                        // Removed first, so a route's own marker survives.
                        "request_headers_to_remove": [super::routes::PATH_REWRITTEN_HEADER],
                        "most_specific_header_mutations_wins": true
                    },
                    "access_log": access_log(),
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
        "stats_config": {
            "stats_tags": stats_tags(),
            "histogram_bucket_settings": histogram_bucket_settings()
        },
        "static_resources": { "listeners": listeners, "clusters": clusters }
    })
}

/// A Service's cluster from known endpoints (EndpointSlices): STATIC when all
/// are IPs, STRICT_DNS otherwise. No endpoint ready: an empty cluster (503).
pub fn endpoints_cluster(name: &str, endpoints: &[(String, u16)]) -> Value {
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

/// Puts the routes into a listener built by `listener()`. With 10,000 routes
/// passing them through `json!` (which serializes its arguments: a deep copy)
/// cost a third of the translation; this moves them instead.
pub fn set_virtual_hosts(listener: &mut Value, virtual_hosts: Vec<Value>) {
    if let Some(route_config) =
        listener.pointer_mut("/filter_chains/0/filters/0/typed_config/route_config")
    {
        set_member(route_config, "virtual_hosts", Value::Array(virtual_hosts));
    }
}

/// Puts listeners and clusters into a bootstrap built by `bootstrap()`,
/// moving them (see `set_virtual_hosts`).
pub fn set_static_resources(bootstrap: &mut Value, listeners: Vec<Value>, clusters: Vec<Value>) {
    if let Some(resources) = bootstrap.get_mut("static_resources") {
        set_member(resources, "listeners", Value::Array(listeners));
        set_member(resources, "clusters", Value::Array(clusters));
    }
}

/// One HTTPS listener's server certificate (PEM). Debug never shows the key.
#[derive(Clone, PartialEq)]
pub struct ServerCertificate {
    pub chain: String,
    pub key: String,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerCertificate { .. }")
    }
}

/// One filter chain of an HTTPS port: the SNI names it answers (none: the
/// default chain), its certificates and its routes.
pub struct TlsChain {
    pub server_name: Option<String>,
    pub certificates: Vec<ServerCertificate>,
    pub virtual_hosts: Vec<Value>,
}

/// An HTTPS port: `listener()`'s HTTP connection manager (so access logging and
/// everything else stay the same) in one TLS filter chain per SNI name.
pub fn tls_listener(name: &str, bind: &str, port: u16, chains: Vec<TlsChain>) -> Value {
    let mut out = listener(name, bind, port, Vec::new());
    let filter_chains: Vec<Value> = chains
        .into_iter()
        .map(|chain| {
            let route_config_name = match &chain.server_name {
                Some(sni) => format!("{name}_{sni}"),
                None => format!("{name}_default"),
            };
            let mut built = listener(name, bind, port, Vec::new());
            set_virtual_hosts(&mut built, chain.virtual_hosts);
            let mut fc = built
                .pointer_mut("/filter_chains/0")
                .map(Value::take)
                .unwrap_or_default();
            if let Some(route_config) = fc.pointer_mut("/filters/0/typed_config/route_config") {
                set_member(route_config, "name", json!(route_config_name));
            }
            if let Some(sni) = &chain.server_name {
                set_member(&mut fc, "filter_chain_match", json!({ "server_names": [sni] }));
            }
            let certificates: Vec<Value> = chain
                .certificates
                .iter()
                .map(|c| {
                    json!({
                        "certificate_chain": { "inline_string": c.chain },
                        "private_key": { "inline_string": c.key }
                    })
                })
                .collect();
            let transport_socket = json!({
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {
                        "tls_certificates": certificates,
                        "alpn_protocols": ["h2", "http/1.1"]
                    }
                }
            });
            set_member(&mut fc, "transport_socket", transport_socket);
            fc
        })
        .collect();
    set_member(&mut out, "filter_chains", Value::Array(filter_chains));
    let listener_filters = json!([{
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
        }
    }]);
    set_member(&mut out, "listener_filters", listener_filters);
    out
}

/// The cluster a weighted rule sends the share of its unresolvable backendRefs
/// to. It leads to an Envoy internal listener that answers 500, so that share
/// gets exactly the Gateway API's 500 (an empty cluster would give 503).
pub const UNAVAILABLE_CLUSTER: &str = "llmgate_unavailable";

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

pub fn unavailable_listener(direct_response: Value) -> Value {
    json!({
        "name": UNAVAILABLE_CLUSTER,
        "internal_listener": {},
        "filter_chains": [{
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": UNAVAILABLE_CLUSTER,
                    "route_config": { "name": UNAVAILABLE_CLUSTER, "virtual_hosts": [{
                        "name": "any", "domains": ["*"],
                        "routes": [{ "match": { "prefix": "/" }, "direct_response": direct_response }]
                    }] },
                    "http_filters": [{
                        "name": "envoy.filters.http.router",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                            "suppress_envoy_headers": true
                        }
                    }]
                }
            }]
        }]
    })
}

/// Bootstrap extension that internal listeners need.
pub fn internal_listener_extension() -> Value {
    json!({
        "name": "envoy.bootstrap.internal_listener",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"
        }
    })
}
