//! A provider's credential as Envoy gets it. Keys never go into the filter's
//! configuration (Envoy prints that in its admin `/config_dump` and debug
//! log): each is an SDS secret, which Envoy redacts, injected into the
//! request by Envoy's `credential_injector` under an internal header the
//! filter reads, moves to the provider's own header and removes.

use llmgate_filter::config::TokenSource;

/// One key: the SDS secret's name and value. The name says where the value
/// comes from, so one name is always one value.
#[derive(Clone, PartialEq, Eq)]
pub struct SdsSecret {
    pub name: String,
    pub value: String,
}

// Hand-written so that a key never reaches a log line through `{:?}`.
impl std::fmt::Debug for SdsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SdsSecret {{ name: {:?}, value: <redacted> }}",
            self.name
        )
    }
}

impl SdsSecret {
    /// The key `key` of Secret `namespace/name` (Kubernetes names have no
    /// `/`, so different Secrets or keys never share a name).
    pub fn from_secret(namespace: &str, name: &str, key: &str, value: String) -> Self {
        SdsSecret {
            name: format!("llmgate/secret/{namespace}/{name}/{key}"),
            value,
        }
    }

    /// An inline token at `field` of Backend `namespace/backend`.
    pub fn inline(namespace: &str, backend: &str, field: &str, value: String) -> Self {
        SdsSecret {
            name: format!("llmgate/inline/{namespace}/{backend}/{field}"),
            value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The client's own (`Passthrough`; Bedrock without `auth`).
    Client,
    /// A key, put in the provider's header with its prefix.
    Key(SdsSecret),
    /// AWS credentials the filter signs with (SigV4).
    Aws {
        access_key_id: SdsSecret,
        secret_access_key: SdsSecret,
        session_token: Option<SdsSecret>,
    },
}

/// Internal headers start with this; the translator strips client-sent ones
/// only by overwriting (the injector) and the filter removes them all.
pub const INJECTED_HEADER_PREFIX: &str = "x-llmgate-credential-";

impl Credential {
    /// What the filter is told for the provider in `slot` (its place among
    /// the providers of one cluster): which injected headers to read.
    pub fn filter_token(&self, slot: usize) -> TokenSource {
        let header = |part: &str| format!("{INJECTED_HEADER_PREFIX}{slot}{part}");
        match self {
            Credential::Client => TokenSource::Passthrough,
            Credential::Key(_) => TokenSource::Injected { header: header("") },
            Credential::Aws { session_token, .. } => TokenSource::AwsInjected {
                access_key_id_header: header("-access-key-id"),
                secret_access_key_header: header("-secret-access-key"),
                session_token_header: session_token.as_ref().map(|_| header("-session-token")),
            },
        }
    }

    /// `(internal header, secret)` for every injector the provider in `slot`
    /// needs; the headers are those of [`Credential::filter_token`].
    pub fn injections(&self, slot: usize) -> Vec<(String, &SdsSecret)> {
        match (self, self.filter_token(slot)) {
            (Credential::Key(secret), TokenSource::Injected { header }) => vec![(header, secret)],
            (
                Credential::Aws {
                    access_key_id,
                    secret_access_key,
                    session_token,
                },
                TokenSource::AwsInjected {
                    access_key_id_header,
                    secret_access_key_header,
                    session_token_header,
                },
            ) => {
                let mut out = vec![
                    (access_key_id_header, access_key_id),
                    (secret_access_key_header, secret_access_key),
                ];
                if let (Some(header), Some(secret)) = (session_token_header, session_token) {
                    out.push((header, secret));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    pub fn secrets(&self) -> Vec<&SdsSecret> {
        match self {
            Credential::Client => Vec::new(),
            Credential::Key(secret) => vec![secret],
            Credential::Aws {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let mut out = vec![access_key_id, secret_access_key];
                out.extend(session_token);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str) -> SdsSecret {
        SdsSecret {
            name: name.into(),
            value: format!("value-of-{name}"),
        }
    }

    #[test]
    fn names_say_where_a_key_comes_from_and_never_collide() {
        let names = [
            SdsSecret::from_secret("ns", "a", "Authorization", String::new()).name,
            SdsSecret::from_secret("ns", "a", "accessKey", String::new()).name,
            SdsSecret::from_secret("ns", "b", "Authorization", String::new()).name,
            SdsSecret::from_secret("other", "a", "Authorization", String::new()).name,
            SdsSecret::inline("ns", "a", "spec.ai.llm.openai.authToken", String::new()).name,
            SdsSecret::inline(
                "ns",
                "a",
                "spec.ai.priorityGroups[0].providers[1].openai.authToken",
                String::new(),
            )
            .name,
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(names[0], "llmgate/secret/ns/a/Authorization");
    }

    #[test]
    fn the_filter_reads_exactly_the_headers_the_injectors_write() {
        let cases = [
            (Credential::Client, 0),
            (Credential::Key(secret("k")), 1),
            (
                Credential::Aws {
                    access_key_id: secret("a"),
                    secret_access_key: secret("s"),
                    session_token: None,
                },
                2,
            ),
            (
                Credential::Aws {
                    access_key_id: secret("a"),
                    secret_access_key: secret("s"),
                    session_token: Some(secret("t")),
                },
                3,
            ),
        ];
        for (credential, injectors) in cases {
            for slot in [0, 3] {
                let token = credential.filter_token(slot);
                let written: Vec<String> = credential
                    .injections(slot)
                    .into_iter()
                    .map(|(h, _)| h)
                    .collect();
                let read: Vec<&str> = llmgate_filter::injected::headers(&token);
                assert_eq!(written, read, "{credential:?}");
                assert_eq!(written.len(), injectors, "{credential:?}");
                assert_eq!(credential.secrets().len(), injectors);
                assert!(written
                    .iter()
                    .all(|h| h.starts_with(&format!("{INJECTED_HEADER_PREFIX}{slot}"))));
            }
        }
        assert!(!format!("{:?}", secret("k")).contains("value-of"));
    }
}
