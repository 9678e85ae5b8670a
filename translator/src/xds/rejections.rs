//! What the Envoys said about the configurations they were sent: NACKs
//! counted by type and node, the nodes rejecting right now, and the last
//! configuration every Envoy that got it accepted.
//!
//! A NACK means validation missed something Envoy refuses (or something only
//! the Envoy's host knows, like a port already taken). Envoy keeps its last
//! good configuration; a freshly started one has none, so the control plane
//! keeps the last accepted snapshot and serves it, rather than a version an
//! Envoy has rejected, until the configuration changes again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::resources::XdsSnapshot;
use super::server::Rejection;
use crate::status::{reason, Condition, ObjectStatus, Status};

#[derive(Debug, Default)]
pub struct Rejections {
    /// (type URL, node) → NACKs since start.
    nacks: BTreeMap<(String, String), u64>,
    /// (node, type URL) → its latest NACK, until that node accepts a version
    /// of that type or disconnects.
    rejecting: BTreeMap<(String, String), Rejection>,
    /// Versions some Envoy rejected.
    rejected_versions: BTreeSet<String>,
    /// The last snapshot an Envoy accepted whole (clusters and listeners).
    last_accepted: Option<Arc<XdsSnapshot>>,
}

impl Rejections {
    pub fn nack(&mut self, rejection: &Rejection) {
        *self
            .nacks
            .entry((rejection.type_url.clone(), rejection.node_id.clone()))
            .or_default() += 1;
        self.rejected_versions
            .insert(base_version(&rejection.version).to_string());
        self.rejecting.insert(
            (rejection.node_id.clone(), rejection.type_url.clone()),
            rejection.clone(),
        );
    }

    /// `node` accepted a version of `type_url`.
    pub fn ack(&mut self, node: &str, type_url: &str) {
        self.rejecting
            .remove(&(node.to_string(), type_url.to_string()));
    }

    /// `node` accepted the whole of `snapshot`.
    pub fn accepted(&mut self, snapshot: Arc<XdsSnapshot>) {
        self.last_accepted = Some(snapshot);
    }

    /// `node`'s stream ended: it rejects nothing any more.
    pub fn disconnected(&mut self, node: &str) {
        self.rejecting.retain(|(n, _), _| n != node);
    }

    /// What to send instead of `latest`: the last accepted snapshot when an
    /// Envoy has rejected `latest` (every Envoy would: they all get the same).
    pub fn servable(&self, latest: Arc<XdsSnapshot>) -> Arc<XdsSnapshot> {
        match &self.last_accepted {
            Some(good) if self.rejected_versions.contains(&latest.version) => good.clone(),
            _ => latest,
        }
    }

    pub fn rejecting(&self) -> Vec<Rejection> {
        self.rejecting.values().cloned().collect()
    }

    /// Prometheus text: `llmgate_xds_nacks_by_type` (counter) and
    /// `llmgate_xds_rejecting_nodes` (gauge: nodes rejecting now).
    pub fn render(&self) -> String {
        let mut out = String::from("# TYPE llmgate_xds_nacks_by_type counter\n");
        for ((type_url, node), n) in &self.nacks {
            out.push_str(&format!(
                "llmgate_xds_nacks_by_type{{type_url=\"{}\",node=\"{}\"}} {n}\n",
                label(type_url),
                label(node)
            ));
        }
        let nodes: BTreeSet<&str> = self.rejecting.keys().map(|(n, _)| n.as_str()).collect();
        out.push_str(&format!(
            "# TYPE llmgate_xds_rejecting_nodes gauge\nllmgate_xds_rejecting_nodes {}\n",
            nodes.len()
        ));
        out
    }
}

/// Cluster responses may carry `+previous` (clusters kept for a while).
fn base_version(version: &str) -> &str {
    version.split('+').next().unwrap_or(version)
}

/// A Prometheus label value: node ids come from the Envoys.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every Gateway's `Programmed` condition says when Envoys reject the
/// configuration: they serve an older one, so what the status says is
/// programmed is not.
pub fn report_on_gateways(statuses: &mut [ObjectStatus], rejecting: &[Rejection]) {
    let Some(first) = rejecting.first() else {
        return;
    };
    let nodes: BTreeSet<&str> = rejecting.iter().map(|r| r.node_id.as_str()).collect();
    let message = format!(
        "Envoy rejected the configuration ({} node(s): {}); they serve the last one they accepted. {} {}: {}",
        nodes.len(),
        nodes.into_iter().collect::<Vec<_>>().join(", "),
        first.node_id,
        first.type_url.rsplit('.').next().unwrap_or(&first.type_url),
        first.message
    );
    for status in statuses.iter_mut().filter(|s| s.kind == "Gateway") {
        if let Status::Gateway { conditions, .. } = &mut status.status {
            let programmed = Condition::new(reason::PROGRAMMED, false, reason::INVALID, &message);
            match conditions
                .iter_mut()
                .find(|c| c.type_ == reason::PROGRAMMED)
            {
                Some(c) => *c = programmed,
                None => conditions.push(programmed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::resources::LISTENER;

    fn snapshot(version: &str) -> Arc<XdsSnapshot> {
        Arc::new(XdsSnapshot {
            version: version.into(),
            ..XdsSnapshot::default()
        })
    }

    fn nack(node: &str, version: &str) -> Rejection {
        Rejection {
            node_id: node.into(),
            type_url: LISTENER.into(),
            version: version.into(),
            message: "cannot bind".into(),
        }
    }

    #[test]
    fn a_rejected_version_is_replaced_by_the_last_accepted_one() {
        let mut r = Rejections::default();
        assert_eq!(r.servable(snapshot("v2")).version, "v2", "nothing rejected");
        r.nack(&nack("a", "v2"));
        assert_eq!(
            r.servable(snapshot("v2")).version,
            "v2",
            "nothing accepted yet"
        );
        r.accepted(snapshot("v1"));
        assert_eq!(r.servable(snapshot("v2")).version, "v1");
        assert_eq!(
            r.servable(snapshot("v3")).version,
            "v3",
            "a new version is tried"
        );
        r.nack(&Rejection {
            version: "v3+previous".into(),
            ..nack("a", "v3")
        });
        assert_eq!(r.servable(snapshot("v3")).version, "v1");
    }

    #[test]
    fn nodes_reject_until_they_accept_or_leave() {
        let mut r = Rejections::default();
        r.nack(&nack("a", "v2"));
        r.nack(&nack("a", "v2"));
        r.nack(&nack("b\"x", "v2"));
        let text = r.render();
        assert!(text.contains("llmgate_xds_nacks_by_type{type_url=\"type.googleapis.com/envoy.config.listener.v3.Listener\",node=\"a\"} 2\n"), "{text}");
        assert!(text.contains("node=\"b\\\"x\"} 1\n"), "{text}");
        assert!(text.contains("llmgate_xds_rejecting_nodes 2\n"), "{text}");
        r.ack("a", LISTENER);
        assert!(r.render().contains("llmgate_xds_rejecting_nodes 1\n"));
        r.disconnected("b\"x");
        let text = r.render();
        assert!(text.contains("llmgate_xds_rejecting_nodes 0\n"), "{text}");
        assert!(text.contains("node=\"a\"} 2\n"), "counters stay: {text}");
    }

    #[test]
    fn gateways_say_they_are_not_programmed_while_envoys_reject() {
        let gateway = || ObjectStatus {
            kind: "Gateway".into(),
            namespace: "ai".into(),
            name: "gw".into(),
            status: Status::Gateway {
                conditions: vec![
                    Condition::new(reason::ACCEPTED, true, reason::ACCEPTED, ""),
                    Condition::new(reason::PROGRAMMED, true, reason::PROGRAMMED, ""),
                ],
                listeners: vec![],
            },
        };
        let mut statuses = vec![gateway()];
        report_on_gateways(&mut statuses, &[]);
        assert_eq!(statuses, vec![gateway()]);
        report_on_gateways(&mut statuses, &[nack("envoy-1", "v2")]);
        let conditions = statuses[0].conditions();
        assert_eq!(conditions.len(), 2);
        let programmed = conditions[1];
        assert_eq!(
            (programmed.status.as_str(), programmed.reason.as_str()),
            ("False", "Invalid")
        );
        assert!(
            programmed.message.contains("envoy-1") && programmed.message.contains("cannot bind"),
            "{}",
            programmed.message
        );
        assert!(conditions[0].is_true(), "still Accepted");
    }
}
