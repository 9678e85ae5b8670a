//! proxy-wasm glue: maps callbacks onto [`Stream`] and hostcalls onto [`Host`].
//!
//! Hostcalls are used directly rather than through the SDK's trait helpers:
//! those `unwrap` (a non-UTF-8 header value from a client would panic and kill
//! the VM); here every value is read as bytes and every error is handled.

use crate::attempt::{self, FirstAttempt, FIRST_ATTEMPT_STATE};
use crate::injected;
use crate::metrics::ModelCap;
use crate::plugin_config::{PluginConfig, HOST_METADATA_KEY, HOST_METADATA_NAMESPACE};
use crate::request::HeaderOp;
use crate::stream::{Flow, Host, Plugin, SharedWriteError, Stream};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { plugins: None }) });
}}

/// Per VM (one per worker), shared by every plugin: stats are process-wide by
/// name, so ids and the model cap are too.
#[derive(Default)]
struct Metrics {
    ids: HashMap<String, u32>,
    cap: ModelCap,
}

thread_local! {
    static METRICS: RefCell<Metrics> = RefCell::new(Metrics::default());
}

fn with_metrics<R>(f: impl FnOnce(&mut Metrics) -> R) -> Option<R> {
    METRICS
        .try_with(|m| m.try_borrow_mut().ok().map(|mut m| f(&mut m)))
        .ok()
        .flatten()
}

impl Metrics {
    fn id(&mut self, kind: MetricType, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        match hostcalls::define_metric(kind, name) {
            Ok(id) => {
                self.ids.insert(name.to_owned(), id);
                Some(id)
            }
            Err(status) => {
                log::warn!("cannot define metric {name}: {status:?}");
                None
            }
        }
    }

    fn record(&mut self, name: &str, value: u64) {
        let Some(id) = self.id(MetricType::Histogram, name) else {
            return;
        };
        if let Err(status) = hostcalls::record_metric(id, value) {
            log::warn!("cannot record metric {name}: {status:?}");
        }
    }

    fn add(&mut self, name: &str, amount: u64) {
        let Some(id) = self.id(MetricType::Counter, name) else {
            return;
        };
        // Zero still defines the stat, so token series appear with usage.
        if amount > 0 {
            if let Err(status) =
                hostcalls::increment_metric(id, i64::try_from(amount).unwrap_or(i64::MAX))
            {
                log::warn!("cannot increment metric {name}: {status:?}");
            }
        }
    }
}

struct Root {
    plugins: Option<Rc<Plugins>>,
}

/// One plugin per provider this filter instance serves: one for a Backend's
/// `llm`, one per priority-group member otherwise.
struct Plugins {
    config: PluginConfig,
    plugins: Vec<Plugin>,
    /// Per provider, the internal headers Envoy injects its keys (and its
    /// moderation guards' keys) into (all providers' arrive on every
    /// attempt).
    injected_headers: Vec<Vec<String>>,
}

impl Plugins {
    /// The provider of the endpoint Envoy chose for this attempt.
    fn choose(&self) -> Option<usize> {
        let endpoint = match &self.config {
            PluginConfig::Single(_) => None,
            PluginConfig::Members(_) => hostcalls::get_property(vec![
                "xds",
                "upstream_host_metadata",
                "filter_metadata",
                HOST_METADATA_NAMESPACE,
                HOST_METADATA_KEY,
            ])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        };
        self.config.index_of(endpoint.as_deref())
    }

    /// Removes the keys Envoy injected for every provider but `chosen` (whose
    /// stream takes and removes its own).
    fn remove_injected(&self, host: &mut EnvoyHost, chosen: Option<usize>) {
        for (i, names) in self.injected_headers.iter().enumerate() {
            if Some(i) != chosen {
                for name in names {
                    host.remove_request_header(name);
                }
            }
        }
    }

    /// Puts back what an earlier attempt's edits changed (see [`attempt`]),
    /// or, on the first attempt, remembers the client's headers.
    fn prepare_attempt(&self, host: &mut EnvoyHost) {
        let providers = self.config.providers();
        if !attempt::needed(providers) {
            return;
        }
        let saved = host
            .property(&[FIRST_ATTEMPT_STATE])
            .and_then(|b| FirstAttempt::decode(&b));
        match saved {
            Some(first) => {
                for op in first.restore() {
                    match op {
                        HeaderOp::Set(name, value) => host.set_request_header(&name, &value),
                        HeaderOp::Remove(name) => host.remove_request_header(&name),
                    }
                }
            }
            None => {
                let first = FirstAttempt::capture(providers, |name| host.request_header(name));
                host.set_filter_state(FIRST_ATTEMPT_STATE, &first.encode());
            }
        }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        ) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                log::error!("plugin configuration is missing");
                return false;
            }
            Err(status) => {
                log::error!("cannot read plugin configuration: {status:?}");
                return false;
            }
        };
        match PluginConfig::from_json(&bytes) {
            Ok(config) => {
                let members = matches!(config, PluginConfig::Members(_));
                let plugins = config
                    .providers()
                    .iter()
                    .cloned()
                    .map(|cfg| {
                        let plugin = Plugin::new(cfg);
                        if members {
                            plugin.in_priority_groups()
                        } else {
                            plugin
                        }
                    })
                    .collect();
                let injected_headers = config
                    .providers()
                    .iter()
                    .map(|p| {
                        let guard_keys = crate::callout::key_headers(&p.policy.request_guards)
                            .map(|(_, name)| name);
                        injected::headers(&p.auth.token)
                            .into_iter()
                            .chain(guard_keys)
                            .map(str::to_owned)
                            .collect()
                    })
                    .collect();
                self.plugins = Some(Rc::new(Plugins {
                    config,
                    plugins,
                    injected_headers,
                }));
                true
            }
            Err(e) => {
                log::error!("{e}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // The SDK panics on `None`; without a plugin (rejected config) the
        // context does nothing.
        Some(Box::new(HttpStream {
            plugins: self.plugins.clone(),
            chosen: None,
            stream: Stream::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct HttpStream {
    plugins: Option<Rc<Plugins>>,
    /// Index into `plugins`, chosen when the request headers arrive.
    chosen: Option<usize>,
    stream: Stream,
}

/// The current stream's host side; hostcalls act on the active context.
struct EnvoyHost;

fn header(map: MapType, name: &str) -> Option<String> {
    match hostcalls::get_map_value_bytes(map, name) {
        Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) | Err(_) => None,
    }
}

fn body(buffer: BufferType, size: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(buffer, 0, size).ok().flatten()
}

impl Host for EnvoyHost {
    fn request_header(&self, name: &str) -> Option<String> {
        header(MapType::HttpRequestHeaders, name)
    }

    fn set_request_header(&mut self, name: &str, value: &str) {
        if let Err(status) =
            hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
        {
            log::warn!("cannot set request header {name}: {status:?}");
        }
    }

    fn remove_request_header(&mut self, name: &str) {
        if let Err(status) = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name) {
            log::warn!("cannot remove request header {name}: {status:?}");
        }
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        body(BufferType::HttpRequestBody, size)
    }

    fn replace_request_body(&mut self, size: usize, body: &[u8]) {
        if let Err(status) = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, body) {
            log::warn!("cannot replace request body: {status:?}");
        }
    }

    fn response_header(&self, name: &str) -> Option<String> {
        header(MapType::HttpResponseHeaders, name)
    }

    fn set_response_header(&mut self, name: &str, value: &str) {
        if let Err(status) =
            hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value))
        {
            log::warn!("cannot set response header {name}: {status:?}");
        }
    }

    fn remove_response_header(&mut self, name: &str) {
        if let Err(status) = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name) {
            log::warn!("cannot remove response header {name}: {status:?}");
        }
    }

    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        body(BufferType::HttpResponseBody, size)
    }

    fn replace_response_body(&mut self, size: usize, body: &[u8]) {
        if let Err(status) = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, body) {
            log::warn!("cannot replace response body: {status:?}");
        }
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        hostcalls::get_property(path.to_vec()).ok().flatten()
    }

    fn set_filter_state(&mut self, name: &str, value: &[u8]) {
        if let Err(status) = hostcalls::set_property(vec![name], Some(value)) {
            log::warn!("cannot set filter state {name}: {status:?}");
        }
    }

    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn record_histogram(&mut self, name: &str, value: u64) {
        with_metrics(|m| m.record(name, value));
    }

    fn model_label(&mut self, backend: &str, raw_model: Option<&str>) -> String {
        with_metrics(|m| m.cap.label(backend, raw_model))
            .unwrap_or_else(|| crate::metrics::OTHER_MODEL.to_owned())
    }

    fn add_counter(&mut self, name: &str, amount: u64) {
        with_metrics(|m| m.add(name, amount));
    }

    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let headers = serialize_map(headers);
        // SAFETY: every pointer/length pair is a live slice for the whole call;
        // the host copies what it needs before returning.
        let result = unsafe {
            proxy_send_local_response(
                status,
                std::ptr::null(),
                0,
                body.as_ptr(),
                body.len(),
                headers.as_ptr(),
                headers.len(),
                -1,
            )
        };
        if result != 0 {
            log::warn!("cannot send the local response: status {result}");
        }
    }

    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        let mut cas: u32 = 0;
        // SAFETY: the key is a live slice for the call; the host writes the
        // value's pointer, size and version into the three locals.
        let status = unsafe {
            proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
        };
        if status != STATUS_OK {
            // Not found, or the host could not copy it out.
            return None;
        }
        let value = if data.is_null() {
            Vec::new()
        } else {
            // SAFETY: the host allocated `size` bytes at `data` through this
            // module's `proxy_on_memory_allocate` (the SDK's: a boxed slice
            // of exactly `size` bytes, given up) and filled them; the SDK's
            // own `get_shared_data` takes them back the same way.
            unsafe { Vec::from_raw_parts(data, size, size) }
        };
        Some((value, cas))
    }

    fn set_shared_data(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedWriteError> {
        // SAFETY: key and value are live slices for the whole call; the host
        // copies them.
        let status = unsafe {
            proxy_set_shared_data(
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
                cas.unwrap_or(0),
            )
        };
        match status {
            STATUS_OK => Ok(()),
            STATUS_CAS_MISMATCH => Err(SharedWriteError::Conflict),
            other => {
                log::warn!("cannot write shared data: status {other}");
                Err(SharedWriteError::Failed)
            }
        }
    }

    fn dispatch_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Option<u32> {
        // The SDK's call, not a raw one: it registers the token so that the
        // answer reaches this stream's context. Envoy answers it with Ok,
        // BadArgument (no such cluster) or InternalFailure only, the
        // statuses it handles.
        match hostcalls::dispatch_http_call(
            cluster,
            headers.to_vec(),
            Some(body),
            Vec::new(),
            std::time::Duration::from_millis(u64::from(timeout_ms)),
        ) {
            Ok(token) => Some(token),
            Err(status) => {
                log::warn!("cannot call cluster {cluster}: {status:?}");
                None
            }
        }
    }

    fn resume_request(&mut self) {
        // SAFETY: no pointers; the host resumes the active stream.
        let status = unsafe { proxy_continue_stream(STREAM_TYPE_HTTP_REQUEST) };
        if status != STATUS_OK {
            log::warn!("cannot resume the request: status {status}");
        }
    }

    fn resume_response(&mut self) {
        // SAFETY: no pointers; the host resumes the active stream.
        let status = unsafe { proxy_continue_stream(STREAM_TYPE_HTTP_RESPONSE) };
        if status != STATUS_OK {
            log::warn!("cannot resume the reply: status {status}");
        }
    }
}

/// proxy-wasm's `StreamType::HttpRequest`.
const STREAM_TYPE_HTTP_REQUEST: u32 = 0;
/// proxy-wasm's `StreamType::HttpResponse`.
const STREAM_TYPE_HTTP_RESPONSE: u32 = 1;

/// proxy-wasm ABI statuses.
const STATUS_OK: u32 = 0;
const STATUS_CAS_MISMATCH: u32 = 8;

// The SDK's `send_http_response` and `resume_http_request` panic on any
// status but Ok, and its shared-data calls on any status they do not expect; a panic would kill the
// VM for every request of the worker.
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// proxy-wasm's map encoding: the pair count, each pair's key and value
/// lengths (u32 little-endian), then each key and value NUL-terminated.
fn serialize_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&len(pairs.len()));
    for (name, value) in pairs {
        out.extend_from_slice(&len(name.len()));
        out.extend_from_slice(&len(value.len()));
    }
    for (name, value) in pairs {
        for part in [name, value] {
            out.extend_from_slice(part.as_bytes());
            out.push(0);
        }
    }
    out
}

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

impl HttpStream {
    /// Runs one callback of the stream with the plugin chosen for this
    /// attempt; without one (a rejected configuration, or before the request
    /// headers chose it) the request passes untouched.
    fn dispatch(
        &mut self,
        callback: impl FnOnce(&mut Stream, &Plugin, &mut EnvoyHost) -> Flow,
    ) -> Action {
        let Some(plugins) = self.plugins.clone() else {
            return Action::Continue;
        };
        match self.chosen.and_then(|i| plugins.plugins.get(i)) {
            Some(plugin) => action(callback(&mut self.stream, plugin, &mut EnvoyHost)),
            None => Action::Continue,
        }
    }

    fn finish(&mut self) {
        self.dispatch(|stream, plugin, host| {
            stream.finish(plugin, host);
            Flow::Continue
        });
    }
}

impl Context for HttpStream {
    fn on_done(&mut self) -> bool {
        self.finish();
        true
    }

    /// A guard's answer (about the prompt or the reply); no `:status` when
    /// the call failed or timed out.
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let status = header(MapType::HttpCallResponseHeaders, ":status")
            .and_then(|s| s.trim().parse::<u16>().ok());
        let body = if body_size == 0 {
            Vec::new()
        } else {
            body(BufferType::HttpCallResponseBody, body_size).unwrap_or_default()
        };
        self.dispatch(|stream, plugin, host| {
            stream.on_call_response(plugin, host, token_id, status, body);
            Flow::Continue
        });
    }
}

impl HttpContext for HttpStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(plugins) = self.plugins.clone() else {
            return Action::Continue;
        };
        let Some(index) = plugins.choose() else {
            // Cannot happen with the translator's configuration. Guessing a
            // provider could hand its key to another one; send nothing
            // instead, and not the client's credential either.
            log::error!("the chosen endpoint names no provider of this plugin");
            for name in crate::request::CREDENTIAL_HEADERS {
                EnvoyHost.remove_request_header(name);
            }
            plugins.remove_injected(&mut EnvoyHost, None);
            return Action::Continue;
        };
        plugins.prepare_attempt(&mut EnvoyHost);
        self.chosen = Some(index);
        let action = self.dispatch(|stream, plugin, host| {
            stream.on_request_headers(plugin, host, end_of_stream)
        });
        // The chosen provider has taken its own; the others' must not travel.
        plugins.remove_injected(&mut EnvoyHost, Some(index));
        action
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.dispatch(|stream, plugin, host| {
            stream.on_request_body(plugin, host, body_size, end_of_stream)
        })
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.dispatch(|stream, plugin, host| stream.on_request_trailers(plugin, host))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.dispatch(|stream, plugin, host| {
            stream.on_response_headers(plugin, host, end_of_stream)
        })
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.dispatch(|stream, plugin, host| {
            stream.on_response_body(plugin, host, body_size, end_of_stream)
        })
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        self.dispatch(|stream, plugin, host| stream.on_response_trailers(plugin, host))
    }

    fn on_log(&mut self) {
        self.finish();
    }
}
