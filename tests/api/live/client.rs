//! A `graphql-transport-ws` client over a real WebSocket, as a browser's
//! GraphQL client speaks it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// How long a test waits for a message the server should send.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct LiveClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How the server ended a connection.
#[derive(Debug)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl LiveClient {
    /// Opens `/graphql/ws` and sends `connection_init` with `payload`;
    /// `Err` with the close frame when the server refuses it.
    pub async fn connect(app: &TestApp, payload: Value) -> Result<LiveClient, Closed> {
        let url = app.url("/graphql/ws").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().expect("a ws url");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the app upgrades the connection");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        let mut client = LiveClient { socket };
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        match client.next_message().await {
            Ok(ack) => {
                assert_eq!(ack["type"], "connection_ack", "{ack}");
                Ok(client)
            }
            Err(closed) => Err(closed),
        }
    }

    /// Connects with `{"Authorization": "Bearer <token>"}`.
    pub async fn with_token(app: &TestApp, token: &str) -> LiveClient {
        LiveClient::connect(app, json!({"Authorization": format!("Bearer {token}")}))
            .await
            .expect("the token is accepted")
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("the socket takes the message");
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            .await;
    }

    /// The next protocol message (pings answered), or how the server closed.
    pub async fn next_message(&mut self) -> Result<Value, Closed> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the server answers in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    if value["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Ok(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(
                        Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                        |f| Closed {
                            code: u16::from(f.code),
                            reason: f.reason.to_string(),
                        },
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("the socket failed: {err}"),
                None => {
                    return Err(Closed {
                        code: u16::from(CloseCode::Abnormal),
                        reason: String::new(),
                    });
                }
            }
        }
    }

    /// The next message of operation `id`: its `next` payload, or the
    /// `error` message whole.
    pub async fn next_of(&mut self, id: &str) -> Value {
        loop {
            let message = self
                .next_message()
                .await
                .expect("the connection stays open");
            if message["id"] != id {
                continue;
            }
            return match message["type"].as_str() {
                Some("next") => message["payload"].clone(),
                _ => message,
            };
        }
    }

    /// The data of the next message of operation `id`'s field, asserting
    /// it carried no errors.
    pub async fn next_data(&mut self, id: &str, field: &str) -> Value {
        let payload = self.next_of(id).await;
        assert!(
            payload.get("errors").is_none() && payload.get("type").is_none(),
            "unexpected: {payload}"
        );
        payload["data"][field].clone()
    }
}
