//! The translator: a pure function from a `Snapshot` of resources to an Envoy
//! bootstrap plus the problems found on the way. No IO here.

pub mod ai_backend;
pub mod envoy;
pub mod routes;

use std::collections::BTreeMap;
use std::path::PathBuf;

use gateway_api::gateways::{GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom};
use gateway_api::httproutes::{HttpRoute, HttpRouteParentRefs, HttpRouteRulesBackendRefs};
use serde_json::{json, Value};

use crate::problem::Problem;
use crate::source::{Object, Snapshot};
use ai_backend::{ResolvedBackend, Unavailable};
use routes::{BackendTarget, RouteEntry};

pub const BACKEND_GROUP: &str = "gateway.kgateway.dev";
const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

#[derive(Debug, Clone)]
pub struct Options {
    pub admin_port: u16,
    /// Absolute path of the llmgate `.wasm` on Envoy's machine.
    pub filter_path: PathBuf,
    /// `v8`, `wamr` or `wasmtime`.
    pub wasm_runtime: String,
    /// Serve only Gateways of this class; all when `None`.
    pub gateway_class: Option<String>,
    /// Address the Gateway listeners bind to.
    pub listen_address: String,
    /// CA bundle for verifying providers' TLS certificates.
    pub ca_bundle: PathBuf,
    /// Cluster DNS suffix for Service backends.
    pub cluster_domain: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            admin_port: 19000,
            filter_path: PathBuf::from("llmgate_filter.wasm"),
            wasm_runtime: "v8".into(),
            gateway_class: None,
            listen_address: "0.0.0.0".into(),
            ca_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            cluster_domain: "cluster.local".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Translation {
    pub bootstrap: Value,
    pub problems: Vec<Problem>,
}

pub fn translate(snapshot: &Snapshot, options: &Options) -> Translation {
    let mut problems = Vec::new();
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    let backends = resolve_backends(snapshot, options, &mut clusters, &mut problems);

    // Listener slots grouped by port: several Gateways and listeners may share one.
    let mut ports: BTreeMap<u16, Vec<Slot<'_>>> = BTreeMap::new();
    for gateway in &snapshot.gateways {
        let spec = &gateway.value.spec;
        if options
            .gateway_class
            .as_deref()
            .is_some_and(|c| c != spec.gateway_class_name)
        {
            continue;
        }
        for (index, listener) in spec.listeners.iter().enumerate() {
            let field = format!("spec.listeners[{index}]");
            let object = gateway.object_ref("Gateway");
            if listener.protocol != "HTTP" {
                problems.push(
                    Problem::warning(format!(
                        "protocol {} is not supported yet; listener skipped",
                        listener.protocol
                    ))
                    .at(&gateway.origin)
                    .object(object)
                    .field(format!("{field}.protocol")),
                );
                continue;
            }
            let Ok(port) = u16::try_from(listener.port) else {
                problems.push(
                    Problem::error("must be 1-65535")
                        .at(&gateway.origin)
                        .object(object)
                        .field(format!("{field}.port")),
                );
                continue;
            };
            ports
                .entry(port)
                .or_default()
                .push(Slot { gateway, listener });
        }
    }

    // hostname → route entries, per port.
    let mut vhosts: BTreeMap<u16, BTreeMap<String, Vec<RouteEntry>>> = BTreeMap::new();
    for route in &snapshot.http_routes {
        let attached = attach(route, &ports, &mut problems);
        if attached.is_empty() {
            continue;
        }
        let mut entries = Vec::new();
        for (rule_index, rule) in route.value.spec.rules.iter().flatten().enumerate() {
            let targets = rule_targets(
                route,
                rule_index,
                rule.backend_refs.as_deref().unwrap_or_default(),
                &backends,
                options,
                &mut clusters,
                &mut problems,
            );
            entries.extend(routes::rule_entries(
                route,
                rule_index,
                rule,
                &targets,
                &mut problems,
            ));
        }
        for (port, hostnames) in attached {
            for hostname in hostnames {
                vhosts
                    .entry(port)
                    .or_default()
                    .entry(hostname)
                    .or_default()
                    .extend(entries.iter().cloned());
            }
        }
    }

    let listeners = ports
        .keys()
        .map(|port| {
            let name = format!("gateway_{port}");
            let hosts = vhosts.remove(port).unwrap_or_default();
            envoy::listener(&name, &options.listen_address, *port, virtual_hosts(hosts))
        })
        .collect();
    Translation {
        bootstrap: envoy::bootstrap(
            options.admin_port,
            listeners,
            clusters.into_values().collect(),
        ),
        problems,
    }
}

struct Slot<'a> {
    gateway: &'a Object<gateway_api::gateways::Gateway>,
    listener: &'a GatewayListeners,
}

fn backend_cluster_name(namespace: &str, name: &str) -> String {
    // Kubernetes names cannot contain `_`, so this is unambiguous.
    format!("backend_{namespace}_{name}")
}

fn resolve_backends(
    snapshot: &Snapshot,
    options: &Options,
    clusters: &mut BTreeMap<String, Value>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<(String, String), Result<String, ()>> {
    let wasm = envoy::WasmOptions {
        filter_path: &options.filter_path,
        runtime: &options.wasm_runtime,
    };
    let mut out = BTreeMap::new();
    for backend in &snapshot.backends {
        let key = (backend.namespace.clone(), backend.name.clone());
        let resolved: Result<ResolvedBackend, Unavailable> = ai_backend::resolve(backend, snapshot);
        match resolved {
            Ok(resolved) => {
                let name = backend_cluster_name(&backend.namespace, &backend.name);
                clusters.insert(
                    name.clone(),
                    envoy::ai_cluster(&name, &resolved, &wasm, &options.ca_bundle),
                );
                out.insert(key, Ok(name));
            }
            Err(unavailable) => {
                problems.push(*unavailable);
                out.insert(key, Err(()));
            }
        }
    }
    out
}

/// The ports and hostnames a route attaches to through its parentRefs.
fn attach(
    route: &Object<HttpRoute>,
    ports: &BTreeMap<u16, Vec<Slot<'_>>>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<u16, Vec<String>> {
    let object = route.object_ref("HTTPRoute");
    let mut attached: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for (index, parent) in route.value.spec.parent_refs.iter().flatten().enumerate() {
        let field = format!("spec.parentRefs[{index}]");
        if !is_gateway_ref(parent) {
            problems.push(
                Problem::warning("only Gateway parents are supported")
                    .at(&route.origin)
                    .object(object.clone())
                    .field(field),
            );
            continue;
        }
        let namespace = parent.namespace.as_deref().unwrap_or(&route.namespace);
        let mut found_gateway = false;
        let mut accepted = false;
        for (port, slots) in ports {
            for slot in slots {
                if slot.gateway.namespace != namespace || slot.gateway.name != parent.name {
                    continue;
                }
                found_gateway = true;
                if parent
                    .section_name
                    .as_deref()
                    .is_some_and(|s| s != slot.listener.name)
                    || parent
                        .port
                        .is_some_and(|p| i64::from(p) != i64::from(*port))
                    || !allows_namespace(slot, &route.namespace)
                {
                    continue;
                }
                let hostnames = effective_hostnames(
                    route.value.spec.hostnames.as_deref(),
                    slot.listener.hostname.as_deref(),
                );
                if !hostnames.is_empty() {
                    accepted = true;
                }
                let entry = attached.entry(*port).or_default();
                for h in hostnames {
                    if !entry.contains(&h) {
                        entry.push(h);
                    }
                }
            }
        }
        let why = if !found_gateway {
            Some(format!(
                "Gateway {namespace}/{} not found (or no HTTP listener)",
                parent.name
            ))
        } else if !accepted {
            Some(format!(
                "no listener of Gateway {namespace}/{} accepts this route (sectionName, port, allowedRoutes or hostnames)",
                parent.name
            ))
        } else {
            None
        };
        if let Some(why) = why {
            problems.push(
                Problem::warning(why)
                    .at(&route.origin)
                    .object(object.clone())
                    .field(field),
            );
        }
    }
    attached
}

fn is_gateway_ref(parent: &HttpRouteParentRefs) -> bool {
    parent.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        && parent.kind.as_deref().unwrap_or("Gateway") == "Gateway"
}

fn allows_namespace(slot: &Slot<'_>, route_namespace: &str) -> bool {
    let from = slot
        .listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.clone())
        .unwrap_or(GatewayListenersAllowedRoutesNamespacesFrom::Same);
    match from {
        GatewayListenersAllowedRoutesNamespacesFrom::All => true,
        GatewayListenersAllowedRoutesNamespacesFrom::Same => {
            slot.gateway.namespace == route_namespace
        }
        // Namespace labels are not part of a folder of manifests yet.
        GatewayListenersAllowedRoutesNamespacesFrom::Selector => false,
    }
}

/// Route hostnames intersected with the listener's; `*` when neither sets any.
fn effective_hostnames(route: Option<&[String]>, listener: Option<&str>) -> Vec<String> {
    let route: Vec<&String> = route.unwrap_or_default().iter().collect();
    match (route.is_empty(), listener) {
        (true, None) => vec!["*".into()],
        (true, Some(l)) => vec![l.to_string()],
        (false, None) => route.into_iter().cloned().collect(),
        (false, Some(l)) => route
            .into_iter()
            .filter_map(|r| {
                if hostname_matches(l, r) {
                    Some(r.clone())
                } else if hostname_matches(r, l) {
                    Some(l.to_string())
                } else {
                    None
                }
            })
            .collect(),
    }
}

/// Does `pattern` (possibly `*.example.com`) cover `host`?
fn hostname_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => host.ends_with(suffix) && host.len() > suffix.len(),
        None => pattern == host,
    }
}

fn rule_targets(
    route: &Object<HttpRoute>,
    rule_index: usize,
    refs: &[HttpRouteRulesBackendRefs],
    backends: &BTreeMap<(String, String), Result<String, ()>>,
    options: &Options,
    clusters: &mut BTreeMap<String, Value>,
    problems: &mut Vec<Problem>,
) -> Vec<BackendTarget> {
    let object = route.object_ref("HTTPRoute");
    refs.iter()
        .enumerate()
        .map(|(index, r)| {
            let weight = u32::try_from(r.weight.unwrap_or(1)).unwrap_or(0);
            let field = format!("spec.rules[{rule_index}].backendRefs[{index}]");
            let unavailable = |problems: &mut Vec<Problem>, why: String| {
                problems.push(Problem::warning(format!("{why}; requests for it answer 500")).at(&route.origin).object(object.clone()).field(field.clone()));
                BackendTarget::Unavailable { weight }
            };
            let namespace = r.namespace.as_deref().unwrap_or(&route.namespace);
            if namespace != route.namespace {
                return unavailable(problems, format!("reference to namespace {namespace} needs a ReferenceGrant, which is not supported yet"));
            }
            let group = r.group.as_deref().unwrap_or("");
            let kind = r.kind.as_deref().unwrap_or("Service");
            match (group, kind) {
                (BACKEND_GROUP, "Backend") => match backends.get(&(namespace.to_string(), r.name.clone())) {
                    Some(Ok(cluster)) => BackendTarget::Cluster { name: cluster.clone(), weight, ai: true },
                    Some(Err(())) => unavailable(problems, format!("Backend {namespace}/{} is not ready", r.name)),
                    None => unavailable(problems, format!("Backend {namespace}/{} not found", r.name)),
                },
                ("" | "core", "Service") => {
                    let Some(port) = r.port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) else {
                        return unavailable(problems, "a Service backendRef needs a port".into());
                    };
                    let name = format!("service_{namespace}_{}_{port}", r.name);
                    let host = format!("{}.{namespace}.svc.{}", r.name, options.cluster_domain);
                    clusters.entry(name.clone()).or_insert_with(|| envoy::service_cluster(&name, &host, port));
                    BackendTarget::Cluster { name, weight, ai: false }
                }
                _ => unavailable(problems, format!("unsupported backendRef kind {group}/{kind}")),
            }
        })
        .collect()
}

fn virtual_hosts(hosts: BTreeMap<String, Vec<RouteEntry>>) -> Vec<Value> {
    let mut out: Vec<(bool, Value)> = hosts
        .into_iter()
        .map(|(hostname, mut entries)| {
            entries.sort_by(|a, b| a.precedence.cmp(&b.precedence));
            let routes: Vec<Value> = entries.into_iter().map(|e| e.route).collect();
            let name = if hostname == "*" {
                "any".to_string()
            } else {
                hostname.clone()
            };
            (
                hostname == "*",
                json!({ "name": name, "domains": [hostname], "routes": routes }),
            )
        })
        .collect();
    // Envoy prefers exact domains anyway; this keeps the output readable.
    out.sort_by_key(|(wildcard, _)| *wildcard);
    out.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests;
