//! Stat names and labels. Envoy has no labelled counters for wasm, so labels
//! are encoded in the name as `NAME;key=value;…` in a fixed order (`route`,
//! `backend`, `provider`, `provider_name`, `request_model`, `response_model`,
//! then the stat's own label — `token_type`, `status_class`, `reason`,
//! `budget`), and the
//! translator's `stats_tags` regexes (`(;backend=([^;]*))`, …) turn them into
//! Prometheus labels. Envoy adds the `wasmcustom.` prefix.
//!
//! Every label value passes through [`sanitize_label`], so `;` and `=` can never
//! appear inside a value and break the tag regexes.

use crate::policy_config::GuardAction;
use crate::response::Outcome;
use std::collections::{HashMap, HashSet};

/// Counter: tokens by type (`token_type`).
pub const TOKENS: &str = "llmgate_tokens";
/// Counter: requests by `status_class`.
pub const REQUESTS: &str = "llmgate_requests";
/// Counter: 2xx responses whose usage could not be read.
pub const USAGE_UNPARSED: &str = "llmgate_usage_unparsed";
/// Counter: 2xx generations without provider-reported usage, by `reason`
/// ([`Missing`]).
pub const USAGE_MISSING: &str = "llmgate_usage_missing";
/// Counter: estimated tokens of those generations (`token_type` = `input` or
/// `output`), never added to [`TOKENS`]: see [`estimate_tokens`].
pub const TOKENS_ESTIMATED: &str = "llmgate_tokens_estimated";
/// Counter: error events inside streams that started with a 2xx.
pub const STREAM_ERRORS: &str = "llmgate_stream_errors";
/// Counter: requests a local token budget refused with 429, by `budget`
/// (each exhausted budget counts the request).
pub const TOKEN_BUDGET_REJECTED: &str = "llmgate_token_budget_rejected";
/// Counter: calls of a prompt guard service, by `guard` (`webhook`,
/// `moderation`) and `outcome` (`pass`, `mask`, `reject`, `error`,
/// `timeout`).
pub const GUARD_CALLOUT: &str = "llmgate_guard_callout";
/// Counter: prompts and replies a prompt guard acted on, by `direction`
/// (`request`, `response`) and `action` (`mask`, `reject`); see
/// [`prompt_guard`].
pub const PROMPT_GUARD: &str = "llmgate_prompt_guard";
/// Histogram (OpenTelemetry `gen_ai.client.token.usage`): tokens per request,
/// `token_type` = `input` or `output`.
pub const TOKEN_USAGE: &str = "gen_ai_client_token_usage";
/// Histogram (`gen_ai.client.operation.duration`, in ms): request start to
/// the end of the response.
pub const OPERATION_DURATION: &str = "gen_ai_client_operation_duration_ms";
/// Histogram (`gen_ai.server.time_to_first_token`, in ms): request start to
/// the first response body byte, streaming responses only.
pub const TIME_TO_FIRST_TOKEN: &str = "gen_ai_server_time_to_first_token_ms";

pub const MAX_LABEL_BYTES: usize = 64;
/// Per backend and per VM: model labels come from client input (and from the
/// provider), and each distinct value is a new set of stats that Envoy keeps
/// forever. Request and response models share the budget.
pub const MAX_MODELS_PER_BACKEND: usize = 32;
pub const UNKNOWN_MODEL: &str = "unknown";
pub const OTHER_MODEL: &str = "other";
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Token types in the order they are emitted.
pub const TOKEN_TYPES: [&str; 6] = [
    "input",
    "output",
    "total",
    "cached_input",
    "cache_creation_input",
    "reasoning",
];

/// Why a successful generation has no provider-reported usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// An OpenAI-format stream the gateway could not ask for usage (an
    /// api-version without `stream_options`, a `path.full` endpoint).
    NotRequested,
    /// The provider sent none although it could have.
    NotReported,
    /// The reply could not be read (not the format's shape, cut short, too
    /// large, under a content coding).
    Unreadable,
}

impl Missing {
    pub fn label(self) -> &'static str {
        match self {
            Missing::NotRequested => "not_requested",
            Missing::NotReported => "not_reported",
            Missing::Unreadable => "unreadable",
        }
    }
}

/// Tokens estimated for a generation without usage: one token per four
/// bytes of the request body (JSON framing included, so it errs high) and
/// per four characters of generated text (OpenAI chat; 0 where the text was
/// not counted). OpenAI's own rule of thumb for English; no tokenizer fits
/// in the filter, and the estimate is reported apart from real counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub input: u64,
    pub output: u64,
}

pub fn estimate_tokens(bytes_or_chars: u64) -> u64 {
    bytes_or_chars.div_ceil(4)
}

pub fn sanitize_label(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_LABEL_BYTES));
    for c in raw.chars() {
        if out.len() >= MAX_LABEL_BYTES {
            break;
        }
        let keep =
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+');
        // Every kept or replacement char is one ASCII byte, so the cut is
        // always at a char boundary.
        out.push(if keep { c } else { '_' });
    }
    out
}

/// The gateway route from Envoy's route name. The translator names routes
/// `httproute/<ns>/<name>/rule/<i>/match/<j>`; the label is
/// `<ns>/<name>/rule/<i>` (matches of one rule share its backends, and the
/// number of rules is bounded by the configuration). Other names are kept
/// (sanitised); none at all is `unknown`.
pub fn route_label(route_name: Option<&str>) -> String {
    let Some(name) = route_name.filter(|n| !n.is_empty()) else {
        return UNKNOWN_ROUTE.to_owned();
    };
    let rule = name
        .strip_prefix("httproute/")
        .and_then(|rest| rest.rsplit_once("/match/").map(|(rule, _)| rule))
        .unwrap_or(name);
    sanitize_label(rule)
}

/// [`TOKEN_BUDGET_REJECTED`] for a budget (its id, sanitised) on a route
/// (sanitised, [`route_label`]) of a backend (sanitised). Not the provider:
/// the budget is the route's, whichever priority-group member was chosen.
pub fn budget_rejected(route: &str, backend: &str, budget_id: &str) -> String {
    format!(
        "{TOKEN_BUDGET_REJECTED};route={route};backend={backend};budget={}",
        sanitize_label(budget_id)
    )
}

/// [`GUARD_CALLOUT`] for a guard's call on a route (sanitised) of a
/// backend (sanitised).
pub fn guard_callout(route: &str, backend: &str, guard: &str, outcome: &str) -> String {
    format!("{GUARD_CALLOUT};route={route};backend={backend};guard={guard};outcome={outcome}")
}

/// The [`PROMPT_GUARD`] counter, with the upstream labels of a request (the
/// same for both directions, so one metric has one label set).
pub fn prompt_guard(labels: &Labels<'_>, direction: &str, action: &str) -> String {
    format!(
        "{PROMPT_GUARD};{};direction={direction};action={action}",
        labels.upstream()
    )
}

/// `2xx`…`5xx`; `other` for nonsense codes; `none` when no response headers
/// arrived (upstream reset or the attempt was abandoned).
pub fn status_class(status: Option<u32>) -> &'static str {
    match status {
        None => "none",
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

/// Caps the distinct model labels per backend. `unknown`, `other` and the
/// backend's configured model are always allowed and do not use up the budget.
#[derive(Debug, Default)]
pub struct ModelCap {
    seen: HashMap<String, HashSet<String>>,
}

impl ModelCap {
    /// `backend` must already be sanitised; `raw_model` `None` or empty is
    /// `unknown` (where the access log has no field:
    /// [`crate::model_names`]). Returns the label to use.
    pub fn label(&mut self, backend: &str, raw_model: Option<&str>) -> String {
        let Some(raw) = raw_model.filter(|m| !m.is_empty()) else {
            return UNKNOWN_MODEL.to_owned();
        };
        let model = sanitize_label(raw);
        if model == UNKNOWN_MODEL || model == OTHER_MODEL {
            return model;
        }
        let seen = match self.seen.get_mut(backend) {
            Some(seen) => seen,
            None => self.seen.entry(backend.to_owned()).or_default(),
        };
        if seen.contains(&model) {
            return model;
        }
        if seen.len() >= MAX_MODELS_PER_BACKEND {
            return OTHER_MODEL.to_owned();
        }
        seen.insert(model.clone());
        model
    }
}

/// Labels shared by every stat of one finished response. Values are sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels<'a> {
    pub route: &'a str,
    pub backend: &'a str,
    pub provider: &'a str,
    /// The priority-group provider's `name`, else the provider type.
    pub provider_name: &'a str,
    pub request_model: &'a str,
    pub response_model: &'a str,
}

impl Labels<'_> {
    /// `route=…;backend=…;provider=…;provider_name=…`
    fn upstream(&self) -> String {
        format!(
            "route={};backend={};provider={};provider_name={}",
            self.route, self.backend, self.provider, self.provider_name
        )
    }

    /// All six, in the fixed order the tag regexes rely on.
    fn all(&self) -> String {
        format!(
            "{};request_model={};response_model={}",
            self.upstream(),
            self.request_model,
            self.response_model
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Histogram,
}

/// One stat update: a counter increment or a histogram sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub name: String,
    pub value: u64,
}

fn counter(name: String, value: u64) -> Stat {
    Stat {
        kind: Kind::Counter,
        name,
        value,
    }
}

fn histogram(name: String, value: u64) -> Stat {
    Stat {
        kind: Kind::Histogram,
        name,
        value,
    }
}

/// Timings of one request, in ms since the request started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub duration_ms: Option<u64>,
    /// Streaming responses only.
    pub first_byte_ms: Option<u64>,
}

/// The `action` label (and access-log value) of what a guard did.
pub fn guard_action(action: GuardAction) -> &'static str {
    match action {
        GuardAction::Reject => "reject",
        GuardAction::Mask => "mask",
    }
}

/// The stat updates for one finished response.
pub fn stats(
    labels: &Labels<'_>,
    status: Option<u32>,
    outcome: &Outcome,
    timings: Timings,
    missing: Option<(Missing, Estimate)>,
    request_guard: Option<GuardAction>,
) -> Vec<Stat> {
    let all = labels.all();
    let class = status_class(status);
    let mut out = vec![counter(format!("{REQUESTS};{all};status_class={class}"), 1)];
    if let Some(u) = &outcome.usage {
        let amounts = [
            u.input,
            u.output,
            u.total,
            u.cached_input,
            u.cache_creation_input,
            u.reasoning,
        ];
        for (token_type, amount) in TOKEN_TYPES.iter().zip(amounts) {
            out.push(counter(
                format!("{TOKENS};{all};token_type={token_type}"),
                amount,
            ));
        }
        out.push(histogram(
            format!("{TOKEN_USAGE};{all};token_type=input"),
            u.input,
        ));
        out.push(histogram(
            format!("{TOKEN_USAGE};{all};token_type=output"),
            u.output,
        ));
    }
    if let Some(ms) = timings.duration_ms {
        out.push(histogram(format!("{OPERATION_DURATION};{all}"), ms));
    }
    if let (true, Some(ms)) = (outcome.streamed, timings.first_byte_ms) {
        out.push(histogram(format!("{TIME_TO_FIRST_TOKEN};{all}"), ms));
    }
    // Errors carry no usage by design; only a success we failed to read is news.
    if outcome.unparsed && class == "2xx" {
        out.push(counter(
            format!("{USAGE_UNPARSED};{}", labels.upstream()),
            1,
        ));
    }
    if let Some((reason, estimate)) = missing {
        out.push(counter(
            format!(
                "{USAGE_MISSING};{};reason={}",
                labels.upstream(),
                reason.label()
            ),
            1,
        ));
        for (token_type, amount) in [("input", estimate.input), ("output", estimate.output)] {
            out.push(counter(
                format!("{TOKENS_ESTIMATED};{all};token_type={token_type}"),
                amount,
            ));
        }
    }
    if let Some(action) = request_guard {
        out.push(counter(
            prompt_guard(labels, "request", guard_action(action)),
            1,
        ));
    }
    if outcome.stream_errors > 0 {
        out.push(counter(
            format!("{STREAM_ERRORS};{}", labels.upstream()),
            u64::from(outcome.stream_errors),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::TokenUsage;

    #[test]
    fn sanitises_labels() {
        let long = "a".repeat(100);
        let cases = [
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("ns/name", "ns/name"),
            ("org/model:v1@rev+x_y.z", "org/model:v1@rev+x_y.z"),
            ("a;b=c", "a_b_c"),
            ("with space\n", "with_space_"),
            ("é", "_"),
            ("日本語", "___"),
            ("\"}{", "___"),
            ("", ""),
            (long.as_str(), &long[..64]),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_label(raw), want, "{raw:?}");
        }
        let wide = "é".repeat(100);
        assert_eq!(sanitize_label(&wide), "_".repeat(64));
    }

    #[test]
    fn budget_rejections_are_named_by_route_backend_and_budget() {
        let cases = [
            (
                "ns/r/rule/0",
                "ns/b",
                "ns/policy/0",
                "llmgate_token_budget_rejected;route=ns/r/rule/0;backend=ns/b;budget=ns/policy/0",
            ),
            (
                "unknown",
                "ns/b",
                "ns/p;x=y/1",
                "llmgate_token_budget_rejected;route=unknown;backend=ns/b;budget=ns/p_x_y/1",
            ),
        ];
        for (route, backend, id, want) in cases {
            assert_eq!(budget_rejected(route, backend, id), want, "{id}");
        }
    }

    #[test]
    fn status_classes() {
        let cases = [
            (None, "none"),
            (Some(101), "1xx"),
            (Some(200), "2xx"),
            (Some(299), "2xx"),
            (Some(304), "3xx"),
            (Some(429), "4xx"),
            (Some(503), "5xx"),
            (Some(600), "other"),
            (Some(0), "other"),
        ];
        for (status, want) in cases {
            assert_eq!(status_class(status), want, "{status:?}");
        }
    }

    #[test]
    fn route_labels() {
        let cases = [
            (Some("httproute/ns/chat/rule/0/match/1"), "ns/chat/rule/0"),
            (Some("httproute/ns/chat/rule/12/match/0"), "ns/chat/rule/12"),
            (Some("my-route"), "my-route"),
            (Some("httproute/ns/x;y=z/rule/0/match/0"), "ns/x_y_z/rule/0"),
            (Some(""), "unknown"),
            (None, "unknown"),
        ];
        for (name, want) in cases {
            assert_eq!(route_label(name), want, "{name:?}");
        }
    }

    #[test]
    fn caps_models_per_backend() {
        let mut cap = ModelCap::default();
        for i in 0..MAX_MODELS_PER_BACKEND {
            assert_eq!(cap.label("ns/a", Some(&format!("m{i}"))), format!("m{i}"));
        }
        assert_eq!(cap.label("ns/a", Some("one-too-many")), "other");
        assert_eq!(cap.label("ns/a", Some("m0")), "m0", "known values stay");
        assert_eq!(cap.label("ns/a", Some("unknown")), "unknown");
        assert_eq!(cap.label("ns/a", Some("other")), "other");
        assert_eq!(cap.label("ns/a", Some("")), "unknown");
        assert_eq!(cap.label("ns/a", None), "unknown");
        assert_eq!(
            cap.label("ns/b", Some("one-too-many")),
            "one-too-many",
            "per backend"
        );
        // Values equal after sanitising share a slot.
        assert_eq!(cap.label("ns/b", Some("x y")), "x_y");
        assert_eq!(cap.label("ns/b", Some("x;y")), "x_y");
        assert_eq!(cap.seen.get("ns/b").map(HashSet::len), Some(2));
    }

    #[test]
    fn stats_per_outcome() {
        let labels = Labels {
            route: "ns/r/rule/0",
            backend: "ns/b",
            provider: "openai",
            provider_name: "primary",
            request_model: "gpt-4o",
            response_model: "gpt-4o-2024",
        };
        let usage = TokenUsage {
            input: 10,
            output: 20,
            total: 30,
            cached_input: 4,
            cache_creation_input: 3,
            reasoning: 5,
        };
        let streamed = Outcome {
            usage: Some(usage),
            streamed: true,
            stream_errors: 2,
            ..Outcome::default()
        };
        let unparsed = Outcome {
            unparsed: true,
            ..Outcome::default()
        };
        let timings = Timings {
            duration_ms: Some(250),
            first_byte_ms: Some(40),
        };
        let up = "route=ns/r/rule/0;backend=ns/b;provider=openai;provider_name=primary";
        let all = format!("{up};request_model=gpt-4o;response_model=gpt-4o-2024");
        let c = |name: String, value| counter(name, value);
        let h = |name: String, value| histogram(name, value);
        let cases: Vec<(Option<u32>, &Outcome, Timings, Vec<Stat>)> = vec![
            (
                Some(200),
                &streamed,
                timings,
                vec![
                    c(format!("llmgate_requests;{all};status_class=2xx"), 1),
                    c(format!("llmgate_tokens;{all};token_type=input"), 10),
                    c(format!("llmgate_tokens;{all};token_type=output"), 20),
                    c(format!("llmgate_tokens;{all};token_type=total"), 30),
                    c(format!("llmgate_tokens;{all};token_type=cached_input"), 4),
                    c(
                        format!("llmgate_tokens;{all};token_type=cache_creation_input"),
                        3,
                    ),
                    c(format!("llmgate_tokens;{all};token_type=reasoning"), 5),
                    h(
                        format!("gen_ai_client_token_usage;{all};token_type=input"),
                        10,
                    ),
                    h(
                        format!("gen_ai_client_token_usage;{all};token_type=output"),
                        20,
                    ),
                    h(format!("gen_ai_client_operation_duration_ms;{all}"), 250),
                    h(format!("gen_ai_server_time_to_first_token_ms;{all}"), 40),
                    c(format!("llmgate_stream_errors;{up}"), 2),
                ],
            ),
            (
                Some(200),
                &unparsed,
                timings,
                vec![
                    c(format!("llmgate_requests;{all};status_class=2xx"), 1),
                    h(format!("gen_ai_client_operation_duration_ms;{all}"), 250),
                    c(format!("llmgate_usage_unparsed;{up}"), 1),
                ],
            ),
            (
                Some(502),
                &unparsed,
                Timings::default(),
                vec![c(format!("llmgate_requests;{all};status_class=5xx"), 1)],
            ),
        ];
        for (status, outcome, timings, want) in cases {
            assert_eq!(
                stats(&labels, status, outcome, timings, None, None),
                want,
                "{status:?}"
            );
        }
        // Missing usage: counted by reason, estimated apart from the counts.
        let estimate = Estimate {
            input: 25,
            output: 3,
        };
        let missing = Some((Missing::NotRequested, estimate));
        let none = Outcome::default();
        assert_eq!(
            stats(&labels, Some(200), &none, Timings::default(), missing, None),
            vec![
                c(format!("llmgate_requests;{all};status_class=2xx"), 1),
                c(
                    format!("llmgate_usage_missing;{up};reason=not_requested"),
                    1
                ),
                c(
                    format!("llmgate_tokens_estimated;{all};token_type=input"),
                    25
                ),
                c(
                    format!("llmgate_tokens_estimated;{all};token_type=output"),
                    3
                ),
            ]
        );
        // A guard's action: counted by direction and action, whatever the
        // status (a rejection is the gateway's own 4xx).
        for (status, action, label) in [
            (Some(403), GuardAction::Reject, "reject"),
            (Some(200), GuardAction::Mask, "mask"),
        ] {
            let got = stats(
                &labels,
                status,
                &none,
                Timings::default(),
                None,
                Some(action),
            );
            assert_eq!(
                got.last(),
                Some(&c(
                    format!("llmgate_prompt_guard;{up};direction=request;action={label}"),
                    1
                )),
                "{label}"
            );
        }
        let cases = [(0, 0), (1, 1), (4, 1), (5, 2), (400, 100)];
        for (bytes, want) in cases {
            assert_eq!(estimate_tokens(bytes), want, "{bytes}");
        }
    }
}
