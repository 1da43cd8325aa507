//! `GET /api/jobs/{id}/stream`: a job's progress as server-sent events, driven by the store's live
//! feed (PostgreSQL `LISTEN/NOTIFY`, SQLite's in-process channel), not by polling.
//!
//! The handler subscribes to the feed *before* it reads the job, so no commit can fall between
//! the first row it sends and the notices it follows. Each event is named `progress` and carries
//! the whole job row; after a terminal row comes one `end` event and the stream closes (an
//! `EventSource` client should `close()` on `end`, or it would reconnect). At most
//! [`super::ConnectionLimits::max_streams`] streams are open at once; one more is a 503.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use dongbo_engine::store::Notice;
use dongbo_engine::{BackgroundJob, JobId, SharedStore};
use futures::Stream;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorEnvelope};
use super::extract::JobIdPath;
use super::jobs::load_job;
use super::views::JobView;
use super::AppState;

/// How often an idle stream sends a comment so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_job))
}

/// A job's progress as it happens: `progress` events carrying the job row (the current row
/// first, then one per committed change), then `end` once the job has finished.
#[utoipa::path(get, path = "/api/jobs/{id}/stream", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "`text/event-stream` of `progress` events (data: the job row), then one `end` event",
            content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 404, description = "No such job", body = ErrorEnvelope),
        (status = 503, description = "As many event streams are open as the server allows", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn stream_job(
    State(state): State<AppState>,
    JobIdPath(id): JobIdPath,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let limit = state.limits.max_streams;
    let slot = state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::Unavailable(format!("{limit} event streams are open, the server's limit; try again shortly"))
    })?;
    // Subscribe first: a commit between the read and the subscription would otherwise be lost.
    let notices = state.engine.store().subscribe();
    let job = load_job(&state, id).await?;
    let follow = Follow {
        store: state.engine.store().clone(),
        id,
        notices,
        closing: state.closing.subscribe(),
        next: Some(job),
        last: None,
        ended: false,
        _slot: slot,
    };
    let events = futures::stream::unfold(follow, |mut f| async move { f.next_event().await.map(|e| (Ok(e), f)) });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One server-sent event of a job's stream, as the OpenAPI document describes each event.
#[derive(Debug, utoipa::ToSchema)]
pub struct StreamEvent {
    /// `progress` (data: the job row, a [`JobView`] as JSON), `end` (data: `{"status": …}`, the
    /// job's final status) or `error` (data: a message; the stream then ends).
    #[schema(pattern = "^(progress|end|error)$")]
    pub event: String,
    /// The event's data: JSON text.
    pub data: String,
}

/// The state of one stream.
struct Follow {
    store: SharedStore,
    id: JobId,
    notices: broadcast::Receiver<Notice>,
    closing: watch::Receiver<bool>,
    /// A row waiting to be sent.
    next: Option<BackgroundJob>,
    /// The last row sent.
    last: Option<BackgroundJob>,
    /// Whether `end` was sent.
    ended: bool,
    /// This stream's place under the limit, given back when the stream is dropped.
    _slot: OwnedSemaphorePermit,
}

impl Follow {
    async fn next_event(&mut self) -> Option<SseEvent> {
        if let Some(job) = self.next.take() {
            return Some(self.progress(job));
        }
        if self.ended {
            return None;
        }
        if self.last.as_ref().is_some_and(|j| j.status.is_finished()) {
            self.ended = true;
            let status = self.last.as_ref().map(|j| j.status.as_str()).unwrap_or_default();
            return Some(SseEvent::default().event("end").data(format!("{{\"status\":\"{status}\"}}")));
        }
        loop {
            let notice = tokio::select! {
                // The server is shutting down (or gone): end the stream so the connection closes.
                _ = self.closing.wait_for(|c| *c) => return None,
                notice = self.notices.recv() => notice,
            };
            match notice {
                Ok(n) if n.job_id != self.id => continue,
                // A lagging receiver skipped notices; the row read next covers them all.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
            match self.store.job(self.id).await {
                Ok(Some(job)) if self.last.as_ref() != Some(&job) => return Some(self.progress(job)),
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(job = %self.id, error = %e, "reading a streamed job failed");
                    self.ended = true;
                    return Some(SseEvent::default().event("error").data("internal server error"));
                }
            }
        }
    }

    fn progress(&mut self, job: BackgroundJob) -> SseEvent {
        self.last = Some(job.clone());
        let event = SseEvent::default().event("progress");
        match event.json_data(JobView::from(job)) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(job = %self.id, error = %e, "serialising a streamed job failed");
                SseEvent::default().event("error").data("internal server error")
            }
        }
    }
}
