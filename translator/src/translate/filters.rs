//! HTTPRoute rule filters → what they do to the Envoy route: header changes,
//! URL rewrites, redirects and mirrors. Validation errors make the rule
//! answer 500 (the Gateway API's answer for a rule that cannot be honoured).

use gateway_api::httproutes::{
    HttpRouteRulesFilters, HttpRouteRulesFiltersRequestRedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme, HttpRouteRulesFiltersType,
    HttpRouteRulesFiltersUrlRewritePathType,
};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathRewrite {
    Full(String),
    /// Replaces the matched PathPrefix.
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub path: Option<PathRewrite>,
    pub status: u16,
}

/// A RequestMirror target, resolved later like a backendRef.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
    pub port: Option<i32>,
    /// Share of requests mirrored, in millionths.
    pub per_million: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterPlan {
    /// `request_headers_to_add` & co., ready for the Envoy route.
    pub headers: Map<String, Value>,
    pub host_rewrite: Option<String>,
    pub path_rewrite: Option<PathRewrite>,
    pub redirect: Option<Redirect>,
    pub mirrors: Vec<Mirror>,
}

/// The rule's filters, or (index of the offending filter, why).
pub fn plan(filters: &[HttpRouteRulesFilters]) -> Result<FilterPlan, (usize, String)> {
    let mut out = FilterPlan::default();
    let mut seen: Vec<&HttpRouteRulesFiltersType> = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let err = |m: &str| Err((i, m.to_string()));
        if f.r#type != HttpRouteRulesFiltersType::RequestMirror {
            if seen.contains(&&f.r#type) {
                return err("this filter type may appear only once per rule");
            }
            seen.push(&f.r#type);
        }
        match f.r#type {
            HttpRouteRulesFiltersType::RequestHeaderModifier => {
                let Some(m) = &f.request_header_modifier else {
                    return err("requestHeaderModifier is required for this type");
                };
                header_changes(
                    &mut out.headers,
                    "request",
                    pairs(m.set.iter().flatten().map(|h| (&h.name, &h.value))),
                    pairs(m.add.iter().flatten().map(|h| (&h.name, &h.value))),
                    m.remove.as_deref().unwrap_or_default(),
                );
            }
            HttpRouteRulesFiltersType::ResponseHeaderModifier => {
                let Some(m) = &f.response_header_modifier else {
                    return err("responseHeaderModifier is required for this type");
                };
                header_changes(
                    &mut out.headers,
                    "response",
                    pairs(m.set.iter().flatten().map(|h| (&h.name, &h.value))),
                    pairs(m.add.iter().flatten().map(|h| (&h.name, &h.value))),
                    m.remove.as_deref().unwrap_or_default(),
                );
            }
            HttpRouteRulesFiltersType::UrlRewrite => {
                let Some(r) = &f.url_rewrite else {
                    return err("urlRewrite is required for this type");
                };
                out.host_rewrite = r.hostname.clone();
                if let Some(p) = &r.path {
                    out.path_rewrite = Some(match p.r#type {
                        HttpRouteRulesFiltersUrlRewritePathType::ReplaceFullPath => {
                            PathRewrite::Full(
                                p.replace_full_path.clone().unwrap_or_else(|| "/".into()),
                            )
                        }
                        HttpRouteRulesFiltersUrlRewritePathType::ReplacePrefixMatch => {
                            PathRewrite::Prefix(
                                p.replace_prefix_match.clone().unwrap_or_else(|| "/".into()),
                            )
                        }
                    });
                }
            }
            HttpRouteRulesFiltersType::RequestRedirect => {
                let Some(r) = &f.request_redirect else {
                    return err("requestRedirect is required for this type");
                };
                let status = match r.status_code.unwrap_or(302) {
                    s @ (301 | 302 | 303 | 307 | 308) => s as u16,
                    _ => return err("statusCode must be 301, 302, 303, 307 or 308"),
                };
                let port = match r.port {
                    None => None,
                    Some(p) => match u16::try_from(p) {
                        Ok(p) if p > 0 => Some(p),
                        _ => return err("port must be 1-65535"),
                    },
                };
                out.redirect = Some(Redirect {
                    scheme: r.scheme.as_ref().map(|s| match s {
                        HttpRouteRulesFiltersRequestRedirectScheme::Http => "http".into(),
                        HttpRouteRulesFiltersRequestRedirectScheme::Https => "https".into(),
                    }),
                    hostname: r.hostname.clone(),
                    port,
                    path: r.path.as_ref().map(|p| match p.r#type {
                        HttpRouteRulesFiltersRequestRedirectPathType::ReplaceFullPath => {
                            PathRewrite::Full(
                                p.replace_full_path.clone().unwrap_or_else(|| "/".into()),
                            )
                        }
                        HttpRouteRulesFiltersRequestRedirectPathType::ReplacePrefixMatch => {
                            PathRewrite::Prefix(
                                p.replace_prefix_match.clone().unwrap_or_else(|| "/".into()),
                            )
                        }
                    }),
                    status,
                });
            }
            HttpRouteRulesFiltersType::RequestMirror => {
                let Some(m) = &f.request_mirror else {
                    return err("requestMirror is required for this type");
                };
                let per_million = match (&m.fraction, m.percent) {
                    (Some(_), Some(_)) => return err("set percent or fraction, not both"),
                    (Some(fr), None) => {
                        let d = i64::from(fr.denominator.unwrap_or(100));
                        let n = i64::from(fr.numerator);
                        if d <= 0 || n < 0 || n > d {
                            return err(
                                "fraction must be numerator ≤ denominator, denominator > 0",
                            );
                        }
                        (n * 1_000_000 / d) as u32
                    }
                    (None, Some(p)) if (0..=100).contains(&p) => p as u32 * 10_000,
                    (None, Some(_)) => return err("percent must be 0-100"),
                    (None, None) => 1_000_000,
                };
                let b = &m.backend_ref;
                out.mirrors.push(Mirror {
                    group: b.group.clone(),
                    kind: b.kind.clone(),
                    name: b.name.clone(),
                    namespace: b.namespace.clone(),
                    port: b.port,
                    per_million,
                });
            }
            HttpRouteRulesFiltersType::ExtensionRef | HttpRouteRulesFiltersType::Cors => {
                return err("this filter type is not supported by llmgate");
            }
        }
    }
    if out.redirect.is_some() && (out.path_rewrite.is_some() || out.host_rewrite.is_some()) {
        return Err((
            0,
            "RequestRedirect and URLRewrite cannot be used together".into(),
        ));
    }
    Ok(out)
}

fn pairs<'v>(it: impl Iterator<Item = (&'v String, &'v String)>) -> Vec<(&'v str, &'v str)> {
    it.map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn header_changes(
    out: &mut Map<String, Value>,
    direction: &str,
    set: Vec<(&str, &str)>,
    add: Vec<(&str, &str)>,
    remove: &[String],
) {
    let entry = |(name, value): (&str, &str), action: &str| json!({ "header": { "key": name.to_ascii_lowercase(), "value": value }, "append_action": action });
    let mut to_add: Vec<Value> = set
        .into_iter()
        .map(|h| entry(h, "OVERWRITE_IF_EXISTS_OR_ADD"))
        .collect();
    to_add.extend(add.into_iter().map(|h| entry(h, "APPEND_IF_EXISTS_OR_ADD")));
    if !to_add.is_empty() {
        out.insert(format!("{direction}_headers_to_add"), Value::Array(to_add));
    }
    if !remove.is_empty() {
        let names: Vec<Value> = remove
            .iter()
            .map(|n| json!(n.to_ascii_lowercase()))
            .collect();
        out.insert(
            format!("{direction}_headers_to_remove"),
            Value::Array(names),
        );
    }
}

/// The Envoy field rewriting the path, for a match whose PathPrefix (trailing
/// `/` trimmed, `""` for `/`) is `prefix`; `None` when the match is no PathPrefix.
pub fn path_rewrite_field(
    rewrite: &PathRewrite,
    prefix: Option<&str>,
) -> Result<(&'static str, Value), String> {
    match rewrite {
        // The query is not part of the path Envoy's regex sees: it is kept.
        PathRewrite::Full(path) => Ok((
            "regex_rewrite",
            json!({ "pattern": { "regex": "^/.*$" }, "substitution": path }),
        )),
        PathRewrite::Prefix(replacement) => {
            let Some(prefix) = prefix else {
                return Err("ReplacePrefixMatch needs a PathPrefix match".into());
            };
            let replacement = replacement.trim_end_matches('/');
            if replacement.is_empty() {
                // `/prefix/rest` → `/rest`, `/prefix` → `/`: prefix_rewrite would give `//rest`.
                Ok((
                    "regex_rewrite",
                    json!({ "pattern": { "regex": format!("^{}/*", regex_escape(prefix)) }, "substitution": "/" }),
                ))
            } else if prefix.is_empty() {
                // Matched `/`: `/rest` → `<replacement>/rest`.
                Ok(("prefix_rewrite", json!(format!("{replacement}/"))))
            } else {
                Ok(("prefix_rewrite", json!(replacement)))
            }
        }
    }
}

/// RE2 escaping for a literal path.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Envoy's RedirectAction, and whether the listener's port must be filled in
/// (the spec's port when the filter sets neither port nor scheme).
pub fn redirect_action(
    r: &Redirect,
    prefix: Option<&str>,
) -> Result<(Map<String, Value>, bool), String> {
    let mut out = Map::new();
    if let Some(scheme) = &r.scheme {
        out.insert("scheme_redirect".into(), json!(scheme));
    }
    if let Some(host) = &r.hostname {
        out.insert("host_redirect".into(), json!(host));
    }
    let mut port_from_listener = false;
    match (r.port, r.scheme.as_deref()) {
        (Some(p), _) => {
            out.insert("port_redirect".into(), json!(p));
        }
        // The scheme's well-known port, which Location leaves out: the
        // listener strips the port from Host, so none is carried over.
        (None, Some(_)) => {}
        (None, None) => port_from_listener = true,
    }
    match &r.path {
        Some(PathRewrite::Full(p)) => {
            out.insert("path_redirect".into(), json!(p));
        }
        Some(rw) => {
            let (k, v) = path_rewrite_field(rw, prefix)?;
            out.insert(k.into(), v);
        }
        None => {}
    }
    let code = match r.status {
        301 => "MOVED_PERMANENTLY",
        303 => "SEE_OTHER",
        307 => "TEMPORARY_REDIRECT",
        308 => "PERMANENT_REDIRECT",
        _ => "FOUND",
    };
    out.insert("response_code".into(), json!(code));
    Ok((out, port_from_listener))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rewrites_keep_segment_boundaries() {
        let p = |s: &str| PathRewrite::Prefix(s.into());
        let cases = [
            (
                p("/one"),
                Some("/prefix/one"),
                ("prefix_rewrite", json!("/one")),
            ),
            (
                p("/one/"),
                Some("/prefix/one"),
                ("prefix_rewrite", json!("/one")),
            ),
            (
                p("/"),
                Some("/strip"),
                (
                    "regex_rewrite",
                    json!({"pattern": {"regex": "^/strip/*"}, "substitution": "/"}),
                ),
            ),
            (p("/v2"), Some(""), ("prefix_rewrite", json!("/v2/"))),
            (
                p("/"),
                Some("/a.b"),
                (
                    "regex_rewrite",
                    json!({"pattern": {"regex": "^/a\\.b/*"}, "substitution": "/"}),
                ),
            ),
            (
                PathRewrite::Full("/full".into()),
                None,
                (
                    "regex_rewrite",
                    json!({"pattern": {"regex": "^/.*$"}, "substitution": "/full"}),
                ),
            ),
        ];
        for (rw, prefix, want) in cases {
            assert_eq!(
                path_rewrite_field(&rw, prefix).unwrap(),
                want,
                "{rw:?} {prefix:?}"
            );
        }
        assert!(path_rewrite_field(&p("/x"), None).is_err());
    }
}
