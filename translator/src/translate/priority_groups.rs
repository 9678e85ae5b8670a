//! `spec.ai.priorityGroups` → one Envoy cluster whose endpoints are the
//! providers, one priority level per group, plus the route retry policy that
//! fails over from one group to the next.
//!
//! Why one cluster with priorities and not Envoy's aggregate cluster of one
//! cluster per provider: the aggregate cluster runs the upstream HTTP filters
//! of the *aggregate* (measured on 1.40: the member clusters' filters never
//! run), so per-provider filter configuration would be lost. With priorities,
//! each provider is an endpoint carrying its own
//! - filter configuration: the one plugin holds every provider's and picks the
//!   one named by the chosen endpoint's metadata (`llmgate.provider`), which
//!   the upstream filter can read because Envoy picks the endpoint first;
//! - TLS context and SNI: `transport_socket_matches` on the same metadata;
//! - Host header: set by the filter from that provider's configuration.
//!
//! Providers inside one group share a priority level, so Envoy balances load
//! between them; a later group only gets traffic when a retry moves there
//! (`previous_priorities`) or when outlier detection has ejected every
//! provider of the earlier groups.

use super::ai_backend::{self, Unavailable};
use crate::backend::{Backend, PriorityGroup};
use crate::problem::{Problem, Severity};
use crate::source::{Object, Snapshot};

const MAX_GROUPS: usize = 32;
const MAX_PROVIDERS_PER_GROUP: usize = 32;

pub use crate::ir::{Member, ResolvedGroups};

pub fn resolve(
    backend: &Object<Backend>,
    groups: &[PriorityGroup],
    snapshot: &Snapshot,
) -> Result<ResolvedGroups, Unavailable> {
    let object = backend.object_ref("Backend");
    let invalid = |field: String, message: String| {
        Box::new(
            Problem::error(message)
                .at(&backend.origin)
                .object(object.clone())
                .field(field),
        )
    };
    let base = "spec.ai.priorityGroups";
    if groups.is_empty() || groups.len() > MAX_GROUPS {
        return Err(invalid(
            base.into(),
            format!("must have 1-{MAX_GROUPS} groups, has {}", groups.len()),
        ));
    }
    let mut seen_names: Vec<&str> = Vec::new();
    let mut members = Vec::new();
    let mut warnings = Vec::new();
    let mut left_out = Vec::new();
    let mut priority = 0;
    for (g, group) in groups.iter().enumerate() {
        let group_field = format!("{base}[{g}].providers");
        if group.providers.is_empty() || group.providers.len() > MAX_PROVIDERS_PER_GROUP {
            return Err(invalid(
                group_field,
                format!(
                    "must have 1-{MAX_PROVIDERS_PER_GROUP} providers, has {}",
                    group.providers.len()
                ),
            ));
        }
        let mut group_ready = false;
        for (i, named) in group.providers.iter().enumerate() {
            let field = format!("{group_field}[{i}]");
            if named.name.is_empty() {
                return Err(invalid(format!("{field}.name"), "must not be empty".into()));
            }
            if seen_names.contains(&named.name.as_str()) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!(
                        "{:?} is used by another provider; names are unique across all groups",
                        named.name
                    ),
                ));
            }
            seen_names.push(&named.name);
            match ai_backend::resolve_named_provider(named, &field, backend, snapshot) {
                Ok(mut resolved) => {
                    resolved.filter.provider_name = Some(named.name.clone());
                    // Each member reads the headers of its own slot: the
                    // cluster's injectors write every member's key.
                    resolved.filter.auth.token = resolved.credential.filter_token(members.len());
                    // Backend-wide warnings (verification disabled, a
                    // policy conflict) come once per provider: keep one.
                    for w in std::mem::take(&mut resolved.warnings) {
                        if !warnings.contains(&w) {
                            warnings.push(w);
                        }
                    }
                    members.push(Member { priority, resolved });
                    group_ready = true;
                }
                Err(problem) if problem.severity == Severity::Warning => {
                    let why = problem
                        .message
                        .split("; routes to ")
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    left_out.push(Problem {
                        message: format!(
                            "{why}; provider {:?} is left out of its priority group",
                            named.name
                        ),
                        ..*problem
                    });
                }
                Err(problem) => return Err(problem),
            }
        }
        if group_ready {
            priority += 1;
        }
    }
    if members.is_empty() {
        let first = left_out
            .first()
            .map(|w| w.message.clone())
            .unwrap_or_default();
        return Err(Box::new(
            Problem::warning(format!(
                "no provider of any priority group is ready ({first}); routes to this backend answer 500"
            ))
            .at(&backend.origin)
            .object(object)
            .field(base),
        ));
    }
    Ok(ResolvedGroups {
        members,
        left_out,
        warnings,
    })
}
