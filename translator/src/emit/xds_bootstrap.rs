//! The bootstrap of an Envoy that takes its listeners and clusters from
//! `llmgate serve` over ADS, through one static cluster.

use serde_json::{json, Value};

use super::{base_bootstrap, cluster::service_cluster, internal_listener_extension};
use crate::json::set_member;

/// `xds_cluster`: the static cluster (mutual TLS with the credentials in
/// `tls` on Envoy's machine, plaintext without) to the control plane, at
/// `xds_host:xds_port`.
pub fn xds_bootstrap(
    xds_cluster: &str,
    xds_host: &str,
    xds_port: u16,
    node_id: &str,
    admin_port: u16,
    tls: Option<&std::path::Path>,
) -> Value {
    let ads = json!({ "ads": {}, "resource_api_version": "V3" });
    let mut xds = service_cluster(xds_cluster, xds_host, xds_port);
    set_member(&mut xds, "connect_timeout", json!("1s"));
    // gRPC needs HTTP/2.
    let http2 = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": { "http2_protocol_options": {} }
        }
    });
    set_member(&mut xds, "typed_extension_protocol_options", http2);
    if let Some(dir) = tls {
        set_member(
            &mut xds,
            "transport_socket",
            xds_transport_socket(xds_host, dir),
        );
    }
    let mut out = base_bootstrap(admin_port);
    if let Some(resources) = out.get_mut("static_resources") {
        set_member(resources, "clusters", json!([xds]));
    }
    let node = json!({ "id": node_id, "cluster": "llmgate" });
    set_member(&mut out, "node", node);
    // Any configuration may bring the internal listener that answers 500 for
    // unavailable backends; its extension can only come with the bootstrap.
    let extensions = json!([internal_listener_extension()]);
    set_member(&mut out, "bootstrap_extensions", extensions);
    let dynamic_resources = json!({
        "ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{ "envoy_grpc": { "cluster_name": xds_cluster } }],
            "set_node_on_first_message_only": true
        },
        "cds_config": ads,
        "lds_config": ads
    });
    set_member(&mut out, "dynamic_resources", dynamic_resources);
    out
}

/// Envoy's side of the control plane's mutual TLS: its client certificate,
/// and the server's verified against the CA and the name Envoy dials.
fn xds_transport_socket(host: &str, dir: &std::path::Path) -> Value {
    use crate::xds::tls::{CA_FILE, CERT_FILE, KEY_FILE};
    let file = |name: &str| json!({ "filename": dir.join(name).display().to_string() });
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let san_type = if is_ip { "IP_ADDRESS" } else { "DNS" };
    let mut context = json!({
        "common_tls_context": {
            "alpn_protocols": ["h2"],
            "tls_certificates": [{ "certificate_chain": file(CERT_FILE), "private_key": file(KEY_FILE) }],
            "validation_context": {
                "trusted_ca": file(CA_FILE),
                "match_typed_subject_alt_names": [{ "san_type": san_type, "matcher": { "exact": host } }]
            }
        }
    });
    if !is_ip {
        set_member(&mut context, "sni", json!(host));
    }
    set_member(
        &mut context,
        "@type",
        json!("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"),
    );
    json!({ "name": "envoy.transport_sockets.tls", "typed_config": context })
}
