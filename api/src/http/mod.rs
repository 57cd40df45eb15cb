//! The HTTP front door: routes, limits, request ids, metrics.

pub mod cors;
pub mod live;
pub mod metrics;
pub mod persisted;
pub mod remembered;
pub mod serve;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{BatchRequest, BatchResponse, ErrorExtensionValues, Value};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::JwtKeys;
use crate::graphql::JornadaSchema;
use crate::graphql::limits::{TextRefusal, check_document, check_text};
use crate::graphql::loaders::RelationLoader;
use crate::graphql::scope::KnownWorkspaces;
use metrics::Metrics;

/// Largest accepted `/graphql` body.
pub const GRAPHQL_BODY_LIMIT: usize = 1024 * 1024;
/// Most operations accepted in one batched request.
pub const MAX_BATCH: usize = 10;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: JornadaSchema,
    pub jwt: JwtKeys,
    pub metrics: Arc<Metrics>,
    /// Names of the migrations this build expects, for `/readyz`.
    pub migrations: Arc<Vec<String>>,
    pub secrets: entity::SecretKey,
    /// Wakes an in-process worker when events are stored.
    pub work_signals: entity::WorkSignals,
    pub hotmart_receivers: Arc<crate::webhooks::hotmart::ReceiverCache>,
    /// Stores inbound webhooks in group commits.
    pub webhook_intake: crate::webhooks::intake::WebhookIntake,
    /// Where handlers read the time.
    pub clock: entity::Clock,
    /// The queries clients name by their hash.
    pub persisted_queries: persisted::PersistedQueries,
    /// The queries already parsed and checked.
    pub parsed_documents: remembered::ParsedDocuments,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let graphql_routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql))
        .route("/graphql/ws", get(live::connect))
        .layer(DefaultBodyLimit::max(GRAPHQL_BODY_LIMIT));
    let webhook_routes = Router::new()
        .route(
            "/webhooks/hotmart/{workspace}",
            post(crate::webhooks::hotmart::receive),
        )
        .layer(DefaultBodyLimit::max(crate::webhooks::hotmart::BODY_LIMIT));
    Router::new()
        .merge(graphql_routes)
        .merge(webhook_routes)
        .merge(crate::webhooks::whatsapp::routes())
        .merge(crate::webhooks::chatwoot::routes())
        .route("/r/{code}", get(crate::links::redirect))
        .route("/exports/{file}", get(crate::exports::export))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_nul_in_path))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(CatchPanicLayer::custom(|_| {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("http", method = %request.method(), path = %logged_path(request.uri().path()), request_id = %request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// The path as logged: a segment spelling a UUID in any of its forms (upper
/// case, braces, `urn:uuid:`, no hyphens) appears in its one canonical form,
/// so a workspace's requests are found in the logs under one id.
fn logged_path(path: &str) -> Cow<'_, str> {
    // Shorter than a UUID's 32 digits (percent-encoding only lengthens),
    // a segment is passed over undecoded: most paths end here.
    let canonical = |segment: &str| {
        if segment.len() < 32 {
            return None;
        }
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        uuid::Uuid::parse_str(&decoded).ok()
    };
    if !path.split('/').any(|segment| canonical(segment).is_some()) {
        return Cow::Borrowed(path);
    }
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| canonical(segment).map_or_else(|| segment.to_owned(), |id| id.to_string()))
        .collect();
    Cow::Owned(segments.join("/"))
}

/// The answer to a request whose body came too slowly (see [`serve`]).
pub fn body_too_slow() -> Response {
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        "INVALID_INPUT",
        "the request body arrived too slowly",
    )
}

/// A GraphQL-shaped error body (`{"errors": [{message, extensions.code}]}`)
/// for failures that happen before a query runs.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (status, Json(body)).into_response()
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// How long a shared cache may keep the answer to a `GET /graphql` query:
/// as long as the figures take to catch up.
const GET_MAX_AGE: &str = "private, max-age=15";

/// `POST /graphql`: one operation or a batch.
async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = match state.jwt.authenticate(&headers) {
        Ok(caller) => caller,
        Err(why) => return unauthenticated(&why.to_string()),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if serve::body_timed_out(&rejection) => return body_too_slow(),
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the request body is larger than {GRAPHQL_BODY_LIMIT} bytes")
            } else {
                "the request body could not be read".to_owned()
            };
            return error_response(status, "INVALID_INPUT", &message);
        }
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error_response(StatusCode::BAD_REQUEST, "INVALID_INPUT", REQUEST_SHAPE);
    };
    execute(&state, caller, value, Method::Post).await
}

/// `GET /graphql`: a query (never a mutation) from the URL's `query`,
/// `variables`, `operationName` and `extensions` (a persisted query's
/// hash), which a browser or a BI tool may cache; GraphiQL without them.
async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let parameters: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
    if !parameters
        .iter()
        .any(|(name, _)| name == "query" || name == "extensions")
    {
        return graphiql().await.into_response();
    }
    let caller = match state.jwt.authenticate(&headers) {
        Ok(caller) => caller,
        Err(why) => return unauthenticated(&why.to_string()),
    };
    let mut request = serde_json::Map::new();
    for (name, value) in parameters {
        let value = match name.as_str() {
            "query" | "operationName" => serde_json::Value::String(value),
            "variables" | "extensions" => match serde_json::from_str(&value) {
                Ok(json) => json,
                Err(_) => {
                    let message = format!("`{name}` must be JSON");
                    return error_response(StatusCode::BAD_REQUEST, "INVALID_INPUT", &message);
                }
            },
            _ => {
                let message = format!("`{name}` is not a GraphQL request parameter");
                return error_response(StatusCode::BAD_REQUEST, "INVALID_INPUT", &message);
            }
        };
        if request.insert(name.clone(), value).is_some() {
            let message = format!("`{name}` is given more than once");
            return error_response(StatusCode::BAD_REQUEST, "INVALID_INPUT", &message);
        }
    }
    execute(
        &state,
        caller,
        serde_json::Value::Object(request),
        Method::Get,
    )
    .await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

fn unauthenticated(why: &str) -> Response {
    error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", why)
}

/// Runs a request or a batch, read from its JSON: persisted queries are
/// looked up, every text and document is checked before it can run, and a
/// GET may only read.
async fn execute(
    state: &AppState,
    caller: crate::auth::Caller,
    mut value: serde_json::Value,
    method: Method,
) -> Response {
    let requests: Vec<&mut serde_json::Value> = match &mut value {
        serde_json::Value::Array(items) => items.iter_mut().collect(),
        request => vec![request],
    };
    for request in requests {
        if let Some(request) = request.as_object_mut()
            && let Err(refusal) = state.persisted_queries.resolve(request)
        {
            return error_response(StatusCode::OK, refusal.code(), refusal.message());
        }
    }
    let mut batch = match parse_batch(value) {
        Ok(batch) => batch,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "INVALID_INPUT", &message),
    };
    for request in batch.iter_mut() {
        // Refused like any other invalid document: a 200 carrying the
        // error. The parsed document is kept for the execution, and for
        // the next request that sends the same text.
        let document = match state.parsed_documents.recall(&request.query) {
            Some(known) => {
                request.set_parsed_query(ExecutableDocument::clone(&known));
                known
            }
            // async-graphql answers the syntax error when it runs.
            None => match request.parsed_query() {
                Err(_) => continue,
                Ok(parsed) => {
                    if let Err(refusal) = check_document(parsed) {
                        return error_response(StatusCode::OK, "INVALID_INPUT", &refusal.message());
                    }
                    let parsed = Arc::new(parsed.clone());
                    state
                        .parsed_documents
                        .remember(&request.query, parsed.clone());
                    parsed
                }
            },
        };
        if method == Method::Get && !only_reads(&document) {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "INVALID_INPUT",
                "mutations and subscriptions must be sent with POST",
            );
        }
    }
    for request in batch.iter_mut() {
        request.data.insert(caller.clone());
        add_request_data(&mut request.data, &state.db);
    }
    let mut response = state.schema.execute_batch(batch).await;
    with_error_codes(&mut response);
    let cacheable = method == Method::Get && response.is_ok();
    let mut http = Json(response).into_response();
    let headers = http.headers_mut();
    if cacheable {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(GET_MAX_AGE),
        );
        headers.insert(
            header::VARY,
            header::HeaderValue::from_static("authorization"),
        );
    } else {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    http
}

/// Whether every operation of `document` is a query.
fn only_reads(document: &async_graphql::parser::types::ExecutableDocument) -> bool {
    document.operations.iter().all(|(_, operation)| {
        operation.node.ty == async_graphql::parser::types::OperationType::Query
    })
}

const REQUEST_SHAPE: &str = "the body must be a GraphQL request: a JSON object with a string `query` and optional `variables` and `operationName`, or a list of them";

/// Reads a GraphQL request (an object with a string `query`) or a batch of
/// at most `MAX_BATCH` of them. Anything else is refused before it can run:
/// serde would happily read `["{ query }"]` as a request. So is a query
/// text the parser must not see (see [`check_text`]), and a NUL anywhere in
/// the request, which no stored value may hold.
fn parse_batch(value: serde_json::Value) -> Result<BatchRequest, String> {
    let is_request = |v: &serde_json::Value| {
        v.as_object()
            .is_some_and(|o| o.get("query").is_some_and(serde_json::Value::is_string))
    };
    match &value {
        serde_json::Value::Object(_) if is_request(&value) => {}
        serde_json::Value::Array(items) if !items.is_empty() && items.iter().all(is_request) => {
            if items.len() > MAX_BATCH {
                return Err(format!("a batch holds at most {MAX_BATCH} operations"));
            }
        }
        _ => return Err(REQUEST_SHAPE.to_owned()),
    }
    let requests = match &value {
        serde_json::Value::Array(items) => items.iter().collect(),
        request => vec![request],
    };
    for request in requests {
        if let Some(query) = request.get("query").and_then(serde_json::Value::as_str) {
            check_text(query).map_err(|refusal| refusal.message())?;
        }
        if entity::text::holds_nul(request) {
            return Err(TextRefusal::NulCharacter.message());
        }
    }
    serde_json::from_value(value).map_err(|_| REQUEST_SHAPE.to_owned())
}

/// What each operation gets besides its caller: a fresh relation loader
/// and the workspaces it has found to exist.
fn add_request_data(data: &mut async_graphql::Data, db: &DatabaseConnection) {
    data.insert(RelationLoader::for_request(db.clone()));
    data.insert(KnownWorkspaces::default());
}

fn with_error_codes(response: &mut BatchResponse) {
    match response {
        BatchResponse::Single(r) => with_codes(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(with_codes),
    }
}

/// Errors raised by async-graphql itself (syntax, validation, limits, bad
/// argument types) come without a code; they are all the client's input.
fn with_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Value::from("INVALID_INPUT"));
        }
    }
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match pending_migrations(&state).await {
        Ok(0) => Json(json!({"status": "ready"})).into_response(),
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "reason": format!("{pending} migration(s) not applied")})),
        )
            .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "reason": "database unreachable"})))
                .into_response()
        }
    }
}

/// How many of the expected migrations the database has not applied.
async fn pending_migrations(state: &AppState) -> Result<usize, sea_orm::DbErr> {
    let backend = state.db.get_database_backend();
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        state.db.query_all_raw(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations",
        )),
    )
    .await
    .map_err(|_| sea_orm::DbErr::Custom("timed out".into()))?;
    let applied: Vec<String> = match check {
        Ok(rows) => rows
            .iter()
            .filter_map(|row| row.try_get::<String>("", "version").ok())
            .collect(),
        // No migrations table yet: nothing is applied.
        Err(_) if state.db.ping().await.is_ok() => Vec::new(),
        Err(err) => return Err(err),
    };
    Ok(state
        .migrations
        .iter()
        .filter(|m| !applied.contains(m))
        .count())
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.db),
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "INVALID_INPUT",
        "this route does not take that method",
    )
}

/// A path naming a workspace, a link or anything else never holds a NUL:
/// none is stored (PostgreSQL's text cannot hold one), so none is looked up.
async fn refuse_nul_in_path(request: axum::extract::Request, next: middleware::Next) -> Response {
    if request.uri().path().contains("%00") {
        return not_found().await;
    }
    next.run(request).await
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_are_logged_in_one_spelling() {
        let id = "0b9c3c52-6b1e-4c57-9d6e-2f1f8e6c1a10";
        for spelling in [
            id.to_owned(),
            id.to_uppercase(),
            id.replace('-', ""),
            format!("%7B{id}%7D"),
            format!("urn:uuid:{id}"),
        ] {
            assert_eq!(
                logged_path(&format!("/webhooks/hotmart/{spelling}")),
                format!("/webhooks/hotmart/{id}"),
                "{spelling}"
            );
        }
        assert_eq!(
            logged_path("/webhooks/hotmart/curso-da-ana"),
            "/webhooks/hotmart/curso-da-ana"
        );
        assert_eq!(logged_path("/graphql"), "/graphql");
    }
}
