//! Provider keys as SDS secrets and the `credential_injector` upstream
//! filters that put them into requests (see `ir::credential`). Envoy shows a
//! secret in `/config_dump` only as `[redacted]`, and neither the injector
//! nor the secret's SDS delivery print the value at any log level.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::ir::{Credential, SdsSecret, SecretDelivery};

/// One injector: writes `secret` into request header `header`, replacing
/// whatever the client sent under that name. Without the secret (not yet
/// delivered) it answers 401 itself rather than let the request go keyless.
pub fn injector(header: &str, secret: &SdsSecret, delivery: SecretDelivery) -> Value {
    let sds = match delivery {
        SecretDelivery::Static => json!({ "name": secret.name }),
        SecretDelivery::Ads => json!({
            "name": secret.name,
            "sds_config": { "ads": {}, "resource_api_version": "V3" }
        }),
    };
    json!({
        "name": format!("llmgate.credential/{header}"),
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
            "overwrite": true,
            "credential": {
                "name": "envoy.http.injected_credentials.generic",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
                    "credential": sds,
                    "header": header
                }
            }
        }
    })
}

/// The injectors of the providers of one cluster, `slot` being each one's
/// place among them.
pub fn injectors<'a>(
    credentials: impl IntoIterator<Item = &'a Credential>,
    delivery: SecretDelivery,
) -> Vec<Value> {
    credentials
        .into_iter()
        .enumerate()
        .flat_map(|(slot, credential)| {
            credential
                .injections(slot)
                .into_iter()
                .map(|(header, secret)| injector(&header, secret, delivery))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `Secret` resources, one per name (a Secret used by several Backends is
/// one secret), sorted by name.
pub fn secrets<'a>(all: impl IntoIterator<Item = &'a SdsSecret>) -> Vec<Value> {
    let by_name: BTreeMap<&str, &str> = all
        .into_iter()
        .map(|s| (s.name.as_str(), s.value.as_str()))
        .collect();
    by_name
        .into_iter()
        .map(|(name, value)| {
            json!({
                "name": name,
                "generic_secret": { "secret": { "inline_string": value } }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, value: &str) -> SdsSecret {
        SdsSecret {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn injectors_reference_the_secret_statically_or_over_ads() {
        let s = secret("llmgate/secret/ns/k/Authorization", "sk-1");
        let cases = [
            (SecretDelivery::Static, None),
            (
                SecretDelivery::Ads,
                Some(json!({ "ads": {}, "resource_api_version": "V3" })),
            ),
        ];
        for (delivery, sds_config) in cases {
            let filter = injector("x-llmgate-credential-0", &s, delivery);
            let generic = &filter["typed_config"]["credential"]["typed_config"];
            assert_eq!(generic["header"], "x-llmgate-credential-0");
            assert_eq!(
                generic["credential"]["name"],
                "llmgate/secret/ns/k/Authorization"
            );
            assert_eq!(generic["credential"].get("sds_config"), sds_config.as_ref());
            assert_eq!(filter["typed_config"]["overwrite"], true);
            assert!(!filter.to_string().contains("sk-1"), "{filter}");
        }
    }

    #[test]
    fn one_secret_per_name() {
        let a = secret("a", "1");
        let b = secret("b", "2");
        let out = secrets([&b, &a, &b]);
        assert_eq!(
            out,
            [
                json!({ "name": "a", "generic_secret": { "secret": { "inline_string": "1" } } }),
                json!({ "name": "b", "generic_secret": { "secret": { "inline_string": "2" } } }),
            ]
        );
    }
}
