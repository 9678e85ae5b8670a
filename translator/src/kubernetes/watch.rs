//! The watches: one reflector (list, then watch, restarted with backoff) per
//! kind, each store change a nudge to the translation loop; and the Secrets.
//!
//! Secrets are watched by metadata only (`PartialObjectMeta`): the API server
//! then sends names and resourceVersions, never values, so the controller
//! learns when a Secret changes without ever receiving the values of Secrets
//! it does not use. The referenced ones (Backend `secretRef`s, Gateway
//! `certificateRefs`) are fetched by name when their resourceVersion differs
//! from the copy held — a rotation is a metadata event, then one GET.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, store::Writer, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt as _};
use kube::{Client, Resource, ResourceExt as _};
use tokio::sync::Notify;

use super::snapshot::ClusterState;
use super::Kind;

/// The watched objects, readable at any time.
#[derive(Clone)]
pub struct Stores {
    pub gateway_classes: Store<DynamicObject>,
    pub gateways: Store<DynamicObject>,
    pub http_routes: Store<DynamicObject>,
    pub reference_grants: Store<DynamicObject>,
    pub backends: Store<DynamicObject>,
    pub services: Store<Service>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub namespaces: Store<Namespace>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
}

pub type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts nothing by itself: returns the stores and one future per watch,
/// which the caller runs (every store change calls `changed.notify_one()`).
/// `namespace` limits the namespaced kinds; GatewayClasses and Namespaces are
/// cluster-scoped and always watched whole.
pub fn stores(
    client: &Client,
    namespace: Option<&str>,
    changed: Arc<Notify>,
) -> (Stores, Vec<Driver>) {
    let mut drivers = Vec::new();
    let mut dynamic = |kind: Kind| {
        let resource = kind.api_resource();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if kind.namespaced() => Api::namespaced_with(client.clone(), ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        };
        let writer = Writer::new(resource);
        let store = writer.as_reader();
        drivers.push(drive(
            kind.name(),
            reflector::reflector(writer, watcher(api, watcher::Config::default())),
            changed.clone(),
        ));
        store
    };
    let gateway_classes = dynamic(Kind::GatewayClass);
    let gateways = dynamic(Kind::Gateway);
    let http_routes = dynamic(Kind::HttpRoute);
    let reference_grants = dynamic(Kind::ReferenceGrant);
    let backends = dynamic(Kind::Backend);

    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let (services, writer) = reflector::store();
    drivers.push(drive(
        "Service",
        reflector::reflector(
            writer,
            watcher(
                api::<Service>(client, namespace),
                watcher::Config::default(),
            ),
        ),
        changed.clone(),
    ));
    let (endpoint_slices, writer) = reflector::store();
    drivers.push(drive(
        "EndpointSlice",
        reflector::reflector(
            writer,
            watcher(
                api::<EndpointSlice>(client, namespace),
                watcher::Config::default(),
            ),
        ),
        changed.clone(),
    ));
    let (namespaces, writer) = reflector::store();
    drivers.push(drive(
        "Namespace",
        reflector::reflector(
            writer,
            watcher(
                Api::<Namespace>::all(client.clone()),
                watcher::Config::default(),
            ),
        ),
        changed.clone(),
    ));
    let (secrets, writer) = reflector::store();
    drivers.push(drive(
        "Secret",
        reflector::reflector(
            writer,
            // `Api<PartialObjectMeta<_>>` asks for metadata only.
            watcher(
                api::<PartialObjectMeta<Secret>>(client, namespace),
                watcher::Config::default(),
            ),
        ),
        changed,
    ));
    let stores = Stores {
        gateway_classes,
        gateways,
        http_routes,
        reference_grants,
        backends,
        services,
        endpoint_slices,
        namespaces,
        secrets,
    };
    (stores, drivers)
}

/// Runs one reflector forever: errors (the API server gone, a 410 Gone) are
/// logged and the watch restarts with kube's default backoff.
fn drive<S, K>(kind: &'static str, stream: S, changed: Arc<Notify>) -> Driver
where
    S: futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
    K: Send + 'static,
{
    Box::pin(async move {
        let mut stream = std::pin::pin!(stream.default_backoff());
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(e) => tracing::warn!("watch of {kind} objects: {e}"),
            }
        }
    })
}

impl Stores {
    /// Waits until every store has its first full list: translating earlier
    /// would publish a configuration missing whatever is not listed yet.
    pub async fn ready(&self) {
        let _ = futures::join!(
            self.gateway_classes.wait_until_ready(),
            self.gateways.wait_until_ready(),
            self.http_routes.wait_until_ready(),
            self.reference_grants.wait_until_ready(),
            self.backends.wait_until_ready(),
            self.services.wait_until_ready(),
            self.endpoint_slices.wait_until_ready(),
            self.namespaces.wait_until_ready(),
            self.secrets.wait_until_ready(),
        );
    }

    /// The cluster as watched, with the referenced Secrets from `secrets`.
    pub fn state(&self, secrets: &SecretCache) -> ClusterState {
        ClusterState {
            gateway_classes: self.gateway_classes.state(),
            gateways: self.gateways.state(),
            http_routes: self.http_routes.state(),
            reference_grants: self.reference_grants.state(),
            backends: self.backends.state(),
            services: self.services.state(),
            endpoint_slices: self.endpoint_slices.state(),
            namespaces: self.namespaces.state(),
            secrets: secrets.held.values().cloned().collect(),
        }
    }
}

/// The referenced Secrets' values; nothing else.
#[derive(Default)]
pub struct SecretCache {
    held: HashMap<(String, String), Secret>,
}

/// What to do for each referenced Secret: fetch the ones whose resourceVersion
/// (from the metadata watch) differs from the held copy's, drop the rest of
/// what is held when it is gone or no longer referenced. Pure.
pub fn secrets_to_fetch(
    referenced: &BTreeSet<(String, String)>,
    listed: impl Fn(&str, &str) -> Option<String>,
    held: impl Fn(&str, &str) -> Option<String>,
) -> Vec<(String, String)> {
    referenced
        .iter()
        .filter(|(ns, name)| match listed(ns, name) {
            None => false,
            Some(version) => held(ns, name).as_deref() != Some(version.as_str()),
        })
        .cloned()
        .collect()
}

impl SecretCache {
    /// Brings the held Secrets to `referenced`, fetching what changed. A
    /// failed GET keeps the old copy (a rotation retried on the next pass).
    pub async fn refresh(
        &mut self,
        client: &Client,
        listed: &Store<PartialObjectMeta<Secret>>,
        referenced: &BTreeSet<(String, String)>,
    ) {
        let version = |ns: &str, name: &str| {
            listed
                .get(&ObjectRef::new(name).within(ns))
                .and_then(|m| m.resource_version())
        };
        self.held.retain(|(ns, name), _| {
            referenced.contains(&(ns.clone(), name.clone())) && version(ns, name).is_some()
        });
        let fetch = secrets_to_fetch(referenced, version, |ns, name| {
            self.held
                .get(&(ns.to_string(), name.to_string()))
                .and_then(|s| s.resource_version())
        });
        for (ns, name) in fetch {
            match Api::<Secret>::namespaced(client.clone(), &ns)
                .get_opt(&name)
                .await
            {
                Ok(Some(secret)) => {
                    self.held.insert((ns, name), secret);
                }
                Ok(None) => {
                    self.held.remove(&(ns, name));
                }
                Err(e) => tracing::warn!("cannot read Secret {ns}/{name}: {e}"),
            }
        }
    }
}
