//! A plugin's configuration and what is derived from it once per
//! configuration rather than once per request.

use crate::config::FilterConfig;
use crate::metrics;
use crate::prompt::RequestPolicy;
use crate::providers;
use crate::reply_guard::ReplyGuard;
use crate::usage::UsageFormat;

/// A plugin's configuration plus what is derived from it once.
#[derive(Debug)]
pub struct Plugin {
    pub cfg: FilterConfig,
    pub(super) backend_label: String,
    /// `provider_name`, or the provider type for a single-provider Backend.
    pub(super) provider_name_label: String,
    pub(super) format: UsageFormat,
    /// `include_usage` may be added to streaming requests.
    pub(super) inject_usage: bool,
    /// A priority-group member: Envoy buffers every request body for
    /// failover, so every body is bound by the limit.
    pub(super) failover: bool,
    /// The policy's prompt guards, enrichment and defaults, compiled.
    pub(super) request_policy: RequestPolicy,
    /// The policy's regex response guards, compiled.
    pub(super) reply_guard: Option<ReplyGuard>,
}

impl Plugin {
    pub fn new(cfg: FilterConfig) -> Self {
        let backend_label = metrics::sanitize_label(&cfg.backend);
        let provider_name_label = metrics::sanitize_label(
            cfg.provider_name
                .as_deref()
                .unwrap_or_else(|| cfg.provider.name()),
        );
        let (format, accepts_stream_options) = {
            let provider = providers::of(&cfg.provider);
            (provider.usage_format(), provider.accepts_stream_options())
        };
        // `path.full` may point anywhere (embeddings, a proxy's own API): only
        // the provider's own chat path is known to accept `stream_options`.
        let inject_usage =
            cfg.path_full.is_none() && format == UsageFormat::OpenAiChat && accepts_stream_options;
        let request_policy = RequestPolicy::new(&cfg.policy);
        let reply_guard = ReplyGuard::new(&cfg.policy);
        if let Some(error) = reply_guard.as_ref().and_then(ReplyGuard::error) {
            log::error!(
                "response guard of {}: {error}; its replies are refused",
                cfg.backend
            );
        }
        Plugin {
            request_policy,
            cfg,
            backend_label,
            provider_name_label,
            format,
            inject_usage,
            failover: false,
            reply_guard,
        }
    }

    /// The plugin of a priority-group member (see [`Plugin::failover`]).
    pub fn in_priority_groups(mut self) -> Self {
        self.failover = true;
        self
    }
}
