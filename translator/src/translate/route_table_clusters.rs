//! A TrafficPolicy's route table and AI policy belong to a route rule, but
//! the filter's configuration belongs to a cluster: such a rule sends its AI
//! backendRefs to a copy of the Backend's cluster whose filter configuration
//! (every provider's, for priority groups) carries them. Rules with the same
//! Backend and policy share one copy; the Backend's own cluster stays as it
//! is for the rules without one.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use super::ai_policy::Applied;
use super::names;
use crate::ir::Cluster;

/// The copy of AI cluster `base` for `applied`, created on first use. `None`
/// when `base` is not an AI Backend's cluster (nothing to carry it).
pub fn copy_for(
    clusters: &mut BTreeMap<String, Cluster>,
    base: &str,
    applied: &Applied,
) -> Option<String> {
    let name = names::route_table_cluster(base, &digest(applied));
    if clusters.contains_key(&name) {
        return Some(name);
    }
    let mut copy = clusters.get(base)?.clone();
    let keys = &applied.guard_needs.keys;
    match &mut copy {
        Cluster::Ai {
            name: copy_name,
            provider,
        } => {
            copy_name.clone_from(&name);
            provider.filter.routes.clone_from(&applied.routes);
            provider.filter.policy.clone_from(&applied.policy);
            provider.guard_keys.clone_from(keys);
        }
        Cluster::PriorityGroups {
            name: copy_name,
            groups,
            ..
        } => {
            copy_name.clone_from(&name);
            for member in &mut groups.members {
                member.resolved.filter.routes.clone_from(&applied.routes);
                member.resolved.filter.policy.clone_from(&applied.policy);
                member.resolved.guard_keys.clone_from(keys);
            }
        }
        Cluster::Service { .. } | Cluster::Endpoints { .. } | Cluster::Guard { .. } => return None,
    }
    clusters.insert(name.clone(), copy);
    // The guards' services, once each (policies may share one).
    for cluster in &applied.guard_needs.clusters {
        clusters
            .entry(cluster.name().to_owned())
            .or_insert_with(|| cluster.clone());
    }
    Some(name)
}

/// 128 bits of the SHA-256 of what the copy carries, hex: stable across
/// translations, so an unchanged policy keeps its cluster (no drain on
/// every update).
fn digest(applied: &Applied) -> String {
    let mut hash = Sha256::new();
    for rule in &applied.routes {
        // Length-prefixed: no two tables hash the same input.
        hash.update((rule.suffix.len() as u64).to_be_bytes());
        hash.update(rule.suffix.as_bytes());
        hash.update(rule.route_type.name().as_bytes());
        hash.update([0]);
    }
    if !applied.policy.is_empty() {
        // After the table's NUL-terminated rules: a policy's JSON (an
        // object) cannot be read as one.
        hash.update(serde_json::to_vec(&applied.policy).unwrap_or_default());
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
