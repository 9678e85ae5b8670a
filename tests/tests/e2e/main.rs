//! The end-to-end tests, one module per subject, linked into one test
//! binary: as separate binaries each linked the whole harness (mock
//! providers, TLS, HTTP client) again.
//!
//! They share one process: ports come from `harness::free_port`, which never
//! hands out the same one twice in a process, and no test changes the
//! process's environment or working directory.

mod access_log;
mod azure_openai;
mod bad_input;
mod body_limit;
mod broken_examples;
mod conformance;
mod counting;
mod examples;
mod failover;
mod guard_webhook;
mod https_listeners;
mod key_secrecy;
mod mock_native_providers;
mod mock_provider;
mod model_aliases;
mod no_nack;
mod openai;
mod providers;
mod request_hygiene;
mod run_command;
mod sdk;
mod streaming;
mod token_budgets;
mod upstream_tls;
mod xds;
mod xds_mtls;
mod yaml_strings;
