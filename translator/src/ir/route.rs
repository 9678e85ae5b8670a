//! Routes: what a request must look like, what is changed on the way, and
//! where it goes.

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `httproute/<namespace>/<name>/rule/<i>/match/<j>`, plus
    /// `/method_not_allowed` for the 405 route that guards an AI route, or
    /// `/other_methods` for the route that does not mirror them to one.
    pub name: String,
    pub matcher: RouteMatch,
    pub headers: HeaderChanges,
    pub action: RouteAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub path: PathMatch,
    pub headers: Vec<HeaderMatch>,
    pub method: Option<String>,
    pub query_params: Vec<HeaderMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Regex(String),
    /// Whole path segments; trailing `/` trimmed, `""` for `/`.
    Prefix(String),
}

/// A header or query parameter match (names as they are to be compared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: String,
    pub value: StringMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    Regex(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderChanges {
    pub request_add: Vec<HeaderValue>,
    pub request_remove: Vec<String>,
    pub response_add: Vec<HeaderValue>,
    pub response_remove: Vec<String>,
}

/// A header to set (`overwrite`) or append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderValue {
    pub name: String,
    pub value: String,
    pub overwrite: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteAction {
    /// 500 with the reason in the body: nothing behind the rule can serve,
    /// or the rule cannot be honoured.
    NotReady(String),
    Redirect(Redirect),
    Forward(ForwardAction),
    /// 405 with an OpenAI-style error body and `allow`: the request matched
    /// an AI route, but with a method the route is not for.
    MethodNotAllowed {
        allow: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub port: RedirectPort,
    pub path: Option<RedirectPath>,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectPort {
    Fixed(u16),
    /// The scheme's well-known port, which Location leaves out.
    SchemeDefault,
    /// The port of the listener the request came in on (known only when the
    /// route is placed on a listener).
    Listener,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectPath {
    Full(String),
    Rewrite(Rewrite),
}

/// A path rewrite, decided for the match it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// The matched prefix is replaced by this.
    Prefix(String),
    Regex {
        regex: String,
        substitution: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForwardAction {
    pub targets: Targets,
    pub path_rewrite: Option<Rewrite>,
    pub host_rewrite: Option<String>,
    /// (cluster, share in millionths).
    pub mirrors: Vec<(String, u32)>,
    /// `N.NNNs`; `0s` is none.
    pub timeout: Option<String>,
    pub retry: Retry,
    /// How much of a request body Envoy may buffer (for the llmgate filter
    /// and for retries); `None`: Envoy's default (the listener's 1 MiB).
    pub request_body_buffer_limit: Option<u64>,
    /// A TrafficPolicy's `rateLimit.local.tokenBucket`: Envoy's
    /// `local_ratelimit` on this route.
    pub request_rate_limit: Option<RequestRateLimit>,
    /// A TrafficPolicy's global `rateLimit.llmTokens`: asked of the
    /// rate-limit service before the request, charged when it is done.
    pub global_budgets: Vec<GlobalTokenBudget>,
}

/// A budget in LLM tokens that every Envoy shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalTokenBudget {
    pub id: String,
    pub max_tokens: u64,
    pub tokens_per_fill: u64,
    pub fill_interval_ms: u64,
    pub client_header: Option<String>,
    pub count: llmgate_filter::policy_config::TokenCount,
}

/// Requests: `max_tokens` of burst, `tokens_per_fill` every `fill_interval_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRateLimit {
    pub max_tokens: u32,
    pub tokens_per_fill: u32,
    pub fill_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    Single(String),
    Weighted {
        clusters: Vec<WeightedCluster>,
        /// The share of backendRefs that cannot be resolved (answers 500).
        unavailable_weight: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WeightedCluster {
    pub name: String,
    pub weight: u32,
    pub request_headers_to_add: Vec<HeaderValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    None,
    /// No retries, a time limit per attempt (HTTPRoute `backendRequest`).
    PerTryTimeout(String),
    /// Fail over through a Backend's priority groups.
    Failover {
        retries: u32,
        per_try_timeout: Option<String>,
    },
}
