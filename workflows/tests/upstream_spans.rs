//! Every upstream call is a span of its own (issue 17.6): vendor, endpoint, attempt, the slot or
//! the query cost, the wait, the HTTP status and the result, nested under whatever span the caller
//! is in (the engine's step span, when a worker runs the call). Read from the log lines a real
//! `fmt` subscriber writes, against the simulator over real HTTP.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dongbo_simulator::{Scope, SimConfig, Simulator};
use dongbo_workflows::connectors::limiter::window::WindowConfig;
use dongbo_workflows::connectors::nhanh::CustomerFilters;
use dongbo_workflows::connectors::shopify::ShopifyPolicy;
use dongbo_workflows::connectors::{NhanhClient, NhanhConfig, RetryPolicy, ShopifyClient, ShopifyConfig};
use tracing::Instrument;
use tracing_subscriber::fmt::MakeWriter;

/// The log, as a `fmt` subscriber writes it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Log {
    type Writer = Log;

    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

/// A subscriber at `info`, as `DONGBO_LOG=info` sets it, writing into a [`Log`] for this thread.
fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (log, tracing::subscriber::set_default(subscriber))
}

fn env_lookup(sim: &Simulator) -> impl Fn(&str) -> Option<String> + Copy + '_ {
    move |k| sim.env().into_iter().find(|(name, _)| name == k).map(|(_, v)| v)
}

/// The lines whose message is `message` (a line ends with its message).
fn only<'a>(lines: &'a [String], message: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.ends_with(message)).collect()
}

#[tokio::test]
async fn a_nhanh_call_is_a_span_under_the_callers_span_with_its_endpoint_wait_and_status() {
    let sim = Simulator::start(
        SimConfig { customers: 30, products: 5, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .expect("simulator starts");
    let client = NhanhClient::new(NhanhConfig::from_vars(env_lookup(&sim)).expect("simulator env")).unwrap();
    let (log, _guard) = capture();
    let step = tracing::info_span!("step", job = "job-1", seq = 3);
    client.list_customers(&CustomerFilters::default(), None).instrument(step).await.expect("a page");

    let lines = log.lines();
    let calls = only(&lines, "nhanh call");
    assert_eq!(calls.len(), 1, "one call, one line: {lines:#?}");
    let line = calls[0];
    for part in [
        "step{job=\"job-1\" seq=3}:upstream{",
        "vendor=\"nhanh\"",
        "endpoint=\"customer/list\"",
        "attempt=1",
        "waited_ms=",
        "status=200",
        "result=\"ok\"",
    ] {
        assert!(line.contains(part), "`{part}` missing from {line}");
    }
    assert!(!line.contains("slot="), "the in-process limiter numbers no slot: {line}");
}

#[tokio::test]
async fn each_retry_of_a_failing_nhanh_call_is_its_own_span_with_its_attempt_and_status() {
    let sim = Simulator::start(
        SimConfig { customers: 10, products: 5, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .expect("simulator starts");
    sim.faults().update(Scope::Nhanh, |f| f.error_rate = 1.0);
    let retry = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let config = NhanhConfig::from_vars(env_lookup(&sim)).expect("simulator env");
    let client = NhanhClient::with_policy(config, WindowConfig::default(), retry).unwrap();
    let (log, _guard) = capture();
    let step = tracing::info_span!("step", job = "job-2");
    let error = client.list_customers(&CustomerFilters::default(), None).instrument(step).await.unwrap_err();
    assert!(error.is_transient(), "{error}");

    let lines = log.lines();
    let calls = only(&lines, "nhanh call");
    assert_eq!(calls.len(), 2, "two attempts: {lines:#?}");
    for (n, line) in calls.iter().enumerate() {
        assert!(line.contains(&format!("attempt={}", n + 1)), "{line}");
        assert!(line.contains("status=50"), "the 5xx is on the span: {line}");
        assert!(line.contains("result=\"transient failure\""), "{line}");
        assert!(line.contains("step{job=\"job-2\"}:upstream{"), "under the caller's span: {line}");
    }
    let gave_up: Vec<&String> = lines.iter().filter(|l| l.contains("nhanh call gave up")).collect();
    assert_eq!(gave_up.len(), 1, "{lines:#?}");
    assert!(gave_up[0].contains("attempt=2"), "the give-up is said inside the last attempt's span: {}", gave_up[0]);
}

#[tokio::test]
async fn a_shopify_call_is_a_span_with_its_estimated_requested_and_actual_cost() {
    let sim = Simulator::start(
        SimConfig { customers: 10, products: 5, ..SimConfig::default() },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
    .expect("simulator starts");
    let config = ShopifyConfig::from_vars(env_lookup(&sim)).expect("simulator env");
    let client = ShopifyClient::with_policy(config, ShopifyPolicy::default()).unwrap();
    let (log, _guard) = capture();
    let step = tracing::info_span!("step", job = "job-3");
    client.customers_count().instrument(step).await.expect("a count");

    let lines = log.lines();
    let calls = only(&lines, "shopify call");
    assert_eq!(calls.len(), 1, "{lines:#?}");
    let line = calls[0];
    for part in [
        "step{job=\"job-3\"}:upstream{",
        "vendor=\"shopify\"",
        "endpoint=\"customers count\"",
        "attempt=1",
        "cost_estimate=",
        "cost_requested=",
        "cost_actual=",
        "bucket_available=",
        "status=200",
        "result=\"ok\"",
    ] {
        assert!(line.contains(part), "`{part}` missing from {line}");
    }
}
