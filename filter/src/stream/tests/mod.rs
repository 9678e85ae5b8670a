//! The whole stream against a fake Envoy ([`Fake`]); the cases are grouped
//! by concern in the files beside this one.

mod accounting;
mod body_limit;
mod budget;
mod callout_guards;
mod conversion;
mod held_body;
mod injected;
mod model_names;
mod native_apis;
mod prompt_policy;
mod reply_callout;
mod reply_guard;
mod route_types;

use super::*;
use crate::config::{AuthConfig, BedrockGuardrail, FilterConfig, ProviderConfig, TokenSource};
use crate::metrics::ModelCap;
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};

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
    /// What the filter answered itself: status, headers, body.
    local_reply: Option<(u32, Vec<(String, String)>, Vec<u8>)>,
    /// Envoy's buffer limit on the route: a held body may never grow past
    /// it (Envoy would answer 413 itself, from inside `set_buffer`).
    buffer_limit: Option<u64>,
    /// Envoy's shared data: each key's value and version.
    shared: BTreeMap<String, (Vec<u8>, u32)>,
    shared_version: u32,
    /// Another worker's writes, each landing just before the filter's next
    /// compare-and-swap, which then finds the version changed.
    rival_writes: VecDeque<Vec<u8>>,
    /// Envoy refuses every write to shared data.
    shared_writes_fail: bool,
    /// The calls the filter asked Envoy to make, in order.
    calls: Vec<SentCall>,
    /// Envoy refuses to make calls (an unknown cluster).
    calls_fail: bool,
    /// The paused request was resumed (once at most).
    resumed: bool,
    /// The paused reply was resumed (once at most).
    response_resumed: bool,
}

/// A call as Envoy would make it.
#[derive(Debug, Clone)]
struct SentCall {
    cluster: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout_ms: u32,
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
        self.assert_within_buffer_limit();
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers.get(name).cloned()
    }
    fn set_response_header(&mut self, name: &str, value: &str) {
        self.response_headers.insert(name.into(), value.into());
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
    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        assert!(self.local_reply.is_none(), "answered twice");
        let headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        self.local_reply = Some((status, headers, body.to_vec()));
    }
    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.get(key).cloned()
    }
    fn set_shared_data(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedWriteError> {
        if self.shared_writes_fail {
            return Err(SharedWriteError::Failed);
        }
        if cas.is_some() {
            if let Some(rival) = self.rival_writes.pop_front() {
                self.store_shared(key, rival);
            }
        }
        // Envoy's rule: a version only matters for a key that exists.
        if let (Some(cas), Some((_, version))) = (cas, self.shared.get(key)) {
            if cas != *version {
                return Err(SharedWriteError::Conflict);
            }
        }
        self.store_shared(key, value.to_vec());
        Ok(())
    }
    fn dispatch_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Option<u32> {
        if self.calls_fail {
            return None;
        }
        self.calls.push(SentCall {
            cluster: cluster.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            timeout_ms,
        });
        Some(u32::try_from(self.calls.len()).unwrap() + 100)
    }
    fn resume_request(&mut self) {
        assert!(!self.resumed, "resumed twice");
        assert!(self.local_reply.is_none(), "resumed an answered request");
        self.resumed = true;
    }
    fn resume_response(&mut self) {
        assert!(!self.response_resumed, "resumed the reply twice");
        self.response_resumed = true;
    }
}

impl Fake {
    fn store_shared(&mut self, key: &str, value: Vec<u8>) {
        self.shared_version += 1;
        self.shared
            .insert(key.to_owned(), (value, self.shared_version));
    }

    fn assert_within_buffer_limit(&self) {
        if let Some(limit) = self.buffer_limit {
            assert!(
                self.request_body.len() as u64 <= limit,
                "Envoy holds {} bytes, over its limit of {limit}: it would answer 413 itself",
                self.request_body.len()
            );
        }
    }
}

/// The plugin with another body limit.
fn with_limit(p: Plugin, limit: u64) -> Plugin {
    Plugin::new(FilterConfig {
        max_request_bytes: limit,
        ..p.cfg
    })
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
        routes: Vec::new(),
        max_request_bytes: crate::config::DEFAULT_MAX_REQUEST_BYTES,
        model_aliases: Default::default(),
        policy: Default::default(),
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
    f.buffer_limit = Some(crate::config::envoy_buffer_limit(p.cfg.max_request_bytes));
    for (i, chunk) in chunks.iter().enumerate() {
        if !buffering {
            f.request_body.clear();
        }
        f.request_body.extend_from_slice(chunk);
        let flow = s.on_request_body(p, f, f.request_body.len(), i + 1 == chunks.len());
        buffering = flow == Flow::Pause;
        flows.push(flow);
        if f.local_reply.is_some() {
            // Envoy sends the reply; the rest of the body is never read.
            break;
        }
        if buffering {
            f.assert_within_buffer_limit();
        }
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
