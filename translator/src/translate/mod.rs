//! The translator: a pure function from a `Snapshot` of resources to an Envoy
//! bootstrap, the problems found on the way and every object's status. No IO.

pub mod ai_backend;
pub mod backend_refs;
pub mod backend_tls;
pub mod backend_tls_status;
pub mod envoy;
pub mod filters;
pub mod gateways;
pub mod grants;
pub mod hostnames;
pub mod parents;
pub mod priority_groups;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use gateway_api::httproutes::HttpRoute;
use serde_json::{json, Value};

use crate::problem::Problem;
use crate::source::{Object, Snapshot};
use crate::status::{reason, Condition, ObjectStatus, Status};
use ai_backend::Unavailable;
use backend_refs::{AiCluster, Ref, RefIssue, Resolver};
use gateways::{Gateways, Protocol};
use routes::{BackendTarget, RouteEntry, RuleInput};

pub const BACKEND_GROUP: &str = "gateway.kgateway.dev";
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
pub const DEFAULT_CONTROLLER_NAME: &str = "llmgate.dev/gateway-controller";

#[derive(Debug, Clone)]
pub struct Options {
    pub admin_port: u16,
    /// Where Envoy gets the llmgate filter module.
    pub filter: envoy::FilterCode,
    /// `v8`, `wamr` or `wasmtime`.
    pub wasm_runtime: String,
    /// Serve only Gateways of this class; all when `None`.
    pub gateway_class: Option<String>,
    /// GatewayClasses with this `controllerName` are llmgate's; Gateways of a
    /// class with another controller are not served.
    pub controller_name: String,
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
            filter: envoy::FilterCode::Local(PathBuf::from("llmgate_filter.wasm")),
            wasm_runtime: "v8".into(),
            gateway_class: None,
            controller_name: DEFAULT_CONTROLLER_NAME.into(),
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
    /// GatewayClasses (ours), Gateways, HTTPRoutes, Backends and
    /// BackendTLSPolicies.
    pub statuses: Vec<ObjectStatus>,
}

type Vhosts = BTreeMap<String, Vec<RouteEntry>>;

pub fn translate(snapshot: &Snapshot, options: &Options) -> Translation {
    let mut problems = Vec::new();
    let grants = grants::Grants::new(snapshot);
    let mut gateways = gateways::plan(snapshot, options, &grants, &mut problems);
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    let (backends, mut statuses) =
        resolve_backends(snapshot, options, &mut clusters, &mut problems);
    let mut resolver = Resolver::new(snapshot, options, &grants, backends, clusters);

    // Route entries per listener (gateway index, listener index), by hostname.
    let mut placed: HashMap<(usize, usize), Vhosts> = HashMap::new();
    let mut uses_unavailable = false;
    let mut policy_ancestors = backend_tls_status::Ancestors::default();
    for route in &snapshot.http_routes {
        let attached = parents::attach(
            route,
            &mut gateways,
            snapshot,
            &options.controller_name,
            &mut problems,
        );
        let mut parents = attached.parents;
        if !attached.attachments.is_empty() {
            policy_ancestors.record(
                route,
                attached
                    .attachments
                    .iter()
                    .filter_map(|a| gateways.served.get(a.gateway))
                    .map(|g| g.object),
            );
            let built = route_entries(route, &mut resolver, &mut problems);
            uses_unavailable |= built.uses_unavailable;
            let resolved = match built.ref_issues.first() {
                None => Condition::new(
                    reason::RESOLVED_REFS,
                    true,
                    reason::RESOLVED_REFS,
                    "all backendRefs resolved",
                ),
                Some((field, issue)) => Condition::new(
                    reason::RESOLVED_REFS,
                    false,
                    issue.reason,
                    summarize(
                        built
                            .ref_issues
                            .iter()
                            .map(|(f, i)| format!("{f}: {}", i.message))
                            .collect(),
                        field,
                    ),
                ),
            };
            for parent in parents
                .iter_mut()
                .filter(|p| p.conditions.first().is_some_and(Condition::is_true))
            {
                parent.conditions.push(resolved.clone());
                if !built.invalid.is_empty() {
                    parent.conditions.push(Condition::new(
                        reason::PARTIALLY_INVALID,
                        true,
                        reason::UNSUPPORTED_VALUE,
                        format!("these answer 500: {}", built.invalid.join("; ")),
                    ));
                }
            }
            for attachment in attached.attachments {
                let vhosts = placed
                    .entry((attachment.gateway, attachment.listener))
                    .or_default();
                for hostname in attachment.hostnames {
                    vhosts
                        .entry(hostname)
                        .or_default()
                        .extend(built.entries.iter().cloned());
                }
            }
        }
        statuses.push(ObjectStatus {
            kind: "HTTPRoute".into(),
            namespace: route.namespace.clone(),
            name: route.name.clone(),
            status: Status::Route { parents },
        });
    }

    let mut listeners = build_listeners(&gateways, placed, options);
    let mut clusters = resolver.clusters;
    if uses_unavailable {
        listeners.push(envoy::unavailable_listener(routes::not_ready_response(
            "a backendRef of this rule cannot be resolved",
        )));
        clusters.insert(
            envoy::UNAVAILABLE_CLUSTER.into(),
            envoy::unavailable_cluster(),
        );
    }
    let mut bootstrap = envoy::bootstrap(options.admin_port, Vec::new(), Vec::new());
    envoy::set_static_resources(&mut bootstrap, listeners, clusters.into_values().collect());
    if uses_unavailable {
        let extensions = bootstrap
            .as_object_mut()
            .map(|b| b.entry("bootstrap_extensions").or_insert_with(|| json!([])));
        if let Some(Value::Array(list)) = extensions {
            list.push(envoy::internal_listener_extension());
        }
    }
    statuses.extend(gateways.statuses());
    statuses.extend(backend_tls_status::statuses(
        snapshot,
        &policy_ancestors,
        &options.controller_name,
        &mut problems,
    ));
    Translation {
        bootstrap,
        problems,
        statuses,
    }
}

/// "first; and N more" keeps a condition message readable.
fn summarize(messages: Vec<String>, _first_field: &str) -> String {
    let more = messages.len().saturating_sub(1);
    let first = messages.into_iter().next().unwrap_or_default();
    match more {
        0 => first,
        n => format!("{first} (and {n} more)"),
    }
}

struct BuiltRoute {
    entries: Vec<RouteEntry>,
    /// (field, issue) for every backendRef or mirror that cannot be resolved.
    ref_issues: Vec<(String, RefIssue)>,
    invalid: Vec<String>,
    uses_unavailable: bool,
}

fn route_entries(
    route: &Object<HttpRoute>,
    resolver: &mut Resolver<'_>,
    problems: &mut Vec<Problem>,
) -> BuiltRoute {
    let mut built = BuiltRoute {
        entries: Vec::new(),
        ref_issues: Vec::new(),
        invalid: Vec::new(),
        uses_unavailable: false,
    };
    let object = route.object_ref("HTTPRoute");
    for (rule_index, rule) in route.value.spec.rules.iter().flatten().enumerate() {
        let rule_field = format!("spec.rules[{rule_index}]");
        let mut filters = filters::plan(rule.filters.as_deref().unwrap_or_default())
            .map_err(|(i, why)| format!("{rule_field}.filters[{i}]: {why}"));
        let mut targets = Vec::new();
        for (index, r) in rule.backend_refs.iter().flatten().enumerate() {
            let field = format!("{rule_field}.backendRefs[{index}]");
            let weight = u32::try_from(r.weight.unwrap_or(1)).unwrap_or(0);
            if r.filters.as_ref().is_some_and(|f| !f.is_empty()) && filters.is_ok() {
                filters = Err(format!(
                    "{field}.filters: per-backendRef filters are not supported by llmgate"
                ));
            }
            let target = Ref {
                group: r.group.as_deref(),
                kind: r.kind.as_deref(),
                name: &r.name,
                namespace: r.namespace.as_deref(),
                port: r.port,
            };
            match resolver.resolve(&route.namespace, &target) {
                Ok(ok) => targets.push(BackendTarget::Cluster {
                    name: ok.cluster,
                    weight,
                    ai: ok.ai,
                    failover_retries: ok.failover_retries,
                }),
                Err(issue) => {
                    problems.push(
                        Problem::warning(format!("{}; requests for it answer 500", issue.message))
                            .at(&route.origin)
                            .object(object.clone())
                            .field(field.clone()),
                    );
                    built.ref_issues.push((field, issue));
                    targets.push(BackendTarget::Unavailable { weight });
                }
            }
        }
        let mut mirrors = Vec::new();
        if let Ok(plan) = &filters {
            for (index, m) in plan.mirrors.iter().enumerate() {
                let field = format!("{rule_field}.filters[requestMirror {index}].backendRef");
                let target = Ref {
                    group: m.group.as_deref(),
                    kind: m.kind.as_deref(),
                    name: &m.name,
                    namespace: m.namespace.as_deref(),
                    port: m.port,
                };
                match resolver.resolve(&route.namespace, &target) {
                    Ok(ok) => mirrors.push((ok.cluster, m.per_million)),
                    Err(issue) => {
                        problems.push(
                            Problem::warning(format!(
                                "{}; requests are not mirrored",
                                issue.message
                            ))
                            .at(&route.origin)
                            .object(object.clone())
                            .field(field.clone()),
                        );
                        built.ref_issues.push((field, issue));
                    }
                }
            }
        }
        let out = routes::rule_entries(&RuleInput {
            route,
            rule_index,
            rule,
            targets: &targets,
            mirrors: &mirrors,
            filters: &filters,
        });
        for why in &out.invalid {
            problems.push(
                Problem::error(format!("{why}; the rule answers 500"))
                    .at(&route.origin)
                    .object(object.clone()),
            );
        }
        built.uses_unavailable |= out.uses_unavailable;
        built.invalid.extend(out.invalid);
        built.entries.extend(out.entries);
    }
    built
}

/// One Envoy listener per port: HTTP ports merge every listener's routes by
/// hostname; HTTPS ports get a TLS filter chain per listener hostname (SNI).
fn build_listeners(
    gateways: &Gateways<'_>,
    mut placed: HashMap<(usize, usize), Vhosts>,
    options: &Options,
) -> Vec<Value> {
    type Chains = BTreeMap<Option<String>, (Vec<envoy::ServerCertificate>, Vhosts)>;
    let mut ports: BTreeMap<u16, (Protocol, Chains)> = BTreeMap::new();
    for (g, gateway) in gateways.served.iter().enumerate() {
        for (l, listener) in gateway
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| l.ready)
        {
            let (_, chains) = ports
                .entry(listener.port)
                .or_insert_with(|| (listener.protocol, BTreeMap::new()));
            let key = match listener.protocol {
                Protocol::Https => listener.spec.hostname.clone(),
                Protocol::Http => None,
            };
            let (_, vhosts) = chains
                .entry(key)
                .or_insert_with(|| (listener.certificates.clone(), BTreeMap::new()));
            for (hostname, entries) in placed.remove(&(g, l)).unwrap_or_default() {
                vhosts.entry(hostname).or_default().extend(entries);
            }
        }
    }
    ports
        .into_iter()
        .map(|(port, (protocol, chains))| {
            let name = format!("gateway_{port}");
            match protocol {
                Protocol::Http => {
                    let hosts = chains
                        .into_values()
                        .next()
                        .map(|(_, v)| v)
                        .unwrap_or_default();
                    let mut listener =
                        envoy::listener(&name, &options.listen_address, port, Vec::new());
                    envoy::set_virtual_hosts(&mut listener, virtual_hosts(hosts, port, 80));
                    listener
                }
                Protocol::Https => {
                    let chains = chains
                        .into_iter()
                        .map(|(server_name, (certificates, hosts))| envoy::TlsChain {
                            server_name,
                            certificates,
                            virtual_hosts: virtual_hosts(hosts, port, 443),
                        })
                        .collect();
                    envoy::tls_listener(&name, &options.listen_address, port, chains)
                }
            }
        })
        .collect()
}

fn backend_cluster_name(namespace: &str, name: &str) -> String {
    // Kubernetes names cannot contain `_`, so this is unambiguous.
    format!("backend_{namespace}_{name}")
}

/// (namespace, name) → the AI Backend's cluster, or why it cannot serve.
type BackendClusters<'a> = HashMap<(&'a str, &'a str), Result<AiCluster, String>>;

/// Every AI Backend's cluster (or why it cannot serve) and its status.
fn resolve_backends<'a>(
    snapshot: &'a Snapshot,
    options: &Options,
    clusters: &mut BTreeMap<String, Value>,
    problems: &mut Vec<Problem>,
) -> (BackendClusters<'a>, Vec<ObjectStatus>) {
    let wasm = envoy::WasmOptions {
        code: &options.filter,
        runtime: &options.wasm_runtime,
    };
    let mut out = HashMap::new();
    let mut statuses = Vec::new();
    problems.extend(backend_tls::policy_problems(snapshot));
    for backend in &snapshot.backends {
        let key = (backend.namespace.as_str(), backend.name.as_str());
        let resolved: Result<ai_backend::Resolved, Unavailable> =
            ai_backend::resolve(backend, snapshot);
        let conditions = match resolved {
            Ok(resolved) => {
                let name = backend_cluster_name(&backend.namespace, &backend.name);
                let label = format!("{}/{}", backend.namespace, backend.name);
                let (cluster, failover_retries, warnings, left_out) = match resolved {
                    ai_backend::Resolved::Single(one) => (
                        envoy::ai_cluster(&name, &one, &wasm, &options.ca_bundle),
                        0,
                        one.warnings,
                        Vec::new(),
                    ),
                    ai_backend::Resolved::Groups(groups) => (
                        priority_groups::cluster(&name, &label, &groups, &wasm, &options.ca_bundle),
                        groups.failover_retries(),
                        groups.warnings,
                        groups.left_out,
                    ),
                };
                clusters.insert(name.clone(), cluster);
                out.insert(
                    key,
                    Ok(AiCluster {
                        name,
                        failover_retries,
                    }),
                );
                // Served, but what the warnings say (verification disabled,
                // a provider left out) must be visible where the Backend's
                // owner looks.
                let notes: Vec<String> = warnings
                    .iter()
                    .map(|w| unavailable_message(w, backend))
                    .collect();
                problems.extend(warnings);
                // Some priority-group providers are out: the Backend serves
                // with the others, and says which refs failed.
                let refs = match left_out.first() {
                    None => Condition::new(reason::RESOLVED_REFS, true, reason::RESOLVED_REFS, ""),
                    Some(first) => Condition::new(
                        reason::RESOLVED_REFS,
                        false,
                        unresolved_reason(first),
                        left_out
                            .iter()
                            .map(|p| unavailable_message(p, backend))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                };
                problems.extend(left_out);
                vec![
                    Condition::new(reason::ACCEPTED, true, reason::ACCEPTED, notes.join("; ")),
                    refs,
                ]
            }
            Err(unavailable) => {
                let message = unavailable_message(&unavailable, backend);
                let about_backend =
                    unavailable.object.as_ref() == Some(&backend.object_ref("Backend"));
                let invalid_backend =
                    about_backend && unavailable.severity == crate::problem::Severity::Error;
                let conditions = if invalid_backend {
                    vec![Condition::new(
                        reason::ACCEPTED,
                        false,
                        reason::INVALID,
                        message.clone(),
                    )]
                } else {
                    // The Backend is fine; what it refers to (its Secret, the
                    // BackendTLSPolicy that targets it) is not.
                    vec![
                        Condition::new(reason::ACCEPTED, true, reason::ACCEPTED, ""),
                        Condition::new(
                            reason::RESOLVED_REFS,
                            false,
                            unresolved_reason(&unavailable),
                            message.clone(),
                        ),
                    ]
                };
                problems.push(*unavailable);
                out.insert(key, Err(message));
                conditions
            }
        };
        statuses.push(ObjectStatus {
            kind: "Backend".into(),
            namespace: backend.namespace.clone(),
            name: backend.name.clone(),
            status: Status::Conditions { conditions },
        });
    }
    (out, statuses)
}

/// A Backend's problem as its status says it: the field, and the other
/// object when it is not about the Backend itself (a BackendTLSPolicy).
fn unavailable_message(problem: &Problem, backend: &Object<crate::backend::Backend>) -> String {
    let mut message = String::new();
    if let Some(object) = problem
        .object
        .as_ref()
        .filter(|o| **o != backend.object_ref("Backend"))
    {
        message.push_str(&format!("{object}: "));
    }
    if let Some(field) = &problem.field {
        message.push_str(&format!("{field}: "));
    }
    message.push_str(&problem.message);
    message
}

fn unresolved_reason(problem: &Problem) -> &'static str {
    let kind = problem.object.as_ref().map(|o| o.kind.as_str());
    let field = problem.field.as_deref().unwrap_or_default();
    match kind {
        Some("BackendTLSPolicy") if field.contains("caCertificateRefs") => {
            reason::INVALID_CA_CERTIFICATE_REF
        }
        Some("BackendTLSPolicy") => reason::INVALID,
        _ => reason::INVALID_SECRET_REF,
    }
}

/// `well_known_port`: a redirect that takes the listener's port leaves it out
/// of Location when it is the scheme's default.
fn virtual_hosts(hosts: Vhosts, port: u16, well_known_port: u16) -> Vec<Value> {
    let mut out: Vec<(bool, Value)> = hosts
        .into_iter()
        .map(|(hostname, mut entries)| {
            entries.sort_by(|a, b| a.precedence.cmp(&b.precedence));
            // A route attached through two listeners of one port is there twice.
            entries.dedup_by(|a, b| a.precedence == b.precedence);
            let routes: Vec<Value> = entries
                .into_iter()
                .map(|mut e| {
                    if e.redirect_port_from_listener && port != well_known_port {
                        if let Some(redirect) = e.route.get_mut("redirect") {
                            envoy::set_member(redirect, "port_redirect", json!(port));
                        }
                    }
                    e.route
                })
                .collect();
            let name = if hostname == "*" {
                "any".to_string()
            } else {
                hostname.clone()
            };
            let mut vhost = serde_json::Map::new();
            vhost.insert("name".into(), json!(name));
            vhost.insert("domains".into(), json!([hostname]));
            // Moved, not through json! (which would copy every route).
            vhost.insert("routes".into(), Value::Array(routes));
            (hostname == "*", Value::Object(vhost))
        })
        .collect();
    // Envoy prefers exact domains anyway; this keeps the output readable.
    out.sort_by_key(|(wildcard, _)| *wildcard);
    out.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests;
