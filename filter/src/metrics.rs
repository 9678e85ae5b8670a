//! Stat names and labels. Envoy has no labelled counters for wasm, so labels
//! are encoded in the name as `NAME;key=value;…` in a fixed order, and the
//! translator's `stats_tags` regexes (`(;backend=([^;]*))`, …) turn them into
//! Prometheus labels. Envoy adds the `wasmcustom.` prefix.
//!
//! Every label value passes through [`sanitize_label`], so `;` and `=` can never
//! appear inside a value and break the tag regexes.

use crate::response::Outcome;
use std::collections::{HashMap, HashSet};

pub const TOKENS: &str = "llmgate_tokens";
pub const REQUESTS: &str = "llmgate_requests";
pub const USAGE_UNPARSED: &str = "llmgate_usage_unparsed";

pub const MAX_LABEL_BYTES: usize = 64;
/// Per backend and per VM: the model label comes from client input, and each
/// distinct value is a new set of stats that Envoy keeps forever.
pub const MAX_MODELS_PER_BACKEND: usize = 32;
pub const UNKNOWN_MODEL: &str = "unknown";
pub const OTHER_MODEL: &str = "other";

/// Token types in the order they are emitted.
pub const TOKEN_TYPES: [&str; 5] = ["input", "output", "total", "cached_input", "reasoning"];

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

/// The model that answered, else the model asked for, else `unknown`.
pub fn pick_model<'a>(response: Option<&'a str>, request: Option<&'a str>) -> &'a str {
    response
        .filter(|m| !m.is_empty())
        .or(request.filter(|m| !m.is_empty()))
        .unwrap_or(UNKNOWN_MODEL)
}

/// Caps the distinct model labels per backend. `unknown` and `other` are always
/// allowed and do not use up the budget.
#[derive(Debug, Default)]
pub struct ModelCap {
    seen: HashMap<String, HashSet<String>>,
}

impl ModelCap {
    /// `backend` must already be sanitised; returns the label to use.
    pub fn label(&mut self, backend: &str, raw_model: &str) -> String {
        let model = sanitize_label(raw_model);
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
    pub backend: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
}

/// The counter increments for one finished response, as (stat name, amount).
pub fn increments(
    labels: &Labels<'_>,
    status: Option<u32>,
    outcome: &Outcome,
) -> Vec<(String, u64)> {
    let Labels {
        backend,
        provider,
        model,
    } = labels;
    let class = status_class(status);
    let mut out = vec![(
        format!(
            "{REQUESTS};backend={backend};provider={provider};model={model};status_class={class}"
        ),
        1,
    )];
    if let Some(u) = &outcome.usage {
        let amounts = [u.input, u.output, u.total, u.cached_input, u.reasoning];
        for (token_type, amount) in TOKEN_TYPES.iter().zip(amounts) {
            out.push((
                format!("{TOKENS};backend={backend};provider={provider};model={model};token_type={token_type}"),
                amount,
            ));
        }
    }
    // Errors carry no usage by design; only a success we failed to read is news.
    if outcome.unparsed && class == "2xx" {
        out.push((
            format!("{USAGE_UNPARSED};backend={backend};provider={provider}"),
            1,
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
    fn picks_the_model() {
        let cases = [
            (Some("resp"), Some("req"), "resp"),
            (Some(""), Some("req"), "req"),
            (None, Some("req"), "req"),
            (None, Some(""), "unknown"),
            (None, None, "unknown"),
        ];
        for (resp, req, want) in cases {
            assert_eq!(pick_model(resp, req), want);
        }
    }

    #[test]
    fn caps_models_per_backend() {
        let mut cap = ModelCap::default();
        for i in 0..MAX_MODELS_PER_BACKEND {
            assert_eq!(cap.label("ns/a", &format!("m{i}")), format!("m{i}"));
        }
        assert_eq!(cap.label("ns/a", "one-too-many"), "other");
        assert_eq!(cap.label("ns/a", "m0"), "m0", "known values stay");
        assert_eq!(cap.label("ns/a", "unknown"), "unknown");
        assert_eq!(cap.label("ns/a", "other"), "other");
        assert_eq!(
            cap.label("ns/b", "one-too-many"),
            "one-too-many",
            "per backend"
        );
        // Values equal after sanitising share a slot.
        assert_eq!(cap.label("ns/b", "x y"), "x_y");
        assert_eq!(cap.label("ns/b", "x;y"), "x_y");
        assert_eq!(cap.seen.get("ns/b").map(HashSet::len), Some(2));
    }

    #[test]
    fn increments_per_outcome() {
        let labels = Labels {
            backend: "ns/b",
            provider: "openai",
            model: "gpt-4o",
        };
        let usage = TokenUsage {
            input: 10,
            output: 20,
            total: 30,
            cached_input: 4,
            reasoning: 5,
        };
        let with_usage = Outcome {
            model: None,
            usage: Some(usage),
            unparsed: false,
        };
        let unparsed = Outcome {
            unparsed: true,
            ..Outcome::default()
        };
        let nothing = Outcome::default();
        let base = "backend=ns/b;provider=openai;model=gpt-4o";
        let cases: Vec<(Option<u32>, &Outcome, Vec<(String, u64)>)> = vec![
            (
                Some(200),
                &with_usage,
                vec![
                    (format!("llmgate_requests;{base};status_class=2xx"), 1),
                    (format!("llmgate_tokens;{base};token_type=input"), 10),
                    (format!("llmgate_tokens;{base};token_type=output"), 20),
                    (format!("llmgate_tokens;{base};token_type=total"), 30),
                    (format!("llmgate_tokens;{base};token_type=cached_input"), 4),
                    (format!("llmgate_tokens;{base};token_type=reasoning"), 5),
                ],
            ),
            (
                Some(200),
                &unparsed,
                vec![
                    (format!("llmgate_requests;{base};status_class=2xx"), 1),
                    (
                        "llmgate_usage_unparsed;backend=ns/b;provider=openai".to_owned(),
                        1,
                    ),
                ],
            ),
            (
                Some(502),
                &unparsed,
                vec![(format!("llmgate_requests;{base};status_class=5xx"), 1)],
            ),
            (
                None,
                &nothing,
                vec![(format!("llmgate_requests;{base};status_class=none"), 1)],
            ),
        ];
        for (status, outcome, want) in cases {
            assert_eq!(increments(&labels, status, outcome), want, "{status:?}");
        }
    }
}
