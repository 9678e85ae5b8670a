use super::*;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::Any;
use envoy_types::pb::google::rpc::Status as RpcStatus;

fn resource(name: &str) -> Resource {
    Resource {
        name: name.into(),
        any: Any {
            type_url: String::new(),
            value: name.as_bytes().to_vec(),
        },
    }
}

fn snapshot(version: &str, clusters: &[&str]) -> Arc<XdsSnapshot> {
    Arc::new(XdsSnapshot {
        version: version.into(),
        clusters: clusters.iter().map(|c| resource(c)).collect(),
        listeners: vec![resource("gateway_8080")],
        secrets: vec![resource("key-a"), resource("key-b")],
    })
}

fn request(type_url: &str, version: &str, nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: type_url.into(),
        version_info: version.into(),
        response_nonce: nonce.into(),
        node: Some(Node {
            id: "envoy-1".into(),
            ..Node::default()
        }),
        ..DiscoveryRequest::default()
    }
}

/// (type, version, resource names, nonce) of each response.
fn summary(out: &Output) -> Vec<(&str, String, Vec<String>, String)> {
    out.responses
        .iter()
        .map(|r| {
            let kind = match r.type_url.as_str() {
                CLUSTER => "CDS",
                SECRET => "SDS",
                _ => "LDS",
            };
            let names = r
                .resources
                .iter()
                .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                .collect();
            (kind, r.version_info.clone(), names, r.nonce.clone())
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn subscribes_acks_and_ignores_stale_nonces() {
    let mut c = Connection::new(Some(snapshot("v1", &["a"])));
    assert_eq!(
        summary(&c.on_request(request(CLUSTER, "", ""))),
        [("CDS", "v1".into(), s(&["a"]), "1".into())]
    );
    assert_eq!(c.node_id, "envoy-1");
    // ACK: nothing more to send.
    assert!(c
        .on_request(request(CLUSTER, "v1", "1"))
        .responses
        .is_empty());
    assert_eq!(
        summary(&c.on_request(request(LISTENER, "", ""))),
        [("LDS", "v1".into(), s(&["gateway_8080"]), "2".into())]
    );
    // A request for a type not served, and a stale nonce: no answer.
    assert!(c
        .on_request(request(
            "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            "",
            ""
        ))
        .responses
        .is_empty());
    assert!(c.on_request(request(CLUSTER, "", "1")).responses.is_empty());
}

#[test]
fn nothing_is_sent_before_envoy_asks_or_before_a_config_exists() {
    let mut c = Connection::new(None);
    assert!(c.on_request(request(CLUSTER, "", "")).responses.is_empty());
    let out = c.on_snapshot(snapshot("v1", &["a"]));
    assert_eq!(
        summary(&out),
        [("CDS", "v1".into(), s(&["a"]), "1".into())],
        "only the subscribed type"
    );
    let mut fresh = Connection::new(None);
    assert!(fresh
        .on_snapshot(snapshot("v1", &["a"]))
        .responses
        .is_empty());
}

#[test]
fn updates_go_clusters_first_and_only_when_the_version_changes() {
    let mut c = Connection::new(Some(snapshot("v1", &["a"])));
    c.on_request(request(CLUSTER, "", ""));
    c.on_request(request(LISTENER, "", ""));
    let out = c.on_snapshot(snapshot("v2", &["a", "b"]));
    assert_eq!(
        summary(&out),
        [
            ("CDS", "v2".into(), s(&["a", "b"]), "3".into()),
            ("LDS", "v2".into(), s(&["gateway_8080"]), "4".into())
        ]
    );
    assert!(c
        .on_snapshot(snapshot("v2", &["a", "b"]))
        .responses
        .is_empty());
}

#[test]
fn removed_clusters_stay_until_the_new_listeners_are_acked() {
    let mut c = Connection::new(Some(snapshot("v1", &["old", "keep"])));
    c.on_request(request(CLUSTER, "", ""));
    c.on_request(request(CLUSTER, "v1", "1"));
    c.on_request(request(LISTENER, "", ""));
    c.on_request(request(LISTENER, "v1", "2"));
    let out = c.on_snapshot(snapshot("v2", &["keep", "new"]));
    assert_eq!(
        summary(&out),
        [
            (
                "CDS",
                "v2+previous".into(),
                s(&["keep", "new", "old"]),
                "3".into()
            ),
            ("LDS", "v2".into(), s(&["gateway_8080"]), "4".into())
        ]
    );
    assert!(c
        .on_request(request(CLUSTER, "v2+previous", "3"))
        .responses
        .is_empty());
    let out = c.on_request(request(LISTENER, "v2", "4"));
    assert_eq!(
        summary(&out),
        [("CDS", "v2".into(), s(&["keep", "new"]), "5".into())]
    );
}

#[test]
fn a_nack_is_reported_and_the_config_is_not_resent() {
    let mut c = Connection::new(Some(snapshot("v1", &["a"])));
    c.on_request(request(CLUSTER, "", ""));
    let mut nack = request(CLUSTER, "", "1");
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "bad cluster a".into(),
        details: vec![],
    });
    let out = c.on_request(nack);
    assert!(out.responses.is_empty());
    assert_eq!(
        out.rejection,
        Some(Rejection {
            node_id: "envoy-1".into(),
            type_url: CLUSTER.into(),
            version: "v1".into(),
            message: "bad cluster a".into()
        })
    );
    // The next good snapshot is sent as usual.
    assert_eq!(summary(&c.on_snapshot(snapshot("v2", &["b"]))).len(), 1);
}

fn secrets_request(names: &[&str], version: &str, nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        resource_names: s(names),
        ..request(SECRET, version, nonce)
    }
}

#[test]
fn secrets_are_served_by_name_as_envoy_asks_for_them() {
    let mut c = Connection::new(Some(snapshot("v1", &["a"])));
    assert_eq!(
        summary(&c.on_request(secrets_request(&["key-a"], "", ""))),
        [("SDS", "v1".into(), s(&["key-a"]), "1".into())]
    );
    // The ACK, then a new cluster's secret asked for with the same nonce.
    assert!(c
        .on_request(secrets_request(&["key-a"], "v1", "1"))
        .responses
        .is_empty());
    assert_eq!(
        summary(&c.on_request(secrets_request(&["key-b", "key-a"], "v1", "1"))),
        [("SDS", "v1".into(), s(&["key-a", "key-b"]), "2".into())]
    );
    // A name the snapshot lacks is not invented.
    assert_eq!(
        summary(&c.on_request(secrets_request(&["key-a", "nope"], "v1", "2"))),
        [("SDS", "v1".into(), s(&["key-a"]), "3".into())]
    );
    // A new snapshot (a rotated key) reaches a subscriber before anything else.
    let out = c.on_snapshot(snapshot("v2", &["a"]));
    assert_eq!(
        summary(&out),
        [("SDS", "v2".into(), s(&["key-a"]), "4".into())]
    );
    // Not subscribed to CDS/LDS here: nothing else was sent.
}

#[test]
fn a_snapshot_is_accepted_once_its_clusters_and_listeners_are_acked() {
    let mut c = Connection::new(Some(snapshot("v1", &["a"])));
    c.on_request(request(CLUSTER, "", ""));
    c.on_request(request(LISTENER, "", ""));
    let out = c.on_request(request(CLUSTER, "v1", "1"));
    assert_eq!(out.acked, Some((CLUSTER.to_string(), "v1".to_string())));
    assert!(out.accepted.is_none(), "listeners not acked yet");
    let out = c.on_request(request(LISTENER, "v1", "2"));
    assert_eq!(
        out.accepted.map(|s| s.version.clone()).as_deref(),
        Some("v1")
    );
    // v2's listeners are rejected: v2 is never reported accepted.
    c.on_snapshot(snapshot("v2", &["a"]));
    assert!(c.on_request(request(CLUSTER, "v2", "3")).accepted.is_none());
    let mut nack = request(LISTENER, "v1", "4");
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "cannot bind".into(),
        details: vec![],
    });
    let out = c.on_request(nack);
    assert!(out.accepted.is_none() && out.acked.is_none());
    assert_eq!(out.rejection.map(|r| r.version).as_deref(), Some("v2"));
}
