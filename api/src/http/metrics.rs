//! Prometheus metrics in the text exposition format, written by hand (a few families do not
//! need a metrics framework).
//!
//! - `dongbo_jobs{type,status}` (gauge): jobs by type and status, read from the store per scrape.
//! - `dongbo_step_duration_seconds{type,outcome}` (histogram): step wall time, fed by the
//!   [`StepHook`] from [`Metrics::step_hook`] that the binary installs on its workers.
//! - `dongbo_http_requests_total{method,route,status}` (counter): requests by matched route
//!   template (`unmatched` for none) and method (`other` outside GET, HEAD, POST, PUT, PATCH,
//!   DELETE, OPTIONS): fixed label sets, whatever clients send.
//! - `dongbo_upstream_*_total{upstream}` (counters): upstream calls, throttles, lock-outs, retries
//!   and limiter waits, read per scrape from the sources given to [`Metrics::watch_upstream`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dongbo_engine::worker::{StepHook, StepReport};
use dongbo_engine::{JobStatus, Store, StoreError};
use dongbo_workflows::notices::Notice;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorEnvelope};
use super::AppState;

/// Upper bounds (seconds) of the step duration buckets.
const STEP_BUCKETS: [f64; 13] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// An upstream client's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamCounters {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Replies that said the client was throttled.
    pub throttled: u64,
    /// Replies that said the client was locked out.
    pub locked_out: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// Milliseconds spent waiting on the limiter.
    pub waited_ms: u64,
}

type UpstreamSource = Arc<dyn Fn() -> UpstreamCounters + Send + Sync>;

/// An upstream metric family: name, help, and how to read its value.
type UpstreamFamily = (&'static str, &'static str, fn(&UpstreamCounters) -> f64);

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    counts: [u64; STEP_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    steps: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    upstreams: Mutex<BTreeMap<String, UpstreamSource>>,
}

/// The process's metrics; clones share them.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Locks a metrics map. A panic while holding one cannot leave a counter half-written, so a
/// poisoned lock is still good to use. (std's mutex, not tokio's: it is never held across an
/// `.await`.)
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hook for [`dongbo_engine::WorkerConfig::on_step`] that records step durations here.
    pub fn step_hook(&self) -> StepHook {
        let metrics = self.clone();
        Arc::new(move |report: &StepReport| metrics.record_step(report))
    }

    /// Records one step.
    pub fn record_step(&self, report: &StepReport) {
        let seconds = report.duration.as_secs_f64();
        let outcome = if report.ok { "committed" } else { "failed" };
        let mut steps = lock(&self.inner.steps);
        let h = steps.entry((report.job_type.clone(), outcome)).or_default();
        let slot = STEP_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(STEP_BUCKETS.len());
        h.counts[slot] += 1;
        h.sum += seconds;
        h.count += 1;
    }

    /// Records one HTTP request.
    pub fn record_http(&self, method: &str, route: &str, status: u16) {
        *lock(&self.inner.http).entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
    }

    /// Reports an upstream client's counters on each scrape (a later source of the same name
    /// replaces the earlier).
    pub fn watch_upstream(&self, upstream: &str, read: impl Fn() -> UpstreamCounters + Send + Sync + 'static) {
        lock(&self.inner.upstreams).insert(upstream.to_owned(), Arc::new(read));
    }

    /// The exposition text, with job counts read from `store`.
    pub async fn render(&self, store: &dyn Store) -> Result<String, StoreError> {
        let counts = store.job_counts().await?;
        let mut out = String::new();
        render_jobs(&mut out, &counts);
        self.render_steps(&mut out);
        self.render_http(&mut out);
        self.render_upstreams(&mut out);
        Ok(out)
    }

    fn render_steps(&self, out: &mut String) {
        out.push_str("# HELP dongbo_step_duration_seconds Wall time of a workflow step and its commit.\n");
        out.push_str("# TYPE dongbo_step_duration_seconds histogram\n");
        for ((job_type, outcome), h) in lock(&self.inner.steps).iter() {
            let labels = format!("type=\"{}\",outcome=\"{outcome}\"", escape(job_type));
            let mut cumulative = 0;
            for (bound, n) in STEP_BUCKETS.iter().zip(h.counts.iter()) {
                cumulative += n;
                let _ = writeln!(out, "dongbo_step_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "dongbo_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "dongbo_step_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "dongbo_step_duration_seconds_count{{{labels}}} {}", h.count);
        }
    }

    fn render_http(&self, out: &mut String) {
        out.push_str("# HELP dongbo_http_requests_total HTTP requests by method, matched route and status.\n");
        out.push_str("# TYPE dongbo_http_requests_total counter\n");
        for ((method, route, status), n) in lock(&self.inner.http).iter() {
            let _ = writeln!(
                out,
                "dongbo_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
    }

    fn render_upstreams(&self, out: &mut String) {
        let sources: Vec<(String, UpstreamSource)> =
            lock(&self.inner.upstreams).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let read: Vec<(String, UpstreamCounters)> = sources.into_iter().map(|(name, f)| (name, f())).collect();
        let families: [UpstreamFamily; 5] = [
            ("dongbo_upstream_requests_total", "HTTP requests sent upstream, retries included.", |c| c.requests as f64),
            ("dongbo_upstream_throttled_total", "Upstream replies that throttled the client.", |c| c.throttled as f64),
            ("dongbo_upstream_locked_out_total", "Upstream replies that locked the client out.", |c| {
                c.locked_out as f64
            }),
            ("dongbo_upstream_retries_total", "Upstream requests that were retries.", |c| c.retries as f64),
            ("dongbo_upstream_wait_seconds_total", "Time spent waiting on upstream rate limiters.", |c| {
                c.waited_ms as f64 / 1000.0
            }),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (upstream, counters) in &read {
                let _ = writeln!(out, "{name}{{upstream=\"{}\"}} {}", escape(upstream), value(counters));
            }
        }
    }
}

fn render_jobs(out: &mut String, counts: &[(String, JobStatus, i64)]) {
    out.push_str("# HELP dongbo_jobs Jobs by type and status.\n# TYPE dongbo_jobs gauge\n");
    let mut by_type: BTreeMap<&str, BTreeMap<&'static str, i64>> = BTreeMap::new();
    for (job_type, status, n) in counts {
        // Every status of a known type is written, zeros included, so a series never vanishes.
        let row = by_type
            .entry(job_type.as_str())
            .or_insert_with(|| JobStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect());
        *row.entry(status.as_str()).or_default() += n;
    }
    for (job_type, row) in by_type {
        for (status, n) in row {
            let _ = writeln!(out, "dongbo_jobs{{type=\"{}\",status=\"{status}\"}} {n}", escape(job_type));
        }
    }
}

/// One `dongbo_notice` series per raised notice (value 1), labelled by its fixed key and level.
fn render_notices(out: &mut String, notices: &[Notice]) {
    out.push_str("# HELP dongbo_notice Conditions an operator must see (1 while raised), by key and level.\n");
    out.push_str("# TYPE dongbo_notice gauge\n");
    for n in notices {
        let _ = writeln!(out, "dongbo_notice{{key=\"{}\",level=\"{}\"}} 1", n.key.as_str(), n.level.as_str());
    }
}

/// Escapes a label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Middleware: counts each request under its matched route template (`unmatched` for none) and
/// its method (`other` outside a fixed set), so ids, random paths and invented methods do not
/// create series.
pub(super) async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = method_label(req.method());
    let response = next.run(req).await;
    state.metrics.record_http(method, &route, response.status().as_u16());
    response
}

/// The label of a request's method: one of a fixed set, so a client inventing methods cannot
/// create series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] =
        [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics (text exposition format). Not guarded by the token, like `/healthz`, so a
/// scraper on the same host needs no secret; it shows counts and timings, no data.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 500, description = "The store could not be read", body = ErrorEnvelope),
    ))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut text = state.metrics.render(state.engine.store().as_ref()).await?;
    render_notices(&mut text, &state.notices.list());
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn step_durations_land_in_cumulative_buckets() {
        let m = Metrics::new();
        for ms in [3, 40, 40, 2000] {
            m.record_step(&StepReport {
                job_type: "X".into(),
                step: "s".into(),
                duration: Duration::from_millis(ms),
                ok: true,
            });
        }
        let mut out = String::new();
        m.render_steps(&mut out);
        assert!(
            out.contains("dongbo_step_duration_seconds_bucket{type=\"X\",outcome=\"committed\",le=\"0.005\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("le=\"0.05\"} 3\n"), "{out}");
        assert!(out.contains("le=\"2.5\"} 4\n"), "{out}");
        assert!(out.contains("dongbo_step_duration_seconds_count{type=\"X\",outcome=\"committed\"} 4\n"), "{out}");
    }

    #[test]
    fn every_status_of_a_seen_type_is_written() {
        let mut out = String::new();
        render_jobs(&mut out, &[("A\"B".into(), JobStatus::Running, 2)]);
        assert!(out.contains("dongbo_jobs{type=\"A\\\"B\",status=\"RUNNING\"} 2\n"), "{out}");
        assert!(out.contains("dongbo_jobs{type=\"A\\\"B\",status=\"PENDING\"} 0\n"), "{out}");
    }

    #[test]
    fn each_raised_notice_is_one_series_labelled_by_key_and_level() {
        use chrono::TimeZone;
        use dongbo_workflows::notices::{NoticeKey, NoticeLevel, Notices};
        let notices = Notices::new();
        let at = chrono::Utc.timestamp_opt(0, 0).unwrap();
        notices.raise(NoticeKey::new("nhanh_token"), NoticeLevel::Warning, "expires in 12 days", at);
        let mut out = String::new();
        render_notices(&mut out, &notices.list());
        assert!(out.contains("dongbo_notice{key=\"nhanh_token\",level=\"warning\"} 1\n"), "{out}");
        assert!(!out.contains("expires"), "the message is not a label: {out}");
    }

    #[test]
    fn upstream_sources_are_read_at_render_time() {
        let m = Metrics::new();
        m.watch_upstream("shopify", || UpstreamCounters { requests: 7, waited_ms: 1500, ..Default::default() });
        let mut out = String::new();
        m.render_upstreams(&mut out);
        assert!(out.contains("dongbo_upstream_requests_total{upstream=\"shopify\"} 7\n"), "{out}");
        assert!(out.contains("dongbo_upstream_wait_seconds_total{upstream=\"shopify\"} 1.5\n"), "{out}");
    }
}
