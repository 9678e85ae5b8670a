//! Token budgets (`TrafficPolicy` `spec.rateLimit.llmTokens`, in
//! [`crate::policy_config::TokenBudget`]): rate limits in LLM tokens. A local
//! budget is a token bucket ([`bucket`]) in Envoy's shared data
//! ([`key`]), checked when a request arrives and charged with what its reply
//! used; a global one is Envoy's rate-limit service's, and the filter only
//! publishes the tokens to charge ([`GLOBAL_STATE`]).
//!
//! Which requests: those whose usage is counted (generations, `Detect`).
//! Model lists, unsupported types, token counts and `Passthrough` use no
//! tokens the gateway could charge, so no budget refuses them either.

pub mod bucket;
pub mod key;

use crate::policy_config::TokenCount;

/// `code` of the 429 for an exhausted budget.
pub const EXHAUSTED_CODE: &str = "token_budget_exhausted";

/// Filter state (`wasm.<name>`) of the tokens a request used, for Envoy's
/// rate-limit service to charge global budgets with, in decimal.
pub const GLOBAL_STATE: [(TokenCount, &str); 3] = [
    (TokenCount::Input, "llmgate_tokens_input"),
    (TokenCount::Output, "llmgate_tokens_output"),
    (TokenCount::Total, "llmgate_tokens_total"),
];

/// What a finished request is charged: the provider's counts, or the
/// estimate of a generation the provider reported none for (a budget that
/// let unreported usage through free would be no limit); nothing for a
/// request that failed or was refused without usage.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub total: u64,
}

impl Tokens {
    pub fn counted(self, count: TokenCount) -> u64 {
        match count {
            TokenCount::Input => self.input,
            TokenCount::Output => self.output,
            TokenCount::Total => self.total,
        }
    }
}

/// The 429's body: OpenAI's shape, or Anthropic's to Messages clients.
pub fn exhausted(budget_id: &str, retry_after_secs: u64, anthropic: bool) -> Vec<u8> {
    let message =
        format!("llmgate: token budget {budget_id} is exhausted; retry in {retry_after_secs} s");
    if anthropic {
        crate::convert::messages::anthropic_error("rate_limit_error", &message)
    } else {
        crate::convert::openai_error(&message, "rate_limit_error", None, Some(EXHAUSTED_CODE))
    }
}

/// The filter state of the tokens a global budget of `count` is charged:
/// Envoy's `ratelimit` filter reads it as the `hits_addend` of the charge.
pub fn global_state(count: TokenCount) -> &'static str {
    GLOBAL_STATE
        .iter()
        .find(|(c, _)| *c == count)
        .map_or("llmgate_tokens_total", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn counts_what_the_budget_counts() {
        let tokens = Tokens {
            input: 3,
            output: 4,
            total: 7,
        };
        let cases = [
            (TokenCount::Input, 3),
            (TokenCount::Output, 4),
            (TokenCount::Total, 7),
        ];
        for (count, want) in cases {
            assert_eq!(tokens.counted(count), want, "{count:?}");
        }
    }

    #[test]
    fn refuses_in_the_clients_shape() {
        let message = "llmgate: token budget ns/p/0 is exhausted; retry in 3 s";
        let cases = [
            (
                false,
                json!({"error": {
                    "message": message,
                    "type": "rate_limit_error",
                    "param": null,
                    "code": "token_budget_exhausted"
                }}),
            ),
            (
                true,
                json!({"type": "error", "error": {"type": "rate_limit_error", "message": message}}),
            ),
        ];
        for (anthropic, want) in cases {
            let got: Value = serde_json::from_slice(&exhausted("ns/p/0", 3, anthropic)).unwrap();
            assert_eq!(got, want, "{anthropic}");
        }
    }
}
