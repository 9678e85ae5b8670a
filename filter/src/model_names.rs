//! Which model a request names, which one the provider gets, and what the
//! access log and the metrics say about both.
//!
//! **The provider's model**, in order of precedence:
//! 1. a model the Backend fixes (`openai.model`, `anthropic.model`, Azure's
//!    deployment, the model in Gemini's, Vertex AI's and Bedrock's path):
//!    the body's `model` never changes it, an alias neither;
//! 2. else the Backend's `modelAliases` entry for the body's `model`, when
//!    there is one (an exact, case-sensitive match);
//! 3. else the body's `model` as the client sent it.
//!
//! **The logged and counted models** come from one value each, so the log
//! and the metrics always agree:
//! - `request_model`: the body's `model` as the client sent it (an alias as
//!   asked, not what it maps to); with a model override, the configured
//!   model (the one the request was made to carry);
//! - `response_model`: the `model` of the provider's reply;
//! - a model that is empty (`"model": ""`, as Azure's classic clients send)
//!   or absent (no `model`, `null`, not a string, a body that is not JSON)
//!   is *no model*; where the Backend fixes the model the request went to
//!   (Azure's classic deployments, Gemini, Vertex AI, Bedrock, on the path
//!   the gateway chose) that model stands in for it;
//! - no model at all is absent from the access log (`null`) and `unknown` in
//!   the metrics.

use std::collections::BTreeMap;

/// The model a raw value names: `None` for an absent or empty one.
pub fn named(raw: Option<&str>) -> Option<&str> {
    raw.filter(|m| !m.is_empty())
}

/// What `asked` is an alias of, if it is one.
pub fn alias_of<'a>(aliases: &'a BTreeMap<String, String>, asked: Option<&str>) -> Option<&'a str> {
    aliases.get(named(asked)?).map(String::as_str)
}

/// The model a request names once the gateway is done with it: `None`
/// when the body's own `model` (or none) goes to the provider unchanged.
/// `fixed` is the model the Backend fixes, if any.
pub fn sent<'a>(
    fixed: Option<&'a str>,
    aliases: &'a BTreeMap<String, String>,
    asked: Option<&str>,
) -> Option<&'a str> {
    fixed.or_else(|| alias_of(aliases, asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_absent_models_are_no_model() {
        let cases = [
            (None, None),
            (Some(""), None),
            (Some(" "), Some(" ")),
            (Some("gpt-4o-mini"), Some("gpt-4o-mini")),
        ];
        for (raw, want) in cases {
            assert_eq!(named(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn fixed_models_win_over_aliases_which_win_over_the_body() {
        let aliases: BTreeMap<String, String> = [
            ("fast".to_owned(), "gpt-4o-mini".to_owned()),
            ("smart".to_owned(), "gpt-4.1".to_owned()),
        ]
        .into();
        let none = BTreeMap::new();
        let cases: [(
            Option<&str>,
            &BTreeMap<String, String>,
            Option<&str>,
            Option<&str>,
        ); 9] = [
            (None, &aliases, Some("fast"), Some("gpt-4o-mini")),
            (None, &aliases, Some("smart"), Some("gpt-4.1")),
            (None, &aliases, Some("gpt-4o"), None),
            (None, &aliases, Some("FAST"), None),
            (None, &aliases, Some(""), None),
            (None, &aliases, None, None),
            (Some("pinned"), &aliases, Some("fast"), Some("pinned")),
            (Some("pinned"), &none, None, Some("pinned")),
            (None, &none, Some("fast"), None),
        ];
        for (fixed, aliases, asked, want) in cases {
            assert_eq!(sent(fixed, aliases, asked), want, "{fixed:?} {asked:?}");
        }
    }
}
