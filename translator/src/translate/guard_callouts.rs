//! A TrafficPolicy's webhook and OpenAI-moderation prompt guards → the
//! filter's [`Callout`]s and what Envoy needs to make them: the cluster of
//! the guard's service, and for moderation the key, as an SDS secret that a
//! `credential_injector` on the rule's AI cluster writes into an internal
//! header for the filter's call (never into the filter's configuration).
//!
//! - `webhook.host {host, port}` is called as it is (plain HTTP);
//!   `webhook.backendRef` is a Service, in another namespace with a
//!   ReferenceGrant from TrafficPolicies.
//! - `openAIModeration.backendRef` names an AI Backend (ReferenceGrant
//!   likewise) with one `openai` provider and a key: its address and TLS,
//!   without the filter, and its key. kgateway 2.x's `authToken` (`SecretRef`
//!   in the policy's namespace, or `Inline`) calls `api.openai.com` with it.

use llmgate_filter::config::ProviderConfig;
use llmgate_filter::policy_config::{self as filter, Callout, Rejection};

use super::ai_backend::{secret_value, SECRET_TOKEN_KEY};
use super::backend_refs::{Ref, Resolver};
use super::names;
use super::routes::envoy_duration;
use super::BACKEND_GROUP;
use crate::backend::{AuthTokenKind, SingleAuthToken};
use crate::ir::credential::INJECTED_HEADER_PREFIX;
use crate::ir::{Cluster, Credential, SdsSecret, TrustedCa, Upstream, UpstreamTls, Validation};
use crate::source::{Object, Snapshot};
use crate::traffic_policy::{FailureMode, OpenAiModeration, TrafficPolicy, Webhook};

/// `(field, why)`, as [`super::ai_policy::Refusal`].
type Refusal = (String, String);

/// kgateway's default moderation model.
pub const DEFAULT_MODERATION_MODEL: &str = "omni-moderation-latest";
const MODERATION_PATH: &str = "/v1/moderations";
const OPENAI_HOST: &str = "api.openai.com";
const DEFAULT_TIMEOUT_MS: u32 = 2000;
const MAX_TIMEOUT_MS: u64 = 60_000;

/// What the guards of a policy need besides the filter's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    /// Added to the configuration (by name) where the policy applies.
    pub clusters: Vec<Cluster>,
    /// `(internal header, key)`: injected on the rule's AI cluster.
    pub keys: Vec<(String, SdsSecret)>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.keys.is_empty()
    }
}

/// Where guard services are looked up.
pub struct Lookup<'a> {
    pub resolver: &'a Resolver<'a>,
    pub snapshot: &'a Snapshot,
}

pub fn webhook(
    w: &Webhook,
    rejection: Rejection,
    policy: &Object<TrafficPolicy>,
    field: &str,
    lookup: &Lookup<'_>,
    needs: &mut Needs,
) -> Result<filter::Guard, Refusal> {
    let (cluster, authority) = match (&w.host, &w.backend_ref) {
        (Some(host), None) => {
            if host.host.trim().is_empty() || host.port == 0 {
                return Err((
                    format!("{field}.host"),
                    "needs a host and a port above 0".into(),
                ));
            }
            let name = names::guard_host_cluster(&host.host, host.port);
            let cluster = Cluster::Service {
                name,
                host: host.host.clone(),
                port: host.port,
            };
            (cluster, format!("{}:{}", host.host, host.port))
        }
        (None, Some(r)) => {
            let namespace = r.namespace.as_deref().unwrap_or(&policy.namespace);
            let cluster = lookup
                .resolver
                .policy_service(
                    &policy.namespace,
                    &Ref {
                        group: r.group.as_deref(),
                        kind: r.kind.as_deref(),
                        name: &r.name,
                        namespace: r.namespace.as_deref(),
                        port: r.port.map(i32::from),
                    },
                )
                .map_err(|issue| (format!("{field}.backendRef"), issue.message))?;
            let port = r.port.unwrap_or_default();
            (cluster, format!("{}.{namespace}.svc:{port}", r.name))
        }
        _ => {
            return Err((
                field.into(),
                "a webhook needs exactly one of host, backendRef".into(),
            ))
        }
    };
    let mut forward_headers: Vec<String> = Vec::new();
    let named = w
        .forward_headers
        .iter()
        .map(|h| ("forwardHeaders", h))
        .chain(
            w.forward_header_matches
                .iter()
                .map(|h| ("forwardHeaderMatches", h)),
        );
    for (i, (list, h)) in named.enumerate() {
        if h.match_type.as_deref().is_some_and(|t| t != "Exact") {
            return Err((
                format!("{field}.{list}[{i}].type"),
                "only Exact header names can be forwarded".into(),
            ));
        }
        let name = h.name.to_ascii_lowercase();
        if !forward_headers.contains(&name) {
            forward_headers.push(name);
        }
    }
    let callout = Callout {
        cluster: cluster.name().to_owned(),
        authority,
        timeout_ms: timeout(w.timeout.as_deref(), &format!("{field}.timeout"))?,
        fail_open: w.failure_mode == Some(FailureMode::Open),
    };
    needs.clusters.push(cluster);
    Ok(filter::Guard::Webhook(filter::WebhookGuard {
        callout,
        forward_headers,
        rejection,
    }))
}

/// `index`: the guard's place in the policy's request guards (its key's
/// header).
pub fn moderation(
    m: &OpenAiModeration,
    rejection: Rejection,
    policy: &Object<TrafficPolicy>,
    field: &str,
    index: usize,
    lookup: &Lookup<'_>,
    needs: &mut Needs,
) -> Result<filter::Guard, Refusal> {
    let (cluster, authority, key) = match (&m.backend_ref, &m.auth_token) {
        (Some(r), None) => backend_target(r, policy, &format!("{field}.backendRef"), lookup)?,
        (None, Some(token)) => {
            let key = own_key(
                token,
                policy,
                &format!("{field}.authToken"),
                lookup.snapshot,
            )?;
            let upstream = Upstream {
                host: OPENAI_HOST.into(),
                port: 443,
                tls: Some(UpstreamTls {
                    server_name: OPENAI_HOST.into(),
                    validation: Some(Validation {
                        trusted_ca: TrustedCa::System,
                        subject_alt_names: Vec::new(),
                    }),
                }),
            };
            let cluster = Cluster::Guard {
                name: names::GUARD_OPENAI_CLUSTER.into(),
                upstream,
            };
            (cluster, OPENAI_HOST.to_owned(), key)
        }
        _ => {
            return Err((
                field.into(),
                "needs exactly one of backendRef (an AI Backend with an openai provider) or \
                 authToken"
                    .into(),
            ))
        }
    };
    let key_header = format!("{INJECTED_HEADER_PREFIX}guard-{index}");
    let model = m
        .model
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MODERATION_MODEL.to_owned());
    let callout = Callout {
        cluster: cluster.name().to_owned(),
        authority,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        fail_open: false,
    };
    needs.clusters.push(cluster);
    needs.keys.push((key_header.clone(), key));
    Ok(filter::Guard::Moderation(filter::ModerationGuard {
        callout,
        path: MODERATION_PATH.into(),
        model,
        key_header: Some(key_header),
        rejection,
    }))
}

/// The provider of an AI Backend, as a cluster without the filter, and its
/// key.
fn backend_target(
    r: &crate::traffic_policy::ServiceRef,
    policy: &Object<TrafficPolicy>,
    field: &str,
    lookup: &Lookup<'_>,
) -> Result<(Cluster, String, SdsSecret), Refusal> {
    let refuse = |why: String| (field.to_owned(), why);
    let group = r.group.as_deref().unwrap_or(BACKEND_GROUP);
    let kind = r.kind.as_deref().unwrap_or("Backend");
    if group != BACKEND_GROUP || kind != "Backend" {
        return Err(refuse(format!(
            "{group}/{kind}: moderation goes through an AI Backend ({BACKEND_GROUP}/Backend)"
        )));
    }
    let namespace = r.namespace.as_deref().unwrap_or(&policy.namespace);
    let cluster = lookup
        .resolver
        .policy_backend(&policy.namespace, namespace, &r.name)
        .map_err(|issue| refuse(issue.message))?;
    let Cluster::Ai { provider, .. } = cluster else {
        return Err(refuse(format!(
            "Backend {namespace}/{}: moderation needs a Backend with one llm provider, not \
             priority groups",
            r.name
        )));
    };
    if !matches!(provider.filter.provider, ProviderConfig::Openai { .. }) {
        return Err(refuse(format!(
            "Backend {namespace}/{}: moderation needs an openai provider, not {}",
            r.name,
            provider.filter.provider.name()
        )));
    }
    let Credential::Key(key) = &provider.credential else {
        return Err(refuse(format!(
            "Backend {namespace}/{}: moderation needs the Backend's own key (authToken \
             SecretRef or Inline), not the client's",
            r.name
        )));
    };
    let guard = Cluster::Guard {
        name: names::guard_backend_cluster(namespace, &r.name),
        upstream: provider.upstream.clone(),
    };
    Ok((guard, provider.filter.host.clone(), key.clone()))
}

/// kgateway 2.x's `authToken` of the moderation guard itself.
fn own_key(
    token: &serde_json::Value,
    policy: &Object<TrafficPolicy>,
    field: &str,
    snapshot: &Snapshot,
) -> Result<SdsSecret, Refusal> {
    let token: SingleAuthToken = serde_json::from_value(token.clone())
        .map_err(|e| (field.to_owned(), format!("not an auth token: {e}")))?;
    match token.kind {
        AuthTokenKind::Inline => {
            let value = token
                .inline
                .as_deref()
                .map(llmgate_filter::request::strip_bearer)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    (
                        format!("{field}.inline"),
                        "required (and non-empty) when kind is Inline".to_owned(),
                    )
                })?;
            Ok(SdsSecret::inline(
                &policy.namespace,
                &policy.name,
                &format!("{field}.inline"),
                value.to_owned(),
            ))
        }
        AuthTokenKind::SecretRef => {
            let field = format!("{field}.secretRef");
            let name = token
                .secret_ref
                .as_ref()
                .map(|r| r.name.as_str())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| (format!("{field}.name"), "required".to_owned()))?;
            let secret = snapshot.secret(&policy.namespace, name).ok_or_else(|| {
                (
                    field.clone(),
                    format!("Secret {}/{name} not found", policy.namespace),
                )
            })?;
            let value = secret_value(&secret.value, SECRET_TOKEN_KEY)
                .map(|v| llmgate_filter::request::strip_bearer(&v).to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    (
                        field.clone(),
                        format!(
                            "Secret {}/{name} has no (non-empty) {SECRET_TOKEN_KEY} key",
                            policy.namespace
                        ),
                    )
                })?;
            Ok(SdsSecret::from_secret(
                &policy.namespace,
                name,
                SECRET_TOKEN_KEY,
                value,
            ))
        }
        AuthTokenKind::Passthrough => Err((
            format!("{field}.kind"),
            "Passthrough: the client's key cannot be sent to the moderation endpoint; use \
             SecretRef or Inline"
                .into(),
        )),
    }
}

/// A Gateway API duration in ms, 1ms to 60s; 2s unless set.
fn timeout(d: Option<&str>, field: &str) -> Result<u32, Refusal> {
    let Some(d) = d else {
        return Ok(DEFAULT_TIMEOUT_MS);
    };
    let envoy = envoy_duration(d).map_err(|e| (field.to_owned(), e))?;
    let (seconds, millis) = envoy
        .trim_end_matches('s')
        .split_once('.')
        .unwrap_or((envoy.trim_end_matches('s'), "0"));
    let ms = seconds
        .parse::<u64>()
        .unwrap_or(0)
        .saturating_mul(1000)
        .saturating_add(millis.parse::<u64>().unwrap_or(0));
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err((field.into(), format!("{d}: must be from 1ms to 60s")));
    }
    u32::try_from(ms).map_err(|_| (field.into(), format!("{d}: must be from 1ms to 60s")))
}
