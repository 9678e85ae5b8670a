//! An AI `Backend` → where to connect (address, TLS, SNI), which Host to send,
//! and the llmgate filter configuration (with the Secret resolved).

use std::net::IpAddr;

use llmgate_filter::config::{AuthConfig, FilterConfig};
use llmgate_filter::request::strip_bearer;

use crate::backend::{
    AuthTokenKind, AwsAuth, Backend, LlmProvider, NamedLlmProvider, SingleAuthToken,
    MAX_MODEL_ALIASES, MAX_MODEL_NAME_BYTES,
};
use crate::ir::{Credential, SdsSecret};
use crate::problem::Problem;
use crate::source::{Object, Snapshot};

use super::backend_tls;
use super::providers::{self, Credentials, Provider};

/// The Secret key that holds the token, as in kgateway.
pub const SECRET_TOKEN_KEY: &str = "Authorization";
/// The Secret keys of Bedrock's AWS credentials, as in kgateway.
pub const AWS_ACCESS_KEY: &str = "accessKey";
pub const AWS_SECRET_KEY: &str = "secretKey";
pub const AWS_SESSION_TOKEN_KEY: &str = "sessionToken";

pub use crate::ir::Upstream;
pub use crate::problem::Unavailable;

/// One provider, resolved: where to connect, the filter configuration and
/// what to report.
pub type ResolvedBackend = crate::ir::AiProvider;

fn backend_error(backend: &Object<Backend>, field: &str, message: &str) -> Unavailable {
    Box::new(
        Problem::error(message)
            .at(&backend.origin)
            .object(backend.object_ref("Backend"))
            .field(field),
    )
}

/// One provider of a Backend on its own. `field_base` is where it is in the
/// Backend (`spec.ai.llm`, `spec.ai.priorityGroups[0].providers[1]`), for
/// problems. Only BackendTLSPolicies for the whole Backend apply to it.
pub fn resolve_provider(
    llm: &LlmProvider,
    field_base: &str,
    backend: &Object<Backend>,
    snapshot: &Snapshot,
) -> Result<ResolvedBackend, Unavailable> {
    resolve_in_section(llm, field_base, None, backend, snapshot)
}

/// A priority-group provider: as `resolve_provider`, and a BackendTLSPolicy
/// whose `sectionName` is the provider's `name` applies to it (before one for
/// the whole Backend).
pub fn resolve_named_provider(
    named: &NamedLlmProvider,
    field_base: &str,
    backend: &Object<Backend>,
    snapshot: &Snapshot,
) -> Result<ResolvedBackend, Unavailable> {
    resolve_in_section(
        &named.provider,
        field_base,
        Some(&named.name),
        backend,
        snapshot,
    )
}

fn resolve_in_section(
    llm: &LlmProvider,
    field_base: &str,
    section_name: Option<&str>,
    backend: &Object<Backend>,
    snapshot: &Snapshot,
) -> Result<ResolvedBackend, Unavailable> {
    let base = field_base;
    let invalid = |field: &str, message: &str| backend_error(backend, field, message);
    let provider = providers::of(llm).map_err(|m| invalid(base, &m))?;
    for (field, value) in provider.required_strings() {
        if value.trim().is_empty() {
            return Err(invalid(
                &format!("{base}.{}.{field}", provider.name()),
                "must not be empty",
            ));
        }
    }
    provider
        .check_values()
        .map_err(|(f, m)| invalid(&format!("{base}.{}.{f}", provider.name()), &m))?;
    let (host, port) =
        endpoint_of(provider, llm).map_err(|(f, m)| invalid(&format!("{base}.{f}"), &m))?;
    if let Some(path) = &llm.path {
        if path.full.is_empty() {
            return Err(invalid(&format!("{base}.path.full"), "must not be empty"));
        }
    }
    let (header_name, prefix) = match &llm.auth_header {
        None => (None, None),
        Some(h) => {
            let header_name = h.header_name.clone().filter(|s| !s.is_empty());
            let prefix = h.prefix.clone().filter(|s| !s.is_empty());
            if header_name.is_none() && prefix.is_none() {
                return Err(invalid(
                    &format!("{base}.authHeader"),
                    "set headerName, prefix, or both",
                ));
            }
            (header_name, prefix)
        }
    };
    let model_aliases = model_aliases(llm, base).map_err(|(f, m)| invalid(&f, &m))?;
    let credential = match provider.credentials() {
        Credentials::Token(token) => {
            let field = format!("{base}.{}.authToken", provider.name());
            resolve_token(token, backend, snapshot, &field)?
        }
        Credentials::Aws(auth) => {
            let field = format!("{base}.{}.auth", provider.name());
            resolve_aws_auth(auth, backend, snapshot, &field)?
        }
    };
    let tls = backend_tls::upstream_tls(
        backend,
        section_name,
        &provider.server_name(&host),
        port,
        snapshot,
    )?;
    let filter = FilterConfig {
        backend: format!("{}/{}", backend.namespace, backend.name),
        provider: provider.filter_config(),
        host: authority(provider, &host, port, tls.tls.is_some()),
        auth: AuthConfig {
            header_name,
            prefix,
            // The provider's slot in a cluster of one; priority groups
            // renumber their members.
            token: credential.filter_token(0),
        },
        path_full: llm.path.as_ref().map(|p| p.full.clone()),
        provider_name: None,
        // A route's TrafficPolicy sets them on the route's own copy.
        routes: Vec::new(),
        // The Backend's own, set for all its providers by `backends::resolve`.
        max_request_bytes: llmgate_filter::config::DEFAULT_MAX_REQUEST_BYTES,
        model_aliases,
        policy: Default::default(),
    };
    let mut warnings = tls.warnings;
    warnings.extend(fixed_model_warnings(&filter, base, backend));
    Ok(ResolvedBackend {
        upstream: Upstream {
            host,
            port,
            tls: tls.tls,
        },
        filter,
        credential,
        guard_keys: Vec::new(),
        warnings,
    })
}

/// `modelAliases`, checked: a bounded number of non-empty names of bounded
/// length (as the CRD says; a folder has no API server).
fn model_aliases(
    llm: &LlmProvider,
    base: &str,
) -> Result<std::collections::BTreeMap<String, String>, (String, String)> {
    let field = format!("{base}.modelAliases");
    let aliases = &llm.model_aliases;
    if aliases.len() > MAX_MODEL_ALIASES {
        return Err((
            field,
            format!(
                "has {} aliases; at most {MAX_MODEL_ALIASES} are allowed",
                aliases.len()
            ),
        ));
    }
    for (alias, model) in aliases {
        let entry = format!("{field}[{alias:?}]");
        if alias.trim().is_empty() {
            return Err((field, "an alias must not be empty".into()));
        }
        if alias.len() > MAX_MODEL_NAME_BYTES {
            return Err((
                field,
                format!("alias {alias:.32?}… is longer than {MAX_MODEL_NAME_BYTES} bytes"),
            ));
        }
        if model.trim().is_empty() {
            return Err((entry, "the model must not be empty".into()));
        }
        if model.len() > MAX_MODEL_NAME_BYTES {
            return Err((
                entry,
                format!("the model is longer than {MAX_MODEL_NAME_BYTES} bytes"),
            ));
        }
    }
    Ok(aliases.clone())
}

/// An alias that names another model than the one the provider fixes
/// never takes effect: worth saying, not worth refusing the Backend for.
fn fixed_model_warnings(
    filter: &FilterConfig,
    base: &str,
    backend: &Object<Backend>,
) -> Vec<Problem> {
    let provider = llmgate_filter::providers::of(&filter.provider);
    // `path.full` replaces the path that names the model.
    let path_model = provider.path_model().filter(|_| filter.path_full.is_none());
    let Some(fixed) = provider.model_override().or(path_model) else {
        return Vec::new();
    };
    filter
        .model_aliases
        .iter()
        .filter(|(_, model)| model.as_str() != fixed)
        .map(|(alias, model)| {
            Problem::warning(format!(
                "alias {alias:?} → {model:?} has no effect: this provider always gets {fixed:?} \
                 (a configured model wins over aliases)"
            ))
            .at(&backend.origin)
            .object(backend.object_ref("Backend"))
            .field(format!("{base}.modelAliases[{alias:?}]"))
        })
        .collect()
}

/// (host, port) to connect to: the provider's, or the `host`/`port` override.
fn endpoint_of(
    provider: &dyn Provider,
    llm: &LlmProvider,
) -> Result<(String, u16), (String, String)> {
    match (&llm.host, llm.port) {
        (None, None) => Ok((provider.default_host(), 443)),
        (Some(h), _) if h.is_empty() => Err(("host".into(), "must not be empty".into())),
        (_, Some(0)) => Err(("port".into(), "must be 1-65535".into())),
        (Some(host), Some(port)) => Ok((host.clone(), port)),
        (Some(_), None) => Err(("port".into(), "host and port must be set together".into())),
        (None, Some(_)) => Err(("host".into(), "host and port must be set together".into())),
    }
}

/// The Host header the provider sees: the provider's own when it has one
/// (Azure), else the host we connect to (an OpenAI-compatible server behind
/// `host` knows no other name), with the port when it is not the scheme's
/// default.
fn authority(provider: &dyn Provider, host: &str, port: u16, tls: bool) -> String {
    if let Some(fixed) = provider.fixed_authority() {
        return fixed;
    }
    let default_port = if tls { 443 } else { 80 };
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_string(),
    };
    if port == default_port {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// Bedrock's `auth`: AWS credentials from a Secret (the filter signs with
/// SigV4), or a Bedrock API key in that Secret's `Authorization`; without
/// `auth`, the client's own `Authorization: Bearer <Bedrock API key>`.
fn resolve_aws_auth(
    auth: Option<&AwsAuth>,
    backend: &Object<Backend>,
    snapshot: &Snapshot,
    field: &str,
) -> Result<Credential, Unavailable> {
    let Some(auth) = auth else {
        return Ok(Credential::Client);
    };
    if auth.type_ != "Secret" {
        return Err(backend_error(
            backend,
            &format!("{field}.type"),
            &format!(
                "unsupported auth type {:?}: llmgate supports Secret",
                auth.type_
            ),
        ));
    }
    let Some(name) = auth
        .secret_ref
        .as_ref()
        .map(|r| r.name.as_str())
        .filter(|n| !n.is_empty())
    else {
        return Err(backend_error(
            backend,
            &format!("{field}.secretRef.name"),
            "required when type is Secret",
        ));
    };
    let secret = referenced_secret(backend, snapshot, name, &format!("{field}.secretRef"))?;
    let value = |key: &str| secret_value(&secret.value, key).filter(|v| !v.is_empty());
    let sds =
        |key: &str, value: String| SdsSecret::from_secret(&backend.namespace, name, key, value);
    let not_ready = |missing: &str| {
        secret_not_ready(
            backend,
            &format!("{field}.secretRef"),
            format!(
                "Secret {}/{name} has no (non-empty) {missing}",
                backend.namespace
            ),
        )
    };
    match (value(AWS_ACCESS_KEY), value(AWS_SECRET_KEY)) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credential::Aws {
            access_key_id: sds(AWS_ACCESS_KEY, access_key_id),
            secret_access_key: sds(AWS_SECRET_KEY, secret_access_key),
            session_token: value(AWS_SESSION_TOKEN_KEY).map(|t| sds(AWS_SESSION_TOKEN_KEY, t)),
        }),
        (None, None) => match value(SECRET_TOKEN_KEY) {
            Some(key) if !strip_bearer(&key).is_empty() => Ok(Credential::Key(sds(
                SECRET_TOKEN_KEY,
                strip_bearer(&key).to_string(),
            ))),
            _ => Err(not_ready(&format!(
                "keys `{AWS_ACCESS_KEY}` and `{AWS_SECRET_KEY}` (AWS credentials), nor \
                 `{SECRET_TOKEN_KEY}` (a Bedrock API key)"
            ))),
        },
        (Some(_), None) => Err(not_ready(&format!("key `{AWS_SECRET_KEY}`"))),
        (None, Some(_)) => Err(not_ready(&format!("key `{AWS_ACCESS_KEY}`"))),
    }
}

fn secret_not_ready(backend: &Object<Backend>, field: &str, message: String) -> Unavailable {
    Box::new(
        Problem::warning(format!("{message}; routes to this backend answer 500"))
            .at(&backend.origin)
            .object(backend.object_ref("Backend"))
            .field(field),
    )
}

/// A Secret in the Backend's namespace, or the warning that it is missing.
fn referenced_secret<'a>(
    backend: &Object<Backend>,
    snapshot: &'a Snapshot,
    name: &str,
    field: &str,
) -> Result<&'a Object<k8s_openapi::api::core::v1::Secret>, Unavailable> {
    snapshot.secret(&backend.namespace, name).ok_or_else(|| {
        secret_not_ready(
            backend,
            field,
            format!("Secret {}/{name} not found", backend.namespace),
        )
    })
}

fn resolve_token(
    token: &SingleAuthToken,
    backend: &Object<Backend>,
    snapshot: &Snapshot,
    field: &str,
) -> Result<Credential, Unavailable> {
    let object = backend.object_ref("Backend");
    let invalid = |f: &str, m: &str| {
        Box::new(
            Problem::error(m)
                .at(&backend.origin)
                .object(object.clone())
                .field(f),
        )
    };
    match token.kind {
        AuthTokenKind::Passthrough => Ok(Credential::Client),
        AuthTokenKind::Inline => match token.inline.as_deref().map(strip_bearer) {
            Some(value) if !value.is_empty() => Ok(Credential::Key(SdsSecret::inline(
                &backend.namespace,
                &backend.name,
                &format!("{field}.inline"),
                value.to_string(),
            ))),
            _ => Err(invalid(
                &format!("{field}.inline"),
                "required (and non-empty) when kind is Inline",
            )),
        },
        AuthTokenKind::SecretRef => {
            let Some(name) = token
                .secret_ref
                .as_ref()
                .map(|r| r.name.as_str())
                .filter(|n| !n.is_empty())
            else {
                return Err(invalid(
                    &format!("{field}.secretRef.name"),
                    "required when kind is SecretRef",
                ));
            };
            let field = format!("{field}.secretRef");
            let secret = referenced_secret(backend, snapshot, name, &field)?;
            match secret_value(&secret.value, SECRET_TOKEN_KEY) {
                Some(value) if !strip_bearer(&value).is_empty() => {
                    Ok(Credential::Key(SdsSecret::from_secret(
                        &backend.namespace,
                        name,
                        SECRET_TOKEN_KEY,
                        strip_bearer(&value).to_string(),
                    )))
                }
                _ => Err(secret_not_ready(
                    backend,
                    &field,
                    format!(
                        "Secret {}/{name} has no (non-empty) key `{SECRET_TOKEN_KEY}`",
                        backend.namespace
                    ),
                )),
            }
        }
    }
}

/// `stringData` wins over `data`, as the API server merges them.
pub(super) fn secret_value(
    secret: &k8s_openapi::api::core::v1::Secret,
    key: &str,
) -> Option<String> {
    if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.trim().to_string());
    }
    let bytes = secret.data.as_ref().and_then(|d| d.get(key))?;
    // k8s-openapi has already base64-decoded `data`.
    let text = String::from_utf8(bytes.0.clone()).ok()?;
    Some(text.trim().to_string())
}
