//! Clients that send slowly, or hold connections open, cannot hold the
//! server: headers and bodies have deadlines, and connections are capped.

use std::time::Duration;

use api::http::serve::HttpLimits;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::hotmart_webhooks::HOTTOK;
use crate::on_both_backends;

/// Short deadlines, so a test waits a second or two for them rather than the
/// production defaults.
const PATIENT: HttpLimits = HttpLimits {
    header_read_timeout: Duration::from_secs(1),
    body_read_timeout: Duration::from_secs(2),
    max_connections: 64,
};

/// Bounds every read a test makes, far beyond the deadlines under test, so
/// a server that never closes fails the test instead of hanging it.
const GIVE_UP: Duration = Duration::from_secs(30);

async fn spawn_patient(backend: Backend) -> TestApp {
    spawn_app_with(backend, PATIENT).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(GIVE_UP, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

async fn headers_sent_too_slowly_close_the_connection(app: TestApp) {
    // Half a request line and a header, then nothing.
    let mut stalled = connect(&app).await;
    stalled
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: jornada\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stalled).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "closed without serving the request: {answer:?}"
    );
    // A connection that never sends a byte is closed too.
    let mut silent = connect(&app).await;
    read_until_closed(&mut silent).await;
    app.assert_serving().await;
}
on_both_backends!(
    headers_sent_too_slowly_close_the_connection,
    headers_sent_too_slowly_close_the_connection,
    spawn_patient
);

/// Sends the headers of a POST announcing `length` bytes, then `sent`
/// bytes of its body a byte at a time, `pause` apart, while the server
/// keeps the connection open.
async fn trickle(app: &TestApp, path: &str, length: usize, sent: &[u8], pause: Duration) -> String {
    let mut stream = connect(app).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: jornada\r\nContent-Type: application/json\r\nX-Hotmart-Hottok: {HOTTOK}\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    for byte in sent {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    read_until_closed(&mut stream).await
}

fn status_and_body(answer: &str) -> (u16, Value) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, body)
}

async fn bodies_sent_too_slowly_are_answered_408(app: TestApp) {
    app.hotmart_workspace("devagar").await;
    for path in ["/graphql", "/webhooks/hotmart/devagar"] {
        // Part of the body, then silence.
        let answer = trickle(&app, path, 200, b"{\"query\"", Duration::ZERO).await;
        let (status, body) = status_and_body(&answer);
        assert_eq!(status, 408, "{path}: {answer}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "INVALID_INPUT",
            "{path}"
        );
        // A byte every 300 ms never lets the connection idle, yet the body's
        // deadline holds for the whole body.
        let answer = trickle(&app, path, 200, &[b' '; 40], Duration::from_millis(300)).await;
        assert_eq!(status_and_body(&answer).0, 408, "{path}: {answer}");
    }
    assert_eq!(app.count_rows("webhook_events").await, 0);
    app.assert_serving().await;
}
on_both_backends!(
    bodies_sent_too_slowly_are_answered_408,
    bodies_sent_too_slowly_are_answered_408,
    spawn_patient
);

/// Two connections at most, and headers given all the time the test needs.
pub(crate) async fn spawn_two_connections(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        HttpLimits {
            header_read_timeout: Duration::from_secs(60),
            max_connections: 2,
            ..PATIENT
        },
    )
    .await
}

async fn connections_past_the_cap_wait_for_a_free_one(app: TestApp) {
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("write");
        held.push(stream);
    }
    // A third client's connection is not served while both are held...
    let third = tokio::spawn({
        let client = reqwest::Client::new();
        let url = app.url("/healthz");
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "served past the cap");
    // ...and is as soon as one of them goes.
    drop(held.pop());
    let status = tokio::time::timeout(GIVE_UP, third)
        .await
        .expect("served once a connection is free")
        .expect("task")
        .expect("answered");
    assert_eq!(status, 200);
}
on_both_backends!(
    connections_past_the_cap_wait_for_a_free_one,
    connections_past_the_cap_wait_for_a_free_one,
    spawn_two_connections
);
