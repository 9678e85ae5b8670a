//! OpenAI (and OpenAI-compatible) chat completions.

use super::AuthDefaults;

pub const PATH: &str = "/v1/chat/completions";

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "authorization",
    prefix: Some("Bearer"),
};

#[cfg(test)]
mod tests {
    use super::super::{auth_defaults, upstream_path};
    use crate::config::ProviderConfig;

    #[test]
    fn path_and_auth() {
        let cases = [
            ProviderConfig::Openai { model: None },
            ProviderConfig::Openai {
                model: Some("gpt-4o-mini".into()),
            },
        ];
        for provider in cases {
            for streaming in [false, true] {
                assert_eq!(upstream_path(&provider, streaming), "/v1/chat/completions");
            }
            let auth = auth_defaults(&provider);
            assert_eq!(auth.header, "authorization");
            assert_eq!(auth.prefix, Some("Bearer"));
        }
    }
}
