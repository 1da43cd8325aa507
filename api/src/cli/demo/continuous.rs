//! The demo's continuous phase: dongbo keeping the stores in step on its own.
//!
//! The simulator's webhooks point at the demo's server (`/api/webhooks/nhanh` and
//! `/api/webhooks/shopify`, checked with the simulator's verify token and client secret), a
//! webhook dispatcher and two workers run, and stock changes in Nhanh through the simulator's
//! `/_sim/touch`, which sends Nhanh's `inventoryChange` as Nhanh would. The phase prints the
//! change, the delivery dongbo recorded, the targeted PRODUCT_SYNC it became, and how long
//! Shopify took to show Nhanh's new numbers; it fails when Shopify has not followed within
//! [`FOLLOW_WITHIN`].

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dongbo_engine::{Engine, JobId};
use dongbo_simulator::Simulator;
use dongbo_workflows::catalog::store::webhooks::{deliveries_page, DeliveryRow};
use dongbo_workflows::notices::Notices;
use dongbo_workflows::webhooks::dispatch::{DispatchConfig, Dispatcher};
use serde_json::{json, Value};

use super::super::serve::Workers;

/// How long Shopify may take to show a change before the demo fails.
const FOLLOW_WITHIN: Duration = Duration::from_secs(30);
/// Products changed per touch.
const TOUCHED: usize = 3;
const POLL: Duration = Duration::from_millis(20);

/// Points the simulator's webhooks at `server` (`http://127.0.0.1:PORT`), changes Nhanh's
/// stock and follows it into Shopify. Returns the line the demo ends with.
pub(super) async fn run(sim: &Simulator, engine: &Engine, notices: &Notices, server: &str) -> anyhow::Result<String> {
    println!("\ncontinuous: Nhanh and Shopify webhooks → {server}api/webhooks/…, one dispatcher, two workers");
    let webhooks = sim.webhooks();
    webhooks.set_nhanh_url(Some(format!("{server}api/webhooks/nhanh")));
    webhooks.set_shopify_url(Some(format!("{server}api/webhooks/shopify")));
    let dispatcher = Dispatcher::new(engine.clone(), notices.clone(), DispatchConfig::default()).spawn();
    let workers = Workers::start(engine, 2, Duration::from_secs(2));
    let result = follow(sim, engine).await;
    workers.stop().await;
    dispatcher.abort();
    webhooks.set_nhanh_url(None);
    webhooks.set_shopify_url(None);
    result
}

async fn follow(sim: &Simulator, engine: &Engine) -> anyhow::Result<String> {
    let db = engine.store().db();
    let seen_before = deliveries_page(&db, None, None, 1).await?.first().map_or(0, |d| d.id);
    let (changed, levels, started) = touch_mapped(sim).await?;
    println!(
        "  change: Nhanh stock of product{} {} moved (POST /_sim/touch); Shopify must show {}",
        if changed.len() == 1 { "" } else { "s" },
        changed.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        levels
            .iter()
            .map(|(item, loc, q)| format!("{q} of {} at {}", tail(item), tail(loc)))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // The delivery, recorded and answered; then the job it became.
    let deadline = started + FOLLOW_WITHIN;
    let delivery = poll(deadline, "Nhanh's inventoryChange to arrive", || async {
        let rows = deliveries_page(&db, None, None, 100).await.ok()?;
        rows.into_iter().rev().find(|d| d.id > seen_before && d.source == "nhanh" && d.topic == "inventoryChange")
    })
    .await?;
    println!(
        "  delivery: #{} {} from Nhanh recorded {} ms after the change",
        delivery.id,
        delivery.topic,
        (delivery.received_at - started_ms(started)).max(0)
    );
    let dispatched = poll(deadline, "the delivery to become a job", || async {
        let rows = deliveries_page(&db, None, None, 100).await.ok()?;
        rows.into_iter().find(|d| d.id == delivery.id && d.state != "RECEIVED")
    })
    .await?;
    let job_id: JobId = match (&dispatched.state[..], &dispatched.job_id) {
        ("DISPATCHED", Some(job)) => job.parse().map_err(|e| anyhow::anyhow!("job id {job}: {e}"))?,
        (state, _) => bail!("the delivery was {state}: {}", dispatched.note.unwrap_or_default()),
    };
    let job = engine.store().job(job_id).await?.context("the targeted job vanished")?;
    let events = engine.store().events(job_id, 0, 1).await?;
    let scope = events.first().map(|e| e.payload["input"]["mappingIds"].clone()).unwrap_or(Value::Null);
    println!(
        "  job: {} {} (priority {}) for mappings {scope}, requested {} ms after the change",
        job.job_type,
        job.id,
        job.priority,
        (job.created_at.timestamp_millis() - started_ms(started)).max(0)
    );

    // Shopify follows.
    let state = sim.state();
    poll(deadline, "Shopify to show Nhanh's new stock", || async {
        levels.iter().all(|(item, loc, q)| state.inventory(item, loc) == Some(*q)).then_some(())
    })
    .await?;
    let lag = started.elapsed();
    let job = engine.store().job(job_id).await?.context("the targeted job vanished")?;
    println!(
        "  shopify: shows the new stock {:.1} s after the change ({} {})",
        lag.as_secs_f64(),
        job.job_type,
        job.status
    );
    echoes(&db, seen_before).await;
    Ok(format!(
        "continuous: Shopify followed a Nhanh stock change in {:.1} s (delivery #{} → {} {}; limit {} s)",
        lag.as_secs_f64(),
        delivery.id,
        job.job_type,
        job.id,
        FOLLOW_WITHIN.as_secs()
    ))
}

/// Changes the stock of products until at least one of them is mapped (the touch picks products
/// deterministically, mapped or not); the changed mapped products, the Shopify levels they must
/// reach `(inventory item, location, quantity)` and when the touch was made.
async fn touch_mapped(sim: &Simulator) -> anyhow::Result<(Vec<u64>, Vec<(String, String, i64)>, Instant)> {
    let http = reqwest::Client::new();
    for _ in 0..10 {
        let started = Instant::now();
        let reply: Value = http
            .post(format!("{}/_sim/touch", sim.nhanh_base_url()))
            .json(&json!({ "products": TOUCHED }))
            .send()
            .await
            .context("POST /_sim/touch")?
            .error_for_status()
            .context("POST /_sim/touch")?
            .json()
            .await
            .context("reading /_sim/touch's answer")?;
        let touched: BTreeSet<u64> =
            reply["products"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
        let levels: Vec<_> =
            sim.state().expected_inventory().into_iter().filter(|l| touched.contains(&l.nhanh_product_id)).collect();
        if !levels.is_empty() {
            let products: BTreeSet<u64> = levels.iter().map(|l| l.nhanh_product_id).collect();
            let levels = levels.into_iter().map(|l| (l.inventory_item_id, l.location_id, l.quantity)).collect();
            return Ok((products.into_iter().collect(), levels, started));
        }
    }
    bail!("ten touches changed no mapped product")
}

/// Says what became of the Shopify deliveries that followed (the push's echoes), without
/// waiting long for them: they change nothing either way.
async fn echoes(db: &dongbo_engine::Db, after: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows: Vec<DeliveryRow> = deliveries_page(db, None, None, 100)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.id > after && d.source == "shopify")
            .collect();
        let open = rows.iter().any(|d| d.state == "RECEIVED");
        if (!rows.is_empty() && !open) || Instant::now() >= deadline {
            let ignored = rows.iter().filter(|d| d.state == "IGNORED").count();
            let acted = rows.iter().filter(|d| d.state == "DISPATCHED").count();
            println!(
                "  echo: Shopify sent {} inventory_levels/update deliver{} for the push: {ignored} ignored as dongbo's own write, {acted} acted on",
                rows.len(),
                if rows.len() == 1 { "y" } else { "ies" }
            );
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `f` until it gives a value, or fails naming `what` at `deadline`.
async fn poll<T, F, Fut>(deadline: Instant, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("continuous: waited {} s for {what}", FOLLOW_WITHIN.as_secs());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The unix ms of `at` (an `Instant` of this process).
fn started_ms(at: Instant) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    now - at.elapsed().as_millis() as i64
}

/// The last segment of a gid, for short lines.
fn tail(gid: &str) -> &str {
    gid.rsplit('/').next().unwrap_or(gid)
}
