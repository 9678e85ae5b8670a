//! One upstream request/response, driven by the proxy-wasm callbacks but
//! written against the small [`Host`] trait so the whole flow — pausing for the
//! model override, copying bodies within limits, counting exactly once — is
//! tested on the host with a fake.

use crate::capped::CappedCopy;
use crate::config::FilterConfig;
use crate::json_model;
use crate::metrics::{self, Labels};
use crate::providers;
use crate::request::{self, HeaderOp};
use crate::response::{is_event_stream, ResponseReader};

/// Largest request body copied to read its `model` for the metrics label.
/// Beyond it the label falls back to the response's model.
pub const MAX_REQUEST_COPY: usize = 1024 * 1024;

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
    fn response_body(&self, size: usize) -> Option<Vec<u8>>;
    /// The capped label for a model (see [`metrics::ModelCap`]); the cap is
    /// shared by every stream of the VM, so it lives with the host.
    fn model_label(&mut self, backend: &str, raw_model: &str) -> String;
    /// Adds to a counter, defining it on first use.
    fn add_counter(&mut self, name: &str, amount: u64);
}

/// A plugin's configuration plus what is derived from it once.
#[derive(Debug)]
pub struct Plugin {
    pub cfg: FilterConfig,
    backend_label: String,
}

impl Plugin {
    pub fn new(cfg: FilterConfig) -> Self {
        let backend_label = metrics::sanitize_label(&cfg.backend);
        Plugin { cfg, backend_label }
    }
}

#[derive(Debug)]
enum RequestPhase {
    /// Streaming the body through, keeping a bounded copy for its `model`.
    Copying(CappedCopy),
    /// Headers and body held back until the whole body can be rewritten.
    Overriding {
        model: String,
        buffered: usize,
        had_content_length: bool,
    },
    Done,
}

#[derive(Debug)]
pub struct Stream {
    phase: RequestPhase,
    request_model: Option<String>,
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
        let client_auth = host.request_header("authorization");
        let edits = request::plan(&plugin.cfg, client_auth.as_deref());
        host.set_request_header(":path", &edits.path);
        for op in &edits.headers {
            match op {
                HeaderOp::Set(name, value) => host.set_request_header(name, value),
                HeaderOp::Remove(name) => host.remove_request_header(name),
            }
        }
        if end_of_stream {
            return Flow::Continue;
        }
        match providers::model_override(&plugin.cfg.provider) {
            Some(model) => {
                // Headers stay paused so `content-length` can still follow the
                // rewritten body; everything else is already in place.
                let had_content_length = host.request_header("content-length").is_some();
                self.phase = RequestPhase::Overriding {
                    model: model.to_owned(),
                    buffered: 0,
                    had_content_length,
                };
                Flow::Pause
            }
            None => {
                self.phase = RequestPhase::Copying(CappedCopy::new(MAX_REQUEST_COPY));
                Flow::Continue
            }
        }
    }

    pub fn on_request_body(
        &mut self,
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
            RequestPhase::Overriding { buffered, .. } => {
                *buffered = body_size;
                if end_of_stream {
                    self.end_request_override(host);
                    Flow::Continue
                } else {
                    Flow::Pause
                }
            }
            RequestPhase::Done => Flow::Continue,
        }
    }

    /// With trailers the last body callback never says end-of-stream.
    pub fn on_request_trailers(&mut self, host: &mut impl Host) -> Flow {
        match self.phase {
            RequestPhase::Copying(_) => self.end_request(),
            RequestPhase::Overriding { .. } => self.end_request_override(host),
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

    fn end_request_override(&mut self, host: &mut impl Host) {
        let RequestPhase::Overriding {
            model,
            buffered,
            had_content_length,
        } = std::mem::replace(&mut self.phase, RequestPhase::Done)
        else {
            return;
        };
        let rewritten = host
            .request_body(buffered)
            .and_then(|body| json_model::set_model(&body, &model));
        // Not a JSON object: the provider gets the body exactly as sent.
        let Some(new_body) = rewritten else { return };
        host.replace_request_body(buffered, &new_body);
        // Without a content-length the body is chunked and needs no fix-up;
        // adding one would clash with `transfer-encoding`.
        if had_content_length {
            host.set_request_header("content-length", &new_body.len().to_string());
        }
        self.request_model = Some(model);
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
        let event_stream = host
            .response_header("content-type")
            .is_some_and(|ct| is_event_stream(&ct));
        self.response = Some(ResponseReader::new(event_stream));
        if end_of_stream {
            self.finish(plugin, host);
        }
        Flow::Continue
    }

    /// Always `Continue`: the client gets every byte as it arrives.
    pub fn on_response_body(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        if let Some(reader) = &mut self.response {
            if body_size > 0 && reader.wants(body_size) {
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
        let raw_model =
            metrics::pick_model(outcome.model.as_deref(), self.request_model.as_deref());
        let model = host.model_label(&plugin.backend_label, raw_model);
        let labels = Labels {
            backend: &plugin.backend_label,
            provider: plugin.cfg.provider.name(),
            model: &model,
        };
        for (name, amount) in metrics::increments(&labels, self.status, &outcome) {
            host.add_counter(&name, amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, ProviderConfig, TokenSource};
    use crate::metrics::ModelCap;
    use std::collections::BTreeMap;

    /// Mimics Envoy: `request_body` is what Envoy holds — the current chunk
    /// when streaming, everything so far while the filter pauses.
    #[derive(Default)]
    struct Fake {
        request_headers: BTreeMap<String, String>,
        request_body: Vec<u8>,
        response_headers: BTreeMap<String, String>,
        response_chunk: Vec<u8>,
        response_fetches: std::cell::Cell<usize>,
        cap: ModelCap,
        counters: BTreeMap<String, u64>,
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
        fn response_body(&self, size: usize) -> Option<Vec<u8>> {
            self.response_fetches.set(self.response_fetches.get() + 1);
            Some(self.response_chunk[..size].to_vec())
        }
        fn model_label(&mut self, backend: &str, raw_model: &str) -> String {
            self.cap.label(backend, raw_model)
        }
        fn add_counter(&mut self, name: &str, amount: u64) {
            *self.counters.entry(name.into()).or_default() += amount;
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
        })
    }

    fn azure() -> Plugin {
        plugin(
            ProviderConfig::Azureopenai {
                deployment_name: "dep".into(),
                api_version: "2024-10-21".into(),
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
        let mut f = Fake::default();
        for (k, v) in headers {
            f.request_headers.insert((*k).into(), (*v).into());
        }
        f
    }

    /// Feeds the request body like Envoy does and returns each callback's flow.
    fn send_body(s: &mut Stream, f: &mut Fake, chunks: &[&[u8]], paused: bool) -> Vec<Flow> {
        let mut flows = Vec::new();
        let mut buffering = paused;
        for (i, chunk) in chunks.iter().enumerate() {
            if !buffering {
                f.request_body.clear();
            }
            f.request_body.extend_from_slice(chunk);
            let flow = s.on_request_body(f, f.request_body.len(), i + 1 == chunks.len());
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
            Some("/openai/deployments/dep/chat/completions?api-version=2024-10-21")
        );
        assert_eq!(
            f.request_header(":authority").as_deref(),
            Some("up.example.com")
        );
        assert_eq!(f.request_header("api-key").as_deref(), Some("az-key"));
        assert_eq!(f.request_header("authorization"), None);

        let flows = send_body(&mut s, &mut f, &[b"{\"model\":", b"\"asked\"}"], false);
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
        let m = "backend=ns/ai;provider=azureopenai;model=gpt-4o-2024";
        let want = counters(&[
            (&format!("llmgate_requests;{m};status_class=2xx"), 1),
            (&format!("llmgate_tokens;{m};token_type=input"), 3),
            (&format!("llmgate_tokens;{m};token_type=output"), 4),
            (&format!("llmgate_tokens;{m};token_type=total"), 7),
            (&format!("llmgate_tokens;{m};token_type=cached_input"), 0),
            (&format!("llmgate_tokens;{m};token_type=reasoning"), 0),
        ]);
        assert_eq!(f.counters, want);

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
            "llmgate_requests;backend=ns/ai;provider=openai;model=gpt-4o-mini;status_class=4xx",
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
            let flows = send_body(&mut s, &mut f, chunks, true);
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
        assert_eq!(s.on_request_body(&mut f, 13, false), Flow::Pause);
        assert_eq!(s.on_request_trailers(&mut f), Flow::Continue);
        assert_eq!(f.request_body, br#"{"model":"forced"}"#);
        assert_eq!(f.request_header("content-length").as_deref(), Some("18"));
    }

    #[test]
    fn labels_and_outcomes() {
        let base = "backend=ns/ai;provider=azureopenai";
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
                        format!("llmgate_requests;{base};model=m-stream;status_class=2xx"),
                        1,
                    ),
                    (
                        format!("llmgate_tokens;{base};model=m-stream;token_type=input"),
                        1,
                    ),
                    (
                        format!("llmgate_tokens;{base};model=m-stream;token_type=output"),
                        2,
                    ),
                    (
                        format!("llmgate_tokens;{base};model=m-stream;token_type=total"),
                        3,
                    ),
                    (
                        format!("llmgate_tokens;{base};model=m-stream;token_type=cached_input"),
                        1,
                    ),
                    (
                        format!("llmgate_tokens;{base};model=m-stream;token_type=reasoning"),
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
                    format!("llmgate_requests;{base};model=asked;status_class=2xx"),
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
                        format!("llmgate_requests;{base};model=asked;status_class=2xx"),
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
                    format!("llmgate_requests;{base};model=evil_model_x;status_class=5xx"),
                    1,
                )],
            ),
            (
                big_request.as_bytes(),
                "500",
                "application/json",
                vec![b"{}"],
                vec![(
                    format!("llmgate_requests;{base};model=unknown;status_class=5xx"),
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
        let base = "backend=ns/ai;provider=azureopenai";
        let want = counters(&[
            (
                &format!("llmgate_requests;{base};model=unknown;status_class=2xx"),
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
        send_body(&mut s, &mut f, &[b"{\"model\":\"asked\"}"], false);
        s.finish(&p, &mut f);
        s.finish(&p, &mut f);
        let want = counters(&[(
            "llmgate_requests;backend=ns/ai;provider=azureopenai;model=asked;status_class=none",
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
            let input = f.counters.get("llmgate_tokens;backend=ns/ai;provider=azureopenai;model=gpt-4o-2024;token_type=input");
            assert_eq!(input, use_trailers.then_some(&3));
        }
    }
}
