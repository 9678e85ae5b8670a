//! What the filter does to the request headers: the provider's path, the
//! upstream host and the credential. Pure, so every auth combination is tested
//! without a host.

use crate::config::{FilterConfig, TokenSource, PATH_REWRITTEN_HEADER};
use crate::providers;

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

const AUTHORIZATION: &str = "authorization";

/// `client_authorization` is the client's own `Authorization` header, if any.
pub fn plan(
    cfg: &FilterConfig,
    client_authorization: Option<&str>,
    route_rewrote_path: bool,
) -> RequestEdits {
    // An HTTPRoute URLRewrite is the user's explicit choice: it wins over the
    // provider's path and `path.full`.
    let path = (!route_rewrote_path).then(|| {
        cfg.path_full
            .clone()
            .unwrap_or_else(|| providers::upstream_path(&cfg.provider))
    });
    let mut headers = vec![HeaderOp::Set(":authority".to_owned(), cfg.host.clone())];
    if route_rewrote_path {
        headers.push(HeaderOp::Remove(PATH_REWRITTEN_HEADER.to_owned()));
    }

    let target = auth_header(cfg);
    match auth_value(cfg, client_authorization) {
        Some(value) => headers.push(HeaderOp::Set(target.clone(), value)),
        // A client-sent copy of the target header must not reach the provider
        // as if the gateway had vouched for it.
        None => headers.push(HeaderOp::Remove(target.clone())),
    }
    // The client's credential is for the gateway, never for the provider,
    // unless it is the header we just wrote.
    if target != AUTHORIZATION && client_authorization.is_some() {
        headers.push(HeaderOp::Remove(AUTHORIZATION.to_owned()));
    }
    RequestEdits { path, headers }
}

fn auth_header(cfg: &FilterConfig) -> String {
    match &cfg.auth.header_name {
        Some(name) => name.to_ascii_lowercase(),
        None => providers::auth_defaults(&cfg.provider).header.to_owned(),
    }
}

/// An explicit prefix wins; an explicit header name alone means "no prefix",
/// because the provider's default prefix belongs to the provider's header.
fn auth_prefix(cfg: &FilterConfig) -> Option<&str> {
    match (&cfg.auth.prefix, &cfg.auth.header_name) {
        (Some(prefix), _) => Some(prefix.as_str()),
        (None, Some(_)) => None,
        (None, None) => providers::auth_defaults(&cfg.provider).prefix,
    }
}

fn auth_value(cfg: &FilterConfig, client_authorization: Option<&str>) -> Option<String> {
    let token = match &cfg.auth.token {
        TokenSource::Value { value } => value.as_str(),
        TokenSource::Passthrough => strip_bearer(client_authorization?),
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
fn strip_bearer(header: &str) -> &str {
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
                vec![set("api-key", "k1"), remove("authorization")],
            ),
            (
                "azure inline without client auth: nothing to drop",
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
                vec![set("api-key", "sk-client"), remove("authorization")],
            ),
            (
                "passthrough strips the scheme case-insensitively",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("bEaReR   sk-client "),
                vec![set("api-key", "sk-client"), remove("authorization")],
            ),
            (
                "passthrough of a bare token",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("sk-bare"),
                vec![set("api-key", "sk-bare"), remove("authorization")],
            ),
            (
                "a token that merely starts with 'bearer' is kept whole",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("bearerish"),
                vec![set("api-key", "bearerish"), remove("authorization")],
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
                "passthrough with an empty bearer removes both",
                cfg(azure(), None, None, TokenSource::Passthrough),
                Some("Bearer "),
                vec![remove("api-key"), remove("authorization")],
            ),
            (
                "headerName alone: no prefix, name lower-cased",
                cfg(openai(), Some("X-Api-Key"), None, value("k")),
                Some("Bearer client"),
                vec![set("x-api-key", "k"), remove("authorization")],
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
            expected.extend(want);
            assert_eq!(plan(&cfg, client, false).headers, expected, "{name}");
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
            assert_eq!(plan(&cfg, None, false).path.as_deref(), Some(want));
        }
    }

    #[test]
    fn a_path_rewritten_by_the_route_is_kept_and_the_marker_removed() {
        let mut full = cfg(azure(), None, None, value("k"));
        full.path_full = Some("/custom/chat".into());
        let edits = plan(&full, None, true);
        assert_eq!(edits.path, None);
        assert!(edits
            .headers
            .contains(&HeaderOp::Remove(PATH_REWRITTEN_HEADER.to_owned())));
    }
}
