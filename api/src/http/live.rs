//! GraphQL over WebSocket at `GET /graphql/ws` (`graphql-transport-ws`),
//! for subscriptions.
//!
//! A browser cannot set headers on a WebSocket, so the token comes in the
//! `connection_init` payload: `{"Authorization": "Bearer <token>"}` or
//! `{"token": "<token>"}`. It is checked like a request's header before the
//! connection is acknowledged; a missing or bad one closes the connection
//! with `4403 Forbidden`. Operations over the socket pass the same checks
//! as `POST /graphql` (query text, NUL characters, depth) and the same
//! roles, scopes and workspace isolation. When the token expires, the
//! connection is closed with `4403 Forbidden: the token has expired` (the
//! screen connects again with a fresh one); when the server stops, with
//! `1001`. An open socket counts against the server's connections.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Executor, Request, Response, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response as HttpResponse;
use futures::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use serde_json::Value;

use super::serve::{ConnectionSlot, HeldSlot};
use super::{AppState, GRAPHQL_BODY_LIMIT, add_request_data, error_response, with_codes};
use crate::auth::{AuthError, Caller};
use crate::graphql::JornadaSchema;
use crate::graphql::limits::{TextRefusal, check_document, check_text};

/// How long a client has, once connected, to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Close codes of `graphql-transport-ws`.
const FORBIDDEN: u16 = 4403;
const BAD_REQUEST: u16 = 4400;
const INIT_TIMED_OUT: u16 = 4408;
/// The WebSocket close code of a server going away.
const GOING_AWAY: u16 = 1001;

/// Upgrades to a GraphQL WebSocket; anything else is refused with a
/// GraphQL-shaped error.
pub async fn connect(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
) -> HttpResponse {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return error_response(
                rejection.status(),
                "INVALID_INPUT",
                "this route speaks GraphQL over WebSocket (graphql-transport-ws): send a WebSocket upgrade",
            );
        }
    };
    let Ok(protocol) = protocol else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "ask for the graphql-transport-ws subprotocol (Sec-WebSocket-Protocol)",
        );
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(GRAPHQL_BODY_LIMIT)
        .on_upgrade(move |socket| {
            let held = slot.map(|Extension(slot)| slot.hold());
            serve(state, socket, protocol, held)
        })
}

async fn serve(
    state: AppState,
    socket: WebSocket,
    protocol: GraphQLProtocol,
    mut held: Option<HeldSlot>,
) {
    let (mut sink, mut stream) = socket.split();
    let init = match tokio::time::timeout(INIT_TIMEOUT, first_text(&mut stream)).await {
        Err(_) => {
            let _ = sink
                .send(close(INIT_TIMED_OUT, "Connection initialisation timeout"))
                .await;
            return;
        }
        Ok(None) => return,
        Ok(Some(text)) => text,
    };
    let caller = match authenticate(&state, &init) {
        Ok(caller) => caller,
        Err(Refused { code, reason }) => {
            let _ = sink.send(close(code, &reason)).await;
            return;
        }
    };
    let expires_at = caller.expires_at;
    let mut data = Data::default();
    data.insert(caller);
    // The connection_init already read goes on to the protocol, which
    // acknowledges it with the caller as the connection's data.
    let input = futures::stream::iter([Ok(Message::Text(init.into()))]).chain(stream);
    let executor = LiveExecutor {
        schema: state.schema.clone(),
        db: state.db.clone(),
    };
    // The protocol writes to a channel this task forwards to the socket,
    // so that the socket can still be closed when the token expires or
    // the server stops.
    let (replies, mut outgoing) = futures::channel::mpsc::channel::<Message>(16);
    let protocol = GraphQLWebSocket::new_with_pair(replies, input, executor, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .serve();
    let mut protocol = std::pin::pin!(protocol);
    let until_expiry = expires_at
        .map(|at| (at - chrono::Utc::now()).to_std().unwrap_or_default())
        .unwrap_or(Duration::MAX);
    let expiry = tokio::time::sleep(until_expiry.min(Duration::from_secs(60 * 60 * 24 * 365)));
    let mut expiry = std::pin::pin!(expiry);
    let stopping = async {
        match held.as_mut() {
            Some(held) => held.stopping().await,
            None => std::future::pending().await,
        }
    };
    let mut stopping = std::pin::pin!(stopping);
    let mut protocol_done = false;
    loop {
        tokio::select! {
            () = &mut protocol, if !protocol_done => protocol_done = true,
            reply = outgoing.next() => match reply {
                Some(reply) => {
                    if sink.send(reply).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            () = &mut expiry => {
                let _ = sink.send(close(FORBIDDEN, "Forbidden: the token has expired")).await;
                return;
            }
            () = &mut stopping => {
                let _ = sink.send(close(GOING_AWAY, "the server is stopping")).await;
                return;
            }
        }
    }
}

/// The first text (or binary) message; `None` when the client left first.
async fn first_text<S>(stream: &mut S) -> Option<String>
where
    S: futures::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Binary(bytes) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    None
}

struct Refused {
    code: u16,
    reason: String,
}

/// The caller a `connection_init` message names by its token.
fn authenticate(state: &AppState, init: &str) -> Result<Caller, Refused> {
    let message: Value = serde_json::from_str(init).map_err(|_| Refused {
        code: BAD_REQUEST,
        reason: "the first message must be connection_init".into(),
    })?;
    if message.get("type").and_then(Value::as_str) != Some("connection_init") {
        return Err(Refused {
            code: BAD_REQUEST,
            reason: "the first message must be connection_init".into(),
        });
    }
    let forbidden = |why: &str| Refused {
        code: FORBIDDEN,
        reason: format!("Forbidden: {why}"),
    };
    let payload = message.get("payload").unwrap_or(&Value::Null);
    let token = ["Authorization", "authorization", "token"]
        .iter()
        .find_map(|key| payload.get(key).and_then(Value::as_str))
        .map(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .unwrap_or(value)
                .trim()
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            forbidden("connection_init must carry a token: {\"Authorization\": \"Bearer <token>\"}")
        })?;
    state
        .jwt
        .verify(token)
        .map_err(|why: AuthError| forbidden(&why.to_string()))
}

/// A close frame; its reason is cut to what a frame can carry.
fn close(code: u16, reason: &str) -> Message {
    let mut reason = reason.to_owned();
    while reason.len() > 120 {
        reason.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Runs operations that come over a socket through the checks
/// `POST /graphql` makes.
#[derive(Clone)]
struct LiveExecutor {
    schema: JornadaSchema,
    db: DatabaseConnection,
}

impl LiveExecutor {
    /// The request with its per-request data, or why it is refused.
    fn prepare(&self, mut request: Request) -> Result<Request, String> {
        check_text(&request.query).map_err(|refusal| refusal.message())?;
        let variables = serde_json::to_value(&request.variables).unwrap_or_default();
        if entity::text::holds_nul(&variables) {
            return Err(TextRefusal::NulCharacter.message());
        }
        if let Ok(document) = request.parsed_query()
            && let Err(refusal) = check_document(document)
        {
            return Err(refusal.message());
        }
        add_request_data(&mut request.data, &self.db);
        Ok(request)
    }
}

/// A refusal as a GraphQL response, with its code.
fn refused(message: String) -> Response {
    let mut response = Response::from_errors(vec![ServerError::new(message, None)]);
    with_codes(&mut response);
    response
}

impl Executor for LiveExecutor {
    async fn execute(&self, request: Request) -> Response {
        match self.prepare(request) {
            Ok(request) => {
                let mut response = self.schema.execute(request).await;
                with_codes(&mut response);
                response
            }
            Err(why) => refused(why),
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match self.prepare(request) {
            Ok(request) => self
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(|mut response| {
                    with_codes(&mut response);
                    response
                })
                .boxed(),
            Err(why) => futures::stream::once(async move { refused(why) }).boxed(),
        }
    }
}
