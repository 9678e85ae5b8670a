//! The controller against kube's mock-service pattern: a `kube::Client` whose
//! HTTP side is `tower_test`'s mock, answered by [`FakeApi`] — a small
//! in-memory API server (list, long-polled watch, get, create/replace,
//! status merge patch with resourceVersion preconditions, kinds it can be told
//! not to serve) that records every write. Plus table tests of the pure parts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use kube::api::DynamicObject;
use kube::client::Body;
use serde_json::{json, Value};
use tokio::sync::watch as channel;

use super::leader::{decide, next_spec, Decision, LeaseOptions};
use super::snapshot::{self, ClusterState};
use super::status_writer::{self, StatusPatch};
use super::*;
use crate::status::{
    reason, Condition, ParentRef, PolicyAncestorStatus, RouteParentStatus, Status,
};

const OURS: &str = translate::DEFAULT_CONTROLLER_NAME;
const OTHER: &str = "example.com/other-controller";
/// Bound on every wait: generous for a loaded CI machine; a pass takes ms.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- fixtures

fn gateway_class(name: &str, controller: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": name, "generation": 1},
        "spec": {"controllerName": controller}})
}

fn gateway(name: &str, class: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default", "generation": 3},
        "spec": {"gatewayClassName": class,
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]}})
}

fn route(name: &str, prefix: &str, parents: &[&str]) -> Value {
    let parent_refs: Vec<Value> = parents.iter().map(|p| json!({"name": p})).collect();
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default", "generation": 7,
            "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"parentRefs": parent_refs,
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                "backendRefs": [{"name": "azure", "group": "gateway.kgateway.dev", "kind": "Backend"}]}]}})
}

fn backend() -> Value {
    json!({"apiVersion": "gateway.kgateway.dev/v1alpha1", "kind": "Backend",
        "metadata": {"name": "azure", "namespace": "default", "generation": 2},
        "spec": {"type": "AI", "ai": {"llm": {"azureopenai": {
            "endpoint": "my.openai.azure.com", "deploymentName": "gpt", "apiVersion": "2024-10-21",
            "authToken": {"kind": "SecretRef", "secretRef": {"name": "azure-key"}}}}}}})
}

fn secret(name: &str, token: &str) -> Value {
    let data = serde_json::to_value(ByteString(token.as_bytes().to_vec())).unwrap();
    json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"Authorization": data}})
}

/// Real certificates: the translator checks a CA before Envoy gets it.
fn ca_first() -> &'static str {
    static CA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CA.get_or_init(|| crate::validate::tls::test_certificate("first-ca"))
}
fn ca_rotated() -> &'static str {
    static CA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CA.get_or_init(|| crate::validate::tls::test_certificate("rotated-ca"))
}

/// An OpenAI-compatible server on port 8443 (plaintext unless a policy says
/// otherwise), routed at `/tls-route` from Gateway `gw`.
fn self_hosted() -> Vec<Value> {
    let mut to_it = route("tls", "/tls-route", &["gw"]);
    to_it["spec"]["rules"][0]["backendRefs"][0]["name"] = json!("self-hosted");
    vec![
        json!({"apiVersion": "gateway.kgateway.dev/v1alpha1", "kind": "Backend",
            "metadata": {"name": "self-hosted", "namespace": "default", "generation": 1},
            "spec": {"type": "AI", "ai": {"llm": {"host": "llm.internal", "port": 8443,
                "openai": {"authToken": {"kind": "Passthrough"}}}}}}),
        to_it,
    ]
}

fn tls_policy(config_map: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "self-hosted-tls", "namespace": "default", "generation": 1},
        "spec": {"targetRefs": [{"group": "gateway.kgateway.dev", "kind": "Backend", "name": "self-hosted"}],
            "validation": {"hostname": "llm.example.com",
                "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": config_map}]}}})
}

fn ca_config_map(name: &str, pem: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"ca.crt": pem}})
}

/// The other controller's parent entry, already on the route.
fn other_parent() -> Value {
    json!({"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
            "namespace": "default", "name": "theirs"},
        "controllerName": OTHER,
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
            "message": "theirs", "lastTransitionTime": "2024-01-01T00:00:00Z"}]})
}

fn cluster() -> Vec<Value> {
    let mut first = route("first", "/first-route", &["gw", "theirs"]);
    first["status"] = json!({"parents": [other_parent()]});
    vec![
        gateway_class("llmgate", OURS),
        gateway_class("other", OTHER),
        gateway("gw", "llmgate"),
        gateway("theirs", "other"),
        first,
        backend(),
        secret("azure-key", "sk-original"),
        secret("unrelated", "sk-not-ours"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
    ]
}

// ---------------------------------------------------------------- the fake API server

/// Where an object lives: its collection's plural and its namespace/name.
fn plural(kind: &str) -> &'static str {
    match kind {
        "GatewayClass" => "gatewayclasses",
        "Gateway" => "gateways",
        "HTTPRoute" => "httproutes",
        "ReferenceGrant" => "referencegrants",
        "Backend" => "backends",
        "Service" => "services",
        "EndpointSlice" => "endpointslices",
        "Namespace" => "namespaces",
        "Secret" => "secrets",
        "BackendTLSPolicy" => "backendtlspolicies",
        "TrafficPolicy" => "trafficpolicies",
        "ConfigMap" => "configmaps",
        "Lease" => "leases",
        other => panic!("fake API: unknown kind {other}"),
    }
}

#[derive(Default)]
struct FakeState {
    version: u64,
    /// plural → (namespace, name) → object.
    objects: BTreeMap<&'static str, BTreeMap<(String, String), Value>>,
    /// (resourceVersion, plural, type, object): what watches replay.
    events: Vec<(u64, &'static str, &'static str, Value)>,
    /// Every write: (method, path, body).
    writes: Vec<(Method, String, Value)>,
    /// Every single-object GET's path.
    gets: Vec<String>,
    /// Plurals answered 404, as for a CRD that is not installed.
    not_installed: BTreeSet<&'static str>,
    /// Every request answered so.
    not_found: Vec<String>,
}

#[derive(Clone)]
struct FakeApi {
    state: Arc<Mutex<FakeState>>,
    /// Bumped on every change, for long-polled watches.
    bumped: channel::Sender<u64>,
}

fn key(object: &Value) -> (String, String) {
    let meta = &object["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

fn status(code: StatusCode, reason: &str) -> Response<Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": reason, "message": reason, "code": code.as_u16()});
    Response::builder()
        .status(code)
        .body(Body::from(body.to_string().into_bytes()))
        .unwrap()
}

fn ok(body: &Value) -> Response<Body> {
    Response::new(Body::from(body.to_string().into_bytes()))
}

/// RFC 7386, enough for status patches.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (k, v) in fields {
                if v.is_null() {
                    target.as_object_mut().unwrap().remove(k);
                } else {
                    merge_patch(
                        target
                            .as_object_mut()
                            .unwrap()
                            .entry(k.clone())
                            .or_insert(Value::Null),
                        v,
                    );
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Only the metadata, as the API server answers `as=PartialObjectMetadata`.
fn metadata_only(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": object["metadata"]})
}

impl FakeApi {
    fn new(objects: Vec<Value>) -> Self {
        let (bumped, _) = channel::channel(0);
        let api = FakeApi {
            state: Arc::default(),
            bumped,
        };
        for object in objects {
            api.apply(object);
        }
        api
    }

    /// Creates or replaces an object (as `kubectl apply` would), with a new
    /// resourceVersion and a watch event.
    fn apply(&self, mut object: Value) {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        let version = state.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let plural = plural(object["kind"].as_str().unwrap());
        let existed = state
            .objects
            .entry(plural)
            .or_default()
            .insert(key(&object), object.clone())
            .is_some();
        let kind = if existed { "MODIFIED" } else { "ADDED" };
        state.events.push((version, plural, kind, object));
        drop(state);
        self.bumped.send_replace(version);
    }

    /// Answers every request for `plural` 404, as the API server does for a
    /// kind whose CRD is missing.
    fn without(self, plural: &'static str) -> Self {
        self.state.lock().unwrap().not_installed.insert(plural);
        self
    }

    fn writes(&self) -> Vec<(Method, String, Value)> {
        self.state.lock().unwrap().writes.clone()
    }

    /// Answers the client's requests until the test ends.
    fn serve(self, mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>) {
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let api = self.clone();
                // Each request on its own task: watches wait for changes.
                tokio::spawn(async move {
                    let response = api.answer(request).await;
                    respond.send_response(response);
                });
            }
        });
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: Value = {
            let bytes = body.collect_bytes().await.unwrap();
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        let path = parts.uri.path().to_string();
        let query: BTreeMap<String, String> = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let metadata = parts
            .headers
            .get("accept")
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("PartialObjectMetadata"));
        // /api/v1/… or /apis/GROUP/VERSION/…, then [namespaces/NS/]PLURAL[/NAME[/SUB]].
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let rest = if segments[0] == "api" {
            &segments[2..]
        } else {
            &segments[3..]
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, more @ ..] if !more.is_empty() => (Some(ns.to_string()), more),
            _ => (None, rest),
        };
        let plural: &'static str = plural_of(rest[0]);
        {
            let mut state = self.state.lock().unwrap();
            if state.not_installed.contains(plural) {
                state.not_found.push(path);
                let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": "the server could not find the requested resource"});
                return Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Body::from(body.to_string().into_bytes()))
                    .unwrap();
            }
        }
        let name = rest.get(1).map(|n| n.to_string());
        let subresource = rest.get(2).copied();
        match (parts.method.clone(), name) {
            (Method::GET, None) if query.get("watch").map(String::as_str) == Some("true") => {
                let since: u64 = query
                    .get("resourceVersion")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                self.watch(plural, namespace, since, metadata).await
            }
            (Method::GET, None) => {
                let state = self.state.lock().unwrap();
                let items: Vec<Value> = state
                    .objects
                    .get(plural)
                    .into_iter()
                    .flatten()
                    .filter(|((ns, _), _)| namespace.as_ref().is_none_or(|want| want == ns))
                    .map(|(_, o)| {
                        if metadata {
                            metadata_only(o)
                        } else {
                            o.clone()
                        }
                    })
                    .collect();
                ok(&json!({"apiVersion": "v1", "kind": "List",
                    "metadata": {"resourceVersion": state.version.to_string()}, "items": items}))
            }
            (Method::GET, Some(name)) => {
                let mut state = self.state.lock().unwrap();
                state.gets.push(path.clone());
                match state
                    .objects
                    .get(plural)
                    .and_then(|o| o.get(&(namespace.unwrap_or_default(), name)))
                {
                    Some(object) => ok(object),
                    None => status(StatusCode::NOT_FOUND, "NotFound"),
                }
            }
            (method @ (Method::POST | Method::PUT | Method::PATCH), name) => {
                self.write(method, &path, plural, namespace, name, subresource, body)
            }
            (method, _) => panic!("fake API: unexpected {method} {path}"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        method: Method,
        path: &str,
        plural: &'static str,
        namespace: Option<String>,
        name: Option<String>,
        subresource: Option<&str>,
        body: Value,
    ) -> Response<Body> {
        let mut state = self.state.lock().unwrap();
        state
            .writes
            .push((method.clone(), path.to_string(), body.clone()));
        let name = name
            .or_else(|| body["metadata"]["name"].as_str().map(str::to_string))
            .unwrap();
        let key = (namespace.unwrap_or_default(), name);
        let current = state.objects.get(plural).and_then(|o| o.get(&key)).cloned();
        let wanted_version = body["metadata"]["resourceVersion"].as_str();
        let next = match (&method, current) {
            (&Method::POST, Some(_)) => return status(StatusCode::CONFLICT, "AlreadyExists"),
            (&Method::POST, None) => body,
            (_, None) => return status(StatusCode::NOT_FOUND, "NotFound"),
            (_, Some(current)) => {
                if wanted_version
                    .is_some_and(|v| Some(v) != current["metadata"]["resourceVersion"].as_str())
                {
                    return status(StatusCode::CONFLICT, "Conflict");
                }
                if method == Method::PUT {
                    body
                } else {
                    // Only the status subresource is patched; its patch
                    // cannot change anything else.
                    assert_eq!(subresource, Some("status"), "{path}");
                    let mut next = current.clone();
                    merge_patch(&mut next["status"], &body["status"]);
                    next
                }
            }
        };
        state.version += 1;
        let version = state.version;
        let mut next = next;
        next["metadata"]["resourceVersion"] = json!(version.to_string());
        state
            .objects
            .entry(plural)
            .or_default()
            .insert(key, next.clone());
        state
            .events
            .push((version, plural, "MODIFIED", next.clone()));
        drop(state);
        self.bumped.send_replace(version);
        ok(&next)
    }

    /// A watch answers once there are events after `since`, with all of
    /// them, then ends: the watcher re-watches from the last one.
    async fn watch(
        &self,
        plural: &'static str,
        namespace: Option<String>,
        since: u64,
        metadata: bool,
    ) -> Response<Body> {
        let mut bumped = self.bumped.subscribe();
        loop {
            let lines: Vec<String> = {
                let state = self.state.lock().unwrap();
                state
                    .events
                    .iter()
                    .filter(|(v, p, _, o)| {
                        *v > since
                            && *p == plural
                            && namespace.as_ref().is_none_or(|ns| *ns == key(o).0)
                    })
                    .map(|(_, _, kind, o)| {
                        let object = if metadata {
                            metadata_only(o)
                        } else {
                            o.clone()
                        };
                        json!({"type": kind, "object": object}).to_string()
                    })
                    .collect()
            };
            if !lines.is_empty() {
                return ok_lines(&lines);
            }
            if bumped.changed().await.is_err() {
                return ok_lines(&[]);
            }
        }
    }
}

fn ok_lines(lines: &[String]) -> Response<Body> {
    let mut text = lines.join("\n");
    text.push('\n');
    Response::new(Body::from(text.into_bytes()))
}

fn plural_of(segment: &str) -> &'static str {
    [
        "gatewayclasses",
        "gateways",
        "httproutes",
        "referencegrants",
        "backends",
        "services",
        "endpointslices",
        "namespaces",
        "secrets",
        "backendtlspolicies",
        "trafficpolicies",
        "configmaps",
        "leases",
    ]
    .into_iter()
    .find(|p| *p == segment)
    .unwrap_or_else(|| panic!("fake API: unknown resource {segment}"))
}

// ---------------------------------------------------------------- the controller against the fake

struct Running {
    api: FakeApi,
    snapshots: channel::Receiver<Option<Arc<XdsSnapshot>>>,
}

fn options(identity: &str) -> ControllerOptions {
    ControllerOptions {
        endpoints: Endpoints {
            bind: [127, 0, 0, 1].into(),
            xds_port: 0,
            tls: None,
            redis: None,
        },
        translate: translate::Options::default(),
        namespace: None,
        lease: LeaseOptions::new(
            "llmgate-system".into(),
            "llmgate-controller".into(),
            identity.into(),
        ),
        debounce: Duration::from_millis(10),
        resync: Duration::from_secs(300),
    }
}

fn start(objects: Vec<Value>) -> Running {
    start_with(FakeApi::new(objects))
}

fn start_with(api: FakeApi) -> Running {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    api.clone().serve(handle);
    let client = kube::Client::new(service, "default");
    let (publish, snapshots) = channel::channel(None);
    tokio::spawn(async move {
        let options = options("replica-a");
        let result = run(client, &options, publish, Arc::new(Metrics::default())).await;
        panic!("the controller stopped: {result:?}");
    });
    Running { api, snapshots }
}

/// Whether any resource's protobuf bytes contain `needle` (strings are
/// encoded verbatim: route prefixes, the filter's JSON configuration).
fn mentions(snapshot: &XdsSnapshot, needle: &str) -> bool {
    snapshot
        .clusters
        .iter()
        .chain(&snapshot.listeners)
        .chain(&snapshot.secrets)
        .any(|r| contains(&r.any.value, needle))
}

fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Keys travel as SDS secrets only, never inside a cluster (whose filter
/// configuration Envoy's `/config_dump` shows).
fn only_in_secrets(snapshot: &XdsSnapshot, key: &str) -> bool {
    snapshot.secrets.iter().any(|r| contains(&r.any.value, key))
        && !snapshot
            .clusters
            .iter()
            .chain(&snapshot.listeners)
            .any(|r| contains(&r.any.value, key))
}

/// A cluster as Envoy receives it, decoded back to proto3 JSON with the
/// proto's field names.
fn cluster_json(snapshot: &XdsSnapshot, name: &str) -> Value {
    let pool = crate::xds::resources::pool().unwrap();
    let resource = snapshot
        .clusters
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cluster {name}"));
    let message = prost_reflect::DynamicMessage::decode(
        pool.get_message_by_name("envoy.config.cluster.v3.Cluster")
            .unwrap(),
        resource.any.value.as_slice(),
    )
    .unwrap();
    let options = prost_reflect::SerializeOptions::new().use_proto_field_name(true);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap()
}

/// The self-hosted Backend's trusted CA (`None`: no TLS, or not from a PEM).
fn trusted_ca(snapshot: &XdsSnapshot) -> Option<String> {
    let cluster = cluster_json(snapshot, "backend_default_self-hosted");
    cluster["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"]
        ["trusted_ca"]["inline_string"]
        .as_str()
        .map(str::to_string)
}

impl Running {
    async fn published(
        &mut self,
        what: &str,
        test: impl Fn(&XdsSnapshot) -> bool,
    ) -> Arc<XdsSnapshot> {
        let found = tokio::time::timeout(
            WAIT,
            self.snapshots
                .wait_for(|s| s.as_ref().is_some_and(|s| test(s))),
        )
        .await
        .unwrap_or_else(|_| panic!("no configuration with {what} within {WAIT:?}"))
        .unwrap();
        found.clone().unwrap()
    }

    async fn write_matching(
        &self,
        what: &str,
        test: impl Fn(&Method, &str, &Value) -> bool,
    ) -> Value {
        let mut bumped = self.api.bumped.subscribe();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                if let Some((_, _, body)) = self
                    .api
                    .writes()
                    .into_iter()
                    .find(|(m, p, b)| test(m, p, b))
                {
                    return body;
                }
                bumped.changed().await.unwrap();
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "no {what} within {WAIT:?}; writes: {:#?}",
                self.api.writes()
            )
        })
    }
}

#[tokio::test]
async fn lists_then_serves_and_follows_a_new_route() {
    let mut running = start(cluster());
    let first = running
        .published("the first route", |s| mentions(s, "/first-route"))
        .await;
    assert!(!mentions(&first, "/second-route"));
    // The Gateway of the other class is not served (port 8080 is ours only).
    assert_eq!(
        first.listeners.len(),
        1,
        "{:?}",
        first.listeners.iter().map(|l| &l.name).collect::<Vec<_>>()
    );

    running.api.apply(route("second", "/second-route", &["gw"]));
    let second = running
        .published("the second route", |s| mentions(s, "/second-route"))
        .await;
    assert!(mentions(&second, "/first-route"));
    assert_ne!(first.version, second.version);
}

#[tokio::test]
async fn a_rotated_secret_reaches_envoy_as_an_sds_secret() {
    let mut running = start(cluster());
    let before = running
        .published("the original key", |s| mentions(s, "sk-original"))
        .await;
    // Values of Secrets nobody references are never fetched, let alone served.
    assert!(!mentions(&before, "sk-not-ours"));

    running.api.apply(secret("azure-key", "sk-rotated"));
    let after = running
        .published("the rotated key", |s| mentions(s, "sk-rotated"))
        .await;
    assert!(!mentions(&after, "sk-original"));
    assert!(only_in_secrets(&before, "sk-original"));
    assert!(only_in_secrets(&after, "sk-rotated"));
    let gets = running.api.state.lock().unwrap().gets.clone();
    let secrets: BTreeSet<&str> = gets
        .iter()
        .filter(|p| p.contains("/secrets/"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        secrets,
        BTreeSet::from(["/api/v1/namespaces/default/secrets/azure-key"])
    );
}

#[tokio::test]
async fn a_backend_tls_policy_brings_tls_with_the_config_maps_ca_on_any_port() {
    let mut objects = cluster();
    objects.extend(self_hosted());
    objects.push(tls_policy("llm-ca"));
    objects.push(ca_config_map("llm-ca", ca_first()));
    objects.push(ca_config_map("unrelated", ca_rotated()));
    let mut running = start(objects);
    let served = running
        .published("the policy's CA", |s| {
            mentions(s, "/tls-route") && trusted_ca(s).is_some()
        })
        .await;
    let cluster = cluster_json(&served, "backend_default_self-hosted");
    let tls = &cluster["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "llm.example.com");
    assert_eq!(
        tls["common_tls_context"]["validation_context"]["trusted_ca"]["inline_string"],
        format!("{}\n", ca_first())
    );
    let address = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        ["address"]["socket_address"];
    assert_eq!(address["port_value"], 8443, "{cluster:#}");
    // Only the referenced ConfigMap is read.
    let gets = running.api.state.lock().unwrap().gets.clone();
    let config_maps: BTreeSet<&str> = gets
        .iter()
        .filter(|p| p.contains("/configmaps/"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        config_maps,
        BTreeSet::from(["/api/v1/namespaces/default/configmaps/llm-ca"])
    );
}

#[tokio::test]
async fn without_the_backend_tls_policy_crd_the_rest_is_still_served() {
    let mut objects = cluster();
    objects.extend(self_hosted());
    let mut running = start_with(FakeApi::new(objects).without("backendtlspolicies"));
    let served = running
        .published("the routes", |s| {
            mentions(s, "/first-route") && mentions(s, "/tls-route")
        })
        .await;
    assert!(mentions(&served, "sk-original"));
    // No policy: port 8443 stays plaintext.
    let cluster = cluster_json(&served, "backend_default_self-hosted");
    assert!(cluster.get("transport_socket").is_none(), "{cluster:#}");
    let asked = running.api.state.lock().unwrap().not_found.clone();
    assert!(
        asked.iter().any(|p| p.ends_with("/backendtlspolicies")),
        "{asked:?}"
    );
    // Later changes still get through.
    running.api.apply(route("second", "/second-route", &["gw"]));
    running
        .published("the second route", |s| mentions(s, "/second-route"))
        .await;
}

#[tokio::test]
async fn a_rotated_ca_config_map_reaches_the_cluster() {
    let mut objects = cluster();
    objects.extend(self_hosted());
    objects.push(tls_policy("llm-ca"));
    objects.push(ca_config_map("llm-ca", ca_first()));
    let mut running = start(objects);
    running
        .published("the first CA", |s| {
            trusted_ca(s).as_deref() == Some(&format!("{}\n", ca_first()))
        })
        .await;

    running.api.apply(ca_config_map("llm-ca", ca_rotated()));
    let rotated = running
        .published("the rotated CA", |s| {
            trusted_ca(s).as_deref() == Some(&format!("{}\n", ca_rotated()))
        })
        .await;
    assert!(!mentions(&rotated, "MIIBfirstCA"));
}

#[tokio::test]
async fn the_leader_writes_statuses_with_generation_and_keeps_other_controllers_parents() {
    let running = start(cluster());
    let lease = running
        .write_matching("Lease creation", |m, p, _| {
            m == Method::POST && p.ends_with("/leases")
        })
        .await;
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);

    let patch = running
        .write_matching("HTTPRoute status", |m, p, _| {
            m == Method::PATCH && p.ends_with("/httproutes/first/status")
        })
        .await;
    let parents = patch["status"]["parents"].as_array().unwrap();
    assert_eq!(parents.len(), 2, "{parents:#?}");
    assert_eq!(
        parents[0],
        other_parent(),
        "the other controller's entry is kept as is"
    );
    assert_eq!(parents[1]["controllerName"], OURS);
    assert_eq!(parents[1]["parentRef"]["name"], "gw");
    for condition in parents[1]["conditions"].as_array().unwrap() {
        assert_eq!(condition["observedGeneration"], 7, "{condition}");
        assert!(condition["lastTransitionTime"].is_string(), "{condition}");
    }
    // The patch is conditional on the version it was planned from.
    assert!(patch["metadata"]["resourceVersion"].is_string());

    let gateway = running
        .write_matching("Gateway status", |m, p, _| {
            m == Method::PATCH && p.ends_with("/gateways/gw/status")
        })
        .await;
    assert_eq!(gateway["status"]["listeners"][0]["name"], "http");
    // Every condition, the listeners' too (conformance checks them all).
    let listener_conditions = gateway["status"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["conditions"].as_array().unwrap());
    let gateway_conditions = gateway["status"]["conditions"].as_array().unwrap();
    assert!(!gateway_conditions.is_empty());
    for condition in gateway_conditions.iter().chain(listener_conditions) {
        assert_eq!(condition["observedGeneration"], 3, "{condition}");
    }
    let backend = running
        .write_matching("Backend status", |m, p, _| {
            m == Method::PATCH && p.ends_with("/backends/azure/status")
        })
        .await;
    assert_eq!(backend["status"]["conditions"][0]["observedGeneration"], 2);
    let class = running
        .write_matching("GatewayClass status", |m, p, _| {
            m == Method::PATCH && p.ends_with("/gatewayclasses/llmgate/status")
        })
        .await;
    assert_eq!(class["status"]["conditions"][0]["type"], "Accepted");
    for condition in class["status"]["conditions"].as_array().unwrap() {
        assert_eq!(condition["observedGeneration"], 1, "{condition}");
    }
    // Another controller's Gateway and class are never written.
    let foreign: Vec<String> = running
        .api
        .writes()
        .into_iter()
        .map(|(_, p, _)| p)
        .filter(|p| p.contains("/gateways/theirs") || p.contains("/gatewayclasses/other"))
        .collect();
    assert!(foreign.is_empty(), "{foreign:?}");
}

/// Another controller's ancestor entry, already on a policy.
fn other_ancestor(name: &str) -> Value {
    json!({"ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
            "namespace": "default", "name": name},
        "controllerName": OTHER,
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
            "message": "theirs", "lastTransitionTime": "2024-01-01T00:00:00Z"}]})
}

#[tokio::test]
async fn the_leader_writes_backend_tls_policy_ancestors_and_keeps_other_controllers_entries() {
    let mut objects = cluster();
    objects.extend(self_hosted());
    let mut policy = tls_policy("llm-ca");
    policy["metadata"]["generation"] = json!(4);
    policy["status"] = json!({"ancestors": [other_ancestor("theirs")]});
    objects.push(policy);
    objects.push(ca_config_map("llm-ca", ca_first()));
    let running = start(objects);
    let patch = running
        .write_matching("BackendTLSPolicy status", |m, p, _| {
            m == Method::PATCH && p.ends_with("/backendtlspolicies/self-hosted-tls/status")
        })
        .await;
    assert!(patch["metadata"]["resourceVersion"].is_string());
    let ancestors = patch["status"]["ancestors"].as_array().unwrap();
    assert_eq!(ancestors.len(), 2, "{ancestors:#?}");
    assert_eq!(
        ancestors[0],
        other_ancestor("theirs"),
        "theirs is kept as is"
    );
    assert_eq!(
        ancestors[1]["ancestorRef"],
        json!({"group": "gateway.networking.k8s.io", "kind": "Gateway",
            "namespace": "default", "name": "gw"}),
        "the Gateway of the route to the policy's Backend"
    );
    assert_eq!(ancestors[1]["controllerName"], OURS);
    let conditions = ancestors[1]["conditions"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = conditions
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Accepted", "True", "Accepted"),
            ("ResolvedRefs", "True", "ResolvedRefs")
        ]
    );
    for condition in conditions {
        assert_eq!(condition["observedGeneration"], 4, "{condition}");
        assert!(condition["lastTransitionTime"].is_string(), "{condition}");
    }
}

fn traffic_policy() -> Value {
    json!({"apiVersion": "gateway.kgateway.dev/v1alpha1", "kind": "TrafficPolicy",
        "metadata": {"name": "passthrough", "namespace": "default", "generation": 3},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "tls"}],
            "ai": {"routes": {"*": "Passthrough"}}}})
}

#[tokio::test]
async fn a_traffic_policy_reaches_its_routes_cluster_copy_and_gets_its_status() {
    let mut objects = cluster();
    objects.extend(self_hosted());
    objects.push(traffic_policy());
    let mut running = start(objects);
    let served = running
        .published("the route table", |s| mentions(s, "Passthrough"))
        .await;
    // The Backend's own cluster stays; the route's copy carries the table.
    let own = cluster_json(&served, "backend_default_self-hosted");
    assert!(!own.to_string().contains("Passthrough"), "{own:#}");
    let patch = running
        .write_matching("TrafficPolicy status", |m, p, _| {
            m == Method::PATCH && p.ends_with("/trafficpolicies/passthrough/status")
        })
        .await;
    let ancestors = patch["status"]["ancestors"].as_array().unwrap();
    assert_eq!(ancestors.len(), 1, "{ancestors:#?}");
    assert_eq!(ancestors[0]["ancestorRef"]["name"], "gw");
    assert_eq!(ancestors[0]["controllerName"], OURS);
    let accepted = &ancestors[0]["conditions"][0];
    assert_eq!(
        (
            &accepted["type"],
            &accepted["status"],
            &accepted["observedGeneration"]
        ),
        (&json!("Accepted"), &json!("True"), &json!(3)),
        "{accepted}"
    );
}

#[tokio::test]
async fn without_the_traffic_policy_crd_the_rest_is_still_served() {
    let mut objects = cluster();
    objects.extend(self_hosted());
    let mut running = start_with(FakeApi::new(objects).without("trafficpolicies"));
    running
        .published("the routes", |s| {
            mentions(s, "/first-route") && mentions(s, "/tls-route")
        })
        .await;
    let asked = running.api.state.lock().unwrap().not_found.clone();
    assert!(
        asked.iter().any(|p| p.ends_with("/trafficpolicies")),
        "{asked:?}"
    );
}

// ---------------------------------------------------------------- pure parts

fn dynamic(objects: &[Value], kind: &str) -> Vec<Arc<DynamicObject>> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .map(|o| Arc::new(serde_json::from_value(o.clone()).unwrap()))
        .collect()
}

fn state_of(objects: &[Value]) -> ClusterState {
    ClusterState {
        gateway_classes: dynamic(objects, "GatewayClass"),
        gateways: dynamic(objects, "Gateway"),
        http_routes: dynamic(objects, "HTTPRoute"),
        reference_grants: dynamic(objects, "ReferenceGrant"),
        backends: dynamic(objects, "Backend"),
        backend_tls_policies: dynamic(objects, "BackendTLSPolicy"),
        traffic_policies: dynamic(objects, "TrafficPolicy"),
        secrets: objects
            .iter()
            .filter(|o| o["kind"] == "Secret")
            .map(|o| serde_json::from_value(o.clone()).unwrap())
            .collect(),
        ..ClusterState::default()
    }
}

#[test]
fn snapshot_keeps_only_our_gateways_and_reports_unreadable_backends() {
    let mut objects = cluster();
    let mut broken = backend();
    broken["metadata"]["name"] = json!("broken");
    broken["spec"]["ai"]["llm"]["azureopenai"]["colour"] = json!("red");
    objects.push(broken);
    let (built, problems) = snapshot::build(&state_of(&objects), OURS);
    let gateways: Vec<&str> = built.gateways.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(gateways, ["gw"]);
    assert_eq!(built.backends.len(), 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].to_string().starts_with(
            "error: kubernetes:Backend/default/broken:0: Backend default/broken: spec.ai.llm.azureopenai.colour: unknown field `colour`"
        ),
        "{}",
        problems[0]
    );
    // … and it gets a status saying so.
    let outcome = translate_state(
        &state_of(&objects),
        &translate::Options::default(),
        &mut Default::default(),
    );
    let broken_status = outcome
        .statuses
        .iter()
        .find(|s| s.name == "broken")
        .unwrap();
    assert_eq!(broken_status.conditions()[0].reason, reason::INVALID);
}

#[test]
fn referenced_secrets_are_backend_secret_refs_and_gateway_certificates() {
    let mut gw = gateway("gw", "llmgate");
    gw["spec"]["listeners"] = json!([
        {"name": "a", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [
            {"name": "cert"}, {"name": "shared", "namespace": "certs"},
            {"name": "not-a-secret", "kind": "ConfigMap", "group": "example.com"}]}},
        {"name": "b", "protocol": "HTTP", "port": 80}]);
    let mut group_backend = backend();
    group_backend["metadata"]["name"] = json!("groups");
    group_backend["spec"]["ai"] = json!({"priorityGroups": [{"providers": [
        {"name": "p", "openai": {"authToken": {"kind": "SecretRef", "secretRef": {"name": "nested"}}}}]}]});
    let objects = vec![gw, backend(), group_backend];
    let found =
        snapshot::referenced_secrets(&dynamic(&objects, "Gateway"), &dynamic(&objects, "Backend"));
    let expected: BTreeSet<(String, String)> = [
        ("default", "cert"),
        ("certs", "shared"),
        ("default", "azure-key"),
        ("default", "nested"),
    ]
    .iter()
    .map(|(ns, n)| (ns.to_string(), n.to_string()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn referenced_config_maps_are_the_ca_refs_of_policies_for_backends() {
    let mut both = tls_policy("first");
    both["metadata"]["namespace"] = json!("ai");
    both["spec"]["validation"]["caCertificateRefs"] = json!([
        {"group": "", "kind": "ConfigMap", "name": "first"},
        {"group": "core", "kind": "ConfigMap", "name": "second"},
        {"group": "", "kind": "Secret", "name": "not-a-config-map"},
        {"group": "example.com", "kind": "ConfigMap", "name": "not-core"}]);
    let mut for_a_service = tls_policy("someone-elses");
    for_a_service["metadata"]["name"] = json!("service-tls");
    for_a_service["spec"]["targetRefs"] = json!([{"group": "", "kind": "Service", "name": "web"}]);
    let mut system = tls_policy("unused");
    system["metadata"]["name"] = json!("system");
    system["spec"]["validation"] = json!({"hostname": "h", "wellKnownCACertificates": "System"});
    let objects = vec![both, for_a_service, system];
    let found = snapshot::referenced_config_maps(&dynamic(&objects, "BackendTLSPolicy"));
    let expected: BTreeSet<(String, String)> = [("ai", "first"), ("ai", "second")]
        .iter()
        .map(|(ns, n)| (ns.to_string(), n.to_string()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn a_404_means_the_kind_is_not_installed() {
    let api_error = |code: u16, reason: &str| {
        kube::Error::Api(
            kube::core::Status::failure("the server could not find the requested resource", reason)
                .with_code(code)
                .boxed(),
        )
    };
    let cases = [
        (
            "list: NotFound",
            kube::runtime::watcher::Error::InitialListFailed(api_error(404, "NotFound")),
            true,
        ),
        (
            "list: 404 without a Status body",
            kube::runtime::watcher::Error::InitialListFailed(api_error(
                404,
                "Failed to parse error data",
            )),
            true,
        ),
        (
            "watch start: 404",
            kube::runtime::watcher::Error::WatchStartFailed(api_error(404, "NotFound")),
            true,
        ),
        (
            "list: forbidden",
            kube::runtime::watcher::Error::InitialListFailed(api_error(403, "Forbidden")),
            false,
        ),
        (
            "watch: gone",
            kube::runtime::watcher::Error::WatchError(
                kube::core::Status::failure("too old", "Expired")
                    .with_code(410)
                    .boxed(),
            ),
            false,
        ),
        (
            "no resourceVersion",
            kube::runtime::watcher::Error::NoResourceVersion,
            false,
        ),
    ];
    for (case, error, expected) in cases {
        assert_eq!(watch::not_installed(&error), expected, "{case}");
    }
}

#[test]
fn referenced_objects_are_fetched_when_new_or_changed_only() {
    let referenced: BTreeSet<(String, String)> = ["held-same", "held-changed", "new", "missing"]
        .iter()
        .map(|n| ("ns".to_string(), n.to_string()))
        .collect();
    let listed = |_: &str, name: &str| match name {
        "held-same" => Some("1".to_string()),
        "held-changed" => Some("5".to_string()),
        "new" => Some("2".to_string()),
        _ => None,
    };
    let held = |_: &str, name: &str| match name {
        "held-same" => Some("1".to_string()),
        "held-changed" => Some("4".to_string()),
        _ => None,
    };
    let fetch: Vec<String> = watch::to_fetch(&referenced, listed, held)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(fetch, ["held-changed", "new"]);
}

fn our_parent(gateway: &str, accepted: bool) -> RouteParentStatus {
    RouteParentStatus {
        parent_ref: ParentRef {
            group: translate::GATEWAY_GROUP.into(),
            kind: "Gateway".into(),
            namespace: "default".into(),
            name: gateway.into(),
            section_name: None,
            port: None,
        },
        controller_name: OURS.into(),
        conditions: vec![Condition::new(
            reason::ACCEPTED,
            accepted,
            reason::ACCEPTED,
            "m",
        )],
    }
}

fn route_status(parents: Vec<RouteParentStatus>) -> ObjectStatus {
    ObjectStatus {
        kind: "HTTPRoute".into(),
        namespace: "default".into(),
        name: "first".into(),
        status: Status::Route { parents },
    }
}

/// Applies a patch as the API server would (status only).
fn applied(objects: &mut [Value], patch: &StatusPatch) {
    let object = objects
        .iter_mut()
        .find(|o| o["metadata"]["name"] == patch.name.as_str() && o["kind"] == patch.kind.name())
        .unwrap();
    merge_patch(&mut object["status"], &patch.body["status"]);
}

#[test]
fn route_status_plan_keeps_others_sets_generation_and_moves_transition_time_on_change_only() {
    let ours: HashSet<(String, String)> = [("default".to_string(), "gw".to_string())].into();
    let mut objects = cluster();
    // An entry for "theirs" from us is not ours to write (their Gateway):
    // a status the translator gives for it is dropped.
    let statuses = vec![route_status(vec![
        our_parent("gw", true),
        our_parent("theirs", false),
    ])];

    let plan = status_writer::plan(
        &statuses,
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-01T00:00:00Z",
    );
    assert_eq!(plan.len(), 1, "{plan:#?}");
    let parents = plan[0].body["status"]["parents"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(parents.len(), 2);
    assert_eq!(parents[0], other_parent());
    assert_eq!(parents[1]["parentRef"]["name"], "gw");
    assert_eq!(parents[1]["conditions"][0]["observedGeneration"], 7);
    assert_eq!(
        parents[1]["conditions"][0]["lastTransitionTime"],
        "2025-06-01T00:00:00Z"
    );
    applied(&mut objects, &plan[0]);

    // Nothing changed: nothing to write, whatever the time.
    let again = status_writer::plan(
        &statuses,
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-02T00:00:00Z",
    );
    assert!(again.is_empty(), "{again:#?}");

    // Same status, new message: written, transition time kept.
    let mut reworded = statuses.clone();
    if let Status::Route { parents } = &mut reworded[0].status {
        parents[0].conditions[0].message = "other words".into();
    }
    let plan = status_writer::plan(
        &reworded,
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-03T00:00:00Z",
    );
    assert_eq!(
        plan[0].body["status"]["parents"][1]["conditions"][0]["lastTransitionTime"],
        "2025-06-01T00:00:00Z"
    );
    applied(&mut objects, &plan[0]);

    // Status flips: transition time moves.
    let rejected = vec![route_status(vec![our_parent("gw", false)])];
    let plan = status_writer::plan(
        &rejected,
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-04T00:00:00Z",
    );
    assert_eq!(
        plan[0].body["status"]["parents"][1]["conditions"][0]["lastTransitionTime"],
        "2025-06-04T00:00:00Z"
    );
    applied(&mut objects, &plan[0]);

    // The route leaves our Gateway: our entry goes, theirs stays.
    let plan = status_writer::plan(
        &[],
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-05T00:00:00Z",
    );
    assert_eq!(plan[0].body["status"]["parents"], json!([other_parent()]));
}

#[test]
fn status_plan_writes_only_our_gateways_and_classes() {
    let ours: HashSet<(String, String)> = [("default".to_string(), "gw".to_string())].into();
    let conditions = |kind: &str, namespace: &str, name: &str| ObjectStatus {
        kind: kind.into(),
        namespace: namespace.into(),
        name: name.into(),
        status: Status::Conditions {
            conditions: vec![Condition::new(
                reason::ACCEPTED,
                true,
                reason::ACCEPTED,
                "ok",
            )],
        },
    };
    let statuses = vec![
        conditions("Gateway", "default", "gw"),
        conditions("Gateway", "default", "theirs"),
        conditions("GatewayClass", "", "llmgate"),
        conditions("GatewayClass", "", "other"),
        conditions("Backend", "default", "azure"),
        conditions("Backend", "default", "not-in-the-cluster"),
    ];
    let plan = status_writer::plan(
        &statuses,
        &state_of(&cluster()),
        &ours,
        OURS,
        "2025-06-01T00:00:00Z",
    );
    let written: Vec<(&str, &str)> = plan
        .iter()
        .map(|p| (p.kind.name(), p.name.as_str()))
        .collect();
    assert_eq!(
        written,
        // The route's only entry is the other controller's: nothing to write.
        [
            ("Gateway", "gw"),
            ("GatewayClass", "llmgate"),
            ("Backend", "azure")
        ]
    );
    assert_eq!(
        plan[0].body["status"]["conditions"][0]["observedGeneration"],
        3
    );
}

fn policy_status(gateways: &[&str]) -> ObjectStatus {
    ObjectStatus {
        kind: "BackendTLSPolicy".into(),
        namespace: "default".into(),
        name: "self-hosted-tls".into(),
        status: Status::Policy {
            ancestors: gateways
                .iter()
                .map(|g| {
                    let parent = our_parent(g, true);
                    PolicyAncestorStatus {
                        ancestor_ref: parent.parent_ref,
                        controller_name: parent.controller_name,
                        conditions: parent.conditions,
                    }
                })
                .collect(),
        },
    }
}

#[test]
fn policy_status_plan_keeps_others_stays_within_16_and_drops_stale_entries() {
    let ours: HashSet<(String, String)> = [
        ("default".to_string(), "gw".to_string()),
        ("default".to_string(), "gw2".to_string()),
    ]
    .into();
    let mut objects = cluster();
    let mut policy = tls_policy("llm-ca");
    // 15 entries of another controller: room for one of ours.
    policy["status"] = json!({"ancestors": (0..15)
        .map(|i| other_ancestor(&format!("theirs-{i}")))
        .collect::<Vec<_>>()});
    objects.push(policy);

    // An entry for a Gateway that is not ours is never written.
    let statuses = vec![policy_status(&["gw", "gw2", "theirs"])];
    let plan = status_writer::plan(
        &statuses,
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-01T00:00:00Z",
    );
    assert_eq!(plan.len(), 1, "{plan:#?}");
    assert_eq!(plan[0].kind.name(), "BackendTLSPolicy");
    let ancestors = plan[0].body["status"]["ancestors"].as_array().unwrap();
    assert_eq!(ancestors.len(), 16, "{ancestors:#?}");
    assert_eq!(
        ancestors[..15],
        objects[objects.len() - 1]["status"]["ancestors"]
            .as_array()
            .unwrap()[..]
    );
    assert_eq!(ancestors[15]["ancestorRef"]["name"], "gw");
    assert_eq!(ancestors[15]["conditions"][0]["observedGeneration"], 1);
    let last = objects.len() - 1;
    applied(&mut objects, &plan[0]);

    // Unchanged: nothing to write.
    let again = status_writer::plan(
        &statuses,
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-02T00:00:00Z",
    );
    assert!(again.is_empty(), "{again:#?}");

    // The policy no longer concerns our Gateways: our entry goes, theirs stay.
    let plan = status_writer::plan(
        &[policy_status(&[])],
        &state_of(&objects),
        &ours,
        OURS,
        "2025-06-03T00:00:00Z",
    );
    let ancestors = plan[0].body["status"]["ancestors"].as_array().unwrap();
    assert_eq!(ancestors.len(), 15);
    assert!(ancestors.iter().all(|a| a["controllerName"] == OTHER));
    applied(&mut objects, &plan[0]);
    assert_eq!(
        objects[last]["status"]["ancestors"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
}

#[test]
fn leader_decision_table() {
    let now = Timestamp::from_second(1_750_000_000).unwrap();
    let lease = |holder: Option<&str>, renewed_ago: Option<i64>, duration: Option<i32>| LeaseSpec {
        holder_identity: holder.map(str::to_string),
        renew_time: renewed_ago
            .map(|s| MicroTime(now.checked_sub(SignedDuration::from_secs(s)).unwrap())),
        lease_duration_seconds: duration,
        ..LeaseSpec::default()
    };
    let other = || Decision::StandBy { holder: "b".into() };
    let cases: Vec<(&str, Option<LeaseSpec>, Decision)> = vec![
        ("no lease", None, Decision::Acquire),
        (
            "nobody holds it",
            Some(lease(None, Some(1), Some(15))),
            Decision::Acquire,
        ),
        (
            "released (empty holder)",
            Some(lease(Some(""), Some(1), Some(15))),
            Decision::Acquire,
        ),
        (
            "ours, fresh",
            Some(lease(Some("a"), Some(1), Some(15))),
            Decision::Renew,
        ),
        (
            "ours, expired: still ours to renew",
            Some(lease(Some("a"), Some(60), Some(15))),
            Decision::Renew,
        ),
        (
            "someone else's, fresh",
            Some(lease(Some("b"), Some(14), Some(15))),
            other(),
        ),
        (
            "someone else's, expired",
            Some(lease(Some("b"), Some(16), Some(15))),
            Decision::Acquire,
        ),
        (
            "someone else's, expiring now",
            Some(lease(Some("b"), Some(15), Some(15))),
            Decision::Acquire,
        ),
        (
            "someone else's, never renewed",
            Some(lease(Some("b"), None, Some(15))),
            Decision::Acquire,
        ),
        (
            "someone else's, no duration",
            Some(lease(Some("b"), Some(1), None)),
            Decision::Acquire,
        ),
    ];
    for (case, spec, expected) in cases {
        assert_eq!(decide(spec.as_ref(), "a", now), expected, "{case}");
    }

    let options = LeaseOptions::new("ns".into(), "l".into(), "a".into());
    let taken = next_spec(
        Some(&lease(Some("b"), Some(60), Some(15))),
        &Decision::Acquire,
        &options,
        now,
    )
    .unwrap();
    assert_eq!(taken.holder_identity.as_deref(), Some("a"));
    assert_eq!(taken.lease_transitions, Some(1));
    assert_eq!(taken.lease_duration_seconds, Some(15));
    assert_eq!(taken.acquire_time, Some(MicroTime(now)));
    let mut held = taken.clone();
    held.renew_time = Some(MicroTime(
        now.checked_sub(SignedDuration::from_secs(5)).unwrap(),
    ));
    let renewed = next_spec(Some(&held), &Decision::Renew, &options, now).unwrap();
    assert_eq!(renewed.renew_time, Some(MicroTime(now)));
    assert_eq!(
        (renewed.acquire_time, renewed.lease_transitions),
        (taken.acquire_time, Some(1))
    );
    assert_eq!(
        next_spec(
            None,
            &Decision::StandBy { holder: "b".into() },
            &options,
            now
        ),
        None
    );
}

#[test]
fn metrics_render_as_prometheus_text() {
    let metrics = Metrics::default();
    metrics.observe_translation(0.02);
    metrics.observe_translation(2.0);
    let text = metrics.render();
    for line in [
        "llmgate_controller_translations 2\n",
        "llmgate_controller_translation_duration_seconds_bucket{le=\"0.025\"} 1\n",
        "llmgate_controller_translation_duration_seconds_bucket{le=\"5\"} 2\n",
        "llmgate_controller_translation_duration_seconds_count 2\n",
        "llmgate_controller_last_translation_seconds 2\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
}
