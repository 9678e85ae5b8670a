//! The watches: one reflector (list, then watch, restarted with backoff) per
//! kind, each store change a nudge to the translation loop; and the Secrets
//! and ConfigMaps.
//!
//! Secrets are watched by metadata only (`PartialObjectMeta`): the API server
//! then sends names and resourceVersions, never values, so the controller
//! learns when a Secret changes without ever receiving the values of Secrets
//! it does not use. The referenced ones (Backend `secretRef`s, Gateway
//! `certificateRefs`) are fetched by name when their resourceVersion differs
//! from the copy held — a rotation is a metadata event, then one GET.
//! ConfigMaps the same way, for the CA certificates BackendTLSPolicies name:
//! a cluster has many ConfigMaps, llmgate needs a few.
//!
//! BackendTLSPolicy is v1 only from Gateway API 1.4 on, and TrafficPolicy's
//! CRD is installed on its own (`manifests/crds/trafficpolicy.yaml`). Where
//! a CRD is missing, the list answers 404: the policies are then an empty set
//! (ready, so translation is not held up) and the CRD is looked for again
//! every `MISSING_CRD_RECHECK`.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, store::Writer, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt as _};
use kube::{Client, Resource, ResourceExt as _};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::snapshot::ClusterState;
use super::Kind;

/// How often a missing policy CRD is looked for again: Gateway API upgraded
/// to 1.4 later (or the TrafficPolicy CRD applied later) is then picked up
/// without restarting the controller, for one failed list per interval
/// meanwhile.
pub const MISSING_CRD_RECHECK: Duration = Duration::from_secs(300);

/// The watched objects, readable at any time.
#[derive(Clone)]
pub struct Stores {
    pub gateway_classes: Store<DynamicObject>,
    pub gateways: Store<DynamicObject>,
    pub http_routes: Store<DynamicObject>,
    pub reference_grants: Store<DynamicObject>,
    pub backend_tls_policies: Store<DynamicObject>,
    pub backends: Store<DynamicObject>,
    pub traffic_policies: Store<DynamicObject>,
    pub services: Store<Service>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub namespaces: Store<Namespace>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
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
        let if_missing = match kind {
            Kind::BackendTlsPolicy => {
                Some("upstream TLS uses the defaults (Gateway API older than v1.4?)")
            }
            Kind::TrafficPolicy => Some("AI routes use the built-in route types"),
            _ => None,
        };
        drivers.push(match if_missing {
            Some(consequence) => {
                drive_unless_missing(kind.name(), api, writer, changed.clone(), consequence)
            }
            None => drive(
                kind.name(),
                reflector::reflector(writer, watcher(api, watcher::Config::default())),
                changed.clone(),
            ),
        });
        store
    };
    let gateway_classes = dynamic(Kind::GatewayClass);
    let gateways = dynamic(Kind::Gateway);
    let http_routes = dynamic(Kind::HttpRoute);
    let reference_grants = dynamic(Kind::ReferenceGrant);
    let backend_tls_policies = dynamic(Kind::BackendTlsPolicy);
    let backends = dynamic(Kind::Backend);
    let traffic_policies = dynamic(Kind::TrafficPolicy);

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
        changed.clone(),
    ));
    let (config_maps, writer) = reflector::store();
    drivers.push(drive(
        "ConfigMap",
        reflector::reflector(
            writer,
            watcher(
                api::<PartialObjectMeta<ConfigMap>>(client, namespace),
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
        backend_tls_policies,
        backends,
        traffic_policies,
        services,
        endpoint_slices,
        namespaces,
        secrets,
        config_maps,
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

/// Like `drive`, for a kind whose CRD the cluster may lack: when the API
/// server answers 404, the store becomes an empty, ready set (and the loss is
/// logged once, with `consequence`), and the watch is tried again after
/// `MISSING_CRD_RECHECK`. A CRD deleted while watched ends the same way: the
/// watch restarts, its list answers 404.
fn drive_unless_missing(
    kind: &'static str,
    api: Api<DynamicObject>,
    mut writer: Writer<DynamicObject>,
    changed: Arc<Notify>,
    consequence: &'static str,
) -> Driver {
    Box::pin(async move {
        let mut missing = false;
        loop {
            let stream = watcher(api.clone(), watcher::Config::default()).default_backoff();
            let mut stream = std::pin::pin!(stream);
            let mut found_missing = false;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => {
                        if missing && matches!(event, watcher::Event::InitDone) {
                            tracing::info!("{kind} is installed now: watching it");
                            missing = false;
                        }
                        writer.apply_watcher_event(&event);
                        changed.notify_one();
                    }
                    Err(e) if not_installed(&e) => {
                        found_missing = true;
                        break;
                    }
                    Err(e) => tracing::warn!("watch of {kind} objects: {e}"),
                }
            }
            if found_missing {
                if !missing {
                    missing = true;
                    tracing::warn!(
                        "{kind} is not installed in the cluster: none apply, {consequence}; \
                         looking for it again every {}s",
                        MISSING_CRD_RECHECK.as_secs()
                    );
                    // An empty list: whatever was held goes, and the store is
                    // ready, which translation waits for.
                    writer.apply_watcher_event(&watcher::Event::Init);
                    writer.apply_watcher_event(&watcher::Event::InitDone);
                    changed.notify_one();
                }
                tokio::time::sleep(MISSING_CRD_RECHECK).await;
            }
        }
    })
}

/// Whether a watch failed because the API server does not serve the kind
/// (its CRD is not installed): 404, with or without a parseable Status.
pub fn not_installed(error: &watcher::Error) -> bool {
    let status = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => s,
        _ => return false,
    };
    status.code == 404 || status.is_not_found()
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
            // Ready once listed, or once known not to be installed.
            self.backend_tls_policies.wait_until_ready(),
            self.backends.wait_until_ready(),
            self.traffic_policies.wait_until_ready(),
            self.services.wait_until_ready(),
            self.endpoint_slices.wait_until_ready(),
            self.namespaces.wait_until_ready(),
            self.secrets.wait_until_ready(),
            self.config_maps.wait_until_ready(),
        );
    }

    /// The cluster as watched, with the referenced Secrets and ConfigMaps
    /// from the caches.
    pub fn state(&self, secrets: &SecretCache, config_maps: &ConfigMapCache) -> ClusterState {
        ClusterState {
            gateway_classes: self.gateway_classes.state(),
            gateways: self.gateways.state(),
            http_routes: self.http_routes.state(),
            reference_grants: self.reference_grants.state(),
            backend_tls_policies: self.backend_tls_policies.state(),
            backends: self.backends.state(),
            traffic_policies: self.traffic_policies.state(),
            services: self.services.state(),
            endpoint_slices: self.endpoint_slices.state(),
            namespaces: self.namespaces.state(),
            secrets: secrets.held.values().cloned().collect(),
            config_maps: config_maps.held.values().cloned().collect(),
        }
    }
}

/// The referenced objects of one kind, as last fetched; nothing else.
pub struct Fetched<K> {
    held: HashMap<(String, String), K>,
}

impl<K> Default for Fetched<K> {
    fn default() -> Self {
        Fetched {
            held: HashMap::new(),
        }
    }
}

/// The referenced Secrets' values.
pub type SecretCache = Fetched<Secret>;
/// The ConfigMaps BackendTLSPolicies take CA certificates from.
pub type ConfigMapCache = Fetched<ConfigMap>;

/// What to do for each referenced object: fetch the ones whose resourceVersion
/// (from the metadata watch) differs from the held copy's, drop the rest of
/// what is held when it is gone or no longer referenced. Pure.
pub fn to_fetch(
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

impl<K> Fetched<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    /// Brings the held objects to `referenced`, fetching what changed. A
    /// failed GET keeps the old copy (a rotation retried on the next pass).
    pub async fn refresh(
        &mut self,
        client: &Client,
        listed: &Store<PartialObjectMeta<K>>,
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
        let fetch = to_fetch(referenced, version, |ns, name| {
            self.held
                .get(&(ns.to_string(), name.to_string()))
                .and_then(|o| o.resource_version())
        });
        for (ns, name) in fetch {
            match Api::<K>::namespaced(client.clone(), &ns)
                .get_opt(&name)
                .await
            {
                Ok(Some(object)) => {
                    self.held.insert((ns, name), object);
                }
                Ok(None) => {
                    self.held.remove(&(ns, name));
                }
                Err(e) => tracing::warn!("cannot read {} {ns}/{name}: {e}", K::kind(&())),
            }
        }
    }
}
