//! `GET /r/{code}`: tracked-link redirects.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::{AppState, error_response};

pub async fn redirect(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match entity::links::click(&state.db, &code, state.clock.now()).await {
        Ok(Some(link)) => match HeaderValue::from_str(&link.target_url) {
            Ok(location) => {
                state
                    .metrics
                    .count("jornada_tracked_link_clicks_total", "outcome", "redirected");
                (
                    StatusCode::FOUND,
                    [
                        (header::LOCATION, location),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    ],
                )
                    .into_response()
            }
            Err(_) => error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such link"),
        },
        Ok(None) => error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such link"),
        Err(err) => {
            tracing::error!(error = %err, "recording a click failed");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "INTERNAL",
                "try again later",
            )
        }
    }
}
