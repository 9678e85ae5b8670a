//! ReferenceGrant: may an object in one namespace refer to one in another?

use std::collections::HashMap;

use gateway_api::referencegrants::ReferenceGrant;

use crate::source::{Object, Snapshot};

/// The referring side (always in the referrer's namespace).
pub struct From<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// The referred-to object.
pub struct To<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Grants indexed by the namespace they live in (the target's namespace).
pub struct Grants<'a> {
    by_namespace: HashMap<&'a str, Vec<&'a Object<ReferenceGrant>>>,
}

impl<'a> Grants<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let mut by_namespace: HashMap<&str, Vec<&Object<ReferenceGrant>>> = HashMap::new();
        for grant in &snapshot.reference_grants {
            by_namespace
                .entry(grant.namespace.as_str())
                .or_default()
                .push(grant);
        }
        Grants { by_namespace }
    }

    /// Same-namespace references need no grant.
    pub fn permits(&self, from: &From<'_>, to: &To<'_>) -> bool {
        if from.namespace == to.namespace {
            return true;
        }
        let core = |g: &str| if g == "core" { "" } else { g }.to_string();
        self.by_namespace
            .get(to.namespace)
            .into_iter()
            .flatten()
            .any(|grant| {
                let spec = &grant.value.spec;
                spec.from.iter().any(|f| {
                    core(&f.group) == core(from.group)
                        && f.kind == from.kind
                        && f.namespace == from.namespace
                }) && spec.to.iter().any(|t| {
                    core(&t.group) == core(to.group)
                        && t.kind == to.kind
                        && t.name
                            .as_deref()
                            .is_none_or(|n| n.is_empty() || n == to.name)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::yaml::load_str;

    #[test]
    fn grants_are_matched_on_every_field() {
        let mut snapshot = Snapshot::default();
        let mut problems = Vec::new();
        load_str(
            std::path::Path::new("g.yaml"),
            r#"
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: backends}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps}]
  to: [{group: "", kind: Service, name: only-this}, {group: gateway.kgateway.dev, kind: Backend}]
"#,
            &mut snapshot,
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let grants = Grants::new(&snapshot);
        let route = |ns| From {
            group: "gateway.networking.k8s.io",
            kind: "HTTPRoute",
            namespace: ns,
        };
        let to = |group, kind, ns, name| To {
            group,
            kind,
            namespace: ns,
            name,
        };
        let cases = [
            (
                route("apps"),
                to("", "Service", "backends", "only-this"),
                true,
            ),
            (route("apps"), to("", "Service", "backends", "other"), false),
            (
                route("apps"),
                to("gateway.kgateway.dev", "Backend", "backends", "any"),
                true,
            ),
            (
                route("other"),
                to("", "Service", "backends", "only-this"),
                false,
            ),
            (
                route("apps"),
                to("", "Service", "elsewhere", "only-this"),
                false,
            ),
            (
                route("apps"),
                to("", "Secret", "backends", "only-this"),
                false,
            ),
            (route("x"), to("", "Service", "x", "same-namespace"), true),
        ];
        for (i, (from, to, want)) in cases.iter().enumerate() {
            assert_eq!(grants.permits(from, to), *want, "case {i}");
        }
    }
}
