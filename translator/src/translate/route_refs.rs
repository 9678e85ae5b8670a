//! An HTTPRoute's ResolvedRefs condition. The Gateway API puts it on every
//! entry of `status.parents`, the parents the route is not accepted by too,
//! so it is also worked out for a route that attaches nowhere — without
//! building clusters for it (nothing would use them).

use gateway_api::httproutes::HttpRoute;

use super::backend_refs::{Ref, RefIssue, Resolver};
use super::filters;
use crate::source::Object;
use crate::status::{reason, Condition};

/// (field, issue) for every backendRef and RequestMirror ref of `route` that
/// does not resolve; the fields are those `route_entries` reports.
pub fn issues(route: &Object<HttpRoute>, resolver: &Resolver<'_>) -> Vec<(String, RefIssue)> {
    let mut out = Vec::new();
    for (rule_index, rule) in route.value.spec.rules.iter().flatten().enumerate() {
        let rule_field = format!("spec.rules[{rule_index}]");
        for (index, r) in rule.backend_refs.iter().flatten().enumerate() {
            let target = Ref {
                group: r.group.as_deref(),
                kind: r.kind.as_deref(),
                name: &r.name,
                namespace: r.namespace.as_deref(),
                port: r.port,
            };
            if let Err(issue) = resolver.check(&route.namespace, &target) {
                out.push((format!("{rule_field}.backendRefs[{index}]"), issue));
            }
        }
        // Filters that cannot be honoured are not refs: no ResolvedRefs issue.
        let Ok(plan) = filters::plan(rule.filters.as_deref().unwrap_or_default()) else {
            continue;
        };
        for (index, m) in plan.mirrors.iter().enumerate() {
            let target = Ref {
                group: m.group.as_deref(),
                kind: m.kind.as_deref(),
                name: &m.name,
                namespace: m.namespace.as_deref(),
                port: m.port,
            };
            if let Err(issue) = resolver.check(&route.namespace, &target) {
                let field = format!("{rule_field}.filters[requestMirror {index}].backendRef");
                out.push((field, issue));
            }
        }
    }
    out
}

/// ResolvedRefs: True, or False with the first issue's reason and a summary.
pub fn condition(issues: &[(String, RefIssue)]) -> Condition {
    match issues.first() {
        None => Condition::new(
            reason::RESOLVED_REFS,
            true,
            reason::RESOLVED_REFS,
            "all backendRefs resolved",
        ),
        Some((field, first)) => {
            let more = issues.len() - 1;
            let message = format!("{field}: {}", first.message);
            Condition::new(
                reason::RESOLVED_REFS,
                false,
                first.reason,
                match more {
                    0 => message,
                    n => format!("{message} (and {n} more)"),
                },
            )
        }
    }
}
