//! What a finished stream records, once: the metrics (labels capped per
//! backend) and the access-log fields Envoy reads from filter state; and
//! what it used, for its token budgets.

use super::{Host, Plugin};
use crate::access_log;
use crate::budget::Tokens;
use crate::metrics::{self, Estimate, Kind, Labels, Missing, Timings};
use crate::model_names;
use crate::policy_config::GuardAction;
use crate::providers;
use crate::response::Outcome;
use crate::route_type::RouteType;
use crate::usage::UsageFormat;

/// What the stream saw of its request and response.
pub(super) struct Seen<'s> {
    pub route: Option<&'s str>,
    /// The body's `model`, when it named one.
    pub request_model: Option<&'s str>,
    /// The gateway chose the provider's path, so the model it names is the
    /// request and response model when body and reply do not name one.
    pub path_names_model: bool,
    pub started_ms: Option<u64>,
    pub first_byte_ms: Option<u64>,
    pub status: Option<u32>,
    /// `include_usage` was added to the request.
    pub injected: bool,
    /// What a request guard did to the prompt.
    pub request_guard: Option<GuardAction>,
    pub outcome: &'s Outcome,
    pub route_type: RouteType,
    /// Bytes of the client's request body.
    pub request_bytes: u64,
    /// A response guard masked something in the reply.
    pub reply_masked: bool,
}

/// Why a successful generation came without usage, and its estimate; `None`
/// when usage was reported or none was to be expected (an error, a token
/// count, a model list, a passthrough).
fn missing(plugin: &Plugin, seen: &Seen<'_>) -> Option<(Missing, Estimate)> {
    let outcome = seen.outcome;
    let format = seen.route_type.usage_format(plugin.format)?;
    let success = matches!(seen.status, Some(200..=299));
    if !success || outcome.usage.is_some() {
        return None;
    }
    let reason = if outcome.unparsed {
        Missing::Unreadable
    } else if outcome.streamed && format == UsageFormat::OpenAiChat && !seen.injected {
        Missing::NotRequested
    } else {
        Missing::NotReported
    };
    let estimate = Estimate {
        input: metrics::estimate_tokens(seen.request_bytes),
        output: metrics::estimate_tokens(outcome.text_chars),
    };
    Some((reason, estimate))
}

/// Returns the tokens the request is charged ([`Tokens`]).
pub(super) fn record(plugin: &Plugin, host: &mut impl Host, seen: &Seen<'_>) -> Tokens {
    let outcome = seen.outcome;
    let provider = providers::of(&plugin.cfg.provider);
    let path_model = seen
        .path_names_model
        .then(|| provider.path_model())
        .flatten();
    let configured = provider.model_override().or(path_model);
    let aliases = &plugin.cfg.model_aliases;
    let mut model_label = |raw: Option<&str>| match raw {
        // Configured models and aliases are known and bounded: they never
        // use the budget.
        Some(m)
            if Some(m) == configured
                || aliases.contains_key(m)
                || aliases.values().any(|v| v == m) =>
        {
            metrics::sanitize_label(m)
        }
        _ => host.model_label(&plugin.backend_label, raw),
    };
    // One value each for the log and the metrics ([`model_names`]): an
    // empty model is none, and the model the path names stands in for it.
    let raw_request_model = model_names::named(seen.request_model).or(path_model);
    let raw_response_model = model_names::named(outcome.model.as_deref()).or(path_model);
    let request_model = model_label(raw_request_model);
    let response_model = model_label(raw_response_model);
    let route = seen.route.unwrap_or(metrics::UNKNOWN_ROUTE);
    let labels = Labels {
        route,
        backend: &plugin.backend_label,
        provider: provider.name(),
        provider_name: &plugin.provider_name_label,
        request_model: &request_model,
        response_model: &response_model,
    };
    let now = host.now_ms();
    let since_start = |t: u64| seen.started_ms.map(|s| t.saturating_sub(s));
    let timings = Timings {
        duration_ms: since_start(now),
        first_byte_ms: seen.first_byte_ms.and_then(since_start),
    };
    let missing = missing(plugin, seen);
    for stat in metrics::stats(
        &labels,
        seen.status,
        outcome,
        timings,
        missing,
        seen.request_guard,
    ) {
        match stat.kind {
            Kind::Counter => host.add_counter(&stat.name, stat.value),
            Kind::Histogram => host.record_histogram(&stat.name, stat.value),
        }
    }
    if seen.reply_masked {
        let name = metrics::prompt_guard(&labels, "response", "mask");
        host.add_counter(&name, 1);
    }
    let record = access_log::Record {
        route,
        backend: &plugin.backend_label,
        provider: provider.name(),
        provider_name: &plugin.provider_name_label,
        request_model: raw_request_model,
        response_model: raw_response_model,
        outcome,
        ttft_ms: if outcome.streamed {
            timings.first_byte_ms
        } else {
            None
        },
        include_usage_injected: seen.injected,
        missing,
        request_guard: seen.request_guard,
    };
    for (name, value) in access_log::fields(&record) {
        host.set_filter_state(&name, value.as_bytes());
    }
    match (&outcome.usage, missing) {
        (Some(u), _) => Tokens {
            input: u.input,
            output: u.output,
            total: u.total,
        },
        (None, Some((_, estimate))) => Tokens {
            input: estimate.input,
            output: estimate.output,
            total: estimate.input.saturating_add(estimate.output),
        },
        (None, None) => Tokens::default(),
    }
}
