//! Envoy names derived from Kubernetes names (clusters, routes).
//!
//! Two objects must never share a derived name: a shared cluster name makes
//! Envoy keep one of the two clusters, so one team's requests would go out
//! with the other team's key. Joining `namespace` and `name` with `_` is
//! unambiguous only while neither contains `_`, which Kubernetes guarantees
//! but files given to `llmgate translate` do not. So every part is escaped
//! first: characters a Kubernetes name may hold (`a-z`, `0-9`, `-`, `.`) stay
//! as they are, so names of real objects are unchanged, and every other byte
//! becomes `~XX` (hex). An escaped part never contains `_` or `/`, the
//! separators, and the escape is reversible, so the joined name is injective.

/// One name part, escaped (see the module comment).
pub fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => out.push(char::from(byte)),
            _ => out.push_str(&format!("~{byte:02X}")),
        }
    }
    out
}

/// The cluster of an AI Backend.
pub fn backend_cluster(namespace: &str, name: &str) -> String {
    format!("backend_{}_{}", escape(namespace), escape(name))
}

/// A copy of an AI Backend's cluster that carries a route table
/// (TrafficPolicy `spec.ai.routes`): `digest` is the table's, hex. The two
/// extra `_`-separated parts keep it apart from every Backend's own cluster
/// (whose escaped parts hold no `_`); two tables share a name only if their
/// 128-bit digests collide.
pub fn route_table_cluster(backend_cluster: &str, digest: &str) -> String {
    format!("{backend_cluster}_routes_{digest}")
}

/// The cluster of a Service port.
pub fn service_cluster(namespace: &str, name: &str, port: u16) -> String {
    format!("service_{}_{}_{port}", escape(namespace), escape(name))
}

/// The cluster of a prompt guard's `host` (a webhook's `{host, port}`).
pub fn guard_host_cluster(host: &str, port: u16) -> String {
    format!("guard_host_{}_{port}", escape(host))
}

/// The cluster of a moderation guard's AI Backend (its provider, without
/// the filter).
pub fn guard_backend_cluster(namespace: &str, name: &str) -> String {
    format!("guard_backend_{}_{}", escape(namespace), escape(name))
}

/// The cluster of OpenAI's API for moderation guards with their own key.
pub const GUARD_OPENAI_CLUSTER: &str = "guard_openai";

/// The Envoy route of one match of an HTTPRoute rule.
pub fn route(namespace: &str, name: &str, rule: usize, match_index: usize) -> String {
    format!(
        "httproute/{}/{}/rule/{rule}/match/{match_index}",
        escape(namespace),
        escape(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_are_kept_and_everything_else_is_escaped() {
        for (part, want) in [
            ("ai", "ai"),
            ("azure-openai", "azure-openai"),
            ("v1.example", "v1.example"),
            ("team_x", "team~5Fx"),
            ("a/b", "a~2Fb"),
            ("~5F", "~7E5~46"),
            ("Team", "~54eam"),
            ("é", "~C3~A9"),
            ("", ""),
        ] {
            assert_eq!(escape(part), want, "{part:?}");
        }
    }

    #[test]
    fn names_that_join_alike_get_different_clusters_and_routes() {
        let pairs = [
            (("team_x", "llm"), ("team", "x_llm")),
            (("a_", "b"), ("a", "_b")),
            (("a~5F", "b"), ("a_", "b")),
            (("a/b", "c"), ("a", "b/c")),
        ];
        for ((ns1, n1), (ns2, n2)) in pairs {
            assert_ne!(
                backend_cluster(ns1, n1),
                backend_cluster(ns2, n2),
                "{ns1}/{n1} vs {ns2}/{n2}"
            );
            assert_ne!(service_cluster(ns1, n1, 80), service_cluster(ns2, n2, 80));
            assert_ne!(route(ns1, n1, 0, 0), route(ns2, n2, 0, 0));
        }
        assert_eq!(backend_cluster("team_x", "llm"), "backend_team~5Fx_llm");
        assert_eq!(backend_cluster("team", "x_llm"), "backend_team_x~5Fllm");
    }

    #[test]
    fn names_of_kubernetes_objects_are_unchanged() {
        assert_eq!(
            backend_cluster("ai", "azure-openai"),
            "backend_ai_azure-openai"
        );
        assert_eq!(service_cluster("default", "s", 80), "service_default_s_80");
        assert_eq!(
            route("default", "a", 0, 1),
            "httproute/default/a/rule/0/match/1"
        );
    }
}
