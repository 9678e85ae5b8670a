//! The Envoy bootstrap for xDS mode: node identity, admin, stats tags (they
//! are bootstrap-only), ADS for clusters and listeners. The filter module is
//! fetched from the same address as xDS, through the same cluster, so the two
//! cannot disagree.

use serde_json::Value;

use crate::ir::FilterCode;

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

pub fn bootstrap(o: &BootstrapOptions) -> Value {
    crate::emit::xds_bootstrap::xds_bootstrap(
        XDS_CLUSTER,
        &o.xds_host,
        o.xds_port,
        &o.node_id,
        o.admin_port,
        o.tls.as_deref(),
    )
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
