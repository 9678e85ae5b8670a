//! One upstream request/response, driven by the proxy-wasm callbacks but
//! written against the small [`Host`] trait so the whole flow — holding the
//! request until its body is known (a prompt policy, model override, model
//! aliases, `include_usage`, a `stream` that picks the endpoint, a Bedrock
//! guardrail, SigV4 over the final body), copying bodies within limits,
//! rewriting the stream, masking the reply for a response guard (`masking`),
//! counting exactly once — is tested on the host with a fake.

mod accounting;
mod budget;
mod converting;
mod guarding;
mod host;
mod masking;
mod plugin;
mod prompt_stage;
mod reply_callout;

pub use host::{Flow, Host, SharedWriteError};
pub use plugin::Plugin;

use crate::answers::{self, TooLarge};
use crate::body_edits::{self, Edit};
use crate::capped::CappedCopy;
use crate::config::{envoy_buffer_limit, FilterConfig, PATH_REWRITTEN_HEADER};
use crate::convert;
use crate::injected;
use crate::invalid_body::{self, Requirement};
use crate::json_model;
use crate::metrics;
use crate::model_names;
use crate::policy_config::GuardAction;
use crate::prompt::{self, Verdict};
use crate::providers;
use crate::reply_guard::{self, ReplyGuard};
use crate::request::{self, HeaderOp};
use crate::response::{is_event_stream, ResponseReader, MAX_JSON_BODY};
use crate::route_type::{self, RouteType};
use converting::{Converting, Dialect};
use masking::Masking;
use reply_callout::{Ended, ReplyCallout};

/// Largest request body copied to read its `model` for the metrics label.
/// Beyond it the label falls back to `unknown`.
pub const MAX_REQUEST_COPY: usize = 1024 * 1024;

// The Backend's limit on request bodies is `FilterConfig::max_request_bytes`
// (default 32 MiB); the translator sets Envoy's buffer limit on the routes to
// the Backend to `config::envoy_buffer_limit` of it, above it by at least one
// read of Envoy's and a quarter for the gateway's edits. Held bodies and
// bodies Envoy buffers for failover are answered 413 here before they could
// reach Envoy's limit: Envoy's own 413 is a bare text, and one raised while
// the filter replaces the body (`set_buffer`) re-enters the VM and crashes it
// (measured on 1.40; see envoy/README.md). Bodies of unknown length held for
// optional edits only are let through unedited once past the limit.

pub use converting::CONVERSION_CODE;

#[derive(Debug)]
enum RequestPhase {
    /// Streaming the body through, keeping a bounded copy for its `model`.
    Copying(CappedCopy),
    /// Headers and body held back until the whole body can be rewritten.
    Holding(Held),
    /// The whole request held while a prompt guard service is asked.
    Guarding(Box<guarding::Guarding>),
    Done,
}

/// What is to be done once the whole request body is in.
#[derive(Debug)]
struct Held {
    model: Option<String>,
    /// The Backend has `modelAliases` that may apply to the body's `model`
    /// (an improvement a too-big body may go without: the provider then
    /// gets the alias and answers for it).
    aliases: bool,
    inject_usage: bool,
    /// The provider's required body edit (a Bedrock guardrail).
    provider_edit: bool,
    /// Sign with SigV4 over the final path and body.
    sign: bool,
    /// A request to convert to the provider's API, in the client's dialect.
    convert: Option<Dialect>,
    /// The policy's callout guards check the prompt, read in this format.
    guards: Option<crate::callout::texts::Format>,
    /// The route's prompt policy, applied to the client's body first.
    policy: Option<prompt::Plan>,
    buffered: usize,
    /// The request's `content-length`, when it has a valid one.
    declared_length: Option<u64>,
    /// The body must reach Envoy whole or not at all: a required edit, or
    /// Envoy buffers it for failover anyway.
    bounded: bool,
}

impl Held {
    /// Edits the request cannot go without: letting it through unheld would
    /// send the wrong model, skip the guardrail or leave it unsigned. The
    /// rest are improvements a too-big body may go without.
    fn required(&self) -> bool {
        self.model.is_some()
            || self.provider_edit
            || self.sign
            || self.convert.is_some()
            || self.guards.is_some()
            || self.policy.is_some()
    }

    /// The edit that needs the body to be a JSON object, if any.
    fn object_requirement(&self) -> Option<Requirement> {
        if self.model.is_some() {
            Some(Requirement::Model)
        } else if self.provider_edit {
            Some(Requirement::Guardrail)
        } else {
            None
        }
    }
}

#[derive(Debug)]
pub struct Stream {
    phase: RequestPhase,
    request_model: Option<String>,
    /// The gateway chose the provider's path, so the model it names (Gemini,
    /// Vertex AI, Bedrock) is the request and response model when body and
    /// reply do not name one.
    path_names_model: bool,
    /// `include_usage` was added to the request.
    injected: bool,
    /// What a request guard did to the prompt.
    request_guard: Option<GuardAction>,
    route: Option<String>,
    /// What the request asks for, from its path.
    route_type: RouteType,
    /// Bytes of the client's request body seen.
    request_bytes: u64,
    started_ms: Option<u64>,
    first_byte_ms: Option<u64>,
    status: Option<u32>,
    response: Option<ResponseReader>,
    counted: bool,
    /// The request was converted to the provider's API: so is the reply.
    converting: Option<Converting>,
    /// A response guard masks the reply.
    masking: Option<Masking>,
    /// Webhook response guards check the reply.
    reply_callout: Option<ReplyCallout>,
    /// The plugin's configuration with the credential Envoy injected for
    /// this attempt ([`injected`]); `None` when the configuration has none
    /// to inject.
    resolved: Option<FilterConfig>,
    /// The request is subject to token budgets: the buckets to charge.
    budgets: Option<budget::Admitted>,
    /// Moderation keys Envoy injected, by the index of their guard.
    guard_keys: Vec<(usize, String)>,
}

impl Default for Stream {
    fn default() -> Self {
        Self::new()
    }
}

impl Stream {
    pub fn new() -> Self {
        Stream {
            phase: RequestPhase::Done,
            request_model: None,
            path_names_model: false,
            injected: false,
            request_guard: None,
            route: None,
            route_type: RouteType::Completions,
            request_bytes: 0,
            started_ms: None,
            first_byte_ms: None,
            status: None,
            response: None,
            counted: false,
            converting: None,
            masking: None,
            reply_callout: None,
            resolved: None,
            budgets: None,
            guard_keys: Vec::new(),
        }
    }

    /// The configuration this attempt works with.
    fn cfg<'a>(&'a self, plugin: &'a Plugin) -> &'a FilterConfig {
        self.resolved.as_ref().unwrap_or(&plugin.cfg)
    }

    pub fn on_request_headers(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        end_of_stream: bool,
    ) -> Flow {
        // Envoy's injectors ran before this filter: take this provider's
        // keys out of their internal headers (a clone of the configuration
        // per request only where keys are injected).
        let token = &plugin.cfg.auth.token;
        let resolved = injected::resolve(token, |name| host.request_header(name)).map(|token| {
            let mut cfg = plugin.cfg.clone();
            cfg.auth.token = token;
            cfg
        });
        for name in injected::headers(token) {
            host.remove_request_header(name);
        }
        // The guards' keys are for the guards' calls only.
        for (index, name) in crate::callout::key_headers(&plugin.cfg.policy.request_guards) {
            if let Some(key) = host.request_header(name) {
                self.guard_keys.push((index, key));
            }
            host.remove_request_header(name);
        }
        let flow = self.plan_request(
            plugin,
            resolved.as_ref().unwrap_or(&plugin.cfg),
            host,
            end_of_stream,
        );
        // Kept for signing once the body is in.
        self.resolved = resolved;
        flow
    }

    /// The request's edits with this attempt's configuration.
    fn plan_request(
        &mut self,
        plugin: &Plugin,
        cfg: &FilterConfig,
        host: &mut impl Host,
        end_of_stream: bool,
    ) -> Flow {
        let provider = providers::of(&cfg.provider);
        self.started_ms = Some(host.now_ms());
        self.route = Some(metrics::route_label(
            host.property(&["xds", "route_name"])
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok()),
        ));
        let client_path = host.request_header(":path").unwrap_or_default();
        let route_rewrote_path = host.request_header(PATH_REWRITTEN_HEADER).is_some();
        let asked = route_type::classify(&client_path, &cfg.routes);
        // Anthropic Messages to a provider without a Messages endpoint go to
        // its chat endpoint, converted.
        let messages_via_chat = asked == RouteType::Messages
            && !route_rewrote_path
            && provider.endpoint(RouteType::Messages, false).is_none()
            && provider.endpoint(RouteType::Completions, false).is_some();
        let route_type = if messages_via_chat {
            RouteType::Completions
        } else {
            asked
        };
        self.route_type = route_type;
        if let Some(flow) = self.answer_locally(cfg, host, route_type) {
            return flow;
        }
        if route_type.usage_format(plugin.format).is_some() {
            let anthropic_client = asked == RouteType::Messages;
            if let Some(flow) = self.check_budgets(plugin, host, anthropic_client) {
                return flow;
            }
        }
        let guards = match guarding::scope(&plugin.cfg.policy.request_guards, asked) {
            Ok(guards) => guards,
            Err(unread) => return self.refuse_unguardable(host, unread),
        };
        let authorization = host.request_header("authorization");
        let anthropic_version = host.request_header(providers::anthropic::VERSION_HEADER);
        let selects_stream = request::selects_stream_endpoint(cfg, route_rewrote_path, route_type);
        // Only when the gateway chose the path (not `path.full`, not the route).
        self.path_names_model = request::gateway_chooses_path(cfg, route_rewrote_path, route_type);
        // Chat says so in its body (read once converted); a native call by
        // its method (or Gemini's `alt=sse`).
        let client_streams = selects_stream
            && (route_type.streams_by_path()
                || (route_type != RouteType::Completions
                    && provider.client_path_streams(&client_path)));
        // Chat to a provider with its own API, on the path the gateway
        // chose (a route's or `path.full`'s may well speak OpenAI's).
        let convert = if messages_via_chat {
            Some(Dialect::Messages)
        } else {
            (route_type == RouteType::Completions
                && !route_rewrote_path
                && cfg.path_full.is_none()
                && provider.chat_conversion().is_some())
            .then_some(Dialect::Chat)
        };
        if let (Some(dialect), true) = (convert, end_of_stream) {
            let e = convert::ConvertError::new("the request has no body", None);
            return self.refuse_conversion(host, &converting::refusal(dialect, &e));
        }
        if let Some(dialect) = convert {
            let guards = &cfg.policy.response_guards;
            let messages = dialect == Dialect::Messages;
            if let Some(body) = ReplyCallout::refuse_converted(guards, messages) {
                host.send_response(502, &[("content-type", "application/json")], &body);
                self.status = Some(502);
                return Flow::Pause;
            }
        }
        // The client's own format: a Messages request the conversion sends
        // to a chat endpoint is still read as Messages.
        let policy = plugin.request_policy.plan(asked);
        if let (Some(plan), true) = (policy, end_of_stream) {
            // No body to read: refused like one that is not JSON.
            if let Verdict::Answer(answer) = plugin.request_policy.apply(plan, b"").verdict {
                return self.answer(host, &answer);
            }
        }
        let client = request::Client {
            authorization: authorization.as_deref(),
            anthropic_version: anthropic_version.as_deref(),
        };
        let edits = request::plan(cfg, &client, route_rewrote_path, route_type, client_streams);
        if let Some(path) = &edits.path {
            host.set_request_header(":path", path);
        }
        for op in &edits.headers {
            match op {
                HeaderOp::Set(name, value) => host.set_request_header(name, value),
                HeaderOp::Remove(name) => host.remove_request_header(name),
            }
        }
        let sign = request::aws_signing(cfg).is_some();
        if end_of_stream {
            if sign {
                sign_request(cfg, host, &[]);
            }
            return Flow::Continue;
        }
        // A passthrough goes as it is (signed, where the Backend signs);
        // embeddings keep their own model (the configured one is for chat);
        // a conversion sets the model and the stream itself.
        let edits_body = !route_type.keeps_path();
        let model = provider
            .model_override()
            .filter(|_| edits_body && convert.is_none() && route_type != RouteType::Embeddings)
            .map(str::to_owned);
        // Aliases rename the body's `model` where nothing fixes it; a
        // conversion applies them itself (its target model).
        let fixed = provider.model_override().or_else(|| {
            self.path_names_model
                .then(|| provider.path_model())
                .flatten()
        });
        let aliases =
            !cfg.model_aliases.is_empty() && edits_body && convert.is_none() && fixed.is_none();
        let mut held = Held {
            model,
            aliases,
            inject_usage: plugin.inject_usage
                && route_type == RouteType::Completions
                && convert.is_none(),
            convert,
            guards,
            policy,
            provider_edit: edits_body && provider.required_edit().is_some(),
            sign,
            buffered: 0,
            declared_length: host
                .request_header("content-length")
                .and_then(|v| v.trim().parse().ok()),
            bounded: false,
        };
        held.bounded = held.required() || plugin.failover;
        let limit = cfg.max_request_bytes;
        if let Some(declared) = held.declared_length.filter(|n| *n > limit) {
            if held.bounded {
                // Refused before a byte of it is buffered.
                return self.refuse_too_large(host, TooLarge::Whole(declared), limit);
            }
            // Optional edits only: too big to hold, it goes as sent.
            held.inject_usage = false;
            held.aliases = false;
        }
        let hold = held.required() || held.inject_usage || held.aliases;
        if !hold {
            self.phase = RequestPhase::Copying(CappedCopy::new(MAX_REQUEST_COPY));
            return Flow::Continue;
        }
        // Headers stay paused so `content-length`, `:path` and the signature
        // can still follow the body; everything else is already in place.
        self.phase = RequestPhase::Holding(held);
        Flow::Pause
    }

    /// 413 in OpenAI's shape: the body is over the Backend's limit. Nothing
    /// of the request goes (further) upstream.
    fn refuse_too_large(&mut self, host: &mut impl Host, size: TooLarge, limit: u64) -> Flow {
        host.send_response(
            413,
            &[("content-type", "application/json")],
            &answers::too_large(size, limit),
        );
        self.status = Some(413);
        self.phase = RequestPhase::Done;
        Flow::Pause
    }

    /// 400: the route's prompt guards cannot read this type of request, and
    /// it may not go unguarded.
    fn refuse_unguardable(&mut self, host: &mut impl Host, route_type: &str) -> Flow {
        let body = crate::convert::openai_error(
            &format!(
                "llmgate: this route's prompt guards cannot read {route_type} requests; use chat \
                 completions or Messages"
            ),
            "invalid_request_error",
            None,
            Some("unguardable_request"),
        );
        host.send_response(400, &[("content-type", "application/json")], &body);
        self.status = Some(400);
        self.phase = RequestPhase::Done;
        Flow::Pause
    }

    /// 400: the request cannot become the provider's; `body` is in the
    /// client's dialect.
    fn refuse_conversion(&mut self, host: &mut impl Host, body: &[u8]) -> Flow {
        host.send_response(400, &[("content-type", "application/json")], body);
        self.status = Some(400);
        Flow::Pause
    }

    /// A model list the Backend answers from its configuration, or a type
    /// of request its provider has no endpoint for: answered here, nothing
    /// goes upstream. `Some(Pause)` when answered.
    fn answer_locally(
        &mut self,
        cfg: &FilterConfig,
        host: &mut impl Host,
        route_type: RouteType,
    ) -> Option<Flow> {
        if route_type.keeps_path() {
            return None;
        }
        let provider = providers::of(&cfg.provider);
        if provider.endpoint(route_type, false).is_some() {
            return None;
        }
        let (status, body) = if route_type == RouteType::Models {
            let mut models = provider.models();
            for alias in cfg.model_aliases.keys() {
                if !models.contains(&alias.as_str()) {
                    models.push(alias);
                }
            }
            (200, answers::model_list(provider.name(), &models))
        } else {
            (
                404,
                answers::unsupported(route_type, provider.name(), &cfg.backend),
            )
        };
        host.send_response(status, &[("content-type", "application/json")], &body);
        self.status = Some(status);
        Some(Flow::Pause)
    }

    pub fn on_request_body(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        let limit = self.cfg(plugin).max_request_bytes;
        let size = |n: u64| {
            if end_of_stream {
                TooLarge::Whole(n)
            } else {
                TooLarge::AtLeast(n)
            }
        };
        match &mut self.phase {
            RequestPhase::Copying(copy) => {
                self.request_bytes = self
                    .request_bytes
                    .saturating_add(u64::try_from(body_size).unwrap_or(u64::MAX));
                if plugin.failover && self.request_bytes > limit {
                    // Envoy buffers it for failover: past its own limit it
                    // would silently give up failing over.
                    let n = self.request_bytes;
                    return self.refuse_too_large(host, size(n), limit);
                }
                if copy.wants(body_size) {
                    if let Some(chunk) = host.request_body(body_size) {
                        copy.push(&chunk);
                    }
                }
                if end_of_stream {
                    self.end_request();
                }
                Flow::Continue
            }
            RequestPhase::Holding(held) => {
                held.buffered = body_size;
                // Envoy hands over everything held so far.
                self.request_bytes = u64::try_from(body_size).unwrap_or(u64::MAX);
                let over = self.request_bytes > limit;
                if over && held.bounded {
                    let n = self.request_bytes;
                    return self.refuse_too_large(host, size(n), limit);
                }
                if over {
                    // Too big to hold for what is optional: let everything go
                    // unchanged (on the path already set), still reading the
                    // model from what we have.
                    let mut copy = CappedCopy::new(MAX_REQUEST_COPY);
                    if let Some(held) = host.request_body(body_size) {
                        copy.push(&held);
                    }
                    self.phase = RequestPhase::Copying(copy);
                    if end_of_stream {
                        self.end_request();
                    }
                    Flow::Continue
                } else if end_of_stream {
                    self.end_request_holding(plugin, host)
                } else {
                    Flow::Pause
                }
            }
            // The whole body is in already.
            RequestPhase::Guarding(_) => Flow::Pause,
            RequestPhase::Done => Flow::Continue,
        }
    }

    /// With trailers the last body callback never says end-of-stream.
    pub fn on_request_trailers(&mut self, plugin: &Plugin, host: &mut impl Host) -> Flow {
        match self.phase {
            RequestPhase::Copying(_) => self.end_request(),
            RequestPhase::Holding(_) => return self.end_request_holding(plugin, host),
            RequestPhase::Guarding(_) => return Flow::Pause,
            RequestPhase::Done => {}
        }
        Flow::Continue
    }

    fn end_request(&mut self) {
        if let RequestPhase::Copying(copy) = std::mem::replace(&mut self.phase, RequestPhase::Done)
        {
            self.request_model = copy.get().and_then(json_model::read_model);
        }
    }

    /// `Pause` when the gateway answered the client itself.
    fn end_request_holding(&mut self, plugin: &Plugin, host: &mut impl Host) -> Flow {
        let RequestPhase::Holding(held) = std::mem::replace(&mut self.phase, RequestPhase::Done)
        else {
            return Flow::Continue;
        };
        let body = if held.buffered == 0 {
            Vec::new()
        } else {
            match host.request_body(held.buffered) {
                Some(body) => body,
                None => return Flow::Continue,
            }
        };
        match held.guards {
            Some(format) => self.start_guards(plugin, host, held, body, format),
            None => self.finish_holding(plugin, host, held, body, false),
        }
    }

    /// The held request's edits on its whole `body` (`masked`: a guard
    /// changed it, so it replaces the client's even without edits).
    /// `Pause` when the gateway answered the client itself.
    fn finish_holding(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        held: Held,
        body: Vec<u8>,
        masked: bool,
    ) -> Flow {
        let (body, policy_edited) = match self.apply_policy(plugin, host, held.policy, body) {
            Ok(applied) => applied,
            Err(flow) => return flow,
        };
        // The provider, its models and paths are the plugin's (an attempt
        // only resolves the credential).
        let cfg = &plugin.cfg;
        let provider = providers::of(&cfg.provider);
        let mut converted_stream = false;
        let body = match held.convert {
            None => body,
            Some(dialect) => {
                let fixed = provider.model_override().or_else(|| provider.path_model());
                let asked = json_model::read_model(&body);
                let target = convert::Target {
                    model: model_names::sent(fixed, &cfg.model_aliases, asked.as_deref()),
                };
                // `path.full` is an OpenAI-speaking endpoint: Messages are
                // converted to chat only.
                let native = provider
                    .chat_conversion()
                    .filter(|_| cfg.path_full.is_none());
                let keep_stream_options = provider.accepts_stream_options();
                match converting::convert(dialect, native, &body, target, keep_stream_options) {
                    Ok(converted) => {
                        self.request_model = asked;
                        converted_stream = converted.stream;
                        self.converting = Some(converted.converting);
                        converted.body
                    }
                    Err(refusal) => return self.refuse_conversion(host, &refusal),
                }
            }
        };
        let is_object = json_model::members(&body).is_some();
        if let Some(requirement) = held.object_requirement().filter(|_| !is_object) {
            let problem = invalid_body::problem(&body);
            host.send_response(
                400,
                &[("content-type", "application/json")],
                &invalid_body::error_body(&problem, requirement),
            );
            self.status = Some(400);
            return Flow::Pause;
        }
        if held.convert.is_none() {
            self.request_model = match &held.model {
                Some(model) if is_object => Some(model.clone()),
                _ => json_model::read_model(&body),
            };
        }
        // A converted stream goes to the provider's streaming endpoint where
        // it has one (only chosen when neither `path.full` nor the route set
        // the path: no conversion then).
        let streams = converted_stream && provider.streams_by_path() && cfg.path_full.is_none();

        let mut edits = Vec::new();
        if let Some(model) = &held.model {
            edits.push(Edit::SetModel(model));
        } else if held.aliases {
            let asked = self.request_model.as_deref();
            if let Some(aliased) = model_names::alias_of(&cfg.model_aliases, asked) {
                edits.push(Edit::SetModel(aliased));
            }
        }
        if let Some(edit) = provider.required_edit() {
            edits.push(edit);
        }
        if held.inject_usage {
            edits.push(Edit::IncludeUsage);
        }
        let mut edited = body_edits::apply(&body, &edits);
        if edited.is_none() && (held.convert.is_some() || policy_edited || masked) {
            // A converted, masked or policy-edited body replaces the
            // client's even without further edits.
            edited = Some(body_edits::Edited {
                body: body.clone(),
                usage_injected: false,
            });
        }
        // Envoy answers a body replaced with more than it can hold with its
        // own 413 from inside `set_buffer`, which crashes the VM: never ask.
        let limit = self.cfg(plugin).max_request_bytes;
        let buffer = envoy_buffer_limit(limit);
        if let Some(size) = edited
            .as_ref()
            .map(|e| u64::try_from(e.body.len()).unwrap_or(u64::MAX))
            .filter(|n| *n > buffer)
        {
            if held.required() {
                return self.refuse_too_large(host, TooLarge::Rewritten { size, buffer }, limit);
            }
            // Optional edits only: the body goes as sent.
            edited = None;
        }
        if let Some(edited) = &edited {
            self.injected = edited.usage_injected;
            host.replace_request_body(held.buffered, &edited.body);
            // Without a content-length the body is chunked and needs no
            // fix-up; adding one would clash with `transfer-encoding`.
            if held.declared_length.is_some() {
                host.set_request_header("content-length", &edited.body.len().to_string());
            }
        }
        if streams {
            if let Some(path) = provider.endpoint(self.route_type, true) {
                host.set_request_header(":path", &path);
            }
        }
        if held.sign {
            let final_body = edited
                .as_ref()
                .map_or(body.as_slice(), |e| e.body.as_slice());
            sign_request(self.cfg(plugin), host, final_body);
        }
        Flow::Continue
    }

    pub fn on_response_headers(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        end_of_stream: bool,
    ) -> Flow {
        self.status = host
            .response_header(":status")
            .and_then(|s| s.trim().parse().ok());
        let content_type = host.response_header("content-type").unwrap_or_default();
        let framing = crate::response::Framing::of(&content_type);
        let encoding = host.response_header("content-encoding");
        let guard = plugin.reply_guard.as_ref();
        if let Some(converting) = &mut self.converting {
            let format = self.route_type.usage_format(plugin.format);
            self.response = format.map(|f| ResponseReader::with_framing(f, framing, false));
            let flow = converting.on_response_headers(host, self.status, framing, end_of_stream);
            if end_of_stream {
                self.finish(plugin, host);
            } else {
                let (streamed, client) = (converting.streams(), converting.client_format());
                self.masking = Masking::for_conversion(guard, host, self.status, streamed, client);
            }
            return flow;
        }
        let encoded = is_content_coded(encoding.as_deref());
        if encoded {
            // The request asked for no coding, yet here is one: the bytes are
            // passed on as they are, never cut or spliced, and not counted.
            self.response = Some(ResponseReader::encoded(framing));
        } else {
            let rewrite = self.injected && is_event_stream(&content_type);
            if rewrite {
                // Removing events changes the length.
                host.remove_response_header("content-length");
            }
            self.response = Some(match self.route_type.usage_format(plugin.format) {
                Some(format) => {
                    let mut reader = ResponseReader::with_framing(format, framing, rewrite);
                    if !plugin.inject_usage {
                        // The gateway cannot ask for usage (an old Azure
                        // api-version, `path.full`): count text for an
                        // estimate. Where it can, usage comes (asked by the
                        // gateway or the client), and no chunk is parsed for
                        // text.
                        reader.count_text();
                    }
                    reader
                }
                None => ResponseReader::unread(framing),
            });
        }
        if end_of_stream {
            self.finish(plugin, host);
            return Flow::Continue;
        }
        let format = reply_guard::reply_format(self.route_type, plugin.format, &content_type);
        // Held under the Backend's request limit too: Envoy's buffer on
        // the route is sized from it.
        let cap = usize::try_from(self.cfg(plugin).max_request_bytes)
            .unwrap_or(usize::MAX)
            .min(MAX_JSON_BODY);
        let guards = &plugin.cfg.policy.response_guards;
        if matches!(self.status, Some(200..=299)) && reply_callout::has_webhooks(guards) {
            let readable = framing == crate::response::Framing::Json && !encoded;
            if let Some((callout, flow)) = ReplyCallout::start(guards, host, readable, format, cap)
            {
                let held = flow == Flow::Pause;
                self.reply_callout = Some(callout);
                if held {
                    // Regex guards mask what the webhooks pass, whole.
                    self.masking = format.and_then(|format| {
                        Masking::for_conversion(guard, host, self.status, false, format)
                    });
                    return Flow::Pause;
                }
                if self
                    .reply_callout
                    .as_ref()
                    .is_some_and(ReplyCallout::refused)
                {
                    return Flow::Continue;
                }
            }
        }
        match Masking::start(guard, host, self.status, framing, encoded, format, cap) {
            Some((masking, flow)) => {
                self.masking = Some(masking);
                flow
            }
            None => Flow::Continue,
        }
    }

    /// `Continue`: the client gets every byte as it arrives (when
    /// rewriting or masking, every complete event of it) — but for a whole
    /// reply a response guard holds until its end (`Pause`).
    pub fn on_response_body(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        if body_size > 0 && self.first_byte_ms.is_none() {
            self.first_byte_ms = Some(host.now_ms());
        }
        let patterns = plugin.reply_guard.as_ref().and_then(ReplyGuard::patterns);
        let response = &mut self.response;
        if let Some(converting) = &mut self.converting {
            let masking = self.masking.as_mut().map(|m| (m, patterns));
            let flow = converting.on_response_body(
                host,
                body_size,
                end_of_stream,
                &mut |native| {
                    if let Some(reader) = response.as_mut() {
                        reader.feed(native);
                    }
                },
                masking,
            );
            if end_of_stream {
                self.finish(plugin, host);
            }
            return flow;
        }
        if self.reply_callout.as_ref().is_some_and(ReplyCallout::holds) {
            return match self.reply_body(plugin, host, body_size, end_of_stream) {
                None => Flow::Pause,
                Some(ended) => self.end_reply(plugin, host, body_size, ended),
            };
        }
        if let Some(callout) = self.reply_callout.as_mut().filter(|c| c.refused()) {
            callout.passing(host, body_size);
            if end_of_stream {
                self.finish(plugin, host);
            }
            return Flow::Continue;
        }
        if let Some(masking) = &mut self.masking {
            let flow = masking.on_body(
                patterns,
                host,
                body_size,
                end_of_stream,
                &mut |chunk, end| response.as_mut().and_then(|reader| reader.pass(chunk, end)),
            );
            if end_of_stream {
                self.finish(plugin, host);
            }
            return flow;
        }
        if let Some(reader) = &mut self.response {
            if reader.rewrites() {
                let chunk = if body_size > 0 {
                    host.response_body(body_size).unwrap_or_default()
                } else {
                    Vec::new()
                };
                let out = reader.pass(&chunk, end_of_stream).unwrap_or_default();
                if out != chunk {
                    host.replace_response_body(body_size, &out);
                }
            } else if body_size > 0 && reader.wants(body_size) {
                if let Some(chunk) = host.response_body(body_size) {
                    reader.feed(&chunk);
                }
            }
        }
        if end_of_stream {
            self.finish(plugin, host);
        }
        Flow::Continue
    }

    pub fn on_response_trailers(&mut self, plugin: &Plugin, host: &mut impl Host) -> Flow {
        if self.reply_callout.as_ref().is_some_and(ReplyCallout::holds) {
            let held = self.reply_callout.as_ref().map_or(0, ReplyCallout::held);
            if let Some(ended) = self.reply_trailers(plugin, host) {
                if self.end_reply(plugin, host, held, ended) == Flow::Pause {
                    return Flow::Pause;
                }
            }
            return Flow::Continue;
        }
        if let Some(masking) = &mut self.masking {
            let patterns = plugin.reply_guard.as_ref().and_then(ReplyGuard::patterns);
            let response = &mut self.response;
            masking.on_trailers(patterns, host, &mut |chunk, end| {
                response.as_mut().and_then(|reader| reader.pass(chunk, end))
            });
        }
        self.finish(plugin, host);
        Flow::Continue
    }

    /// A webhook's answer: about the held reply, or the held request.
    pub fn on_call_response(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        token: u32,
        status: Option<u16>,
        body: Vec<u8>,
    ) {
        let waits = self
            .reply_callout
            .as_ref()
            .is_some_and(|c| c.waits_for(token));
        if !waits {
            self.on_prompt_call_response(plugin, host, token, status, body);
            return;
        }
        let body_size = self
            .reply_callout
            .as_ref()
            .map_or(0, ReplyCallout::held_size);
        if let Some(ended) = self.on_reply_call_response(plugin, host, token, status, body) {
            if self.end_reply(plugin, host, body_size, ended) == Flow::Continue {
                host.resume_response();
            }
        }
    }

    /// The webhooks are done with the held reply of `body_size` bytes:
    /// regex guards mask what they passed, and it goes on.
    fn end_reply(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        ended: Ended,
    ) -> Flow {
        let mut bytes = match ended {
            Ended::Asking => return Flow::Pause,
            Ended::Refused => {
                self.finish(plugin, host);
                return Flow::Continue;
            }
            Ended::Pass { bytes, .. } => bytes,
        };
        let patterns = plugin.reply_guard.as_ref().and_then(ReplyGuard::patterns);
        if let Some(masking) = &mut self.masking {
            match masking.whole(patterns, &bytes) {
                Ok(None) => {}
                Ok(Some(masked)) => bytes = masked,
                Err(error) => {
                    host.set_response_header(":status", "502");
                    host.set_response_header("content-type", "application/json");
                    self.status = Some(502);
                    bytes = error;
                }
            }
        }
        host.replace_response_body(body_size, &bytes);
        if host.response_header("content-length").is_some() {
            host.set_response_header("content-length", &bytes.len().to_string());
        }
        self.finish(plugin, host);
        Flow::Continue
    }

    /// Called from `on_log` and `on_done` too: a stream reset or abandoned
    /// attempt still counts once, with what was seen so far.
    pub fn finish(&mut self, plugin: &Plugin, host: &mut impl Host) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        // The response can end before the request (early error replies).
        if matches!(self.phase, RequestPhase::Copying(_)) {
            self.end_request();
        }
        let outcome = self
            .response
            .take()
            .map(ResponseReader::finish)
            .unwrap_or_default();
        let used = accounting::record(
            plugin,
            host,
            &accounting::Seen {
                route: self.route.as_deref(),
                request_model: self.request_model.as_deref(),
                path_names_model: self.path_names_model,
                started_ms: self.started_ms,
                first_byte_ms: self.first_byte_ms,
                status: self.status,
                injected: self.injected,
                request_guard: self.request_guard,
                outcome: &outcome,
                route_type: self.route_type,
                request_bytes: self.request_bytes,
                reply_masked: self.masking.as_ref().is_some_and(|m| m.masks() > 0),
            },
        );
        self.charge_budgets(plugin, host, used);
    }
}

/// A `content-encoding` other than `identity`: bytes the filter cannot read.
fn is_content_coded(encoding: Option<&str>) -> bool {
    encoding.is_some_and(|e| {
        e.split(',')
            .map(str::trim)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
    })
}

/// Sets the SigV4 headers for the request as it now stands upstream.
fn sign_request(cfg: &FilterConfig, host: &mut impl Host, body: &[u8]) {
    let path = host
        .request_header(":path")
        .unwrap_or_else(|| "/".to_owned());
    let method = host
        .request_header(":method")
        .unwrap_or_else(|| "POST".to_owned());
    let content_type = host.request_header("content-type");
    let outgoing = request::Outgoing {
        method: &method,
        path_and_query: &path,
        content_type: content_type.as_deref(),
        body,
    };
    let now = host.now_ms() / 1000;
    for (name, value) in request::sigv4_headers(cfg, &outgoing, now).unwrap_or_default() {
        host.set_request_header(&name, &value);
    }
}

#[cfg(test)]
mod tests;
