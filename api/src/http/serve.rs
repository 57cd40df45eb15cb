//! Serving connections: how long a client may take to send a request, and
//! how many connections are served at once.
//!
//! A client that sends its headers or its body a byte at a time would
//! otherwise hold a connection, a task and its buffers for as long as it
//! likes, and a few hundred such clients starve everyone else. So:
//! - headers must arrive within `header_read_timeout` from when the
//!   connection starts waiting for a request (on an idle keep-alive
//!   connection, too: it is closed after that long without a request);
//! - a body must arrive within `body_read_timeout` from when its headers did,
//!   or the request is answered 408;
//! - at most `max_connections` are served at once; past that, new
//!   connections wait in the listen backlog until one closes. A connection
//!   upgraded to a WebSocket keeps its place until the socket closes, and
//!   is told when the server stops ([`ConnectionSlot`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How patient the server is with clients, and with how many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// A connection's place among the `max_connections`, in each request's
/// extensions: a request that upgrades the connection takes it along to
/// the socket's task, which holds it until the socket closes and leaves
/// when the server stops.
#[derive(Clone)]
pub struct ConnectionSlot {
    permit: Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>,
    stopping: watch::Receiver<bool>,
}

/// The place an upgraded connection holds, and the server's stop signal.
pub struct HeldSlot {
    _permit: Option<OwnedSemaphorePermit>,
    stopping: watch::Receiver<bool>,
}

impl ConnectionSlot {
    /// Takes the place for the connection's upgraded socket.
    pub fn hold(&self) -> HeldSlot {
        let permit = self.permit.lock().unwrap_or_else(|p| p.into_inner()).take();
        HeldSlot {
            _permit: permit,
            stopping: self.stopping.clone(),
        }
    }
}

impl HeldSlot {
    /// Resolves once the server is stopping.
    pub async fn stopping(&mut self) {
        let _ = self.stopping.wait_for(|stopping| *stopping).await;
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves,
/// then stops accepting and lets open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let router = router.layer(middleware::from_fn_with_state(
        limits.body_read_timeout,
        body_within,
    ));
    // HTTP/1.1 only: a connection's first bytes are read as a request head,
    // under the deadline, from the start. (Telling HTTP/2 apart would wait
    // for them with none.) TLS and HTTP/2 are the reverse proxy's part.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let max_connections = limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max_connections));
    // Told to every connection when the server stops: it finishes the
    // request in flight and closes.
    let (stopping, stop) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it
                    // was taken: wait a moment rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let place = ConnectionSlot {
            permit: Arc::new(std::sync::Mutex::new(Some(slot))),
            stopping: stop.clone(),
        };
        let slot = place.clone();
        let service = tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(remote));
            extensions.insert(place.clone());
            router.clone().oneshot(request.map(Body::new))
        });
        // Upgrades (GraphQL over WebSocket) leave the connection once
        // switched: the socket's own task holds it, and its place, from
        // then on.
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection has ended once every slot is free again.
    let _ = slots.acquire_many(max_connections as u32).await;
}

/// Why a body stopped: it did not arrive within the time allowed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} seconds", .0.as_secs())]
pub struct BodyTimedOut(pub Duration);

/// Whether a body extractor failed because the body came too slowly; the
/// handler answers 408 then.
pub fn body_timed_out(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if error.is::<BodyTimedOut>() {
            return true;
        }
        cause = error.source();
    }
    false
}

async fn body_within(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = if http_body::Body::is_end_stream(&body) {
        body
    } else {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Instant::now() + timeout,
            timeout,
            timer: None,
        })
    };
    next.run(Request::from_parts(parts, body)).await
}

/// A body that fails with [`BodyTimedOut`] once its deadline passes. The
/// timer is set only when the body has to be waited for: most bodies come
/// with their headers.
struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        let timeout = self.timeout;
        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(timeout)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
