// Table-driven tests name their row types inline on purpose.
#![cfg_attr(test, allow(clippy::type_complexity))]
//! llmgate's proxy-wasm filter, run as an upstream HTTP filter on each AI
//! backend's cluster: rewrites path, host and credential for the provider,
//! optionally forces the request's model, and counts tokens per backend and
//! model from the provider-reported usage.
//!
//! Everything except `shell` is plain Rust and tested on the host; `shell` is
//! the proxy-wasm glue and exists only in the wasm build.

pub mod access_log;
pub mod answers;
pub mod attempt;
pub mod body_edits;
pub mod budget;
pub mod callout;
pub mod capped;
pub mod config;
pub mod convert;
pub mod event_stream;
pub mod guard_patterns;
pub mod include_usage;
pub mod injected;
pub mod invalid_body;
pub mod json_model;
pub mod metrics;
pub mod model_names;
pub mod plugin_config;
pub mod policy_config;
pub mod prompt;
pub mod providers;
pub mod reply_guard;
pub mod request;
pub mod response;
pub mod rewrite;
pub mod route_type;
pub mod sigv4;
pub mod sse;
pub mod stream;
pub mod uri;
pub mod usage;

#[cfg(target_arch = "wasm32")]
mod shell;
