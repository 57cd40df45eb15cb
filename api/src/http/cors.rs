//! Cross-origin access for browser front ends (the React campaign builder
//! and queue screens) served from another origin than the API.
//!
//! Only the origins configured (`JORNADA_CORS_ORIGINS`) are allowed; with
//! none, responses carry no CORS headers at all. Callers authenticate with
//! a bearer token, never a cookie, so credentials are not allowed.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<HeaderValue>);

impl AllowedOrigins {
    /// Reads a comma-separated list of origins such as
    /// `https://app.example.com, http://localhost:5173`. Each must be a
    /// scheme and a host (and port), without a path; blanks are skipped.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = origin.strip_suffix('/').unwrap_or(origin);
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .filter(|host| {
                    !host.is_empty() && !host.contains(['/', '?', '#', '*', ' ', '@'])
                })
                .ok_or_else(|| {
                    format!(
                        "`{origin}` is not an origin such as https://app.example.com (scheme and host, no path, no wildcard)"
                    )
                })?;
            let value = HeaderValue::from_str(&format!(
                "{}{}",
                &origin[..origin.len() - host.len()],
                host.to_ascii_lowercase()
            ))
            .map_err(|_| format!("`{origin}` is not a valid origin"))?;
            if !origins.contains(&value) {
                origins.push(value);
            }
        }
        Ok(AllowedOrigins(origins))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `router`, answering preflights and adding CORS headers for `origins`;
/// unchanged when there are none.
pub fn with_cors(router: Router, origins: &AllowedOrigins) -> Router {
    if origins.is_empty() {
        return router;
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.0.iter().cloned()))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_from_a_comma_separated_list() {
        let origins =
            AllowedOrigins::parse(" https://App.Example.com/, http://localhost:5173,,").unwrap();
        assert_eq!(
            origins.0,
            vec![
                HeaderValue::from_static("https://app.example.com"),
                HeaderValue::from_static("http://localhost:5173"),
            ]
        );
        assert!(AllowedOrigins::parse("").unwrap().is_empty());
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/builder",
            "https://*.example.com",
            "ftp://example.com",
            "https://",
        ] {
            assert!(AllowedOrigins::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
