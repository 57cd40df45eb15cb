//! An HTTP sink on loopback: records every request (any method, any path)
//! and answers a configurable status and JSON body. Stands in for webhook
//! receivers and for SMS / push gateways.
//!
//! ```ignore
//! let sink = FakeSink::spawn().await;
//! sink.respond_next(503, json!({"error": "busy"}));   // once
//! sink.respond_with(200, json!({"id": "gw-1"}));      // from then on
//! // ... exercise the code under test, then inspect:
//! let posts = sink.requests();
//! assert_eq!(posts[0].header("x-jornada-idempotency-key"), Some("k1"));
//! ```
//!
//! Without configuration it answers `200 {"id": "sink-<n>"}`, n counting
//! from 1.

#![allow(dead_code)] // shared by many tests; not each uses every helper

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request the sink received.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body exactly as sent.
    pub raw_body: String,
    pub body: Option<Value>,
}

impl SinkRequest {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer the sink gives.
#[derive(Debug, Clone)]
pub struct SinkAnswer {
    pub status: u16,
    pub body: Value,
    /// Extra headers, e.g. `("retry-after", "7")` or `("location", ..)`.
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl SinkAnswer {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct SinkState {
    requests: Vec<SinkRequest>,
    next: VecDeque<SinkAnswer>,
    default: Option<SinkAnswer>,
}

type Shared = Arc<Mutex<SinkState>>;

/// An HTTP sink; stops when dropped.
pub struct FakeSink {
    address: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSink {
    pub async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let address = format!("http://{}", listener.local_addr().expect("sink address"));
        let state: Shared = Arc::new(Mutex::new(SinkState {
            requests: Vec::new(),
            next: VecDeque::new(),
            default: None,
        }));
        let app = Router::new().fallback(answer).with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Every later request gets this answer (until changed).
    pub fn respond_with(&self, status: u16, body: Value) {
        self.answer_with(SinkAnswer::new(status, body));
    }

    pub fn answer_with(&self, answer: SinkAnswer) {
        self.lock().default = Some(answer);
    }

    /// The next request gets this answer; FIFO, before the default.
    pub fn respond_next(&self, status: u16, body: Value) {
        self.answer_next(SinkAnswer::new(status, body));
    }

    pub fn answer_next(&self, answer: SinkAnswer) {
        self.lock().next.push_back(answer);
    }

    pub fn requests(&self) -> Vec<SinkRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn answer(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let answer = {
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.requests.push(SinkRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            raw_body: String::from_utf8_lossy(&bytes).into_owned(),
            body: serde_json::from_slice(&bytes).ok(),
        });
        let n = state.requests.len();
        state
            .next
            .pop_front()
            .or_else(|| state.default.clone())
            .unwrap_or_else(|| SinkAnswer::new(200, json!({"id": format!("sink-{n}")})))
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(answer.body)).into_response();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
