//! Statuses written back to the cluster: the translator's `ObjectStatus`es
//! (pure data, no times) become status-subresource merge patches.
//!
//! [`plan`] is pure: it compares what the status should be with what the
//! object carries and returns only the patches that change something (a write
//! is a watch event for every controller watching the kind). It adds what the
//! translator cannot know: `observedGeneration` (the object's
//! `metadata.generation`) and `lastTransitionTime` (kept from the object when
//! a condition's status did not change). HTTPRoute parents and
//! BackendTLSPolicy and TrafficPolicy ancestors of other controllers are kept
//! as they are; only
//! entries whose `controllerName` is ours are replaced, and ours follow
//! theirs up to the Gateway API's 16 ancestors.

use std::collections::HashSet;
use std::sync::Arc;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::ResourceExt as _;
use serde_json::{json, Map, Value};

use super::snapshot::ClusterState;
use super::Kind;
use crate::json::set_member;
use crate::status::{Condition, ObjectStatus, ParentRef, Status, MAX_POLICY_ANCESTORS};

/// One status-subresource merge patch.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPatch {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// `{"metadata": {"resourceVersion"}, "status": {…}}`: the resourceVersion
    /// makes the patch conditional, so a parent entry another controller
    /// wrote since we read the object is never overwritten (409, and the
    /// watch event that follows brings a new plan).
    pub body: Value,
}

/// The patches that bring the cluster's statuses to `statuses`.
/// `our_gateways` are (namespace, name) of the Gateways llmgate serves: route
/// parent entries for any other parent are not ours to write.
pub fn plan(
    statuses: &[ObjectStatus],
    state: &ClusterState,
    our_gateways: &HashSet<(String, String)>,
    controller_name: &str,
    now: &str,
) -> Vec<StatusPatch> {
    let mut patches = Vec::new();
    for status in statuses {
        let (kind, objects) = match status.kind.as_str() {
            "GatewayClass" => (Kind::GatewayClass, &state.gateway_classes),
            "Gateway" => (Kind::Gateway, &state.gateways),
            "Backend" => (Kind::Backend, &state.backends),
            _ => continue,
        };
        let Some(object) = find(objects, &status.namespace, &status.name) else {
            continue;
        };
        if !owned(kind, object, our_gateways, controller_name) {
            continue;
        }
        let current = object.data.get("status").unwrap_or(&Value::Null);
        let generation = object.metadata.generation;
        let mut desired = Map::new();
        match &status.status {
            Status::Gateway {
                conditions,
                listeners,
            } => {
                desired.insert(
                    "conditions".into(),
                    conditions_json(conditions, &current["conditions"], generation, now),
                );
                let old_listeners = current["listeners"].as_array();
                let listeners = listeners
                    .iter()
                    .map(|l| {
                        let old = old_listeners
                            .into_iter()
                            .flatten()
                            .find(|o| o["name"] == l.name.as_str())
                            .map(|o| &o["conditions"])
                            .unwrap_or(&Value::Null);
                        json!({
                            "name": l.name,
                            "supportedKinds": l.supported_kinds,
                            "attachedRoutes": l.attached_routes,
                            "conditions": conditions_json(&l.conditions, old, generation, now),
                        })
                    })
                    .collect();
                desired.insert("listeners".into(), Value::Array(listeners));
            }
            Status::Conditions { conditions } => {
                desired.insert(
                    "conditions".into(),
                    conditions_json(conditions, &current["conditions"], generation, now),
                );
            }
            Status::Route { .. } | Status::Policy { .. } => continue,
        }
        let unchanged = desired.iter().all(|(k, v)| &current[k.as_str()] == v);
        if !unchanged {
            patches.push(patch(kind, object, Value::Object(desired)));
        }
    }

    for route in &state.http_routes {
        let namespace = route.namespace().unwrap_or_default();
        let name = route.name_any();
        let ours: Vec<_> = statuses
            .iter()
            .filter(|s| s.kind == "HTTPRoute" && s.namespace == namespace && s.name == name)
            .flat_map(|s| match &s.status {
                Status::Route { parents } => parents.as_slice(),
                _ => &[],
            })
            .filter(|p| {
                p.parent_ref.kind == "Gateway"
                    && our_gateways
                        .contains(&(p.parent_ref.namespace.clone(), p.parent_ref.name.clone()))
            })
            .collect();
        let current = route
            .data
            .pointer("/status/parents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let ours = ours
            .into_iter()
            .map(|p| (&p.parent_ref, p.conditions.as_slice()));
        let entries = Entries {
            ref_key: "parentRef",
            controller_name,
            generation: route.metadata.generation,
            now,
        };
        let merged = entries.merge(&current, ours, None);
        if merged != current {
            patches.push(patch(Kind::HttpRoute, route, json!({ "parents": merged })));
        }
    }

    for (kind, policies) in [
        (Kind::BackendTlsPolicy, &state.backend_tls_policies),
        (Kind::TrafficPolicy, &state.traffic_policies),
    ] {
        patches.extend(policy_patches(
            kind,
            policies,
            statuses,
            our_gateways,
            controller_name,
            now,
        ));
    }
    patches
}

/// Policy `status.ancestors`: our entries for the Gateways we serve (and
/// for the non-Gateway ancestors llmgate names when no Gateway applies).
fn policy_patches(
    kind: Kind,
    policies: &[Arc<DynamicObject>],
    statuses: &[ObjectStatus],
    our_gateways: &HashSet<(String, String)>,
    controller_name: &str,
    now: &str,
) -> Vec<StatusPatch> {
    let mut patches = Vec::new();
    for policy in policies {
        let namespace = policy.namespace().unwrap_or_default();
        let name = policy.name_any();
        let ours = statuses
            .iter()
            .filter(|s| s.kind == kind.name() && s.namespace == namespace && s.name == name)
            .flat_map(|s| match &s.status {
                Status::Policy { ancestors } => ancestors.as_slice(),
                _ => &[],
            })
            .filter(|a| {
                a.ancestor_ref.kind != "Gateway"
                    || our_gateways.contains(&(
                        a.ancestor_ref.namespace.clone(),
                        a.ancestor_ref.name.clone(),
                    ))
            })
            .map(|a| (&a.ancestor_ref, a.conditions.as_slice()));
        let current = policy
            .data
            .pointer("/status/ancestors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let entries = Entries {
            ref_key: "ancestorRef",
            controller_name,
            generation: policy.metadata.generation,
            now,
        };
        let merged = entries.merge(&current, ours, Some(MAX_POLICY_ANCESTORS));
        if merged != current {
            patches.push(patch(kind, policy, json!({ "ancestors": merged })));
        }
    }
    patches
}

/// A status list shared with other controllers: HTTPRoute `parents`,
/// policy `ancestors`; an entry's key is its ref and its `controllerName`.
struct Entries<'a> {
    /// `parentRef` or `ancestorRef`.
    ref_key: &'a str,
    controller_name: &'a str,
    generation: Option<i64>,
    now: &'a str,
}

impl Entries<'_> {
    /// Other controllers' entries stay where they are; ours follow them, at
    /// most `limit` entries in all.
    fn merge<'s>(
        &self,
        current: &[Value],
        ours: impl IntoIterator<Item = (&'s ParentRef, &'s [Condition])>,
        limit: Option<usize>,
    ) -> Vec<Value> {
        let is_ours = |entry: &Value| entry["controllerName"] == self.controller_name;
        let mut merged: Vec<Value> = current.iter().filter(|e| !is_ours(e)).cloned().collect();
        for (reference, conditions) in ours {
            if limit.is_some_and(|limit| merged.len() >= limit) {
                break;
            }
            let reference = serde_json::to_value(reference).unwrap_or_default();
            let old = current
                .iter()
                .find(|e| is_ours(e) && e[self.ref_key] == reference)
                .map(|e| &e["conditions"])
                .unwrap_or(&Value::Null);
            let mut entry = Map::new();
            entry.insert(self.ref_key.into(), reference);
            entry.insert("controllerName".into(), json!(self.controller_name));
            entry.insert(
                "conditions".into(),
                conditions_json(conditions, old, self.generation, self.now),
            );
            merged.push(Value::Object(entry));
        }
        merged
    }
}

fn find<'a>(
    objects: &'a [Arc<DynamicObject>],
    namespace: &str,
    name: &str,
) -> Option<&'a Arc<DynamicObject>> {
    objects
        .iter()
        .find(|o| o.namespace().unwrap_or_default() == namespace && o.name_any() == name)
}

/// Whether llmgate may write this object's status. Read from the raw object
/// (not the translator's view): statuses also come for objects the types
/// rejected.
fn owned(
    kind: Kind,
    object: &DynamicObject,
    our_gateways: &HashSet<(String, String)>,
    controller_name: &str,
) -> bool {
    match kind {
        Kind::GatewayClass => {
            object
                .data
                .pointer("/spec/controllerName")
                .and_then(Value::as_str)
                == Some(controller_name)
        }
        Kind::Gateway => {
            our_gateways.contains(&(object.namespace().unwrap_or_default(), object.name_any()))
        }
        // Backends have no controller field: llmgate is the one that reads them.
        Kind::Backend => true,
        Kind::HttpRoute | Kind::ReferenceGrant | Kind::BackendTlsPolicy | Kind::TrafficPolicy => {
            false
        }
    }
}

fn patch(kind: Kind, object: &DynamicObject, status: Value) -> StatusPatch {
    StatusPatch {
        kind,
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        body: json!({
            "metadata": { "resourceVersion": object.resource_version() },
            "status": status,
        }),
    }
}

/// `meta/v1 Condition`s: the translator's plus `observedGeneration` and a
/// `lastTransitionTime` that moves only when the status does.
pub fn conditions_json(
    conditions: &[Condition],
    old: &Value,
    generation: Option<i64>,
    now: &str,
) -> Value {
    let old = old.as_array();
    let items = conditions
        .iter()
        .map(|c| {
            let previous = old
                .into_iter()
                .flatten()
                .find(|o| o["type"] == c.type_.as_str());
            let since = match previous {
                Some(p)
                    if p["status"] == c.status.as_str() && p["lastTransitionTime"].is_string() =>
                {
                    p["lastTransitionTime"].clone()
                }
                _ => Value::String(now.to_string()),
            };
            let mut out = json!({
                "type": c.type_,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "lastTransitionTime": since,
            });
            if let Some(generation) = generation {
                set_member(&mut out, "observedGeneration", json!(generation));
            }
            out
        })
        .collect();
    Value::Array(items)
}

/// Applies `patches`; returns how many were written. A failed patch is logged
/// and left: the object's next change (or the next translation) plans it again.
pub async fn write(client: &kube::Client, patches: &[StatusPatch]) -> usize {
    let mut written = 0;
    for p in patches {
        let resource = p.kind.api_resource();
        let api: Api<DynamicObject> = if p.kind.namespaced() {
            Api::namespaced_with(client.clone(), &p.namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        match api
            .patch_status(&p.name, &PatchParams::default(), &Patch::Merge(&p.body))
            .await
        {
            Ok(_) => written += 1,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(kind = ?p.kind, namespace = %p.namespace, name = %p.name,
                    "status changed meanwhile; planned again on its watch event");
            }
            Err(e) => tracing::warn!(kind = ?p.kind, namespace = %p.namespace, name = %p.name,
                "cannot write status: {e}"),
        }
    }
    written
}
