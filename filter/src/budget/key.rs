//! Where a budget's bucket lives in Envoy's shared data. Every plugin of
//! the filter runs in one VM per worker with the same `vm_id`, and shared
//! data is per `vm_id` across workers: a key names one bucket for the whole
//! Envoy, whichever worker, cluster or priority-group member serves the
//! request. Budget ids are unique per policy, so the key is the id, plus the
//! client's bucket when the budget has one per `client_header` value.
//!
//! That header may well carry a credential, and shared data can be read by
//! any plugin of the VM: keys hold a SHA-256 of the value, never the value.

use sha2::{Digest, Sha256};
use std::fmt::Write;

const PREFIX: &str = "llmgate/budget/";

/// Hex digits of the client's hash kept: 128 bits, no collision in sight,
/// half the key.
const CLIENT_HEX: usize = 32;

/// `client` is the value of the budget's `client_header`; `None` (no such
/// header configured, or the request has none or an empty one) is the one
/// bucket those requests share.
pub fn of(budget_id: &str, client: Option<&str>) -> String {
    let mut key = format!("{PREFIX}{budget_id}");
    if let Some(value) = client.filter(|v| !v.is_empty()) {
        key.push('/');
        for byte in Sha256::digest(value.as_bytes()).iter().take(CLIENT_HEX / 2) {
            // Writing to a String cannot fail.
            let _ = write!(key, "{byte:02x}");
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_budget_and_client_never_the_clients_value() {
        let cases = [
            ("ns/p/0", None, "llmgate/budget/ns/p/0"),
            ("ns/p/0", Some(""), "llmgate/budget/ns/p/0"),
            // SHA-256("alice") = 2bd806c9…
            (
                "ns/p/0",
                Some("alice"),
                "llmgate/budget/ns/p/0/2bd806c97f0e00af1a1fc3328fa763a9",
            ),
            (
                "ns/p/1",
                Some("alice"),
                "llmgate/budget/ns/p/1/2bd806c97f0e00af1a1fc3328fa763a9",
            ),
        ];
        for (id, client, want) in cases {
            assert_eq!(of(id, client), want, "{id} {client:?}");
        }
        let secret = "Bearer sk-live-1234567890";
        let key = of("ns/p/0", Some(secret));
        assert!(!key.contains("sk-live"), "{key}");
        assert_ne!(key, of("ns/p/0", Some("Bearer sk-live-1234567891")));
    }
}
