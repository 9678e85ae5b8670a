//! The Envoy bootstrap for xDS mode: node identity, admin, stats tags (they
//! are bootstrap-only), ADS for clusters and listeners. The filter module is
//! fetched from the same address as xDS, through the same cluster, so the two
//! cannot disagree.

use serde_json::{json, Value};

use crate::translate::envoy::{self, set_member, FilterCode};

/// The control plane: ADS, and the `code.remote` wasm fetch (which must be
/// possible before any xDS resource that uses the filter arrives, so the
/// cluster is static).
pub const XDS_CLUSTER: &str = "llmgate_xds";

/// The filter as xDS-mode Envoys get it: fetched from the control plane
/// through `XDS_CLUSTER`, checked against its SHA-256. The URI's host is only
/// the request's authority; the cluster decides where it goes.
pub fn remote_filter(sha256: String) -> FilterCode {
    FilterCode::Remote {
        uri: format!("http://{XDS_CLUSTER}{}", crate::serve::FILTER_PATH),
        cluster: XDS_CLUSTER.to_string(),
        sha256,
    }
}

#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub xds_host: String,
    pub xds_port: u16,
    pub node_id: String,
    pub admin_port: u16,
    /// Mutual TLS to the control plane with the credentials in this folder
    /// on Envoy's machine (`ca.crt`, `tls.crt`, `tls.key`); plaintext when
    /// `None`.
    pub tls: Option<std::path::PathBuf>,
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

pub fn bootstrap(o: &BootstrapOptions) -> Value {
    let ads = json!({ "ads": {}, "resource_api_version": "V3" });
    let mut xds = envoy::service_cluster(XDS_CLUSTER, &o.xds_host, o.xds_port);
    set_member(&mut xds, "connect_timeout", json!("1s"));
    // gRPC needs HTTP/2.
    let http2 = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": { "http2_protocol_options": {} }
        }
    });
    set_member(&mut xds, "typed_extension_protocol_options", http2);
    if let Some(dir) = &o.tls {
        set_member(
            &mut xds,
            "transport_socket",
            xds_transport_socket(&o.xds_host, dir),
        );
    }
    let mut out = envoy::bootstrap(o.admin_port, Vec::new(), vec![xds]);
    let node = json!({ "id": o.node_id, "cluster": "llmgate" });
    set_member(&mut out, "node", node);
    // Any configuration may bring the internal listener that answers 500 for
    // unavailable backends; its extension can only come with the bootstrap.
    let extensions = json!([envoy::internal_listener_extension()]);
    set_member(&mut out, "bootstrap_extensions", extensions);
    let dynamic_resources = json!({
        "ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{ "envoy_grpc": { "cluster_name": XDS_CLUSTER } }],
            "set_node_on_first_message_only": true
        },
        "cds_config": ads,
        "lds_config": ads
    });
    set_member(&mut out, "dynamic_resources", dynamic_resources);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// manifests/deploy/30-envoy.yaml carries a bootstrap in a ConfigMap; it
    /// must be exactly what `llmgate bootstrap` prints for the in-cluster names.
    #[test]
    fn the_deploy_manifests_carry_the_current_bootstrap() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../manifests/deploy/30-envoy.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let configmap: Value = text
            .split("\n---\n")
            .map(|d| crate::yaml::from_str::<Value>(d).unwrap())
            .find(|d| d["kind"] == "ConfigMap")
            .unwrap();
        let in_manifest: Value =
            crate::yaml::from_str(configmap["data"]["bootstrap.yaml"].as_str().unwrap()).unwrap();
        let host = "llmgate-controller.llmgate-system.svc.cluster.local";
        let expected = bootstrap(&BootstrapOptions {
            xds_host: host.into(),
            xds_port: 18000,
            node_id: "llmgate-envoy".into(),
            admin_port: 19000,
            tls: Some("/etc/llmgate/xds-tls".into()),
        });
        assert!(
            in_manifest == expected,
            "manifests/deploy/30-envoy.yaml is stale: regenerate its bootstrap with the command in its header"
        );
    }
}
