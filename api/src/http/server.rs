//! The accept loop: HTTP/1.1 over hyper with a header-read timeout and a connection limit, and
//! a graceful shutdown.
//!
//! axum's own `serve` sets neither, so the loop is written here over hyper-util's pieces (the
//! same ones `axum::serve` uses). A connection that has not sent a whole request head within
//! [`ConnectionLimits::header_timeout`] is closed (an idle keep-alive connection too: the timer
//! runs whenever the server waits for a head). Past [`ConnectionLimits::max_connections`] open
//! connections, a new one is answered `503` in the envelope and closed; past twice that, it is
//! closed unanswered.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::AppState;

/// Bounds on what clients may hold open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request head (and how long an idle keep-alive
    /// connection stays open).
    pub header_timeout: Duration,
    /// Open connections served at once; more are answered 503.
    pub max_connections: usize,
    /// Event streams (`/api/jobs/{id}/stream`) open at once; more are answered 503.
    pub max_streams: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { header_timeout: Duration::from_secs(10), max_connections: 512, max_streams: 64 }
    }
}

/// Serves `app` on `listener` under `state`'s limits until `shutdown` resolves; then stops
/// accepting, ends the event streams, and waits for the requests in flight.
pub(super) async fn run(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    let served = Arc::new(Semaphore::new(limits.max_connections));
    // Refusing takes a connection too, briefly; past this many refusals in flight, a new
    // connection is closed without an answer.
    let refusing = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut refuse_builder = builder.clone();
    refuse_builder.keep_alive(false);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, as axum's loop does.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let io = TokioIo::new(stream);
        if let Ok(permit) = served.clone().try_acquire_owned() {
            let service = TowerToHyperService::new(app.clone());
            let conn = graceful.watch(builder.serve_connection(io, service));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "a connection ended with an error");
                }
                drop(permit);
            });
        } else if let Ok(permit) = refusing.clone().try_acquire_owned() {
            tracing::warn!(limit = limits.max_connections, "refusing a connection: too many open");
            let refuse = hyper::service::service_fn(move |_: Request<Incoming>| async move {
                let message =
                    format!("the server has {} connections open, its limit; try again shortly", limits.max_connections);
                Ok::<_, Infallible>(ApiError::Unavailable(message).into_response())
            });
            let conn = graceful.watch(refuse_builder.serve_connection(io, refuse));
            tokio::spawn(async move {
                let _ = conn.await;
                drop(permit);
            });
        } else {
            tracing::warn!(limit = limits.max_connections, "closing a connection unanswered: too many open");
        }
    }
    drop(listener);
    state.close_streams();
    graceful.shutdown().await;
    Ok(())
}
