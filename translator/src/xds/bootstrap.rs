//! The Envoy bootstrap for xDS mode: node identity, admin, stats tags (they
//! are bootstrap-only), ADS for clusters and listeners, and where to fetch the
//! filter module from.

use serde_json::{json, Value};

use crate::translate::envoy;

pub const XDS_CLUSTER: &str = "llmgate_xds";
/// The cluster Envoy fetches `code.remote` wasm through: it must exist before
/// any xDS resource that uses the filter arrives, so it is static.
pub const FILTER_CLUSTER: &str = "llmgate_filter_server";

#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub xds_host: String,
    pub xds_port: u16,
    pub filter_host: String,
    pub filter_port: u16,
    pub node_id: String,
    pub admin_port: u16,
}

pub fn bootstrap(o: &BootstrapOptions) -> Value {
    let ads = json!({ "ads": {}, "resource_api_version": "V3" });
    let mut xds = envoy::service_cluster(XDS_CLUSTER, &o.xds_host, o.xds_port);
    xds["connect_timeout"] = json!("1s");
    // gRPC needs HTTP/2.
    xds["typed_extension_protocol_options"] = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": { "http2_protocol_options": {} }
        }
    });
    let filter = envoy::service_cluster(FILTER_CLUSTER, &o.filter_host, o.filter_port);
    let mut out = envoy::bootstrap(o.admin_port, Vec::new(), vec![xds, filter]);
    out["node"] = json!({ "id": o.node_id, "cluster": "llmgate" });
    out["dynamic_resources"] = json!({
        "ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{ "envoy_grpc": { "cluster_name": XDS_CLUSTER } }],
            "set_node_on_first_message_only": true
        },
        "cds_config": ads,
        "lds_config": ads
    });
    out
}
