//! Listeners: one per port, an HTTP connection manager with the routes by
//! hostname; HTTPS ports with one TLS filter chain per SNI name.

use serde_json::{json, Value};

use super::address;
use super::cluster::UNAVAILABLE_CLUSTER;
use super::observability::access_log;
use super::route::route;
use crate::ir::{Chain, Listener, Protocol, VirtualHost};
use crate::json::set_member;

/// The request header that tells the llmgate filter the route rewrote the
/// path (URLRewrite) and the provider's default path must not replace it.
use llmgate_filter::config::PATH_REWRITTEN_HEADER;

/// Paths are made canonical before routing, and the upstream gets the same
/// path the routes matched: without this `/rw/../../v1/files` (or with
/// `%2e%2e`) matches the `/rw` route and reaches the provider as
/// `<rewritten prefix>/../../v1/files`, with the gateway's key. Envoy first
/// handles escaped slashes, then resolves `.`/`..` segments (RFC 3986, `%2e`
/// counts as `.`), then merges `//`.
const NORMALIZE_PATH: bool = true;
const MERGE_SLASHES: bool = true;
/// `%2F` / `%5C` in a path: 400. Unescaping would let `..%2F` become a dot
/// segment the route never saw decoded, or silently change which resource a
/// path names; no provider API llmgate serves has an encoded slash in a
/// client's path, so rejecting costs nothing and keeps the client's request
/// as the one that is forwarded or none at all.
const ESCAPED_SLASHES: &str = "REJECT_REQUEST";

/// `rate_limit_service`: the cluster Envoy's `ratelimit` filter asks
/// (global token budgets); without one the filter is left out.
pub fn listener(listener: Listener, rate_limit_service: Option<&str>) -> Value {
    let name = format!("gateway_{}", listener.port);
    match listener.protocol {
        Protocol::Http => {
            let hosts = listener
                .chains
                .into_iter()
                .next()
                .map(|c| c.virtual_hosts)
                .unwrap_or_default();
            let mut out = http_listener(&name, &listener.bind, listener.port, rate_limit_service);
            set_virtual_hosts(&mut out, virtual_hosts(hosts, listener.port, 80));
            out
        }
        Protocol::Https => tls_listener(
            &name,
            &listener.bind,
            listener.port,
            listener.chains,
            rate_limit_service,
        ),
    }
}

fn virtual_hosts(hosts: Vec<VirtualHost>, port: u16, well_known_port: u16) -> Vec<Value> {
    hosts
        .into_iter()
        .map(|host| {
            let routes: Vec<Value> = host
                .routes
                .into_iter()
                .map(|r| route(r, port, well_known_port))
                .collect();
            let name = if host.hostname == "*" {
                "any".to_string()
            } else {
                host.hostname.clone()
            };
            let mut vhost = serde_json::Map::new();
            vhost.insert("name".into(), json!(name));
            vhost.insert("domains".into(), json!([host.hostname]));
            // Moved, not through json! (which would copy every route).
            vhost.insert("routes".into(), Value::Array(routes));
            Value::Object(vhost)
        })
        .collect()
}

fn http_listener(name: &str, bind: &str, port: u16, rate_limit_service: Option<&str>) -> Value {
    let mut filters = vec![compressor(), local_rate_limit()];
    filters.extend(rate_limit_service.map(global_rate_limit));
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            // Providers need not learn about the gateway's internals.
            "suppress_envoy_headers": true
        }
    }));
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
                    "normalize_path": NORMALIZE_PATH,
                    "merge_slashes": MERGE_SLASHES,
                    "path_with_escaped_slashes_action": ESCAPED_SLASHES,
                    "route_config": {
                        "name": name,
                        "virtual_hosts": [],
                        // A client must not be able to claim that the route
                        // rewrote the path (the filter would then keep the
                        // client's path, with the provider's credentials).
                        // Removed first, so a route's own marker survives.
                        "request_headers_to_remove": [PATH_REWRITTEN_HEADER],
                        "most_specific_header_mutations_wins": true
                    },
                    "access_log": access_log(),
                    "http_filters": filters
                }
            }]
        }]
    })
}

/// Enforces the request limits routes carry (TrafficPolicy
/// `rateLimit.local`); without a bucket of its own it limits nothing else.
fn local_rate_limit() -> Value {
    json!({
        "name": super::route::LOCAL_RATE_LIMIT_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "llmgate_requests"
        }
    })
}

/// Global token budgets: the route's rate limits ask the control plane
/// before a request and charge the reply's tokens when the stream is done.
/// If the service cannot be reached the request goes through (a budget must
/// not take the gateway down with the control plane); Envoy counts it in
/// `ratelimit.failure_mode_allowed`.
fn global_rate_limit(cluster: &str) -> Value {
    json!({
        "name": super::route::GLOBAL_RATE_LIMIT_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            "domain": crate::ratelimit::descriptor::DOMAIN,
            "timeout": "0.500s",
            "failure_mode_deny": false,
            "rate_limit_service": {
                "grpc_service": { "envoy_grpc": { "cluster_name": cluster } },
                "transport_api_version": "V3"
            }
        }
    })
}

/// gzip towards clients that accept it. The llmgate filter removes
/// `accept-encoding` towards AI upstreams so it can read (count) and edit what
/// they answer; the compression happens here, after it. Envoy compresses each
/// data frame with a sync flush (all but the last), so every SSE event still
/// reaches the client as it comes. Responses that already have a
/// `content-encoding` (a non-AI upstream's own gzip) pass untouched.
fn compressor() -> Value {
    json!({
        "name": "envoy.filters.http.compressor",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor",
            "response_direction_config": {
                "common_config": {
                    // Envoy's default types, and SSE: the provider streams.
                    "content_type": [
                        "application/javascript",
                        "application/json",
                        "application/xhtml+xml",
                        "image/svg+xml",
                        "text/css",
                        "text/html",
                        "text/plain",
                        "text/xml",
                        "text/event-stream"
                    ]
                }
            },
            "compressor_library": {
                "name": "gzip",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip"
                }
            }
        }
    })
}

/// Puts the routes into a listener built by `http_listener()`. With 10,000
/// routes passing them through `json!` (which serializes its arguments: a
/// deep copy) cost a third of the translation; this moves them instead.
fn set_virtual_hosts(listener: &mut Value, virtual_hosts: Vec<Value>) {
    if let Some(route_config) =
        listener.pointer_mut("/filter_chains/0/filters/0/typed_config/route_config")
    {
        set_member(route_config, "virtual_hosts", Value::Array(virtual_hosts));
    }
}

/// An HTTPS port: `http_listener()`'s HTTP connection manager (so access
/// logging and everything else stay the same) in one TLS filter chain per
/// SNI name.
fn tls_listener(
    name: &str,
    bind: &str,
    port: u16,
    chains: Vec<Chain>,
    rate_limit_service: Option<&str>,
) -> Value {
    let mut out = http_listener(name, bind, port, rate_limit_service);
    let filter_chains: Vec<Value> = chains
        .into_iter()
        .map(|chain| {
            let route_config_name = match &chain.server_name {
                Some(sni) => format!("{name}_{sni}"),
                None => format!("{name}_default"),
            };
            let mut built = http_listener(name, bind, port, rate_limit_service);
            set_virtual_hosts(&mut built, virtual_hosts(chain.virtual_hosts, port, 443));
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

/// The internal listener behind `UNAVAILABLE_CLUSTER`: every request gets a 500.
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
                    "normalize_path": NORMALIZE_PATH,
                    "merge_slashes": MERGE_SLASHES,
                    "path_with_escaped_slashes_action": ESCAPED_SLASHES,
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
