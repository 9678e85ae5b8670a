//! What the translator resolved, in plain types: listeners with their
//! virtual hosts and routes, and the clusters the routes send to. Resolution
//! (`translate`) builds it and reports problems; `emit` turns it into Envoy
//! configuration. Nothing here knows Envoy's field names.

pub mod cluster;
pub mod credential;
pub mod listener;
pub mod route;

use std::path::PathBuf;

pub use cluster::{
    AiProvider, Cluster, Member, ResolvedGroups, SubjectAltName, TrustedCa, Upstream, UpstreamTls,
    Validation,
};
pub use credential::{Credential, SdsSecret};
pub use listener::{Chain, Listener, Protocol, ServerCertificate, VirtualHost};
pub use route::{
    ForwardAction, GlobalTokenBudget, HeaderChanges, HeaderMatch, HeaderValue, PathMatch, Redirect,
    RedirectPath, RedirectPort, RequestRateLimit, Retry, Rewrite, Route, RouteAction, RouteMatch,
    StringMatch, Targets, WeightedCluster,
};

/// Where Envoy gets the filter module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterCode {
    /// A path on Envoy's machine.
    Local(PathBuf),
    /// Fetched over HTTP through a cluster of the bootstrap (the controller
    /// serves it), checked against its SHA-256: no shared filesystem needed.
    Remote {
        uri: String,
        cluster: String,
        sha256: String,
    },
}

/// How the filter module runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wasm {
    pub code: FilterCode,
    /// `v8`, `wamr` or `wasmtime`.
    pub runtime: String,
}

/// How Envoy gets the providers' keys (SDS secrets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecretDelivery {
    /// In the bootstrap's `static_resources.secrets` (`llmgate translate`).
    #[default]
    Static,
    /// Over ADS, with the listeners and clusters (`serve`, `run`, `controller`).
    Ads,
}

/// One gateway's whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub admin_port: u16,
    pub wasm: Wasm,
    /// CA bundle for verifying providers' TLS certificates.
    pub ca_bundle: PathBuf,
    pub secrets: SecretDelivery,
    pub listeners: Vec<Listener>,
    /// By name.
    pub clusters: Vec<Cluster>,
    /// Some weighted share goes to backendRefs that cannot be resolved: they
    /// need the cluster that answers 500.
    pub uses_unavailable: bool,
    /// The cluster of the rate-limit service for global token budgets:
    /// every listener then has Envoy's `ratelimit` filter.
    pub rate_limit_service: Option<String>,
}
