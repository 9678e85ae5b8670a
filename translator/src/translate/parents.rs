//! HTTPRoute parentRefs → the listeners a route attaches to (with the
//! hostnames it serves there) and its Accepted condition per parent.

use gateway_api::httproutes::{HttpRoute, HttpRouteParentRefs};

use super::gateways::{allows_namespace, Gateways};
use super::hostnames;
use super::GATEWAY_GROUP;
use crate::problem::Problem;
use crate::source::{Object, Snapshot};
use crate::status::{reason, Condition, ParentRef, RouteParentStatus};
use crate::validate;

/// A listener (`gateway`, `listener` indexes into `Gateways::served`) and the
/// hostnames the route serves on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub gateway: usize,
    pub listener: usize,
    pub hostnames: Vec<String>,
}

pub struct Attached {
    /// One per Gateway parentRef, Accepted condition set.
    pub parents: Vec<RouteParentStatus>,
    pub attachments: Vec<Attachment>,
}

pub fn attach(
    route: &Object<HttpRoute>,
    gateways: &mut Gateways<'_>,
    snapshot: &Snapshot,
    controller_name: &str,
    problems: &mut Vec<Problem>,
) -> Attached {
    let mut out = Attached {
        parents: Vec::new(),
        attachments: Vec::new(),
    };
    let route_hostnames = route.value.spec.hostnames.as_deref().unwrap_or_default();
    // Envoy would refuse the virtual host (and the listener with it).
    let bad_hostname = route_hostnames.iter().enumerate().find_map(|(i, h)| {
        validate::hostname::check(h, true)
            .err()
            .map(|why| format!("spec.hostnames[{i}]: {why}"))
    });
    if let Some(why) = &bad_hostname {
        problems.push(
            Problem::error(format!("{why}; the route is not served"))
                .at(&route.origin)
                .object(route.object_ref("HTTPRoute")),
        );
    }
    for (index, parent) in route.value.spec.parent_refs.iter().flatten().enumerate() {
        let field = format!("spec.parentRefs[{index}]");
        if !is_gateway_ref(parent) {
            problems.push(
                Problem::warning("only Gateway parents are supported; this parentRef is ignored")
                    .at(&route.origin)
                    .object(route.object_ref("HTTPRoute"))
                    .field(field),
            );
            continue;
        }
        let namespace = parent.namespace.as_deref().unwrap_or(&route.namespace);
        let found = gateways
            .find(namespace, &parent.name)
            .and_then(|g| Some((g, gateways.served.get_mut(g)?)));
        let (accepted, why) = match found {
            None => (
                false,
                (
                    reason::NO_MATCHING_PARENT,
                    format!(
                        "Gateway {namespace}/{} not found (or not served by llmgate)",
                        parent.name
                    ),
                ),
            ),
            Some(_) if bad_hostname.is_some() => (
                false,
                (
                    reason::UNSUPPORTED_VALUE,
                    bad_hostname.clone().unwrap_or_default(),
                ),
            ),
            Some((g, gateway)) => {
                let gateway_namespace = gateway.object.namespace.as_str();
                let mut selected = 0;
                let mut allowed = 0;
                let mut attached = 0;
                // Attachments to listeners that are not programmed.
                let mut waiting = 0;
                for (l, listener) in gateway.listeners.iter_mut().enumerate() {
                    let named = parent
                        .section_name
                        .as_deref()
                        .is_none_or(|s| s == listener.spec.name);
                    let on_port = parent.port.is_none_or(|p| p == listener.spec.port);
                    if !named || !on_port {
                        continue;
                    }
                    selected += 1;
                    // Routes attach to an accepted listener even while it is
                    // not programmed (they are served once it is).
                    if !listener.accepted
                        || !listener.allows_http_routes
                        || !allows_namespace(
                            gateway_namespace,
                            listener.spec,
                            &route.namespace,
                            snapshot,
                        )
                    {
                        continue;
                    }
                    allowed += 1;
                    let hostnames =
                        hostnames::intersect(route_hostnames, listener.spec.hostname.as_deref());
                    if hostnames.is_empty() {
                        continue;
                    }
                    attached += 1;
                    if !listener.ready {
                        waiting += 1;
                    }
                    listener.attached_routes += 1;
                    out.attachments.push(Attachment {
                        gateway: g,
                        listener: l,
                        hostnames,
                    });
                }
                let target = match (&parent.section_name, parent.port) {
                    (Some(s), _) => format!("listener {s} of Gateway {namespace}/{}", parent.name),
                    (None, Some(p)) => format!("port {p} of Gateway {namespace}/{}", parent.name),
                    (None, None) => format!("Gateway {namespace}/{}", parent.name),
                };
                if selected == 0 {
                    (
                        false,
                        (
                            reason::NO_MATCHING_PARENT,
                            format!("{target}: no such listener"),
                        ),
                    )
                } else if allowed == 0 {
                    (
                        false,
                        (
                            reason::NOT_ALLOWED_BY_LISTENERS,
                            format!("{target}: no valid listener allows HTTPRoutes from namespace {} (allowedRoutes)", route.namespace),
                        ),
                    )
                } else if attached == 0 {
                    (
                        false,
                        (
                            reason::NO_MATCHING_LISTENER_HOSTNAME,
                            format!("{target}: the route's hostnames {route_hostnames:?} match no listener hostname"),
                        ),
                    )
                } else if waiting == attached {
                    (
                        true,
                        (
                            reason::ACCEPTED,
                            format!("attached to {target}; not served until its listener is programmed (see the Gateway's status)"),
                        ),
                    )
                } else {
                    (true, (reason::ACCEPTED, format!("attached to {target}")))
                }
            }
        };
        if !accepted && bad_hostname.is_none() {
            problems.push(
                Problem::warning(format!("not attached: {}", why.1))
                    .at(&route.origin)
                    .object(route.object_ref("HTTPRoute"))
                    .field(field),
            );
        }
        out.parents.push(RouteParentStatus {
            parent_ref: ParentRef {
                group: GATEWAY_GROUP.into(),
                kind: "Gateway".into(),
                namespace: namespace.into(),
                name: parent.name.clone(),
                section_name: parent.section_name.clone(),
                port: parent.port,
            },
            controller_name: controller_name.into(),
            conditions: vec![Condition::new(reason::ACCEPTED, accepted, why.0, why.1)],
        });
    }
    out
}

fn is_gateway_ref(parent: &HttpRouteParentRefs) -> bool {
    parent.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        && parent.kind.as_deref().unwrap_or("Gateway") == "Gateway"
}
