//! Only the methods an AI route is for reach a provider.
//!
//! Every provider API llmgate serves (chat completions, messages,
//! generateContent, converse) is a POST, and none lists anything with GET.
//! Any other method on the same path would reach the provider with the
//! gateway's key: `GET /v1/chat/completions` lists stored chats at OpenAI,
//! `DELETE` removes them. So a match that forwards to an AI Backend forwards
//! only [`AI_METHODS`], and a 405 route right behind it answers the rest
//! (with `allow` and an OpenAI-style error), in Envoy itself: nothing is
//! sent upstream, the answer does not depend on the Backend being ready, and
//! it shows in the route table. Mirrors to an AI Backend likewise get only
//! those methods.

use crate::ir::{ForwardAction, HeaderChanges, Route, RouteAction};

pub const AI_METHODS: [&str; 1] = ["POST"];

/// The Envoy routes for one match: `(part, route)`, part 0 first, part 1
/// right behind it (same match, any method).
///
/// - Forwarding to an AI Backend: part 0 forwards [`AI_METHODS`], part 1
///   answers 405. A match naming another method only answers 405.
/// - Mirroring to an AI Backend (`ai_mirrors`, clusters): part 0 forwards
///   [`AI_METHODS`] with every mirror, part 1 forwards the rest without the
///   AI mirrors.
/// - Anything else is left as it is.
pub fn guard(route: Route, ai_targets: bool, ai_mirrors: &[&str]) -> Vec<(u8, Route)> {
    let RouteAction::Forward(forward) = &route.action else {
        return vec![(0, route)];
    };
    if ai_targets {
        return split(route, refused);
    }
    if forward
        .mirrors
        .iter()
        .any(|(c, _)| ai_mirrors.contains(&c.as_str()))
    {
        let unmirrored = |mut route: Route| {
            route.name.push_str("/other_methods");
            if let RouteAction::Forward(ForwardAction { mirrors, .. }) = &mut route.action {
                mirrors.retain(|(c, _)| !ai_mirrors.contains(&c.as_str()));
            }
            route
        };
        return split(route, unmirrored);
    }
    vec![(0, route)]
}

/// `route` for [`AI_METHODS`], and `other(route)` for every other method.
fn split(mut route: Route, other: impl Fn(Route) -> Route) -> Vec<(u8, Route)> {
    match route.matcher.method.as_deref() {
        Some(method) if AI_METHODS.contains(&method) => vec![(0, route)],
        Some(_) => vec![(0, other(route))],
        None => {
            let rest = other(route.clone());
            route.matcher.method = Some(AI_METHODS[0].to_owned());
            vec![(0, route), (1, rest)]
        }
    }
}

fn refused(mut route: Route) -> Route {
    route.name.push_str("/method_not_allowed");
    route.headers = HeaderChanges::default();
    route.action = RouteAction::MethodNotAllowed {
        allow: AI_METHODS.iter().map(|m| (*m).to_owned()).collect(),
    };
    route
}
