//! HTTPRoute rule filters → what they do to the Envoy route: header changes,
//! URL rewrites, redirects and mirrors. Validation errors make the rule
//! answer 500 (the Gateway API's answer for a rule that cannot be honoured).

use gateway_api::httproutes::{
    HttpRouteRulesFilters, HttpRouteRulesFiltersRequestRedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme, HttpRouteRulesFiltersType,
    HttpRouteRulesFiltersUrlRewritePathType,
};

use crate::ir::{self, HeaderChanges, HeaderValue, RedirectPath, RedirectPort, Rewrite};

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
    pub headers: HeaderChanges,
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
                    &mut out.headers.request_add,
                    &mut out.headers.request_remove,
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
                    &mut out.headers.response_add,
                    &mut out.headers.response_remove,
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

/// Set (overwrite) and add (append) in the filter's order; names lowercased.
fn header_changes(
    to_add: &mut Vec<HeaderValue>,
    to_remove: &mut Vec<String>,
    set: Vec<(&str, &str)>,
    add: Vec<(&str, &str)>,
    remove: &[String],
) {
    let entry = |(name, value): (&str, &str), overwrite| HeaderValue {
        name: name.to_ascii_lowercase(),
        value: value.to_owned(),
        overwrite,
    };
    to_add.extend(set.into_iter().map(|h| entry(h, true)));
    to_add.extend(add.into_iter().map(|h| entry(h, false)));
    to_remove.extend(remove.iter().map(|n| n.to_ascii_lowercase()));
}

/// A path rewrite that cannot be done for the match it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteError {
    PrefixNeedsPathPrefix,
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RewriteError::PrefixNeedsPathPrefix => {
                f.write_str("ReplacePrefixMatch needs a PathPrefix match")
            }
        }
    }
}

/// The rewrite for a match whose PathPrefix (trailing `/` trimmed, `""` for
/// `/`) is `prefix`; `None` when the match is no PathPrefix.
pub fn rewrite(rewrite: &PathRewrite, prefix: Option<&str>) -> Result<Rewrite, RewriteError> {
    match rewrite {
        // The query is not part of the path Envoy's regex sees: it is kept.
        PathRewrite::Full(path) => Ok(Rewrite::Regex {
            regex: "^/.*$".into(),
            substitution: path.clone(),
        }),
        PathRewrite::Prefix(replacement) => {
            let Some(prefix) = prefix else {
                return Err(RewriteError::PrefixNeedsPathPrefix);
            };
            let replacement = replacement.trim_end_matches('/');
            if replacement.is_empty() {
                // `/prefix/rest` → `/rest`, `/prefix` → `/`: a prefix rewrite would give `//rest`.
                Ok(Rewrite::Regex {
                    regex: format!("^{}/*", regex_escape(prefix)),
                    substitution: "/".into(),
                })
            } else if prefix.is_empty() {
                // Matched `/`: `/rest` → `<replacement>/rest`.
                Ok(Rewrite::Prefix(format!("{replacement}/")))
            } else {
                Ok(Rewrite::Prefix(replacement.to_owned()))
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

/// The redirect for a match whose PathPrefix is `prefix` (see `rewrite`).
/// Without port and scheme, Location takes the listener's port (the spec's).
pub fn redirect(r: &Redirect, prefix: Option<&str>) -> Result<ir::Redirect, RewriteError> {
    let port = match (r.port, r.scheme.as_deref()) {
        (Some(p), _) => RedirectPort::Fixed(p),
        (None, Some(_)) => RedirectPort::SchemeDefault,
        (None, None) => RedirectPort::Listener,
    };
    let path = match &r.path {
        Some(PathRewrite::Full(p)) => Some(RedirectPath::Full(p.clone())),
        Some(rw) => Some(RedirectPath::Rewrite(rewrite(rw, prefix)?)),
        None => None,
    };
    Ok(ir::Redirect {
        scheme: r.scheme.clone(),
        hostname: r.hostname.clone(),
        port,
        path,
        status: r.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn path_rewrite_field(
        rw: &PathRewrite,
        prefix: Option<&str>,
    ) -> Result<(&'static str, Value), RewriteError> {
        rewrite(rw, prefix).map(|r| crate::emit::route::rewrite_field(&r))
    }

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
