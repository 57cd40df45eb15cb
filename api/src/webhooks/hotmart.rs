//! `POST /webhooks/hotmart/{workspace}`: Hotmart postbacks.
//!
//! The hottok is compared in constant time with the workspace setting
//! `hotmart.hottok`; a valid event is stored (deduplicated on Hotmart's `id`)
//! before the 200, and the worker applies it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use entity::hotmart::{decode, parse_envelope};
use entity::webhook_events::{self, Accepted, Inbound};
use entity::{Tenant, customers};
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::http::{AppState, error_response};

/// Largest accepted postback body.
pub const BODY_LIMIT: usize = 256 * 1024;
pub const HOTTOK_HEADER: &str = "x-hotmart-hottok";
pub const HOTTOK_SETTING: &str = "hotmart.hottok";
/// How long a workspace's hottok is trusted from memory before it is read again.
const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_CAPACITY: usize = 10_000;

/// A workspace as the receiver needs it: its id and its hottok, if configured.
#[derive(Clone)]
struct Receiver {
    workspace_id: Uuid,
    hottok: Option<String>,
}

/// Workspace lookups by URL key, so a launch-day burst costs no extra queries.
#[derive(Default)]
pub struct ReceiverCache {
    entries: Mutex<HashMap<String, (Instant, Option<Receiver>)>>,
}

impl ReceiverCache {
    fn get(&self, key: &str) -> Option<Option<Receiver>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, key: &str, receiver: Option<Receiver>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key.to_owned(), (Instant::now(), receiver));
    }
}

async fn receiver(state: &AppState, key: &str) -> Result<Option<Receiver>, entity::Error> {
    if let Some(cached) = state.hotmart_receivers.get(key) {
        return Ok(cached);
    }
    let found = match entity::workspaces::find_by_slug_or_id(&state.db, key).await? {
        Some(workspace) => {
            let tenant = Tenant::new(workspace.id);
            let hottok =
                entity::settings::reveal(&state.db, tenant, &state.secrets, HOTTOK_SETTING).await?;
            Some(Receiver {
                workspace_id: workspace.id,
                hottok,
            })
        }
        None => None,
    };
    state.hotmart_receivers.put(key, found.clone());
    Ok(found)
}

fn hottok_matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn rejected(
    state: &AppState,
    reason: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    state
        .metrics
        .count("jornada_hotmart_webhooks_rejected_total", "reason", reason);
    error_response(status, code, message)
}

pub async fn receive(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let receiver = match receiver(&state, &key).await {
        Ok(Some(receiver)) => receiver,
        Ok(None) => {
            return rejected(
                &state,
                "unknown_workspace",
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such workspace",
            );
        }
        Err(err) => {
            tracing::error!(error = %err, "webhook receiver lookup failed");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "INTERNAL",
                "try again later",
            );
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if crate::http::serve::body_timed_out(&rejection) => {
            state.metrics.count(
                "jornada_hotmart_webhooks_rejected_total",
                "reason",
                "too_slow",
            );
            return crate::http::body_too_slow();
        }
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return rejected(
                &state,
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_INPUT",
                "the body is larger than 256 KiB",
            );
        }
        Err(_) => {
            return rejected(
                &state,
                "unreadable",
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "the body could not be read",
            );
        }
    };
    let header_token = headers
        .get(HOTTOK_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let expected = receiver.hottok.as_deref();
    // A header token is checked before the body is even parsed.
    if let Some(given) = &header_token
        && !expected.is_some_and(|e| hottok_matches(e, given))
    {
        tracing::warn!(workspace_id = %receiver.workspace_id, "hotmart webhook with a wrong hottok");
        return rejected(
            &state,
            "bad_hottok",
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "wrong or missing hottok",
        );
    }
    let envelope = match parse_envelope(&body) {
        Ok(envelope) => envelope,
        Err(why) => {
            return rejected(
                &state,
                why.code(),
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &why.to_string(),
            );
        }
    };
    if header_token.is_none()
        && !matches!((expected, envelope.hottok.as_deref()), (Some(e), Some(g)) if hottok_matches(e, g))
    {
        tracing::warn!(workspace_id = %receiver.workspace_id, "hotmart webhook with a wrong or missing hottok");
        return rejected(
            &state,
            "bad_hottok",
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "wrong or missing hottok",
        );
    }
    let Ok(payload) = std::str::from_utf8(&body) else {
        return rejected(
            &state,
            "not_utf8",
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "the body is not UTF-8",
        );
    };
    // Which customer the event is about, so appliers can split the queue
    // by customer; an event that does not decode is stored all the same and
    // fails, with its reason, when applied.
    let customer_hash = decode(&envelope)
        .ok()
        .and_then(|event| event.customer_email().map(customers::customer_hash));
    let inbound = Inbound {
        tenant: Tenant::new(receiver.workspace_id),
        source: webhook_events::HOTMART,
        external_id: envelope.id,
        event_type: envelope.event,
        payload: payload.to_owned(),
        customer_hash,
    };
    match state.webhook_intake.accept(inbound).await {
        Ok(Accepted::New(id)) => {
            state.work_signals.webhooks_stored();
            state
                .metrics
                .count("jornada_hotmart_webhooks_total", "outcome", "accepted");
            (
                StatusCode::OK,
                Json(json!({"status": "accepted", "id": id})),
            )
                .into_response()
        }
        Ok(Accepted::Duplicate) => {
            state
                .metrics
                .count("jornada_hotmart_webhooks_total", "outcome", "duplicate");
            (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, workspace_id = %receiver.workspace_id, "storing a hotmart webhook failed");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "INTERNAL",
                "the event was not stored; retry",
            )
        }
    }
}
