//! What the gateway answers itself on an AI route, in OpenAI's shapes: a
//! model list from the Backend's configuration, and the refusal of a request
//! type the provider has no endpoint for (never a rewrite to chat, which
//! would bill a generation for, say, a token count).

use crate::route_type::RouteType;

/// `code` of the refusal, for clients that branch on it.
pub const UNSUPPORTED_CODE: &str = "unsupported_route_type";

/// `code` of the 413 for a request body over the Backend's limit.
pub const TOO_LARGE_CODE: &str = "request_too_large";

/// How big a refused request body is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooLarge {
    /// Its whole size (its `content-length`, or all of it in).
    Whole(u64),
    /// Still arriving: this much so far.
    AtLeast(u64),
    /// Within the limit as sent, this big once rewritten for the provider,
    /// over what Envoy can hold (`buffer`).
    Rewritten { size: u64, buffer: u64 },
}

/// 413, as OpenAI shapes its errors, naming the size and the limit.
pub fn too_large(size: TooLarge, limit: u64) -> Vec<u8> {
    let message = match size {
        TooLarge::Whole(n) => format!(
            "llmgate: the request body is {n} bytes, over this route's limit of {limit} bytes"
        ),
        TooLarge::AtLeast(n) => format!(
            "llmgate: the request body is at least {n} bytes, over this route's limit of {limit} bytes"
        ),
        TooLarge::Rewritten { size, buffer } => format!(
            "llmgate: the request body is {size} bytes once rewritten for the provider, over the \
             {buffer} bytes this route can hold (its limit of {limit} bytes plus room for the \
             gateway's edits)"
        ),
    };
    crate::convert::openai_error(
        &message,
        "invalid_request_error",
        None,
        Some(TOO_LARGE_CODE),
    )
}

/// `GET …/models`: the configured models, as OpenAI's `/v1/models` lists
/// them. `created` is 0: the gateway does not know when a model was made.
pub fn model_list(owned_by: &str, models: &[&str]) -> Vec<u8> {
    let data: Vec<serde_json::Value> = models
        .iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"object": "list", "data": data})).unwrap_or_default()
}

/// 404, as OpenAI answers a URL it does not serve.
pub fn unsupported(route_type: RouteType, provider: &str, backend: &str) -> Vec<u8> {
    crate::convert::openai_error(
        &format!(
            "llmgate: {} requests are not supported by Backend {backend} (provider {provider})",
            route_type.name()
        ),
        "invalid_request_error",
        None,
        Some(UNSUPPORTED_CODE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn a_too_large_body_is_refused_with_its_size_and_the_limit() {
        let cases = [
            (
                TooLarge::Whole(2049),
                "llmgate: the request body is 2049 bytes, over this route's limit of 2048 bytes",
            ),
            (
                TooLarge::AtLeast(4096),
                "llmgate: the request body is at least 4096 bytes, over this route's limit of 2048 bytes",
            ),
            (
                TooLarge::Rewritten { size: 9000, buffer: 8000 },
                "llmgate: the request body is 9000 bytes once rewritten for the provider, over the \
                 8000 bytes this route can hold (its limit of 2048 bytes plus room for the gateway's edits)",
            ),
        ];
        for (size, message) in cases {
            let got: Value = serde_json::from_slice(&too_large(size, 2048)).unwrap();
            let want = json!({"error": {
                "message": message,
                "type": "invalid_request_error",
                "param": null,
                "code": "request_too_large"
            }});
            assert_eq!(got, want, "{size:?}");
        }
    }

    #[test]
    fn a_model_list_in_openais_shape() {
        let cases: [(&[&str], Value); 2] = [
            (
                &["gpt-4o-mini"],
                json!({"object": "list", "data": [
                    {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "openai"}
                ]}),
            ),
            (&[], json!({"object": "list", "data": []})),
        ];
        for (models, want) in cases {
            let got: Value = serde_json::from_slice(&model_list("openai", models)).unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_refusal_names_the_type_the_backend_and_the_provider() {
        let got: Value = serde_json::from_slice(&unsupported(
            RouteType::Embeddings,
            "anthropic",
            "team/claude",
        ))
        .unwrap();
        assert_eq!(
            got,
            json!({"error": {
                "message": "llmgate: Embeddings requests are not supported by Backend team/claude (provider anthropic)",
                "type": "invalid_request_error",
                "param": null,
                "code": "unsupported_route_type",
            }})
        );
    }
}
