//! End-to-end test support for llmgate.
//!
//! [`mock`] is a mock LLM provider (Azure OpenAI and OpenAI chat completions) that
//! answers like the real services do; the e2e tests put it behind Envoy, and
//! `make run` starts it as the `llmgate-mock` binary.

pub mod controller;
pub mod harness;
pub mod manifests;
pub mod mock;
pub mod redis;
pub mod sdk;
pub mod tls_client;
