//! Keys that Envoy puts into the request, so that they are never part of the
//! plugin configuration (which Envoy shows in its admin `/config_dump` and
//! its debug log). The translator makes each key an SDS secret, which Envoy
//! redacts, and places one `credential_injector` upstream filter per key
//! before this one; it writes the key into an internal request header on
//! every attempt. This filter takes the values of the provider chosen for the
//! attempt from those headers and then removes every internal header, so
//! only the provider's own credential, in the provider's own header, goes
//! upstream.

use crate::config::TokenSource;

/// The credential for this attempt: `Some` when `token` names injected
/// headers. A missing header is no credential (the provider answers 401),
/// never a guess.
pub fn resolve(token: &TokenSource, read: impl Fn(&str) -> Option<String>) -> Option<TokenSource> {
    match token {
        TokenSource::Injected { header } => Some(TokenSource::Value {
            value: read(header).unwrap_or_default(),
        }),
        TokenSource::AwsInjected {
            access_key_id_header,
            secret_access_key_header,
            session_token_header,
        } => {
            let present = |name: &str| read(name).filter(|v| !v.is_empty());
            Some(
                match (
                    present(access_key_id_header),
                    present(secret_access_key_header),
                ) {
                    (Some(access_key_id), Some(secret_access_key)) => TokenSource::Aws {
                        access_key_id,
                        secret_access_key,
                        session_token: session_token_header.as_deref().and_then(present),
                    },
                    _ => TokenSource::Value {
                        value: String::new(),
                    },
                },
            )
        }
        TokenSource::Value { .. } | TokenSource::Passthrough | TokenSource::Aws { .. } => None,
    }
}

/// The internal headers `token` reads.
pub fn headers(token: &TokenSource) -> Vec<&str> {
    match token {
        TokenSource::Injected { header } => vec![header.as_str()],
        TokenSource::AwsInjected {
            access_key_id_header,
            secret_access_key_header,
            session_token_header,
        } => {
            let mut names = vec![
                access_key_id_header.as_str(),
                secret_access_key_header.as_str(),
            ];
            names.extend(session_token_header.as_deref());
            names
        }
        TokenSource::Value { .. } | TokenSource::Passthrough | TokenSource::Aws { .. } => {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn aws_injected(session: bool) -> TokenSource {
        TokenSource::AwsInjected {
            access_key_id_header: "x-a".into(),
            secret_access_key_header: "x-s".into(),
            session_token_header: session.then(|| "x-t".into()),
        }
    }

    #[test]
    fn resolves_what_envoy_injected() {
        let value = |v: &str| {
            Some(TokenSource::Value {
                value: v.to_owned(),
            })
        };
        let aws = |t: Option<&str>| {
            Some(TokenSource::Aws {
                access_key_id: "AKID".into(),
                secret_access_key: "SECRET".into(),
                session_token: t.map(Into::into),
            })
        };
        let injected = TokenSource::Injected {
            header: "x-k".into(),
        };
        let cases: Vec<(&str, TokenSource, Vec<(&str, &str)>, Option<TokenSource>)> = vec![
            (
                "key",
                injected.clone(),
                vec![("x-k", "sk-1")],
                value("sk-1"),
            ),
            ("no header: no key", injected, vec![], value("")),
            (
                "aws without session",
                aws_injected(false),
                vec![("x-a", "AKID"), ("x-s", "SECRET"), ("x-t", "ignored")],
                aws(None),
            ),
            (
                "aws with session",
                aws_injected(true),
                vec![("x-a", "AKID"), ("x-s", "SECRET"), ("x-t", "TOKEN")],
                aws(Some("TOKEN")),
            ),
            (
                "aws session header missing",
                aws_injected(true),
                vec![("x-a", "AKID"), ("x-s", "SECRET")],
                aws(None),
            ),
            (
                "aws secret missing: nothing to sign with",
                aws_injected(true),
                vec![("x-a", "AKID"), ("x-s", "")],
                value(""),
            ),
            ("passthrough", TokenSource::Passthrough, vec![], None),
            (
                "in the configuration",
                TokenSource::Value { value: "k".into() },
                vec![],
                None,
            ),
        ];
        for (what, token, present, want) in cases {
            let headers: HashMap<&str, &str> = present.into_iter().collect();
            let got = resolve(&token, |n| headers.get(n).map(|v| (*v).to_owned()));
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn names_the_headers_it_reads() {
        assert_eq!(headers(&aws_injected(true)), ["x-a", "x-s", "x-t"]);
        assert_eq!(headers(&aws_injected(false)), ["x-a", "x-s"]);
        assert_eq!(
            headers(&TokenSource::Injected {
                header: "x-k".into()
            }),
            ["x-k"]
        );
        assert!(headers(&TokenSource::Passthrough).is_empty());
    }
}
