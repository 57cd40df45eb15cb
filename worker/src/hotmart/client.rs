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

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::Instrument;

/// Hotmart's page size limit for `max_results`.
pub const MAX_RESULTS_LIMIT: u32 = 500;

/// Every purchase status Hotmart documents. The sales history returns only
/// some statuses unless told otherwise, so a full sync passes all of them.
pub const SALE_STATUSES: &[&str] = &[
    "APPROVED",
    "BLOCKED",
    "CANCELLED",
    "CHARGEBACK",
    "COMPLETE",
    "EXPIRED",
    "NO_FUNDS",
    "OVERDUE",
    "PARTIALLY_REFUNDED",
    "PRE_ORDER",
    "PRINTED_BILLET",
    "PROCESSING_TRANSACTION",
    "PROTESTED",
    "REFUNDED",
    "STARTED",
    "UNDER_ANALISYS",
    "WAITING_PAYMENT",
];

/// Every subscription status Hotmart documents (REST spelling).
pub const SUBSCRIPTION_STATUSES: &[&str] = &[
    "ACTIVE",
    "INACTIVE",
    "DELAYED",
    "OVERDUE",
    "STARTED",
    "EXPIRED",
    "CANCELLED_BY_CUSTOMER",
    "CANCELLED_BY_SELLER",
    "CANCELLED_BY_ADMIN",
];

const TOKEN_PATH: &str = "/security/oauth/token";
const SALES_HISTORY: &str = "/payments/api/v1/sales/history";
const SUBSCRIPTIONS: &str = "/payments/api/v1/subscriptions";
const SUBSCRIPTION_CANCEL: &str = "/payments/api/v1/subscriptions/{subscriber_code}/cancel";
const SUBSCRIPTION_REACTIVATE: &str = "/payments/api/v1/subscriptions/{subscriber_code}/reactivate";
const CLUB_USERS: &str = "/club/api/v1/users";
const CLUB_USER_LESSONS: &str = "/club/api/v1/users/{user_id}/lessons";
const CLUB_MODULES: &str = "/club/api/v1/modules";
const CLUB_MODULE_PAGES: &str = "/club/api/v1/modules/{module_id}/pages";

/// Used when the token response omits `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest error description kept from a Hotmart answer.
const MAX_DESCRIPTION_CHARS: usize = 300;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

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
// Pagination
// ---------------------------------------------------------------------------

/// Which page to ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, clamped to 1..=500; Hotmart's default when `None`.
    pub max_results: Option<u32>,
    /// `next_page_token` of the previous page; `None` for the first page.
    pub page_token: Option<String>,
}

impl PageRequest {
    pub fn first(max_results: u32) -> Self {
        Self {
            max_results: Some(max_results),
            page_token: None,
        }
    }

    fn query(&self, query: &mut Vec<(String, String)>) {
        if let Some(max) = self.max_results {
            push(query, "max_results", max.clamp(1, MAX_RESULTS_LIMIT));
        }
        if let Some(token) = &self.page_token {
            push(query, "page_token", token);
        }
    }
}

/// How far a collect-all helper goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Page size, clamped to 1..=500.
    pub max_results: u32,
    /// Pages fetched at most; beyond, the result is marked incomplete.
    pub max_pages: usize,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self {
            max_results: MAX_RESULTS_LIMIT,
            max_pages: 200,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageInfo {
    #[serde(default, deserialize_with = "lenient::u64")]
    pub total_results: Option<u64>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub next_page_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub prev_page_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub results_per_page: Option<u64>,
}

/// One page of a list endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page_info: Option<PageInfo>,
}

impl<T> Page<T> {
    /// The token for the next page; `None` on the last page.
    pub fn next_page_token(&self) -> Option<&str> {
        self.page_info
            .as_ref()
            .and_then(|info| info.next_page_token.as_deref())
            .filter(|token| !token.is_empty())
    }
}

/// Every item a collect-all helper gathered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collected<T> {
    pub items: Vec<T>,
    pub pages: usize,
    /// False when the page cap stopped the walk before the last page.
    pub complete: bool,
}

// ---------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------

/// Filters of `GET /payments/api/v1/sales/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesHistoryFilter {
    /// Sent as repeated `transaction_status` keys; see [`SALE_STATUSES`].
    pub transaction_status: Vec<String>,
    pub product_id: Option<String>,
    pub transaction: Option<String>,
    pub buyer_email: Option<String>,
    pub offer_code: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Further query parameters, sent as given.
    pub extra: Vec<(String, String)>,
}

impl SalesHistoryFilter {
    fn query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        for status in &self.transaction_status {
            push(&mut query, "transaction_status", status);
        }
        push_opt(&mut query, "product_id", &self.product_id);
        push_opt(&mut query, "transaction", &self.transaction);
        push_opt(&mut query, "buyer_email", &self.buyer_email);
        push_opt(&mut query, "offer_code", &self.offer_code);
        push_date(&mut query, "start_date", self.start_date);
        push_date(&mut query, "end_date", self.end_date);
        query.extend(self.extra.iter().cloned());
        query
    }
}

/// Filters of `GET /payments/api/v1/subscriptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// Sent as repeated `status` keys; see [`SUBSCRIPTION_STATUSES`].
    pub status: Vec<String>,
    pub product_id: Option<String>,
    pub subscriber_code: Option<String>,
    pub subscriber_email: Option<String>,
    /// Subscriptions started from (`accession_date`)...
    pub accession_date: Option<DateTime<Utc>>,
    /// ...until (`end_accession_date`).
    pub end_accession_date: Option<DateTime<Utc>>,
    /// Further query parameters (other date ranges), sent as given.
    pub extra: Vec<(String, String)>,
}

impl SubscriptionFilter {
    fn query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        for status in &self.status {
            push(&mut query, "status", status);
        }
        push_opt(&mut query, "product_id", &self.product_id);
        push_opt(&mut query, "subscriber_code", &self.subscriber_code);
        push_opt(&mut query, "subscriber_email", &self.subscriber_email);
        push_date(&mut query, "accession_date", self.accession_date);
        push_date(&mut query, "end_accession_date", self.end_accession_date);
        query.extend(self.extra.iter().cloned());
        query
    }
}

fn push(query: &mut Vec<(String, String)>, key: &str, value: impl ToString) {
    query.push((key.to_owned(), value.to_string()));
}

fn push_opt(query: &mut Vec<(String, String)>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        push(query, key, value);
    }
}

fn push_date(query: &mut Vec<(String, String)>, key: &str, value: Option<DateTime<Utc>>) {
    if let Some(value) = value {
        push(query, key, value.timestamp_millis());
    }
}

// ---------------------------------------------------------------------------
// Response types (REST spelling: `recurrency_number`, `currency_code`)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    #[serde(default, deserialize_with = "lenient::decimal")]
    pub value: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductRef {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub ucode: Option<String>,
}

/// A buyer, producer or subscriber.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub ucode: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalePayment {
    #[serde(default, deserialize_with = "lenient::string")]
    pub method: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub payment_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub installments_number: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SaleTracking {
    #[serde(default, deserialize_with = "lenient::string")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub source_sck: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub external_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SaleOffer {
    #[serde(default, deserialize_with = "lenient::string")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub payment_mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalePurchase {
    #[serde(default, deserialize_with = "lenient::string")]
    pub transaction: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub order_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub approved_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    /// 1 = first charge, >1 = renewal.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub recurrency_number: Option<u32>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_subscription: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub commission_as: Option<String>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub price: Option<Price>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub payment: Option<SalePayment>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub tracking: Option<SaleTracking>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub warranty_expire_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub offer: Option<SaleOffer>,
    /// Kept as Hotmart sent it.
    #[serde(default)]
    pub hotmart_fee: Option<Value>,
}

/// An item of the sales history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sale {
    #[serde(default, deserialize_with = "lenient::nested")]
    pub product: Option<ProductRef>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub buyer: Option<Person>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub producer: Option<Person>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub purchase: Option<SalePurchase>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionPlan {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    /// Days between charges.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub recurrency_period: Option<u32>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub max_charge_cycles: Option<u32>,
}

/// An item of the subscriptions list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(default, deserialize_with = "lenient::string")]
    pub subscriber_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub subscription_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub accession_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub end_accession_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub request_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub date_next_charge: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub trial: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub transaction: Option<String>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub plan: Option<SubscriptionPlan>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub product: Option<ProductRef>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub price: Option<Price>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub subscriber: Option<Person>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubProgress {
    #[serde(default, deserialize_with = "lenient::u32")]
    pub total: Option<u32>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub completed: Option<u32>,
    #[serde(default, deserialize_with = "lenient::f64")]
    pub completed_percentage: Option<f64>,
}

/// A member of the Club (members area).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubUser {
    #[serde(default, deserialize_with = "lenient::string")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub first_access_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub last_access_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub purchase_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub access_count: Option<u64>,
    /// LOW, MEDIUM or HIGH.
    #[serde(default, deserialize_with = "lenient::string")]
    pub engagement: Option<String>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub progress: Option<ClubProgress>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub locale: Option<String>,
}

/// A lesson (page) as one user's progress lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubLesson {
    #[serde(default, deserialize_with = "lenient::string")]
    pub page_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub page_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub module_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_module_extra: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_completed: Option<bool>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub completed_date: Option<DateTime<Utc>>,
}

/// A Club module. The shape is not documented in CONTRACTS.md: lenient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubModule {
    #[serde(default, alias = "id", deserialize_with = "lenient::string")]
    pub module_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub sequence: Option<u32>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_extra: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_public: Option<bool>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub total_pages: Option<u32>,
}

/// A page (lesson) of a Club module. The shape is not documented in
/// CONTRACTS.md: lenient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubPage {
    #[serde(default, alias = "id", deserialize_with = "lenient::string")]
    pub page_id: Option<String>,
    #[serde(default, alias = "page_name", deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub sequence: Option<u32>,
    #[serde(default, alias = "type", deserialize_with = "lenient::string")]
    pub page_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_published: Option<bool>,
}

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

    // -- Sales --------------------------------------------------------------

    pub async fn sales_history_page(
        &self,
        filter: &SalesHistoryFilter,
        page: &PageRequest,
    ) -> Result<Page<Sale>> {
        let mut query = filter.query();
        page.query(&mut query);
        let answer = self
            .call(Method::GET, SALES_HISTORY, SALES_HISTORY, &query, None)
            .await?;
        decode_page(&answer.body)
    }

    /// Every sale matching `filter`, following `next_page_token`.
    pub async fn sales_history(
        &self,
        filter: &SalesHistoryFilter,
        limits: PageLimits,
    ) -> Result<Collected<Sale>> {
        collect_pages(limits, |page| async move {
            self.sales_history_page(filter, &page).await
        })
        .await
    }

    // -- Subscriptions ------------------------------------------------------

    pub async fn subscriptions_page(
        &self,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let mut query = filter.query();
        page.query(&mut query);
        let answer = self
            .call(Method::GET, SUBSCRIPTIONS, SUBSCRIPTIONS, &query, None)
            .await?;
        decode_page(&answer.body)
    }

    /// Every subscription matching `filter`, following `next_page_token`.
    pub async fn subscriptions(
        &self,
        filter: &SubscriptionFilter,
        limits: PageLimits,
    ) -> Result<Collected<Subscription>> {
        collect_pages(limits, |page| async move {
            self.subscriptions_page(filter, &page).await
        })
        .await
    }

    /// Cancels a subscription; `send_mail` tells Hotmart to e-mail the
    /// subscriber. Any 2xx is success (the answer's body is undocumented).
    pub async fn cancel_subscription(&self, subscriber_code: &str, send_mail: bool) -> Result<()> {
        let path = format!("{SUBSCRIPTIONS}/{}/cancel", encode_segment(subscriber_code));
        let body = json!({ "send_mail": send_mail });
        self.call(Method::POST, SUBSCRIPTION_CANCEL, &path, &[], Some(&body))
            .await
            .map(drop)
    }

    /// Reactivates a cancelled subscription; `charge` bills it right away.
    /// Any 2xx is success (the answer's body is undocumented).
    pub async fn reactivate_subscription(&self, subscriber_code: &str, charge: bool) -> Result<()> {
        let path = format!(
            "{SUBSCRIPTIONS}/{}/reactivate",
            encode_segment(subscriber_code)
        );
        let body = json!({ "charge": charge });
        self.call(
            Method::POST,
            SUBSCRIPTION_REACTIVATE,
            &path,
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    // -- Club (members area) --------------------------------------------------

    /// One page of the Club's members, optionally only the one with `email`.
    pub async fn club_users_page(
        &self,
        email: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ClubUser>> {
        let mut query = self.club_query()?;
        if let Some(email) = email {
            push(&mut query, "email", email);
        }
        page.query(&mut query);
        let answer = self
            .call(Method::GET, CLUB_USERS, CLUB_USERS, &query, None)
            .await?;
        decode_page(&answer.body)
    }

    /// Every Club member, following `next_page_token`.
    pub async fn club_users(&self, limits: PageLimits) -> Result<Collected<ClubUser>> {
        collect_pages(limits, |page| async move {
            self.club_users_page(None, &page).await
        })
        .await
    }

    /// The Club member with this e-mail, if any.
    pub async fn club_user_by_email(&self, email: &str) -> Result<Option<ClubUser>> {
        let page = self
            .club_users_page(Some(email), &PageRequest::default())
            .await?;
        Ok(page.items.into_iter().find(|user| {
            user.email
                .as_deref()
                .is_none_or(|found| found.eq_ignore_ascii_case(email))
        }))
    }

    /// One member's lessons and whether each is completed. Hotmart may
    /// answer 204 or an empty body: that is an empty list.
    pub async fn club_user_lessons(&self, user_id: &str) -> Result<Vec<ClubLesson>> {
        let query = self.club_query()?;
        let path = format!("{CLUB_USERS}/{}/lessons", encode_segment(user_id));
        let answer = self
            .call(Method::GET, CLUB_USER_LESSONS, &path, &query, None)
            .await?;
        decode_list(&answer.body, "lessons")
    }

    pub async fn club_modules(&self) -> Result<Vec<ClubModule>> {
        let query = self.club_query()?;
        let answer = self
            .call(Method::GET, CLUB_MODULES, CLUB_MODULES, &query, None)
            .await?;
        decode_list(&answer.body, "modules")
    }

    pub async fn club_module_pages(&self, module_id: &str) -> Result<Vec<ClubPage>> {
        let query = self.club_query()?;
        let path = format!("{CLUB_MODULES}/{}/pages", encode_segment(module_id));
        let answer = self
            .call(Method::GET, CLUB_MODULE_PAGES, &path, &query, None)
            .await?;
        decode_list(&answer.body, "pages")
    }

    fn club_query(&self) -> Result<Vec<(String, String)>> {
        let subdomain = self
            .club_subdomain
            .as_deref()
            .ok_or(HotmartError::MissingClubSubdomain)?;
        Ok(vec![("subdomain".to_owned(), subdomain.to_owned())])
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

/// Walks pages until `next_page_token` is absent or the cap is reached.
async fn collect_pages<T, F, Fut>(limits: PageLimits, mut fetch: F) -> Result<Collected<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut collected = Collected {
        items: Vec::new(),
        pages: 0,
        complete: false,
    };
    let mut request = PageRequest::first(limits.max_results);
    while collected.pages < limits.max_pages {
        let page = fetch(request.clone()).await?;
        collected.pages += 1;
        let next = page.next_page_token().map(str::to_owned);
        collected.items.extend(page.items);
        match next {
            None => {
                collected.complete = true;
                break;
            }
            Some(next) if request.page_token.as_deref() == Some(next.as_str()) => {
                return Err(HotmartError::Decode(
                    "pagination did not advance (same next_page_token twice)".into(),
                ));
            }
            Some(next) => request.page_token = Some(next),
        }
    }
    if !collected.complete {
        tracing::warn!(
            pages = collected.pages,
            "Hotmart pagination stopped at the page cap"
        );
    }
    Ok(collected)
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

struct CachedToken {
    value: String,
    renew_at: Instant,
}

/// A finished HTTP exchange, its body read.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

#[derive(Debug, Default, Deserialize)]
struct TokenResponse {
    #[serde(default, deserialize_with = "lenient::string")]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::u64")]
    expires_in: Option<u64>,
}

impl Shared {
    async fn access_token(&self) -> Result<String> {
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
    async fn replace_rejected_token(&self, rejected: &str) -> Result<()> {
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

/// A paged answer: `{"items", "page_info"}`, a bare array, or nothing.
fn decode_page<T: DeserializeOwned>(body: &[u8]) -> Result<Page<T>> {
    #[derive(Deserialize)]
    #[serde(bound(deserialize = "T: DeserializeOwned"))]
    struct Wire<T> {
        #[serde(default = "Vec::new", deserialize_with = "lenient::list")]
        items: Vec<T>,
        #[serde(default, deserialize_with = "lenient::nested")]
        page_info: Option<PageInfo>,
    }
    let value = parse_body(body)?;
    if value.is_null() {
        return Ok(Page {
            items: Vec::new(),
            page_info: None,
        });
    }
    if value.is_array() {
        let items = serde_json::from_value(value).map_err(decode_error)?;
        return Ok(Page {
            items,
            page_info: None,
        });
    }
    let wire: Wire<T> = serde_json::from_value(value).map_err(decode_error)?;
    Ok(Page {
        items: wire.items,
        page_info: wire.page_info,
    })
}

/// An unpaged list: a bare array, `{key: [...]}`, `{"items": [...]}`, or
/// nothing (204 or an empty body).
fn decode_list<T: DeserializeOwned>(body: &[u8], key: &str) -> Result<Vec<T>> {
    let value = match parse_body(body)? {
        Value::Object(mut object) => object
            .remove(key)
            .or_else(|| object.remove("items"))
            .unwrap_or(Value::Null),
        value => value,
    };
    match value {
        Value::Null => Ok(Vec::new()),
        value @ Value::Array(_) => serde_json::from_value(value).map_err(decode_error),
        _ => Err(HotmartError::Decode(format!("expected a list of {key}"))),
    }
}

fn parse_body(body: &[u8]) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(decode_error)
}

fn decode_error(error: serde_json::Error) -> HotmartError {
    HotmartError::Decode(error.to_string())
}

/// Percent-encodes one path segment (ids come from Hotmart, but a path must
/// never be steerable by data).
fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

// ---------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------

/// A token bucket: `burst` calls at once, then `calls_per_minute` spread
/// evenly. Callers reserve a slot (the balance may go negative) and sleep
/// until it is theirs, so waiting callers are served in order.
struct RateLimiter {
    per_second: f64,
    capacity: f64,
    bucket: StdMutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    fn new(calls_per_minute: u32, burst: u32) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            per_second: f64::from(calls_per_minute.max(1)) / 60.0,
            capacity,
            bucket: StdMutex::new(Bucket {
                tokens: capacity,
                updated: Instant::now(),
                paused_until: None,
            }),
        }
    }

    async fn acquire(&self) {
        let wait = {
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
            bucket.updated = now;
            bucket.tokens -= 1.0;
            let mut wait = if bucket.tokens < 0.0 {
                Duration::from_secs_f64(-bucket.tokens / self.per_second)
            } else {
                Duration::ZERO
            };
            if let Some(until) = bucket.paused_until {
                wait = wait.max(until.saturating_duration_since(now));
            }
            wait
        };
        if !wait.is_zero() {
            tracing::debug!(?wait, "waiting for the Hotmart rate limit");
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every caller back for `delay` (after a 429).
    fn pause_for(&self, delay: Duration) {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let until = Instant::now() + delay;
        bucket.paused_until = Some(bucket.paused_until.map_or(until, |p| p.max(until)));
    }
}

// ---------------------------------------------------------------------------
// Lenient deserializers: a field of an unexpected type becomes `None`
// instead of failing the whole page.
// ---------------------------------------------------------------------------

mod lenient {
    use super::*;
    use serde::Deserializer;

    fn value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
        Option::<Value>::deserialize(deserializer)
    }

    /// Strings, numbers and booleans as text (ids come both ways).
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match value(d)? {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        })
    }

    fn number(value: Option<Value>) -> Option<f64> {
        match value? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn integer(value: Option<Value>) -> Option<i64> {
        match value? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => {
                let s = s.trim();
                s.parse()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
            }
            _ => None,
        }
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(integer(value(d)?).and_then(|n| n.try_into().ok()))
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Ok(integer(value(d)?).and_then(|n| n.try_into().ok()))
    }

    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(number(value(d)?).filter(|f| f.is_finite()))
    }

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match value(d)? {
            Some(Value::Bool(b)) => Some(b),
            Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        })
    }

    /// Money: kept exact, from a number or a numeric string.
    pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let text = match value(d)? {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.trim().to_owned(),
            _ => return Ok(None),
        };
        Ok(Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .ok())
    }

    /// Epoch milliseconds (number or string), or ISO-8601. Values too small
    /// to be milliseconds of this era are taken as seconds.
    pub fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let value = value(d)?;
        if let Some(Value::String(s)) = &value {
            let s = s.trim();
            if let Ok(parsed) = DateTime::parse_from_rfc3339(s) {
                return Ok(Some(parsed.with_timezone(&Utc)));
            }
            if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
                return Ok(Some(naive.and_utc()));
            }
            if let Ok(date) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return Ok(date.and_hms_opt(0, 0, 0).map(|naive| naive.and_utc()));
            }
        }
        Ok(integer(value).and_then(|n| {
            if n.abs() < 100_000_000_000 {
                DateTime::from_timestamp(n, 0)
            } else {
                DateTime::from_timestamp_millis(n)
            }
        }))
    }

    /// A nested object; anything else (or a mismatch inside) is `None`.
    pub fn nested<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        Ok(match value(d)? {
            Some(value @ Value::Object(_)) => serde_json::from_value(value).ok(),
            _ => None,
        })
    }

    /// A list; `null` is empty. Items must decode (they are lenient).
    pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        match value(d)? {
            Some(value @ Value::Array(_)) => {
                serde_json::from_value(value).map_err(serde::de::Error::custom)
            }
            _ => Ok(Vec::new()),
        }
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

    #[test]
    fn sales_items_decode_leniently() {
        let body = br#"{"items":[{"product":{"id":3526906,"name":"Curso"},
            "buyer":{"email":"maria@example.com","ucode":"u1"},
            "purchase":{"transaction":"HP123","order_date":1700000000000,
            "approved_date":"2023-11-14T22:13:20Z","status":"APPROVED",
            "recurrency_number":"2","price":{"value":197.9,"currency_code":"BRL"},
            "payment":{"type":"CREDIT_CARD","installments_number":12},
            "offer":"not-an-object","unknown":{"x":1}}}],
            "page_info":{"total_results":1,"results_per_page":50}}"#;
        let page: Page<Sale> = decode_page(body).unwrap();
        assert_eq!(page.next_page_token(), None);
        let sale = &page.items[0];
        assert_eq!(
            sale.product.as_ref().unwrap().id.as_deref(),
            Some("3526906")
        );
        let purchase = sale.purchase.as_ref().unwrap();
        assert_eq!(purchase.recurrency_number, Some(2));
        assert_eq!(purchase.order_date, purchase.approved_date);
        assert_eq!(
            purchase.price.as_ref().unwrap().value,
            Some(Decimal::from_str("197.9").unwrap())
        );
        assert_eq!(
            purchase.payment.as_ref().unwrap().payment_type.as_deref(),
            Some("CREDIT_CARD")
        );
        assert_eq!(purchase.offer, None);
    }

    #[test]
    fn lists_accept_every_shape() {
        assert!(
            decode_list::<ClubLesson>(b"", "lessons")
                .unwrap()
                .is_empty()
        );
        assert!(
            decode_list::<ClubLesson>(br#"{"lessons":[]}"#, "lessons")
                .unwrap()
                .is_empty()
        );
        let modules: Vec<ClubModule> =
            decode_list(br#"[{"id":"m1","name":"Boas-vindas"}]"#, "modules").unwrap();
        assert_eq!(modules[0].module_id.as_deref(), Some("m1"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("ABC-12_x"), "ABC-12_x");
        assert_eq!(encode_segment("a/../b?c"), "a%2F..%2Fb%3Fc");
    }
}
