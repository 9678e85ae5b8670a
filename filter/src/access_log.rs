//! What the filter publishes for the access log. Each field is filter state
//! `wasm.llmgate.<field>` (plain text), which the translator's JSON access
//! log reads with `%FILTER_STATE(wasm.llmgate.<field>:PLAIN)%`: although the
//! filter runs in the upstream filter chain, Envoy 1.40 stores its
//! properties in the downstream request's filter state, and
//! `%UPSTREAM_FILTER_STATE%` does not see them (checked in
//! `tests/tests/e2e/access_log.rs`).
//!
//! Models are the raw strings (the log has no cardinality problem), cut to
//! [`MAX_MODEL_BYTES`]; the JSON formatter escapes them. An absent or empty
//! model is no field at all (`null` in the log), where the metrics say
//! `unknown`: the rule is in [`crate::model_names`].

use crate::metrics::{self, Estimate, Missing};
use crate::policy_config::GuardAction;
use crate::response::Outcome;

/// Filter-state names are `<PREFIX><field>`.
pub const PREFIX: &str = "llmgate.";
pub const MAX_MODEL_BYTES: usize = 256;

/// Every field the filter may publish, in log order. Token fields are set
/// only when the provider reported usage, `ttft_ms` only for streams.
pub const FIELDS: &[&str] = &[
    "route",
    "backend",
    "provider",
    "provider_name",
    "request_model",
    "response_model",
    "streaming",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_tokens",
    "ttft_ms",
    "usage",
    "estimated_input_tokens",
    "estimated_output_tokens",
    "stream_errors",
    "include_usage_injected",
    "request_guard",
];

pub struct Record<'a> {
    pub route: &'a str,
    pub backend: &'a str,
    pub provider: &'a str,
    /// The priority-group provider's `name`, else the provider type.
    pub provider_name: &'a str,
    pub request_model: Option<&'a str>,
    pub response_model: Option<&'a str>,
    pub outcome: &'a Outcome,
    pub ttft_ms: Option<u64>,
    pub include_usage_injected: bool,
    /// A generation without provider-reported usage, and its estimate.
    pub missing: Option<(Missing, Estimate)>,
    /// What a request guard did (`reject`, `mask`); never what it matched.
    pub request_guard: Option<GuardAction>,
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_MODEL_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// `(filter state name, value)` pairs.
pub fn fields(r: &Record<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(&str, String)> = vec![
        ("route", r.route.to_owned()),
        ("backend", r.backend.to_owned()),
        ("provider", r.provider.to_owned()),
        ("provider_name", r.provider_name.to_owned()),
        ("streaming", r.outcome.streamed.to_string()),
    ];
    // No model (absent or empty) is no field: the log's `null`, the
    // metrics' `unknown` ([`crate::model_names`]).
    if let Some(m) = crate::model_names::named(r.request_model) {
        out.push(("request_model", cut(m)));
    }
    if let Some(m) = crate::model_names::named(r.response_model) {
        out.push(("response_model", cut(m)));
    }
    if let Some(u) = r.outcome.usage {
        out.extend([
            ("input_tokens", u.input.to_string()),
            ("output_tokens", u.output.to_string()),
            ("total_tokens", u.total.to_string()),
            ("cached_input_tokens", u.cached_input.to_string()),
            (
                "cache_creation_input_tokens",
                u.cache_creation_input.to_string(),
            ),
            ("reasoning_tokens", u.reasoning.to_string()),
        ]);
    }
    if let Some(ms) = r.ttft_ms {
        out.push(("ttft_ms", ms.to_string()));
    }
    let usage = match (r.outcome.usage, r.missing) {
        (Some(_), _) => "reported".to_owned(),
        (None, Some((reason, estimate))) => {
            out.push(("estimated_input_tokens", estimate.input.to_string()));
            out.push(("estimated_output_tokens", estimate.output.to_string()));
            format!("missing:{}", reason.label())
        }
        // An error reply, a token count, a model list: nothing to report.
        (None, None) if r.outcome.unparsed => "unparsed".to_owned(),
        (None, None) => "none".to_owned(),
    };
    out.push(("usage", usage));
    out.push(("stream_errors", r.outcome.stream_errors.to_string()));
    out.push((
        "include_usage_injected",
        r.include_usage_injected.to_string(),
    ));
    if let Some(action) = r.request_guard {
        out.push(("request_guard", metrics::guard_action(action).to_owned()));
    }
    out.into_iter()
        .map(|(k, v)| (format!("{PREFIX}{k}"), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::TokenUsage;

    #[test]
    fn empty_and_absent_models_are_no_field() {
        let outcome = Outcome::default();
        let cases = [
            (None, None),
            (Some(""), None),
            (Some("gpt-4o-mini"), Some("gpt-4o-mini")),
        ];
        for (raw, want) in cases {
            let record = Record {
                route: "r",
                backend: "b",
                provider: "openai",
                provider_name: "openai",
                request_model: raw,
                response_model: raw,
                outcome: &outcome,
                ttft_ms: None,
                include_usage_injected: false,
                missing: None,
                request_guard: None,
            };
            let got = fields(&record);
            for field in ["llmgate.request_model", "llmgate.response_model"] {
                let value = got
                    .iter()
                    .find(|(n, _)| n == field)
                    .map(|(_, v)| v.as_str());
                assert_eq!(value, want, "{field} {raw:?}");
            }
        }
    }

    #[test]
    fn publishes_known_fields_only() {
        let outcome = Outcome {
            model: Some("m".into()),
            usage: Some(TokenUsage {
                input: 28,
                output: 19,
                total: 47,
                ..TokenUsage::default()
            }),
            streamed: true,
            ..Outcome::default()
        };
        let long = "é".repeat(200);
        let record = Record {
            route: "ns/r/rule/0",
            backend: "ns/b",
            provider: "openai",
            provider_name: "backup",
            request_model: Some(&long),
            response_model: Some("m"),
            outcome: &outcome,
            ttft_ms: Some(12),
            include_usage_injected: true,
            missing: None,
            request_guard: Some(GuardAction::Mask),
        };
        let got = fields(&record);
        for (name, _) in &got {
            let field = name.strip_prefix(PREFIX).unwrap();
            assert!(FIELDS.contains(&field), "{name} is not in FIELDS");
        }
        let get = |k: &str| {
            got.iter()
                .find(|(n, _)| n == &format!("{PREFIX}{k}"))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("provider"), Some("openai"));
        assert_eq!(get("provider_name"), Some("backup"));
        assert_eq!(get("input_tokens"), Some("28"));
        assert_eq!(get("total_tokens"), Some("47"));
        assert_eq!(get("streaming"), Some("true"));
        assert_eq!(get("usage"), Some("reported"));
        assert_eq!(get("ttft_ms"), Some("12"));
        assert_eq!(get("request_model").map(str::len), Some(256));
        assert_eq!(get("request_guard"), Some("mask"));

        let empty = Outcome {
            unparsed: true,
            ..Outcome::default()
        };
        let record = Record {
            outcome: &empty,
            ttft_ms: None,
            request_model: None,
            ..record
        };
        let got = fields(&record);
        assert!(got
            .iter()
            .all(|(n, _)| !n.ends_with("_tokens") && !n.ends_with("ttft_ms")));
        assert!(got.contains(&("llmgate.usage".into(), "unparsed".into())));

        let record = Record {
            missing: Some((
                Missing::NotRequested,
                Estimate {
                    input: 30,
                    output: 7,
                },
            )),
            ..record
        };
        let got = fields(&record);
        for (field, want) in [
            ("usage", "missing:not_requested"),
            ("estimated_input_tokens", "30"),
            ("estimated_output_tokens", "7"),
        ] {
            assert!(
                got.contains(&(format!("{PREFIX}{field}"), want.to_owned())),
                "{field}: {got:?}"
            );
        }
    }
}
