//! Response guards: a `TrafficPolicy`'s regex `response_guards` mask the
//! generated text of a reply in the format the client reads (after any
//! conversion), never rejecting it: a whole JSON reply at once
//! ([`mask_reply`]), a stream event by event ([`SseMasker`]) with a match
//! split across events or Envoy's chunks still masked whole.
//!
//! Bedrock's native ConverseStream (an AWS event stream) is masked message
//! by message ([`EventStreamMasker`]).
//!
//! Only the text the model generated is masked (message content, refusals,
//! Gemini's thoughts, Bedrock's reasoning); tool-call arguments, ids and
//! usage go as they are. Webhook response guards are a separate step (a
//! callout), not done here.

mod event_stream;
mod events;
mod json;
mod pending;
mod sse;

pub use event_stream::EventStreamMasker;
pub use json::{mask_reply, Masked, Unreadable};
pub use sse::SseMasker;

use crate::guard_patterns::{PatternError, Patterns};
use crate::policy_config::{AiPolicy, Guard};
use crate::route_type::RouteType;
use crate::usage::UsageFormat;

/// The API a reply is in, as the client reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions (and legacy completions).
    Chat,
    /// Anthropic Messages.
    Messages,
    /// OpenAI Responses.
    Responses,
    /// Gemini / Vertex AI `generateContent`.
    Gemini,
    /// Bedrock Converse.
    Converse,
}

impl Format {
    /// The format of a reply to `route_type`, sent by a provider whose chat
    /// replies are in `provider`'s format; `None` when it carries no
    /// generated text (embeddings, a token count, a model list, a
    /// passthrough).
    pub fn of(route_type: RouteType, provider: UsageFormat) -> Option<Format> {
        if route_type == RouteType::Embeddings {
            return None;
        }
        Some(match route_type.usage_format(provider)? {
            UsageFormat::OpenAiChat => Format::Chat,
            UsageFormat::OpenAiResponses => Format::Responses,
            UsageFormat::Anthropic => Format::Messages,
            UsageFormat::Gemini => Format::Gemini,
            UsageFormat::Bedrock => Format::Converse,
        })
    }
}

/// The format of a reply to `route_type` with this `content-type`, when
/// it carries generated text to mask ([`Format::of`]). A `Detect` route
/// forwards whatever API the client calls: there a reply that is neither
/// JSON nor a stream (audio, a file) has no text, and goes as it is.
pub fn reply_format(
    route_type: RouteType,
    provider: UsageFormat,
    content_type: &str,
) -> Option<Format> {
    let format = Format::of(route_type, provider)?;
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let media = media.to_ascii_lowercase();
    let textual = media == "application/json"
        || media.ends_with("+json")
        || media == "text/event-stream"
        || media == "application/vnd.amazon.eventstream";
    (route_type != RouteType::Detect || textual).then_some(format)
}

/// A plugin's regex response guards, compiled once: one set of patterns
/// (the guards' masks never overlap in effect: each match is masked once,
/// the earliest and longest first).
#[derive(Debug)]
pub struct ReplyGuard {
    /// `Err` when a pattern does not compile (the translator refuses such
    /// a policy; should one get here, no reply it guards is let through).
    patterns: Result<Patterns, PatternError>,
}

impl ReplyGuard {
    /// `None` when the policy has no regex response guard with a pattern.
    pub fn new(policy: &AiPolicy) -> Option<ReplyGuard> {
        let mut matches = Vec::new();
        let mut builtins = Vec::new();
        for guard in &policy.response_guards {
            match guard {
                Guard::Regex(regex) => {
                    matches.extend(regex.matches.iter().cloned());
                    for builtin in &regex.builtins {
                        if !builtins.contains(builtin) {
                            builtins.push(*builtin);
                        }
                    }
                }
                // A callout on the whole reply, another step's.
                Guard::Webhook(_) | Guard::Moderation(_) => {}
            }
        }
        if matches.is_empty() && builtins.is_empty() {
            return None;
        }
        Some(ReplyGuard {
            patterns: Patterns::new(&matches, &builtins),
        })
    }

    /// The compiled patterns; `None` when one did not compile.
    pub fn patterns(&self) -> Option<&Patterns> {
        self.patterns.as_ref().ok()
    }

    pub fn error(&self) -> Option<&PatternError> {
        self.patterns.as_ref().err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_config::{
        Builtin, Callout, GuardAction, NamedPattern, RegexGuard, Rejection, WebhookGuard,
    };

    fn regex(matches: &[&str], builtins: &[Builtin]) -> Guard {
        Guard::Regex(RegexGuard {
            matches: matches
                .iter()
                .map(|p| NamedPattern {
                    pattern: (*p).into(),
                    name: None,
                })
                .collect(),
            builtins: builtins.to_vec(),
            // Ignored for replies: a response guard always masks.
            action: GuardAction::Reject,
            rejection: Rejection {
                status: 403,
                message: "no".into(),
            },
        })
    }

    #[test]
    fn the_guards_of_a_policy_become_one_set_of_patterns() {
        let webhook = Guard::Webhook(WebhookGuard {
            callout: Callout {
                cluster: "c".into(),
                authority: "a".into(),
                timeout_ms: 10,
                fail_open: false,
            },
            forward_headers: vec![],
            rejection: Rejection {
                status: 403,
                message: "no".into(),
            },
        });
        let policy = |response_guards: Vec<Guard>| AiPolicy {
            response_guards,
            ..AiPolicy::default()
        };
        assert!(ReplyGuard::new(&AiPolicy::default()).is_none());
        assert!(ReplyGuard::new(&policy(vec![webhook.clone()])).is_none());
        assert!(ReplyGuard::new(&policy(vec![regex(&[], &[])])).is_none());
        let guard = ReplyGuard::new(&policy(vec![
            regex(&["secret"], &[Builtin::Email]),
            webhook,
            regex(&[], &[Builtin::Email, Builtin::CreditCard]),
        ]))
        .unwrap();
        let masked = guard
            .patterns()
            .unwrap()
            .mask("secret a@b.io 4111111111111111");
        assert_eq!(masked.as_deref(), Some("<MASKED> <EMAIL> <CREDIT_CARD>"));
        let broken = ReplyGuard::new(&policy(vec![regex(&["(x"], &[])])).unwrap();
        assert!(broken.patterns().is_none());
        assert!(broken.error().is_some());
    }

    #[test]
    fn the_client_facing_format_of_each_route() {
        use RouteType::*;
        let cases = [
            (Completions, UsageFormat::OpenAiChat, Some(Format::Chat)),
            (Completions, UsageFormat::Anthropic, Some(Format::Messages)),
            (Messages, UsageFormat::OpenAiChat, Some(Format::Messages)),
            (Responses, UsageFormat::OpenAiChat, Some(Format::Responses)),
            (
                StreamGenerateContent,
                UsageFormat::Gemini,
                Some(Format::Gemini),
            ),
            (Converse, UsageFormat::Bedrock, Some(Format::Converse)),
            (Detect, UsageFormat::Gemini, Some(Format::Gemini)),
            (Embeddings, UsageFormat::OpenAiChat, None),
            (Models, UsageFormat::OpenAiChat, None),
            (CountTokens, UsageFormat::Gemini, None),
            (Passthrough, UsageFormat::OpenAiChat, None),
        ];
        for (route_type, provider, want) in cases {
            assert_eq!(Format::of(route_type, provider), want, "{route_type:?}");
        }
        // (route type, content type, masked?)
        let cases = [
            (Completions, "text/plain", true),
            (Detect, "application/json; charset=utf-8", true),
            (Detect, "application/problem+json", true),
            (Detect, "text/event-stream", true),
            (Detect, "audio/mpeg", false),
            (Detect, "", false),
        ];
        for (route_type, content_type, masked) in cases {
            let format = reply_format(route_type, UsageFormat::OpenAiChat, content_type);
            assert_eq!(format.is_some(), masked, "{route_type:?} {content_type}");
        }
    }
}
