//! Retries across providers. Envoy re-runs the upstream filters for every
//! attempt, but hands each attempt the request headers *as the previous
//! attempt's filters left them* (measured on 1.40: a header set by attempt 1
//! is still there in attempt 2). Without care, a retry that fails over from
//! provider A to provider B would carry A's key to B, lose the client's own
//! `Authorization` that A's edits removed, and start from A's path.
//!
//! So the first attempt saves the original value (or absence) of every header
//! any provider of the plugin may touch, in the request's filter state (which
//! lives as long as the downstream request), and every later attempt restores
//! them before planning its own edits. The body needs none of this: Envoy
//! replays its own copy of the client's body to each attempt.

use serde::{Deserialize, Serialize};

use crate::config::{FilterConfig, TokenSource, PATH_REWRITTEN_HEADER};
use crate::providers;
use crate::request::{self, HeaderOp};

/// Filter state name (Envoy stores it as `wasm.llmgate.first_attempt`).
pub const FIRST_ATTEMPT_STATE: &str = "llmgate.first_attempt";

/// Headers the filter may write, whatever the provider (and every header in
/// [`request::CREDENTIAL_HEADERS`], which it removes).
const ALWAYS_TOUCHED: [&str; 4] = [
    ":path",
    "content-length",
    PATH_REWRITTEN_HEADER,
    providers::anthropic::VERSION_HEADER,
];

/// The request headers before any provider's edits: `(name, value)`, `None`
/// for an absent header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstAttempt(Vec<(String, Option<String>)>);

/// Every header name a provider of this plugin may set or remove.
pub fn touched_headers(providers: &[FilterConfig]) -> Vec<String> {
    let mut names: Vec<String> = ALWAYS_TOUCHED
        .iter()
        .chain(request::CREDENTIAL_HEADERS.iter())
        .map(|s| (*s).to_owned())
        .collect();
    for cfg in providers {
        let target = request::auth_header(cfg);
        if !names.contains(&target) {
            names.push(target);
        }
    }
    names
}

impl FirstAttempt {
    pub fn capture(
        providers: &[FilterConfig],
        read: impl Fn(&str) -> Option<String>,
    ) -> FirstAttempt {
        let keep_authorization = keeps_client_authorization(providers);
        FirstAttempt(
            touched_headers(providers)
                .into_iter()
                .map(|name| {
                    // Every provider overwrites or removes a credential
                    // header: absent is what each attempt would end with
                    // anyway, and a secret is not kept around for nothing.
                    // Only the client's `authorization` is needed, by a
                    // passthrough provider.
                    let credential = request::CREDENTIAL_HEADERS.contains(&name.as_str())
                        || is_provider_target(providers, &name);
                    let value = if credential && !(name == "authorization" && keep_authorization) {
                        None
                    } else {
                        read(&name)
                    };
                    (name, value)
                })
                .collect(),
        )
    }

    /// The edits that put the headers back as the client sent them.
    pub fn restore(&self) -> Vec<HeaderOp> {
        self.0
            .iter()
            .map(|(name, value)| match value {
                Some(v) => HeaderOp::Set(name.clone(), v.clone()),
                None => HeaderOp::Remove(name.clone()),
            })
            .collect()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<FirstAttempt> {
        serde_json::from_slice(bytes).ok()
    }
}

fn is_provider_target(providers: &[FilterConfig], name: &str) -> bool {
    providers
        .iter()
        .any(|cfg| request::auth_header(cfg) == name)
}

/// Only plugins that serve several providers can see a retry move between
/// them; a single provider's retries (none are configured today) would
/// re-apply the same edits.
pub fn needed(providers: &[FilterConfig]) -> bool {
    providers.len() > 1
}

/// A client credential is kept in the saved state only when some provider
/// passes it through; otherwise it is only ever removed, so saving it would
/// keep a secret around for nothing.
pub fn keeps_client_authorization(providers: &[FilterConfig]) -> bool {
    providers
        .iter()
        .any(|cfg| matches!(cfg.auth.token, TokenSource::Passthrough))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, ProviderConfig};
    use std::collections::BTreeMap;

    fn cfg(provider: ProviderConfig, token: TokenSource, header: Option<&str>) -> FilterConfig {
        FilterConfig {
            backend: "ns/b".into(),
            provider,
            host: "h".into(),
            auth: AuthConfig {
                header_name: header.map(Into::into),
                prefix: None,
                token,
            },
            path_full: None,
            provider_name: Some("p".into()),
            routes: Vec::new(),
            max_request_bytes: crate::config::DEFAULT_MAX_REQUEST_BYTES,
            model_aliases: Default::default(),
            policy: Default::default(),
        }
    }

    fn apply(headers: &mut BTreeMap<String, String>, ops: &[HeaderOp]) {
        for op in ops {
            match op {
                HeaderOp::Set(n, v) => {
                    headers.insert(n.clone(), v.clone());
                }
                HeaderOp::Remove(n) => {
                    headers.remove(n);
                }
            }
        }
    }

    #[test]
    fn a_retry_starts_from_the_client_headers() {
        let azure = cfg(
            ProviderConfig::Azureopenai {
                deployment_name: "d".into(),
                api_version: "v1".into(),
            },
            TokenSource::Value {
                value: "azure-key".into(),
            },
            None,
        );
        let custom = cfg(
            ProviderConfig::Openai { model: None },
            TokenSource::Passthrough,
            Some("X-Custom-Key"),
        );
        let providers = [azure.clone(), custom];
        let client: BTreeMap<String, String> = [
            (":path", "/chat"),
            ("authorization", "Bearer client"),
            ("content-length", "12"),
            ("x-other", "kept"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let first = FirstAttempt::capture(&providers, |n| client.get(n).cloned());
        let first = FirstAttempt::decode(&first.encode()).unwrap();

        // What attempt 1 (Azure) left behind.
        let mut headers = client.clone();
        let edits = request::plan(
            &azure,
            &request::Client {
                authorization: Some("Bearer client"),
                anthropic_version: None,
            },
            false,
            crate::route_type::RouteType::Completions,
            false,
        );
        apply(&mut headers, &edits.headers);
        headers.insert(":path".into(), edits.path.unwrap());
        headers.insert("content-length".into(), "40".into());
        headers.insert("x-custom-key".into(), "forged".into());
        assert_eq!(
            headers.get("api-key").map(String::as_str),
            Some("azure-key")
        );

        apply(&mut headers, &first.restore());
        let mut want = client.clone();
        // Attempt 1's Host is overwritten by every provider anyway.
        want.insert(":authority".into(), "h".into());
        assert_eq!(headers, want);
    }

    #[test]
    fn client_credentials_are_not_kept_except_an_authorization_passed_through() {
        let client: BTreeMap<String, String> = [
            ("authorization", "Bearer client"),
            ("api-key", "client-azure"),
            ("x-goog-api-key", "client-gemini"),
            ("x-amz-security-token", "client-session"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let azure = cfg(
            ProviderConfig::Azureopenai {
                deployment_name: "d".into(),
                api_version: "v1".into(),
            },
            TokenSource::Value { value: "k".into() },
            None,
        );
        let openai = |token| cfg(ProviderConfig::Openai { model: None }, token, None);
        let cases = [
            (
                [
                    azure.clone(),
                    openai(TokenSource::Value { value: "k".into() }),
                ],
                None,
            ),
            (
                [azure, openai(TokenSource::Passthrough)],
                Some("Bearer client"),
            ),
        ];
        for (providers, authorization) in cases {
            let first = FirstAttempt::capture(&providers, |n| client.get(n).cloned());
            let mut headers = client.clone();
            apply(&mut headers, &first.restore());
            assert_eq!(
                headers.get("authorization").map(String::as_str),
                authorization
            );
            for name in ["api-key", "x-goog-api-key", "x-amz-security-token"] {
                assert_eq!(headers.get(name), None, "{name}");
            }
            let saved = String::from_utf8(first.encode()).unwrap();
            assert!(!saved.contains("client-"), "{saved}");
            assert_eq!(saved.contains("Bearer client"), authorization.is_some());
        }
    }

    #[test]
    fn touched_headers_cover_every_provider_target() {
        let providers = [
            cfg(
                ProviderConfig::Gemini {
                    model: "m".into(),
                    api_version: "v1beta".into(),
                },
                TokenSource::Value { value: "k".into() },
                None,
            ),
            cfg(
                ProviderConfig::Anthropic {
                    model: None,
                    api_version: None,
                },
                TokenSource::Value { value: "k".into() },
                None,
            ),
        ];
        let names = touched_headers(&providers);
        for want in [
            "x-goog-api-key",
            "x-api-key",
            "authorization",
            ":path",
            "content-length",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(!keeps_client_authorization(&providers));
        assert!(needed(&providers));
        assert!(!needed(&providers[..1]));
    }
}
