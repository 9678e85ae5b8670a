//! BackendTLSPolicy status, as the Gateway API's policy attachment has it:
//! `status.ancestors`, one entry per ancestor with `Accepted` and
//! `ResolvedRefs` conditions.
//!
//! A policy's ancestors are the Gateways whose attached routes send traffic
//! (backendRefs, request mirrors) to what the policy targets: that is where
//! it takes effect. Two cases have no such Gateway:
//! - a Backend that no served route uses, or that does not exist: the
//!   targeted Backend is then its own ancestor, so a policy llmgate reads
//!   always says whether it applies (a Backend is llmgate's to read);
//! - a target of another kind (a Service: llmgate does not originate TLS to
//!   Services). Where an llmgate Gateway routes to it, the entry for that
//!   Gateway is `Accepted: False` — llmgate is the implementation ignoring
//!   the policy there. Otherwise there is no entry: the policy may be
//!   another implementation's to apply, and an empty list means "not
//!   relevant to this controller".

use std::collections::BTreeMap;

use gateway_api::backendtlspolicies::{BackendTlsPolicy, BackendTlsPolicyTargetRefs};
use gateway_api::gateways::Gateway;
use gateway_api::httproutes::HttpRoute;

use crate::problem::Problem;
use crate::source::{Object, Snapshot};
use crate::status::{
    reason, Condition, ObjectStatus, ParentRef, PolicyAncestorStatus, Status, MAX_POLICY_ANCESTORS,
};

use super::backend_tls::{self, CaSource};
use super::{BACKEND_GROUP, GATEWAY_GROUP};

/// (group, kind, namespace, name) of a backend, group `""` for core.
type Target = (String, String, String, String);

fn target(group: Option<&str>, kind: Option<&str>, namespace: &str, name: &str) -> Target {
    let group = match group.unwrap_or("") {
        "core" => "",
        g => g,
    };
    (
        group.to_string(),
        kind.unwrap_or("Service").to_string(),
        namespace.to_string(),
        name.to_string(),
    )
}

/// The served Gateways each backend is reached through, in the order routes
/// attach to them.
#[derive(Debug, Default)]
pub struct Ancestors {
    by_target: BTreeMap<Target, Vec<ParentRef>>,
}

impl Ancestors {
    /// `gateways`: the served Gateways the route attaches to.
    pub fn record<'g>(
        &mut self,
        route: &Object<HttpRoute>,
        gateways: impl IntoIterator<Item = &'g Object<Gateway>>,
    ) {
        let mut parents: Vec<ParentRef> = Vec::new();
        for gateway in gateways {
            let parent = gateway_ref(gateway);
            if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
        for rule in route.value.spec.rules.iter().flatten() {
            let backend_refs = rule.backend_refs.iter().flatten().map(|r| {
                target(
                    r.group.as_deref(),
                    r.kind.as_deref(),
                    r.namespace.as_deref().unwrap_or(&route.namespace),
                    &r.name,
                )
            });
            let mirrors = rule
                .filters
                .iter()
                .flatten()
                .filter_map(|f| f.request_mirror.as_ref())
                .map(|m| {
                    let r = &m.backend_ref;
                    target(
                        r.group.as_deref(),
                        r.kind.as_deref(),
                        r.namespace.as_deref().unwrap_or(&route.namespace),
                        &r.name,
                    )
                });
            for key in backend_refs.chain(mirrors) {
                let known = self.by_target.entry(key).or_default();
                for parent in &parents {
                    if !known.contains(parent) {
                        known.push(parent.clone());
                    }
                }
            }
        }
    }

    fn of(&self, target: &Target) -> &[ParentRef] {
        self.by_target.get(target).map_or(&[], Vec::as_slice)
    }
}

fn gateway_ref(gateway: &Object<Gateway>) -> ParentRef {
    ParentRef {
        group: GATEWAY_GROUP.into(),
        kind: "Gateway".into(),
        namespace: gateway.namespace.clone(),
        name: gateway.name.clone(),
        section_name: None,
        port: None,
    }
}

/// Every BackendTLSPolicy's status. Ancestors beyond the Gateway API's 16
/// are left out, with a warning.
pub fn statuses(
    snapshot: &Snapshot,
    ancestors: &Ancestors,
    controller_name: &str,
    problems: &mut Vec<Problem>,
) -> Vec<ObjectStatus> {
    let mut out = Vec::new();
    for policy in &snapshot.backend_tls_policies {
        let mut entries = policy_ancestors(policy, snapshot, ancestors, controller_name);
        if entries.len() > MAX_POLICY_ANCESTORS {
            problems.push(
                Problem::warning(format!(
                    "{} ancestors; status.ancestors lists the first {MAX_POLICY_ANCESTORS} only \
                     (the Gateway API's limit)",
                    entries.len()
                ))
                .at(&policy.origin)
                .object(policy.object_ref("BackendTLSPolicy"))
                .field("status.ancestors"),
            );
            entries.truncate(MAX_POLICY_ANCESTORS);
        }
        out.push(ObjectStatus {
            kind: "BackendTLSPolicy".into(),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
            status: Status::Policy { ancestors: entries },
        });
    }
    out
}

/// One entry per ancestor. An ancestor reached through several targetRefs
/// gets the first `Accepted: False` among them (or the first `True`).
fn policy_ancestors(
    policy: &Object<BackendTlsPolicy>,
    snapshot: &Snapshot,
    ancestors: &Ancestors,
    controller_name: &str,
) -> Vec<PolicyAncestorStatus> {
    let resolved_refs = resolved_refs(policy, snapshot);
    let mut entries: Vec<PolicyAncestorStatus> = Vec::new();
    for (index, target_ref) in policy.value.spec.target_refs.iter().enumerate() {
        let (refs, accepted) = target_outcome(policy, index, target_ref, snapshot, ancestors);
        for ancestor_ref in refs {
            match entries.iter_mut().find(|e| e.ancestor_ref == ancestor_ref) {
                Some(entry) => {
                    if let Some(first) = entry.conditions.first_mut() {
                        if first.is_true() && !accepted.is_true() {
                            *first = accepted.clone();
                        }
                    }
                }
                None => entries.push(PolicyAncestorStatus {
                    ancestor_ref,
                    controller_name: controller_name.into(),
                    conditions: vec![accepted.clone(), resolved_refs.clone()],
                }),
            }
        }
    }
    entries
}

/// The ancestors one targetRef brings, and the policy's `Accepted` there.
fn target_outcome(
    policy: &Object<BackendTlsPolicy>,
    index: usize,
    r: &BackendTlsPolicyTargetRefs,
    snapshot: &Snapshot,
    ancestors: &Ancestors,
) -> (Vec<ParentRef>, Condition) {
    let field = format!("spec.targetRefs[{index}]");
    let key = target(Some(&r.group), Some(&r.kind), &policy.namespace, &r.name);
    let gateways = ancestors.of(&key).to_vec();
    let rejected =
        |why: &str, message: String| Condition::new(reason::ACCEPTED, false, why, message);
    if key.0 != BACKEND_GROUP || key.1 != "Backend" {
        let group = if key.0.is_empty() { "core" } else { &key.0 };
        let accepted = rejected(
            reason::INVALID,
            format!(
                "{field}: llmgate applies BackendTLSPolicy to {BACKEND_GROUP} Backends only; \
                 connections to {group} {} {}/{} do not use it",
                r.kind, policy.namespace, r.name
            ),
        );
        return (gateways, accepted);
    }
    let refs = if gateways.is_empty() {
        vec![ParentRef {
            group: BACKEND_GROUP.into(),
            kind: "Backend".into(),
            namespace: policy.namespace.clone(),
            name: r.name.clone(),
            section_name: None,
            port: None,
        }]
    } else {
        gateways
    };
    let label = format!("Backend {}/{}", policy.namespace, r.name);
    let accepted = match backend_accepted(policy, r, snapshot, &label) {
        Ok(message) => Condition::new(reason::ACCEPTED, true, reason::ACCEPTED, message),
        Err((why, message)) => rejected(why, format!("{field}: {message}")),
    };
    (refs, accepted)
}

/// Accepted for a Backend target: `Ok(message)` or `Err((reason, message))`.
fn backend_accepted(
    policy: &Object<BackendTlsPolicy>,
    r: &BackendTlsPolicyTargetRefs,
    snapshot: &Snapshot,
    label: &str,
) -> Result<String, (&'static str, String)> {
    let Some(backend) = snapshot.backend(&policy.namespace, &r.name) else {
        return Err((reason::TARGET_NOT_FOUND, format!("{label} not found")));
    };
    if let Some(section) = &r.section_name {
        if !backend_tls::provider_names(&backend.value).any(|n| n == section) {
            return Err((
                reason::TARGET_NOT_FOUND,
                format!("{label} has no priority-group provider named {section:?}"),
            ));
        }
    }
    let section = r.section_name.as_deref();
    let winner = snapshot
        .backend_tls_policies
        .iter()
        .filter(|p| backend_tls::targets(p, backend, section))
        .min_by(|a, b| backend_tls::precedence(a).cmp(&backend_tls::precedence(b)));
    if let Some(winner) = winner.filter(|w| w.name != policy.name) {
        return Err((
            reason::CONFLICTED,
            format!(
                "BackendTLSPolicy {}/{} applies to {label} (older, or first by name)",
                winner.namespace, winner.name
            ),
        ));
    }
    let checked = backend_tls::checked_spec(policy).map_err(|problem| {
        let message = match &problem.field {
            Some(field) => format!("{field}: {}", problem.message),
            None => problem.message.clone(),
        };
        (reason::INVALID, message)
    })?;
    if checked.ca == CaSource::ConfigMaps {
        let cas = backend_tls::resolve_ca_refs(policy, snapshot);
        if cas.refs > 0 && cas.issues.len() == cas.refs {
            return Err((
                reason::NO_VALID_CA_CERTIFICATE,
                format!(
                    "no caCertificateRef resolves (see ResolvedRefs); routes to {label} answer 500"
                ),
            ));
        }
    }
    Ok(match section {
        Some(section) => format!("applies to provider {section:?} of {label}"),
        None => format!("applies to {label}"),
    })
}

/// `ResolvedRefs`: whether every caCertificateRef resolves to a ConfigMap
/// with a PEM certificate.
fn resolved_refs(policy: &Object<BackendTlsPolicy>, snapshot: &Snapshot) -> Condition {
    let cas = backend_tls::resolve_ca_refs(policy, snapshot);
    match cas.issues.first() {
        None => Condition::new(
            reason::RESOLVED_REFS,
            true,
            reason::RESOLVED_REFS,
            if cas.refs == 0 {
                "no caCertificateRefs"
            } else {
                "all caCertificateRefs resolved"
            },
        ),
        Some(first) => Condition::new(
            reason::RESOLVED_REFS,
            false,
            first.reason,
            cas.issues
                .iter()
                .map(|i| format!("{}: {}", i.field(), i.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}
