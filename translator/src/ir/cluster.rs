//! Clusters: AI Backends (one provider, or priority groups) and Services.

use llmgate_filter::config::FilterConfig;

use super::{Credential, SdsSecret};
use crate::problem::Problem;

#[derive(Debug, Clone, PartialEq)]
pub enum Cluster {
    /// An AI Backend with one provider.
    Ai {
        name: String,
        provider: Box<AiProvider>,
    },
    /// An AI Backend's priority groups: every provider an endpoint, one
    /// priority per group. `backend` is `namespace/name`.
    PriorityGroups {
        name: String,
        backend: String,
        groups: ResolvedGroups,
    },
    /// A Service reached by name or address (cluster DNS, ExternalName).
    Service {
        name: String,
        host: String,
        port: u16,
    },
    /// A Service's known endpoints (EndpointSlices); none ready: empty.
    Endpoints {
        name: String,
        endpoints: Vec<(String, u16)>,
    },
    /// A service a prompt guard calls that is no Service: an AI Backend's
    /// provider without the filter (OpenAI's moderation endpoint).
    Guard { name: String, upstream: Upstream },
}

impl Cluster {
    pub fn name(&self) -> &str {
        match self {
            Cluster::Ai { name, .. }
            | Cluster::PriorityGroups { name, .. }
            | Cluster::Service { name, .. }
            | Cluster::Endpoints { name, .. }
            | Cluster::Guard { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    /// `None`: plaintext.
    pub tls: Option<UpstreamTls>,
}

/// One provider of an AI Backend: where to connect, the filter's
/// configuration and the credential Envoy injects for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AiProvider {
    pub upstream: Upstream,
    /// Its `auth.token` names the headers `credential` is injected into
    /// (never the key itself).
    pub filter: FilterConfig,
    pub credential: Credential,
    /// Keys of the policy's prompt guards (moderation), injected into these
    /// internal headers for the filter to use on its calls: `(header, key)`.
    pub guard_keys: Vec<(String, SdsSecret)>,
    /// Served, but to be reported on every translation (e.g. certificate
    /// verification turned off).
    pub warnings: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Envoy priority: the rank of the provider's group among the groups that
    /// have at least one ready provider (priorities must be contiguous).
    pub priority: u32,
    /// `resolved.filter.provider_name` is the provider's `name`.
    pub resolved: AiProvider,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedGroups {
    pub members: Vec<Member>,
    /// Providers left out because something they refer to is missing (their
    /// Secret, a BackendTLSPolicy's CA); the others still serve.
    pub left_out: Vec<Problem>,
    /// Served, but to be reported (certificate verification turned off).
    pub warnings: Vec<Problem>,
}

impl ResolvedGroups {
    /// Retries a request may need to reach the last ready group.
    pub fn failover_retries(&self) -> u32 {
        self.members.iter().map(|m| m.priority).max().unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Sent as SNI.
    pub server_name: String,
    /// `None`: the certificate is not verified (the skip-verify annotation).
    pub validation: Option<Validation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub trusted_ca: TrustedCa,
    /// The certificate must carry one of these.
    pub subject_alt_names: Vec<SubjectAltName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedCa {
    /// The gateway's `--ca-bundle` file.
    System,
    /// PEM certificates from ConfigMaps (public: fine inline in Envoy config).
    Pem(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    Dns(String),
    Uri(String),
}
