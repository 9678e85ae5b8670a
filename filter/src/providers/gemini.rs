//! Google Gemini API (`generativelanguage.googleapis.com`): the model is in
//! the path, and streaming is a different method, not a body field.

use super::{AuthDefaults, Provider};
use crate::convert::{self, ChatConversion};
use crate::route_type::RouteType;
use crate::uri;
use crate::usage::UsageFormat;

/// The header keeps the key out of URLs and so out of access logs (the API
/// also accepts `?key=`).
pub const AUTH: AuthDefaults = AuthDefaults {
    header: "x-goog-api-key",
    prefix: None,
};

pub struct Gemini<'a> {
    model: &'a str,
    api_version: &'a str,
}

impl<'a> Gemini<'a> {
    pub fn new(model: &'a str, api_version: &'a str) -> Self {
        Gemini { model, api_version }
    }
}

impl<'a> Provider<'a> for Gemini<'a> {
    fn name(&self) -> &'static str {
        "gemini"
    }
    fn auth(&self) -> AuthDefaults {
        AUTH
    }
    fn chat_conversion(&self) -> Option<&'static dyn ChatConversion> {
        Some(&convert::gemini::ToGemini)
    }
    fn usage_format(&self) -> UsageFormat {
        UsageFormat::Gemini
    }
    fn path(&self, streaming: bool) -> String {
        format!(
            "/{}/models/{}:{}",
            uri::encode(self.api_version),
            uri::encode(self.model),
            method(None, streaming)
        )
    }
    fn endpoint(&self, route_type: RouteType, streaming: bool) -> Option<String> {
        let method = native_method(route_type, streaming, None)?;
        Some(format!(
            "/{}/models/{}:{method}",
            uri::encode(self.api_version),
            uri::encode(self.model),
        ))
    }
    fn streams_by_path(&self) -> bool {
        true
    }
    fn client_path_streams(&self, client_path: &str) -> bool {
        path_streams(client_path)
    }
    fn path_model(&self) -> Option<&'a str> {
        Some(self.model)
    }
}

/// The method after `:` for a route type (chat is `generateContent`, which
/// the chat conversion speaks); `None`: no such method.
pub(crate) fn native_method(
    route_type: RouteType,
    streaming: bool,
    configured: Option<&str>,
) -> Option<String> {
    match route_type {
        RouteType::Completions | RouteType::GenerateContent => Some(method(configured, streaming)),
        RouteType::StreamGenerateContent => Some(method(configured, true)),
        RouteType::CountTokens => Some("countTokens".to_owned()),
        _ => None,
    }
}

/// The method after `:`. Without `alt=sse` the stream is one JSON array, which
/// neither the usage reader nor most clients expect.
pub(crate) fn method(non_streaming: Option<&str>, streaming: bool) -> String {
    if streaming {
        "streamGenerateContent?alt=sse".to_owned()
    } else {
        uri::encode(non_streaming.unwrap_or("generateContent"))
    }
}

/// Whether the client's own path asks for a stream: the method is
/// `streamGenerateContent`, or the query asks for SSE.
pub fn path_streams(client_path: &str) -> bool {
    let (path, query) = client_path.split_once('?').unwrap_or((client_path, ""));
    path.ends_with(":streamGenerateContent")
        || query
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("alt=sse"))
}

#[cfg(test)]
mod tests {
    use super::super::of;
    use super::*;
    use crate::config::ProviderConfig;
    use crate::usage::UsageFormat;

    #[test]
    fn paths() {
        let cases = [
            (
                "v1beta",
                "gemini-2.5-flash",
                false,
                "/v1beta/models/gemini-2.5-flash:generateContent",
            ),
            (
                "v1beta",
                "gemini-2.5-flash",
                true,
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            ),
            ("v1", "a/b?c", false, "/v1/models/a%2Fb%3Fc:generateContent"),
        ];
        for (version, model, streaming, want) in cases {
            let provider = ProviderConfig::Gemini {
                model: model.into(),
                api_version: version.into(),
            };
            assert_eq!(of(&provider).path(streaming), want);
            assert_eq!(of(&provider).auth(), AUTH);
            assert_eq!(of(&provider).usage_format(), UsageFormat::Gemini);
            assert_eq!(
                of(&provider).model_override(),
                None,
                "the model is in the path"
            );
            assert_eq!(of(&provider).path_model(), Some(model));
        }
    }

    #[test]
    fn client_paths_that_stream() {
        let cases = [
            ("/v1beta/models/m:streamGenerateContent", true),
            ("/v1beta/models/m:streamGenerateContent?alt=sse", true),
            ("/v1beta/models/m:streamGenerateContent?key=k", true),
            ("/gemini?alt=sse", true),
            ("/gemini?x=1&ALT=SSE", true),
            ("/v1beta/models/m:generateContent", false),
            ("/v1beta/models/m:generateContent?alt=json", false),
            ("/gemini", false),
            ("/gemini?salt=sse", false),
            ("/streamGenerateContent/x", false),
            ("", false),
        ];
        for (path, want) in cases {
            assert_eq!(path_streams(path), want, "{path}");
        }
    }
}
