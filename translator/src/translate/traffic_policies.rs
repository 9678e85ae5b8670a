//! TrafficPolicies → what each HTTPRoute rule that forwards to an AI Backend
//! gets of them ([`Applied`]: route table, AI policy, request limit), by
//! Gateway API policy attachment.
//!
//! targetRefs are local: an HTTPRoute (optionally one rule, `sectionName` =
//! the rule's `name`) or a Gateway in the policy's namespace. A rule gets the
//! table of exactly one policy, the most specific that applies to it:
//! 1. an HTTPRoute target whose `sectionName` is the rule's name,
//! 2. an HTTPRoute target without `sectionName`,
//! 3. a Gateway target, for a route attached to that Gateway;
//!
//! ties go to the oldest policy (`creationTimestamp`; none sorts first), then
//! namespace/name. Policies are never merged: a suffix, guard or limit the
//! winner leaves out is not taken from a less specific policy, so what a
//! rule does can be read off one object. A route attached to several
//! Gateways with different Gateway-level policies gets one of them by the same
//! order (routes are translated once, not per Gateway).
//!
//! A policy that cannot be applied whole (a kgateway field llmgate does not
//! implement, a route type it does not serve) applies nothing and takes part
//! in no precedence: the next policy in line applies.

use std::collections::BTreeMap;

use gateway_api::gateways::Gateway;
use gateway_api::httproutes::{HttpRoute, HttpRouteRules};

use crate::source::{Object, Snapshot};
use crate::status::ParentRef;
use crate::traffic_policy::{PolicyTargetRef, TrafficPolicy};

use super::ai_policy::{self, Applied};
use super::{BACKEND_GROUP, GATEWAY_GROUP};

/// How specific a targetRef is for a rule; lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Specificity {
    RouteRule,
    Route,
    Gateway,
}

/// What one targetRef of one policy came to, over every rule it reaches.
#[derive(Debug, Default, Clone)]
pub struct RefOutcome {
    /// AI rules the targetRef reaches.
    pub rules: usize,
    /// Of those, the rules where this policy applies.
    pub won: usize,
    /// The policy that applies where this one does not (the first seen).
    pub overridden_by: Option<usize>,
}

/// A policy and what it applies, or `(field, why)` it applies nothing.
pub struct Checked<'a> {
    pub policy: &'a Object<TrafficPolicy>,
    pub applied: Result<Applied, ai_policy::Refusal>,
}

pub struct TrafficPolicies<'a> {
    pub policies: Vec<Checked<'a>>,
    /// (policy, targetRef) → outcome.
    pub outcomes: BTreeMap<(usize, usize), RefOutcome>,
    /// HTTPRoute (namespace, name) → the served Gateways it attaches to.
    pub route_parents: BTreeMap<(String, String), Vec<ParentRef>>,
}

impl<'a> TrafficPolicies<'a> {
    /// `global_budgets`, `lookup`: see [`ai_policy::applied`].
    pub fn new(
        snapshot: &'a Snapshot,
        global_budgets: bool,
        lookup: &super::guard_callouts::Lookup<'_>,
    ) -> Self {
        let policies = snapshot
            .traffic_policies
            .iter()
            .map(|policy| Checked {
                policy,
                applied: ai_policy::applied(policy, global_budgets, lookup),
            })
            .collect();
        TrafficPolicies {
            policies,
            outcomes: BTreeMap::new(),
            route_parents: BTreeMap::new(),
        }
    }

    /// Records the served Gateways `route` attaches to (Gateway-level
    /// policies reach it through them; they are its policies' ancestors).
    pub fn attach<'g>(
        &mut self,
        route: &Object<HttpRoute>,
        gateways: impl IntoIterator<Item = &'g Object<Gateway>>,
    ) {
        let parents = self
            .route_parents
            .entry((route.namespace.clone(), route.name.clone()))
            .or_default();
        for gateway in gateways {
            let parent = gateway_ref(&gateway.namespace, &gateway.name);
            if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
    }

    /// What applies to rule `rule` of `route` (after [`Self::attach`]), and
    /// every applicable policy's outcome recorded. `None`: nothing (no
    /// policy, an empty one, or no AI backendRef).
    pub fn applied_to(
        &mut self,
        route: &Object<HttpRoute>,
        rule: &HttpRouteRules,
    ) -> Option<Applied> {
        if !forwards_to_ai(rule) {
            return None;
        }
        let parents = self
            .route_parents
            .get(&(route.namespace.clone(), route.name.clone()))
            .cloned()
            .unwrap_or_default();
        // (policy, its most specific level here, the targetRefs that reach the rule)
        let mut applicable: Vec<(usize, Specificity, Vec<usize>)> = Vec::new();
        for (p, Checked { policy, applied }) in self.policies.iter().enumerate() {
            if applied.is_err() {
                continue;
            }
            let reached: Vec<(usize, Specificity)> = policy
                .value
                .spec
                .target_refs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    specificity(r, &policy.namespace, route, rule, &parents).map(|s| (i, s))
                })
                .collect();
            if let Some(level) = reached.iter().map(|(_, s)| *s).min() {
                applicable.push((p, level, reached.into_iter().map(|(i, _)| i).collect()));
            }
        }
        let winner = applicable
            .iter()
            .filter_map(|(p, level, _)| Some((*p, *level, self.policies.get(*p)?.policy)))
            .min_by_key(|(_, level, policy)| (*level, precedence(policy)))
            .map(|(p, _, _)| p)?;
        for (p, _, refs) in &applicable {
            for r in refs {
                let outcome = self.outcomes.entry((*p, *r)).or_default();
                outcome.rules += 1;
                if *p == winner {
                    outcome.won += 1;
                } else {
                    outcome.overridden_by.get_or_insert(winner);
                }
            }
        }
        match self.policies.get(winner).map(|c| &c.applied) {
            Some(Ok(applied)) if !applied.is_empty() => Some(applied.clone()),
            _ => None,
        }
    }
}

fn gateway_ref(namespace: &str, name: &str) -> ParentRef {
    ParentRef {
        group: GATEWAY_GROUP.into(),
        kind: "Gateway".into(),
        namespace: namespace.into(),
        name: name.into(),
        section_name: None,
        port: None,
    }
}

/// Ties between equally specific policies: oldest, then namespace/name.
fn precedence(policy: &Object<TrafficPolicy>) -> (Option<i128>, &str, &str) {
    let created = policy
        .value
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_nanosecond());
    (created, policy.namespace.as_str(), policy.name.as_str())
}

/// Whether `r` (of a policy in `namespace`) reaches `rule` of `route`, and how
/// specifically.
fn specificity(
    r: &PolicyTargetRef,
    namespace: &str,
    route: &Object<HttpRoute>,
    rule: &HttpRouteRules,
    parents: &[ParentRef],
) -> Option<Specificity> {
    if r.group != GATEWAY_GROUP {
        return None;
    }
    match r.kind.as_str() {
        "HTTPRoute" if route.namespace == namespace && route.name == r.name => {
            match &r.section_name {
                None => Some(Specificity::Route),
                Some(section) if rule.name.as_ref() == Some(section) => {
                    Some(Specificity::RouteRule)
                }
                Some(_) => None,
            }
        }
        // A listener (sectionName) is not a target llmgate supports; the
        // status says so.
        "Gateway" if r.section_name.is_none() => parents
            .contains(&gateway_ref(namespace, &r.name))
            .then_some(Specificity::Gateway),
        _ => None,
    }
}

/// Does the rule send (or mirror) requests to an AI Backend?
fn forwards_to_ai(rule: &HttpRouteRules) -> bool {
    let is_backend = |group: Option<&str>, kind: Option<&str>| {
        group == Some(BACKEND_GROUP) && kind == Some("Backend")
    };
    rule.backend_refs
        .iter()
        .flatten()
        .any(|r| is_backend(r.group.as_deref(), r.kind.as_deref()))
        || rule
            .filters
            .iter()
            .flatten()
            .filter_map(|f| f.request_mirror.as_ref())
            .any(|m| {
                is_backend(
                    m.backend_ref.group.as_deref(),
                    m.backend_ref.kind.as_deref(),
                )
            })
}
