//! A token bucket in LLM tokens, as it lives in Envoy's shared data: what
//! is left and when it was last refilled. Refills come in whole intervals
//! (`tokens_per_fill` per `fill_interval_ms`), capped at `max_tokens`. A
//! request is let in while the bucket holds more than zero; it is charged
//! only once its reply has said how many tokens it used, so a bucket can go
//! negative, and that debt keeps later requests out until refills pay it.

use crate::policy_config::TokenBudget;

/// The budget's numbers, in the bucket's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    max: i64,
    per_fill: i64,
    interval_ms: u64,
}

impl Shape {
    /// Zero fills or a zero interval (the translator refuses both, as
    /// kgateway does) are taken as 1 rather than never refilling or
    /// dividing by zero.
    pub fn of(budget: &TokenBudget) -> Shape {
        Shape::new(
            budget.max_tokens,
            budget.tokens_per_fill,
            budget.fill_interval_ms,
        )
    }

    pub fn new(max_tokens: u64, tokens_per_fill: u64, fill_interval_ms: u64) -> Shape {
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Shape {
            max: signed(max_tokens),
            per_fill: signed(tokens_per_fill).max(1),
            interval_ms: fill_interval_ms.max(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Negative: a debt of tokens used past the budget.
    pub tokens: i64,
    /// When the last whole interval was counted (ms since the epoch).
    pub updated_ms: u64,
}

/// Bytes of [`Bucket::encode`].
const ENCODED_LEN: usize = 16;

impl Bucket {
    /// A budget nobody has used yet holds its whole burst.
    pub fn full(shape: Shape, now_ms: u64) -> Bucket {
        Bucket {
            tokens: shape.max,
            updated_ms: now_ms,
        }
    }

    /// The bucket at `now_ms`: every whole interval since the last refill
    /// adds its tokens; the time of a partial interval is kept for the next.
    /// A clock that went back restarts the interval from now (at most one
    /// interval's delay) rather than waiting for the old time to come back.
    pub fn refilled(self, shape: Shape, now_ms: u64) -> Bucket {
        if now_ms < self.updated_ms {
            return Bucket {
                tokens: self.tokens.min(shape.max),
                updated_ms: now_ms,
            };
        }
        let fills = (now_ms - self.updated_ms) / shape.interval_ms;
        let added = i64::try_from(fills)
            .unwrap_or(i64::MAX)
            .saturating_mul(shape.per_fill);
        Bucket {
            tokens: self.tokens.saturating_add(added).min(shape.max),
            updated_ms: self.updated_ms + fills * shape.interval_ms,
        }
    }

    pub fn admits(&self) -> bool {
        self.tokens > 0
    }

    pub fn charged(self, tokens: u64) -> Bucket {
        Bucket {
            tokens: self
                .tokens
                .saturating_sub(i64::try_from(tokens).unwrap_or(i64::MAX)),
            ..self
        }
    }

    /// Whole seconds (at least 1) until a bucket refilled at `now_ms` holds
    /// more than zero again; `None` while it does.
    pub fn retry_after_secs(&self, shape: Shape, now_ms: u64) -> Option<u64> {
        if self.admits() {
            return None;
        }
        if shape.max <= 0 {
            // Never admits: say one interval rather than forever.
            return Some(shape.interval_ms.div_ceil(1000).max(1));
        }
        // One token more than the debt; fills needed for it, rounded up.
        let needed = u64::try_from(1i64.saturating_sub(self.tokens)).unwrap_or(u64::MAX);
        let per_fill = u64::try_from(shape.per_fill).unwrap_or(1);
        let fills = needed.div_ceil(per_fill);
        let at = self
            .updated_ms
            .saturating_add(fills.saturating_mul(shape.interval_ms));
        Some(at.saturating_sub(now_ms).div_ceil(1000).max(1))
    }

    /// Sixteen bytes: the tokens and the time, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.extend_from_slice(&self.tokens.to_le_bytes());
        out.extend_from_slice(&self.updated_ms.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Bucket> {
        if bytes.len() != ENCODED_LEN {
            return None;
        }
        let (tokens, updated) = bytes.split_at(8);
        Some(Bucket {
            tokens: i64::from_le_bytes(tokens.try_into().ok()?),
            updated_ms: u64::from_le_bytes(updated.try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 tokens of burst, 10 more per second.
    const SHAPE: Shape = Shape {
        max: 100,
        per_fill: 10,
        interval_ms: 1000,
    };

    fn at(tokens: i64, updated_ms: u64) -> Bucket {
        Bucket { tokens, updated_ms }
    }

    #[test]
    fn refills_whole_intervals_up_to_the_cap() {
        let cases = [
            // (bucket, now, refilled)
            (at(50, 1000), 1000, at(50, 1000)),
            (at(50, 1000), 1999, at(50, 1000)),
            (at(50, 1000), 2000, at(60, 2000)),
            // A partial interval is kept for the next refill.
            (at(50, 1000), 3500, at(70, 3000)),
            (at(50, 1000), 3999, at(70, 3000)),
            (at(95, 1000), 2000, at(100, 2000)),
            (at(50, 1000), 1_000_000, at(100, 1_000_000)),
            // A debt is paid by refills before anything is admitted again.
            (at(-25, 1000), 2000, at(-15, 2000)),
            (at(-25, 1000), 4000, at(5, 4000)),
            // A smaller budget than the bucket holds (a new configuration).
            (at(500, 1000), 1500, at(100, 1000)),
            // The clock went back: no refill, the interval restarts.
            (at(50, 5000), 4000, at(50, 4000)),
        ];
        for (bucket, now, want) in cases {
            assert_eq!(bucket.refilled(SHAPE, now), want, "{bucket:?} at {now}");
        }
        // Huge numbers saturate instead of wrapping.
        let huge = Shape::new(u64::MAX, u64::MAX, 1);
        assert_eq!(at(0, 0).refilled(huge, u64::MAX), at(i64::MAX, u64::MAX));
        assert_eq!(at(i64::MIN, 0).refilled(huge, 1), at(-1, 1));
    }

    #[test]
    fn admits_while_above_zero_and_charges_into_debt() {
        let cases = [
            (100, 0, true),
            (100, 99, true),
            (100, 100, false),
            (100, 250, false),
            (1, 0, true),
            (0, 0, false),
            (-5, 0, false),
        ];
        for (tokens, charge, admits) in cases {
            let bucket = at(tokens, 0).charged(charge);
            assert_eq!(bucket.tokens, tokens - charge as i64);
            assert_eq!(bucket.admits(), admits, "{tokens} - {charge}");
        }
        assert_eq!(at(i64::MIN + 1, 0).charged(u64::MAX).tokens, i64::MIN);
    }

    #[test]
    fn retry_after_is_whole_seconds_until_above_zero() {
        let cases = [
            // (bucket, now, retry after)
            (at(1, 1000), 1000, None),
            // Empty: the next fill, 1 s away.
            (at(0, 1000), 1000, Some(1)),
            // Part of the interval gone: still at least 1 s.
            (at(0, 1000), 1900, Some(1)),
            // A debt of 15 needs 16 tokens: two fills.
            (at(-15, 1000), 1000, Some(2)),
            (at(-15, 1000), 1500, Some(2)),
            (at(-15, 1000), 1501, Some(2)),
            (at(-19, 1000), 1000, Some(2)),
            (at(-20, 1000), 1000, Some(3)),
            (at(i64::MIN, 0), 0, Some(u64::MAX / 1000 + 1)),
        ];
        for (bucket, now, want) in cases {
            assert_eq!(
                bucket.retry_after_secs(SHAPE, now),
                want,
                "{bucket:?} at {now}"
            );
        }
        // Sub-second intervals round up to a second; a budget of nothing
        // says one interval.
        let fast = Shape::new(10, 1, 250);
        assert_eq!(at(-3, 0).retry_after_secs(fast, 0), Some(1));
        assert_eq!(at(-7, 0).retry_after_secs(fast, 0), Some(2));
        let none = Shape::new(0, 5, 60_000);
        assert_eq!(at(0, 0).retry_after_secs(none, 0), Some(60));
    }

    #[test]
    fn zero_fills_and_intervals_count_as_one() {
        assert_eq!(
            Shape::new(10, 0, 0),
            Shape {
                max: 10,
                per_fill: 1,
                interval_ms: 1
            }
        );
        assert_eq!(at(0, 0).refilled(Shape::new(10, 0, 0), 3), at(3, 3));
        assert_eq!(Shape::new(u64::MAX, 1, 1).max, i64::MAX);
    }

    #[test]
    fn encodes_in_sixteen_bytes() {
        for bucket in [at(0, 0), at(-42, 1_712_345_678_901), at(i64::MIN, u64::MAX)] {
            let bytes = bucket.encode();
            assert_eq!(bytes.len(), 16);
            assert_eq!(Bucket::decode(&bytes), Some(bucket));
        }
        for bad in [&b""[..], &[0; 15], &[0; 17]] {
            assert_eq!(Bucket::decode(bad), None, "{bad:?}");
        }
    }
}
