//! What one stream needs from Envoy, as a trait so the state machine runs on
//! the host against a fake in tests.

/// What the callback tells Envoy. `Pause` from a body callback makes Envoy
/// buffer and hand over the whole body so far next time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Pause,
}

/// Why a write to shared data did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedWriteError {
    /// Another worker changed the value since it was read.
    Conflict,
    /// The host refused the write.
    Failed,
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
    fn set_response_header(&mut self, name: &str, value: &str);
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
    /// The capped label for a model (see [`crate::metrics::ModelCap`]); the cap is
    /// shared by every stream of the VM, so it lives with the host.
    fn model_label(&mut self, backend: &str, raw_model: Option<&str>) -> String;
    /// Adds to a counter, defining it on first use.
    fn add_counter(&mut self, name: &str, amount: u64);
    /// Records a histogram sample, defining it on first use.
    fn record_histogram(&mut self, name: &str, value: u64);
    /// Answers the client instead of the upstream; nothing goes upstream.
    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]);
    /// A value every worker of this Envoy shares, and its version (the
    /// compare-and-swap token of [`Host::set_shared_data`]).
    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Stores `value` if the key is still at version `cas`; `None` stores it
    /// whatever is there.
    fn set_shared_data(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedWriteError>;
    /// Asks Envoy to POST to `cluster` (headers include the pseudo-headers);
    /// the answer comes to [`crate::stream::Stream::on_call_response`] with
    /// the returned token. `None`: Envoy would not make the call.
    fn dispatch_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Option<u32>;
    /// Lets the request, paused in a callback, go on upstream.
    fn resume_request(&mut self);
    /// Lets the reply, paused in a callback, go on to the client.
    fn resume_response(&mut self);
}
