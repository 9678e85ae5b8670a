//! GatewayClasses, Gateways and their listeners: which are ours, which are
//! valid, what each serves (port, protocol, hostname, certificates) and their
//! status conditions.

use std::collections::{BTreeMap, HashMap};

use gateway_api::gatewayclasses::GatewayClass;
use gateway_api::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom,
    GatewayListenersAllowedRoutesNamespacesSelector, GatewayListenersTlsMode,
};
use k8s_openapi::api::core::v1::Secret;

use super::grants::{self, Grants};
use super::{Options, GATEWAY_GROUP};
pub use crate::ir::{Protocol, ServerCertificate};
use crate::problem::{Problem, Severity};
use crate::source::{Object, Snapshot};
use crate::status::{reason, Condition, ListenerStatus, ObjectStatus, RouteGroupKind, Status};
use crate::validate;

/// One listener of a served Gateway.
pub struct Listener<'a> {
    pub spec: &'a GatewayListeners,
    pub port: u16,
    pub protocol: Protocol,
    pub certificates: Vec<ServerCertificate>,
    /// Accepted and not conflicted: routes may attach and are counted in
    /// `attachedRoutes`, even while the listener cannot be programmed (an
    /// unresolved certificate): the Gateway API keeps attachment and
    /// readiness apart, so fixing the Secret needs no change to the routes.
    pub accepted: bool,
    /// Programmed: in the Envoy configuration (implies `accepted`).
    pub ready: bool,
    /// HTTPRoute is among the kinds it allows.
    pub allows_http_routes: bool,
    pub conditions: Vec<Condition>,
    pub supported_kinds: Vec<RouteGroupKind>,
    pub attached_routes: u32,
}

pub struct ServedGateway<'a> {
    pub object: &'a Object<Gateway>,
    pub listeners: Vec<Listener<'a>>,
    /// A note for the Accepted condition (e.g. no GatewayClass in the input).
    pub note: Option<String>,
}

pub struct Gateways<'a> {
    pub served: Vec<ServedGateway<'a>>,
    index: HashMap<(&'a str, &'a str), usize>,
    /// Statuses of GatewayClasses and of Gateways that are not ours.
    pub other_statuses: Vec<ObjectStatus>,
}

impl<'a> Gateways<'a> {
    pub fn find(&self, namespace: &str, name: &str) -> Option<usize> {
        self.index.get(&(namespace, name)).copied()
    }

    pub fn statuses(&self) -> Vec<ObjectStatus> {
        let mut out = self.other_statuses.clone();
        for gateway in &self.served {
            let conditions = gateway_conditions(gateway);
            out.push(ObjectStatus {
                kind: "Gateway".into(),
                namespace: gateway.object.namespace.clone(),
                name: gateway.object.name.clone(),
                status: Status::Gateway {
                    conditions,
                    listeners: gateway
                        .listeners
                        .iter()
                        .map(|l| ListenerStatus {
                            name: l.spec.name.clone(),
                            supported_kinds: l.supported_kinds.clone(),
                            attached_routes: l.attached_routes,
                            conditions: l.conditions.clone(),
                        })
                        .collect(),
                },
            });
        }
        out
    }
}

/// Accepted while any listener is (routes can attach there); the reason is
/// `ListenersNotValid` as soon as one listener is not fully valid, with
/// Accepted True or False (the Gateway API allows both). Programmed while
/// any listener is in the Envoy configuration.
fn gateway_conditions(gateway: &ServedGateway<'_>) -> Vec<Condition> {
    let total = gateway.listeners.len();
    let accepted = gateway.listeners.iter().filter(|l| l.accepted).count();
    let ready = gateway.listeners.iter().filter(|l| l.ready).count();
    let note = |message: String| match &gateway.note {
        Some(note) => format!("{message}; {note}"),
        None => message,
    };
    let accepted = if accepted == 0 {
        Condition::new(
            reason::ACCEPTED,
            false,
            reason::LISTENERS_NOT_VALID,
            note("no listener is valid".into()),
        )
    } else if ready == total {
        Condition::new(
            reason::ACCEPTED,
            true,
            reason::ACCEPTED,
            note("served by llmgate".into()),
        )
    } else {
        Condition::new(
            reason::ACCEPTED,
            true,
            reason::LISTENERS_NOT_VALID,
            note(format!("{ready} of {total} listeners are valid")),
        )
    };
    let programmed = if ready > 0 {
        Condition::new(
            reason::PROGRAMMED,
            true,
            reason::PROGRAMMED,
            "in the Envoy configuration",
        )
    } else {
        Condition::new(
            reason::PROGRAMMED,
            false,
            reason::INVALID,
            "nothing to serve",
        )
    };
    vec![accepted, programmed]
}

pub fn plan<'a>(
    snapshot: &'a Snapshot,
    options: &Options,
    grants: &Grants<'_>,
    problems: &mut Vec<Problem>,
) -> Gateways<'a> {
    let classes: HashMap<&str, &Object<GatewayClass>> = snapshot
        .gateway_classes
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let mut other_statuses = Vec::new();
    for class in &snapshot.gateway_classes {
        if class.value.spec.controller_name == options.controller_name {
            other_statuses.push(ObjectStatus {
                kind: "GatewayClass".into(),
                namespace: String::new(),
                name: class.name.clone(),
                status: Status::Conditions {
                    conditions: vec![Condition::new(
                        reason::ACCEPTED,
                        true,
                        reason::ACCEPTED,
                        format!("controller {} is llmgate", options.controller_name),
                    )],
                },
            });
        }
    }
    let mut served = Vec::new();
    let mut index = HashMap::new();
    for gateway in &snapshot.gateways {
        let class_name = gateway.value.spec.gateway_class_name.as_str();
        if options
            .gateway_class
            .as_deref()
            .is_some_and(|c| c != class_name)
        {
            continue;
        }
        let mut note = None;
        match classes.get(class_name) {
            Some(class) if class.value.spec.controller_name != options.controller_name => {
                other_statuses.push(ObjectStatus {
                    kind: "Gateway".into(),
                    namespace: gateway.namespace.clone(),
                    name: gateway.name.clone(),
                    status: Status::Conditions {
                        conditions: vec![Condition::unknown(
                            reason::ACCEPTED,
                            reason::PENDING,
                            format!(
                                "not served: GatewayClass {class_name} belongs to controller {}, llmgate is {}",
                                class.value.spec.controller_name, options.controller_name
                            ),
                        )],
                    },
                });
                continue;
            }
            Some(_) => {}
            None => {
                let why = format!("GatewayClass {class_name} is not in the input; served anyway");
                problems.push(
                    Problem::warning(why.clone())
                        .at(&gateway.origin)
                        .object(gateway.object_ref("Gateway"))
                        .field("spec.gatewayClassName"),
                );
                note = Some(why);
            }
        }
        if let Some(why) = unsupported_parameters(gateway) {
            problems.push(
                Problem::error(format!("{why}; the Gateway is not served"))
                    .at(&gateway.origin)
                    .object(gateway.object_ref("Gateway"))
                    .field("spec.infrastructure.parametersRef"),
            );
            other_statuses.push(ObjectStatus {
                kind: "Gateway".into(),
                namespace: gateway.namespace.clone(),
                name: gateway.name.clone(),
                status: Status::Conditions {
                    conditions: vec![
                        Condition::new(reason::ACCEPTED, false, reason::INVALID_PARAMETERS, why),
                        Condition::new(reason::PROGRAMMED, false, reason::INVALID, "not accepted"),
                    ],
                },
            });
            continue;
        }
        let listeners = gateway
            .value
            .spec
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| listener(snapshot, gateway, i, l, grants, problems))
            .collect();
        index.insert(
            (gateway.namespace.as_str(), gateway.name.as_str()),
            served.len(),
        );
        served.push(ServedGateway {
            object: gateway,
            listeners,
            note,
        });
    }
    mark_conflicts(&mut served);
    Gateways {
        served,
        index,
        other_statuses,
    }
}

/// Why the Gateway's `infrastructure.parametersRef` cannot be honoured.
/// llmgate defines no parameters kind, so any parametersRef is one it cannot
/// resolve; the Gateway API rejects such a Gateway (Accepted False,
/// InvalidParameters) rather than serving it without its parameters.
fn unsupported_parameters(gateway: &Object<Gateway>) -> Option<String> {
    let r = gateway
        .value
        .spec
        .infrastructure
        .as_ref()?
        .parameters_ref
        .as_ref()?;
    let group = if r.group.is_empty() {
        String::new()
    } else {
        format!("{}/", r.group)
    };
    Some(format!(
        "infrastructure.parametersRef {group}{} {} cannot be resolved: llmgate supports no parameters kind",
        r.kind, r.name
    ))
}

fn listener<'a>(
    snapshot: &'a Snapshot,
    gateway: &'a Object<Gateway>,
    index: usize,
    spec: &'a GatewayListeners,
    grants: &Grants<'_>,
    problems: &mut Vec<Problem>,
) -> Listener<'a> {
    let field = format!("spec.listeners[{index}]");
    let mut report_as = |severity: Severity, f: &str, message: &str| {
        let message = format!("listener {}: {message}", spec.name);
        let problem = match severity {
            Severity::Error => Problem::error(message),
            Severity::Warning => Problem::warning(message),
        };
        problems.push(
            problem
                .at(&gateway.origin)
                .object(gateway.object_ref("Gateway"))
                .field(format!("{field}{f}")),
        );
    };
    let mut out = Listener {
        spec,
        port: 0,
        protocol: Protocol::Http,
        certificates: Vec::new(),
        accepted: false,
        ready: false,
        allows_http_routes: true,
        conditions: Vec::new(),
        supported_kinds: vec![http_route_kind()],
        attached_routes: 0,
    };
    let invalid = |out: &mut Listener<'a>, accepted: Condition, resolved: Condition| {
        out.accepted = accepted.is_true();
        let message = if accepted.is_true() {
            resolved.message.clone()
        } else {
            accepted.message.clone()
        };
        out.conditions = vec![
            accepted,
            Condition::new(reason::PROGRAMMED, false, reason::INVALID, message),
            resolved,
            Condition::new(reason::CONFLICTED, false, reason::NO_CONFLICTS, ""),
        ];
    };
    let resolved_ok = || Condition::new(reason::RESOLVED_REFS, true, reason::RESOLVED_REFS, "");
    let accepted_ok = || Condition::new(reason::ACCEPTED, true, reason::ACCEPTED, "");

    // Kinds: only HTTPRoute (the only route kind llmgate serves).
    if let Some(kinds) = spec.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref()) {
        let (ok, bad): (Vec<_>, Vec<_>) = kinds.iter().partition(|k| {
            k.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP && k.kind == "HTTPRoute"
        });
        out.allows_http_routes = !ok.is_empty();
        out.supported_kinds = if ok.is_empty() {
            vec![]
        } else {
            vec![http_route_kind()]
        };
        if !bad.is_empty() {
            let names: Vec<String> = bad.iter().map(|k| k.kind.clone()).collect();
            let message = format!(
                "unsupported route kinds: {} (llmgate serves HTTPRoute)",
                names.join(", ")
            );
            report_as(Severity::Warning, ".allowedRoutes.kinds", &message);
            let cond = Condition::new(
                reason::RESOLVED_REFS,
                false,
                reason::INVALID_ROUTE_KINDS,
                message,
            );
            if ok.is_empty() {
                invalid(&mut out, accepted_ok(), cond);
                return out;
            }
            out.conditions.push(cond);
        }
    }
    let Ok(port) =
        u16::try_from(spec.port)
            .map_err(|_| ())
            .and_then(|p| if p == 0 { Err(()) } else { Ok(p) })
    else {
        report_as(Severity::Warning, ".port", "must be 1-65535");
        invalid(
            &mut out,
            Condition::new(
                reason::ACCEPTED,
                false,
                reason::INVALID,
                "port must be 1-65535",
            ),
            resolved_ok(),
        );
        return out;
    };
    out.port = port;
    if let Some(hostname) = &spec.hostname {
        // Envoy would refuse the SNI name or the virtual host.
        if let Err(why) = validate::hostname::check(hostname, true) {
            report_as(Severity::Error, ".hostname", &why);
            invalid(
                &mut out,
                Condition::new(reason::ACCEPTED, false, reason::UNSUPPORTED_VALUE, why),
                resolved_ok(),
            );
            return out;
        }
    }
    out.protocol = match spec.protocol.as_str() {
        "HTTP" => Protocol::Http,
        "HTTPS" => Protocol::Https,
        other => {
            let message = format!("protocol {other} is not supported (HTTP, HTTPS)");
            report_as(Severity::Warning, ".protocol", &message);
            // No route kind can attach to a protocol llmgate does not speak.
            out.supported_kinds = Vec::new();
            invalid(
                &mut out,
                Condition::new(
                    reason::ACCEPTED,
                    false,
                    reason::UNSUPPORTED_PROTOCOL,
                    message,
                ),
                resolved_ok(),
            );
            return out;
        }
    };
    if out.protocol == Protocol::Https {
        match certificates(snapshot, gateway, spec, grants) {
            Ok(certs) => out.certificates = certs,
            Err((f, why, message)) => {
                // A certificate that is there but unusable is an error in the
                // input; a missing Secret only a warning (it may yet come).
                let (severity, message) = match message.strip_prefix(UNUSABLE) {
                    Some(m) => (Severity::Error, format!("{m}; the listener is not served")),
                    None => (Severity::Warning, message),
                };
                report_as(severity, &format!(".tls{f}"), &message);
                let accepted = if why == reason::UNSUPPORTED_PROTOCOL {
                    Condition::new(reason::ACCEPTED, false, why, message.clone())
                } else {
                    accepted_ok()
                };
                invalid(
                    &mut out,
                    accepted,
                    Condition::new(reason::RESOLVED_REFS, false, why, message),
                );
                return out;
            }
        }
    }
    out.accepted = true;
    out.ready = true;
    let resolved = out.conditions.pop().unwrap_or_else(resolved_ok);
    out.conditions = vec![
        accepted_ok(),
        Condition::new(reason::PROGRAMMED, true, reason::PROGRAMMED, ""),
        resolved,
        Condition::new(reason::CONFLICTED, false, reason::NO_CONFLICTS, ""),
    ];
    out
}

fn http_route_kind() -> RouteGroupKind {
    RouteGroupKind {
        group: GATEWAY_GROUP.into(),
        kind: "HTTPRoute".into(),
    }
}

/// Starts the message of a certificate Envoy could not load (see `listener`).
const UNUSABLE: &str = "unusable: ";

/// An HTTPS listener's certificates, or (field, reason, message).
fn certificates(
    snapshot: &Snapshot,
    gateway: &Object<Gateway>,
    spec: &GatewayListeners,
    grants: &Grants<'_>,
) -> Result<Vec<ServerCertificate>, (String, &'static str, String)> {
    let tls = spec.tls.as_ref();
    if tls.and_then(|t| t.mode.as_ref()) == Some(&GatewayListenersTlsMode::Passthrough) {
        return Err((
            ".mode".into(),
            reason::UNSUPPORTED_PROTOCOL,
            "TLS mode Passthrough needs a TLSRoute; HTTPS listeners terminate TLS".into(),
        ));
    }
    let refs = tls
        .and_then(|t| t.certificate_refs.as_deref())
        .unwrap_or_default();
    if refs.is_empty() {
        return Err((
            ".certificateRefs".into(),
            reason::INVALID_CERTIFICATE_REF,
            "an HTTPS listener needs tls.certificateRefs".into(),
        ));
    }
    let mut out = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let field = format!(".certificateRefs[{i}]");
        let group = r.group.as_deref().unwrap_or("");
        let kind = r.kind.as_deref().unwrap_or("Secret");
        if !matches!(group, "" | "core") || kind != "Secret" {
            return Err((
                field,
                reason::INVALID_CERTIFICATE_REF,
                format!("{group}/{kind} is not a Secret"),
            ));
        }
        let namespace = r.namespace.as_deref().unwrap_or(&gateway.namespace);
        let permitted = grants.permits(
            &grants::From {
                group: GATEWAY_GROUP,
                kind: "Gateway",
                namespace: &gateway.namespace,
            },
            &grants::To {
                group: "",
                kind: "Secret",
                namespace,
                name: &r.name,
            },
        );
        if !permitted {
            return Err((
                field,
                reason::REF_NOT_PERMITTED,
                format!(
                    "Secret {namespace}/{} is in another namespace and no ReferenceGrant allows it",
                    r.name
                ),
            ));
        }
        let Some(secret) = snapshot.secret(namespace, &r.name) else {
            return Err((
                field,
                reason::INVALID_CERTIFICATE_REF,
                format!("Secret {namespace}/{} not found", r.name),
            ));
        };
        match tls_pair(&secret.value) {
            Some((chain, key)) => {
                // Envoy would refuse the listener, and every chain on its port.
                if let Err(why) = validate::tls::server_certificate(&chain, &key) {
                    return Err((
                        field,
                        reason::INVALID_CERTIFICATE_REF,
                        format!("{UNUSABLE}Secret {namespace}/{}: {why}", r.name),
                    ));
                }
                out.push(ServerCertificate { chain, key })
            }
            None => {
                return Err((
                    field,
                    reason::INVALID_CERTIFICATE_REF,
                    format!(
                        "Secret {namespace}/{} is not a kubernetes.io/tls Secret with PEM tls.crt and tls.key",
                        r.name
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn tls_pair(secret: &Secret) -> Option<(String, String)> {
    if secret
        .type_
        .as_deref()
        .is_some_and(|t| t != "kubernetes.io/tls")
    {
        return None;
    }
    let get = |key: &str| -> Option<String> {
        let text = match secret.string_data.as_ref().and_then(|d| d.get(key)) {
            Some(v) => v.clone(),
            None => String::from_utf8(secret.data.as_ref()?.get(key)?.0.clone()).ok()?,
        };
        text.contains("-----BEGIN ").then_some(text)
    };
    Some((get("tls.crt")?, get("tls.key")?))
}

/// Listeners sharing a port must agree on the protocol (the first valid one
/// wins); HTTPS listeners on a port need distinct hostnames (SNI), and so do
/// a Gateway's own listeners on a port.
fn mark_conflicts(served: &mut [ServedGateway<'_>]) {
    let mut port_protocol: BTreeMap<u16, Protocol> = BTreeMap::new();
    let mut https_names: BTreeMap<(u16, Option<String>), ()> = BTreeMap::new();
    for gateway in served.iter_mut() {
        let mut own: BTreeMap<(u16, Option<String>), ()> = BTreeMap::new();
        for l in gateway.listeners.iter_mut().filter(|l| l.ready) {
            let protocol = *port_protocol.entry(l.port).or_insert(l.protocol);
            let key = (l.port, l.spec.hostname.clone());
            let conflict = if protocol != l.protocol {
                Some((
                    reason::PROTOCOL_CONFLICT,
                    format!("port {} is already used with another protocol", l.port),
                ))
            } else if own.insert(key.clone(), ()).is_some()
                || (l.protocol == Protocol::Https && https_names.insert(key, ()).is_some())
            {
                Some((
                    reason::HOSTNAME_CONFLICT,
                    format!("another listener on port {} has the same hostname", l.port),
                ))
            } else {
                None
            };
            if let Some((why, message)) = conflict {
                l.accepted = false;
                l.ready = false;
                for c in l.conditions.iter_mut() {
                    if c.type_ == reason::CONFLICTED {
                        *c = Condition::new(reason::CONFLICTED, true, why, message.clone());
                    } else if c.type_ == reason::PROGRAMMED {
                        *c = Condition::new(
                            reason::PROGRAMMED,
                            false,
                            reason::INVALID,
                            message.clone(),
                        );
                    }
                }
            }
        }
    }
}

/// Does the listener let routes from `route_namespace` attach?
pub fn allows_namespace(
    gateway_namespace: &str,
    listener: &GatewayListeners,
    route_namespace: &str,
    snapshot: &Snapshot,
) -> bool {
    let namespaces = listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    let from = namespaces
        .and_then(|n| n.from.clone())
        .unwrap_or(GatewayListenersAllowedRoutesNamespacesFrom::Same);
    match from {
        GatewayListenersAllowedRoutesNamespacesFrom::All => true,
        GatewayListenersAllowedRoutesNamespacesFrom::Same => gateway_namespace == route_namespace,
        GatewayListenersAllowedRoutesNamespacesFrom::Selector => {
            let Some(selector) = namespaces.and_then(|n| n.selector.as_ref()) else {
                return false;
            };
            let mut labels: BTreeMap<String, String> = snapshot
                .namespaces
                .iter()
                .find(|n| n.name == route_namespace)
                .and_then(|n| n.value.metadata.labels.clone())
                .unwrap_or_default();
            // Kubernetes labels every namespace with its name.
            labels.insert("kubernetes.io/metadata.name".into(), route_namespace.into());
            selects(selector, &labels)
        }
    }
}

fn selects(
    selector: &GatewayListenersAllowedRoutesNamespacesSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}
