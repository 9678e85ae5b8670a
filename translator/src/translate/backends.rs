//! Every AI `Backend` → its cluster (one provider, or its priority groups) or
//! why it cannot serve, and its status.

use std::collections::{BTreeMap, HashMap};

use super::ai_backend;
use super::backend_refs::AiCluster;
use super::{backend_tls, names, priority_groups, request_limit};
use crate::backend::Backend;
use crate::ir::{Cluster, ResolvedGroups};
use crate::problem::{Problem, Unavailable};
use crate::source::{Object, Snapshot};
use crate::status::{reason, Condition, ObjectStatus, Status};

/// What an AI Backend resolves to: one provider, or its priority groups.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Single(Box<ai_backend::ResolvedBackend>),
    Groups(ResolvedGroups),
}

pub fn resolve(backend: &Object<Backend>, snapshot: &Snapshot) -> Result<Resolved, Unavailable> {
    let invalid = |field: &str, message: &str| {
        Box::new(
            Problem::error(message)
                .at(&backend.origin)
                .object(backend.object_ref("Backend"))
                .field(field),
        )
    };
    let spec = &backend.value.spec;
    if spec.type_ != crate::backend::BackendType::Ai {
        return Err(invalid(
            "spec.type",
            &format!(
                "unsupported backend type {:?}: llmgate serves type AI",
                spec.type_
            ),
        ));
    }
    let Some(ai) = &spec.ai else {
        return Err(invalid("spec.ai", "required when type is AI"));
    };
    let max_request_bytes = request_limit::of(backend)?;
    let mut resolved = match (&ai.llm, &ai.priority_groups) {
        (Some(llm), None) => ai_backend::resolve_provider(llm, "spec.ai.llm", backend, snapshot)
            .map(|one| Resolved::Single(Box::new(one))),
        (None, Some(groups)) => {
            priority_groups::resolve(backend, groups, snapshot).map(Resolved::Groups)
        }
        _ => Err(invalid(
            "spec.ai",
            "exactly one of llm, priorityGroups must be set",
        )),
    }?;
    match &mut resolved {
        Resolved::Single(one) => one.filter.max_request_bytes = max_request_bytes,
        Resolved::Groups(groups) => {
            for member in &mut groups.members {
                member.resolved.filter.max_request_bytes = max_request_bytes;
            }
        }
    }
    Ok(resolved)
}

/// (namespace, name) → the AI Backend's cluster, or why it cannot serve.
pub type BackendClusters<'a> = HashMap<(&'a str, &'a str), Result<AiCluster, String>>;

/// Every AI Backend's cluster (or why it cannot serve) and its status.
pub fn resolve_backends<'a>(
    snapshot: &'a Snapshot,
    clusters: &mut BTreeMap<String, Cluster>,
    problems: &mut Vec<Problem>,
) -> (BackendClusters<'a>, Vec<ObjectStatus>) {
    let mut out = HashMap::new();
    let mut statuses = Vec::new();
    problems.extend(backend_tls::policy_problems(snapshot));
    for backend in &snapshot.backends {
        let key = (backend.namespace.as_str(), backend.name.as_str());
        let resolved = resolve(backend, snapshot);
        let conditions = match resolved {
            Ok(resolved) => {
                let max_request_bytes = match &resolved {
                    Resolved::Single(one) => one.filter.max_request_bytes,
                    Resolved::Groups(groups) => groups
                        .members
                        .iter()
                        .map(|m| m.resolved.filter.max_request_bytes)
                        .max()
                        .unwrap_or_default(),
                };
                let name = names::backend_cluster(&backend.namespace, &backend.name);
                let label = format!("{}/{}", backend.namespace, backend.name);
                let (cluster, failover_retries, warnings, left_out) = match resolved {
                    Resolved::Single(mut one) => {
                        let warnings = std::mem::take(&mut one.warnings);
                        let cluster = Cluster::Ai {
                            name: name.clone(),
                            provider: one,
                        };
                        (cluster, 0, warnings, Vec::new())
                    }
                    Resolved::Groups(mut groups) => {
                        let failover_retries = groups.failover_retries();
                        let warnings = std::mem::take(&mut groups.warnings);
                        let left_out = std::mem::take(&mut groups.left_out);
                        let cluster = Cluster::PriorityGroups {
                            name: name.clone(),
                            backend: label,
                            groups,
                        };
                        (cluster, failover_retries, warnings, left_out)
                    }
                };
                clusters.insert(name.clone(), cluster);
                out.insert(
                    key,
                    Ok(AiCluster {
                        name,
                        failover_retries,
                        max_request_bytes,
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
fn unavailable_message(problem: &Problem, backend: &Object<Backend>) -> String {
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
