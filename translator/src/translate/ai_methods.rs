//! Only the methods an AI route is for reach a provider.
//!
//! Every provider API llmgate serves (chat completions, messages,
//! generateContent, converse, embeddings, responses) is a POST; the one
//! GET is a model list (`…/models`, route type `Models`), which the filter
//! answers from the Backend's models or sends to the provider's own list.
//! Any other method or path would reach the provider with the gateway's key:
//! `GET /v1/chat/completions` lists stored chats at OpenAI, `DELETE` removes
//! them. So a match that forwards to an AI Backend forwards only
//! [`AI_METHODS`] (and GET on [`MODEL_LIST_PATH`]), and a 405 route right
//! behind it answers the rest
//! (with `allow` and an OpenAI-style error), in Envoy itself: nothing is
//! sent upstream, the answer does not depend on the Backend being ready, and
//! it shows in the route table. Mirrors to an AI Backend likewise get only
//! those methods.

use crate::ir::{ForwardAction, HeaderChanges, HeaderMatch, Route, RouteAction, StringMatch};

pub const AI_METHODS: [&str; 1] = ["POST"];

/// `:path` of a model list: what the filter's route type `Models` is (RE2,
/// whole value, query included).
pub const MODEL_LIST_PATH: &str = r"[^?#]*/(models|engines)/?([?#].*)?";

/// The Envoy routes for one match: `(part, route)`, part 0 first, the
/// higher parts right behind it (same match).
///
/// - Forwarding to an AI Backend: part 0 forwards [`AI_METHODS`], part 1 a
///   GET of a model list, part 2 answers 405 to the rest. A match naming GET
///   forwards only the model list; one naming another method only answers
///   405.
/// - Mirroring to an AI Backend (`ai_mirrors`, clusters): part 0 forwards
///   [`AI_METHODS`] with every mirror, part 1 forwards the rest without the
///   AI mirrors.
/// - Anything else is left as it is.
pub fn guard(route: Route, ai_targets: bool, ai_mirrors: &[&str]) -> Vec<(u8, Route)> {
    let RouteAction::Forward(forward) = &route.action else {
        return vec![(0, route)];
    };
    if ai_targets {
        return split(route, true, refused);
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
        return split(route, false, unmirrored);
    }
    vec![(0, route)]
}

/// `route` for [`AI_METHODS`] (and, with `models`, GET of a model list),
/// and `other(route)` for every other method.
fn split(mut route: Route, models: bool, other: impl Fn(Route) -> Route) -> Vec<(u8, Route)> {
    match route.matcher.method.as_deref() {
        Some(method) if AI_METHODS.contains(&method) => vec![(0, route)],
        Some("GET") if models => vec![(0, listing(route.clone())), (1, other(route))],
        Some(_) => vec![(0, other(route))],
        None => {
            let rest = other(route.clone());
            let list = models.then(|| listing(route.clone()));
            route.matcher.method = Some(AI_METHODS[0].to_owned());
            let mut parts = vec![(0, route)];
            parts.extend(list.map(|l| (1, l)));
            parts.push((2, rest));
            parts
        }
    }
}

/// `route` for GET on a model list only.
fn listing(mut route: Route) -> Route {
    route.name.push_str("/models");
    route.matcher.method = Some("GET".to_owned());
    route.matcher.headers.push(HeaderMatch {
        name: ":path".to_owned(),
        value: StringMatch::Regex(MODEL_LIST_PATH.to_owned()),
    });
    route
}

fn refused(mut route: Route) -> Route {
    route.name.push_str("/method_not_allowed");
    route.headers = HeaderChanges::default();
    route.action = RouteAction::MethodNotAllowed {
        allow: AI_METHODS.iter().map(|m| (*m).to_owned()).collect(),
    };
    route
}
