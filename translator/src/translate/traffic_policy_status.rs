//! TrafficPolicy status, as the Gateway API's policy attachment has it:
//! `status.ancestors`, one entry per ancestor with an `Accepted` condition.
//!
//! A policy's ancestors are the Gateways where it takes effect: a Gateway
//! target itself, the served Gateways an HTTPRoute target attaches to. A
//! target with no such Gateway (not found, not attached, another kind) is
//! its own ancestor, so a policy llmgate reads always says whether it
//! applies. An ancestor reached through several targetRefs gets the first
//! `Accepted: False` among them (or the first `True`).

use crate::problem::Problem;
use crate::source::Snapshot;
use crate::status::{
    reason, Condition, ObjectStatus, ParentRef, PolicyAncestorStatus, Status, MAX_POLICY_ANCESTORS,
};
use crate::traffic_policy::PolicyTargetRef;

use super::traffic_policies::{RefOutcome, TrafficPolicies};
use super::GATEWAY_GROUP;

const KIND: &str = "TrafficPolicy";

/// Every TrafficPolicy's status, and a problem for each that is not applied
/// (in full) where it says.
pub fn statuses(
    policies: &TrafficPolicies<'_>,
    snapshot: &Snapshot,
    controller_name: &str,
    problems: &mut Vec<Problem>,
) -> Vec<ObjectStatus> {
    let mut out = Vec::new();
    for (p, checked) in policies.policies.iter().enumerate() {
        let policy = checked.policy;
        let problem = |p: Problem, field: &str| {
            p.at(&policy.origin)
                .object(policy.object_ref(KIND))
                .field(field)
        };
        let invalid = checked.applied.as_ref().err();
        if let Some((field, why)) = invalid {
            problems.push(problem(Problem::error(why.clone()), field));
        }
        let mut entries: Vec<PolicyAncestorStatus> = Vec::new();
        for (i, r) in policy.value.spec.target_refs.iter().enumerate() {
            let field = format!("spec.targetRefs[{i}]");
            let (ancestors, accepted) = match invalid {
                Some((field, why)) => (
                    ancestors_of(r, &policy.namespace, policies),
                    Condition::new(
                        reason::ACCEPTED,
                        false,
                        reason::INVALID,
                        format!("{field}: {why}"),
                    ),
                ),
                None => {
                    let outcome = policies.outcomes.get(&(p, i)).cloned().unwrap_or_default();
                    let (ancestors, accepted) =
                        target_outcome(r, &policy.namespace, &outcome, snapshot, policies);
                    if !accepted.is_true() {
                        problems.push(problem(Problem::warning(accepted.message.clone()), &field));
                    }
                    let accepted = Condition {
                        message: format!("{field}: {}", accepted.message),
                        ..accepted
                    };
                    (ancestors, accepted)
                }
            };
            for ancestor_ref in ancestors {
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
                        conditions: vec![accepted.clone()],
                    }),
                }
            }
        }
        if entries.len() > MAX_POLICY_ANCESTORS {
            problems.push(problem(
                Problem::warning(format!(
                    "{} ancestors; status.ancestors lists the first {MAX_POLICY_ANCESTORS} only \
                     (the Gateway API's limit)",
                    entries.len()
                )),
                "status.ancestors",
            ));
            entries.truncate(MAX_POLICY_ANCESTORS);
        }
        out.push(ObjectStatus {
            kind: KIND.into(),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
            status: Status::Policy { ancestors: entries },
        });
    }
    out
}

/// The Gateways where a target takes effect, or the target itself.
fn ancestors_of(
    r: &PolicyTargetRef,
    namespace: &str,
    policies: &TrafficPolicies<'_>,
) -> Vec<ParentRef> {
    let target = ParentRef {
        group: r.group.clone(),
        kind: r.kind.clone(),
        namespace: namespace.into(),
        name: r.name.clone(),
        section_name: None,
        port: None,
    };
    if r.group == GATEWAY_GROUP && r.kind == "HTTPRoute" {
        if let Some(parents) = policies
            .route_parents
            .get(&(namespace.to_string(), r.name.clone()))
            .filter(|p| !p.is_empty())
        {
            return parents.clone();
        }
    }
    vec![target]
}

/// A valid policy's ancestors through one targetRef, and `Accepted` there
/// (message without the field).
fn target_outcome(
    r: &PolicyTargetRef,
    namespace: &str,
    outcome: &RefOutcome,
    snapshot: &Snapshot,
    policies: &TrafficPolicies<'_>,
) -> (Vec<ParentRef>, Condition) {
    let ancestors = ancestors_of(r, namespace, policies);
    let rejected = |why: &str, message: String| {
        (
            ancestors.clone(),
            Condition::new(reason::ACCEPTED, false, why, message),
        )
    };
    let label = format!("{} {namespace}/{}", r.kind, r.name);
    match (r.group.as_str(), r.kind.as_str()) {
        (GATEWAY_GROUP, "HTTPRoute") => {
            let Some(route) = snapshot
                .http_routes
                .iter()
                .find(|h| h.namespace == namespace && h.name == r.name)
            else {
                return rejected(reason::TARGET_NOT_FOUND, format!("{label} not found"));
            };
            if let Some(section) = &r.section_name {
                let has_rule = route
                    .value
                    .spec
                    .rules
                    .iter()
                    .flatten()
                    .any(|rule| rule.name.as_ref() == Some(section));
                if !has_rule {
                    return rejected(
                        reason::TARGET_NOT_FOUND,
                        format!("{label} has no rule named {section:?}"),
                    );
                }
            }
        }
        (GATEWAY_GROUP, "Gateway") => {
            if !snapshot
                .gateways
                .iter()
                .any(|g| g.namespace == namespace && g.name == r.name)
            {
                return rejected(reason::TARGET_NOT_FOUND, format!("{label} not found"));
            }
            if r.section_name.is_some() {
                return rejected(
                    reason::INVALID,
                    "sectionName: llmgate applies TrafficPolicy to a whole Gateway, not to \
                     one listener; target the Gateway, an HTTPRoute or an HTTPRoute rule"
                        .into(),
                );
            }
        }
        _ => {
            return rejected(
                reason::INVALID,
                format!(
                    "llmgate applies TrafficPolicy to {GATEWAY_GROUP} HTTPRoutes and Gateways, \
                     not to {}/{}",
                    r.group, r.kind
                ),
            )
        }
    }
    let target = match &r.section_name {
        Some(section) => format!("rule {section:?} of {label}"),
        None => label,
    };
    let winner = outcome
        .overridden_by
        .and_then(|w| policies.policies.get(w))
        .map(|w| w.policy)
        .map(|w| format!("TrafficPolicy {}/{}", w.namespace, w.name))
        .unwrap_or_default();
    let accepted = |message: String| {
        (
            ancestors.clone(),
            Condition::new(reason::ACCEPTED, true, reason::ACCEPTED, message),
        )
    };
    match (outcome.rules, outcome.won) {
        (0, _) => accepted(format!(
            "applies to {target}; no served rule there forwards to an AI Backend yet"
        )),
        (_, 0) => rejected(
            reason::CONFLICTED,
            format!(
                "{winner} applies to every AI rule of {target} instead (a more specific \
                 target, or equally specific and older, or first by namespace/name)"
            ),
        ),
        (rules, won) if won < rules => accepted(format!(
            "applies to {won} of {rules} AI rules of {target}; {winner} (more specific, or \
             older) applies to the others"
        )),
        _ => accepted(format!("applies to {target}")),
    }
}
