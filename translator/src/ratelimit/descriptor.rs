//! What one rate-limit descriptor from Envoy asks, as the translator wrote
//! it on the route (`emit::route`'s token-budget actions): which budget, its
//! bucket, whose (the client header's value, when the route names one), and
//! whether the request is being admitted or its tokens charged.

use sha2::{Digest as _, Sha256};

/// The rate-limit domain of every request Envoy's `ratelimit` filter makes.
pub const DOMAIN: &str = "llmgate";
pub const BUDGET_KEY: &str = "llmgate_budget";
pub const BUCKET_KEY: &str = "llmgate_bucket";
pub const CLIENT_KEY: &str = "llmgate_client";
pub const PHASE_KEY: &str = "llmgate_phase";
pub const ADMIT: &str = "admit";
pub const CHARGE: &str = "charge";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub max_tokens: u64,
    pub tokens_per_fill: u64,
    pub fill_interval_ms: u64,
}

impl Bucket {
    /// `max/per_fill/interval_ms`, as the route carries it.
    pub fn encode(&self) -> String {
        format!(
            "{}/{}/{}",
            self.max_tokens, self.tokens_per_fill, self.fill_interval_ms
        )
    }

    fn decode(text: &str) -> Option<Bucket> {
        let mut parts = text.split('/').map(|p| p.parse::<u64>().ok());
        let bucket = Bucket {
            max_tokens: parts.next()??,
            tokens_per_fill: parts.next()??,
            fill_interval_ms: parts.next()??,
        };
        let sane = parts.next().is_none()
            && bucket.max_tokens > 0
            && bucket.tokens_per_fill > 0
            && bucket.fill_interval_ms > 0;
        sane.then_some(bucket)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Admit,
    /// The reply's tokens, from the filter (by the route's `hits_addend`).
    Charge(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The budget's id (`namespace/policy/index`).
    pub budget: String,
    /// The store's key: the budget and, hashed, the client.
    pub key: String,
    pub bucket: Bucket,
    pub phase: Phase,
}

/// `None` for a descriptor that is not a token budget's (or is malformed):
/// it is not llmgate's to judge, and is let through.
pub fn parse(entries: &[(&str, &str)], hits_addend: Option<u64>) -> Option<Ask> {
    let get = |key: &str| entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let budget = get(BUDGET_KEY)?;
    let bucket = Bucket::decode(get(BUCKET_KEY)?)?;
    let phase = match get(PHASE_KEY)? {
        ADMIT => Phase::Admit,
        CHARGE => Phase::Charge(hits_addend.unwrap_or(0)),
        _ => return None,
    };
    // A client's header value may be a key: only its hash is kept.
    let key = match get(CLIENT_KEY) {
        Some(client) => format!("llmgate:budget:{budget}:{}", hex(&Sha256::digest(client))),
        None => format!("llmgate:budget:{budget}"),
    };
    Some(Ask {
        budget: budget.to_owned(),
        key,
        bucket,
        phase,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: Bucket = Bucket {
        max_tokens: 100,
        tokens_per_fill: 10,
        fill_interval_ms: 1000,
    };

    #[test]
    fn reads_what_the_route_wrote() {
        let encoded = BUCKET.encode();
        let base = [
            (BUDGET_KEY, "ai/p/0"),
            (BUCKET_KEY, encoded.as_str()),
            (PHASE_KEY, ADMIT),
        ];
        assert_eq!(
            parse(&base, None),
            Some(Ask {
                budget: "ai/p/0".into(),
                key: "llmgate:budget:ai/p/0".into(),
                bucket: BUCKET,
                phase: Phase::Admit
            })
        );
        let charge = [
            (BUDGET_KEY, "ai/p/0"),
            (BUCKET_KEY, encoded.as_str()),
            (CLIENT_KEY, "sk-team-a"),
            (PHASE_KEY, CHARGE),
        ];
        let ask = parse(&charge, Some(42)).unwrap();
        assert_eq!(ask.phase, Phase::Charge(42));
        assert!(ask.key.starts_with("llmgate:budget:ai/p/0:"), "{}", ask.key);
        assert!(!ask.key.contains("sk-team-a"), "{}", ask.key);
        let other = [(CLIENT_KEY, "sk-team-b"), charge[0], charge[1], charge[3]];
        assert_ne!(parse(&other, Some(1)).unwrap().key, ask.key);
        assert_eq!(
            parse(
                &charge[..2]
                    .iter()
                    .copied()
                    .chain([(PHASE_KEY, CHARGE)])
                    .collect::<Vec<_>>(),
                None
            )
            .map(|a| a.phase),
            Some(Phase::Charge(0))
        );
    }

    #[test]
    fn anything_else_is_not_a_budget() {
        let cases: &[&[(&str, &str)]] = &[
            &[("generic_key", "x")],
            &[(BUDGET_KEY, "b"), (PHASE_KEY, ADMIT)],
            &[
                (BUDGET_KEY, "b"),
                (BUCKET_KEY, "100/10"),
                (PHASE_KEY, ADMIT),
            ],
            &[
                (BUDGET_KEY, "b"),
                (BUCKET_KEY, "100/10/0"),
                (PHASE_KEY, ADMIT),
            ],
            &[
                (BUDGET_KEY, "b"),
                (BUCKET_KEY, "0/10/5"),
                (PHASE_KEY, ADMIT),
            ],
            &[
                (BUDGET_KEY, "b"),
                (BUCKET_KEY, "1/1/1/1"),
                (PHASE_KEY, ADMIT),
            ],
            &[
                (BUDGET_KEY, "b"),
                (BUCKET_KEY, "1/1/1"),
                (PHASE_KEY, "later"),
            ],
            &[(BUDGET_KEY, "b"), (BUCKET_KEY, "1/1/1")],
        ];
        for entries in cases {
            assert_eq!(parse(entries, Some(3)), None, "{entries:?}");
        }
    }
}
