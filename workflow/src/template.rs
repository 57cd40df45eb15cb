//! Message text with placeholders.
//!
//! - `{{customer.first_name}}`, `{{ enrollment.access_url }}`: a variable of
//!   [`Variable`]; a missing value renders as nothing, an unknown name is a
//!   validation error (and renders as nothing if it slips through).
//! - `{{link:https://example.com/page}}` or `{{link:enrollment.access_url}}`:
//!   a URL, literal or from a variable, to be replaced by a tracked link.
//!   Rendering asks the caller's closure for the tracked URL of each one and
//!   reports them all, so the worker can store `tracked_links` rows.
//!
//! A `{{` with no closing `}}` is a validation error and renders literally.

use serde::{Deserialize, Serialize};

use crate::context::{RecipientContext, Variable};

/// What is wrong with one placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable {{{{{0}}}}}")]
    UnknownVariable(String),
    #[error("{{{{link:{0}}}}} is neither an http(s) URL nor a variable")]
    InvalidLink(String),
    #[error("a {{{{ is never closed with }}}}")]
    Unclosed,
}

/// The URL a `{{link:..}}` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTarget<'a> {
    Url(&'a str),
    Variable(Variable),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'a> {
    Text(&'a str),
    Variable(Variable),
    Link(LinkTarget<'a>),
    Invalid(&'a str, TemplateError),
}

fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Segment::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push(Segment::Invalid(&rest[open..], TemplateError::Unclosed));
            return out;
        };
        let raw = &rest[open..open + 2 + close + 2];
        out.push(placeholder(raw, after[..close].trim()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

fn placeholder<'a>(raw: &'a str, inner: &'a str) -> Segment<'a> {
    if let Some(target) = inner.strip_prefix("link:") {
        let target = target.trim();
        if let Some(variable) = Variable::parse(target) {
            return Segment::Link(LinkTarget::Variable(variable));
        }
        if is_http_url(target) {
            return Segment::Link(LinkTarget::Url(target));
        }
        return Segment::Invalid(raw, TemplateError::InvalidLink(target.to_owned()));
    }
    match Variable::parse(inner) {
        Some(variable) => Segment::Variable(variable),
        None => Segment::Invalid(raw, TemplateError::UnknownVariable(inner.to_owned())),
    }
}

/// `http://` or `https://` followed by a host and no whitespace.
pub fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// Every problem in `text`, in order; empty when it renders cleanly.
pub fn check(text: &str) -> Vec<TemplateError> {
    segments(text)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Invalid(_, error) => Some(error),
            _ => None,
        })
        .collect()
}

/// The variables `text` reads, in order (link targets included).
pub fn variables(text: &str) -> Vec<Variable> {
    segments(text)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Variable(v) | Segment::Link(LinkTarget::Variable(v)) => Some(v),
            _ => None,
        })
        .collect()
}

/// A URL of the text that was replaced by a tracked one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackedLink {
    pub url: String,
    pub tracked_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rendered {
    pub text: String,
    /// One entry per `{{link:..}}` that had a URL, in order of appearance.
    pub links: Vec<TrackedLink>,
}

/// Renders `text` for `ctx`; `track` maps each link's URL to its tracked URL.
pub fn render(
    text: &str,
    ctx: &RecipientContext,
    track: &mut dyn FnMut(&str) -> String,
) -> Rendered {
    let mut rendered = Rendered::default();
    for segment in segments(text) {
        match segment {
            Segment::Text(t) | Segment::Invalid(t, TemplateError::Unclosed) => {
                rendered.text.push_str(t)
            }
            Segment::Invalid(..) => {}
            Segment::Variable(v) => rendered.text.push_str(&v.render(ctx)),
            Segment::Link(target) => {
                let url = match target {
                    LinkTarget::Url(url) => url.to_owned(),
                    LinkTarget::Variable(v) => v.render(ctx),
                };
                if url.is_empty() {
                    continue;
                }
                let tracked_url = track(&url);
                rendered.text.push_str(&tracked_url);
                rendered.links.push(TrackedLink { url, tracked_url });
            }
        }
    }
    rendered
}

/// Renders with links left as their plain URLs (nothing to track: no person
/// clicks a webhook body).
pub fn render_untracked(text: &str, ctx: &RecipientContext) -> String {
    render(text, ctx, &mut |url| url.to_owned()).text
}

/// Renders a URL template: substituted values are percent-encoded so a
/// customer's name cannot change the URL's structure; the literal parts are
/// kept as written.
pub fn render_url(text: &str, ctx: &RecipientContext) -> String {
    let mut out = String::new();
    for segment in segments(text) {
        match segment {
            Segment::Text(t) | Segment::Invalid(t, TemplateError::Unclosed) => out.push_str(t),
            Segment::Invalid(..) => {}
            Segment::Variable(v) | Segment::Link(LinkTarget::Variable(v)) => {
                percent_encode(&v.render(ctx), &mut out)
            }
            Segment::Link(LinkTarget::Url(url)) => percent_encode(url, &mut out),
        }
    }
    out
}

fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn maria() -> RecipientContext {
        let mut ctx = RecipientContext::new(Uuid::nil(), chrono_tz::America::Sao_Paulo);
        ctx.customer.name = Some("Maria Souza".into());
        ctx.customer.email = Some("maria@example.com".into());
        ctx.enrollment.access_url = Some("https://club.hotmart.com/x".into());
        ctx
    }

    #[test]
    fn renders_variables_and_leaves_missing_values_empty() {
        let ctx = maria();
        let text = "Oi {{customer.first_name}}! ({{ customer.name }}) fone: [{{customer.phone}}]";
        assert!(check(text).is_empty());
        assert_eq!(
            render_untracked(text, &ctx),
            "Oi Maria! (Maria Souza) fone: []"
        );
        assert_eq!(render_untracked("no placeholders", &ctx), "no placeholders");
        assert_eq!(render_untracked("", &ctx), "");
    }

    #[test]
    fn links_are_tracked_through_the_closure() {
        let ctx = maria();
        let text =
            "Acesse {{link:enrollment.access_url}} ou {{link:https://ajuda.example.com/faq?a=1}}.";
        assert!(check(text).is_empty());
        let mut n = 0;
        let rendered = render(text, &ctx, &mut |url| {
            n += 1;
            format!("https://t.example/r/{n}?u={}", url.len())
        });
        assert_eq!(
            rendered.text,
            "Acesse https://t.example/r/1?u=26 ou https://t.example/r/2?u=33."
        );
        assert_eq!(
            rendered.links,
            vec![
                TrackedLink {
                    url: "https://club.hotmart.com/x".into(),
                    tracked_url: "https://t.example/r/1?u=26".into()
                },
                TrackedLink {
                    url: "https://ajuda.example.com/faq?a=1".into(),
                    tracked_url: "https://t.example/r/2?u=33".into()
                },
            ]
        );
    }

    #[test]
    fn a_link_to_a_missing_url_renders_nothing_and_tracks_nothing() {
        let ctx = RecipientContext::new(Uuid::nil(), chrono_tz::UTC);
        let rendered = render("[{{link:enrollment.access_url}}]", &ctx, &mut |_| {
            panic!("nothing to track")
        });
        assert_eq!(rendered.text, "[]");
        assert!(rendered.links.is_empty());
    }

    #[test]
    fn reports_unknown_variables_bad_links_and_unclosed_braces() {
        assert_eq!(
            check("{{customer.password}} {{link:ftp://x}} {{link:}} {{ oops"),
            vec![
                TemplateError::UnknownVariable("customer.password".into()),
                TemplateError::InvalidLink("ftp://x".into()),
                TemplateError::InvalidLink(String::new()),
                TemplateError::Unclosed,
            ]
        );
        assert_eq!(
            check("{{}}"),
            vec![TemplateError::UnknownVariable(String::new())]
        );
        let ctx = maria();
        assert_eq!(render_untracked("a{{nope}}b {{ x", &ctx), "ab {{ x");
    }

    #[test]
    fn lists_the_variables_read() {
        assert_eq!(
            variables("{{customer.firstName}} {{link:enrollment.accessUrl}} {{bad}}"),
            vec![Variable::CustomerFirstName, Variable::EnrollmentAccessUrl]
        );
    }

    #[test]
    fn url_templates_encode_substituted_values() {
        let mut ctx = maria();
        ctx.customer.name = Some("Ana & Bia/?".into());
        assert_eq!(
            render_url(
                "https://h.example/x?n={{customer.name}}&e={{customer.email}}",
                &ctx
            ),
            "https://h.example/x?n=Ana%20%26%20Bia%2F%3F&e=maria%40example.com"
        );
    }

    #[test]
    fn recognises_http_urls() {
        assert!(is_http_url("https://a.b/c"));
        assert!(is_http_url("http://localhost:8080"));
        for bad in ["https://", "https:///x", "ftp://a", "https://a b", "a.com"] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
