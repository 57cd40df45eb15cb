//! A fake Chatwoot on loopback: the conversation labels API of CONTRACTS.md
//! section 4 (`GET|POST /api/v1/accounts/{account}/conversations/{id}/labels`,
//! header `api_access_token`, POST **replacing** the set, answers
//! `{"payload": [..]}`), recording every call; and the webhook deliveries
//! Chatwoot would send, signed like newer versions sign them.
//!
//! ```ignore
//! let chatwoot = FakeChatwoot::spawn().await;
//! chatwoot.seed_conversation("42", ["vip"]);
//! chatwoot.fail_next(500);                       // once
//! // ... run the labels job, then:
//! assert_eq!(chatwoot.labels("42"), ["vip", "modulo-concluido"]);
//! let echo = chatwoot.echo_of_last_write("42", sender); // the webhook that follows
//! ```

#![allow(dead_code)] // shared by many tests; not each uses every helper

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// The token the fake accepts.
pub const API_ACCESS_TOKEN: &str = "cw-token-de-teste";
/// The account the fake serves.
pub const ACCOUNT_ID: &str = "7";

/// One call the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelsCall {
    pub method: String,
    pub account_id: String,
    pub conversation_id: String,
    pub api_access_token: Option<String>,
    /// The JSON body of a POST.
    pub body: Option<Value>,
}

#[derive(Default)]
struct FakeState {
    conversations: HashMap<String, Vec<String>>,
    calls: Vec<LabelsCall>,
    failures: VecDeque<u16>,
    /// Per conversation: the labels before and after the last POST.
    last_write: HashMap<String, (Vec<String>, Vec<String>)>,
}

type Shared = Arc<Mutex<FakeState>>;

/// A fake Chatwoot; stops when dropped.
pub struct FakeChatwoot {
    address: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeChatwoot {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeChatwoot {
    pub async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake chatwoot");
        let address = format!("http://{}", listener.local_addr().expect("fake address"));
        let state: Shared = Arc::default();
        let app = Router::new()
            .route(
                "/api/v1/accounts/{account}/conversations/{conversation}/labels",
                get(read_labels).post(write_labels),
            )
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            state,
            server,
        }
    }

    pub fn url(&self) -> String {
        self.address.clone()
    }

    /// The workspace settings pointing the labels client at the fake.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("chatwoot.base_url", self.url()),
            ("chatwoot.api_access_token", API_ACCESS_TOKEN.to_owned()),
            ("chatwoot.account_id", ACCOUNT_ID.to_owned()),
        ]
    }

    /// A conversation of the account with these labels.
    pub fn seed_conversation<const N: usize>(&self, id: &str, labels: [&str; N]) {
        self.lock().conversations.insert(
            id.to_owned(),
            labels.iter().map(|l| l.to_string()).collect(),
        );
    }

    /// The conversation is deleted at Chatwoot.
    pub fn forget_conversation(&self, id: &str) {
        self.lock().conversations.remove(id);
    }

    /// The next call is answered with `status` (and changes nothing).
    pub fn fail_next(&self, status: u16) {
        self.lock().failures.push_back(status);
    }

    /// A conversation's labels now.
    pub fn labels(&self, id: &str) -> Vec<String> {
        self.lock()
            .conversations
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<LabelsCall> {
        self.lock().calls.clone()
    }

    /// The POSTs received, in order.
    pub fn writes(&self) -> Vec<LabelsCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "POST")
            .collect()
    }

    /// The `conversation_updated` delivery Chatwoot sends after the last
    /// write on conversation `id`: labels before and after.
    pub fn echo_of_last_write(&self, id: &str, sender: Value) -> Value {
        let (previous, current) = self
            .lock()
            .last_write
            .get(id)
            .cloned()
            .expect("the conversation was written");
        label_change(id, sender, &previous, &current)
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A `conversation_updated` delivery for labels going from `previous` to
/// `current`, as Chatwoot sends it.
pub fn label_change(id: &str, sender: Value, previous: &[String], current: &[String]) -> Value {
    json!({
        "event": "conversation_updated",
        "id": id.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(id)),
        "inbox_id": 1,
        "status": "open",
        "account_id": ACCOUNT_ID.parse::<i64>().unwrap(),
        "labels": current,
        "custom_attributes": {},
        "meta": {"sender": sender, "assignee": null},
        "messages": [],
        "changed_attributes": [
            {"label_list": {"previous_value": previous, "current_value": current}}
        ],
        "created_at": 1_765_000_000,
        "updated_at": 1_765_000_100.5
    })
}

/// A `meta.sender` as Chatwoot sends it.
pub fn sender(contact_id: i64, email: Option<&str>, phone: Option<&str>) -> Value {
    json!({
        "id": contact_id,
        "name": "Maria Silva",
        "email": email,
        "phone_number": phone,
        "type": "contact"
    })
}

/// Records the call; the answer to give when a failure is queued or the
/// token is wrong.
#[allow(clippy::result_large_err)] // a handler's answer, not an error to pass around
fn record(
    state: &Shared,
    method: &str,
    account: &str,
    conversation: &str,
    headers: &HeaderMap,
    body: Option<Value>,
) -> Result<(), Response> {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let token = headers
        .get("api_access_token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.calls.push(LabelsCall {
        method: method.to_owned(),
        account_id: account.to_owned(),
        conversation_id: conversation.to_owned(),
        api_access_token: token.clone(),
        body,
    });
    if let Some(status) = state.failures.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err((status, axum::Json(json!({"error": "falha simulada"}))).into_response());
    }
    if token.as_deref() != Some(API_ACCESS_TOKEN) {
        return Err((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "You need to sign in or sign up before continuing."})),
        )
            .into_response());
    }
    if account != ACCOUNT_ID || !state.conversations.contains_key(conversation) {
        return Err((
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "Resource could not be found"})),
        )
            .into_response());
    }
    Ok(())
}

async fn read_labels(
    State(state): State<Shared>,
    Path((account, conversation)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = record(&state, "GET", &account, &conversation, &headers, None) {
        return response;
    }
    let labels = state.lock().unwrap().conversations[&conversation].clone();
    axum::Json(json!({"payload": labels})).into_response()
}

async fn write_labels(
    State(state): State<Shared>,
    Path((account, conversation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    if let Err(response) = record(
        &state,
        "POST",
        &account,
        &conversation,
        &headers,
        body.clone(),
    ) {
        return response;
    }
    let Some(labels) = body.as_ref().and_then(|b| b["labels"].as_array()).map(|l| {
        l.iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    }) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"error": "labels missing"})),
        )
            .into_response();
    };
    let mut state = state.lock().unwrap();
    // POST replaces the whole set.
    let previous = state
        .conversations
        .insert(conversation.clone(), labels.clone())
        .unwrap_or_default();
    state
        .last_write
        .insert(conversation, (previous, labels.clone()));
    axum::Json(json!({"payload": labels})).into_response()
}
