//! The translator: a pure function from a `Snapshot` of resources to an Envoy
//! bootstrap, the problems found on the way and every object's status. No IO.

pub mod ai_backend;
pub mod ai_methods;
pub mod ai_policy;
pub mod backend_refs;
pub mod backend_tls;
pub mod backend_tls_status;
pub mod backends;
pub mod filters;
pub mod gateways;
pub mod grants;
pub mod guard_callouts;
pub mod hostnames;
pub mod names;
pub mod parents;
pub mod priority_groups;
pub mod providers;
pub mod request_limit;
pub mod route_refs;
pub mod route_table_clusters;
pub mod routes;
pub mod traffic_policies;
pub mod traffic_policy_status;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use gateway_api::httproutes::HttpRoute;
use serde_json::Value;

use crate::ir::{self, Chain, FilterCode, Protocol, VirtualHost, Wasm};
use crate::problem::Problem;
use crate::source::{Object, Snapshot};
use crate::status::{reason, Condition, ObjectStatus, Status};
use crate::validate;
use backend_refs::{Ref, RefIssue, Resolver};
use gateways::Gateways;
use routes::{BackendTarget, RouteEntry, RuleInput};

pub const BACKEND_GROUP: &str = "gateway.kgateway.dev";
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
pub const DEFAULT_CONTROLLER_NAME: &str = "llmgate.dev/gateway-controller";

#[derive(Debug, Clone)]
pub struct Options {
    pub admin_port: u16,
    /// Where Envoy gets the llmgate filter module.
    pub filter: FilterCode,
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
    /// How Envoy gets the providers' keys.
    pub secrets: ir::SecretDelivery,
    /// The cluster of the control plane when it serves the rate-limit
    /// service (global token budgets, `--redis`); `None`: global budgets
    /// are refused.
    pub rate_limit_service: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            admin_port: 19000,
            filter: FilterCode::Local(PathBuf::from("llmgate_filter.wasm")),
            wasm_runtime: "v8".into(),
            gateway_class: None,
            controller_name: DEFAULT_CONTROLLER_NAME.into(),
            listen_address: "0.0.0.0".into(),
            ca_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            cluster_domain: "cluster.local".into(),
            secrets: ir::SecretDelivery::Static,
            rate_limit_service: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Translation {
    pub bootstrap: Value,
    pub problems: Vec<Problem>,
    /// GatewayClasses (ours), Gateways, HTTPRoutes, Backends,
    /// BackendTLSPolicies and TrafficPolicies.
    pub statuses: Vec<ObjectStatus>,
}

/// What the snapshot resolved to, before it is written as Envoy configuration.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub config: ir::Config,
    pub problems: Vec<Problem>,
    pub statuses: Vec<ObjectStatus>,
}

type Vhosts = BTreeMap<String, Vec<RouteEntry>>;

pub fn translate(snapshot: &Snapshot, options: &Options) -> Translation {
    let mut resolution = resolve(snapshot, options);
    let redactor = crate::redact::Redactor::of_snapshot(snapshot);
    redactor.problems(&mut resolution.problems);
    redactor.statuses(&mut resolution.statuses);
    Translation {
        bootstrap: crate::emit::bootstrap(resolution.config),
        problems: resolution.problems,
        statuses: resolution.statuses,
    }
}

pub fn resolve(snapshot: &Snapshot, options: &Options) -> Resolution {
    let mut problems = Vec::new();
    let grants = grants::Grants::new(snapshot);
    let mut gateways = gateways::plan(snapshot, options, &grants, &mut problems);
    let mut clusters = BTreeMap::new();
    let (backends, mut statuses) =
        backends::resolve_backends(snapshot, &mut clusters, &mut problems);
    let mut resolver = Resolver::new(snapshot, options, &grants, backends, clusters);

    // Route entries per listener (gateway index, listener index), by hostname.
    let mut placed: HashMap<(usize, usize), Vhosts> = HashMap::new();
    let mut uses_unavailable = false;
    let mut policy_ancestors = backend_tls_status::Ancestors::default();
    let mut traffic_policies = traffic_policies::TrafficPolicies::new(
        snapshot,
        options.rate_limit_service.is_some(),
        &guard_callouts::Lookup {
            resolver: &resolver,
            snapshot,
        },
    );
    for route in &snapshot.http_routes {
        let attached = parents::attach(
            route,
            &mut gateways,
            snapshot,
            &options.controller_name,
            &mut problems,
        );
        let mut parents = attached.parents;
        let resolved = if attached.attachments.is_empty() {
            route_refs::condition(&route_refs::issues(route, &resolver))
        } else {
            policy_ancestors.record(
                route,
                attached
                    .attachments
                    .iter()
                    .filter_map(|a| gateways.served.get(a.gateway))
                    .map(|g| g.object),
            );
            traffic_policies.attach(
                route,
                attached
                    .attachments
                    .iter()
                    .filter_map(|a| gateways.served.get(a.gateway))
                    .map(|g| g.object),
            );
            let built = route_entries(route, &mut resolver, &mut traffic_policies, &mut problems);
            uses_unavailable |= built.uses_unavailable;
            let resolved = route_refs::condition(&built.ref_issues);
            for parent in parents
                .iter_mut()
                .filter(|p| p.conditions.first().is_some_and(Condition::is_true))
            {
                if built.entries.is_empty() && !built.dropped.is_empty() {
                    // Nothing of the route can be served.
                    if let Some(accepted) = parent.conditions.first_mut() {
                        *accepted = Condition::new(
                            reason::ACCEPTED,
                            false,
                            reason::UNSUPPORTED_VALUE,
                            format!("not served: {}", built.dropped.join("; ")),
                        );
                    }
                }
                parent.conditions.push(resolved.clone());
                let mut partly = Vec::new();
                if !built.invalid.is_empty() {
                    partly.push(format!("these answer 500: {}", built.invalid.join("; ")));
                }
                if !built.dropped.is_empty() && !built.entries.is_empty() {
                    partly.push(format!("not served: {}", built.dropped.join("; ")));
                }
                if !partly.is_empty() {
                    parent.conditions.push(Condition::new(
                        reason::PARTIALLY_INVALID,
                        true,
                        reason::UNSUPPORTED_VALUE,
                        partly.join("; "),
                    ));
                }
            }
            // A route with nothing left to serve gets no virtual host: its
            // hostnames fall through to the others.
            let attachments = if built.entries.is_empty() && !built.dropped.is_empty() {
                Vec::new()
            } else {
                attached.attachments
            };
            for attachment in attachments {
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
            resolved
        };
        // Parents that did not accept the route say whether its refs resolve
        // too: the Gateway API wants both conditions on every parent.
        for parent in &mut parents {
            if !parent
                .conditions
                .iter()
                .any(|c| c.type_ == reason::RESOLVED_REFS)
            {
                let at = parent.conditions.len().min(1);
                parent.conditions.insert(at, resolved.clone());
            }
        }
        statuses.push(ObjectStatus {
            kind: "HTTPRoute".into(),
            namespace: route.namespace.clone(),
            name: route.name.clone(),
            status: Status::Route { parents },
        });
    }

    let listeners = build_listeners(&gateways, placed, options);
    statuses.extend(gateways.statuses());
    statuses.extend(backend_tls_status::statuses(
        snapshot,
        &policy_ancestors,
        &options.controller_name,
        &mut problems,
    ));
    statuses.extend(traffic_policy_status::statuses(
        &traffic_policies,
        snapshot,
        &options.controller_name,
        &mut problems,
    ));
    Resolution {
        config: ir::Config {
            admin_port: options.admin_port,
            wasm: Wasm {
                code: options.filter.clone(),
                runtime: options.wasm_runtime.clone(),
            },
            ca_bundle: options.ca_bundle.clone(),
            secrets: options.secrets,
            listeners,
            clusters: resolver.clusters.into_values().collect(),
            uses_unavailable,
            rate_limit_service: options.rate_limit_service.clone(),
        },
        problems,
        statuses,
    }
}

struct BuiltRoute {
    entries: Vec<RouteEntry>,
    /// (field, issue) for every backendRef or mirror that cannot be resolved.
    ref_issues: Vec<(String, RefIssue)>,
    invalid: Vec<String>,
    /// Matches not served at all (see `RuleOutput::dropped`).
    dropped: Vec<String>,
    uses_unavailable: bool,
}

fn route_entries(
    route: &Object<HttpRoute>,
    resolver: &mut Resolver<'_>,
    traffic_policies: &mut traffic_policies::TrafficPolicies<'_>,
    problems: &mut Vec<Problem>,
) -> BuiltRoute {
    let mut built = BuiltRoute {
        entries: Vec::new(),
        ref_issues: Vec::new(),
        invalid: Vec::new(),
        dropped: Vec::new(),
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
            let weight = match validate::limits::weight(r.weight.map_or(1, i64::from)) {
                Ok(weight) => weight,
                Err(why) => {
                    if filters.is_ok() {
                        filters = Err(format!("{field}: {why}"));
                    }
                    0
                }
            };
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
                    max_request_bytes: ok.max_request_bytes,
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
                    Ok(ok) => mirrors.push(routes::MirrorTarget {
                        cluster: ok.cluster,
                        per_million: m.per_million,
                        ai: ok.ai,
                    }),
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
        let applied = traffic_policies.applied_to(route, rule);
        if let Some(applied) = applied.as_ref().filter(|a| a.for_filter()) {
            let clusters = &mut resolver.clusters;
            let names = targets
                .iter_mut()
                .filter_map(|t| match t {
                    BackendTarget::Cluster { name, ai: true, .. } => Some(name),
                    _ => None,
                })
                .chain(mirrors.iter_mut().filter(|m| m.ai).map(|m| &mut m.cluster));
            for name in names {
                if let Some(copy) = route_table_clusters::copy_for(clusters, name, applied) {
                    *name = copy;
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
            request_rate_limit: applied.as_ref().and_then(|a| a.request_limit),
            global_budgets: applied
                .as_ref()
                .map(ai_policy::Applied::global_budgets)
                .unwrap_or_default(),
        });
        for why in &out.invalid {
            problems.push(
                Problem::error(format!("{why}; the rule answers 500"))
                    .at(&route.origin)
                    .object(object.clone()),
            );
        }
        for why in &out.dropped {
            problems.push(
                Problem::error(format!(
                    "{why}; this match is not served (Envoy would reject it)"
                ))
                .at(&route.origin)
                .object(object.clone()),
            );
        }
        built.uses_unavailable |= out.uses_unavailable;
        built.invalid.extend(out.invalid);
        built.dropped.extend(out.dropped);
        built.entries.extend(out.entries);
    }
    built
}

/// One listener per port: HTTP ports merge every listener's routes by
/// hostname; HTTPS ports get a TLS filter chain per listener hostname (SNI).
fn build_listeners(
    gateways: &Gateways<'_>,
    mut placed: HashMap<(usize, usize), Vhosts>,
    options: &Options,
) -> Vec<ir::Listener> {
    type Chains = BTreeMap<Option<String>, (Vec<ir::ServerCertificate>, Vhosts)>;
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
            let chains = chains
                .into_iter()
                .map(|(server_name, (certificates, hosts))| Chain {
                    server_name,
                    certificates,
                    virtual_hosts: virtual_hosts(hosts),
                });
            let chains = match protocol {
                // One chain: every listener of the port merged.
                Protocol::Http => chains.take(1).collect(),
                Protocol::Https => chains.collect(),
            };
            ir::Listener {
                bind: options.listen_address.clone(),
                port,
                protocol,
                chains,
            }
        })
        .collect()
}

/// Routes by hostname, in precedence order; exact hostnames before `*`.
fn virtual_hosts(hosts: Vhosts) -> Vec<VirtualHost> {
    let mut out: Vec<VirtualHost> = hosts
        .into_iter()
        .map(|(hostname, mut entries)| {
            entries.sort_by(|a, b| a.precedence.cmp(&b.precedence));
            // A route attached through two listeners of one port is there twice.
            entries.dedup_by(|a, b| a.precedence == b.precedence);
            VirtualHost {
                hostname,
                routes: entries.into_iter().map(|e| e.route).collect(),
            }
        })
        .collect();
    // Envoy prefers exact domains anyway; this keeps the output readable.
    out.sort_by_key(|v| v.hostname == "*");
    out
}

#[cfg(test)]
mod tests;
