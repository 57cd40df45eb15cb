//! `GET|POST /webhooks/whatsapp/{workspace}`: Meta's WhatsApp webhooks.
//!
//! GET is the subscription handshake: `hub.verify_token` is compared in
//! constant time with the workspace setting `whatsapp.verify_token` and the
//! raw `hub.challenge` is echoed. POST carries status callbacks, inbound
//! messages and template status changes, signed with `X-Hub-Signature-256`
//! (HMAC-SHA256 of the raw body under `whatsapp.app_secret`); a body that
//! does not verify is refused before it is parsed and nothing is stored.
//!
//! These are small, idempotent updates, applied before the 200: statuses
//! move the outbox monotonically (a repeated or late callback changes
//! nothing), inbound messages open the 24 h window and STOP-style replies
//! and error 131050 record opt-outs. A failure to store answers 503, and
//! Meta delivers again.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use entity::Tenant;
use entity::enums::MessageStatus;
use entity::whatsapp::webhook::{
    DeliveryStatus, WebhookBatch, is_opt_out, parse_webhook, verify_signature,
};
use entity::whatsapp::{self as store, StatusCallback, StatusOutcome};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::http::{AppState, error_response};

/// Largest accepted webhook body.
pub const BODY_LIMIT: usize = 1024 * 1024;
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const APP_SECRET_SETTING: &str = "whatsapp.app_secret";
pub const VERIFY_TOKEN_SETTING: &str = "whatsapp.verify_token";
pub const PHONE_NUMBER_ID_SETTING: &str = "whatsapp.phone_number_id";
/// Longest challenge echoed back (Meta's are short numbers).
const MAX_CHALLENGE_LEN: usize = 1024;

const REJECTED: &str = "jornada_whatsapp_webhooks_rejected_total";
const ACCEPTED: &str = "jornada_whatsapp_webhooks_total";
const ITEMS: &str = "jornada_whatsapp_webhook_items_total";

/// The receiver's routes, with their own body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/whatsapp/{workspace}", get(verify).post(receive))
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

/// The workspace named in the URL (slug or id), or the response to give.
async fn workspace(state: &AppState, key: &str) -> Result<Tenant, Response> {
    match entity::workspaces::find_by_slug_or_id(&state.db, key).await {
        Ok(Some(workspace)) => Ok(Tenant::new(workspace.id)),
        Ok(None) => Err(rejected(
            state,
            "unknown_workspace",
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such workspace",
        )),
        Err(err) => {
            tracing::error!(error = %err, "whatsapp webhook: workspace lookup failed");
            Err(unavailable("try again later"))
        }
    }
}

/// A workspace setting, or the response to give if it cannot be read.
async fn setting(state: &AppState, tenant: Tenant, key: &str) -> Result<Option<String>, Response> {
    entity::settings::reveal(&state.db, tenant, &state.secrets, key)
        .await
        .map(|value| value.filter(|v| !v.is_empty()))
        .map_err(|err| {
            tracing::error!(error = %err, workspace_id = %tenant.workspace_id(), key, "whatsapp webhook: reading a setting failed");
            unavailable("try again later")
        })
}

fn equal_in_constant_time(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The subscription handshake: 200 with the raw challenge when the mode is
/// `subscribe` and the token matches; 403 otherwise.
pub async fn verify(
    State(state): State<AppState>,
    Path(key): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let tenant = match workspace(&state, &key).await {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    let expected = match setting(&state, tenant, VERIFY_TOKEN_SETTING).await {
        Ok(expected) => expected,
        Err(response) => return response,
    };
    let params = query.map(|Query(q)| q).unwrap_or_default();
    let param = |name: &str| params.get(name).map(String::as_str);
    let token_matches = matches!(
        (expected.as_deref(), param("hub.verify_token")),
        (Some(expected), Some(given)) if equal_in_constant_time(expected, given)
    );
    let challenge = param("hub.challenge").filter(|c| c.len() <= MAX_CHALLENGE_LEN);
    match (param("hub.mode"), token_matches, challenge) {
        (Some("subscribe"), true, Some(challenge)) => {
            state.metrics.count(ACCEPTED, "outcome", "verified");
            tracing::info!(workspace_id = %tenant.workspace_id(), "whatsapp webhook subscription verified");
            (
                StatusCode::OK,
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    ),
                    (
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    ),
                ],
                challenge.to_owned(),
            )
                .into_response()
        }
        _ => {
            if expected.is_none() {
                tracing::warn!(workspace_id = %tenant.workspace_id(), "whatsapp webhook verification refused: {VERIFY_TOKEN_SETTING} is not set");
            } else {
                tracing::warn!(workspace_id = %tenant.workspace_id(), "whatsapp webhook verification refused");
            }
            rejected(
                &state,
                "verification_refused",
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "verification refused",
            )
        }
    }
}

/// A signed webhook delivery.
pub async fn receive(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let tenant = match workspace(&state, &key).await {
        Ok(tenant) => tenant,
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
    let app_secret = match setting(&state, tenant, APP_SECRET_SETTING).await {
        Ok(secret) => secret,
        Err(response) => return response,
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let refusal = match &app_secret {
        None => Some("not_configured"),
        Some(_) if signature.is_empty() => Some("missing_signature"),
        Some(secret) if !verify_signature(secret, &body, signature) => Some("bad_signature"),
        Some(_) => None,
    };
    if let Some(reason) = refusal {
        if app_secret.is_none() {
            tracing::warn!(workspace_id = %tenant.workspace_id(), "whatsapp webhook refused: {APP_SECRET_SETTING} is not set");
        } else {
            tracing::warn!(workspace_id = %tenant.workspace_id(), reason, "whatsapp webhook with a wrong or missing signature");
        }
        return rejected(
            &state,
            reason,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "wrong or missing X-Hub-Signature-256",
        );
    }
    let batch = match parse_webhook(&body) {
        Ok(batch) => batch,
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
    let own_number = match setting(&state, tenant, PHONE_NUMBER_ID_SETTING).await {
        Ok(number) => number.map(|n| n.trim().to_owned()),
        Err(response) => return response,
    };
    match apply(&state, tenant, own_number.as_deref(), &batch).await {
        Ok(summary) => {
            if summary.applied > 0 {
                // Statuses move campaign metrics a builder may be watching.
                state.work_signals.workspace_changed(tenant.workspace_id());
            }
            state.metrics.count(ACCEPTED, "outcome", "accepted");
            tracing::info!(
                workspace_id = %tenant.workspace_id(),
                statuses = batch.statuses.len(),
                messages = batch.messages.len(),
                template_updates = batch.template_updates.len(),
                applied = summary.applied,
                "whatsapp webhook applied"
            );
            (
                StatusCode::OK,
                Json(json!({"status": "accepted", "applied": summary.applied})),
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, workspace_id = %tenant.workspace_id(), "applying a whatsapp webhook failed");
            unavailable("the delivery was not applied; retry")
        }
    }
}

#[derive(Default)]
struct Summary {
    /// Items that changed something.
    applied: usize,
}

fn message_status(status: DeliveryStatus) -> MessageStatus {
    match status {
        DeliveryStatus::Sent => MessageStatus::Sent,
        DeliveryStatus::Delivered => MessageStatus::Delivered,
        DeliveryStatus::Read => MessageStatus::Read,
        DeliveryStatus::Failed => MessageStatus::Failed,
    }
}

/// Whether an item is about another phone number than the workspace's
/// (an app subscribed for several numbers posts them all to each URL).
fn other_number(own: Option<&str>, item: Option<&str>) -> bool {
    matches!((own, item), (Some(own), Some(item)) if !own.is_empty() && own != item)
}

async fn apply(
    state: &AppState,
    tenant: Tenant,
    own_number: Option<&str>,
    batch: &WebhookBatch,
) -> Result<Summary, entity::Error> {
    let count = |kind: &str| state.metrics.count(ITEMS, "kind", kind);
    let mut summary = Summary::default();
    let now = state.clock.now();
    for status in &batch.statuses {
        if other_number(own_number, status.phone_number_id.as_deref()) {
            count("other_number");
            continue;
        }
        let callback = StatusCallback {
            provider_message_id: status.provider_message_id.clone(),
            status: message_status(status.status),
            at: status.timestamp.unwrap_or(now),
            error_code: status.error_code,
            callback_data: status.callback_data.clone(),
            recipient_phones: status
                .recipient_id
                .as_deref()
                .map(store::phone_candidates)
                .unwrap_or_default(),
        };
        match store::apply_status_callback(&state.db, tenant, &callback, now).await? {
            StatusOutcome::Applied => {
                summary.applied += 1;
                count("status_applied");
            }
            StatusOutcome::Unchanged => count("status_unchanged"),
            StatusOutcome::UnknownMessage => {
                tracing::debug!(workspace_id = %tenant.workspace_id(), "status callback for a message jornada did not send");
                count("status_unknown_message");
            }
        }
    }
    for message in &batch.messages {
        if other_number(own_number, message.phone_number_id.as_deref()) {
            count("other_number");
            continue;
        }
        // A timestamp from the future never holds a window open longer.
        let at = message.timestamp.map_or(now, |at| at.min(now));
        let opt_out = message.text.as_deref().is_some_and(is_opt_out);
        let outcome = store::record_inbound(
            &state.db,
            tenant,
            &store::phone_candidates(&message.from),
            at,
            opt_out,
            now,
        )
        .await?;
        if outcome.customers == 0 {
            count("inbound_unknown_phone");
            continue;
        }
        count("inbound");
        if outcome.windows_extended > 0 || outcome.opted_out > 0 {
            summary.applied += 1;
        }
        if outcome.opted_out > 0 {
            count("opt_out");
        }
    }
    for update in &batch.template_updates {
        // Meta's word for a template put back in service.
        let status = match update.event.as_str() {
            "REINSTATED" => "APPROVED",
            // A quality warning; the template is still sendable.
            "FLAGGED" => {
                count("template_flagged");
                continue;
            }
            event => event,
        };
        let name_and_language = update.name.as_deref().zip(update.language.as_deref());
        match store::set_template_status(
            &state.db,
            tenant,
            update.template_id.as_deref(),
            name_and_language,
            status,
            now,
        )
        .await?
        {
            Some(template) => {
                summary.applied += 1;
                count("template_status");
                tracing::info!(workspace_id = %tenant.workspace_id(), template = %template.name, status = %template.status, reason = update.reason.as_deref().unwrap_or(""), "whatsapp template status changed");
            }
            None => count("template_unchanged"),
        }
    }
    Ok(summary)
}
