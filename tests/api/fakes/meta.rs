//! A fake Meta Graph API (WhatsApp Cloud API) on loopback, speaking
//! CONTRACTS.md section 3's wire format.
//!
//! ```ignore
//! let meta = FakeMeta::spawn().await;
//! meta.fail_next(GraphError::new(130429));            // next send: throttled (HTTP 400)
//! meta.fail_recipient("5511900000001", GraphError::new(131050)); // always opted out
//! let provider = WhatsAppProvider::new(meta.config())?;
//! // ... exercise the code under test, then inspect:
//! let sent = meta.message_requests();
//! assert_eq!(sent[0].authorization.as_deref(), Some("Bearer fake-meta-token"));
//! ```
//!
//! What it checks, like Graph does:
//! - every call needs `Authorization: Bearer <token>`: anything else is
//!   HTTP 401 with `error.code` 190;
//! - `POST /{version}/{phone-number-id}/messages` needs the configured phone
//!   number id, `messaging_product: "whatsapp"`, a `to`, and a well-formed
//!   `template` (name, `language.code`) or `text` (`body`); else HTTP 400
//!   code 100. Success is `{"messaging_product", "contacts", "messages":
//!   [{"id": "wamid.…", "message_status": "accepted"}]}`;
//! - `GET /{version}/{waba-id}/message_templates` pages by `limit` (default
//!   25, capped by [`FakeMetaConfig::templates_page_size`]) and an opaque
//!   `after` cursor, answering `{"data", "paging": {"cursors": {"before",
//!   "after"}, "next"}}` with `next` absent on the last page.
//!
//! Failure injection (checked after authentication):
//! - [`FakeMeta::fail_recipient`]: every send to that number fails so;
//! - [`FakeMeta::fail_next`]: the next send fails so (FIFO);
//! - [`FakeMeta::delay_next_send`]: the next send answers late. Like Meta,
//!   the fake has taken the message (and given it its wamid) before it
//!   answers, so a caller that gives up or dies meanwhile still sent it.
//!
//! Like Meta, it keeps each accepted message's `biz_opaque_callback_data`
//! (at most 512 characters, else HTTP 400 code 100) and echoes it in the
//! status callbacks [`FakeMeta::status_callback`] builds.

#![allow(dead_code)] // shared by many tests; not each uses every helper

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use serde_json::{Value, json};
use worker::channels::whatsapp::WhatsAppConfig;

pub const TOKEN: &str = "fake-meta-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const WABA_ID: &str = "102290129340398";
pub const APP_SECRET: &str = "fake-meta-app-secret";
pub const VERSION: &str = "v21.0";
/// Graph's page size when a request sends no `limit`.
pub const DEFAULT_LIMIT: usize = 25;

#[derive(Debug, Clone)]
pub struct FakeMetaConfig {
    pub token: String,
    pub phone_number_id: String,
    pub waba_id: String,
    /// Most templates one page returns, whatever `limit` asks.
    pub templates_page_size: usize,
}

impl Default for FakeMetaConfig {
    fn default() -> Self {
        Self {
            token: TOKEN.into(),
            phone_number_id: PHONE_NUMBER_ID.into(),
            waba_id: WABA_ID.into(),
            templates_page_size: 100,
        }
    }
}

/// A Graph error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub http_status: u16,
    pub code: i64,
    pub message: String,
    pub details: String,
}

impl GraphError {
    /// The error Graph answers for `code`, with its HTTP status (190 → 401;
    /// 1, 2, 131000, 131016 → 500; everything else, throttling included → 400).
    pub fn new(code: i64) -> Self {
        let (http_status, message, details) = match code {
            4 => (
                400,
                "(#4) Application request limit reached",
                "Too many API calls",
            ),
            100 => (
                400,
                "(#100) Invalid parameter",
                "Parameter value is not valid",
            ),
            190 => (
                401,
                "Error validating access token: Session has expired",
                "The access token has expired",
            ),
            80007 => (
                400,
                "(#80007) Rate limit issues",
                "WhatsApp Business Account rate limit hit",
            ),
            130429 => (
                400,
                "(#130429) Rate limit hit",
                "Cloud API message throughput has been reached.",
            ),
            131026 => (
                400,
                "(#131026) Message undeliverable",
                "Message undeliverable",
            ),
            131047 => (
                400,
                "(#131047) Re-engagement message",
                "More than 24 hours have passed since the recipient last replied to the sender number.",
            ),
            131048 => (
                400,
                "(#131048) Spam rate limit hit",
                "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
            ),
            131049 => (
                400,
                "(#131049) This message was not delivered to maintain healthy ecosystem engagement.",
                "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            ),
            131050 => (
                400,
                "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business",
                "The user has stopped marketing messages",
            ),
            131056 => (
                400,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
            ),
            132000 => (
                400,
                "(#132000) Number of parameters does not match the expected number of params",
                "body: number of localizable_params (2) does not match the expected number of params (1)",
            ),
            132001 => (
                400,
                "(#132001) Template name does not exist in the translation",
                "template name (boas_vindas) does not exist in pt_BR",
            ),
            132015 => (
                400,
                "(#132015) Template is Paused",
                "Template is paused due to low quality",
            ),
            132016 => (
                400,
                "(#132016) Template is Disabled",
                "Template has been paused too many times due to low quality and is now permanently disabled.",
            ),
            133016 => (
                400,
                "(#133016) Account register deregister rate limit exceeded",
                "Registration or Deregistration failed because there were too many attempts",
            ),
            1 | 2 | 131000 | 131016 => (500, "An unknown error occurred", "Something went wrong"),
            _ => (400, "An error occurred", "Unexpected error"),
        };
        Self {
            http_status,
            code,
            message: message.into(),
            details: details.into(),
        }
    }

    pub fn with_status(mut self, http_status: u16) -> Self {
        self.http_status = http_status;
        self
    }

    pub fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": "OAuthException",
                "code": self.code,
                "error_data": {"messaging_product": "whatsapp", "details": self.details},
                "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUvW"
            }
        })
    }

    fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.body())).into_response()
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The body exactly as sent (for byte-for-byte checks).
    pub raw_body: String,
    /// The body as JSON, when it is JSON.
    pub body: Option<Value>,
    /// When the fake received it.
    pub received_at: std::time::Instant,
}

impl RecordedRequest {
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A fake Graph API; stops when dropped.
pub struct FakeMeta {
    address: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMeta {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeMeta {
    pub async fn spawn() -> Self {
        Self::spawn_with(FakeMetaConfig::default()).await
    }

    pub async fn spawn_with(config: FakeMetaConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Meta");
        let address = format!(
            "http://{}",
            listener.local_addr().expect("fake Meta address")
        );
        let state: Shared = Arc::new(Mutex::new(FakeState {
            base_url: format!("{address}/{VERSION}"),
            config,
            requests: Vec::new(),
            next_failures: VecDeque::new(),
            recipient_failures: HashMap::new(),
            next_delays: VecDeque::new(),
            templates: Vec::new(),
            sent: 0,
            accepted_messages: Vec::new(),
        }));
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port>/v21.0`: what `whatsapp.base_url` is set to.
    pub fn base_url(&self) -> String {
        self.lock().base_url.clone()
    }

    /// Credentials that work against this fake.
    pub fn config(&self) -> WhatsAppConfig {
        let state = self.lock();
        WhatsAppConfig {
            base_url: state.base_url.clone(),
            token: state.config.token.clone(),
            phone_number_id: state.config.phone_number_id.clone(),
            waba_id: Some(state.config.waba_id.clone()),
        }
    }

    /// The `(key, value)` workspace settings for this fake.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let state = self.lock();
        vec![
            ("whatsapp.base_url", state.base_url.clone()),
            ("whatsapp.token", state.config.token.clone()),
            (
                "whatsapp.phone_number_id",
                state.config.phone_number_id.clone(),
            ),
            ("whatsapp.waba_id", state.config.waba_id.clone()),
            ("whatsapp.app_secret", APP_SECRET.to_owned()),
        ]
    }

    // -- Failure injection ----------------------------------------------------

    /// The next send (to anyone) fails with `error`; FIFO.
    pub fn fail_next(&self, error: GraphError) {
        self.lock().next_failures.push_back(error);
    }

    /// Every send to `to` (digits, as in the payload) fails with `error`.
    pub fn fail_recipient(&self, to: &str, error: GraphError) {
        self.lock()
            .recipient_failures
            .insert(to.trim_start_matches('+').to_owned(), error);
    }

    pub fn clear_recipient_failure(&self, to: &str) {
        self.lock()
            .recipient_failures
            .remove(to.trim_start_matches('+'));
    }

    /// The next send waits `delay` before answering; FIFO.
    pub fn delay_next_send(&self, delay: Duration) {
        self.lock().next_delays.push_back(delay);
    }

    // -- Templates --------------------------------------------------------------

    /// Appends templates to the listing; see [`template`].
    pub fn seed_templates(&self, templates: impl IntoIterator<Item = Value>) {
        self.lock().templates.extend(templates);
    }

    /// Replaces the whole listing.
    pub fn set_templates(&self, templates: impl IntoIterator<Item = Value>) {
        self.lock().templates = templates.into_iter().collect();
    }

    // -- Inspection -------------------------------------------------------------

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests to `/{version}/{id}/messages`, whatever their outcome.
    pub fn message_requests(&self) -> Vec<RecordedRequest> {
        self.requests_ending("/messages")
    }

    /// Each request to `/{version}/{id}/messages`: its `to`, and when it arrived.
    pub fn message_recipients(&self) -> Vec<(Option<String>, std::time::Instant)> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/messages"))
            .map(|r| {
                let to = r.body.as_ref().and_then(|b| b["to"].as_str());
                (to.map(str::to_owned), r.received_at)
            })
            .collect()
    }

    /// Requests to `/{version}/{id}/message_templates`.
    pub fn template_requests(&self) -> Vec<RecordedRequest> {
        self.requests_ending("/message_templates")
    }

    /// Messages accepted (given a wamid).
    pub fn accepted(&self) -> usize {
        self.lock().sent
    }

    /// The messages accepted, in order, with their wamids.
    pub fn accepted_messages(&self) -> Vec<AcceptedMessage> {
        self.lock().accepted_messages.clone()
    }

    /// A status callback for an accepted message, as Meta posts it: with the
    /// message's recipient and the `biz_opaque_callback_data` its send set.
    /// `None` when the fake never gave out `wamid`.
    pub fn status_callback(
        &self,
        wamid: &str,
        status: &str,
        error_code: Option<i64>,
    ) -> Option<Value> {
        let accepted = self
            .lock()
            .accepted_messages
            .iter()
            .find(|m| m.wamid == wamid)
            .cloned()?;
        let mut body = status_callback(wamid, status, &accepted.to, error_code);
        if let Some(data) = accepted.callback_data {
            body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] =
                json!(data);
        }
        Some(body)
    }

    fn requests_ending(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    /// The server's root, without the version.
    pub fn address(&self) -> &str {
        &self.address
    }
}

// -- Realistic bodies ---------------------------------------------------------

/// A template item as the listing returns it.
/// The approved `boas_vindas` (pt_BR) template most journeys send.
pub fn welcome_template() -> Value {
    template("1001", "boas_vindas", "pt_BR", "APPROVED", "UTILITY")
}

pub fn template(id: &str, name: &str, language: &str, status: &str, category: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "status": status,
        "category": category,
        "language": language,
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Bem-vinda!"},
            {"type": "BODY", "text": "Olá {{1}}, seu acesso ao curso está liberado.",
             "example": {"body_text": [["Maria"]]}},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Acessar", "url": "https://hotmart.com/club/{{1}}",
                 "example": ["https://hotmart.com/club/abc123"]}
            ]}
        ]
    })
}

/// A status callback body (one status) as Meta posts it, for a message the
/// fake did not send (see [`FakeMeta::status_callback`] for one it did).
pub fn status_callback(
    wamid: &str,
    status: &str,
    recipient: &str,
    error_code: Option<i64>,
) -> Value {
    let mut item = json!({
        "id": wamid,
        "status": status,
        "timestamp": "1749416400",
        "recipient_id": recipient,
        "conversation": {"id": "c0ffee", "origin": {"type": "marketing"}},
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"}
    });
    if let Some(code) = error_code {
        item["errors"] = json!([{"code": code, "title": "Message undeliverable",
            "error_data": {"details": "Message Undeliverable."}}]);
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511999990000", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [item]
        }}]}]
    })
}

/// An inbound text message body as Meta posts it.
pub fn inbound_text(from: &str, wamid: &str, text: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511999990000", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Maria"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": "1749416500",
                          "type": "text", "text": {"body": text}}]
        }}]}]
    })
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

type Shared = Arc<Mutex<FakeState>>;

struct FakeState {
    base_url: String,
    config: FakeMetaConfig,
    requests: Vec<RecordedRequest>,
    next_failures: VecDeque<GraphError>,
    recipient_failures: HashMap<String, GraphError>,
    next_delays: VecDeque<Duration>,
    templates: Vec<Value>,
    sent: usize,
    accepted_messages: Vec<AcceptedMessage>,
}

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMessage {
    pub wamid: String,
    /// `to` as sent, without `+`.
    pub to: String,
    /// `biz_opaque_callback_data` as sent.
    pub callback_data: Option<String>,
}

/// Meta's limit on `biz_opaque_callback_data`.
pub const MAX_CALLBACK_DATA_CHARS: usize = 512;

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/{version}/{id}/messages", post(send_message))
        .route("/{version}/{id}/message_templates", get(list_templates))
        .fallback(|| async {
            GraphError {
                http_status: 400,
                code: 100,
                message: "Unsupported request - method type: unknown".into(),
                details: "Unknown path".into(),
            }
            .response()
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Records every request with its raw body and Authorization header.
async fn record(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let received_at = std::time::Instant::now();
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
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        raw_body: String::from_utf8_lossy(&bytes).into_owned(),
        body: serde_json::from_slice(&bytes).ok(),
        received_at,
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", lock(&state).config.token);
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        return GraphError {
            http_status: 401,
            code: 190,
            message: "Invalid OAuth access token - Cannot parse access token".into(),
            details: "Invalid OAuth access token".into(),
        }
        .response();
    }
    next.run(request).await
}

fn invalid_parameter(details: &str) -> Response {
    GraphError {
        http_status: 400,
        code: 100,
        message: "(#100) Invalid parameter".into(),
        details: details.into(),
    }
    .response()
}

async fn send_message(
    State(state): State<Shared>,
    Path((_version, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let delay = {
        let mut state = lock(&state);
        if id != state.config.phone_number_id {
            return GraphError {
                http_status: 400,
                code: 100,
                message: format!(
                    "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
                ),
                details: "Unknown phone number id".into(),
            }
            .response();
        }
        state.next_delays.pop_front()
    };
    let response = accept_message(&state, &body);
    // Late, but decided: the message is taken (or refused) either way.
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn accept_message(state: &Shared, body: &Bytes) -> Response {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return invalid_parameter("The request body is not JSON");
    };
    if payload["messaging_product"] != "whatsapp" {
        return invalid_parameter("messaging_product must be whatsapp");
    }
    let Some(to) = payload["to"].as_str().map(str::to_owned) else {
        return invalid_parameter("The parameter to is required.");
    };
    match payload["type"].as_str() {
        Some("template") => {
            let template = &payload["template"];
            if template["name"].as_str().is_none()
                || template["language"]["code"].as_str().is_none()
            {
                return invalid_parameter("template.name and template.language.code are required");
            }
        }
        Some("text") => {
            if payload["text"]["body"].as_str().is_none() {
                return invalid_parameter("text.body is required");
            }
        }
        _ => return invalid_parameter("Unsupported message type"),
    }
    let callback_data = match &payload["biz_opaque_callback_data"] {
        Value::Null => None,
        Value::String(data) if data.chars().count() <= MAX_CALLBACK_DATA_CHARS => {
            Some(data.clone())
        }
        _ => {
            return invalid_parameter(
                "biz_opaque_callback_data must be a string of at most 512 characters",
            );
        }
    };
    let mut state = lock(state);
    let digits = to.trim_start_matches('+').to_owned();
    if let Some(error) = state.recipient_failures.get(&digits).cloned() {
        return error.response();
    }
    if let Some(error) = state.next_failures.pop_front() {
        return error.response();
    }
    state.sent += 1;
    let wamid = format!(
        "wamid.HBgM{}{:04}",
        BASE64.encode(uuid::Uuid::new_v4().as_bytes()),
        state.sent
    );
    state.accepted_messages.push(AcceptedMessage {
        wamid: wamid.clone(),
        to: digits.clone(),
        callback_data,
    });
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": digits}],
        "messages": [{"id": wamid, "message_status": "accepted"}]
    }))
    .into_response()
}

async fn list_templates(
    State(state): State<Shared>,
    Path((_version, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let state = lock(&state);
    if id != state.config.waba_id {
        return invalid_parameter("Unknown WhatsApp Business Account id");
    }
    let value = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let limit = match value("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if limit > 0 => limit,
        Some(_) => return invalid_parameter("limit must be a positive integer"),
    }
    .min(state.config.templates_page_size.max(1));
    let offset = match value("after") {
        None => 0,
        Some(cursor) => match decode_cursor(&cursor) {
            Some(offset) => offset,
            None => return invalid_parameter("Invalid cursor"),
        },
    };
    let total = state.templates.len();
    let end = (offset + limit).min(total);
    let data: Vec<Value> = state
        .templates
        .get(offset..end)
        .unwrap_or_default()
        .to_vec();
    let mut paging =
        json!({"cursors": {"before": encode_cursor(offset), "after": encode_cursor(end)}});
    if end < total {
        let mut next = reqwest::Url::parse(&format!("{}/{id}/message_templates", state.base_url))
            .expect("fake base URL");
        {
            let mut pairs = next.query_pairs_mut();
            if let Some(fields) = value("fields") {
                pairs.append_pair("fields", &fields);
            }
            pairs.append_pair("limit", &limit.to_string());
            pairs.append_pair("after", &encode_cursor(end));
        }
        paging["next"] = json!(next.as_str());
    }
    axum::Json(json!({"data": data, "paging": paging})).into_response()
}

fn encode_cursor(offset: usize) -> String {
    BASE64.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(BASE64.decode(cursor).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}
