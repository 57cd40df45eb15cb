//! Hotmart REST API client (CONTRACTS.md section 2): OAuth2 client
//! credentials with a cached token, a client-side rate limit under Hotmart's
//! 500 calls/minute, retries with exponential backoff, pagination, and
//! lenient typed responses (every field optional, ids as string or number,
//! dates as epoch ms or ISO-8601).
//!
//! Secrets stay out of logs and errors: spans carry the endpoint's path
//! template (never a query string, which can hold an e-mail), transport
//! errors are stripped of their URL (the token request carries the secret in
//! its query), and error descriptions are scrubbed of the token and secret.
//!
//! The parts: `auth` holds the credentials and the OAuth token, `paging` the
//! page requests and list decoding, `model` the filters and payload types,
//! `calls` the endpoints, `limiter` the client-side rate limit and `lenient`
//! the forgiving deserializers. This file holds the client, its options and
//! errors, and the retrying `call` every endpoint goes through.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::Instrument;

mod auth;
mod calls;
mod lenient;
mod limiter;
mod model;
mod paging;

pub use auth::HotmartCredentials;
pub use model::{
    ClubLesson, ClubModule, ClubPage, ClubProgress, ClubUser, Person, Price, ProductRef,
    SALE_STATUSES, SUBSCRIPTION_STATUSES, Sale, SaleOffer, SalePayment, SalePurchase, SaleTracking,
    SalesHistoryFilter, Subscription, SubscriptionFilter, SubscriptionPlan,
};
pub use paging::{Collected, MAX_RESULTS_LIMIT, Page, PageInfo, PageLimits, PageRequest};

use auth::{CachedToken, TOKEN_PATH};
use limiter::RateLimiter;

/// Longest error description kept from a Hotmart answer.
const MAX_DESCRIPTION_CHARS: usize = 300;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Timeouts, rate limit and retry budget. The defaults suit production;
/// tests shorten the backoff.
#[derive(Debug, Clone, PartialEq)]
pub struct HotmartClientOptions {
    /// Whole-request timeout. Hotmart answers 502 after 30 s of query time.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Sustained calls per minute, shared by every clone of the client.
    pub calls_per_minute: u32,
    /// Calls allowed back to back; `burst + calls_per_minute` stays under 500
    /// so no sliding minute can exceed Hotmart's limit.
    pub burst: u32,
    /// Attempts (not retries) when Hotmart answers 429.
    pub rate_limit_attempts: u32,
    /// Attempts (not retries) on 5xx answers and connection failures.
    pub server_error_attempts: u32,
    /// First backoff delay; doubles on each further attempt.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A token is renewed this long before it expires (at most half its life).
    pub token_refresh_margin: Duration,
}

impl Default for HotmartClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(40),
            connect_timeout: Duration::from_secs(10),
            calls_per_minute: 450,
            burst: 45,
            rate_limit_attempts: 5,
            server_error_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            token_refresh_margin: Duration::from_secs(300),
        }
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What can go wrong talking to Hotmart. Messages never carry tokens or
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HotmartError {
    #[error("Hotmart rejected the credentials or the access token")]
    Unauthorized,
    #[error("Hotmart refused access to this resource")]
    Forbidden,
    #[error("not found on Hotmart")]
    NotFound,
    #[error("Hotmart rejected a parameter: {0}")]
    InvalidParameter(String),
    #[error("Hotmart kept answering 429 Too Many Requests")]
    RateLimited,
    #[error("Hotmart answered HTTP {0}")]
    Server(u16),
    #[error("Hotmart answered an unexpected HTTP {0}")]
    UnexpectedStatus(u16),
    #[error("could not reach Hotmart: {0}")]
    Transport(String),
    #[error("could not read Hotmart's answer: {0}")]
    Decode(String),
    #[error("no Hotmart Club subdomain is configured")]
    MissingClubSubdomain,
    #[error("the Hotmart client could not be built: {0}")]
    Config(String),
}

impl HotmartError {
    /// Whether trying again later may succeed (a job should retry).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Server(_) | Self::Transport(_)
        )
    }
}

pub type Result<T, E = HotmartError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// A Hotmart API client for one account. Cheap to clone: clones share the
/// connection pool, the cached token and the rate limiter.
#[derive(Clone)]
pub struct HotmartClient {
    shared: Arc<Shared>,
    club_subdomain: Option<String>,
}

impl fmt::Debug for HotmartClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotmartClient")
            .field("client_id", &self.shared.credentials.client_id)
            .field("base_url", &self.shared.base_url)
            .field("club_subdomain", &self.club_subdomain)
            .finish_non_exhaustive()
    }
}

impl HotmartClient {
    pub fn new(credentials: HotmartCredentials) -> Result<Self> {
        Self::with_options(credentials, HotmartClientOptions::default())
    }

    pub fn with_options(
        credentials: HotmartCredentials,
        options: HotmartClientOptions,
    ) -> Result<Self> {
        if credentials.client_id.is_empty() || credentials.client_secret.is_empty() {
            return Err(HotmartError::Config(
                "client id and client secret are required".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("jornada/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HotmartError::Config(e.without_url().to_string()))?;
        let club_subdomain = credentials.club_subdomain.clone().filter(|s| !s.is_empty());
        let shared = Shared {
            http,
            base_url: credentials.base_url.trim_end_matches('/').to_owned(),
            token_url: format!("{}{TOKEN_PATH}", credentials.auth_url.trim_end_matches('/')),
            limiter: RateLimiter::new(options.calls_per_minute, options.burst),
            token: Mutex::new(None),
            credentials,
            options,
        };
        Ok(Self {
            shared: Arc::new(shared),
            club_subdomain,
        })
    }

    /// The same account (token, rate limit) for another Club subdomain:
    /// one account can sell several products, each with its members area.
    pub fn for_club_subdomain(&self, subdomain: impl Into<String>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            club_subdomain: Some(subdomain.into()),
        }
    }

    pub fn club_subdomain(&self) -> Option<&str> {
        self.club_subdomain.as_deref()
    }

    /// Fetches a token now unless a valid one is cached: checks credentials.
    pub async fn authenticate(&self) -> Result<()> {
        self.shared.access_token().await.map(drop)
    }

    // -- Plumbing -------------------------------------------------------------

    /// One resource call: bearer token, rate limit, retries, and one
    /// re-authentication when Hotmart says the token expired.
    async fn call(
        &self,
        method: Method,
        template: &'static str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Answer> {
        let span = tracing::info_span!(
            "hotmart.request",
            endpoint = template,
            method = %method,
            status = tracing::field::Empty,
        );
        let shared = &self.shared;
        let url = format!("{}{path}", shared.base_url);
        let idempotent = method == Method::GET;
        async move {
            let mut reauthenticated = false;
            loop {
                let token = shared.access_token().await?;
                let answer = shared
                    .execute(idempotent, true, || {
                        let request = shared
                            .http
                            .request(method.clone(), &url)
                            .bearer_auth(&token)
                            .query(query);
                        match body {
                            Some(body) => request.json(body),
                            None => request,
                        }
                    })
                    .await?;
                tracing::Span::current().record("status", answer.status.as_u16());
                if answer.status.is_success() {
                    return Ok(answer);
                }
                let reason = ErrorBody::parse(&answer.body);
                if answer.status == StatusCode::UNAUTHORIZED
                    && !reauthenticated
                    && reason.is_token_rejection()
                {
                    reauthenticated = true;
                    tracing::info!("Hotmart rejected the access token; authenticating again");
                    shared.replace_rejected_token(&token).await?;
                    continue;
                }
                let error = shared.classify(answer.status, &reason, &token);
                // A 404 can be an ordinary answer; the caller decides.
                if error == HotmartError::NotFound {
                    tracing::debug!(%error, "Hotmart call failed");
                } else {
                    tracing::warn!(%error, "Hotmart call failed");
                }
                return Err(error);
            }
        }
        .instrument(span)
        .await
    }
}

struct Shared {
    http: reqwest::Client,
    credentials: HotmartCredentials,
    options: HotmartClientOptions,
    base_url: String,
    token_url: String,
    limiter: RateLimiter,
    /// Held across a refresh, so concurrent callers share one token request.
    token: Mutex<Option<CachedToken>>,
}

/// A finished HTTP exchange, its body read.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Shared {
    /// Sends the request `build` makes, retrying 429s (honouring
    /// `RateLimit-Reset`), 5xx answers and connection failures with
    /// exponential backoff. Any other answer is returned as it is.
    async fn execute(
        &self,
        idempotent: bool,
        rate_limited: bool,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer> {
        let options = &self.options;
        let mut throttled = 0;
        let mut failed = 0;
        loop {
            if rate_limited {
                self.limiter.acquire().await;
            }
            let response = match build().send().await {
                Ok(response) => response,
                Err(error) => {
                    let error = error.without_url();
                    // A timed-out write may have been applied: only reads
                    // are retried then.
                    let retry = error.is_connect() || (idempotent && error.is_timeout());
                    failed += 1;
                    if retry && failed < options.server_error_attempts {
                        let delay = self.backoff(failed);
                        tracing::warn!(%error, attempt = failed, ?delay, "Hotmart unreachable; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(HotmartError::Transport(error.to_string()));
                }
            };
            let status = response.status();
            let reset = rate_limit_reset(response.headers());
            let body = response
                .bytes()
                .await
                .map_err(|e| HotmartError::Transport(e.without_url().to_string()))?
                .to_vec();
            if status == StatusCode::TOO_MANY_REQUESTS {
                throttled += 1;
                if throttled >= options.rate_limit_attempts {
                    return Err(HotmartError::RateLimited);
                }
                let delay = reset
                    .filter(|d| !d.is_zero())
                    .unwrap_or_else(|| self.backoff(throttled))
                    .min(options.max_backoff);
                if rate_limited {
                    // Every clone waits, not only this caller.
                    self.limiter.pause_for(delay);
                }
                tracing::warn!(
                    attempt = throttled,
                    ?delay,
                    "Hotmart answered 429; backing off"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            if status.is_server_error() {
                failed += 1;
                if failed >= options.server_error_attempts {
                    return Err(HotmartError::Server(status.as_u16()));
                }
                let delay = self.backoff(failed);
                tracing::warn!(
                    status = status.as_u16(),
                    attempt = failed,
                    ?delay,
                    "Hotmart server error; retrying"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            return Ok(Answer { status, body });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.options
            .initial_backoff
            .saturating_mul(factor)
            .min(self.options.max_backoff)
    }

    /// The error for a non-2xx answer that is not retried.
    fn classify(&self, status: StatusCode, reason: &ErrorBody, token: &str) -> HotmartError {
        match status {
            StatusCode::UNAUTHORIZED => HotmartError::Unauthorized,
            StatusCode::FORBIDDEN => HotmartError::Forbidden,
            StatusCode::NOT_FOUND => HotmartError::NotFound,
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                HotmartError::InvalidParameter(self.scrub(&reason.describe(), token))
            }
            status => HotmartError::UnexpectedStatus(status.as_u16()),
        }
    }

    /// Keeps secrets out of text Hotmart sent back, and bounds its length.
    fn scrub(&self, text: &str, token: &str) -> String {
        let mut text = text.to_owned();
        for secret in [token, self.credentials.client_secret.as_str()] {
            if !secret.is_empty() {
                text = text.replace(secret, "[redacted]");
            }
        }
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            text = text.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>() + "…";
        }
        text
    }
}

fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get("ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Hotmart's error body: `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default, deserialize_with = "lenient::string")]
    error: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    error_description: Option<String>,
}

impl ErrorBody {
    fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn is_token_rejection(&self) -> bool {
        matches!(
            self.error.as_deref(),
            Some("token_expired" | "invalid_token")
        )
    }

    fn describe(&self) -> String {
        match (&self.error, &self.error_description) {
            (Some(error), Some(description)) => format!("{error}: {description}"),
            (Some(text), None) | (None, Some(text)) => text.clone(),
            (None, None) => "no description".into(),
        }
    }
}
