//! The request's prompt guards, checked in the policy's order on every
//! prompt text ([`super::texts`]): the first guard that rejects answers,
//! and a masking guard's masks are what later guards (and the provider) see.

use crate::guard_patterns::{PatternError, Patterns};
use crate::policy_config::{Guard, GuardAction, Rejection};

/// One guard, compiled once per configuration.
#[derive(Debug)]
pub(super) enum RequestGuard {
    Regex {
        /// Its place in the policy's `request_guards`.
        index: usize,
        /// A pattern that does not compile (the translator checks them
        /// with the same crate, so only a version skew gets here) fails
        /// every request it guards rather than letting prompts through.
        patterns: Result<Patterns, PatternError>,
        action: GuardAction,
        rejection: Rejection,
    },
    // A webhook or moderation guard plugs in here: it waits on a callout
    // (`dispatch_http_call`), so it needs a stream that pauses between
    // guards; the order of this list is the policy's either way.
}

/// The policy's request guards this stage can check, in order.
pub(super) fn compile(guards: &[Guard]) -> Vec<RequestGuard> {
    guards
        .iter()
        .enumerate()
        .filter_map(|(index, guard)| match guard {
            Guard::Regex(regex) => Some(RequestGuard::Regex {
                index,
                patterns: Patterns::new(&regex.matches, &regex.builtins),
                action: regex.action,
                rejection: regex.rejection.clone(),
            }),
            Guard::Webhook(_) | Guard::Moderation(_) => None,
        })
        .collect()
}

/// What the guards made of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Checked<'g> {
    /// Nothing matched.
    Passed,
    /// At least one text was masked in place.
    Masked,
    Rejected(&'g Rejection),
    /// `request_guards[index]` cannot be used.
    Unusable {
        index: usize,
        error: &'g PatternError,
    },
}

impl Checked<'_> {
    /// The action taken, for the metrics and the log.
    pub(super) fn action(&self) -> Option<GuardAction> {
        match self {
            Checked::Masked => Some(GuardAction::Mask),
            Checked::Rejected(_) => Some(GuardAction::Reject),
            Checked::Passed | Checked::Unusable { .. } => None,
        }
    }
}

pub(super) fn check<'g>(guards: &'g [RequestGuard], texts: &mut [&mut String]) -> Checked<'g> {
    let mut masked = false;
    for guard in guards {
        let RequestGuard::Regex {
            index,
            patterns,
            action,
            rejection,
        } = guard;
        let patterns = match patterns {
            Ok(patterns) => patterns,
            Err(error) => {
                return Checked::Unusable {
                    index: *index,
                    error,
                }
            }
        };
        match action {
            GuardAction::Reject => {
                if texts.iter().any(|text| patterns.is_match(text)) {
                    return Checked::Rejected(rejection);
                }
            }
            GuardAction::Mask => {
                for text in texts.iter_mut() {
                    if let Some(replaced) = patterns.mask(text) {
                        **text = replaced;
                        masked = true;
                    }
                }
            }
        }
    }
    if masked {
        Checked::Masked
    } else {
        Checked::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_config::{Builtin, NamedPattern, RegexGuard};

    fn regex(action: GuardAction, pattern: Option<&str>, builtins: &[Builtin]) -> Guard {
        Guard::Regex(RegexGuard {
            matches: pattern
                .map(|p| NamedPattern {
                    pattern: p.into(),
                    name: Some("SECRET".into()),
                })
                .into_iter()
                .collect(),
            builtins: builtins.to_vec(),
            action,
            rejection: Rejection {
                status: 403,
                message: format!("refused by {pattern:?}"),
            },
        })
    }

    #[test]
    fn guards_act_in_order() {
        use GuardAction::{Mask, Reject};
        let card = &[Builtin::CreditCard][..];
        // (guards, texts, outcome: "passed" | "masked" | "rejected:<message>", texts after)
        let cases: Vec<(Vec<Guard>, Vec<&str>, &str, Vec<&str>)> = vec![
            (
                vec![regex(Reject, Some("(?i)project x"), &[])],
                vec!["hello", "about Project X"],
                "rejected:refused by Some(\"(?i)project x\")",
                vec!["hello", "about Project X"],
            ),
            (
                vec![regex(Reject, Some("project x"), &[])],
                vec!["hello", "world"],
                "passed",
                vec!["hello", "world"],
            ),
            (
                vec![regex(Mask, None, card)],
                vec![
                    "pay 4111 1111 1111 1111",
                    "and 5555555555554444 too",
                    "none",
                ],
                "masked",
                vec!["pay <CREDIT_CARD>", "and <CREDIT_CARD> too", "none"],
            ),
            // A mask first: the rejecting guard no longer sees the card.
            (
                vec![regex(Mask, None, card), regex(Reject, None, card)],
                vec!["pay 4111 1111 1111 1111"],
                "masked",
                vec!["pay <CREDIT_CARD>"],
            ),
            // A reject first: the first guard to match answers.
            (
                vec![
                    regex(Reject, Some("secret"), &[]),
                    regex(Mask, Some("secret"), &[]),
                ],
                vec!["a secret"],
                "rejected:refused by Some(\"secret\")",
                vec!["a secret"],
            ),
            (
                vec![
                    regex(Mask, Some("secret"), &[]),
                    regex(Reject, Some("other"), &[]),
                ],
                vec!["a secret", "other"],
                "rejected:refused by Some(\"other\")",
                vec!["a <SECRET>", "other"],
            ),
            (vec![], vec!["a secret"], "passed", vec!["a secret"]),
        ];
        for (guards, texts, want, after) in cases {
            let compiled = compile(&guards);
            let mut owned: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
            let mut refs: Vec<&mut String> = owned.iter_mut().collect();
            let got = match check(&compiled, &mut refs) {
                Checked::Passed => "passed".to_owned(),
                Checked::Masked => "masked".to_owned(),
                Checked::Rejected(r) => format!("rejected:{}", r.message),
                Checked::Unusable { .. } => "unusable".to_owned(),
            };
            assert_eq!(got, want, "{texts:?}");
            assert_eq!(owned, after, "{texts:?}");
        }
    }

    #[test]
    fn a_guard_that_cannot_compile_fails_closed_and_callouts_are_not_checked_here() {
        use crate::policy_config::{Callout, ModerationGuard};
        let guards = vec![
            Guard::Moderation(ModerationGuard {
                callout: Callout {
                    cluster: "c".into(),
                    authority: "a".into(),
                    timeout_ms: 1,
                    fail_open: false,
                },
                path: "/v1/moderations".into(),
                model: "m".into(),
                key_header: None,
                rejection: Rejection {
                    status: 403,
                    message: "no".into(),
                },
            }),
            regex(GuardAction::Mask, Some("ok"), &[]),
            regex(GuardAction::Reject, Some("(unclosed"), &[]),
        ];
        let compiled = compile(&guards);
        assert_eq!(compiled.len(), 2);
        let mut text = "nothing to see".to_owned();
        let checked = check(&compiled, &mut [&mut text]);
        assert!(
            matches!(checked, Checked::Unusable { index: 2, error } if error.index == 0),
            "{checked:?}"
        );
        assert_eq!(checked.action(), None);
    }
}
