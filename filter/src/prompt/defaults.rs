//! `defaults`: top-level fields of the client's request, set when the client
//! left them out (absent or `null`, which every format reads as unset) or,
//! with `override`, always. They are the client's request as the policy
//! completes it, so the gateway's own edits come after and win: a
//! configured `model`, a `modelAliases` alias, `include_usage`, and a
//! conversion all read the request with its defaults in. A default
//! `"stream": true` thus makes a chat, Messages or Responses request a
//! stream everywhere the gateway looks (the provider's streaming endpoint
//! for a converted request, `include_usage` for an OpenAI one); native Gemini
//! and Bedrock calls stream by their method, so there it is just a field.

use serde_json::{Map, Value};

use crate::policy_config::FieldDefault;

/// `true` when the request changed.
pub(super) fn apply(request: &mut Map<String, Value>, defaults: &[FieldDefault]) -> bool {
    let mut changed = false;
    for default in defaults {
        let current = request.get(&default.field);
        let unset = current.is_none_or(Value::is_null);
        if (default.override_ || unset) && current != Some(&default.value) {
            request.insert(default.field.clone(), default.value.clone());
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn default(field: &str, value: Value, override_: bool) -> FieldDefault {
        FieldDefault {
            field: field.into(),
            value,
            override_,
        }
    }

    #[test]
    fn set_when_unset_or_always_with_override() {
        // (client request, defaults, want, changed)
        let cases = [
            (
                json!({"model": "m"}),
                vec![default("temperature", json!(0.2), false)],
                json!({"model": "m", "temperature": 0.2}),
                true,
            ),
            (
                json!({"temperature": 0.9}),
                vec![default("temperature", json!(0.2), false)],
                json!({"temperature": 0.9}),
                false,
            ),
            (
                json!({"temperature": null}),
                vec![default("temperature", json!(0.2), false)],
                json!({"temperature": 0.2}),
                true,
            ),
            (
                json!({"temperature": 0.9}),
                vec![default("temperature", json!(0.2), true)],
                json!({"temperature": 0.2}),
                true,
            ),
            (
                json!({"temperature": 0.2}),
                vec![default("temperature", json!(0.2), true)],
                json!({"temperature": 0.2}),
                false,
            ),
            (
                json!({"messages": []}),
                vec![
                    default("stream", json!(true), false),
                    default("max_tokens", json!(256), false),
                    default("metadata", json!({"team": "a"}), true),
                ],
                json!({"messages": [], "stream": true, "max_tokens": 256, "metadata": {"team": "a"}}),
                true,
            ),
            (
                json!({"stream": false}),
                vec![default("stream", json!(true), false)],
                json!({"stream": false}),
                false,
            ),
            // Later defaults of one field see the earlier ones.
            (
                json!({}),
                vec![default("n", json!(1), false), default("n", json!(2), false)],
                json!({"n": 1}),
                true,
            ),
        ];
        for (request, defaults, want, changed) in cases {
            let Value::Object(mut got) = request.clone() else {
                panic!("not an object")
            };
            assert_eq!(apply(&mut got, &defaults), changed, "{request}");
            assert_eq!(Value::Object(got), want, "{request}");
        }
    }
}
