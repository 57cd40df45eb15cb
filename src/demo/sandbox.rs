//! The demo's stand-in for Meta and Hotmart, on loopback, for the fill
//! only: it speaks the WhatsApp Cloud API's and Hotmart's wire formats
//! (CONTRACTS.md sections 2 and 3), so template mirroring, the members-area
//! catalogue sync and every WhatsApp send go through jornada's real clients,
//! and nothing ever leaves the machine. Messages "sent" here reach no one.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::catalog::PRODUCTS;

/// The Graph API version in the sandbox's WhatsApp base URL.
const GRAPH_VERSION: &str = "v21.0";
pub const PHONE_NUMBER_ID: &str = "100000000000001";
pub const WABA_ID: &str = "100000000000002";
/// What the sandbox's Graph API and Hotmart API take as credentials.
pub const ACCESS_TOKEN: &str = "sandbox-token";
pub const HOTMART_CLIENT_ID: &str = "sandbox-client";
pub const HOTMART_CLIENT_SECRET: &str = "sandbox-secret";

/// A message the sandbox accepted, for the status callbacks that follow.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub wamid: String,
    /// `to`, digits only.
    pub to: String,
    /// When it was taken, by the fill's clock.
    pub at: DateTime<Utc>,
}

struct Shared {
    clock: entity::Clock,
    templates: Vec<Value>,
    accepted: Vec<Accepted>,
    sent: u64,
}

/// The running sandbox; it stops when dropped.
pub struct Sandbox {
    address: String,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    /// Listens on a free loopback port.
    pub async fn start(clock: entity::Clock, templates: Vec<Value>) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Mutex::new(Shared {
            clock,
            templates,
            accepted: Vec::new(),
            sent: 0,
        }));
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sandbox {
            address,
            shared,
            server,
        })
    }

    /// The workspace settings that point jornada's clients here.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "whatsapp.base_url",
                format!("{}/graph/{GRAPH_VERSION}", self.address),
            ),
            ("whatsapp.token", ACCESS_TOKEN.to_owned()),
            ("whatsapp.phone_number_id", PHONE_NUMBER_ID.to_owned()),
            ("whatsapp.waba_id", WABA_ID.to_owned()),
            ("hotmart.base_url", format!("{}/hotmart", self.address)),
            ("hotmart.auth_url", format!("{}/hotmart", self.address)),
            ("hotmart.client_id", HOTMART_CLIENT_ID.to_owned()),
            ("hotmart.client_secret", HOTMART_CLIENT_SECRET.to_owned()),
        ]
    }

    /// The messages accepted since the last call.
    pub fn take_accepted(&self) -> Vec<Accepted> {
        std::mem::take(&mut lock(&self.shared).accepted)
    }

    /// How many messages the sandbox has accepted in all.
    pub fn sent(&self) -> u64 {
        lock(&self.shared).sent
    }
}

fn router(shared: Arc<Mutex<Shared>>) -> Router {
    Router::new()
        .route("/graph/{version}/{id}/messages", post(send_message))
        .route(
            "/graph/{version}/{id}/message_templates",
            get(list_templates),
        )
        .route("/hotmart/security/oauth/token", post(token))
        .route("/hotmart/payments/api/v1/sales/history", get(empty_page))
        .route("/hotmart/payments/api/v1/subscriptions", get(empty_page))
        .route("/hotmart/club/api/v1/users", get(empty_page))
        .route("/hotmart/club/api/v1/modules", get(club_modules))
        .route("/hotmart/club/api/v1/modules/{id}/pages", get(club_pages))
        .layer(middleware::from_fn(authenticate))
        .with_state(shared)
}

/// Every call but the token request needs the sandbox's bearer token, as
/// Graph and Hotmart need theirs.
async fn authenticate(request: Request, next: Next) -> Response {
    let bearer = format!("Bearer {ACCESS_TOKEN}");
    let authorized = request.uri().path().ends_with("/oauth/token")
        || request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == bearer);
    if !authorized {
        let body = json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    next.run(request).await
}

fn invalid_parameter(details: &str) -> Response {
    let body = json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100,
        "error_data": {"messaging_product": "whatsapp", "details": details}}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn send_message(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path((_version, id)): Path<(String, String)>,
    Json(payload): Json<Value>,
) -> Response {
    if id != PHONE_NUMBER_ID {
        return invalid_parameter("Unknown phone number id");
    }
    if payload["messaging_product"] != "whatsapp" {
        return invalid_parameter("messaging_product must be whatsapp");
    }
    let Some(to) = payload["to"].as_str() else {
        return invalid_parameter("The parameter to is required.");
    };
    let to: String = to.chars().filter(char::is_ascii_digit).collect();
    let mut shared = lock(&shared);
    shared.sent += 1;
    let wamid = format!("wamid.DEMO{:012}", shared.sent);
    let at = shared.clock.now();
    shared.accepted.push(Accepted {
        wamid: wamid.clone(),
        to: to.clone(),
        at,
    });
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid, "message_status": "accepted"}]
    }))
    .into_response()
}

async fn list_templates(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path((_version, id)): Path<(String, String)>,
) -> Response {
    if id != WABA_ID {
        return invalid_parameter("Unknown WhatsApp Business Account id");
    }
    let data = lock(&shared).templates.clone();
    Json(json!({"data": data, "paging": {"cursors": {"before": "MA", "after": "MQ"}}}))
        .into_response()
}

async fn token() -> Response {
    Json(
        json!({"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 172_800,
        "scope": "read write", "jti": "sandbox"}),
    )
    .into_response()
}

/// A Hotmart page with no items: the sandbox keeps no sales, subscriptions
/// or members; postbacks bring those.
async fn empty_page() -> Response {
    Json(json!({"items": [], "page_info": {"total_results": 0, "results_per_page": 0}}))
        .into_response()
}

type ClubQuery = Query<Vec<(String, String)>>;

fn subdomain(query: &ClubQuery) -> Option<&str> {
    query
        .0
        .iter()
        .find(|(k, _)| k == "subdomain")
        .map(|(_, v)| v.as_str())
}

fn club_not_found() -> Response {
    let body = json!({"error": "not_found", "error_description": "members area not found"});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

async fn club_modules(query: ClubQuery) -> Response {
    let Some(product) = PRODUCTS
        .iter()
        .find(|p| Some(p.club_subdomain) == subdomain(&query))
    else {
        return club_not_found();
    };
    let modules: Vec<Value> = product
        .modules
        .iter()
        .enumerate()
        .map(|(index, module)| {
            json!({"module_id": product.module_id(index), "name": module.name, "sequence": index + 1,
                "is_extra": false, "is_public": true, "total_pages": module.lessons.len()})
        })
        .collect();
    Json(json!(modules)).into_response()
}

async fn club_pages(Path(module_id): Path<String>, query: ClubQuery) -> Response {
    let Some(product) = PRODUCTS
        .iter()
        .find(|p| Some(p.club_subdomain) == subdomain(&query))
    else {
        return club_not_found();
    };
    let Some(index) = (0..product.modules.len()).find(|i| product.module_id(*i) == module_id)
    else {
        return club_not_found();
    };
    let pages: Vec<Value> = product.modules[index]
        .lessons
        .iter()
        .enumerate()
        .map(|(lesson, name)| {
            json!({"page_id": product.page_id(index, lesson), "name": name, "sequence": lesson + 1,
                "page_type": "CONTENT", "is_published": true})
        })
        .collect();
    Json(json!(pages)).into_response()
}
