//! Where resources come from. Each source produces a `Snapshot`; the
//! translator never does IO itself.

pub mod files;
pub mod yaml;

use gateway_api::backendtlspolicies::BackendTlsPolicy;
use gateway_api::gatewayclasses::GatewayClass;
use gateway_api::gateways::Gateway;
use gateway_api::httproutes::HttpRoute;
use gateway_api::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::backend::Backend;
use crate::problem::{ObjectRef, Origin};
use crate::traffic_policy::TrafficPolicy;

/// A resource with where it was read from and its resolved namespace.
#[derive(Debug, Clone)]
pub struct Object<T> {
    pub origin: Origin,
    pub namespace: String,
    pub name: String,
    pub value: T,
}

impl<T> Object<T> {
    pub fn object_ref(&self, kind: &str) -> ObjectRef {
        ObjectRef::new(kind, &self.namespace, &self.name)
    }
}

/// Everything the translator looks at, already parsed and typed.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub gateway_classes: Vec<Object<GatewayClass>>,
    pub gateways: Vec<Object<Gateway>>,
    pub http_routes: Vec<Object<HttpRoute>>,
    pub backends: Vec<Object<Backend>>,
    pub secrets: Vec<Object<Secret>>,
    pub services: Vec<Object<Service>>,
    pub endpoint_slices: Vec<Object<EndpointSlice>>,
    /// Cluster-scoped: only the name and labels matter (allowedRoutes selectors).
    pub namespaces: Vec<Object<Namespace>>,
    pub reference_grants: Vec<Object<ReferenceGrant>>,
    pub backend_tls_policies: Vec<Object<BackendTlsPolicy>>,
    pub traffic_policies: Vec<Object<TrafficPolicy>>,
    /// CA certificates of BackendTLSPolicies (`ca.crt`).
    pub config_maps: Vec<Object<ConfigMap>>,
    /// Secret values and inline tokens as read from every document, typed
    /// or not: what [`crate::redact`] keeps out of messages.
    pub sensitive: Vec<String>,
    /// (kind, namespace, name) → where it was first read: the loader's
    /// duplicate check, which a linear search made quadratic.
    pub(crate) seen: std::collections::HashMap<(String, String, String), Origin>,
    /// Keys defined again after `seen`, with where: left out at the end.
    pub(crate) duplicates: std::collections::HashMap<(String, String, String), Vec<Origin>>,
}

impl Snapshot {
    pub fn backend(&self, namespace: &str, name: &str) -> Option<&Object<Backend>> {
        self.backends
            .iter()
            .find(|b| b.namespace == namespace && b.name == name)
    }
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&Object<ConfigMap>> {
        self.config_maps
            .iter()
            .find(|c| c.namespace == namespace && c.name == name)
    }
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Object<Secret>> {
        self.secrets
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }
}
