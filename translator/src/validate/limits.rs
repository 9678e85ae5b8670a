//! Numbers Envoy bounds: durations (route and per-try timeouts) and the
//! weights of a weighted route.

/// Envoy's largest duration in seconds (its strict duration validation: 292
/// years, so that seconds and nanoseconds fit an int64 of nanoseconds).
pub const MAX_DURATION_SECONDS: u64 = 9_223_372_035;
/// The Gateway API's largest backendRef weight.
pub const MAX_WEIGHT: i64 = 1_000_000;

/// A duration as the IR spells it, `N.NNNs`.
pub fn duration(d: &str) -> Result<(), String> {
    let seconds = d
        .strip_suffix('s')
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse::<u64>().ok());
    match seconds {
        Some(s) if s <= MAX_DURATION_SECONDS => Ok(()),
        Some(_) => Err(format!(
            "duration {d} is longer than Envoy's maximum ({MAX_DURATION_SECONDS}s)"
        )),
        None => Err(format!("{d:?} is not a duration")),
    }
}

/// A backendRef weight (Gateway API: 0 to 1,000,000).
pub fn weight(weight: i64) -> Result<u32, String> {
    if (0..=MAX_WEIGHT).contains(&weight) {
        Ok(weight as u32)
    } else {
        Err(format!(
            "weight {weight} is out of range (0 to {MAX_WEIGHT})"
        ))
    }
}

/// The weights of one weighted route: Envoy needs their sum above 0 and
/// within 32 bits.
pub fn weight_sum(weights: impl IntoIterator<Item = u32>) -> Result<(), String> {
    let sum: u64 = weights.into_iter().map(u64::from).sum();
    if sum == 0 {
        Err("the weights add up to 0".into())
    } else if sum > u64::from(u32::MAX) {
        Err(format!(
            "the weights add up to {sum}, over Envoy's limit of {}",
            u32::MAX
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for ok in ["0.000s", "10.000s", "9223372035.999s"] {
            assert_eq!(duration(ok), Ok(()), "{ok}");
        }
        for bad in ["9223372036.000s", "18446744073709551.615s", "10", "s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weights() {
        assert_eq!(weight(0), Ok(0));
        assert_eq!(weight(1_000_000), Ok(1_000_000));
        assert!(weight(-1).is_err());
        assert!(weight(1_000_001).is_err());
        assert!(weight(i64::from(i32::MAX)).is_err());
        assert_eq!(weight_sum([1, 2]), Ok(()));
        assert!(weight_sum([0, 0]).is_err());
        assert!(weight_sum([u32::MAX, 1])
            .unwrap_err()
            .contains("4294967296"));
        assert_eq!(weight_sum([u32::MAX]), Ok(()));
    }
}
