//! A route table belongs to a route rule, but the filter's configuration
//! belongs to a cluster: a rule with a table sends its AI backendRefs to a
//! copy of the Backend's cluster whose filter configuration (every provider's,
//! for priority groups) carries the table. Rules with the same Backend and
//! table share one copy; the Backend's own cluster stays as it is for the
//! rules without one.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use super::names;
use super::traffic_policies::Table;
use crate::ir::Cluster;

/// The copy of AI cluster `base` for `table`, created on first use. `None`
/// when `base` is not an AI Backend's cluster (nothing to carry the table).
pub fn copy_for(
    clusters: &mut BTreeMap<String, Cluster>,
    base: &str,
    table: &Table,
) -> Option<String> {
    let name = names::route_table_cluster(base, &digest(table));
    if clusters.contains_key(&name) {
        return Some(name);
    }
    let mut copy = clusters.get(base)?.clone();
    match &mut copy {
        Cluster::Ai {
            name: copy_name,
            provider,
        } => {
            copy_name.clone_from(&name);
            provider.filter.routes.clone_from(table);
        }
        Cluster::PriorityGroups {
            name: copy_name,
            groups,
            ..
        } => {
            copy_name.clone_from(&name);
            for member in &mut groups.members {
                member.resolved.filter.routes.clone_from(table);
            }
        }
        Cluster::Service { .. } | Cluster::Endpoints { .. } => return None,
    }
    clusters.insert(name.clone(), copy);
    Some(name)
}

/// 128 bits of the table's SHA-256, hex: stable across translations, so an
/// unchanged table keeps its cluster (no drain on every update).
fn digest(table: &Table) -> String {
    let mut hash = Sha256::new();
    for rule in table {
        // Length-prefixed: no two tables hash the same input.
        hash.update((rule.suffix.len() as u64).to_be_bytes());
        hash.update(rule.suffix.as_bytes());
        hash.update(rule.route_type.name().as_bytes());
        hash.update([0]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
