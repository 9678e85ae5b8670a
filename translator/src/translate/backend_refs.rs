//! backendRefs (and RequestMirror refs) → Envoy clusters: AI Backends,
//! Services (EndpointSlices, cluster DNS or ExternalName), with ReferenceGrant
//! for other namespaces. A ref that cannot be resolved says why, with the
//! Gateway API reason for the route's ResolvedRefs condition.

use std::collections::{BTreeMap, HashMap};

use super::grants::{self, Grants};
use super::{Options, BACKEND_GROUP, GATEWAY_GROUP};
use crate::ir::Cluster;
use crate::source::{Object, Snapshot};
use crate::status::reason;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Why a ref cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefIssue {
    /// `BackendNotFound`, `RefNotPermitted` or `InvalidKind`.
    pub reason: &'static str,
    pub message: String,
}

/// A resolved ref: its cluster, and whether it is an AI Backend (the llmgate
/// filter runs on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub cluster: String,
    pub ai: bool,
    /// Retries that fail over through a Backend's priority groups (0: none).
    pub failover_retries: u32,
    /// An AI Backend's limit on request bodies.
    pub max_request_bytes: Option<u64>,
}

/// An AI Backend's cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiCluster {
    pub name: String,
    /// Priority groups after the first that have a ready provider.
    pub failover_retries: u32,
    /// The Backend's limit on request bodies (`request_limit`).
    pub max_request_bytes: u64,
}

/// The fields of a backendRef that name its target.
pub struct Ref<'r> {
    pub group: Option<&'r str>,
    pub kind: Option<&'r str>,
    pub name: &'r str,
    pub namespace: Option<&'r str>,
    pub port: Option<i32>,
}

/// A ref that passed the kind and permission checks.
enum Found<'r> {
    Backend(Resolved),
    Service {
        cluster: String,
        namespace: &'r str,
        port: u16,
    },
}

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub struct Resolver<'a> {
    options: &'a Options,
    grants: &'a Grants<'a>,
    /// AI Backends: cluster name, or why not ready.
    backends: HashMap<(&'a str, &'a str), Result<AiCluster, String>>,
    services: HashMap<(&'a str, &'a str), &'a Object<Service>>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a Object<EndpointSlice>>>,
    /// With no Service in the input at all, Services are assumed to exist
    /// (the short folder-mode examples); with some, a missing one is an error.
    services_known: bool,
    pub clusters: BTreeMap<String, Cluster>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        snapshot: &'a Snapshot,
        options: &'a Options,
        grants: &'a Grants<'a>,
        backends: HashMap<(&'a str, &'a str), Result<AiCluster, String>>,
        clusters: BTreeMap<String, Cluster>,
    ) -> Self {
        let services = snapshot
            .services
            .iter()
            .map(|s| ((s.namespace.as_str(), s.name.as_str()), s))
            .collect();
        let mut slices: HashMap<(&str, &str), Vec<&Object<EndpointSlice>>> = HashMap::new();
        for slice in &snapshot.endpoint_slices {
            if let Some(service) = slice
                .value
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            {
                slices
                    .entry((slice.namespace.as_str(), service.as_str()))
                    .or_default()
                    .push(slice);
            }
        }
        Resolver {
            options,
            grants,
            backends,
            services,
            slices,
            services_known: !snapshot.services.is_empty(),
            clusters,
        }
    }

    /// Resolves a ref made by the HTTPRoute in `route_namespace`, adding the
    /// Service's cluster to `clusters`.
    pub fn resolve(&mut self, route_namespace: &str, r: &Ref<'_>) -> Result<Resolved, RefIssue> {
        match self.find(route_namespace, r)? {
            Found::Backend(resolved) => Ok(resolved),
            Found::Service {
                cluster,
                namespace,
                port,
            } => {
                if !self.clusters.contains_key(&cluster) {
                    let built = self.service_cluster(&cluster, namespace, r.name, port)?;
                    self.clusters.insert(cluster.clone(), built);
                }
                Ok(Resolved {
                    cluster,
                    ai: false,
                    failover_retries: 0,
                    max_request_bytes: None,
                })
            }
        }
    }

    /// Whether the ref resolves, building nothing: for the ResolvedRefs
    /// condition of a route that attaches nowhere (and so is not served).
    pub fn check(&self, route_namespace: &str, r: &Ref<'_>) -> Result<(), RefIssue> {
        match self.find(route_namespace, r)? {
            Found::Backend(_) => Ok(()),
            Found::Service { cluster, .. } if self.clusters.contains_key(&cluster) => Ok(()),
            Found::Service {
                cluster,
                namespace,
                port,
            } => self
                .service_cluster(&cluster, namespace, r.name, port)
                .map(|_| ()),
        }
    }

    /// The cluster of a Service a TrafficPolicy in `policy_namespace` names
    /// (a prompt guard's webhook), built but not added; other namespaces
    /// need a ReferenceGrant from TrafficPolicies.
    pub fn policy_service(&self, policy_namespace: &str, r: &Ref<'_>) -> Result<Cluster, RefIssue> {
        let group = match r.group.unwrap_or("") {
            "core" => "",
            g => g,
        };
        let kind = r.kind.unwrap_or("Service");
        if !group.is_empty() || kind != "Service" {
            return Err(RefIssue {
                reason: reason::INVALID_KIND,
                message: format!("{kind} is not a kind a prompt guard can call (Service)"),
            });
        }
        let namespace = r.namespace.unwrap_or(policy_namespace);
        self.policy_permits(policy_namespace, "", "Service", namespace, r.name)?;
        let port = r
            .port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| RefIssue {
                reason: reason::BACKEND_NOT_FOUND,
                message: format!("Service {namespace}/{}: a port is required", r.name),
            })?;
        let cluster = super::names::service_cluster(namespace, r.name, port);
        self.service_cluster(&cluster, namespace, r.name, port)
    }

    /// The AI cluster of Backend `namespace/name` that a TrafficPolicy in
    /// `policy_namespace` names (a moderation guard's), if it is ready.
    pub fn policy_backend(
        &self,
        policy_namespace: &str,
        namespace: &str,
        name: &str,
    ) -> Result<&Cluster, RefIssue> {
        self.policy_permits(policy_namespace, BACKEND_GROUP, "Backend", namespace, name)?;
        let not_found = |message| RefIssue {
            reason: reason::BACKEND_NOT_FOUND,
            message,
        };
        match self.backends.get(&(namespace, name)) {
            Some(Ok(cluster)) => self
                .clusters
                .get(&cluster.name)
                .ok_or_else(|| not_found(format!("Backend {namespace}/{name} has no cluster"))),
            Some(Err(why)) => Err(not_found(format!(
                "Backend {namespace}/{name} is not ready ({})",
                why.split("; routes to this backend").next().unwrap_or(why)
            ))),
            None => Err(not_found(format!("Backend {namespace}/{name} not found"))),
        }
    }

    fn policy_permits(
        &self,
        policy_namespace: &str,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), RefIssue> {
        let permitted = self.grants.permits(
            &grants::From {
                group: BACKEND_GROUP,
                kind: "TrafficPolicy",
                namespace: policy_namespace,
            },
            &grants::To {
                group,
                kind,
                namespace,
                name,
            },
        );
        if permitted {
            return Ok(());
        }
        Err(RefIssue {
            reason: reason::REF_NOT_PERMITTED,
            message: format!("{kind} {namespace}/{name} is in another namespace and no ReferenceGrant there allows TrafficPolicies from {policy_namespace}"),
        })
    }

    /// Kind, ReferenceGrant and AI Backend checks; a Service's cluster is
    /// left to the caller.
    fn find<'r>(&self, route_namespace: &'r str, r: &Ref<'r>) -> Result<Found<'r>, RefIssue> {
        let group = match r.group.unwrap_or("") {
            "core" => "",
            g => g,
        };
        let kind = r.kind.unwrap_or("Service");
        let namespace = r.namespace.unwrap_or(route_namespace);
        let issue = |reason, message| Err(RefIssue { reason, message });
        let is_backend = group == BACKEND_GROUP && kind == "Backend";
        let is_service = group.is_empty() && kind == "Service";
        if !is_backend && !is_service {
            return issue(
                reason::INVALID_KIND,
                format!("{}{kind} is not a kind llmgate can route to (Service, {BACKEND_GROUP}/Backend)", if group.is_empty() { String::new() } else { format!("{group}/") }),
            );
        }
        let permitted = self.grants.permits(
            &grants::From {
                group: GATEWAY_GROUP,
                kind: "HTTPRoute",
                namespace: route_namespace,
            },
            &grants::To {
                group,
                kind,
                namespace,
                name: r.name,
            },
        );
        if !permitted {
            return issue(
                reason::REF_NOT_PERMITTED,
                format!("{kind} {namespace}/{} is in another namespace and no ReferenceGrant there allows HTTPRoutes from {route_namespace}", r.name),
            );
        }
        if is_backend {
            return match self.backends.get(&(namespace, r.name)) {
                Some(Ok(cluster)) => Ok(Found::Backend(Resolved {
                    cluster: cluster.name.clone(),
                    ai: true,
                    failover_retries: cluster.failover_retries,
                    max_request_bytes: Some(cluster.max_request_bytes),
                })),
                Some(Err(why)) => issue(
                    reason::BACKEND_NOT_FOUND,
                    format!(
                        "Backend {namespace}/{} is not ready ({})",
                        r.name,
                        why.split("; routes to this backend").next().unwrap_or(why)
                    ),
                ),
                None => issue(
                    reason::BACKEND_NOT_FOUND,
                    format!("Backend {namespace}/{} not found", r.name),
                ),
            };
        }
        let Some(port) = r
            .port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
        else {
            return issue(
                reason::BACKEND_NOT_FOUND,
                format!(
                    "Service {namespace}/{}: a Service backendRef needs a port",
                    r.name
                ),
            );
        };
        Ok(Found::Service {
            cluster: super::names::service_cluster(namespace, r.name, port),
            namespace,
            port,
        })
    }

    fn service_cluster(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
        port: u16,
    ) -> Result<Cluster, RefIssue> {
        let not_found = |message: String| RefIssue {
            reason: reason::BACKEND_NOT_FOUND,
            message,
        };
        let service = self.services.get(&(namespace, name));
        if service.is_none() && self.services_known {
            return Err(not_found(format!("Service {namespace}/{name} not found")));
        }
        let spec = service.and_then(|s| s.value.spec.as_ref());
        if let Some(external) = spec
            .filter(|s| s.type_.as_deref() == Some("ExternalName"))
            .and_then(|s| s.external_name.as_deref())
        {
            return Ok(Cluster::Service {
                name: cluster.to_owned(),
                host: external.to_owned(),
                port,
            });
        }
        // The Service port → its name → the EndpointSlice port of that name.
        let port_name = match spec.and_then(|s| s.ports.as_ref()) {
            Some(ports) => match ports.iter().find(|p| i64::from(p.port) == i64::from(port)) {
                Some(p) => Some(p.name.clone().unwrap_or_default()),
                None => {
                    return Err(not_found(format!(
                        "Service {namespace}/{name} has no port {port}"
                    )))
                }
            },
            None => None,
        };
        let Some(slices) = self.slices.get(&(namespace, name)) else {
            let host = format!("{name}.{namespace}.svc.{}", self.options.cluster_domain);
            return Ok(Cluster::Service {
                name: cluster.to_owned(),
                host,
                port,
            });
        };
        let mut endpoints = Vec::new();
        for slice in slices {
            let ports = slice.value.ports.as_deref().unwrap_or_default();
            let target = ports.iter().find(|p| match &port_name {
                Some(n) => p.name.as_deref().unwrap_or_default() == n,
                // No Service in the input: the slice port with the ref's number, or its only port.
                None => p.port == Some(i32::from(port)) || ports.len() == 1,
            });
            let Some(target_port) = target
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok())
            else {
                continue;
            };
            for endpoint in slice.value.endpoints.iter().flatten() {
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(true);
                if ready {
                    endpoints.extend(endpoint.addresses.iter().map(|a| (a.clone(), target_port)));
                }
            }
        }
        Ok(Cluster::Endpoints {
            name: cluster.to_owned(),
            endpoints,
        })
    }
}
