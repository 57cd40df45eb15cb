//! Credentials and the OAuth2 token: fetched with the client credentials
//! grant, cached, shared by every clone of the client, and renewed before it
//! expires or when Hotmart rejects it.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::Instrument;

use super::{HotmartError, Result, Shared, lenient};

pub(super) const TOKEN_PATH: &str = "/security/oauth/token";
/// Used when the token response omits `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// One Hotmart account's API credentials and where its servers are.
#[derive(Clone, PartialEq, Eq)]
pub struct HotmartCredentials {
    pub client_id: String,
    pub client_secret: String,
    /// The API host, e.g. `https://developers.hotmart.com`.
    pub base_url: String,
    /// The OAuth2 server, e.g. `https://api-sec-vlc.hotmart.com`.
    pub auth_url: String,
    /// The members area (Club) subdomain the Club calls are about.
    pub club_subdomain: Option<String>,
}

impl HotmartCredentials {
    pub const DEFAULT_BASE_URL: &'static str = "https://developers.hotmart.com";
    pub const DEFAULT_AUTH_URL: &'static str = "https://api-sec-vlc.hotmart.com";

    /// Credentials for Hotmart's production hosts.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            base_url: Self::DEFAULT_BASE_URL.into(),
            auth_url: Self::DEFAULT_AUTH_URL.into(),
            club_subdomain: None,
        }
    }
}

impl fmt::Debug for HotmartCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotmartCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("auth_url", &self.auth_url)
            .field("club_subdomain", &self.club_subdomain)
            .finish()
    }
}

pub(super) struct CachedToken {
    value: String,
    renew_at: Instant,
}

#[derive(Debug, Default, Deserialize)]
struct TokenResponse {
    #[serde(default, deserialize_with = "lenient::string")]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::u64")]
    expires_in: Option<u64>,
}

impl Shared {
    pub(super) async fn access_token(&self) -> Result<String> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.renew_at > Instant::now()) {
            return Ok(token.value.clone());
        }
        let token = self.request_token().await?;
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    /// Replaces `rejected` unless another caller already did.
    pub(super) async fn replace_rejected_token(&self, rejected: &str) -> Result<()> {
        let mut slot = self.token.lock().await;
        let replaced = slot
            .as_ref()
            .is_some_and(|t| t.value != rejected && t.renew_at > Instant::now());
        if !replaced {
            *slot = None;
            *slot = Some(self.request_token().await?);
        }
        Ok(())
    }

    async fn request_token(&self) -> Result<CachedToken> {
        let span = tracing::info_span!(
            "hotmart.request",
            endpoint = TOKEN_PATH,
            method = "POST",
            status = tracing::field::Empty,
        );
        async {
            let credentials = &self.credentials;
            let basic = BASE64.encode(format!(
                "{}:{}",
                credentials.client_id, credentials.client_secret
            ));
            let query = [
                ("grant_type", "client_credentials"),
                ("client_id", credentials.client_id.as_str()),
                ("client_secret", credentials.client_secret.as_str()),
            ];
            // The auth server is another host: its calls stay outside the
            // API's rate limit. Asking twice for a token is harmless, so it
            // is retried like a read.
            let answer = self
                .execute(true, false, || {
                    self.http
                        .post(&self.token_url)
                        .query(&query)
                        .header(AUTHORIZATION, format!("Basic {basic}"))
                })
                .await?;
            tracing::Span::current().record("status", answer.status.as_u16());
            match answer.status {
                status if status.is_success() => {}
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    tracing::warn!("Hotmart rejected the client credentials");
                    return Err(HotmartError::Unauthorized);
                }
                status => return Err(HotmartError::UnexpectedStatus(status.as_u16())),
            }
            let response: TokenResponse = serde_json::from_slice(&answer.body)
                .map_err(|e| HotmartError::Decode(format!("token response: {e}")))?;
            let value = response
                .access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    HotmartError::Decode("token response without access_token".into())
                })?;
            let lifetime = response
                .expires_in
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TOKEN_LIFETIME);
            let margin = self.options.token_refresh_margin.min(lifetime / 2);
            tracing::debug!(
                expires_in = lifetime.as_secs(),
                "Hotmart access token issued"
            );
            Ok(CachedToken {
                value,
                renew_at: Instant::now() + (lifetime - margin),
            })
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_secret() {
        let credentials = HotmartCredentials::new("id-123", "s3cr3t-value");
        let printed = format!("{credentials:?}");
        assert!(printed.contains("id-123"));
        assert!(!printed.contains("s3cr3t-value"));
    }
}
