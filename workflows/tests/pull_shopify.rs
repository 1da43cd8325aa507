//! The Shopify pulls against the simulator over real HTTP, on SQLite and PostgreSQL: by bulk
//! export and by pages they leave the same, exact catalog; a malformed page fails the job.

mod pull_support;

use dongbo_engine::JobStatus;
use dongbo_simulator::{Scope, Simulator};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::{
    list_locations, list_shopify_customer_keys, list_shopify_customers, list_shopify_products, list_shopify_variants,
};
use dongbo_workflows::jobs::{PULL_SHOPIFY_CUSTOMERS, PULL_SHOPIFY_PRODUCTS};
use dongbo_workflows::pull::PullSettings;
use pull_support::Rig;
use serde_json::json;

/// Asserts the catalog's Shopify customers and products are exactly the simulator's.
pub async fn assert_shopify_mirror(rig: &Rig, sim: &Simulator) {
    let state = sim.state();
    let customers = list_shopify_customers(&rig.db).await.unwrap();
    assert_eq!(customers.len(), state.shopify_customer_count());
    for c in &customers {
        assert_eq!(c.phone, state.shopify_customer_phone(&c.id), "customer {}", c.id);
    }
    let keyed = list_shopify_customer_keys(&rig.db).await.unwrap();
    assert!(!keyed.is_empty());
    let variants = list_shopify_variants(&rig.db).await.unwrap();
    assert_eq!(variants.len(), state.shopify_variant_count());
    for v in &variants {
        let s = state.variant(&v.id).unwrap_or_else(|| panic!("variant {} unknown to the simulator", v.id));
        assert_eq!((&v.sku, &v.barcode), (&s.sku, &s.barcode), "variant {}", v.id);
        assert_eq!(v.inventory_item_id.as_deref(), Some(s.inventory_item_id.as_str()));
    }
    assert_eq!(list_shopify_products(&rig.db).await.unwrap().len(), sim.truth().shopify_products);
    assert_eq!(list_locations(&rig.db).await.unwrap().len(), sim.truth().locations.len());
}

async fn bulk_and_paged_pulls_leave_the_same_exact_catalog(backend: Backend) {
    let sim = pull_support::simulator(3_000, 600).await;
    // Auto mode exports stores above 1,000 records; 700 lines per ingest step.
    let settings = PullSettings { bulk_threshold: 1_000, bulk_chunk_lines: 700, ..PullSettings::default() };
    let Some(rig) = Rig::new(backend, &sim, settings).await else { return };

    let bulk = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({})).await;
    assert_eq!(bulk.status, JobStatus::Completed, "{:?}", bulk.error);
    let summary = rig.summary(bulk.id).await;
    assert_eq!(summary["transfer"], "bulk");
    assert_eq!(bulk.total, Some(sim.state().shopify_customer_count() as i64));
    assert_eq!(bulk.processed, bulk.total.unwrap());
    assert!(summary["pages"].as_u64().unwrap() >= 5, "ingested in chunks: {summary}");
    let products = rig.run(PULL_SHOPIFY_PRODUCTS, json!({"mode": "bulk"})).await;
    assert_eq!(products.status, JobStatus::Completed, "{:?}", products.error);
    assert_eq!(rig.summary(products.id).await["transfer"], "bulk");
    assert_shopify_mirror(&rig, &sim).await;
    let by_bulk = (
        list_shopify_customers(&rig.db).await.unwrap(),
        list_shopify_variants(&rig.db).await.unwrap(),
        list_shopify_customer_keys(&rig.db).await.unwrap(),
    );

    let paged = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({"mode": "paged"})).await;
    assert_eq!(paged.status, JobStatus::Completed, "{:?}", paged.error);
    assert_eq!(rig.summary(paged.id).await["transfer"], "paged");
    assert_eq!(rig.summary(paged.id).await["removed"], 0);
    let products = rig.run(PULL_SHOPIFY_PRODUCTS, json!({"mode": "paged"})).await;
    assert_eq!(products.status, JobStatus::Completed, "{:?}", products.error);
    assert_shopify_mirror(&rig, &sim).await;
    let by_pages = (
        list_shopify_customers(&rig.db).await.unwrap(),
        list_shopify_variants(&rig.db).await.unwrap(),
        list_shopify_customer_keys(&rig.db).await.unwrap(),
    );
    assert!(by_bulk == by_pages, "bulk and paged pulls mirror the same rows and keys");
    rig.assert_no_token_in_events(bulk.id, &sim).await;
    rig.assert_no_token_in_events(products.id, &sim).await;
}

async fn an_incremental_shopify_pull_pages_from_the_watermark(backend: Backend) {
    let sim = pull_support::simulator(1_500, 50).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    let full = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({})).await;
    assert_eq!(full.status, JobStatus::Completed, "{:?}", full.error);
    // The simulator's customers were all updated long before this pull started: nothing is new.
    let inc = rig.run(PULL_SHOPIFY_CUSTOMERS, json!({"incremental": true, "mode": "bulk"})).await;
    assert_eq!(inc.status, JobStatus::Completed, "{:?}", inc.error);
    let summary = rig.summary(inc.id).await;
    assert_eq!((summary["mode"].as_str(), summary["transfer"].as_str()), (Some("incremental"), Some("paged")));
    assert_eq!(inc.processed, 0);
    assert_eq!(summary["removed"], 0);
    assert_eq!(list_shopify_customers(&rig.db).await.unwrap().len(), sim.state().shopify_customer_count());
}

async fn a_malformed_shopify_page_fails_the_job_with_a_clear_reason(backend: Backend) {
    let sim = pull_support::simulator(300, 20).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    sim.faults().update(Scope::Shopify, |f| f.malformed_rate = 1.0);
    let job = rig.run(PULL_SHOPIFY_PRODUCTS, json!({})).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("malformed upstream reply"), "{error}");
    rig.assert_no_token_in_events(job.id, &sim).await;
}

on_both_stores!(
    bulk_and_paged_pulls_leave_the_same_exact_catalog,
    an_incremental_shopify_pull_pages_from_the_watermark,
    a_malformed_shopify_page_fails_the_job_with_a_clear_reason,
);
