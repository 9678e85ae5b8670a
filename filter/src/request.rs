//! What the filter does to the request headers: the provider's path, the
//! upstream host and the credential. Pure, so every auth combination is tested
//! without a host.

use crate::config::{FilterConfig, TokenSource, PATH_REWRITTEN_HEADER};
use crate::providers;
use crate::route_type::RouteType;
use crate::sigv4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    Set(String, String),
    Remove(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEdits {
    /// `None`: keep the path the route rewrote.
    pub path: Option<String>,
    /// Applied in order after `:path`; includes `:authority`.
    pub headers: Vec<HeaderOp>,
}

/// The client's request headers the plan depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Client<'a> {
    pub authorization: Option<&'a str>,
    pub anthropic_version: Option<&'a str>,
}

const ACCEPT_ENCODING: &str = "accept-encoding";

/// Every request header some provider takes as a credential (or as part of
/// an AWS signature). The client's copies never reach a provider: a key meant
/// for the gateway, or for another provider, must not be honoured there (an
/// Azure `api-key` sent through an OpenAI route, say). The gateway then
/// writes its own into the provider's header; in passthrough mode that is the
/// client's `authorization`, read before it is removed.
pub const CREDENTIAL_HEADERS: [&str; 9] = [
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    // Azure API Management in front of Azure OpenAI.
    "ocp-apim-subscription-key",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// `streaming` picks the provider's streaming endpoint where it has one.
pub fn plan(
    cfg: &FilterConfig,
    client: &Client<'_>,
    route_rewrote_path: bool,
    route_type: RouteType,
    streaming: bool,
) -> RequestEdits {
    let mut headers = vec![HeaderOp::Set(":authority".to_owned(), cfg.host.clone())];
    if route_rewrote_path {
        headers.push(HeaderOp::Remove(PATH_REWRITTEN_HEADER.to_owned()));
    }

    let target = auth_header(cfg);
    headers.extend(
        CREDENTIAL_HEADERS
            .iter()
            .filter(|h| **h != target)
            .map(|h| HeaderOp::Remove((*h).to_owned())),
    );
    match auth_value(cfg, client.authorization) {
        Some(value) => headers.push(HeaderOp::Set(target, value)),
        // A client-sent copy of the target header must not reach the provider
        // as if the gateway had vouched for it.
        None => headers.push(HeaderOp::Remove(target)),
    }
    headers.extend(providers::of(&cfg.provider).headers(client));
    // The response must reach the filter readable to be counted (and its
    // added usage event removed); Envoy's compressor gzips it for the client
    // afterwards when the client asked.
    headers.push(HeaderOp::Remove(ACCEPT_ENCODING.to_owned()));
    RequestEdits {
        path: path(cfg, route_rewrote_path, route_type, streaming),
        headers,
    }
}

/// The upstream path; `None` keeps the one an HTTPRoute URLRewrite chose (the
/// user's explicit choice wins over the provider's path and `path.full`), and
/// a passthrough's. `path.full` replaces the chat endpoint only: the other
/// route types go to the provider's own endpoint for them.
pub fn path(
    cfg: &FilterConfig,
    route_rewrote_path: bool,
    route_type: RouteType,
    streaming: bool,
) -> Option<String> {
    if route_rewrote_path || route_type.keeps_path() {
        return None;
    }
    match &cfg.path_full {
        Some(full) if route_type == RouteType::Completions => Some(full.clone()),
        _ => providers::of(&cfg.provider).endpoint(route_type, streaming),
    }
}

/// Whether the gateway picks between a provider's streaming and
/// non-streaming endpoints. A path from `path.full`, the route or a
/// passthrough is kept as it is, and so is the body's `stream` (that path
/// may well expect it).
pub fn selects_stream_endpoint(
    cfg: &FilterConfig,
    route_rewrote_path: bool,
    route_type: RouteType,
) -> bool {
    gateway_chooses_path(cfg, route_rewrote_path, route_type)
        && providers::of(&cfg.provider).streams_by_path()
}

/// Whether the provider's own path is used (not `path.full`'s, the route's
/// or a passthrough's): then the model that path names
/// ([`providers::Provider::path_model`]) is the one the request went to.
pub fn gateway_chooses_path(
    cfg: &FilterConfig,
    route_rewrote_path: bool,
    route_type: RouteType,
) -> bool {
    let full_path = cfg.path_full.is_some() && route_type == RouteType::Completions;
    !route_rewrote_path && !full_path && !route_type.keeps_path()
}

/// AWS credentials and SigV4 scope when requests are signed (Bedrock only;
/// the translator configures AWS credentials for nothing else).
pub fn aws_signing(cfg: &FilterConfig) -> Option<(sigv4::Credentials<'_>, providers::Signing<'_>)> {
    let scope = providers::of(&cfg.provider).signing()?;
    match &cfg.auth.token {
        TokenSource::Aws {
            access_key_id,
            secret_access_key,
            session_token,
        } => Some((
            sigv4::Credentials {
                access_key_id,
                secret_access_key,
                session_token: session_token.as_deref(),
            },
            scope,
        )),
        // Injected credentials are resolved before planning
        // ([`crate::injected`]); unresolved, there is nothing to sign with.
        TokenSource::Value { .. }
        | TokenSource::Passthrough
        | TokenSource::Injected { .. }
        | TokenSource::AwsInjected { .. } => None,
    }
}

/// The final request as it will go upstream, for signing.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// SigV4 headers for the final request (host = `cfg.host`, the `:authority`
/// the filter sets); `None` when the Backend does not use AWS credentials.
pub fn sigv4_headers(
    cfg: &FilterConfig,
    req: &Outgoing<'_>,
    unix_seconds: u64,
) -> Option<Vec<(String, String)>> {
    let (creds, scope) = aws_signing(cfg)?;
    let mut signed = vec![("host", cfg.host.as_str())];
    if let Some(content_type) = req.content_type {
        signed.push(("content-type", content_type));
    }
    Some(sigv4::sign(
        &sigv4::SignableRequest {
            method: req.method,
            path_and_query: req.path_and_query,
            headers: &signed,
            body: req.body,
        },
        &creds,
        scope.region,
        scope.service,
        unix_seconds,
    ))
}

pub fn auth_header(cfg: &FilterConfig) -> String {
    match &cfg.auth.header_name {
        Some(name) => name.to_ascii_lowercase(),
        None => providers::of(&cfg.provider).auth().header.to_owned(),
    }
}

/// An explicit prefix wins; an explicit header name alone means "no prefix",
/// because the provider's default prefix belongs to the provider's header.
fn auth_prefix(cfg: &FilterConfig) -> Option<&str> {
    match (&cfg.auth.prefix, &cfg.auth.header_name) {
        (Some(prefix), _) => Some(prefix.as_str()),
        (None, Some(_)) => None,
        (None, None) => providers::of(&cfg.provider).auth().prefix,
    }
}

fn auth_value(cfg: &FilterConfig, client_authorization: Option<&str>) -> Option<String> {
    let token = match &cfg.auth.token {
        TokenSource::Value { value } => value.as_str(),
        TokenSource::Passthrough => strip_bearer(client_authorization?),
        // Signed once the final body is known, not a header value.
        TokenSource::Aws { .. } => return None,
        // Resolved before planning ([`crate::injected`]); unresolved: none.
        TokenSource::Injected { .. } | TokenSource::AwsInjected { .. } => return None,
    };
    if token.is_empty() {
        return None;
    }
    Some(match auth_prefix(cfg).filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{prefix} {token}"),
        None => token.to_owned(),
    })
}

/// `Bearer <t>` → `<t>` (scheme case-insensitive, RFC 9110); anything else is
/// taken as the bare token. A scheme with no token is no token.
pub fn strip_bearer(header: &str) -> &str {
    let header = header.trim();
    let scheme_len = "bearer".len();
    match (header.get(..scheme_len), header.get(scheme_len..)) {
        (Some(scheme), Some(rest))
            if scheme.eq_ignore_ascii_case("bearer")
                && (rest.is_empty() || rest.starts_with([' ', '\t'])) =>
        {
            rest.trim_start()
        }
        _ => header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, ProviderConfig};

    fn set(name: &str, value: &str) -> HeaderOp {
        HeaderOp::Set(name.into(), value.into())
    }
    fn remove(name: &str) -> HeaderOp {
        HeaderOp::Remove(name.into())
    }
    /// The removals every plan starts with: each credential header but the
    /// provider's own, which the case sets (or removes) itself.
    fn strip_except(target: &str) -> Vec<HeaderOp> {
        CREDENTIAL_HEADERS
            .iter()
            .filter(|h| **h != target)
            .map(|h| remove(h))
            .collect()
    }
    fn azure() -> ProviderConfig {
        ProviderConfig::Azureopenai {
            deployment_name: "gpt-4o-mini".into(),
            api_version: "2024-02-15-preview".into(),
        }
    }
    fn openai() -> ProviderConfig {
        ProviderConfig::Openai { model: None }
    }
    fn value(v: &str) -> TokenSource {
        TokenSource::Value { value: v.into() }
    }
    fn cfg(
        provider: ProviderConfig,
        header_name: Option<&str>,
        prefix: Option<&str>,
        token: TokenSource,
    ) -> FilterConfig {
        FilterConfig {
            backend: "ns/b".into(),
            provider,
            host: "up.example.com".into(),
            auth: AuthConfig {
                header_name: header_name.map(Into::into),
                prefix: prefix.map(Into::into),
                token,
            },
            path_full: None,
            provider_name: None,
            routes: Vec::new(),
            max_request_bytes: crate::config::DEFAULT_MAX_REQUEST_BYTES,
            model_aliases: Default::default(),
            policy: Default::default(),
        }
    }

    #[test]
    fn auth_headers() {
        let authority = set(":authority", "up.example.com");
        let cases: Vec<(&str, FilterConfig, Option<&str>, Vec<HeaderOp>)> = vec![
            (
                "azure inline: api-key, no prefix, client auth dropped",
                cfg(azure(), None, None, value("k1")),
                Some("Bearer client"),
                vec![set("api-key", "k1")],
            ),
            (
                "azure inline without client auth",
                cfg(azure(), None, None, value("k1")),
                None,
                vec![set("api-key", "k1")],
            ),
            (
                "openai inline overwrites the client's Authorization",
                cfg(openai(), None, None, value("sk-1")),
                Some("Bearer client"),
                vec![set("authorization", "Bearer sk-1")],
            ),
            (
                "azure passthrough moves the client's key to api-key",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("Bearer sk-client"),
                vec![set("api-key", "sk-client")],
            ),
            (
                "passthrough strips the scheme case-insensitively",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("bEaReR   sk-client "),
                vec![set("api-key", "sk-client")],
            ),
            (
                "passthrough of a bare token",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("sk-bare"),
                vec![set("api-key", "sk-bare")],
            ),
            (
                "a token that merely starts with 'bearer' is kept whole",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("bearerish"),
                vec![set("api-key", "bearerish")],
            ),
            (
                "openai passthrough re-adds Bearer",
                cfg(openai(), None, None, TokenSource::Passthrough),
                Some("Bearer sk-client"),
                vec![set("authorization", "Bearer sk-client")],
            ),
            (
                "passthrough without a client header removes the target",
                cfg(azure(), None, None, TokenSource::Passthrough),
                None,
                vec![remove("api-key")],
            ),
            (
                "passthrough with an empty bearer sends no key",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("Bearer "),
                vec![remove("api-key")],
            ),
            (
                "headerName alone: no prefix, name lower-cased",
                cfg(openai(), Some("X-Api-Key"), None, value("k")),
                Some("Bearer client"),
                vec![set("x-api-key", "k")],
            ),
            (
                "headerName + prefix",
                cfg(
                    azure(),
                    Some("Authorization"),
                    Some("Bearer"),
                    value("entra"),
                ),
                Some("Bearer client"),
                vec![set("authorization", "Bearer entra")],
            ),
            (
                "prefix alone keeps the provider's header",
                cfg(azure(), None, Some("Key"), value("k")),
                None,
                vec![set("api-key", "Key k")],
            ),
            (
                "prefix alone replaces openai's Bearer",
                cfg(openai(), None, Some("Token"), value("k")),
                None,
                vec![set("authorization", "Token k")],
            ),
            (
                "headerName Authorization without prefix sends the bare key",
                cfg(openai(), Some("Authorization"), None, value("k")),
                Some("Bearer client"),
                vec![set("authorization", "k")],
            ),
            (
                "an empty inline value sets nothing",
                cfg(openai(), None, None, value("")),
                Some("Bearer client"),
                vec![remove("authorization")],
            ),
        ];
        for (name, cfg, client, want) in cases {
            let mut expected = vec![authority.clone()];
            expected.extend(strip_except(&auth_header(&cfg)));
            expected.extend(want);
            expected.push(remove("accept-encoding"));
            let client = Client {
                authorization: client,
                anthropic_version: None,
            };
            assert_eq!(
                plan(&cfg, &client, false, RouteType::Completions, false).headers,
                expected,
                "{name}"
            );
        }
    }

    /// Whatever the provider, every credential header a provider could
    /// honour is removed, except the one the gateway writes.
    #[test]
    fn no_client_credential_header_survives_but_the_one_the_gateway_writes() {
        let anthropic = ProviderConfig::Anthropic {
            model: None,
            api_version: None,
        };
        let gemini = ProviderConfig::Gemini {
            model: "m".into(),
            api_version: "v1beta".into(),
        };
        let cases = [
            (cfg(openai(), None, None, value("k")), Some("authorization")),
            (cfg(azure(), None, None, value("k")), Some("api-key")),
            (cfg(anthropic, None, None, value("k")), Some("x-api-key")),
            (cfg(gemini, None, None, value("k")), Some("x-goog-api-key")),
            (
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("api-key"),
            ),
            (
                cfg(openai(), Some("X-Custom"), None, value("k")),
                Some("x-custom"),
            ),
            (bedrock(aws(Some("s"))), None),
        ];
        for (cfg, written) in cases {
            let client = Client {
                authorization: Some("Bearer client"),
                anthropic_version: None,
            };
            let edits = plan(&cfg, &client, false, RouteType::Completions, false).headers;
            for name in [
                "authorization",
                "proxy-authorization",
                "api-key",
                "x-api-key",
                "x-goog-api-key",
                "ocp-apim-subscription-key",
                "x-amz-date",
                "x-amz-security-token",
                "x-amz-content-sha256",
            ] {
                let last = edits.iter().rev().find_map(|op| match op {
                    HeaderOp::Set(n, _) if n == name => Some(true),
                    HeaderOp::Remove(n) if n == name => Some(false),
                    _ => None,
                });
                let want = if written == Some(name) {
                    Some(true)
                } else {
                    Some(false)
                };
                assert_eq!(last, want, "{name} for {:?}: {edits:?}", cfg.provider);
            }
        }
    }

    #[test]
    fn paths() {
        let mut full = cfg(azure(), None, None, value("k"));
        full.path_full = Some("/custom/chat?x=1".into());
        let cases = [
            (
                cfg(azure(), None, None, value("k")),
                "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-02-15-preview",
            ),
            (
                cfg(openai(), None, None, value("k")),
                "/v1/chat/completions",
            ),
            (full, "/custom/chat?x=1"),
        ];
        for (cfg, want) in cases {
            assert_eq!(
                plan(
                    &cfg,
                    &Client::default(),
                    false,
                    RouteType::Completions,
                    false
                )
                .path
                .as_deref(),
                Some(want)
            );
        }
    }

    #[test]
    fn a_path_rewritten_by_the_route_is_kept_and_the_marker_removed() {
        let mut full = cfg(azure(), None, None, value("k"));
        full.path_full = Some("/custom/chat".into());
        let edits = plan(
            &full,
            &Client::default(),
            true,
            RouteType::Completions,
            false,
        );
        assert_eq!(edits.path, None);
        assert!(edits
            .headers
            .contains(&HeaderOp::Remove(PATH_REWRITTEN_HEADER.to_owned())));
    }

    fn bedrock(token: TokenSource) -> FilterConfig {
        let mut c = cfg(
            ProviderConfig::Bedrock {
                model: "anthropic.claude-3-5-sonnet-20240620-v1:0".into(),
                region: "eu-west-1".into(),
                guardrail: None,
            },
            None,
            None,
            token,
        );
        c.host = "bedrock-runtime.eu-west-1.amazonaws.com".into();
        c
    }

    fn aws(session_token: Option<&str>) -> TokenSource {
        TokenSource::Aws {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: session_token.map(Into::into),
        }
    }

    #[test]
    fn provider_specific_headers() {
        let anthropic = |api_version: Option<&str>| {
            cfg(
                ProviderConfig::Anthropic {
                    model: None,
                    api_version: api_version.map(Into::into),
                },
                None,
                None,
                value("sk-ant"),
            )
        };
        let cases: Vec<(&str, FilterConfig, Client, Vec<HeaderOp>)> = vec![
            (
                "anthropic: x-api-key, default version",
                anthropic(None),
                Client {
                    authorization: Some("Bearer client"),
                    anthropic_version: None,
                },
                vec![
                    set("x-api-key", "sk-ant"),
                    set("anthropic-version", "2023-06-01"),
                ],
            ),
            (
                "anthropic: the client's version is kept when none is configured",
                anthropic(None),
                Client {
                    authorization: None,
                    anthropic_version: Some("2024-10-22"),
                },
                vec![
                    set("x-api-key", "sk-ant"),
                    set("anthropic-version", "2024-10-22"),
                ],
            ),
            (
                "anthropic: the configured version wins",
                anthropic(Some("2023-06-01")),
                Client {
                    authorization: None,
                    anthropic_version: Some("2024-10-22"),
                },
                vec![
                    set("x-api-key", "sk-ant"),
                    set("anthropic-version", "2023-06-01"),
                ],
            ),
            (
                "gemini: x-goog-api-key",
                cfg(
                    ProviderConfig::Gemini {
                        model: "m".into(),
                        api_version: "v1beta".into(),
                    },
                    None,
                    None,
                    value("goog"),
                ),
                Client {
                    authorization: Some("Bearer client"),
                    anthropic_version: None,
                },
                vec![set("x-goog-api-key", "goog")],
            ),
            (
                "bedrock API key: bearer",
                bedrock(value("bedrock-key")),
                Client::default(),
                vec![set("authorization", "Bearer bedrock-key")],
            ),
            (
                "bedrock SigV4: the client's credential and AWS headers go",
                bedrock(aws(None)),
                Client {
                    authorization: Some("Bearer client"),
                    anthropic_version: None,
                },
                vec![remove("authorization")],
            ),
        ];
        for (name, cfg, client, want) in cases {
            let mut expected = vec![set(":authority", &cfg.host)];
            expected.extend(strip_except(&auth_header(&cfg)));
            expected.extend(want);
            expected.push(remove("accept-encoding"));
            assert_eq!(
                plan(&cfg, &client, false, RouteType::Completions, false).headers,
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn streaming_endpoints() {
        let gemini = cfg(
            ProviderConfig::Gemini {
                model: "gemini-2.5-flash".into(),
                api_version: "v1beta".into(),
            },
            None,
            None,
            value("k"),
        );
        let mut gemini_full = gemini.clone();
        gemini_full.path_full = Some("/v1beta/openai/chat/completions".into());
        let cases = [
            (
                &gemini,
                false,
                false,
                Some("/v1beta/models/gemini-2.5-flash:generateContent"),
            ),
            (
                &gemini,
                false,
                true,
                Some("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
            ),
            (&gemini, true, true, None),
            (
                &gemini_full,
                false,
                true,
                Some("/v1beta/openai/chat/completions"),
            ),
        ];
        for (cfg, rewrote, streaming, want) in cases {
            let completions = RouteType::Completions;
            assert_eq!(path(cfg, rewrote, completions, streaming).as_deref(), want);
            // A passthrough keeps whatever path it came with.
            assert_eq!(path(cfg, rewrote, RouteType::Passthrough, streaming), None);
        }
        let completions = RouteType::Completions;
        assert!(selects_stream_endpoint(&gemini, false, completions));
        assert!(!selects_stream_endpoint(&gemini, true, completions));
        assert!(!selects_stream_endpoint(&gemini_full, false, completions));
        assert!(!selects_stream_endpoint(
            &cfg(openai(), None, None, value("k")),
            false,
            completions
        ));
        // `path.full` is the chat endpoint: a native call still gets the
        // gateway's path and endpoint choice.
        assert!(selects_stream_endpoint(
            &gemini_full,
            false,
            RouteType::StreamGenerateContent
        ));
        assert!(!selects_stream_endpoint(&gemini, false, RouteType::Detect));
    }

    #[test]
    fn sigv4_signs_the_final_request() {
        let body = br#"{"messages":[]}"#;
        let req = Outgoing {
            method: "POST",
            path_and_query: "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
            content_type: Some("application/json"),
            body,
        };
        let got = sigv4_headers(&bedrock(aws(Some("session"))), &req, 1_700_000_000).unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["x-amz-date", "x-amz-security-token", "authorization"]
        );
        let authorization = &got[2].1;
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{authorization}"
        );
        assert!(!authorization.contains("wJalrXUtnFEMI"));
        // The signature covers the body.
        let other = sigv4_headers(
            &bedrock(aws(Some("session"))),
            &Outgoing {
                body: br#"{"messages":[1]}"#,
                ..req
            },
            1_700_000_000,
        )
        .unwrap();
        assert_ne!(other[2], got[2]);
        assert_eq!(sigv4_headers(&bedrock(value("k")), &req, 1), None);
    }
}
