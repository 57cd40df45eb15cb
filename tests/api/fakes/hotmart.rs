//! A fake Hotmart on loopback: the OAuth2 server and the REST API in one
//! axum app, speaking CONTRACTS.md section 2's wire format.
//!
//! ```ignore
//! let hotmart = FakeHotmart::spawn().await;
//! hotmart.seed_sales([fakes::hotmart::sale("HP0001", "maria@example.com", "APPROVED")]);
//! let client = HotmartClient::new(hotmart.credentials())?;
//! // ... exercise the code under test, then inspect:
//! assert_eq!(hotmart.token_requests(), 1);
//! assert_eq!(hotmart.calls(fakes::hotmart::SALES_HISTORY_PATH), 1);
//! ```
//!
//! What it checks, like Hotmart does:
//! - `POST /security/oauth/token?grant_type=client_credentials&client_id=..&client_secret=..`
//!   with `Authorization: Basic base64(id:secret)`; anything else is 400/401.
//! - Resource calls need `Authorization: Bearer <issued token>`: unknown →
//!   401 `invalid_token`, past `expires_in` → 401 `token_expired`.
//! - At most [`FakeHotmartConfig::calls_per_minute`] resource calls a minute,
//!   then 429 `too_many_requests` with `RateLimit-*` headers.
//! - Pagination: `max_results` (1..=500, default [`DEFAULT_MAX_RESULTS`]) and
//!   an opaque `page_token`; answers `{"items", "page_info"}` with
//!   `next_page_token` absent on the last page.
//! - The Club endpoints need `subdomain` equal to the configured one
//!   (missing or different → 400 `invalid_parameter`).
//!
//! Behaviour it has to pick where Hotmart's is not documented:
//! - Sales history without `transaction_status` returns only APPROVED and
//!   COMPLETE sales (so callers must pass statuses explicitly).
//! - Cancel and reactivate answer 200 with an empty body.
//! - A user's lessons answer 204 when none were seeded for that user.
//! - Modules and pages answer a bare JSON array.

#![allow(dead_code)] // shared by many tests; not each uses every helper

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use worker::hotmart::client::HotmartCredentials;

pub const CLIENT_ID: &str = "fake-hotmart-client-id";
pub const CLIENT_SECRET: &str = "fake-hotmart-client-secret";
pub const CLUB_SUBDOMAIN: &str = "confeitariadamaria";
/// Hotmart's samples show tokens lasting about 48 hours.
pub const DEFAULT_EXPIRES_IN: u64 = 172_800;
/// Page size when a request sends no `max_results`.
pub const DEFAULT_MAX_RESULTS: usize = 10;

pub const TOKEN_PATH: &str = "/security/oauth/token";
pub const SALES_HISTORY_PATH: &str = "/payments/api/v1/sales/history";
pub const SUBSCRIPTIONS_PATH: &str = "/payments/api/v1/subscriptions";
pub const CLUB_USERS_PATH: &str = "/club/api/v1/users";
pub const CLUB_MODULES_PATH: &str = "/club/api/v1/modules";

/// `/payments/api/v1/subscriptions/{code}/cancel`
pub fn cancel_path(subscriber_code: &str) -> String {
    format!("{SUBSCRIPTIONS_PATH}/{subscriber_code}/cancel")
}

/// `/payments/api/v1/subscriptions/{code}/reactivate`
pub fn reactivate_path(subscriber_code: &str) -> String {
    format!("{SUBSCRIPTIONS_PATH}/{subscriber_code}/reactivate")
}

/// `/club/api/v1/users/{user_id}/lessons`
pub fn lessons_path(user_id: &str) -> String {
    format!("{CLUB_USERS_PATH}/{user_id}/lessons")
}

/// `/club/api/v1/modules/{module_id}/pages`
pub fn pages_path(module_id: &str) -> String {
    format!("{CLUB_MODULES_PATH}/{module_id}/pages")
}

#[derive(Debug, Clone)]
pub struct FakeHotmartConfig {
    pub client_id: String,
    pub client_secret: String,
    pub club_subdomain: String,
    /// Lifetime of issued tokens, in seconds.
    pub expires_in: u64,
    /// Resource calls allowed per minute before 429s (Hotmart: 500).
    pub calls_per_minute: u32,
}

impl Default for FakeHotmartConfig {
    fn default() -> Self {
        Self {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            club_subdomain: CLUB_SUBDOMAIN.into(),
            expires_in: DEFAULT_EXPIRES_IN,
            calls_per_minute: 500,
        }
    }
}

/// One request the fake received (token requests included).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query pairs in order; repeated keys stay repeated.
    pub query: Vec<(String, String)>,
    /// The JSON body, if there was one.
    pub body: Option<Value>,
}

impl RecordedRequest {
    /// Every value of a query key.
    pub fn query_values(&self, key: &str) -> Vec<&str> {
        values(&self.query, key)
    }
}

/// A fake Hotmart server; stops when dropped.
pub struct FakeHotmart {
    base_url: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHotmart {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeHotmart {
    /// Starts a fake with [`FakeHotmartConfig::default`] on 127.0.0.1:0.
    pub async fn spawn() -> Self {
        Self::spawn_with(FakeHotmartConfig::default()).await
    }

    pub async fn spawn_with(config: FakeHotmartConfig) -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState::new(config)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Hotmart");
        let address = listener.local_addr().expect("fake Hotmart address");
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{address}"),
            state,
            server,
        }
    }

    /// Both the API and the auth server live here.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Credentials that authenticate against this fake.
    pub fn credentials(&self) -> HotmartCredentials {
        let state = self.lock();
        HotmartCredentials {
            client_id: state.config.client_id.clone(),
            client_secret: state.config.client_secret.clone(),
            base_url: self.base_url.clone(),
            auth_url: self.base_url.clone(),
            club_subdomain: Some(state.config.club_subdomain.clone()),
        }
    }

    // -- Seeding (items are appended, served in insertion order) ------------

    /// Sales history items; see [`sale`].
    pub fn seed_sales(&self, items: impl IntoIterator<Item = Value>) {
        self.lock().sales.extend(items);
    }

    /// Subscriptions items; see [`subscription`].
    pub fn seed_subscriptions(&self, items: impl IntoIterator<Item = Value>) {
        self.lock().subscriptions.extend(items);
    }

    /// Club members; see [`club_user`].
    pub fn seed_club_users(&self, items: impl IntoIterator<Item = Value>) {
        self.lock().club_users.extend(items);
    }

    /// A member's lessons; see [`lesson`]. Without seeding, the lessons
    /// endpoint answers 204; seeding an empty list makes it `{"lessons": []}`.
    pub fn seed_lessons(&self, user_id: &str, lessons: impl IntoIterator<Item = Value>) {
        self.lock()
            .lessons
            .entry(user_id.to_owned())
            .or_default()
            .extend(lessons);
    }

    /// Club modules; see [`module`].
    pub fn seed_modules(&self, items: impl IntoIterator<Item = Value>) {
        self.lock().modules.extend(items);
    }

    /// A module's pages; see [`page`].
    pub fn seed_pages(&self, module_id: &str, pages: impl IntoIterator<Item = Value>) {
        self.lock()
            .pages
            .entry(module_id.to_owned())
            .or_default()
            .extend(pages);
    }

    // -- Failure injection (each affects exactly one resource call, FIFO) --

    /// The next authenticated resource call gets 401 `token_expired`, and
    /// the token it used stays expired.
    pub fn inject_token_expired(&self) {
        self.lock().injections.push_back(Injection::TokenExpired);
    }

    /// The next authenticated resource call gets 429 `too_many_requests`
    /// with `RateLimit-Reset: reset_seconds`.
    pub fn inject_rate_limit(&self, reset_seconds: u64) {
        self.lock()
            .injections
            .push_back(Injection::RateLimited { reset_seconds });
    }

    /// The next authenticated resource call gets this 5xx status (e.g. 502,
    /// what Hotmart answers when a query runs over 30 s).
    pub fn inject_server_error(&self, status: u16) {
        self.lock()
            .injections
            .push_back(Injection::ServerError(status));
    }

    /// Every token issued so far expires now.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expires_at in self.lock().tokens.values_mut() {
            *expires_at = now;
        }
    }

    // -- Inspection ---------------------------------------------------------

    /// Requests to the token endpoint, accepted or not.
    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    /// Requests received for this exact path (no query string), whatever
    /// their outcome.
    pub fn calls(&self, path: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests received for this exact path, in order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The seeded subscription as it is now.
    pub fn subscription(&self, subscriber_code: &str) -> Option<Value> {
        self.lock()
            .subscriptions
            .iter()
            .find(|s| text(s.get("subscriber_code")).as_deref() == Some(subscriber_code))
            .cloned()
    }

    pub fn subscription_status(&self, subscriber_code: &str) -> Option<String> {
        self.subscription(subscriber_code)
            .and_then(|s| s.get("status").and_then(Value::as_str).map(str::to_owned))
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }
}

// -- Realistic items to seed (tweak the returned Value as needed) -----------

/// A sales history item in REST spelling (`recurrency_number`,
/// `currency_code`), ordered 2024-05-10 and approved a minute later.
pub fn sale(transaction: &str, buyer_email: &str, status: &str) -> Value {
    let ordered: i64 = 1_715_350_000_000;
    json!({
        "product": {"id": 3526906, "name": "Curso de Confeitaria Profissional"},
        "buyer": {"name": "Maria Souza", "ucode": "8f3c2a1e-buyer", "email": buyer_email},
        "producer": {"name": "Ana Doces Ltda", "ucode": "1b2c3d4e-producer"},
        "purchase": {
            "transaction": transaction,
            "order_date": ordered,
            "approved_date": ordered + 60_000,
            "status": status,
            "recurrency_number": 1,
            "is_subscription": false,
            "commission_as": "PRODUCER",
            "price": {"value": 497.0, "currency_code": "BRL"},
            "payment": {"method": "CREDIT_CARD_VISA", "type": "CREDIT_CARD", "installments_number": 12},
            "tracking": {"source": "HOTMART", "source_sck": "whatsapp_grupo_vip", "external_code": "jrn_7Qx2"},
            "warranty_expire_date": ordered + 7 * 86_400_000,
            "offer": {"code": "n82b9jqz", "payment_mode": "UNIQUE_PAYMENT"},
            "hotmart_fee": {"total": 49.7, "fixed": 1.0, "currency_code": "BRL", "base": 497.0, "percentage": 9.9}
        }
    })
}

/// A subscriptions item, subscribed 2024-05-10 to a monthly plan.
pub fn subscription(subscriber_code: &str, subscriber_email: &str, status: &str) -> Value {
    let accession: i64 = 1_715_350_000_000;
    json!({
        "subscriber_code": subscriber_code,
        "subscription_id": 4_151_818,
        "status": status,
        "accession_date": accession,
        "end_accession_date": null,
        "request_date": accession,
        "date_next_charge": accession + 30 * 86_400_000,
        "trial": false,
        "transaction": "HP17153500001234",
        "plan": {"name": "Clube Mensal", "id": 987_654, "recurrency_period": 30, "max_charge_cycles": null},
        "product": {"id": 3526906, "name": "Clube da Confeitaria", "ucode": "a1b2c3d4-product"},
        "price": {"value": 49.9, "currency_code": "BRL"},
        "subscriber": {"name": "Maria Souza", "email": subscriber_email, "ucode": "8f3c2a1e-buyer"}
    })
}

/// A Club member halfway through the course.
pub fn club_user(user_id: &str, email: &str) -> Value {
    json!({
        "user_id": user_id,
        "name": "Maria Souza",
        "email": email,
        "status": "ACTIVE",
        "role": "STUDENT",
        "first_access_date": 1_715_400_000_000_i64,
        "last_access_date": 1_716_000_000_000_i64,
        "purchase_date": 1_715_350_000_000_i64,
        "access_count": 17,
        "engagement": "MEDIUM",
        "progress": {"total": 24, "completed": 12, "completed_percentage": 50.0},
        "locale": "pt-BR",
        "is_deletable": false
    })
}

/// A lesson of a member's progress.
pub fn lesson(page_id: &str, page_name: &str, module_name: &str, is_completed: bool) -> Value {
    let mut lesson = json!({
        "page_id": page_id,
        "page_name": page_name,
        "module_name": module_name,
        "is_module_extra": false,
        "is_completed": is_completed
    });
    if is_completed {
        lesson["completed_date"] = json!(1_715_500_000_000_i64);
    }
    lesson
}

/// A Club module.
pub fn module(module_id: &str, name: &str, sequence: u32) -> Value {
    json!({
        "module_id": module_id,
        "name": name,
        "sequence": sequence,
        "is_extra": false,
        "is_public": true,
        "total_pages": 4
    })
}

/// A page (lesson) of a Club module.
pub fn page(page_id: &str, name: &str, sequence: u32) -> Value {
    json!({
        "page_id": page_id,
        "name": name,
        "sequence": sequence,
        "page_type": "CONTENT",
        "is_published": true
    })
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

type Shared = Arc<Mutex<FakeState>>;

enum Injection {
    TokenExpired,
    RateLimited { reset_seconds: u64 },
    ServerError(u16),
}

struct FakeState {
    config: FakeHotmartConfig,
    /// Issued token → when it expires.
    tokens: HashMap<String, Instant>,
    token_requests: usize,
    injections: VecDeque<Injection>,
    window_started: Instant,
    window_calls: u32,
    requests: Vec<RecordedRequest>,
    sales: Vec<Value>,
    subscriptions: Vec<Value>,
    club_users: Vec<Value>,
    lessons: HashMap<String, Vec<Value>>,
    modules: Vec<Value>,
    pages: HashMap<String, Vec<Value>>,
}

impl FakeState {
    fn new(config: FakeHotmartConfig) -> Self {
        Self {
            config,
            tokens: HashMap::new(),
            token_requests: 0,
            injections: VecDeque::new(),
            window_started: Instant::now(),
            window_calls: 0,
            requests: Vec::new(),
            sales: Vec::new(),
            subscriptions: Vec::new(),
            club_users: Vec::new(),
            lessons: HashMap::new(),
            modules: Vec::new(),
            pages: HashMap::new(),
        }
    }
}

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn router(state: Shared) -> Router {
    let resources = Router::new()
        .route(SALES_HISTORY_PATH, get(sales_history))
        .route(SUBSCRIPTIONS_PATH, get(subscriptions))
        .route(
            "/payments/api/v1/subscriptions/{subscriber_code}/cancel",
            post(cancel_subscription),
        )
        .route(
            "/payments/api/v1/subscriptions/{subscriber_code}/reactivate",
            post(reactivate_subscription),
        )
        .route(CLUB_USERS_PATH, get(club_users))
        .route("/club/api/v1/users/{user_id}/lessons", get(club_lessons))
        .route(CLUB_MODULES_PATH, get(club_modules))
        .route("/club/api/v1/modules/{module_id}/pages", get(club_pages))
        .route_layer(middleware::from_fn_with_state(state.clone(), resource_gate));
    Router::new()
        .route(TOKEN_PATH, post(issue_token))
        .merge(resources)
        .fallback(|| async {
            hotmart_error(StatusCode::NOT_FOUND, "not_found", "Resource not found")
        })
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

fn hotmart_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn invalid_parameter(description: &str) -> Response {
    hotmart_error(StatusCode::BAD_REQUEST, "invalid_parameter", description)
}

/// Records every request, its body buffered and handed on.
async fn record(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .unwrap_or_default();
    lock(&state).requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        body: serde_json::from_slice(&bytes).ok(),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn issue_token(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let mut state = lock(&state);
    state.token_requests += 1;
    if first(&query, "grant_type") != Some("client_credentials") {
        return hotmart_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        );
    }
    let expected_basic = BASE64.encode(format!(
        "{}:{}",
        state.config.client_id, state.config.client_secret
    ));
    let basic_ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| v.trim() == expected_basic);
    let query_ok = first(&query, "client_id") == Some(state.config.client_id.as_str())
        && first(&query, "client_secret") == Some(state.config.client_secret.as_str());
    if !basic_ok || !query_ok {
        return hotmart_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        );
    }
    let serial = state.tokens.len() + 1;
    let access_token = format!(
        "fake-access-token-{serial}-{}",
        uuid::Uuid::new_v4().simple()
    );
    let expires_in = state.config.expires_in;
    state.tokens.insert(
        access_token.clone(),
        Instant::now() + Duration::from_secs(expires_in),
    );
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": "read write",
        "jti": uuid::Uuid::new_v4().to_string()
    }))
    .into_response()
}

/// Bearer check, injected failures and the per-minute limit, in front of
/// every resource route.
async fn resource_gate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let limit;
    let remaining;
    {
        let mut state = lock(&state);
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        let now = Instant::now();
        match state.tokens.get(&token) {
            None => {
                return hotmart_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "Invalid access token",
                );
            }
            Some(expires_at) if *expires_at <= now => {
                return hotmart_error(
                    StatusCode::UNAUTHORIZED,
                    "token_expired",
                    "Access token expired",
                );
            }
            Some(_) => {}
        }
        limit = state.config.calls_per_minute;
        if let Some(injection) = state.injections.pop_front() {
            return match injection {
                Injection::TokenExpired => {
                    state.tokens.insert(token, now);
                    hotmart_error(
                        StatusCode::UNAUTHORIZED,
                        "token_expired",
                        "Access token expired",
                    )
                }
                Injection::RateLimited { reset_seconds } => too_many_requests(limit, reset_seconds),
                Injection::ServerError(status) => hotmart_error(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "internal_server_error",
                    "Internal server error",
                ),
            };
        }
        let elapsed = now.duration_since(state.window_started);
        if elapsed >= Duration::from_secs(60) {
            state.window_started = now;
            state.window_calls = 0;
        }
        if state.window_calls >= limit {
            let reset = 60 - now.duration_since(state.window_started).as_secs();
            return too_many_requests(limit, reset.max(1));
        }
        state.window_calls += 1;
        remaining = limit - state.window_calls;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("RateLimit-Limit", HeaderValue::from(limit));
    headers.insert("RateLimit-Remaining", HeaderValue::from(remaining));
    response
}

fn too_many_requests(limit: u32, reset_seconds: u64) -> Response {
    let mut response = hotmart_error(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "Too many requests",
    );
    let headers = response.headers_mut();
    headers.insert("RateLimit-Limit", HeaderValue::from(limit));
    headers.insert("RateLimit-Remaining", HeaderValue::from(0));
    headers.insert("RateLimit-Reset", HeaderValue::from(reset_seconds));
    response
}

async fn sales_history(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut statuses = values(&query, "transaction_status");
    if statuses.is_empty() {
        statuses = vec!["APPROVED", "COMPLETE"];
    }
    let (start, end) = match (epoch_ms(&query, "start_date"), epoch_ms(&query, "end_date")) {
        (Ok(start), Ok(end)) => (start, end),
        _ => return invalid_parameter("start_date and end_date must be epoch milliseconds"),
    };
    let state = lock(&state);
    let items: Vec<Value> = state
        .sales
        .iter()
        .filter(|sale| {
            let purchase = &sale["purchase"];
            let order_date = purchase["order_date"].as_i64();
            statuses.contains(&purchase["status"].as_str().unwrap_or_default())
                && matches_text(&query, "product_id", &sale["product"]["id"])
                && matches_text(&query, "transaction", &purchase["transaction"])
                && matches_email(&query, "buyer_email", &sale["buyer"]["email"])
                && matches_text(&query, "offer_code", &purchase["offer"]["code"])
                && start.is_none_or(|start| order_date.is_some_and(|d| d >= start))
                && end.is_none_or(|end| order_date.is_some_and(|d| d <= end))
        })
        .cloned()
        .collect();
    paginate(items, &query)
}

async fn subscriptions(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let statuses = values(&query, "status");
    let (start, end) = match (
        epoch_ms(&query, "accession_date"),
        epoch_ms(&query, "end_accession_date"),
    ) {
        (Ok(start), Ok(end)) => (start, end),
        _ => return invalid_parameter("dates must be epoch milliseconds"),
    };
    let state = lock(&state);
    let items: Vec<Value> = state
        .subscriptions
        .iter()
        .filter(|s| {
            let accession = s["accession_date"].as_i64();
            (statuses.is_empty() || statuses.contains(&s["status"].as_str().unwrap_or_default()))
                && matches_text(&query, "product_id", &s["product"]["id"])
                && matches_text(&query, "subscriber_code", &s["subscriber_code"])
                && matches_email(&query, "subscriber_email", &s["subscriber"]["email"])
                && start.is_none_or(|start| accession.is_some_and(|d| d >= start))
                && end.is_none_or(|end| accession.is_some_and(|d| d <= end))
        })
        .cloned()
        .collect();
    paginate(items, &query)
}

async fn cancel_subscription(
    State(state): State<Shared>,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    // The flag itself is only recorded (see `FakeHotmart::requests`).
    if bool_field(&body, "send_mail").is_none() {
        return invalid_parameter("send_mail must be a boolean");
    }
    set_subscription_status(&state, &code, "CANCELLED_BY_SELLER")
}

async fn reactivate_subscription(
    State(state): State<Shared>,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    // The flag itself is only recorded (see `FakeHotmart::requests`).
    if bool_field(&body, "charge").is_none() {
        return invalid_parameter("charge must be a boolean");
    }
    set_subscription_status(&state, &code, "ACTIVE")
}

/// `Some(value)` when the body is a JSON object whose `key` is a boolean.
fn bool_field(body: &[u8], key: &str) -> Option<bool> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get(key)?
        .as_bool()
}

fn set_subscription_status(state: &Shared, code: &str, status: &str) -> Response {
    let mut state = lock(state);
    let Some(subscription) = state
        .subscriptions
        .iter_mut()
        .find(|s| text(s.get("subscriber_code")).as_deref() == Some(code))
    else {
        return hotmart_error(StatusCode::NOT_FOUND, "not_found", "Subscription not found");
    };
    subscription["status"] = json!(status);
    StatusCode::OK.into_response()
}

/// The answer to send when the Club's `subdomain` is missing or unknown.
fn subdomain_rejection(state: &FakeState, query: &[(String, String)]) -> Option<Response> {
    match first(query, "subdomain") {
        Some(subdomain) if subdomain == state.config.club_subdomain => None,
        Some(_) => Some(invalid_parameter("Unknown subdomain")),
        None => Some(invalid_parameter("subdomain is required")),
    }
}

async fn club_users(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let state = lock(&state);
    if let Some(response) = subdomain_rejection(&state, &query) {
        return response;
    }
    let items: Vec<Value> = state
        .club_users
        .iter()
        .filter(|u| matches_email(&query, "email", &u["email"]))
        .cloned()
        .collect();
    paginate(items, &query)
}

async fn club_lessons(
    State(state): State<Shared>,
    Path(user_id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let state = lock(&state);
    if let Some(response) = subdomain_rejection(&state, &query) {
        return response;
    }
    match state.lessons.get(&user_id) {
        Some(lessons) => axum::Json(json!({ "lessons": lessons })).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn club_modules(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let state = lock(&state);
    if let Some(response) = subdomain_rejection(&state, &query) {
        return response;
    }
    axum::Json(Value::Array(state.modules.clone())).into_response()
}

async fn club_pages(
    State(state): State<Shared>,
    Path(module_id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let state = lock(&state);
    if let Some(response) = subdomain_rejection(&state, &query) {
        return response;
    }
    if let Some(pages) = state.pages.get(&module_id) {
        return axum::Json(Value::Array(pages.clone())).into_response();
    }
    let known = state
        .modules
        .iter()
        .any(|m| text(m.get("module_id")).as_deref() == Some(module_id.as_str()));
    if known {
        axum::Json(json!([])).into_response()
    } else {
        hotmart_error(StatusCode::NOT_FOUND, "not_found", "Module not found")
    }
}

/// `{"items", "page_info"}` for one page of `items`; the page token is an
/// opaque base64 offset (it has `=`, so clients must encode it).
fn paginate(items: Vec<Value>, query: &[(String, String)]) -> Response {
    let max_results = match first(query, "max_results").map(str::parse::<usize>) {
        None => DEFAULT_MAX_RESULTS,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => return invalid_parameter("max_results must be between 1 and 500"),
    };
    let offset = match first(query, "page_token") {
        None => 0,
        Some(token) => match decode_page_token(token) {
            Some(offset) if offset <= items.len() => offset,
            _ => return invalid_parameter("Invalid page_token"),
        },
    };
    let total = items.len();
    let end = (offset + max_results).min(total);
    let mut page_info = json!({"total_results": total, "results_per_page": max_results});
    if end < total {
        page_info["next_page_token"] = json!(encode_page_token(end));
    }
    if offset > 0 {
        page_info["prev_page_token"] = json!(encode_page_token(offset.saturating_sub(max_results)));
    }
    axum::Json(json!({"items": &items[offset..end], "page_info": page_info})).into_response()
}

fn encode_page_token(offset: usize) -> String {
    BASE64.encode(format!("offset:{offset}"))
}

fn decode_page_token(token: &str) -> Option<usize> {
    let bytes = BASE64.decode(token).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

fn values<'a>(query: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    query
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn first<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    values(query, key).into_iter().next()
}

/// An optional epoch-ms filter; `Err` when present but not a number.
fn epoch_ms(query: &[(String, String)], key: &str) -> Result<Option<i64>, ()> {
    first(query, key)
        .map(|v| v.parse::<i64>().map_err(drop))
        .transpose()
}

/// Ids come as strings or numbers: compare as text.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn matches_text(query: &[(String, String)], key: &str, value: &Value) -> bool {
    first(query, key).is_none_or(|wanted| text(Some(value)).as_deref() == Some(wanted))
}

fn matches_email(query: &[(String, String)], key: &str, value: &Value) -> bool {
    first(query, key).is_none_or(|wanted| {
        value
            .as_str()
            .is_some_and(|email| email.eq_ignore_ascii_case(wanted))
    })
}
