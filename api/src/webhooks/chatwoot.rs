//! `POST /webhooks/chatwoot/{workspace}`: Chatwoot's webhooks.
//!
//! When the workspace sets `chatwoot.webhook_secret`, a delivery must carry
//! `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw
//! body>")>` and an `X-Chatwoot-Timestamp` within five minutes of now,
//! checked before the body is parsed; without the setting deliveries are
//! taken unsigned (older Chatwoot versions do not sign). A delivery is
//! stored, deduplicated on `X-Chatwoot-Delivery` (else on a hash of the
//! body), before the 200; the worker applies it.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use entity::chatwoot::WEBHOOK_SECRET_SETTING;
use entity::chatwoot::webhook::{delivery_key, parse_delivery, verify_signature};
use entity::webhook_events::{self, Accepted, Inbound};
use entity::{Tenant, customers};
use serde_json::json;

use crate::http::{AppState, error_response};

/// Largest accepted delivery body.
pub const BODY_LIMIT: usize = 1024 * 1024;
pub const SIGNATURE_HEADER: &str = "x-chatwoot-signature";
pub const TIMESTAMP_HEADER: &str = "x-chatwoot-timestamp";
pub const DELIVERY_HEADER: &str = "x-chatwoot-delivery";

const REJECTED: &str = "jornada_chatwoot_webhooks_rejected_total";
const ACCEPTED: &str = "jornada_chatwoot_webhooks_total";

/// The receiver's route, with its own body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/chatwoot/{workspace}", post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn rejected(
    state: &AppState,
    reason: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    state.metrics.count(REJECTED, "reason", reason);
    error_response(status, code, message)
}

fn unavailable(message: &str) -> Response {
    error_response(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL", message)
}

/// The workspace named in the URL (slug or id) and its webhook secret, or
/// the response to give.
async fn receiver(state: &AppState, key: &str) -> Result<(Tenant, Option<String>), Response> {
    let workspace = match entity::workspaces::find_by_slug_or_id(&state.db, key).await {
        Ok(Some(workspace)) => workspace,
        Ok(None) => {
            return Err(rejected(
                state,
                "unknown_workspace",
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such workspace",
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "chatwoot webhook: workspace lookup failed");
            return Err(unavailable("try again later"));
        }
    };
    let tenant = Tenant::new(workspace.id);
    match entity::settings::reveal(&state.db, tenant, &state.secrets, WEBHOOK_SECRET_SETTING).await
    {
        Ok(secret) => Ok((tenant, secret.filter(|s| !s.is_empty()))),
        Err(err) => {
            tracing::error!(error = %err, workspace_id = %workspace.id, "chatwoot webhook: reading the secret failed");
            Err(unavailable("try again later"))
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn receive(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (tenant, secret) = match receiver(&state, &key).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if crate::http::serve::body_timed_out(&rejection) => {
            state.metrics.count(REJECTED, "reason", "too_slow");
            return crate::http::body_too_slow();
        }
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return rejected(
                &state,
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_INPUT",
                "the body is larger than 1 MiB",
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
    if let Some(secret) = &secret
        && let Err(why) = verify_signature(
            secret,
            header(&headers, TIMESTAMP_HEADER),
            header(&headers, SIGNATURE_HEADER),
            &body,
            state.clock.now(),
        )
    {
        tracing::warn!(workspace_id = %tenant.workspace_id(), reason = why.code(), "chatwoot webhook refused");
        return rejected(
            &state,
            why.code(),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            &why.to_string(),
        );
    }
    let delivery = match parse_delivery(&body) {
        Ok(delivery) => delivery,
        Err(why) => {
            return rejected(
                &state,
                "malformed",
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &why.to_string(),
            );
        }
    };
    // Valid JSON is UTF-8.
    let payload = String::from_utf8_lossy(&body).into_owned();
    let inbound = Inbound {
        tenant,
        source: webhook_events::CHATWOOT,
        external_id: delivery_key(header(&headers, DELIVERY_HEADER), &body),
        event_type: delivery.event,
        payload,
        customer_hash: delivery
            .sender_email
            .as_deref()
            .map(customers::customer_hash),
    };
    match state.webhook_intake.accept(inbound).await {
        Ok(Accepted::New(id)) => {
            state.work_signals.webhooks_stored();
            state.metrics.count(ACCEPTED, "outcome", "accepted");
            (
                StatusCode::OK,
                Json(json!({"status": "accepted", "id": id})),
            )
                .into_response()
        }
        Ok(Accepted::Duplicate) => {
            state.metrics.count(ACCEPTED, "outcome", "duplicate");
            (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, workspace_id = %tenant.workspace_id(), "storing a chatwoot webhook failed");
            unavailable("the delivery was not stored; retry")
        }
    }
}
