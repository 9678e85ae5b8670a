//! The route's prompt policy ([`crate::prompt`]) in the stream: applied to
//! the held body before anything else reads it, or the gateway's answer.

use super::{Flow, Host, Plugin, RequestPhase, Stream};
use crate::json_model;
use crate::prompt::{self, Verdict};

impl Stream {
    /// The gateway's own answer (a prompt policy's); nothing goes upstream.
    pub(super) fn answer(&mut self, host: &mut impl Host, answer: &prompt::Answer) -> Flow {
        host.send_response(u32::from(answer.status), &answer.headers, &answer.body);
        self.status = Some(u32::from(answer.status));
        self.phase = RequestPhase::Done;
        Flow::Pause
    }

    /// The route's prompt policy on the client's body, before anything else
    /// reads it: `Ok` with the body to go on with and whether it changed,
    /// `Err` when the gateway answered.
    pub(super) fn apply_policy(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        plan: Option<prompt::Plan>,
        body: Vec<u8>,
    ) -> Result<(Vec<u8>, bool), Flow> {
        let Some(plan) = plan else {
            return Ok((body, false));
        };
        let applied = plugin.request_policy.apply(plan, &body);
        // A callout guard's mask stands unless a regex guard did more.
        self.request_guard = applied.guard.or(self.request_guard);
        match applied.verdict {
            Verdict::Forward(None) => Ok((body, false)),
            Verdict::Forward(Some(edited)) => Ok((edited, true)),
            Verdict::Answer(answer) => {
                self.request_model = json_model::read_model(&body);
                Err(self.answer(host, &answer))
            }
        }
    }
}
