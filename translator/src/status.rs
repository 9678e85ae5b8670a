//! Resource status as pure data, in the Gateway API's shape, so a user in
//! folder mode can see why something is not served (`llmgate status`).
//!
//! The gateway-api crate's status types embed `meta/v1 Condition`, which
//! requires `lastTransitionTime` (and the object's `generation`): a pure
//! translation of a folder knows neither, so conditions here carry the same
//! fields minus those two. A controller writing status to a cluster adds them.

use serde::Serialize;

use crate::problem::{Problem, Severity};

/// The spec's condition types and reasons, spelled once.
pub mod reason {
    pub const ACCEPTED: &str = "Accepted";
    pub const PROGRAMMED: &str = "Programmed";
    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    pub const CONFLICTED: &str = "Conflicted";
    pub const PARTIALLY_INVALID: &str = "PartiallyInvalid";

    pub const INVALID: &str = "Invalid";
    pub const PENDING: &str = "Pending";
    pub const LISTENERS_NOT_VALID: &str = "ListenersNotValid";
    /// Gateway: its infrastructure.parametersRef cannot be resolved.
    pub const INVALID_PARAMETERS: &str = "InvalidParameters";
    pub const NO_CONFLICTS: &str = "NoConflicts";
    pub const PROTOCOL_CONFLICT: &str = "ProtocolConflict";
    pub const HOSTNAME_CONFLICT: &str = "HostnameConflict";
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    pub const INVALID_CERTIFICATE_REF: &str = "InvalidCertificateRef";
    pub const INVALID_ROUTE_KINDS: &str = "InvalidRouteKinds";
    pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";
    pub const BACKEND_NOT_FOUND: &str = "BackendNotFound";
    pub const INVALID_KIND: &str = "InvalidKind";
    pub const NOT_ALLOWED_BY_LISTENERS: &str = "NotAllowedByListeners";
    pub const NO_MATCHING_LISTENER_HOSTNAME: &str = "NoMatchingListenerHostname";
    pub const NO_MATCHING_PARENT: &str = "NoMatchingParent";
    pub const UNSUPPORTED_VALUE: &str = "UnsupportedValue";
    /// Backend: its Secret is missing or lacks the key.
    pub const INVALID_SECRET_REF: &str = "InvalidSecretRef";
    /// Backend: its BackendTLSPolicy's CA ConfigMap is missing or lacks `ca.crt`.
    pub const INVALID_CA_CERTIFICATE_REF: &str = "InvalidCACertificateRef";
    /// Policy: a targetRef names an object (or section) that does not exist.
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    /// BackendTLSPolicy: none of its caCertificateRefs resolves.
    pub const NO_VALID_CA_CERTIFICATE: &str = "NoValidCACertificate";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `"True"`, `"False"` or `"Unknown"`, as Kubernetes spells them.
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn new(type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            type_: type_.into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn unknown(type_: &str, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            status: "Unknown".into(),
            ..Condition::new(type_, false, reason, message)
        }
    }
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteGroupKind {
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub supported_kinds: Vec<RouteGroupKind>,
    pub attached_routes: u32,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: ParentRef,
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}

/// A policy's status for one of its ancestors (Gateway API
/// `PolicyAncestorStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    pub ancestor_ref: ParentRef,
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}

/// The Gateway API keeps at most this many entries in a policy's
/// `status.ancestors` (the CRD's `maxItems`).
pub const MAX_POLICY_ANCESTORS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Status {
    /// Gateway: its own conditions and one entry per listener.
    Gateway {
        conditions: Vec<Condition>,
        listeners: Vec<ListenerStatus>,
    },
    /// HTTPRoute: one entry per parentRef.
    Route { parents: Vec<RouteParentStatus> },
    /// BackendTLSPolicy: one entry per ancestor.
    Policy {
        ancestors: Vec<PolicyAncestorStatus>,
    },
    /// GatewayClass, Backend, and objects that could not be read.
    Conditions { conditions: Vec<Condition> },
}

/// One object's status, printed by `llmgate status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectStatus {
    pub kind: String,
    /// Empty for cluster-scoped kinds (GatewayClass).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    pub status: Status,
}

impl ObjectStatus {
    pub fn conditions(&self) -> Vec<&Condition> {
        match &self.status {
            Status::Gateway {
                conditions,
                listeners,
            } => conditions
                .iter()
                .chain(listeners.iter().flat_map(|l| &l.conditions))
                .collect(),
            Status::Route { parents } => parents.iter().flat_map(|p| &p.conditions).collect(),
            Status::Policy { ancestors } => ancestors.iter().flat_map(|a| &a.conditions).collect(),
            Status::Conditions { conditions } => conditions.iter().collect(),
        }
    }
}

/// Objects the loader had to leave out (syntax, unknown field, wrong type)
/// never reach the translator; they still get a status saying why, so that
/// `llmgate status` explains them next to the routes that miss them.
pub fn unreadable_objects(problems: &[Problem], known: &[ObjectStatus]) -> Vec<ObjectStatus> {
    let mut out: Vec<ObjectStatus> = Vec::new();
    for problem in problems {
        let Some(object) = &problem.object else {
            continue;
        };
        if problem.severity != Severity::Error || object.name.is_empty() {
            continue;
        }
        let same = |s: &ObjectStatus| {
            s.kind == object.kind && s.namespace == object.namespace && s.name == object.name
        };
        if known.iter().any(same) || out.iter().any(same) {
            continue;
        }
        let message = match &problem.field {
            Some(field) => format!("{field}: {}", problem.message),
            None => problem.message.clone(),
        };
        out.push(ObjectStatus {
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            status: Status::Conditions {
                conditions: vec![Condition::new(
                    reason::ACCEPTED,
                    false,
                    reason::INVALID,
                    format!("not served: {message}"),
                )],
            },
        });
    }
    out
}

/// A YAML stream, one document per object, in a stable order.
pub fn render(statuses: &[ObjectStatus]) -> String {
    let mut sorted: Vec<&ObjectStatus> = statuses.iter().collect();
    sorted.sort_by(|a, b| {
        (kind_order(&a.kind), &a.namespace, &a.name).cmp(&(
            kind_order(&b.kind),
            &b.namespace,
            &b.name,
        ))
    });
    let mut out = String::new();
    for status in sorted {
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_string(status));
    }
    out
}

fn kind_order(kind: &str) -> usize {
    const ORDER: [&str; 5] = [
        "GatewayClass",
        "Gateway",
        "HTTPRoute",
        "Backend",
        "BackendTLSPolicy",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{ObjectRef, Origin};

    #[test]
    fn renders_the_gateway_api_shape() {
        let status = ObjectStatus {
            kind: "HTTPRoute".into(),
            namespace: "ai".into(),
            name: "r".into(),
            status: Status::Route {
                parents: vec![RouteParentStatus {
                    parent_ref: ParentRef {
                        group: "gateway.networking.k8s.io".into(),
                        kind: "Gateway".into(),
                        namespace: "ai".into(),
                        name: "gw".into(),
                        section_name: Some("http".into()),
                        port: None,
                    },
                    controller_name: "llmgate.dev/gateway-controller".into(),
                    conditions: vec![Condition::new(
                        reason::RESOLVED_REFS,
                        false,
                        reason::BACKEND_NOT_FOUND,
                        "spec.rules[0].backendRefs[0]: Service ai/s not found",
                    )],
                }],
            },
        };
        let yaml = render(&[status]);
        assert_eq!(
            yaml,
            "---\nkind: HTTPRoute\nnamespace: ai\nname: r\nstatus:\n  parents:\n  - parentRef:\n      group: gateway.networking.k8s.io\n      kind: Gateway\n      namespace: ai\n      name: gw\n      sectionName: http\n    controllerName: llmgate.dev/gateway-controller\n    conditions:\n    - type: ResolvedRefs\n      status: \"False\"\n      reason: BackendNotFound\n      message: \"spec.rules[0].backendRefs[0]: Service ai/s not found\"\n"
        );
    }

    #[test]
    fn renders_a_policy_status_as_ancestors_after_the_other_kinds() {
        let policy = ObjectStatus {
            kind: "BackendTLSPolicy".into(),
            namespace: "ai".into(),
            name: "p".into(),
            status: Status::Policy {
                ancestors: vec![PolicyAncestorStatus {
                    ancestor_ref: ParentRef {
                        group: "gateway.networking.k8s.io".into(),
                        kind: "Gateway".into(),
                        namespace: "ai".into(),
                        name: "gw".into(),
                        section_name: None,
                        port: None,
                    },
                    controller_name: "llmgate.dev/gateway-controller".into(),
                    conditions: vec![Condition::new(
                        reason::ACCEPTED,
                        false,
                        reason::CONFLICTED,
                        "spec.targetRefs[0]: BackendTLSPolicy ai/o applies to Backend ai/b",
                    )],
                }],
            },
        };
        let backend = ObjectStatus {
            kind: "Backend".into(),
            namespace: "ai".into(),
            name: "z".into(),
            status: Status::Conditions { conditions: vec![] },
        };
        let yaml = render(&[policy, backend]);
        assert_eq!(
            yaml,
            "---\nkind: Backend\nnamespace: ai\nname: z\nstatus:\n  conditions: []\n---\nkind: BackendTLSPolicy\nnamespace: ai\nname: p\nstatus:\n  ancestors:\n  - ancestorRef:\n      group: gateway.networking.k8s.io\n      kind: Gateway\n      namespace: ai\n      name: gw\n    controllerName: llmgate.dev/gateway-controller\n    conditions:\n    - type: Accepted\n      status: \"False\"\n      reason: Conflicted\n      message: \"spec.targetRefs[0]: BackendTLSPolicy ai/o applies to Backend ai/b\"\n"
        );
    }

    #[test]
    fn unreadable_objects_get_an_accepted_false_status_once() {
        let origin = Origin::default();
        let problems = vec![
            Problem::error("unknown field `colour`")
                .at(&origin)
                .object(ObjectRef::new("Backend", "ai", "b"))
                .field("spec.ai.llm.colour"),
            Problem::error("second error, same object")
                .object(ObjectRef::new("Backend", "ai", "b")),
            Problem::warning("only a warning").object(ObjectRef::new("Backend", "ai", "w")),
            Problem::error("YAML syntax error").at(&origin),
            Problem::error("already has a status").object(ObjectRef::new("Gateway", "ai", "gw")),
        ];
        let known = vec![ObjectStatus {
            kind: "Gateway".into(),
            namespace: "ai".into(),
            name: "gw".into(),
            status: Status::Conditions { conditions: vec![] },
        }];
        let out = unreadable_objects(&problems, &known);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].name, "b");
        let c = out[0].conditions()[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("Accepted", "False", "Invalid")
        );
        assert_eq!(
            c.message,
            "not served: spec.ai.llm.colour: unknown field `colour`"
        );
    }
}
