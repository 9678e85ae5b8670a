//! The translator's resources (proto3 JSON, as in a bootstrap file) encoded as
//! the protobuf `Any`s that xDS carries. Encoding is also validation: a
//! resource Envoy's schema rejects fails here, before it reaches any Envoy.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use envoy_types::pb::google::protobuf::Any;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::Value;

/// Envoy's API as a protobuf descriptor set: the one envoy-types (pinned
/// exactly) generates its Rust types from, kept in the repository because the
/// crate does not export it (translator/descriptors/README.md).
static DESCRIPTORS: &[u8] = include_bytes!("../../descriptors/envoy.bin");

pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// SDS: the providers' keys (Envoy redacts them in its admin output).
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

pub(crate) fn pool() -> Result<&'static DescriptorPool, String> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(DESCRIPTORS).map_err(|e| format!("Envoy descriptors: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub name: String,
    pub any: Any,
}

/// One consistent configuration: every cluster, listener and secret, and a
/// version that changes exactly when their bytes do.
#[derive(Clone, PartialEq, Default)]
pub struct XdsSnapshot {
    pub version: String,
    pub clusters: Vec<Resource>,
    pub listeners: Vec<Resource>,
    pub secrets: Vec<Resource>,
}

// Hand-written: the secrets' bytes are keys.
impl std::fmt::Debug for XdsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |r: &[Resource]| r.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        f.debug_struct("XdsSnapshot")
            .field("version", &self.version)
            .field("clusters", &names(&self.clusters))
            .field("listeners", &names(&self.listeners))
            .field("secrets", &names(&self.secrets))
            .finish()
    }
}

impl XdsSnapshot {
    pub fn resources(&self, type_url: &str) -> &[Resource] {
        match type_url {
            CLUSTER => &self.clusters,
            LISTENER => &self.listeners,
            SECRET => &self.secrets,
            _ => &[],
        }
    }
}

/// Encodes one resource given as proto3 JSON.
pub fn encode(type_url: &str, json: &Value) -> Result<Any, String> {
    encode_text(type_url, &json.to_string())
}

/// Encodes one resource given as proto3 JSON text (parsing the text is faster
/// than walking a `Value`).
fn encode_text(type_url: &str, json: &str) -> Result<Any, String> {
    let type_name = type_url.rsplit('/').next().unwrap_or(type_url);
    let descriptor = pool()?
        .get_message_by_name(type_name)
        .ok_or_else(|| format!("unknown Envoy type {type_name}"))?;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let message =
        DynamicMessage::deserialize(descriptor, &mut deserializer).map_err(|e| e.to_string())?;
    Ok(Any {
        type_url: type_url.to_string(),
        value: message.encode_to_vec(),
    })
}

/// Encodes snapshots, re-encoding only the resources whose JSON changed since
/// the last one: a route edit leaves a thousand clusters as they were, and
/// encoding is the most expensive step of a push.
#[derive(Debug, Default)]
pub struct Encoder {
    cache: HashMap<(String, String), (u64, Any)>,
}

impl Encoder {
    /// The listeners and clusters of a translated bootstrap, as xDS resources.
    pub fn snapshot(&mut self, bootstrap: &Value) -> Result<XdsSnapshot, String> {
        let statics = &bootstrap["static_resources"];
        let mut version = DefaultHasher::new();
        let mut next = HashMap::new();
        let mut collect = |key: &str, type_url: &str| -> Result<Vec<Resource>, String> {
            let mut out = Vec::new();
            for json in statics[key].as_array().into_iter().flatten() {
                let name = json["name"].as_str().unwrap_or_default().to_string();
                // Hash the JSON (its maps are sorted), not the protobuf bytes:
                // protobuf map fields encode in no fixed order.
                let text = json.to_string();
                let mut hasher = DefaultHasher::new();
                text.hash(&mut hasher);
                let digest = hasher.finish();
                digest.hash(&mut version);
                let cache_key = (type_url.to_string(), name.clone());
                let any = match self.cache.get(&cache_key) {
                    Some((cached, any)) if *cached == digest => any.clone(),
                    _ => encode_text(type_url, &text).map_err(|e| format!("{key} {name}: {e}"))?,
                };
                next.insert(cache_key, (digest, any.clone()));
                out.push(Resource { name, any });
            }
            Ok(out)
        };
        let clusters = collect("clusters", CLUSTER)?;
        let listeners = collect("listeners", LISTENER)?;
        let secrets = collect("secrets", SECRET)?;
        // Only a snapshot that encoded completely replaces the cache.
        self.cache = next;
        Ok(XdsSnapshot {
            version: format!("{:016x}", version.finish()),
            clusters,
            listeners,
            secrets,
        })
    }
}

/// A one-off encoding (no cache).
pub fn snapshot_from_bootstrap(bootstrap: &Value) -> Result<XdsSnapshot, String> {
    Encoder::default().snapshot(bootstrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bootstrap(port: u64) -> Value {
        json!({ "static_resources": {
            "clusters": [{
                "name": "c", "type": "STATIC", "connect_timeout": "1s",
                "load_assignment": { "cluster_name": "c", "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                    "socket_address": { "address": "127.0.0.1", "port_value": port } } } }] }] }
            }],
            "listeners": [{ "name": "l", "address": { "socket_address": { "address": "127.0.0.1", "port_value": 8080 } } }]
        }})
    }

    #[test]
    fn encodes_resources_and_versions_by_content() {
        let a = snapshot_from_bootstrap(&bootstrap(1)).unwrap();
        assert_eq!(a.clusters.len(), 1);
        assert_eq!(a.listeners[0].name, "l");
        let decoded = envoy_types::pb::envoy::config::cluster::v3::Cluster::decode(
            a.clusters[0].any.value.as_slice(),
        )
        .unwrap();
        assert_eq!(decoded.name, "c");
        assert_eq!(
            snapshot_from_bootstrap(&bootstrap(1)).unwrap().version,
            a.version
        );
        assert_ne!(
            snapshot_from_bootstrap(&bootstrap(2)).unwrap().version,
            a.version
        );
    }

    #[test]
    fn the_encoder_reuses_unchanged_resources_and_gives_the_same_result() {
        let mut encoder = Encoder::default();
        let first = encoder.snapshot(&bootstrap(1)).unwrap();
        assert_eq!(encoder.snapshot(&bootstrap(1)).unwrap(), first);
        let changed = encoder.snapshot(&bootstrap(2)).unwrap();
        assert_eq!(changed, snapshot_from_bootstrap(&bootstrap(2)).unwrap());
        assert_ne!(changed.clusters, first.clusters);
        assert_eq!(changed.listeners, first.listeners);
    }

    #[test]
    fn what_envoy_would_reject_is_an_error_naming_the_resource() {
        let mut b = bootstrap(1);
        b["static_resources"]["clusters"][0]["connect_timeout"] = json!("soon");
        let err = snapshot_from_bootstrap(&b).unwrap_err();
        assert!(err.starts_with("clusters c: "), "{err}");
        b = bootstrap(1);
        b["static_resources"]["listeners"][0]["colour"] = json!("red");
        assert!(snapshot_from_bootstrap(&b)
            .unwrap_err()
            .contains("listeners l: "));
    }

    /// The descriptor copy and envoy-types' Rust types describe the same
    /// messages: what one encodes, the other decodes and re-encodes to the
    /// same bytes (a field the Rust types did not know would be dropped).
    #[test]
    fn descriptors_match_envoy_types() {
        use envoy_types::pb::envoy::config::cluster::v3::Cluster;
        use envoy_types::pb::envoy::config::listener::v3::Listener;
        use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
        fn round_trip<M: prost::Message + Default>(type_url: &str, json: Value) {
            let any = encode(type_url, &json).unwrap();
            let message = M::decode(any.value.as_slice()).unwrap();
            assert_eq!(message.encode_to_vec(), any.value, "{type_url}");
        }
        round_trip::<Cluster>(
            CLUSTER,
            json!({
                "name": "c", "type": "STRICT_DNS", "connect_timeout": "1.5s", "dns_lookup_family": "V4_ONLY",
                "outlier_detection": { "consecutive_5xx": 3, "base_ejection_time": "30s" },
                "load_assignment": { "cluster_name": "c", "endpoints": [{ "priority": 1, "lb_endpoints": [{
                    "endpoint": { "hostname": "h", "address": { "socket_address": { "address": "h", "port_value": 443 } } },
                    "metadata": { "filter_metadata": { "llmgate": { "provider": "p" } } } }] }] },
                "transport_socket_matches": [{ "name": "m", "match": { "p": "x" }, "transport_socket": {
                    "name": "envoy.transport_sockets.tls", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                        "sni": "h" } } }],
                "typed_extension_protocol_options": { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": { "http_protocol_options": {} },
                    "http_filters": [{ "name": "f", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } }] } }
            }),
        );
        let hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "s", "route_config": { "name": "r", "virtual_hosts": [{ "name": "v", "domains": ["*"],
                "routes": [{ "match": { "safe_regex": { "regex": "/a.*" } }, "route": { "cluster": "c", "timeout": "0s",
                    "retry_policy": { "retry_on": "5xx", "num_retries": 1 } } }] }] },
            "http_filters": [{ "name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }]
        });
        let mut bare_hcm = hcm.clone();
        bare_hcm.as_object_mut().unwrap().remove("@type");
        round_trip::<HttpConnectionManager>(
            "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            bare_hcm,
        );
        round_trip::<Listener>(
            LISTENER,
            json!({ "name": "l", "address": { "socket_address": { "address": "0.0.0.0", "port_value": 8080 } },
                "filter_chains": [{ "filters": [{ "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm }] }] }),
        );
    }
}
