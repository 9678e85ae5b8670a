//! The cluster's objects (as the watches hold them) → the translator's
//! `Snapshot`. Pure: the watches and Secret/ConfigMap fetching are in
//! `watch.rs`.
//!
//! Gateway API kinds and Backends are watched untyped (`DynamicObject`) and
//! typed here, one object at a time: a Backend the types reject (an unknown
//! field, a provider llmgate lacks) is then one object with a problem and an
//! `Accepted: False` status, instead of a watch that fails to decode and
//! takes every other object of its kind with it.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;
use kube::ResourceExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::{ObjectRef, Origin, Problem};
use crate::source::{Object, Snapshot};

/// Everything watched, as the stores hold it.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    pub gateway_classes: Vec<Arc<DynamicObject>>,
    pub gateways: Vec<Arc<DynamicObject>>,
    pub http_routes: Vec<Arc<DynamicObject>>,
    pub reference_grants: Vec<Arc<DynamicObject>>,
    /// Empty when the cluster lacks the BackendTLSPolicy CRD.
    pub backend_tls_policies: Vec<Arc<DynamicObject>>,
    pub backends: Vec<Arc<DynamicObject>>,
    /// Empty when the cluster lacks the TrafficPolicy CRD.
    pub traffic_policies: Vec<Arc<DynamicObject>>,
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub namespaces: Vec<Arc<Namespace>>,
    /// Only the referenced Secrets (see `watch::SecretCache`).
    pub secrets: Vec<Secret>,
    /// Only the ConfigMaps BackendTLSPolicies take CA certificates from.
    pub config_maps: Vec<ConfigMap>,
}

/// Where an object "was read from", for problems: there is no file.
pub fn origin(kind: &str, namespace: &str, name: &str) -> Origin {
    let path = if namespace.is_empty() {
        format!("kubernetes:{kind}/{name}")
    } else {
        format!("kubernetes:{kind}/{namespace}/{name}")
    };
    Origin {
        file: PathBuf::from(path),
        line: 0,
    }
}

/// The translator's input. Gateways whose GatewayClass is not llmgate's
/// (another controller's, or missing) are left out: in a cluster they belong
/// to someone else, so llmgate neither serves them nor writes their status.
/// Lists are sorted by namespace/name: the stores' order is a hash map's, and
/// the xDS version must not change when nothing did.
pub fn build(state: &ClusterState, controller_name: &str) -> (Snapshot, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut snapshot = Snapshot {
        gateway_classes: typed(&state.gateway_classes, "GatewayClass", &mut problems),
        gateways: typed(&state.gateways, "Gateway", &mut problems),
        http_routes: typed(&state.http_routes, "HTTPRoute", &mut problems),
        reference_grants: typed(&state.reference_grants, "ReferenceGrant", &mut problems),
        backend_tls_policies: typed(
            &state.backend_tls_policies,
            "BackendTLSPolicy",
            &mut problems,
        ),
        backends: typed(&state.backends, "Backend", &mut problems),
        traffic_policies: typed(&state.traffic_policies, "TrafficPolicy", &mut problems),
        services: core(state.services.iter().map(|s| s.as_ref()), "Service"),
        endpoint_slices: core(
            state.endpoint_slices.iter().map(|s| s.as_ref()),
            "EndpointSlice",
        ),
        namespaces: core(state.namespaces.iter().map(|n| n.as_ref()), "Namespace"),
        secrets: core(state.secrets.iter(), "Secret"),
        config_maps: core(state.config_maps.iter(), "ConfigMap"),
        ..Snapshot::default()
    };
    let ours: HashSet<String> = snapshot
        .gateway_classes
        .iter()
        .filter(|c| c.value.spec.controller_name == controller_name)
        .map(|c| c.name.clone())
        .collect();
    snapshot
        .gateways
        .retain(|g| ours.contains(&g.value.spec.gateway_class_name));
    // Inline tokens of Backends that could not be read are still keys.
    snapshot.sensitive = state
        .backends
        .iter()
        .filter_map(|b| serde_json::to_value(b.as_ref()).ok())
        .flat_map(|raw| crate::redact::sensitive_values(&raw))
        .collect();
    crate::redact::Redactor::of_snapshot(&snapshot).problems(&mut problems);
    (snapshot, problems)
}

fn typed<T: DeserializeOwned>(
    objects: &[Arc<DynamicObject>],
    kind: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Object<T>> {
    let mut out: Vec<Object<T>> = objects
        .iter()
        .filter_map(|object| {
            let namespace = object.namespace().unwrap_or_default();
            let name = object.name_any();
            let origin = origin(kind, &namespace, &name);
            // The DynamicObject serializes back to the object as the API
            // server sent it (apiVersion, kind, metadata and the rest).
            let value = match serde_json::to_value(object.as_ref()) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(Problem::error(e.to_string()).at(&origin));
                    return None;
                }
            };
            match serde_path_to_error::deserialize::<_, T>(value) {
                Ok(value) => Some(Object {
                    origin,
                    namespace,
                    name,
                    value,
                }),
                Err(e) => {
                    let field = e.path().to_string();
                    let message = crate::source::yaml::redact_quoted(&e.into_inner().to_string());
                    problems.push(
                        Problem::error(message)
                            .at(&origin)
                            .object(ObjectRef::new(kind, &namespace, &name))
                            .field(field),
                    );
                    None
                }
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

fn core<'a, T: kube::Resource + Clone + 'a>(
    objects: impl Iterator<Item = &'a T>,
    kind: &str,
) -> Vec<Object<T>> {
    let mut out: Vec<Object<T>> = objects
        .map(|object| {
            let namespace = object.namespace().unwrap_or_default();
            let name = object.name_any();
            Object {
                origin: origin(kind, &namespace, &name),
                namespace,
                name,
                value: object.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

/// (namespace, name) of every Secret a Backend or a Gateway refers to: the
/// only Secrets the controller reads. Read from the untyped objects so an
/// object the types reject still has its Secret ready once it is fixed.
pub fn referenced_secrets(
    gateways: &[Arc<DynamicObject>],
    backends: &[Arc<DynamicObject>],
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for backend in backends {
        let namespace = backend.namespace().unwrap_or_default();
        // Every provider's credentials (authToken, Bedrock's auth, …) name
        // their Secret as `secretRef: {name}` in the Backend's namespace.
        collect_secret_refs(&backend.data, &namespace, &mut out);
    }
    for gateway in gateways {
        let namespace = gateway.namespace().unwrap_or_default();
        let listeners = gateway
            .data
            .pointer("/spec/listeners")
            .and_then(Value::as_array);
        for listener in listeners.into_iter().flatten() {
            let refs = listener
                .pointer("/tls/certificateRefs")
                .and_then(Value::as_array);
            for r in refs.into_iter().flatten() {
                let group = r["group"].as_str().unwrap_or("");
                let kind = r["kind"].as_str().unwrap_or("Secret");
                let Some(name) = r["name"].as_str() else {
                    continue;
                };
                if matches!(group, "" | "core") && kind == "Secret" {
                    let ns = r["namespace"].as_str().unwrap_or(&namespace);
                    out.insert((ns.to_string(), name.to_string()));
                }
            }
        }
    }
    out
}

/// (namespace, name) of every ConfigMap a BackendTLSPolicy takes CA
/// certificates from (`caCertificateRefs` of group "" and kind ConfigMap, in
/// the policy's namespace): the only ConfigMaps the controller reads. Only
/// policies that target a Backend count: the others are another
/// controller's, and llmgate never uses their CAs. Untyped, as for Secrets.
pub fn referenced_config_maps(policies: &[Arc<DynamicObject>]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for policy in policies {
        let spec = policy.data.get("spec").unwrap_or(&Value::Null);
        let targets_a_backend = spec["targetRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["group"] == crate::translate::BACKEND_GROUP && r["kind"] == "Backend");
        if !targets_a_backend {
            continue;
        }
        let namespace = policy.namespace().unwrap_or_default();
        let refs = spec
            .pointer("/validation/caCertificateRefs")
            .and_then(Value::as_array);
        for r in refs.into_iter().flatten() {
            let group = r["group"].as_str().unwrap_or("");
            let (Some("ConfigMap"), Some(name)) = (r["kind"].as_str(), r["name"].as_str()) else {
                continue;
            };
            if matches!(group, "" | "core") {
                out.insert((namespace.clone(), name.to_string()));
            }
        }
    }
    out
}

fn collect_secret_refs(value: &Value, namespace: &str, out: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "secretRef" {
                    if let Some(name) = child["name"].as_str() {
                        out.insert((namespace.to_string(), name.to_string()));
                    }
                }
                collect_secret_refs(child, namespace, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_secret_refs(item, namespace, out);
            }
        }
        _ => {}
    }
}
