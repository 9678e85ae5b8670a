//! The request side of a route's AI policy: regex prompt guards, prompt
//! enrichment and field defaults, applied to the client's body in the
//! client's own format, before any conversion (which then carries what was
//! added — a system prompt — to the provider's form), with one parse and at
//! most one serialisation of the body.
//!
//! Order: the guards check the client's texts ([`texts`]) — the first that
//! rejects answers, masks apply in place — then the defaults complete the
//! client's fields ([`defaults`]), then the policy's messages are added
//! ([`enrich`]) last, so no default can drop them and no guard judges the
//! operator's own prompt. A body that is not a JSON object cannot be read,
//! so it is refused (400) rather than forwarded unchecked.
//!
//! What applies, by the type of the client's request:
//!
//! | request | format | guards | enrichment, defaults |
//! |---|---|---|---|
//! | `Completions` | OpenAI chat | ✓ | ✓ |
//! | `Messages` | Anthropic Messages | ✓ | ✓ |
//! | `AnthropicTokenCount` | Anthropic Messages | ✓ | — |
//! | `Responses` | OpenAI Responses | ✓ | ✓ |
//! | `Embeddings` | `input` | ✓ | — |
//! | `:generateContent`, `:streamGenerateContent` | Gemini | ✓ | ✓ |
//! | `:countTokens` | Gemini | ✓ | — |
//! | `/converse`, `/converse-stream` | Bedrock Converse | ✓ | ✓ |
//! | `Models`, `Passthrough`, `Detect` | — | — | — |
//!
//! Token counts get guards only, like embeddings: they generate nothing, and
//! a count stays the count of what the client sent.

pub mod answer;
mod defaults;
mod enrich;
mod guard;
mod texts;

use serde_json::{Map, Value};

pub use answer::Answer;

use crate::invalid_body::{self, Requirement};
use crate::policy_config::{AiPolicy, FieldDefault, GuardAction};
use crate::route_type::RouteType;

/// A request format the policy reads, the client's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions.
    Chat,
    /// Anthropic Messages (and its token count).
    Messages,
    /// OpenAI Responses.
    Responses,
    /// OpenAI embeddings.
    Embeddings,
    /// Gemini / Vertex AI `generateContent` (and its stream, token count).
    Gemini,
    /// Bedrock Converse (and its stream).
    Converse,
}

/// What of the policy one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub format: Format,
    /// Enrichment and defaults too, not only the guards.
    pub edits: bool,
}

/// The format of a request of type `asked` (the client's, before any
/// conversion), and whether it takes enrichment and defaults.
pub fn scope(asked: RouteType) -> Option<(Format, bool)> {
    Some(match asked {
        RouteType::Completions => (Format::Chat, true),
        RouteType::Messages => (Format::Messages, true),
        RouteType::AnthropicTokenCount => (Format::Messages, false),
        RouteType::Responses => (Format::Responses, true),
        RouteType::Embeddings => (Format::Embeddings, false),
        RouteType::GenerateContent | RouteType::StreamGenerateContent => (Format::Gemini, true),
        RouteType::CountTokens => (Format::Gemini, false),
        RouteType::Converse | RouteType::ConverseStream => (Format::Converse, true),
        RouteType::Models | RouteType::Passthrough | RouteType::Detect => return None,
    })
}

/// The request policy of a configuration, compiled once.
#[derive(Debug)]
pub struct RequestPolicy {
    guards: Vec<guard::RequestGuard>,
    prepend: Vec<enrich::Message>,
    append: Vec<enrich::Message>,
    defaults: Vec<FieldDefault>,
}

/// What the stage made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it on: the new body, or `None` when it is unchanged.
    Forward(Option<Vec<u8>>),
    /// Answer the client; nothing goes upstream.
    Answer(Answer),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub verdict: Verdict,
    /// What a guard did, for the metrics and the log.
    pub guard: Option<GuardAction>,
}

impl RequestPolicy {
    pub fn new(policy: &AiPolicy) -> Self {
        RequestPolicy {
            guards: guard::compile(&policy.request_guards),
            prepend: enrich::compile(&policy.prepend),
            append: enrich::compile(&policy.append),
            defaults: policy.defaults.clone(),
        }
    }

    /// What applies to a request of type `asked`; `None` when nothing does
    /// (the request then costs nothing more).
    pub fn plan(&self, asked: RouteType) -> Option<Plan> {
        let (format, takes_edits) = scope(asked)?;
        let edits = takes_edits
            && !(self.prepend.is_empty() && self.append.is_empty() && self.defaults.is_empty());
        (edits || !self.guards.is_empty()).then_some(Plan { format, edits })
    }

    pub fn apply(&self, plan: Plan, body: &[u8]) -> Applied {
        let answer = |answer: Answer, guard: Option<GuardAction>| Applied {
            verdict: Verdict::Answer(answer),
            guard,
        };
        let mut request = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(request)) => request,
            _ => return answer(not_an_object(body), None),
        };
        let (changed, guard) = match self.check(plan.format, &mut request) {
            Ok(masked) => (masked, masked.then_some(GuardAction::Mask)),
            Err(refused) => return refused,
        };
        let mut changed = changed;
        if plan.edits {
            changed |= defaults::apply(&mut request, &self.defaults);
            match enrich::apply(plan.format, &mut request, &self.prepend, &self.append) {
                Ok(enriched) => changed |= enriched,
                Err(e) => {
                    let bad = answer::error(
                        plan.format,
                        400,
                        &format!("llmgate: {}", e.message),
                        "invalid_value",
                        Some(e.field),
                    );
                    return answer(bad, guard);
                }
            }
        }
        if !changed {
            return Applied {
                verdict: Verdict::Forward(None),
                guard,
            };
        }
        match serde_json::to_vec(&Value::Object(request)) {
            Ok(body) => Applied {
                verdict: Verdict::Forward(Some(body)),
                guard,
            },
            // A `Value` always serialises; were it not to, nothing
            // unchecked goes upstream.
            Err(e) => answer(
                answer::error(
                    plan.format,
                    500,
                    &format!("llmgate: {e}"),
                    answer::UNUSABLE_CODE,
                    None,
                ),
                guard,
            ),
        }
    }

    /// The guards on the request's texts: `Ok(true)` when a mask changed
    /// one, `Err` with the answer when the request stops here.
    fn check(&self, format: Format, request: &mut Map<String, Value>) -> Result<bool, Applied> {
        if self.guards.is_empty() {
            return Ok(false);
        }
        let mut texts = texts::of(format, request);
        let checked = guard::check(&self.guards, &mut texts);
        let action = checked.action();
        let refuse = |answer: Answer| Applied {
            verdict: Verdict::Answer(answer),
            guard: action,
        };
        match checked {
            guard::Checked::Passed => Ok(false),
            guard::Checked::Masked => Ok(true),
            guard::Checked::Rejected(rejection) => {
                // A refusal is a client error the client's SDK can show.
                let status = if (400..=599).contains(&rejection.status) {
                    rejection.status
                } else {
                    403
                };
                Err(refuse(answer::error(
                    format,
                    status,
                    &rejection.message,
                    answer::REJECTED_CODE,
                    None,
                )))
            }
            guard::Checked::Unusable { index, error } => Err(refuse(answer::error(
                format,
                500,
                &format!("llmgate: request guard {index} cannot be used: {error}"),
                answer::UNUSABLE_CODE,
                None,
            ))),
        }
    }
}

fn not_an_object(body: &[u8]) -> Answer {
    Answer {
        status: 400,
        headers: vec![("content-type", "application/json")],
        body: invalid_body::error_body(&invalid_body::problem(body), Requirement::PromptPolicy),
    }
}

#[cfg(test)]
mod tests;
