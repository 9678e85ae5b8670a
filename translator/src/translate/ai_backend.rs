//! An AI `Backend` → where to connect (address, TLS, SNI), which Host to send,
//! and the llmgate filter configuration (with the Secret resolved).

use std::net::IpAddr;

use llmgate_filter::config::{AuthConfig, FilterConfig, ProviderConfig, TokenSource};

use crate::backend::{AuthTokenKind, Backend, LlmProvider, SingleAuthToken};
use crate::problem::Problem;
use crate::source::{Object, Snapshot};

/// The Secret key that holds the token, as in kgateway.
pub const SECRET_TOKEN_KEY: &str = "Authorization";

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// SNI and certificate name when `tls`.
    pub server_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedBackend {
    pub upstream: Upstream,
    pub filter: FilterConfig,
}

/// Why a Backend cannot serve: an error in the Backend itself, or a warning
/// about something it refers to (a Secret) that is missing.
pub type Unavailable = Box<Problem>;

pub fn resolve(
    backend: &Object<Backend>,
    snapshot: &Snapshot,
) -> Result<ResolvedBackend, Unavailable> {
    let object = backend.object_ref("Backend");
    let invalid = |field: &str, message: &str| {
        Box::new(
            Problem::error(message)
                .at(&backend.origin)
                .object(object.clone())
                .field(field),
        )
    };
    let spec = &backend.value.spec;
    if spec.type_ != crate::backend::BackendType::Ai {
        return Err(invalid(
            "spec.type",
            &format!(
                "unsupported backend type {:?}: llmgate serves type AI",
                spec.type_
            ),
        ));
    }
    let Some(ai) = &spec.ai else {
        return Err(invalid("spec.ai", "required when type is AI"));
    };
    let llm = match (&ai.llm, &ai.priority_groups) {
        (Some(llm), None) => llm,
        (None, Some(_)) => {
            return Err(invalid(
                "spec.ai.priorityGroups",
                "priority groups are not supported yet; use spec.ai.llm",
            ))
        }
        _ => {
            return Err(invalid(
                "spec.ai",
                "exactly one of llm, priorityGroups must be set",
            ))
        }
    };
    let provider = provider_of(llm).map_err(|m| invalid("spec.ai.llm", &m))?;
    let base = "spec.ai.llm";
    for (field, value) in provider.required_strings() {
        if value.is_empty() {
            return Err(invalid(
                &format!("{base}.{}.{field}", provider.name()),
                "must not be empty",
            ));
        }
    }
    let upstream =
        upstream_of(&provider, llm).map_err(|(f, m)| invalid(&format!("{base}.{f}"), &m))?;
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
    let token_field = format!("{base}.{}.authToken", provider.name());
    let token = resolve_token(provider.auth_token(), backend, snapshot, &token_field)?;
    let filter = FilterConfig {
        backend: format!("{}/{}", backend.namespace, backend.name),
        provider: provider.filter_config(),
        host: authority(&provider, &upstream),
        auth: AuthConfig {
            header_name,
            prefix,
            token,
        },
        path_full: llm.path.as_ref().map(|p| p.full.clone()),
    };
    Ok(ResolvedBackend { upstream, filter })
}

/// The one provider of an `LlmProvider`, borrowed.
enum Provider<'a> {
    OpenAi(&'a crate::backend::OpenAiProvider),
    Azure(&'a crate::backend::AzureOpenAiProvider),
}

impl Provider<'_> {
    fn name(&self) -> &'static str {
        match self {
            Provider::OpenAi(_) => "openai",
            Provider::Azure(_) => "azureopenai",
        }
    }
    fn auth_token(&self) -> &SingleAuthToken {
        match self {
            Provider::OpenAi(p) => &p.auth_token,
            Provider::Azure(p) => &p.auth_token,
        }
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        match self {
            Provider::OpenAi(p) => p
                .model
                .as_deref()
                .map(|m| vec![("model", m)])
                .unwrap_or_default(),
            Provider::Azure(p) => vec![
                ("endpoint", azure_endpoint_host(&p.endpoint)),
                ("deploymentName", p.deployment_name.as_str()),
                ("apiVersion", p.api_version.as_str()),
            ],
        }
    }
    fn default_host(&self) -> String {
        match self {
            Provider::OpenAi(_) => "api.openai.com".to_string(),
            Provider::Azure(p) => azure_endpoint_host(&p.endpoint).to_string(),
        }
    }
    fn filter_config(&self) -> ProviderConfig {
        match self {
            Provider::OpenAi(p) => ProviderConfig::Openai {
                model: p.model.clone(),
            },
            Provider::Azure(p) => ProviderConfig::Azureopenai {
                deployment_name: p.deployment_name.clone(),
                api_version: p.api_version.clone(),
            },
        }
    }
}

fn provider_of(llm: &LlmProvider) -> Result<Provider<'_>, String> {
    let mut set: Vec<&str> = Vec::new();
    let mut found = None;
    if let Some(p) = &llm.openai {
        set.push("openai");
        found = Some(Provider::OpenAi(p));
    }
    if let Some(p) = &llm.azureopenai {
        set.push("azureopenai");
        found = Some(Provider::Azure(p));
    }
    for (name, present) in [
        ("anthropic", llm.anthropic.is_some()),
        ("gemini", llm.gemini.is_some()),
        ("vertexai", llm.vertexai.is_some()),
        ("bedrock", llm.bedrock.is_some()),
    ] {
        if present {
            set.push(name);
        }
    }
    match (set.as_slice(), found) {
        ([_], Some(p)) => Ok(p),
        ([name], None) => Err(format!("provider {name} is not supported yet (supported: openai, azureopenai)")),
        ([], _) => Err("no provider set: exactly one of openai, azureopenai, anthropic, gemini, vertexai, bedrock".into()),
        (many, _) => Err(format!("exactly one provider must be set, found {}", many.join(", "))),
    }
}

/// kgateway accepted `https://name.openai.azure.com/` as well as the bare host.
fn azure_endpoint_host(endpoint: &str) -> &str {
    let without_scheme = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint);
    without_scheme.split('/').next().unwrap_or_default()
}

fn upstream_of(provider: &Provider<'_>, llm: &LlmProvider) -> Result<Upstream, (String, String)> {
    let (host, port) = match (&llm.host, llm.port) {
        (None, None) => (provider.default_host(), 443),
        (Some(h), _) if h.is_empty() => return Err(("host".into(), "must not be empty".into())),
        (_, Some(0)) => return Err(("port".into(), "must be 1-65535".into())),
        (Some(host), Some(port)) => (host.clone(), port),
        (Some(_), None) => {
            return Err(("port".into(), "host and port must be set together".into()))
        }
        (None, Some(_)) => {
            return Err(("host".into(), "host and port must be set together".into()))
        }
    };
    // kgateway's rule, kept for compatibility: TLS exactly when the port is 443.
    let tls = port == 443;
    let server_name = match provider {
        // Azure routes on the resource name: a private endpoint or egress
        // proxy reached through `host` still needs SNI = the endpoint.
        Provider::Azure(_) => provider.default_host(),
        Provider::OpenAi(_) => host.clone(),
    };
    Ok(Upstream {
        host,
        port,
        tls,
        server_name,
    })
}

/// The Host header the provider sees. Azure: always the endpoint, since the
/// resource is identified by it even when `host` points elsewhere. Others: the
/// host we connect to (an OpenAI-compatible server behind `host` knows no other
/// name), with the port when it is not the scheme's default.
fn authority(provider: &Provider<'_>, upstream: &Upstream) -> String {
    match provider {
        Provider::Azure(_) => provider.default_host(),
        Provider::OpenAi(_) => {
            let default_port = if upstream.tls { 443 } else { 80 };
            let host = match upstream.host.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => upstream.host.clone(),
            };
            if upstream.port == default_port {
                host
            } else {
                format!("{host}:{}", upstream.port)
            }
        }
    }
}

fn resolve_token(
    token: &SingleAuthToken,
    backend: &Object<Backend>,
    snapshot: &Snapshot,
    field: &str,
) -> Result<TokenSource, Unavailable> {
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
        AuthTokenKind::Passthrough => Ok(TokenSource::Passthrough),
        AuthTokenKind::Inline => match token.inline.as_deref().map(strip_bearer) {
            Some(value) if !value.is_empty() => Ok(TokenSource::Value {
                value: value.to_string(),
            }),
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
            let not_ready = |message: String| {
                Box::new(
                    Problem::warning(format!("{message}; routes to this backend answer 500"))
                        .at(&backend.origin)
                        .object(object.clone())
                        .field(format!("{field}.secretRef")),
                )
            };
            let Some(secret) = snapshot.secret(&backend.namespace, name) else {
                return Err(not_ready(format!(
                    "Secret {}/{name} not found",
                    backend.namespace
                )));
            };
            match secret_value(&secret.value, SECRET_TOKEN_KEY) {
                Some(value) if !strip_bearer(&value).is_empty() => Ok(TokenSource::Value {
                    value: strip_bearer(&value).to_string(),
                }),
                _ => Err(not_ready(format!(
                    "Secret {}/{name} has no (non-empty) key `{SECRET_TOKEN_KEY}`",
                    backend.namespace
                ))),
            }
        }
    }
}

/// `stringData` wins over `data`, as the API server merges them.
fn secret_value(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.trim().to_string());
    }
    let bytes = secret.data.as_ref().and_then(|d| d.get(key))?;
    // k8s-openapi has already base64-decoded `data`.
    let text = String::from_utf8(bytes.0.clone()).ok()?;
    Some(text.trim().to_string())
}

fn strip_bearer(token: &str) -> &str {
    let t = token.trim();
    match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim_start(),
        _ => t,
    }
}
