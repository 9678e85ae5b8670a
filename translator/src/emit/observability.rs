//! What every listener and the bootstrap carry for observability: the access
//! log and the Prometheus labels and buckets of the filter's metrics.

use serde_json::{json, Value};

/// Prometheus labels for the filter's metrics. The filter names its stats
/// `<metric>;key=value;…`; each regex's group 1 is cut from the name and
/// group 2 becomes the label value, leaving `<metric>` as the name. The `;`
/// before each key keeps `model=` from matching inside `request_model=`, and
/// the `=` after it keeps `provider` from matching `provider_name=`.
pub const FILTER_LABELS: &[&str] = &[
    "route",
    "backend",
    "provider",
    "provider_name",
    "request_model",
    "response_model",
    "token_type",
    "status_class",
    "reason",
    "budget",
    "guard",
    "outcome",
    "direction",
    "action",
];

/// Token-count buckets for `gen_ai_client_token_usage` (OpenTelemetry's
/// advice for `gen_ai.client.token.usage`: powers of 4 up to 64 Mi). The
/// millisecond histograms keep Envoy's default buckets (0.5 ms … 1 h).
pub const TOKEN_BUCKETS: &[u64] = &[
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

/// `stats_config.histogram_bucket_settings`. The matcher sees the stat's
/// full name (`wasmcustom.gen_ai_client_token_usage;…`), hence `contains`.
pub fn histogram_bucket_settings() -> Value {
    json!([{
        "match": { "contains": "gen_ai_client_token_usage" },
        "buckets": TOKEN_BUCKETS
    }])
}

/// How the access log reads what the filter published. Although the filter
/// is an upstream HTTP filter, its `set_property` lands in the downstream
/// request's filter state: Envoy 1.40 shows it with `FILTER_STATE`, while
/// `UPSTREAM_FILTER_STATE` sees nothing (verified by `tests/tests/e2e/access_log.rs`).
pub const FILTER_STATE_OPERATOR: &str = "FILTER_STATE";

/// One JSON line per request on Envoy's stdout (Envoy's own log stays on
/// stderr). Envoy's values are typed (numbers stay numbers); the filter's are
/// strings (`PLAIN` filter state), and `null` when it did not set them (no
/// usage, not a stream, or a route without an AI backend).
pub fn access_log() -> Value {
    let mut format = serde_json::Map::new();
    for (key, command) in [
        ("start_time", "%START_TIME%"),
        ("method", "%REQ(:METHOD)%"),
        ("status", "%RESPONSE_CODE%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("duration_ms", "%DURATION%"),
        ("route_name", "%ROUTE_NAME%"),
        ("upstream_cluster", "%UPSTREAM_CLUSTER%"),
    ] {
        format.insert(key.to_owned(), json!(command));
    }
    for field in llmgate_filter::access_log::FIELDS {
        format.insert(
            (*field).to_owned(),
            json!(format!(
                "%{FILTER_STATE_OPERATOR}(wasm.{}{field}:PLAIN)%",
                llmgate_filter::access_log::PREFIX
            )),
        );
    }
    json!([{
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": { "json_format": format }
        }
    }])
}

pub fn stats_tags() -> Value {
    Value::Array(
        FILTER_LABELS
            .iter()
            .map(|label| json!({ "tag_name": label, "regex": format!("(;{label}=([^;]*))") }))
            .collect(),
    )
}
