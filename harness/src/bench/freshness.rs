//! `freshness`: how long a change in Nhanh takes to show in Shopify when webhooks drive dongbo
//! (issue 18's figures), next to schedule-driven baselines of the same run, on SQLite.
//!
//! Setup: the sync fixture (both stores mirrored and mapped), one full PRODUCT_SYNC timed (what a
//! scheduled firing must do before a change shows), then `dongbo serve` (API and two workers) on
//! the same database with the simulator's secrets (`SHOPIFY_WEBHOOK_SECRET`,
//! `NHANH_WEBHOOK_TOKEN`), the simulator's webhooks pointed at its `/api/webhooks/nhanh`
//! and `/api/webhooks/shopify`. Three phases:
//!
//! 1. **Freshness.** The simulator drips 20 stock changes and 5 orders per second (5 minutes;
//!    20 s with `--quick`) on the Standard plan. Each change is recorded by the simulator with its
//!    time and the value Shopify must end up showing (the location's sum over its mapped depots;
//!    the customer's total). The section reads the simulator's Shopify side every 25 ms: a change
//!    is *visible* the first time Shopify shows its value or the value of a later change to the
//!    same level or customer. p50 and p99 of (visible − changed); target p99 ≤ 5 s. A change still
//!    invisible 60 s after the drip stopped counts as not visible, and the target is missed.
//! 2. **Faults.** The same drip (half as long) with 10 % of deliveries dropped and 5 % duplicated
//!    and 5 % reordered, then one reconcile as it ships: the default `nightly-reconcile` schedule
//!    fired now (full pulls → matches → `RECONCILE`, which pushes only the drifted items). Then
//!    every paired level and total in Shopify is compared with Nhanh (zero wrong), and the
//!    simulator's journal is searched for an `@idempotent` key applied twice (zero).
//! 3. **Receiving.** 200 deliveries per second (100 Nhanh `inventoryChange`, 100 Shopify
//!    `inventory_levels/update`) for 30 s (5 s quick): p99 of the time dongbo takes to answer
//!    (target ≤ 100 ms, Shopify allows 5 s), and deliveries not accepted on their first attempt
//!    (target 0: a receiver that refuses a delivery loses it for 5 minutes, or for good). The
//!    `inventory_levels/update` echoes of the stock pushes these deliveries cause arrive on the
//!    same route and count with them.
//!
//! Baselines, computed (not run: nobody waits six hours in a benchmark): a periodic sync of period
//! `T` sees a change made at a uniformly random moment at the next firing, so its staleness is
//! uniform on `[0, T)` plus the firing's own sync time `S` (measured above): p50 = `T/2 + S`,
//! p99 = `0.99·T + S`. The old tool ran every 6 hours; dongbo's own schedule without webhooks
//! every 15 minutes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dongbo_engine::{JobFilter, JobRequest, WorkerConfig, WorkerId};
use dongbo_simulator::{ChangeKind, ChangeRecord, DripRates, Simulator, WebhookFaults};
use dongbo_workflows::jobs::PRODUCT_SYNC;
use dongbo_workflows::reconcile::RECONCILE;
use dongbo_workflows::schedules::Scheduler;
use serde_json::json;

use super::fixture::{finish, run_to_end, SyncFixture};
use super::{note, BenchOpts, Row, ScratchDb};

const SECTION: &str = "freshness";
const STOCK_PER_S: f64 = 20.0;
const ORDERS_PER_S: f64 = 5.0;
const OLD_TOOL_PERIOD_S: f64 = 6.0 * 3600.0;
const DONGBO_PERIOD_S: f64 = 15.0 * 60.0;
const TARGET_P99_S: f64 = 5.0;
const TARGET_ANSWER_MS: f64 = 100.0;
const LOAD_PER_S: u64 = 200;
const SETTLE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(25);
/// The default schedule that runs the nightly reconcile.
const NIGHTLY_RECONCILE: &str = "nightly-reconcile";
/// The receiving routes.
const NHANH_ROUTE: &str = "/api/webhooks/nhanh";
const SHOPIFY_ROUTE: &str = "/api/webhooks/shopify";
/// The settings the receiving routes verify deliveries with.
const SHOPIFY_SECRET_VAR: &str = "SHOPIFY_WEBHOOK_SECRET";
const NHANH_TOKEN_VAR: &str = "NHANH_WEBHOOK_TOKEN";

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let (products, customers) = opts.size((300, 1_000), (2_000, 5_000));
    let drip_s = opts.size(20, 300);
    let load_s = opts.size(5, 30);
    let fx = SyncFixture::prepare(ScratchDb::sqlite()?, products, customers).await?;

    let started = Instant::now();
    run_to_end(&fx.engine, JobRequest::new(PRODUCT_SYNC, json!({})), worker_config("sync")).await?;
    let sync_s = started.elapsed().as_secs_f64();
    note(SECTION, &format!("one full PRODUCT_SYNC of {} products: {sync_s:.1} s", fx.mapped_products));

    let receiver = Receiver::start(opts, &fx).await?;
    let webhooks = fx.sim.webhooks();
    webhooks.set_nhanh_url(Some(format!("{}{NHANH_ROUTE}", receiver.url)));
    webhooks.set_shopify_url(Some(format!("{}{SHOPIFY_ROUTE}", receiver.url)));

    let mut rows = Vec::new();
    let fresh = watch_drip(&fx.sim, Duration::from_secs(drip_s)).await;
    rows.extend(freshness_rows(&fresh, sync_s));

    webhooks.set_faults(WebhookFaults {
        drop_rate: 0.10,
        duplicate_rate: 0.05,
        reorder_rate: 0.05,
        ..WebhookFaults::default()
    });
    let faulty = watch_drip(&fx.sim, Duration::from_secs(drip_s / 2)).await;
    webhooks.set_faults(WebhookFaults::default());
    note(
        SECTION,
        &format!("under faults: {} changes, {} not visible before the reconcile", faulty.changes, faulty.unseen),
    );
    reconcile(&fx).await?;
    rows.extend(repair_rows(&fx.sim));

    rows.extend(load_rows(&fx.sim, Duration::from_secs(load_s)).await);
    receiver.stop().await;
    Ok(rows)
}

fn worker_config(name: &str) -> WorkerConfig {
    let mut config = WorkerConfig::new(WorkerId::new(format!("bench-freshness-{name}")));
    config.poll = Duration::from_millis(20);
    config
}

/// `dongbo serve` (its API and two workers) on the fixture's database, configured with the
/// simulator's upstreams and webhook secrets.
struct Receiver {
    url: String,
    child: tokio::process::Child,
}

impl Receiver {
    async fn start(opts: &BenchOpts, fx: &SyncFixture) -> anyhow::Result<Receiver> {
        // A free port: bound, read, released for the server to take.
        let port = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port();
        let url = format!("http://127.0.0.1:{port}");
        let config = fx.sim.webhooks().config().clone();
        let mut env = fx.sim.env();
        env.push((SHOPIFY_SECRET_VAR.into(), config.shopify_secret.clone()));
        env.push((NHANH_TOKEN_VAR.into(), config.nhanh_verify_token.clone()));
        let child = tokio::process::Command::new(&opts.dongbo_bin)
            .args(["serve", "--db", fx.db.url(), "--listen", &format!("127.0.0.1:{port}"), "--workers", "2"])
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting dongbo serve ({})", opts.dongbo_bin.display()))?;
        let mut receiver = Receiver { url, child };
        receiver.ready().await?;
        receiver.check_routes().await?;
        Ok(receiver)
    }

    /// Waits (up to 60 s) for `/healthz` to answer.
    async fn ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.url)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("dongbo serve exited with {status} before it listened");
            }
            if Instant::now() >= deadline {
                bail!("dongbo serve did not answer /healthz within 60 s");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The receiving routes exist (an empty body may be refused, but not as an unknown route).
    async fn check_routes(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        for route in [NHANH_ROUTE, SHOPIFY_ROUTE] {
            let status = http
                .post(format!("{}{route}", self.url))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .with_context(|| format!("POST {route}"))?
                .status();
            if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::METHOD_NOT_ALLOWED {
                bail!("the receiving route POST {route} is missing ({status}): nothing to measure without it");
            }
        }
        Ok(())
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// What one drip showed.
struct Watched {
    /// Seconds from change to visible, per kind.
    stock: Vec<f64>,
    orders: Vec<f64>,
    /// Changes made, and those never seen in Shopify.
    changes: usize,
    unseen: usize,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The value Shopify shows now for a change's level or customer.
fn shown(sim: &Simulator, c: &ChangeRecord) -> Option<i64> {
    let state = sim.state();
    match (c.kind, &c.location_id) {
        (ChangeKind::Stock, Some(location)) => state.inventory(&c.shopify_target, location),
        _ => state.customer_metafield(&c.shopify_target, "custom", "total_spent")?.parse().ok(),
    }
}

/// Drips for `length`, then waits (up to [`SETTLE`]) for Shopify to show every change.
async fn watch_drip(sim: &Simulator, length: Duration) -> Watched {
    let webhooks = sim.webhooks();
    let first = webhooks.changes().len();
    webhooks.start_drip(DripRates { stock_per_second: STOCK_PER_S, orders_per_second: ORDERS_PER_S });
    let stop_at = Instant::now() + length;
    let mut settle_until = None;
    // Per level or customer: its changes in order, and when each became visible.
    type Seen = Vec<(ChangeRecord, Option<i64>)>;
    let mut keys: BTreeMap<(String, Option<String>), Seen> = BTreeMap::new();
    let mut known = first;
    loop {
        tokio::time::sleep(POLL).await;
        let changes = webhooks.changes();
        for c in &changes[known..] {
            keys.entry((c.shopify_target.clone(), c.location_id.clone())).or_default().push((c.clone(), None));
        }
        known = changes.len();
        let now = now_ms();
        let mut pending = 0;
        for list in keys.values_mut() {
            let Some(open) = list.iter().position(|(_, seen)| seen.is_none()) else { continue };
            let value = shown(sim, &list[0].0);
            if let Some(j) = (open..list.len()).rev().find(|&j| Some(list[j].0.shopify_value) == value) {
                for item in &mut list[open..=j] {
                    item.1 = Some(now);
                }
            }
            pending += list.iter().filter(|(_, seen)| seen.is_none()).count();
        }
        if Instant::now() >= stop_at && settle_until.is_none() {
            webhooks.stop_drip();
            settle_until = Some(Instant::now() + SETTLE);
        }
        if let Some(until) = settle_until {
            if pending == 0 || Instant::now() >= until {
                break;
            }
        }
    }
    let (mut stock, mut orders, mut unseen, mut total) = (Vec::new(), Vec::new(), 0, 0);
    for (c, seen) in keys.into_values().flatten() {
        total += 1;
        match seen {
            Some(at) => {
                let lag = (at - c.at).max(0) as f64 / 1000.0;
                if c.kind == ChangeKind::Stock {
                    stock.push(lag)
                } else {
                    orders.push(lag)
                }
            }
            None => unseen += 1,
        }
    }
    Watched { stock, orders, changes: total, unseen }
}

/// The `q` quantile (nearest rank) of `values`; 0 for none.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// (p50, p99) of a periodic sync of period `period_s` whose firing takes `sync_s`.
fn schedule(period_s: f64, sync_s: f64) -> (f64, f64) {
    (period_s / 2.0 + sync_s, 0.99 * period_s + sync_s)
}

fn freshness_rows(w: &Watched, sync_s: f64) -> Vec<Row> {
    let (old_p50, old_p99) = schedule(OLD_TOOL_PERIOD_S, sync_s);
    let (own_p50, own_p99) = schedule(DONGBO_PERIOD_S, sync_s);
    note(
        SECTION,
        &format!(
            "{} changes ({} stock, {} orders), {} never visible; baselines computed: 6-hour schedule p50 {old_p50:.0} s / p99 {old_p99:.0} s, 15-minute schedule p50 {own_p50:.0} s / p99 {own_p99:.0} s",
            w.changes,
            w.stock.len(),
            w.orders.len(),
            w.unseen
        ),
    );
    let (s50, s99) = (quantile(&w.stock, 0.50), quantile(&w.stock, 0.99));
    let (o50, o99) = (quantile(&w.orders, 0.50), quantile(&w.orders, 0.99));
    let all_seen = w.unseen == 0 && !w.stock.is_empty();
    vec![
        Row::info("freshness: stock p50, s (webhooks vs the old 6-hour schedule)", s50, old_p50),
        Row::new(
            "freshness: stock p99, s (webhooks vs the old 6-hour schedule)",
            s99,
            old_p99,
            format!("≤ {TARGET_P99_S} s"),
            all_seen && s99 <= TARGET_P99_S,
        ),
        Row::info("freshness: stock p50, s (webhooks vs a 15-minute schedule)", s50, own_p50),
        Row::info("freshness: stock p99, s (webhooks vs a 15-minute schedule)", s99, own_p99),
        Row::info("freshness: total spent p50, s (webhooks vs the old 6-hour schedule)", o50, old_p50),
        Row::new(
            "freshness: total spent p99, s (webhooks vs the old 6-hour schedule)",
            o99,
            old_p99,
            format!("≤ {TARGET_P99_S} s"),
            w.unseen == 0 && !w.orders.is_empty() && o99 <= TARGET_P99_S,
        ),
    ]
}

/// One reconcile as it ships: the default `nightly-reconcile` schedule fired now (its pipeline:
/// full pulls, matches, then RECONCILE, which pushes only what drifted), run to its end on a
/// worker of this section beside the server's. Says what RECONCILE found and fixed.
async fn reconcile(fx: &SyncFixture) -> anyhow::Result<()> {
    let scheduler = Scheduler::new(fx.engine.clone(), "bench-freshness");
    let (fired, _) = scheduler
        .run_now(NIGHTLY_RECONCILE, "bench freshness", chrono::Utc::now())
        .await
        .with_context(|| format!("firing the `{NIGHTLY_RECONCILE}` schedule"))?;
    let started = Instant::now();
    let pipeline = finish(&fx.engine, fired.job_id, worker_config("reconcile")).await?;
    let filter = JobFilter { job_type: Some(RECONCILE.into()), limit: 1, ..JobFilter::default() };
    let reconciled = fx.store.list_jobs(&filter).await?.into_iter().next().context("the pipeline ran no RECONCILE")?;
    // RECONCILE's last step puts its counts in `summary` (the drift alone is also at the top).
    let m = &reconciled.metadata["summary"];
    note(
        SECTION,
        &format!(
            "one reconcile ({} {}, pulls → matches → {RECONCILE}, {:.1} s): {} stock and {} total-spent items drifted; {} and {} fixed",
            pipeline.job_type,
            pipeline.id,
            started.elapsed().as_secs_f64(),
            m["stockDrift"],
            m["totalSpentDrift"],
            m["stockFixed"],
            m["totalSpentFixed"]
        ),
    );
    Ok(())
}

fn repair_rows(sim: &Simulator) -> Vec<Row> {
    let state = sim.state();
    let levels = state.expected_inventory();
    let totals = state.expected_total_spent();
    let wrong_levels =
        levels.iter().filter(|e| state.inventory(&e.inventory_item_id, &e.location_id) != Some(e.quantity)).count();
    let wrong_totals = totals
        .iter()
        .filter(|(gid, total)| state.customer_metafield(gid, "custom", "total_spent") != Some(total.to_string()))
        .count();
    let checked = levels.len() + totals.len();
    let wrong = wrong_levels + wrong_totals;
    // As the chaos suite counts them: applied inventory entries per (key, item, location).
    let mut applied: HashMap<(String, String, String), usize> = HashMap::new();
    let mut writes = 0;
    for e in sim.journal().into_iter().filter(|e| e.applied && e.kind == "inventorySetQuantities") {
        writes += 1;
        let location = e.value["locationId"].as_str().unwrap_or_default().to_owned();
        *applied.entry((e.idempotency_key.unwrap_or_default(), e.target, location)).or_default() += 1;
    }
    let twice = applied.values().filter(|n| **n > 1).count();
    note(SECTION, &format!("after one reconcile: {wrong_levels} levels and {wrong_totals} totals wrong of {checked}"));
    vec![
        Row::new(
            "freshness: wrong values after one reconcile (10 % dropped, 5 % dup., 5 % reordered)",
            wrong as f64,
            checked as f64,
            "0",
            wrong == 0,
        ),
        Row::new("freshness: inventory idempotency keys applied twice", twice as f64, writes as f64, "0", twice == 0),
    ]
}

/// 200 deliveries per second for `length`: answer times and first attempts refused.
async fn load_rows(sim: &Simulator, length: Duration) -> Vec<Row> {
    let webhooks = sim.webhooks();
    let before = webhooks.deliveries().len();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 * 2 / LOAD_PER_S));
    let end = Instant::now() + length;
    let mut sent = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        sim.touch_nhanh_products(1);
        webhooks.touch_shopify_levels(1);
        sent += 2;
    }
    // Wait for every first attempt to be answered or to time out: at least one answer timeout
    // after the last touch, since the stock pushes this load causes are echoed by Shopify (and
    // the simulator) as deliveries of their own, which count here like any other.
    let settled = Instant::now() + webhooks.config().answer_timeout + Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let firsts = loop {
        let firsts: Vec<_> = webhooks.deliveries()[before..].iter().filter(|d| d.attempt == 0).cloned().collect();
        let now = Instant::now();
        if (firsts.len() as u64 >= sent && now >= settled) || now >= deadline {
            break firsts;
        }
        tokio::time::sleep(POLL).await;
    };
    let answers: Vec<f64> = firsts.iter().map(|d| d.answer_ms).collect();
    let p99 = quantile(&answers, 0.99);
    // A first attempt refused, or one never made (the simulator's own duplicates are first
    // attempts too, so the count is of refusals, not of sent minus accepted).
    let lost = firsts.iter().filter(|d| !d.accepted).count() as u64 + sent.saturating_sub(firsts.len() as u64);
    note(
        SECTION,
        &format!(
            "{sent} deliveries at {LOAD_PER_S}/s ({} first attempts with the echoes of the pushes they caused): p99 answer {p99:.1} ms, {lost} not accepted at once",
            firsts.len()
        ),
    );
    vec![
        Row::new(
            format!("freshness: receiving p99 answer, ms ({LOAD_PER_S} deliveries/s)"),
            p99,
            TARGET_ANSWER_MS,
            format!("≤ {TARGET_ANSWER_MS} ms"),
            !answers.is_empty() && p99 <= TARGET_ANSWER_MS,
        ),
        Row::new("freshness: deliveries not accepted at once", lost as f64, sent as f64, "0", lost == 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[f64], q: f64, expect: f64) {
        assert_eq!(quantile(values, q), expect, "{values:?} q={q}");
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        check(&[], 0.5, 0.0);
        check(&[3.0, 1.0, 2.0], 0.5, 2.0);
        check(&(1..=100).map(f64::from).collect::<Vec<_>>(), 0.99, 99.0);
        check(&[5.0], 0.99, 5.0);
    }

    #[test]
    fn a_periodic_sync_is_half_a_period_stale_at_the_median() {
        assert_eq!(schedule(900.0, 10.0), (460.0, 901.0));
    }
}
