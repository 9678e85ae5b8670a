//! The one place that writes Envoy v3 configuration (proto3 JSON): the
//! translator's `ir::Config` becomes a bootstrap with static resources (xDS
//! serves the same listeners and clusters), and `xds_bootstrap` is the
//! bootstrap of an Envoy that takes them from `llmgate serve`.

pub mod cluster;
pub mod credentials;
pub mod listener;
pub mod observability;
pub mod route;
pub mod xds_bootstrap;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::ir::Config;
use crate::json::set_member;
pub use observability::{stats_tags, FILTER_LABELS};

/// The bootstrap for a whole configuration.
pub fn bootstrap(config: Config) -> Value {
    let ai = cluster::AiContext {
        wasm: &config.wasm,
        ca_bundle: &config.ca_bundle,
        secrets: config.secrets,
    };
    let mut clusters: BTreeMap<String, Value> = config
        .clusters
        .iter()
        .map(|c| (c.name().to_owned(), cluster::cluster(c, &ai)))
        .collect();
    let secrets = credentials::secrets(config.clusters.iter().flat_map(cluster_secrets));
    let rate_limit_service = config.rate_limit_service.as_deref();
    let mut listeners: Vec<Value> = config
        .listeners
        .into_iter()
        .map(|l| listener::listener(l, rate_limit_service))
        .collect();
    if config.uses_unavailable {
        listeners.push(listener::unavailable_listener(route::not_ready_response(
            "a backendRef of this rule cannot be resolved",
        )));
        clusters.insert(
            cluster::UNAVAILABLE_CLUSTER.into(),
            cluster::unavailable_cluster(),
        );
    }
    let mut out = base_bootstrap(config.admin_port);
    if let Some(resources) = out.get_mut("static_resources") {
        set_member(resources, "listeners", Value::Array(listeners));
        set_member(
            resources,
            "clusters",
            Value::Array(clusters.into_values().collect()),
        );
        // Over ADS they are served as SDS resources from here.
        if !secrets.is_empty() {
            set_member(resources, "secrets", Value::Array(secrets));
        }
    }
    if config.uses_unavailable {
        set_member(
            &mut out,
            "bootstrap_extensions",
            json!([internal_listener_extension()]),
        );
    }
    out
}

/// The keys a cluster's providers use.
fn cluster_secrets(cluster: &crate::ir::Cluster) -> Vec<&crate::ir::SdsSecret> {
    match cluster {
        crate::ir::Cluster::Ai { provider, .. } => provider
            .credential
            .secrets()
            .into_iter()
            .chain(provider.guard_keys.iter().map(|(_, key)| key))
            .collect(),
        crate::ir::Cluster::PriorityGroups { groups, .. } => groups
            .members
            .iter()
            .flat_map(|m| {
                m.resolved
                    .credential
                    .secrets()
                    .into_iter()
                    .chain(m.resolved.guard_keys.iter().map(|(_, key)| key))
            })
            .collect(),
        crate::ir::Cluster::Service { .. }
        | crate::ir::Cluster::Endpoints { .. }
        | crate::ir::Cluster::Guard { .. } => Vec::new(),
    }
}

/// Node identity, admin on 127.0.0.1 and the filter's stats tags; no
/// resources yet.
fn base_bootstrap(admin_port: u16) -> Value {
    json!({
        "node": { "id": "llmgate", "cluster": "llmgate" },
        "admin": { "address": address("127.0.0.1", admin_port) },
        "stats_config": {
            "stats_tags": stats_tags(),
            "histogram_bucket_settings": observability::histogram_bucket_settings()
        },
        "static_resources": { "listeners": [], "clusters": [] }
    })
}

/// Milliseconds as Envoy's JSON duration, `N.NNNs`.
fn duration_ms(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

fn address(host: &str, port: u16) -> Value {
    json!({ "socket_address": { "address": host, "port_value": port } })
}

/// Bootstrap extension that internal listeners need.
fn internal_listener_extension() -> Value {
    json!({
        "name": "envoy.bootstrap.internal_listener",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"
        }
    })
}
