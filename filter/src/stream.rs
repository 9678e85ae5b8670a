//! One upstream request/response, driven by the proxy-wasm callbacks but
//! written against the small [`Host`] trait so the whole flow — holding the
//! request until its body is known (model override, `include_usage`, a
//! `stream` that picks the endpoint, a Bedrock guardrail, SigV4 over the final
//! body), copying bodies within limits, rewriting the stream, counting exactly
//! once — is tested on the host with a fake.

use crate::access_log;
use crate::body_edits::{self, Edit};
use crate::capped::CappedCopy;
use crate::config::{FilterConfig, PATH_REWRITTEN_HEADER};
use crate::json_model;
use crate::metrics::{self, Kind, Labels, Timings};
use crate::providers;
use crate::request::{self, HeaderOp};
use crate::response::{is_event_stream, ResponseReader};
use crate::usage::UsageFormat;

/// Largest request body copied to read its `model` for the metrics label.
/// Beyond it the label falls back to `unknown`.
pub const MAX_REQUEST_COPY: usize = 1024 * 1024;

/// Largest request body held back (Envoy buffers it) for optional edits:
/// adding `include_usage`, or looking for `"stream": true` to pick the
/// streaming endpoint.
/// Envoy answers 413 once a held body passes its buffer limit (1 MiB by
/// default); a bigger body is let through unchanged before that happens.
/// The model override, a Bedrock guardrail and SigV4 have no such escape: they
/// must see the whole body.
pub const MAX_HELD_FOR_INJECTION: usize = 768 * 1024;

/// What the callback tells Envoy. `Pause` from a body callback makes Envoy
/// buffer and hand over the whole body so far next time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Pause,
}

/// The host calls one stream needs. Header names are lower case.
pub trait Host {
    fn request_header(&self, name: &str) -> Option<String>;
    fn set_request_header(&mut self, name: &str, value: &str);
    fn remove_request_header(&mut self, name: &str);
    /// The first `size` bytes of the request body Envoy currently holds.
    fn request_body(&self, size: usize) -> Option<Vec<u8>>;
    fn replace_request_body(&mut self, size: usize, body: &[u8]);
    fn response_header(&self, name: &str) -> Option<String>;
    fn remove_response_header(&mut self, name: &str);
    fn response_body(&self, size: usize) -> Option<Vec<u8>>;
    /// Replaces the `size` bytes of the current response chunk.
    fn replace_response_body(&mut self, size: usize, body: &[u8]);
    /// An Envoy attribute, e.g. `["xds", "route_name"]`.
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// Publishes a value as filter state `wasm.<name>` for the access log.
    fn set_filter_state(&mut self, name: &str, value: &[u8]);
    /// Wall-clock milliseconds.
    fn now_ms(&self) -> u64;
    /// The capped label for a model (see [`metrics::ModelCap`]); the cap is
    /// shared by every stream of the VM, so it lives with the host.
    fn model_label(&mut self, backend: &str, raw_model: Option<&str>) -> String;
    /// Adds to a counter, defining it on first use.
    fn add_counter(&mut self, name: &str, amount: u64);
    /// Records a histogram sample, defining it on first use.
    fn record_histogram(&mut self, name: &str, value: u64);
}

/// A plugin's configuration plus what is derived from it once.
#[derive(Debug)]
pub struct Plugin {
    pub cfg: FilterConfig,
    backend_label: String,
    /// `provider_name`, or the provider type for a single-provider Backend.
    provider_name_label: String,
    format: UsageFormat,
    /// `include_usage` may be added to streaming requests.
    inject_usage: bool,
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
        Plugin {
            cfg,
            backend_label,
            provider_name_label,
            format,
            inject_usage,
        }
    }
}

#[derive(Debug)]
enum RequestPhase {
    /// Streaming the body through, keeping a bounded copy for its `model`.
    Copying(CappedCopy),
    /// Headers and body held back until the whole body can be rewritten.
    Holding(Held),
    Done,
}

/// What is to be done once the whole request body is in.
#[derive(Debug)]
struct Held {
    model: Option<String>,
    inject_usage: bool,
    /// Drop the body's `stream`: the endpoint says whether to stream.
    remove_stream: bool,
    /// The body's `"stream": true` selects the streaming endpoint.
    stream_from_body: bool,
    guardrail: bool,
    /// Sign with SigV4 over the final path and body.
    sign: bool,
    buffered: usize,
    had_content_length: bool,
}

impl Held {
    /// Edits the request cannot go without: letting it through unheld would
    /// send the wrong model, skip the guardrail or leave it unsigned. The
    /// rest are improvements a too-big body may go without.
    fn required(&self) -> bool {
        self.model.is_some() || self.guardrail || self.sign
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
    route: Option<String>,
    started_ms: Option<u64>,
    first_byte_ms: Option<u64>,
    status: Option<u32>,
    response: Option<ResponseReader>,
    counted: bool,
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
            route: None,
            started_ms: None,
            first_byte_ms: None,
            status: None,
            response: None,
            counted: false,
        }
    }

    pub fn on_request_headers(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        end_of_stream: bool,
    ) -> Flow {
        let cfg = &plugin.cfg;
        let provider = providers::of(&cfg.provider);
        self.started_ms = Some(host.now_ms());
        self.route = Some(metrics::route_label(
            host.property(&["xds", "route_name"])
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok()),
        ));
        let authorization = host.request_header("authorization");
        let anthropic_version = host.request_header(providers::anthropic::VERSION_HEADER);
        let route_rewrote_path = host.request_header(PATH_REWRITTEN_HEADER).is_some();
        let selects_stream = request::selects_stream_endpoint(cfg, route_rewrote_path);
        // Only when the gateway chose the path (not `path.full`, not the route).
        self.path_names_model = selects_stream;
        let client_streams = selects_stream
            && host
                .request_header(":path")
                .is_some_and(|p| provider.client_path_streams(&p));
        let client = request::Client {
            authorization: authorization.as_deref(),
            anthropic_version: anthropic_version.as_deref(),
        };
        let edits = request::plan(cfg, &client, route_rewrote_path, client_streams);
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
                sign_request(plugin, host, &[]);
            }
            return Flow::Continue;
        }
        let held = Held {
            model: provider.model_override().map(str::to_owned),
            inject_usage: plugin.inject_usage,
            remove_stream: selects_stream,
            // A client on the native streaming path speaks the native API,
            // which has no `stream` field: no need to wait for the body.
            stream_from_body: selects_stream && !client_streams,
            guardrail: provider.required_edit().is_some(),
            sign,
            buffered: 0,
            had_content_length: host.request_header("content-length").is_some(),
        };
        let hold = held.required() || held.inject_usage || held.stream_from_body;
        if !hold {
            self.phase = RequestPhase::Copying(CappedCopy::new(MAX_REQUEST_COPY));
            return Flow::Continue;
        }
        // Headers stay paused so `content-length`, `:path` and the signature
        // can still follow the body; everything else is already in place.
        self.phase = RequestPhase::Holding(held);
        Flow::Pause
    }

    pub fn on_request_body(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        match &mut self.phase {
            RequestPhase::Copying(copy) => {
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
                if end_of_stream {
                    self.end_request_holding(plugin, host);
                    Flow::Continue
                } else if !held.required() && body_size > MAX_HELD_FOR_INJECTION {
                    // Too big to hold for what is optional: let everything go
                    // unchanged (on the path already set), still reading the
                    // model from what we have.
                    let mut copy = CappedCopy::new(MAX_REQUEST_COPY);
                    if let Some(held) = host.request_body(body_size) {
                        copy.push(&held);
                    }
                    self.phase = RequestPhase::Copying(copy);
                    Flow::Continue
                } else {
                    Flow::Pause
                }
            }
            RequestPhase::Done => Flow::Continue,
        }
    }

    /// With trailers the last body callback never says end-of-stream.
    pub fn on_request_trailers(&mut self, plugin: &Plugin, host: &mut impl Host) -> Flow {
        match self.phase {
            RequestPhase::Copying(_) => self.end_request(),
            RequestPhase::Holding(_) => self.end_request_holding(plugin, host),
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

    fn end_request_holding(&mut self, plugin: &Plugin, host: &mut impl Host) {
        let RequestPhase::Holding(held) = std::mem::replace(&mut self.phase, RequestPhase::Done)
        else {
            return;
        };
        let body = if held.buffered == 0 {
            Vec::new()
        } else {
            match host.request_body(held.buffered) {
                Some(body) => body,
                None => return,
            }
        };
        let is_object = json_model::members(&body).is_some();
        self.request_model = match &held.model {
            Some(model) if is_object => Some(model.clone()),
            _ => json_model::read_model(&body),
        };
        let streams = held.stream_from_body && body_edits::asks_for_stream(&body);

        let mut edits = Vec::new();
        if let Some(model) = &held.model {
            edits.push(Edit::SetModel(model));
        }
        if held.remove_stream {
            edits.push(Edit::RemoveStream);
        }
        let provider = providers::of(&plugin.cfg.provider);
        if let Some(edit) = provider.required_edit() {
            edits.push(edit);
        }
        if held.inject_usage {
            edits.push(Edit::IncludeUsage);
        }
        let edited = body_edits::apply(&body, &edits);
        if let Some(edited) = &edited {
            self.injected = edited.usage_injected;
            host.replace_request_body(held.buffered, &edited.body);
            // Without a content-length the body is chunked and needs no
            // fix-up; adding one would clash with `transfer-encoding`.
            if held.had_content_length {
                host.set_request_header("content-length", &edited.body.len().to_string());
            }
        }
        if streams {
            // Only chosen when neither `path.full` nor the route set the path.
            let path = provider.path(true);
            host.set_request_header(":path", &path);
        }
        if held.sign {
            let final_body = edited
                .as_ref()
                .map_or(body.as_slice(), |e| e.body.as_slice());
            sign_request(plugin, host, final_body);
        }
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
        let rewrite = self.injected && is_event_stream(&content_type);
        if rewrite {
            // Removing events changes the length.
            host.remove_response_header("content-length");
        }
        let framing = crate::response::Framing::of(&content_type);
        self.response = Some(ResponseReader::with_framing(
            plugin.format,
            framing,
            rewrite,
        ));
        if end_of_stream {
            self.finish(plugin, host);
        }
        Flow::Continue
    }

    /// Always `Continue`: the client gets every byte as it arrives (when
    /// rewriting, every complete event of it).
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
        if let Some(reader) = &mut self.response {
            if reader.rewrites() {
                let chunk = if body_size > 0 {
                    host.response_body(body_size).unwrap_or_default()
                } else {
                    Vec::new()
                };
                let mut out = reader.feed(&chunk).unwrap_or_default();
                if end_of_stream {
                    out.extend(reader.end().unwrap_or_default());
                }
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
        let provider = providers::of(&plugin.cfg.provider);
        let path_model = self
            .path_names_model
            .then(|| provider.path_model())
            .flatten();
        let configured = provider.model_override().or(path_model);
        let mut model_label = |raw: Option<&str>| match raw {
            // The configured model is known and bounded: it never uses the budget.
            Some(m) if Some(m) == configured => metrics::sanitize_label(m),
            _ => host.model_label(&plugin.backend_label, raw),
        };
        let raw_request_model = self.request_model.as_deref().or(path_model);
        let raw_response_model = outcome.model.as_deref().or(path_model);
        let request_model = model_label(raw_request_model);
        let response_model = model_label(raw_response_model);
        let route = self
            .route
            .clone()
            .unwrap_or_else(|| metrics::UNKNOWN_ROUTE.to_owned());
        let labels = Labels {
            route: &route,
            backend: &plugin.backend_label,
            provider: plugin.cfg.provider.name(),
            provider_name: &plugin.provider_name_label,
            request_model: &request_model,
            response_model: &response_model,
        };
        let now = host.now_ms();
        let since_start = |t: u64| self.started_ms.map(|s| t.saturating_sub(s));
        let timings = Timings {
            duration_ms: since_start(now),
            first_byte_ms: self.first_byte_ms.and_then(since_start),
        };
        for stat in metrics::stats(&labels, self.status, &outcome, timings) {
            match stat.kind {
                Kind::Counter => host.add_counter(&stat.name, stat.value),
                Kind::Histogram => host.record_histogram(&stat.name, stat.value),
            }
        }
        let record = access_log::Record {
            route: &route,
            backend: &plugin.backend_label,
            provider: plugin.cfg.provider.name(),
            provider_name: &plugin.provider_name_label,
            request_model: raw_request_model,
            response_model: raw_response_model,
            outcome: &outcome,
            ttft_ms: if outcome.streamed {
                timings.first_byte_ms
            } else {
                None
            },
            include_usage_injected: self.injected,
        };
        for (name, value) in access_log::fields(&record) {
            host.set_filter_state(&name, value.as_bytes());
        }
    }
}

/// Sets the SigV4 headers for the request as it now stands upstream.
fn sign_request(plugin: &Plugin, host: &mut impl Host, body: &[u8]) {
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
    for (name, value) in request::sigv4_headers(&plugin.cfg, &outgoing, now).unwrap_or_default() {
        host.set_request_header(&name, &value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, BedrockGuardrail, ProviderConfig, TokenSource};
    use crate::metrics::ModelCap;
    use std::cell::Cell;
    use std::collections::BTreeMap;

    /// Mimics Envoy: `request_body` is what Envoy holds — the current chunk
    /// when streaming, everything so far while the filter pauses.
    #[derive(Default)]
    struct Fake {
        request_headers: BTreeMap<String, String>,
        request_body: Vec<u8>,
        response_headers: BTreeMap<String, String>,
        response_chunk: Vec<u8>,
        response_fetches: Cell<usize>,
        /// What the client received, chunk after chunk.
        client_got: Vec<u8>,
        route_name: Option<String>,
        clock_ms: Cell<u64>,
        filter_state: BTreeMap<String, String>,
        cap: ModelCap,
        counters: BTreeMap<String, u64>,
        histograms: BTreeMap<String, Vec<u64>>,
    }

    impl Host for Fake {
        fn request_header(&self, name: &str) -> Option<String> {
            self.request_headers.get(name).cloned()
        }
        fn set_request_header(&mut self, name: &str, value: &str) {
            self.request_headers.insert(name.into(), value.into());
        }
        fn remove_request_header(&mut self, name: &str) {
            self.request_headers.remove(name);
        }
        fn request_body(&self, size: usize) -> Option<Vec<u8>> {
            Some(self.request_body[..size].to_vec())
        }
        fn replace_request_body(&mut self, size: usize, body: &[u8]) {
            self.request_body.splice(..size, body.iter().copied());
        }
        fn response_header(&self, name: &str) -> Option<String> {
            self.response_headers.get(name).cloned()
        }
        fn remove_response_header(&mut self, name: &str) {
            self.response_headers.remove(name);
        }
        fn response_body(&self, size: usize) -> Option<Vec<u8>> {
            self.response_fetches.set(self.response_fetches.get() + 1);
            Some(self.response_chunk[..size].to_vec())
        }
        fn replace_response_body(&mut self, size: usize, body: &[u8]) {
            self.response_chunk.splice(..size, body.iter().copied());
        }
        fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
            match path {
                ["xds", "route_name"] => self.route_name.clone().map(String::into_bytes),
                _ => None,
            }
        }
        fn set_filter_state(&mut self, name: &str, value: &[u8]) {
            self.filter_state
                .insert(name.into(), String::from_utf8(value.to_vec()).unwrap());
        }
        fn now_ms(&self) -> u64 {
            // Every look at the clock advances it by 10 ms.
            self.clock_ms.set(self.clock_ms.get() + 10);
            self.clock_ms.get()
        }
        fn model_label(&mut self, backend: &str, raw_model: Option<&str>) -> String {
            self.cap.label(backend, raw_model)
        }
        fn add_counter(&mut self, name: &str, amount: u64) {
            *self.counters.entry(name.into()).or_default() += amount;
        }
        fn record_histogram(&mut self, name: &str, value: u64) {
            self.histograms.entry(name.into()).or_default().push(value);
        }
    }

    fn plugin(provider: ProviderConfig, token: TokenSource) -> Plugin {
        Plugin::new(FilterConfig {
            backend: "ns/ai".into(),
            provider,
            host: "up.example.com".into(),
            auth: AuthConfig {
                header_name: None,
                prefix: None,
                token,
            },
            path_full: None,
            provider_name: None,
        })
    }

    /// An api-version without `stream_options`: the request streams through.
    fn azure() -> Plugin {
        azure_at("2024-02-15-preview")
    }

    fn azure_at(api_version: &str) -> Plugin {
        plugin(
            ProviderConfig::Azureopenai {
                deployment_name: "dep".into(),
                api_version: api_version.into(),
            },
            TokenSource::Value {
                value: "az-key".into(),
            },
        )
    }

    fn openai_forcing(model: &str) -> Plugin {
        plugin(
            ProviderConfig::Openai {
                model: Some(model.into()),
            },
            TokenSource::Value {
                value: "sk-1".into(),
            },
        )
    }

    fn fake(headers: &[(&str, &str)]) -> Fake {
        let mut f = Fake {
            route_name: Some("httproute/ns/r/rule/0/match/2".into()),
            ..Fake::default()
        };
        for (k, v) in headers {
            f.request_headers.insert((*k).into(), (*v).into());
        }
        f
    }

    /// Feeds the request body like Envoy does and returns each callback's flow.
    fn send_body(
        s: &mut Stream,
        p: &Plugin,
        f: &mut Fake,
        chunks: &[&[u8]],
        paused: bool,
    ) -> Vec<Flow> {
        let mut flows = Vec::new();
        let mut buffering = paused;
        for (i, chunk) in chunks.iter().enumerate() {
            if !buffering {
                f.request_body.clear();
            }
            f.request_body.extend_from_slice(chunk);
            let flow = s.on_request_body(p, f, f.request_body.len(), i + 1 == chunks.len());
            buffering = flow == Flow::Pause;
            flows.push(flow);
        }
        flows
    }

    fn respond(s: &mut Stream, p: &Plugin, f: &mut Fake, status: &str, ct: &str, chunks: &[&[u8]]) {
        f.response_headers.insert(":status".into(), status.into());
        f.response_headers.insert("content-type".into(), ct.into());
        assert_eq!(
            s.on_response_headers(p, f, chunks.is_empty()),
            Flow::Continue
        );
        for (i, chunk) in chunks.iter().enumerate() {
            f.response_chunk = chunk.to_vec();
            assert_eq!(
                s.on_response_body(p, f, chunk.len(), i + 1 == chunks.len()),
                Flow::Continue
            );
            let sent = std::mem::take(&mut f.response_chunk);
            f.client_got.extend(sent);
        }
    }

    fn counters(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    const USAGE_JSON: &[u8] = br#"{"model":"gpt-4o-2024","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;

    #[test]
    fn azure_streams_the_request_and_counts_the_response() {
        let p = azure();
        let mut f = fake(&[
            (":path", "/azure-openai"),
            ("authorization", "Bearer client"),
            ("content-length", "25"),
        ]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Continue);
        assert_eq!(
            f.request_header(":path").as_deref(),
            Some("/openai/deployments/dep/chat/completions?api-version=2024-02-15-preview")
        );
        assert_eq!(
            f.request_header(":authority").as_deref(),
            Some("up.example.com")
        );
        assert_eq!(f.request_header("api-key").as_deref(), Some("az-key"));
        assert_eq!(f.request_header("authorization"), None);

        let flows = send_body(&mut s, &p, &mut f, &[b"{\"model\":", b"\"asked\"}"], false);
        assert_eq!(flows, [Flow::Continue, Flow::Continue]);
        assert_eq!(
            f.request_header("content-length").as_deref(),
            Some("25"),
            "untouched"
        );

        respond(
            &mut s,
            &p,
            &mut f,
            "200",
            "application/json",
            &[&USAGE_JSON[..30], &USAGE_JSON[30..]],
        );
        let m = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model=asked;response_model=gpt-4o-2024";
        let want = counters(&[
            (&format!("llmgate_requests;{m};status_class=2xx"), 1),
            (&format!("llmgate_tokens;{m};token_type=input"), 3),
            (&format!("llmgate_tokens;{m};token_type=output"), 4),
            (&format!("llmgate_tokens;{m};token_type=total"), 7),
            (&format!("llmgate_tokens;{m};token_type=cached_input"), 0),
            (
                &format!("llmgate_tokens;{m};token_type=cache_creation_input"),
                0,
            ),
            (&format!("llmgate_tokens;{m};token_type=reasoning"), 0),
        ]);
        assert_eq!(f.counters, want);
        assert_eq!(f.client_got, USAGE_JSON, "passed through untouched");
        let hists: Vec<(&str, &[u64])> = f
            .histograms
            .iter()
            .map(|(k, v)| (k.split(';').next().unwrap(), v.as_slice()))
            .collect();
        // Clock: +10 ms per look — start 10, first byte 20, end 30 (no TTFT:
        // not a stream).
        assert_eq!(
            hists,
            [
                ("gen_ai_client_operation_duration_ms", &[20][..]),
                ("gen_ai_client_token_usage", &[3][..]),
                ("gen_ai_client_token_usage", &[4][..]),
            ]
        );
        assert_eq!(
            f.filter_state
                .get("llmgate.input_tokens")
                .map(String::as_str),
            Some("3")
        );
        assert_eq!(
            f.filter_state.get("llmgate.streaming").map(String::as_str),
            Some("false")
        );
        assert_eq!(
            f.filter_state.get("llmgate.route").map(String::as_str),
            Some("ns/r/rule/0")
        );

        // on_log / on_done after the end: nothing more.
        s.finish(&p, &mut f);
        s.on_response_trailers(&p, &mut f);
        assert_eq!(f.counters, want);
    }

    #[test]
    fn override_pauses_rewrites_and_fixes_content_length() {
        let p = openai_forcing("gpt-4o-mini");
        let body: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-5"}"#;
        let mut f = fake(&[
            ("content-length", &body.len().to_string()),
            ("authorization", "Bearer c"),
        ]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        assert_eq!(
            f.request_header(":path").as_deref(),
            Some("/v1/chat/completions")
        );
        assert_eq!(
            f.request_header("authorization").as_deref(),
            Some("Bearer sk-1")
        );

        let flows = send_body(
            &mut s,
            &p,
            &mut f,
            &[&body[..10], &body[10..40], &body[40..]],
            true,
        );
        assert_eq!(flows, [Flow::Pause, Flow::Pause, Flow::Continue]);
        let want: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini"}"#;
        assert_eq!(f.request_body, want);
        assert_eq!(
            f.request_header("content-length"),
            Some(want.len().to_string())
        );

        // The response names no model: the label is the forced one.
        respond(
            &mut s,
            &p,
            &mut f,
            "429",
            "application/json",
            &[br#"{"error":{}}"#],
        );
        let want = counters(&[(
            "llmgate_requests;route=ns/r/rule/0;backend=ns/ai;provider=openai;provider_name=openai;request_model=gpt-4o-mini;response_model=unknown;status_class=4xx",
            1,
        )]);
        assert_eq!(f.counters, want);
    }

    #[test]
    fn override_cases() {
        // (body chunks, had content-length, expected body, expected content-length)
        let cases: &[(&[&[u8]], bool, &[u8], Option<&str>)] = &[
            (&[b"{}"], true, br#"{"model":"forced"}"#, Some("18")),
            (&[b"{\"a\":1}"], false, br#"{"model":"forced","a":1}"#, None),
            (&[b"not ", b"json"], true, b"not json", Some("8")),
            (&[b"[1,2]"], true, b"[1,2]", Some("5")),
        ];
        for (chunks, had_cl, want_body, want_cl) in cases {
            let p = openai_forcing("forced");
            let total: usize = chunks.iter().map(|c| c.len()).sum();
            let mut f = if *had_cl {
                fake(&[("content-length", &total.to_string())])
            } else {
                fake(&[])
            };
            let mut s = Stream::new();
            assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
            let flows = send_body(&mut s, &p, &mut f, chunks, true);
            assert_eq!(flows.last(), Some(&Flow::Continue));
            assert_eq!(f.request_body, *want_body, "{chunks:?}");
            assert_eq!(
                f.request_header("content-length").as_deref(),
                *want_cl,
                "{chunks:?}"
            );
        }
    }

    #[test]
    fn override_without_body_does_not_pause() {
        let p = openai_forcing("forced");
        let mut f = fake(&[]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Continue);
        assert_eq!(
            f.request_header(":path").as_deref(),
            Some("/v1/chat/completions")
        );
    }

    #[test]
    fn override_finishes_on_request_trailers() {
        let p = openai_forcing("forced");
        let mut f = fake(&[("content-length", "13")]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        f.request_body = br#"{"model":"x"}"#.to_vec();
        assert_eq!(s.on_request_body(&p, &mut f, 13, false), Flow::Pause);
        assert_eq!(s.on_request_trailers(&p, &mut f), Flow::Continue);
        assert_eq!(f.request_body, br#"{"model":"forced"}"#);
        assert_eq!(f.request_header("content-length").as_deref(), Some("18"));
    }

    #[test]
    fn labels_and_outcomes() {
        let base = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai";
        let sse_usage: &[u8] = b"data: {\"model\":\"\",\"choices\":[]}\n\ndata: {\"model\":\"m-stream\",\"usage\":null}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,\
            \"prompt_tokens_details\":{\"cached_tokens\":1},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\ndata: [DONE]\n\n";
        let big_request = format!(
            "{{\"model\":\"asked\",\"pad\":\"{}\"}}",
            "x".repeat(MAX_REQUEST_COPY)
        );
        // (request body, status, content-type, response chunks, expected counters)
        let cases: Vec<(&[u8], &str, &str, Vec<&[u8]>, Vec<(String, u64)>)> = vec![
            (
                b"{\"model\":\"asked\"}",
                "200",
                "text/event-stream; charset=utf-8",
                sse_usage.chunks(5).collect(),
                vec![
                    (
                        format!("llmgate_requests;{base};request_model=asked;response_model=m-stream;status_class=2xx"),
                        1,
                    ),
                    (
                        format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=input"),
                        1,
                    ),
                    (
                        format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=output"),
                        2,
                    ),
                    (
                        format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=total"),
                        3,
                    ),
                    (
                        format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=cached_input"),
                        1,
                    ),
                    (
                        format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=cache_creation_input"),
                        0,
                    ),
                    (
                        format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=reasoning"),
                        2,
                    ),
                ],
            ),
            (
                b"{\"model\":\"asked\"}",
                "200",
                "text/event-stream",
                vec![b"data: {\"choices\":[]}\n\n", b"data: [DONE]\n\n"],
                vec![(
                    format!("llmgate_requests;{base};request_model=asked;response_model=unknown;status_class=2xx"),
                    1,
                )],
            ),
            (
                b"{\"model\":\"asked\"}",
                "200",
                "application/json",
                vec![b"<html>"],
                vec![
                    (
                        format!("llmgate_requests;{base};request_model=asked;response_model=unknown;status_class=2xx"),
                        1,
                    ),
                    (format!("llmgate_usage_unparsed;{base}"), 1),
                ],
            ),
            (
                b"{\"model\":\"evil;model=x\"}",
                "503",
                "text/html",
                vec![b"<html>"],
                vec![(
                    format!("llmgate_requests;{base};request_model=evil_model_x;response_model=unknown;status_class=5xx"),
                    1,
                )],
            ),
            (
                big_request.as_bytes(),
                "500",
                "application/json",
                vec![b"{}"],
                vec![(
                    format!("llmgate_requests;{base};request_model=unknown;response_model=unknown;status_class=5xx"),
                    1,
                )],
            ),
        ];
        for (request, status, ct, chunks, want) in cases {
            let p = azure();
            let mut f = fake(&[]);
            let mut s = Stream::new();
            s.on_request_headers(&p, &mut f, false);
            send_body(
                &mut s,
                &p,
                &mut f,
                &[&request[..request.len() / 2], &request[request.len() / 2..]],
                false,
            );
            respond(&mut s, &p, &mut f, status, ct, &chunks);
            s.finish(&p, &mut f);
            assert_eq!(
                f.counters,
                want.into_iter().collect::<BTreeMap<_, _>>(),
                "{status} {ct}"
            );
        }
    }

    #[test]
    fn oversized_json_response_is_not_fetched_past_the_limit() {
        let p = azure();
        let mut f = fake(&[]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        f.response_headers.insert(":status".into(), "200".into());
        s.on_response_headers(&p, &mut f, false);
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..6 {
            f.response_chunk = chunk.clone();
            s.on_response_body(&p, &mut f, chunk.len(), false);
        }
        f.response_chunk = USAGE_JSON.to_vec();
        s.on_response_body(&p, &mut f, USAGE_JSON.len(), true);
        assert_eq!(
            f.response_fetches.get(),
            4,
            "4 MiB fit, the rest is never copied out"
        );
        let base = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai";
        let want = counters(&[
            (
                &format!("llmgate_requests;{base};request_model=unknown;response_model=unknown;status_class=2xx"),
                1,
            ),
            (&format!("llmgate_usage_unparsed;{base}"), 1),
        ]);
        assert_eq!(f.counters, want);
    }

    #[test]
    fn a_stream_without_response_counts_once_at_log() {
        let p = azure();
        let mut f = fake(&[]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, false);
        send_body(&mut s, &p, &mut f, &[b"{\"model\":\"asked\"}"], false);
        s.finish(&p, &mut f);
        s.finish(&p, &mut f);
        let want = counters(&[(
            "llmgate_requests;route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model=asked;response_model=unknown;status_class=none",
            1,
        )]);
        assert_eq!(f.counters, want);
    }

    #[test]
    fn response_ending_at_headers_or_trailers_counts_once() {
        for use_trailers in [false, true] {
            let p = azure();
            let mut f = fake(&[]);
            let mut s = Stream::new();
            s.on_request_headers(&p, &mut f, true);
            f.response_headers.insert(":status".into(), "200".into());
            if use_trailers {
                s.on_response_headers(&p, &mut f, false);
                f.response_chunk = USAGE_JSON.to_vec();
                s.on_response_body(&p, &mut f, USAGE_JSON.len(), false);
                s.on_response_trailers(&p, &mut f);
            } else {
                s.on_response_headers(&p, &mut f, true);
            }
            s.finish(&p, &mut f);
            let requests: u64 = f
                .counters
                .iter()
                .filter(|(k, _)| k.starts_with("llmgate_requests;"))
                .map(|(_, v)| v)
                .sum();
            assert_eq!(requests, 1, "trailers: {use_trailers}");
            let input = f.counters.get("llmgate_tokens;route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model=unknown;response_model=gpt-4o-2024;token_type=input");
            assert_eq!(input, use_trailers.then_some(&3));
        }
    }

    const STREAM_WITH_USAGE: &[u8] = b"data: {\"choices\":[],\"id\":\"\",\"model\":\"\",\"usage\":null}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"model\":\"gpt-4o-mini\",\"usage\":null}\n\n\
data: {\"choices\":[],\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":28,\"completion_tokens\":19,\"total_tokens\":47}}\n\n\
data: {\"choices\":[{\"content_filter_results\":{}}],\"id\":\"\",\"usage\":null}\n\n\
data: [DONE]\n\n";

    const STREAM_WITHOUT_USAGE: &[u8] = b"data: {\"choices\":[],\"id\":\"\",\"model\":\"\"}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"model\":\"gpt-4o-mini\"}\n\n\
data: {\"choices\":[{\"content_filter_results\":{}}],\"id\":\"\"}\n\n\
data: [DONE]\n\n";

    #[test]
    fn include_usage_is_added_and_its_traces_removed() {
        let body: &[u8] = br#"{"messages":[],"stream":true}"#;
        // (api-version, request, held?, body the provider gets, stream the provider sends, what the client gets)
        let cases: &[(&str, &[u8], bool, &[u8], &[u8], &[u8])] = &[
            (
                "2024-10-21",
                body,
                true,
                br#"{"stream_options":{"include_usage":true},"messages":[],"stream":true}"#,
                STREAM_WITH_USAGE,
                STREAM_WITHOUT_USAGE,
            ),
            (
                "v1",
                br#"{"model":"dep","stream":true,"stream_options":{"include_usage":true}}"#,
                true,
                br#"{"model":"dep","stream":true,"stream_options":{"include_usage":true}}"#,
                STREAM_WITH_USAGE,
                STREAM_WITH_USAGE,
            ),
            (
                "2024-02-15-preview",
                body,
                false,
                body,
                STREAM_WITHOUT_USAGE,
                STREAM_WITHOUT_USAGE,
            ),
        ];
        for (version, request, held, upstream, sent, want) in cases {
            let p = azure_at(version);
            let len = request.len().to_string();
            let mut f = fake(&[("content-length", &len)]);
            let mut s = Stream::new();
            let flow = s.on_request_headers(&p, &mut f, false);
            assert_eq!(flow == Flow::Pause, *held, "{version}");
            let half = request.len() / 2;
            let flows = send_body(
                &mut s,
                &p,
                &mut f,
                &[&request[..half], &request[half..]],
                *held,
            );
            assert_eq!(flows.last(), Some(&Flow::Continue));
            if *held {
                assert_eq!(f.request_body, *upstream, "{version}");
            } else {
                assert_eq!(
                    f.request_body,
                    &request[half..],
                    "{version}: streamed as is"
                );
            }
            assert_eq!(
                f.request_header("content-length"),
                Some(upstream.len().to_string()),
                "{version}"
            );
            f.response_headers
                .insert("content-length".into(), sent.len().to_string());
            let chunks: Vec<&[u8]> = sent.chunks(13).collect();
            respond(&mut s, &p, &mut f, "200", "text/event-stream", &chunks);
            assert_eq!(
                String::from_utf8_lossy(&f.client_got),
                String::from_utf8_lossy(want),
                "{version}"
            );
            let injected = upstream != request;
            assert_eq!(
                f.response_headers.contains_key("content-length"),
                !injected,
                "{version}: the length changes only when events are removed"
            );
            let request_model =
                json_model::read_model(upstream).unwrap_or_else(|| "unknown".into());
            let m = format!("route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model={request_model};response_model=gpt-4o-mini");
            let input = f
                .counters
                .get(&format!("llmgate_tokens;{m};token_type=input"))
                .copied();
            let counted = sent == &STREAM_WITH_USAGE;
            assert_eq!(input, counted.then_some(28), "{version}");
            assert_eq!(
                f.filter_state
                    .get("llmgate.include_usage_injected")
                    .map(String::as_str),
                Some(if injected { "true" } else { "false" })
            );
            assert_eq!(
                f.filter_state.get("llmgate.streaming").map(String::as_str),
                Some("true")
            );
            assert!(
                f.histograms
                    .keys()
                    .any(|k| k.starts_with("gen_ai_server_time_to_first_token_ms;")),
                "{version}"
            );
        }
    }

    #[test]
    fn too_big_to_hold_passes_unchanged() {
        let p = azure_at("2024-10-21");
        let pad = "x".repeat(MAX_HELD_FOR_INJECTION + 128 * 1024);
        let request = format!(r#"{{"model":"big","stream":true,"pad":"{pad}"}}"#);
        let bytes = request.as_bytes();
        let mut f = fake(&[]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let chunks: Vec<&[u8]> = bytes.chunks(64 * 1024).collect();
        let flows = send_body(&mut s, &p, &mut f, &chunks, true);
        // Held until over the limit, then everything goes as it is.
        let held = MAX_HELD_FOR_INJECTION / (64 * 1024);
        assert!(flows[..held].iter().all(|f| *f == Flow::Pause), "{flows:?}");
        assert!(
            flows[held..].iter().all(|f| *f == Flow::Continue),
            "{flows:?}"
        );
        assert!(!String::from_utf8_lossy(&f.request_body).contains("stream_options"));
        respond(
            &mut s,
            &p,
            &mut f,
            "200",
            "text/event-stream",
            &[STREAM_WITHOUT_USAGE],
        );
        assert_eq!(f.client_got, STREAM_WITHOUT_USAGE);
        assert_eq!(
            f.filter_state
                .get("llmgate.request_model")
                .map(String::as_str),
            Some("big")
        );
    }

    #[test]
    fn override_and_injection_together() {
        let p = openai_forcing("gpt-4o-mini");
        let body: &[u8] = br#"{"model":"x","stream":true}"#;
        let mut f = fake(&[("content-length", "27")]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        send_body(&mut s, &p, &mut f, &[body], true);
        let want: &[u8] =
            br#"{"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true}"#;
        assert_eq!(f.request_body, want);
        assert_eq!(
            f.request_header("content-length"),
            Some(want.len().to_string())
        );
        // An error answer is JSON: nothing to rewrite.
        respond(
            &mut s,
            &p,
            &mut f,
            "400",
            "application/json",
            &[br#"{"error":{}}"#],
        );
        assert_eq!(f.client_got, br#"{"error":{}}"#);
    }

    fn gemini() -> Plugin {
        plugin(
            ProviderConfig::Gemini {
                model: "gemini-2.5-flash".into(),
                api_version: "v1beta".into(),
            },
            TokenSource::Value {
                value: "goog".into(),
            },
        )
    }

    fn vertex() -> Plugin {
        plugin(
            ProviderConfig::Vertexai {
                model: "gemini-2.5-pro".into(),
                api_version: "v1".into(),
                project_id: "proj".into(),
                location: "us-central1".into(),
                model_path: None,
            },
            TokenSource::Value {
                value: "ya29.token".into(),
            },
        )
    }

    const GEMINI: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
    const GEMINI_SSE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    const VERTEX_SSE: &str = "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse";

    #[test]
    fn the_body_or_the_client_path_selects_the_streaming_endpoint() {
        let mut gemini_full = gemini();
        gemini_full.cfg.path_full = Some("/v1beta/openai/chat/completions".into());
        // (plugin, client path, body, held?, path sent, body sent)
        let cases: Vec<(Plugin, &str, &str, bool, &str, &str)> = vec![
            (
                gemini(),
                "/gemini",
                r#"{"contents":[],"stream":true}"#,
                true,
                GEMINI_SSE,
                r#"{"contents":[]}"#,
            ),
            (
                vertex(),
                "/vertex",
                "{\n \"stream\": true,\n \"contents\": []\n}",
                true,
                VERTEX_SSE,
                "{\n \"contents\": []\n}",
            ),
            (
                gemini(),
                "/gemini",
                r#"{"contents":[]}"#,
                true,
                GEMINI,
                r#"{"contents":[]}"#,
            ),
            (
                gemini(),
                "/gemini",
                r#"{"contents":[],"stream":false}"#,
                true,
                GEMINI,
                r#"{"contents":[]}"#,
            ),
            (
                gemini(),
                "/gemini",
                r#"not json "stream":true"#,
                true,
                GEMINI,
                r#"not json "stream":true"#,
            ),
            (
                gemini(),
                "/v1beta/models/anything:streamGenerateContent?alt=sse",
                r#"{"contents":[]}"#,
                false,
                GEMINI_SSE,
                r#"{"contents":[]}"#,
            ),
            (
                gemini(),
                "/gemini?alt=sse",
                r#"{"contents":[]}"#,
                false,
                GEMINI_SSE,
                r#"{"contents":[]}"#,
            ),
            (
                gemini_full,
                "/gemini",
                r#"{"messages":[],"stream":true}"#,
                false,
                "/v1beta/openai/chat/completions",
                r#"{"messages":[],"stream":true}"#,
            ),
        ];
        for (p, client_path, body, held, want_path, want_body) in cases {
            let len = body.len().to_string();
            let mut f = fake(&[(":path", client_path), ("content-length", &len)]);
            let mut s = Stream::new();
            let flow = s.on_request_headers(&p, &mut f, false);
            assert_eq!(flow == Flow::Pause, held, "{client_path} {body}");
            let bytes = body.as_bytes();
            let half = bytes.len() / 2;
            send_body(&mut s, &p, &mut f, &[&bytes[..half], &bytes[half..]], held);
            assert_eq!(
                f.request_header(":path").as_deref(),
                Some(want_path),
                "{client_path} {body}"
            );
            if held {
                assert_eq!(
                    String::from_utf8_lossy(&f.request_body),
                    want_body,
                    "{client_path} {body}"
                );
            }
            assert_eq!(
                f.request_header("content-length"),
                Some(want_body.len().to_string()),
                "{client_path} {body}"
            );
        }
    }

    #[test]
    fn the_streaming_path_is_set_only_once_the_body_says_so() {
        let p = gemini();
        let mut f = fake(&[(":path", "/gemini"), ("authorization", "Bearer c")]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI));
        assert_eq!(f.request_header("x-goog-api-key").as_deref(), Some("goog"));
        assert_eq!(f.request_header("authorization"), None);
        f.request_body = br#"{"stream":true,"contents":[]}"#.to_vec();
        assert_eq!(s.on_request_body(&p, &mut f, 29, false), Flow::Pause);
        assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI));
        assert_eq!(s.on_request_trailers(&p, &mut f), Flow::Continue);
        assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI_SSE));
        assert_eq!(f.request_body, br#"{"contents":[]}"#);
    }

    #[test]
    fn a_big_body_is_not_held_just_to_look_for_stream() {
        let p = gemini();
        let pad = "x".repeat(MAX_HELD_FOR_INJECTION + 64 * 1024);
        let request = format!(r#"{{"contents":"{pad}","stream":true}}"#);
        let mut f = fake(&[(":path", "/gemini")]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let chunks: Vec<&[u8]> = request.as_bytes().chunks(64 * 1024).collect();
        let flows = send_body(&mut s, &p, &mut f, &chunks, true);
        assert_eq!(flows.last(), Some(&Flow::Continue));
        assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI));
    }

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

    fn bedrock(guardrail: Option<(&str, &str)>) -> Plugin {
        let mut p = plugin(
            ProviderConfig::Bedrock {
                model: BEDROCK_MODEL.into(),
                region: "us-west-2".into(),
                guardrail: guardrail.map(|(identifier, version)| BedrockGuardrail {
                    identifier: identifier.into(),
                    version: version.into(),
                }),
            },
            TokenSource::Aws {
                access_key_id: AKID.into(),
                secret_access_key: SECRET.into(),
                session_token: Some("session-tok".into()),
            },
        );
        p.cfg.host = "bedrock-runtime.us-west-2.amazonaws.com".into();
        p
    }

    /// What AWS would compute for the request as it arrives.
    fn expected_signature(f: &Fake, body: &[u8], unix_seconds: u64) -> Vec<(String, String)> {
        let path = f.request_header(":path").unwrap();
        let headers = [
            ("host", "bedrock-runtime.us-west-2.amazonaws.com"),
            ("content-type", "application/json"),
        ];
        crate::sigv4::sign(
            &crate::sigv4::SignableRequest {
                method: "POST",
                path_and_query: &path,
                headers: &headers,
                body,
            },
            &crate::sigv4::Credentials {
                access_key_id: AKID,
                secret_access_key: SECRET,
                session_token: Some("session-tok"),
            },
            "us-west-2",
            "bedrock",
            unix_seconds,
        )
    }

    #[test]
    fn bedrock_is_signed_over_the_final_path_and_body() {
        let p = bedrock(Some(("gr-abc", "3")));
        let request: &[u8] =
            br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"stream":true}"#;
        let len = request.len().to_string();
        let mut f = fake(&[
            (":method", "POST"),
            (":path", "/bedrock"),
            ("content-type", "application/json"),
            ("content-length", &len),
            ("authorization", "Bearer client-key"),
            ("x-amz-security-token", "client-token"),
        ]);
        f.clock_ms.set(1_700_000_000_000);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        assert_eq!(f.request_header("authorization"), None, "held unsigned");
        assert_eq!(f.request_header("x-amz-security-token"), None);
        let flows = send_body(&mut s, &p, &mut f, &[&request[..20], &request[20..]], true);
        assert_eq!(flows, [Flow::Pause, Flow::Continue]);

        let want_body: &[u8] = br#"{"guardrailConfig":{"guardrailIdentifier":"gr-abc","guardrailVersion":"3"},"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        assert_eq!(
            String::from_utf8_lossy(&f.request_body),
            String::from_utf8_lossy(want_body)
        );
        assert_eq!(
            f.request_header(":path").as_deref(),
            Some("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream")
        );
        assert_eq!(
            f.request_header("content-length"),
            Some(want_body.len().to_string())
        );
        let date = f.request_header("x-amz-date").unwrap();
        assert!(date.starts_with("20231114T"), "{date}");
        let seconds = 1_700_000_000 + (f.clock_ms.get() - 1_700_000_000_000) / 1000;
        for (name, value) in expected_signature(&f, want_body, seconds) {
            assert_eq!(f.request_header(&name), Some(value), "{name}");
        }
        let authorization = f.request_header("authorization").unwrap();
        assert!(authorization.contains("/us-west-2/bedrock/aws4_request"));
        assert!(!authorization.contains(SECRET));
        assert_eq!(
            f.request_header("x-amz-security-token").as_deref(),
            Some("session-tok")
        );
    }

    #[test]
    fn bedrock_keeps_the_clients_guardrail_and_signs_bodiless_requests() {
        let p = bedrock(Some(("gr-abc", "3")));
        let request: &[u8] =
            br#"{"guardrailConfig":{"guardrailIdentifier":"mine","guardrailVersion":"1"}}"#;
        let mut f = fake(&[
            (":method", "POST"),
            (":path", "/model/x/converse"),
            ("content-type", "application/json"),
        ]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        send_body(&mut s, &p, &mut f, &[request], true);
        assert_eq!(f.request_body, request);
        assert_eq!(f.request_header("content-length"), None, "stays chunked");
        let seconds = f.clock_ms.get() / 1000;
        for (name, value) in expected_signature(&f, request, seconds) {
            assert_eq!(f.request_header(&name), Some(value), "{name}");
        }

        let mut f = fake(&[
            (":method", "POST"),
            (":path", "/model/x/converse-stream"),
            ("content-type", "application/json"),
        ]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Continue);
        assert_eq!(
            f.request_header(":path").as_deref(),
            Some("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream")
        );
        let seconds = f.clock_ms.get() / 1000;
        for (name, value) in expected_signature(&f, b"", seconds) {
            assert_eq!(f.request_header(&name), Some(value), "{name}");
        }
    }

    #[test]
    fn bedrock_api_key_needs_no_signature() {
        let mut p = bedrock(None);
        p.cfg.auth.token = TokenSource::Value {
            value: "bedrock-api-key".into(),
        };
        let mut f = fake(&[(":path", "/model/x/converse-stream")]);
        let mut s = Stream::new();
        assert_eq!(
            s.on_request_headers(&p, &mut f, false),
            Flow::Continue,
            "the path already streams and nothing else needs the body"
        );
        assert_eq!(
            f.request_header("authorization").as_deref(),
            Some("Bearer bedrock-api-key")
        );
        assert_eq!(f.request_header("x-amz-date"), None);
    }

    #[test]
    fn anthropic_headers_and_model() {
        // (configured version, client version, forced model, version sent, held?)
        let cases = [
            (None, None, None, "2023-06-01", false),
            (None, Some("2024-10-22"), None, "2024-10-22", false),
            (
                Some("2023-06-01"),
                Some("2024-10-22"),
                Some("claude-x"),
                "2023-06-01",
                true,
            ),
        ];
        for (configured, client, model, want_version, held) in cases {
            let p = plugin(
                ProviderConfig::Anthropic {
                    model: model.map(Into::into),
                    api_version: configured.map(Into::into),
                },
                TokenSource::Value {
                    value: "sk-ant".into(),
                },
            );
            let mut headers = vec![(":path", "/anthropic"), ("authorization", "Bearer c")];
            if let Some(v) = client {
                headers.push(("anthropic-version", v));
            }
            let mut f = fake(&headers);
            let mut s = Stream::new();
            let flow = s.on_request_headers(&p, &mut f, false);
            assert_eq!(flow == Flow::Pause, held);
            assert_eq!(f.request_header(":path").as_deref(), Some("/v1/messages"));
            assert_eq!(f.request_header("x-api-key").as_deref(), Some("sk-ant"));
            assert_eq!(f.request_header("authorization"), None);
            assert_eq!(
                f.request_header("anthropic-version").as_deref(),
                Some(want_version)
            );
            let body: &[u8] = br#"{"model":"claude-asked","stream":true}"#;
            send_body(&mut s, &p, &mut f, &[body], held);
            if let Some(model) = model {
                let want = format!(r#"{{"model":"{model}","stream":true}}"#);
                assert_eq!(String::from_utf8_lossy(&f.request_body), want);
            } else {
                assert_eq!(f.request_body, body, "stream stays: same endpoint");
            }
        }
    }

    #[test]
    fn azure_v1_sends_the_deployment_as_the_model() {
        for (version, want_path) in [
            ("v1", "/openai/v1/chat/completions"),
            ("preview", "/openai/v1/chat/completions?api-version=preview"),
        ] {
            let p = azure_at(version);
            let body: &[u8] = br#"{"model":"","messages":[]}"#;
            let mut f = fake(&[("content-length", "26")]);
            let mut s = Stream::new();
            assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
            assert_eq!(f.request_header(":path").as_deref(), Some(want_path));
            send_body(&mut s, &p, &mut f, &[body], true);
            assert_eq!(f.request_body, br#"{"model":"dep","messages":[]}"#);
            assert_eq!(f.request_header("content-length").as_deref(), Some("29"));
        }
    }

    #[test]
    fn provider_name_labels_stats_and_log() {
        let mut p = azure();
        p = Plugin::new(FilterConfig {
            provider_name: Some("primary;x=y".into()),
            ..p.cfg
        });
        let mut f = fake(&[]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
        s.finish(&p, &mut f);
        let key = "llmgate_tokens;route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=primary_x_y;request_model=unknown;response_model=gpt-4o-2024;token_type=input";
        assert_eq!(f.counters.get(key), Some(&3), "{:?}", f.counters.keys());
        assert_eq!(
            f.filter_state
                .get("llmgate.provider_name")
                .map(String::as_str),
            Some("primary_x_y")
        );
    }

    #[test]
    fn the_model_in_the_path_labels_requests_that_do_not_name_one() {
        let bedrock_reply = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}"#;
        let gemini_reply = br#"{"candidates":[],"modelVersion":"gemini-2.5-flash-001","usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}"#;
        // (plugin, path.full, reply, request_model, response_model)
        let cases: [(Plugin, Option<&str>, &[u8], &str, &str); 3] = [
            (
                bedrock(None),
                None,
                bedrock_reply,
                BEDROCK_MODEL,
                BEDROCK_MODEL,
            ),
            (
                gemini(),
                None,
                gemini_reply,
                "gemini-2.5-flash",
                "gemini-2.5-flash-001",
            ),
            // `path.full` may name another model: the path says nothing then.
            (
                gemini(),
                Some("/v1/models/other:generateContent"),
                gemini_reply,
                "unknown",
                "gemini-2.5-flash-001",
            ),
        ];
        for (mut p, path_full, reply, request_model, response_model) in cases {
            if let Some(full) = path_full {
                p = Plugin::new(FilterConfig {
                    path_full: Some(full.into()),
                    ..p.cfg
                });
            }
            let mut f = fake(&[(":path", "/llm")]);
            let mut s = Stream::new();
            s.on_request_headers(&p, &mut f, true);
            respond(&mut s, &p, &mut f, "200", "application/json", &[reply]);
            s.finish(&p, &mut f);
            let want = format!(
                ";request_model={request_model};response_model={response_model};token_type=total"
            );
            assert!(
                f.counters.keys().any(|k| k.ends_with(&want)),
                "{want} in {:?}",
                f.counters.keys()
            );
            assert_eq!(
                f.filter_state
                    .get("llmgate.request_model")
                    .map(String::as_str),
                Some(request_model).filter(|m| *m != "unknown")
            );
        }
    }
}
