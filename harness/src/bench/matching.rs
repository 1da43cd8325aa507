//! `matching`: AUTO_MATCH_CUSTOMERS against one SQL join of the same two key tables, the peak
//! memory of a worker matching a million customers a side, and the matching's ground truth at
//! full size (issue 5).
//!
//! - **Speed**, on each store and for each strategy: N × N customers (quick 20,000, full
//!   200,000) written with the pulls' own upserts — pairs, every 40th Nhanh number shared by two
//!   records (a conflict), every 7th Nhanh field with a second number, every 25th Shopify
//!   customer on Shopify only — into a fresh database per strategy; the job runs three times,
//!   each from no mappings (`forget_matches`), so that every run creates all its mappings, and
//!   the median counts. The baseline is the job's floor, what any job that stores its decisions
//!   must do: the join of the two key tables written into a table keyed by the Nhanh id, plus one
//!   audit-index row per mapping written (`JoinFloor::KeyedWithAudit`), on the same database,
//!   run three times right before the job; the median counts. Target: the job within 1.5 × the
//!   floor (issue 17). The bare join with every (Nhanh id, Shopify id, key) row fetched
//!   (`bare_key_join`), the old baseline, is kept as an information row. For `sql`, rows
//!   without a target say where the time goes: the job as a dry run, the join written into
//!   a copy of the mapping table and into the keyed table without audit rows, and the floor
//!   with the matching rule applied in SQL (`JoinFloor::DecidedWithAudit`: what the cheapest
//!   job that decides must do, without its engine).
//!   Before either runs, the catalog is settled as it is some time after pulls that take
//!   minutes: SQLite's write-ahead log checkpointed, PostgreSQL's tables analysed (autovacuum's
//!   work; `settle`), and the store reopened, so no connection carries the fill's state.
//! - **Memory** (full size only): a `dongbo worker` child process matches 1,000,000 × 1,000,000
//!   on SQLite with the `memory` strategy; its peak resident set over its whole life (`VmHWM`,
//!   read while it is still alive once the job has completed) must stay within 200 MB.
//! - **Truth**: the simulator's customers (quick 20,000, full 200,000) and products (5,000,
//!   50,000) pulled through the pull workflows (Nhanh's 150 requests per window, the window
//!   shortened to a second), then both matches: precision 100 % (no mapping outside the
//!   simulator's pairs), recall ≥ 99 % of its pairs, every ambiguous key a recorded conflict.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dongbo_engine::{Db, Engine, JobId, SharedStore, WorkerConfig, WorkerId};
use dongbo_simulator::{NhanhLimits, Plan, SimConfig, Simulator};
use dongbo_workflows::catalog::store::matching::{
    bare_key_join, forget_matches, key_join_written, list_conflicts, list_mappings, settle, JoinFloor, MatchKind,
};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, NhanhCustomerRow, ShopifyCustomerRow, UpsertNhanhCustomers, UpsertShopifyCustomers,
};
use dongbo_workflows::connectors::limiter::window::WindowConfig;
use dongbo_workflows::connectors::{NhanhClient, NhanhConfig, RetryPolicy, ShopifyClient, ShopifyConfig};
use dongbo_workflows::matching::{self, MatchInput, Strategy};
use dongbo_workflows::pull::{self, NhanhCustomersInput, NhanhProductsInput, ShopifyMode, ShopifyPullInput};
use dongbo_workflows::Upstreams;

use super::fixture::run_to_end;
use super::{backends, note, Backend, BenchOpts, Row, ScratchDb};
use crate::registry;
use crate::worker_process::WorkerProcess;

const TARGET: f64 = 1.5;
const RSS_CEILING_MB: f64 = 200.0;
const STRATEGIES: [Strategy; 3] = [Strategy::Sql, Strategy::Memory, Strategy::Batch];

/// Runs the section.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>> {
    let n = opts.size(20_000, 200_000);
    let mut rows = Vec::new();
    for backend in backends(opts, "matching") {
        for strategy in STRATEGIES {
            rows.extend(speed(opts, backend, strategy, n).await?);
        }
    }
    if !opts.quick {
        rows.push(peak_rss(opts, 1_000_000).await?);
    }
    let (customers, products) = opts.size((20_000, 5_000), (200_000, 50_000));
    rows.extend(truth(customers, products).await?);
    Ok(rows)
}

/// One strategy on a fresh catalog of `n` × `n` customers, against its floor: the join written
/// into a table keyed by the Nhanh id plus one audit-index row per mapping written, what any job
/// that stores its decisions must do (median of three runs, right before the job). The bare
/// join (no writes) is kept as information. For `sql`, three more rows say where the time goes:
/// the same job as a dry run (deciding, no writes), the join written into a copy of the mapping
/// table (the floor of this job's writes) and into the keyed table without the audit rows.
async fn speed(opts: &BenchOpts, backend: Backend, strategy: Strategy, n: u64) -> anyhow::Result<Vec<Row>> {
    let db = ScratchDb::new(backend, opts).await?;
    let store = filled(db.url(), n).await?;
    let mut joins = Vec::new();
    let mut pairs = 0;
    for _ in 0..3 {
        let t = Instant::now();
        pairs = bare_key_join(&store.db(), MatchKind::Customers).await.context("the baseline join")?;
        joins.push(t.elapsed().as_secs_f64());
    }
    joins.sort_by(f64::total_cmp);
    let join = joins[1];
    let floor = written_join(&store.db(), JoinFloor::KeyedWithAudit).await?;
    let engine = Engine::new(store.clone(), registry(&Upstreams::default()));
    let mut rows = Vec::new();
    let name = |what: &str| format!("AUTO_MATCH_CUSTOMERS {what} {n}×{n} s ({})", backend.name());
    if strategy == Strategy::Sql {
        let copy = written_join(&store.db(), JoinFloor::MappingCopy).await?;
        let keyed = written_join(&store.db(), JoinFloor::KeyedOnly).await?;
        let decided = written_join(&store.db(), JoinFloor::DecidedWithAudit).await?;
        let t = Instant::now();
        let request = matching::CUSTOMERS.request(&MatchInput { strategy, dry_run: true, batch_size: None })?;
        run_to_end(&engine, request, WorkerConfig::new(WorkerId::new("bench-matching"))).await?;
        let dry = t.elapsed().as_secs_f64();
        note(
            "matching",
            &format!(
                "on {}: the join written as mappings {copy:.3} s, keyed by the Nhanh id {keyed:.3} s, keyed with \
                 its audit rows (the floor) {floor:.3} s, decided in SQL and written as the floor {decided:.3} s \
                 (medians of 3), the sql dry run {dry:.2} s",
                backend.name(),
            ),
        );
        rows.push(Row::info(name("sql dry run"), dry, floor));
        rows.push(Row::info(format!("join written as mappings {n}×{n} s ({})", backend.name()), copy, floor));
        rows.push(Row::info(format!("join written keyed by Nhanh id {n}×{n} s ({})", backend.name()), keyed, floor));
        rows.push(Row::info(
            format!("join decided in SQL, written as the floor {n}×{n} s ({})", backend.name()),
            decided,
            floor,
        ));
    }
    // Three runs, each from no mappings (a first match: every mapping created), as the floor
    // is measured three times into an emptied table; the median counts.
    let mut runs = Vec::new();
    let mut job = None;
    for _ in 0..3 {
        forget_matches(&store.db(), MatchKind::Customers).await.context("forgetting the last run's mappings")?;
        let t = Instant::now();
        let request = matching::CUSTOMERS.request(&MatchInput { strategy, ..MatchInput::default() })?;
        job = Some(run_to_end(&engine, request, WorkerConfig::new(WorkerId::new("bench-matching"))).await?);
        runs.push(t.elapsed().as_secs_f64());
    }
    let shown = runs.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" / ");
    runs.sort_by(f64::total_cmp);
    let took = runs[1];
    let job = job.context("a match run")?;
    // A count the job's metadata lacks is shown as unknown, not as 0.
    let m = |k: &str| job.metadata.get(k).and_then(|v| v.as_i64()).map_or_else(|| "?".to_owned(), |n| n.to_string());
    note(
        "matching",
        &format!(
            "{} on {}: {took:.2} s (median of runs {shown} s) for {} mappings and {} conflicts; floor {floor:.3} s; \
             join {join:.3} s for {pairs} pairs (runs {:.3} / {:.3} / {:.3} s)",
            strategy.as_str(),
            backend.name(),
            m("created"),
            m("conflicts"),
            joins[0],
            joins[1],
            joins[2]
        ),
    );
    rows.insert(0, Row::info(format!("{} vs bare join", name(strategy.as_str())), took, join));
    rows.insert(0, Row::at_most(format!("{} vs floor", name(strategy.as_str())), took, floor, TARGET));
    Ok(rows)
}

/// The median of three runs of the join written into `floor`'s table, in seconds.
async fn written_join(db: &Db, floor: JoinFloor) -> anyhow::Result<f64> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (_, took) = key_join_written(db, MatchKind::Customers, floor).await.context("the written join")?;
        runs.push(took.as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    Ok(runs[1])
}

/// A store on `url` holding `n` × `n` customers, settled and reopened.
async fn filled(url: &str, n: u64) -> anyhow::Result<SharedStore> {
    let store = dongbo_workflows::open(url).await.context("opening the scratch database")?;
    fill(&store.db(), n).await?;
    settle(&store.db()).await?;
    drop(store);
    Ok(dongbo_workflows::open(url).await?)
}

/// `n` customers per side, in chunks of 10,000, with the pulls' upserts.
async fn fill(db: &Db, n: u64) -> anyhow::Result<()> {
    let job = JobId::new();
    for start in (0..n).step_by(10_000) {
        let end = (start + 10_000).min(n);
        let nhanh = (start..end)
            .map(|i| {
                let own = if i % 40 == 39 { i - 1 } else { i };
                let mut mobile = format!("090{own:07}");
                if i % 7 == 0 {
                    mobile.push_str(&format!(" / 091{i:07}"));
                }
                NhanhCustomerRow {
                    id: 1 + i,
                    name: None,
                    mobile: Some(mobile),
                    total_amount: Some(1),
                    updated_at: Some(1),
                }
            })
            .collect();
        let shopify = (start..end)
            .map(|i| ShopifyCustomerRow {
                id: format!("gid://shopify/Customer/{}", 7_000_000 + i),
                display_name: None,
                email: None,
                phone: Some(if i % 25 == 24 { format!("+8493{i:07}") } else { format!("+8490{i:07}") }),
                address_phone: None,
                amount_spent: None,
                total_spent: None,
                updated_at: None,
            })
            .collect();
        apply_outside_step(db, &UpsertNhanhCustomers { job, rows: nhanh, seen_by_full_pull: None }).await?;
        apply_outside_step(db, &UpsertShopifyCustomers { job, rows: shopify, seen_by_full_pull: None }).await?;
    }
    Ok(())
}

/// The peak resident set of a `dongbo worker` process matching `n` × `n` on SQLite.
async fn peak_rss(opts: &BenchOpts, n: u64) -> anyhow::Result<Row> {
    let db = ScratchDb::sqlite()?;
    let store = filled(db.url(), n).await?;
    let worker = WorkerProcess::spawn(&opts.dongbo_bin, db.url(), &[], Duration::from_secs(30))?;
    let engine = Engine::new(store.clone(), registry(&Upstreams::default()));
    let request = matching::CUSTOMERS.request(&MatchInput { strategy: Strategy::Memory, ..MatchInput::default() })?;
    let id = engine.request(request).await?.job.id;
    let started = Instant::now();
    let (_, mb) = worker.peak_mb_until_completed(&store, id).await?;
    note(
        "matching",
        &format!(
            "memory strategy {n}×{n} on SQLite in a worker process: {:.1} s, peak RSS {mb:.1} MB",
            started.elapsed().as_secs_f64()
        ),
    );
    let met = mb <= RSS_CEILING_MB;
    Ok(Row::new(format!("matching peak RSS memory {n}×{n} MB (sqlite)"), mb, RSS_CEILING_MB, "≤ 200 MB", met))
}

/// Both matches against the simulator's ground truth, after pulling everything.
async fn truth(customers: usize, products: usize) -> anyhow::Result<Vec<Row>> {
    let config = SimConfig {
        seed: 7,
        customers,
        products,
        nhanh: NhanhLimits { window: Duration::from_secs(1), lock_seconds: 1, ..NhanhLimits::default() },
        plan: Plan::Plus,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.context("starting the simulator")?;
    let db = ScratchDb::sqlite()?;
    let store = dongbo_workflows::open(db.url()).await?;
    let engine = Engine::new(store.clone(), registry(&fast_upstreams(&sim)?));
    let started = Instant::now();
    let bulk = ShopifyPullInput { mode: ShopifyMode::Bulk, ..ShopifyPullInput::default() };
    for request in [
        pull::NHANH_CUSTOMERS.request(&NhanhCustomersInput::default())?,
        pull::SHOPIFY_CUSTOMERS.request(&bulk)?,
        pull::NHANH_PRODUCTS.request(&NhanhProductsInput::default())?,
        pull::SHOPIFY_PRODUCTS.request(&bulk)?,
        matching::CUSTOMERS.request(&MatchInput { strategy: Strategy::Sql, ..MatchInput::default() })?,
        matching::PRODUCTS.request(&MatchInput::default())?,
    ] {
        run_to_end(&engine, request, WorkerConfig::new(WorkerId::new("bench-truth"))).await?;
    }
    note("matching", &format!("truth: pulled and matched in {:.1} s", started.elapsed().as_secs_f64()));
    let truth = sim.truth();
    let db = store.db();
    let customer_pairs: BTreeSet<(i64, String)> =
        truth.customer_pairs.iter().map(|(n, s)| (*n as i64, s.clone())).collect();
    let product_pairs: BTreeSet<(i64, String)> =
        truth.product_pairs.iter().map(|(n, s)| (*n as i64, s.clone())).collect();
    let skus: Vec<String> = truth.ambiguous_skus.iter().map(|s| format!("sku:{s}")).collect();
    let mut rows = judge(&db, MatchKind::Customers, &format!("{customers}×{customers}"), &customer_pairs).await?;
    rows.push(conflicts_row(&db, MatchKind::Customers, &truth.ambiguous_customer_keys).await?);
    rows.extend(judge(&db, MatchKind::Products, &format!("{products}"), &product_pairs).await?);
    rows.push(conflicts_row(&db, MatchKind::Products, &skus).await?);
    sim.shutdown().await;
    Ok(rows)
}

/// Clients for `sim`: Nhanh paced to the simulator's one-second window.
fn fast_upstreams(sim: &Simulator) -> anyhow::Result<Upstreams> {
    let env = sim.env();
    let var = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let nhanh = NhanhConfig::from_vars(var).map_err(|k| anyhow::anyhow!("{k} is not set"))?;
    let window = WindowConfig { limit: 150, window: Duration::from_secs(1), margin: Duration::from_millis(50) };
    let nhanh = NhanhClient::with_policy(nhanh, window, RetryPolicy::default())?;
    let shopify = ShopifyClient::new(ShopifyConfig::from_vars(var).map_err(|e| anyhow::anyhow!("{e}"))?)?;
    Ok(Upstreams { nhanh: Some(Arc::new(nhanh)), shopify: Some(Arc::new(shopify)), ..Upstreams::default() })
}

/// Precision and recall of the mappings of `kind` against the simulator's `pairs`.
async fn judge(db: &Db, kind: MatchKind, size: &str, pairs: &BTreeSet<(i64, String)>) -> anyhow::Result<Vec<Row>> {
    let got: BTreeSet<(i64, String)> = list_mappings(db, kind)
        .await?
        .into_iter()
        .filter(|m| m.method != "manual")
        .filter_map(|m| m.shopify_id.map(|s| (m.nhanh_id, s)))
        .collect();
    let right = got.intersection(pairs).count() as f64;
    let precision = if got.is_empty() { 0.0 } else { 100.0 * right / got.len() as f64 };
    let recall = if pairs.is_empty() { 0.0 } else { 100.0 * right / pairs.len() as f64 };
    let what = kind.as_str();
    note(
        "matching",
        &format!("truth {what}s {size}: {} mappings, {right} of the {} true pairs", got.len(), pairs.len()),
    );
    Ok(vec![
        Row::new(format!("match {what}s {size} precision %"), precision, 100.0, "= 100 %", precision == 100.0),
        Row::new(format!("match {what}s {size} recall %"), recall, 100.0, "≥ 99 %", recall >= 99.0),
    ])
}

/// How many of the simulator's ambiguous keys are recorded conflicts.
async fn conflicts_row(db: &Db, kind: MatchKind, ambiguous: &[String]) -> anyhow::Result<Row> {
    let recorded: BTreeMap<String, _> =
        list_conflicts(db, kind).await?.into_iter().map(|c| (c.key.clone(), c)).collect();
    let found = ambiguous.iter().filter(|k| recorded.contains_key(*k)).count();
    let met = found == ambiguous.len();
    let name = format!("match {}s ambiguous keys recorded as conflicts", kind.as_str());
    Ok(Row::new(name, found as f64, ambiguous.len() as f64, "all", met))
}
