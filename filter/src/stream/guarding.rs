//! The callout guards of a held request: each webhook or moderation guard
//! of the policy, in order, is asked about the client's prompt texts while
//! Envoy holds the request (headers and the whole body); the next is asked
//! once the previous passed or masked. When all have passed, the rest of the
//! held request's edits apply ([`Stream::finish_holding`]: the prompt stage
//! with its regex guards, defaults and enrichment, then the provider's
//! edits) and the request resumes; a refusal answers the client instead.
//!
//! So callout guards see the client's own texts before any regex guard, and
//! never the policy's enrichment: the policy's order holds among callout
//! guards and among regex guards, not between the two kinds. The texts are
//! read with their roles by [`crate::callout::texts`] (chat and Messages;
//! the prompt stage's reader has no roles, which the webhook API wants).

use serde_json::{Map, Value};

use super::{Flow, Held, Host, Plugin, RequestPhase, Stream};
use crate::callout::{self, texts, Answer, Kind, Verdict};
use crate::invalid_body::{self, Requirement};
use crate::metrics;
use crate::policy_config::{Guard, GuardAction};
use crate::route_type::RouteType;

/// A request waiting for a guard's answer.
#[derive(Debug)]
pub(super) struct Guarding {
    held: Held,
    request: Map<String, Value>,
    format: texts::Format,
    /// The guard asked (index into the policy's request guards).
    index: usize,
    token: u32,
    kind: Kind,
    asked_ms: u64,
    sent: usize,
    /// A guard masked a text: the body is to be rewritten.
    masked: bool,
}

/// Whether a request of type `asked` (the client's) is checked by callout
/// guards, and in which format its prompt is read; `Err` when the policy
/// has such guards but the request's prompt cannot be read.
pub(super) fn scope(
    guards: &[Guard],
    asked: RouteType,
) -> Result<Option<texts::Format>, &'static str> {
    if !guards.iter().any(is_callout) {
        return Ok(None);
    }
    match asked {
        RouteType::Completions => Ok(Some(texts::Format::Chat)),
        RouteType::Messages | RouteType::AnthropicTokenCount => Ok(Some(texts::Format::Messages)),
        RouteType::Models | RouteType::Passthrough | RouteType::Detect => Ok(None),
        RouteType::Responses
        | RouteType::Embeddings
        | RouteType::GenerateContent
        | RouteType::StreamGenerateContent
        | RouteType::CountTokens
        | RouteType::Converse
        | RouteType::ConverseStream => Err(asked.name()),
    }
}

fn is_callout(guard: &Guard) -> bool {
    matches!(guard, Guard::Webhook(_) | Guard::Moderation(_))
}

impl Stream {
    /// One call of a guard, in `llmgate_guard_callout` (prompt and reply
    /// guards alike).
    pub(super) fn count_callout(
        &self,
        plugin: &Plugin,
        host: &mut impl Host,
        kind: Kind,
        outcome: callout::Outcome,
    ) {
        let route = self.route.as_deref().unwrap_or(metrics::UNKNOWN_ROUTE);
        host.add_counter(
            &metrics::guard_callout(route, &plugin.backend_label, kind.label(), outcome.label()),
            1,
        );
    }

    /// Starts asking the guards about a held request's `body`.
    pub(super) fn start_guards(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        held: Held,
        body: Vec<u8>,
        format: texts::Format,
    ) -> Flow {
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
            // Unread, it would go upstream unchecked.
            let problem = invalid_body::problem(&body);
            host.send_response(
                400,
                &[("content-type", "application/json")],
                &invalid_body::error_body(&problem, Requirement::PromptGuard),
            );
            self.status = Some(400);
            return Flow::Pause;
        };
        self.ask_from(plugin, host, held, request, format, 0, false, Some(body))
    }

    /// Asks the first callout guard from `index` on; when none is left,
    /// finishes the held request. `body`: the client's bytes, while nothing
    /// masked them.
    #[allow(clippy::too_many_arguments)]
    fn ask_from(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        held: Held,
        mut request: Map<String, Value>,
        format: texts::Format,
        mut index: usize,
        masked: bool,
        body: Option<Vec<u8>>,
    ) -> Flow {
        let guards = &plugin.cfg.policy.request_guards;
        while let Some(guard) = guards.get(index) {
            let prompt: Vec<(String, String)> = texts::of(format, &mut request)
                .into_iter()
                .map(|(role, text)| (role, text.clone()))
                .collect();
            if prompt.is_empty() {
                // No text, nothing to ask about.
                break;
            }
            let key = self
                .guard_keys
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, k)| k.as_str());
            let Some((kind, call)) = callout::call(
                guard,
                callout::Side::Prompt,
                &prompt,
                |name| host.request_header(name),
                key,
            ) else {
                index += 1;
                continue;
            };
            let headers: Vec<(&str, &str)> = call
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let asked_ms = host.now_ms();
            match host.dispatch_call(&call.cluster, &headers, &call.body, call.timeout_ms) {
                Some(token) => {
                    self.phase = RequestPhase::Guarding(Box::new(Guarding {
                        held,
                        request,
                        format,
                        index,
                        token,
                        kind,
                        asked_ms,
                        sent: prompt.len(),
                        masked,
                    }));
                    return Flow::Pause;
                }
                None => {
                    let failed = Answer {
                        status: None,
                        body: Vec::new(),
                        elapsed_ms: 0,
                    };
                    match self.judged(plugin, host, guard, kind, &failed, 0, format) {
                        Verdict::Pass => index += 1,
                        // Refused (a failed call never masks).
                        Verdict::Mask(_) | Verdict::Refuse { .. } => return Flow::Pause,
                    }
                }
            }
        }
        let body = match body.filter(|_| !masked) {
            Some(body) => body,
            None => match serde_json::to_vec(&Value::Object(request)) {
                Ok(body) => body,
                Err(e) => {
                    // A `Value` always serialises; were it not to, nothing
                    // unchecked goes upstream.
                    self.unusable(host, &e.to_string());
                    return Flow::Pause;
                }
            },
        };
        self.finish_holding(plugin, host, held, body, masked)
    }

    /// The answer to a prompt guard's call (`status` `None` when the call
    /// failed or timed out). Resumes the request or answers the client.
    pub(super) fn on_prompt_call_response(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        token: u32,
        status: Option<u16>,
        body: Vec<u8>,
    ) {
        let waiting = match &self.phase {
            RequestPhase::Guarding(g) => g.token == token,
            _ => false,
        };
        if !waiting {
            return;
        }
        let RequestPhase::Guarding(g) = std::mem::replace(&mut self.phase, RequestPhase::Done)
        else {
            return;
        };
        let Guarding {
            held,
            mut request,
            format,
            index,
            kind,
            asked_ms,
            sent,
            mut masked,
            ..
        } = *g;
        let answer = Answer {
            status,
            body,
            elapsed_ms: host.now_ms().saturating_sub(asked_ms),
        };
        let Some(guard) = plugin.cfg.policy.request_guards.get(index) else {
            // The configuration is the stream's for its whole life.
            self.unusable(host, "the guard asked is gone");
            return;
        };
        match self.judged(plugin, host, guard, kind, &answer, sent, format) {
            Verdict::Pass => {}
            Verdict::Mask(new) => {
                for ((_, text), new) in texts::of(format, &mut request).into_iter().zip(new) {
                    *text = new;
                }
                masked = true;
            }
            Verdict::Refuse { .. } => return,
        }
        let flow = self.ask_from(plugin, host, held, request, format, index + 1, masked, None);
        if flow == Flow::Continue {
            host.resume_request();
        }
    }

    /// Judges an answer and counts it; a refusal is sent here, and the
    /// request stops.
    #[allow(clippy::too_many_arguments)]
    fn judged(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        guard: &Guard,
        kind: Kind,
        answer: &Answer,
        sent: usize,
        format: texts::Format,
    ) -> Verdict {
        let (outcome, verdict) = callout::judge(guard, callout::Side::Prompt, answer, sent, format);
        // The prompt guards' count and log field, as for regex guards.
        match outcome {
            callout::Outcome::Mask => self.request_guard = Some(GuardAction::Mask),
            callout::Outcome::Reject => self.request_guard = Some(GuardAction::Reject),
            _ => {}
        }
        self.count_callout(plugin, host, kind, outcome);
        if let Verdict::Refuse {
            status,
            content_type,
            body,
        } = &verdict
        {
            self.answer_guard(host, *status, content_type, body);
        }
        verdict
    }

    /// 500: the guards cannot be applied; nothing goes upstream unchecked.
    fn unusable(&mut self, host: &mut impl Host, why: &str) {
        let body = crate::convert::openai_error(
            &format!("llmgate: the prompt guards cannot be applied: {why}"),
            "api_error",
            None,
            None,
        );
        self.answer_guard(host, 500, "application/json", &body);
    }

    fn answer_guard(&mut self, host: &mut impl Host, status: u16, content_type: &str, body: &[u8]) {
        host.send_response(u32::from(status), &[("content-type", content_type)], body);
        self.status = Some(u32::from(status));
        self.phase = RequestPhase::Done;
    }
}
