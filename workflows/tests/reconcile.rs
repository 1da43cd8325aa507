//! RECONCILE against the simulator, on SQLite and PostgreSQL: after a full sync the two sides
//! agree and a reconcile finds nothing; then Shopify's values are changed behind dongbo's back
//! (stock of three variants, total spent of two customers, through Shopify's own Admin API as an
//! operator would) and a nightly-style pipeline (fresh pulls → RECONCILE) finds exactly those
//! five items, pushes only them, and leaves Shopify equal to Nhanh again. Then two transfers
//! whose webhooks were lost, each leaving the product's total unchanged: one between Nhanh
//! depots that feed different locations, one between Shopify locations made by hand in Shopify;
//! each reconcile finds and fixes exactly that product.

mod sync_support;

use std::collections::HashSet;

use dongbo_engine::{Engine, JobStatus, Registry};
use dongbo_tests::{fresh_db, Backend};
use dongbo_workflows::catalog::store::schedules::children_of;
use dongbo_workflows::connectors::shopify::mutations::{InventoryQuantity, MetafieldInput};
use serde_json::{json, Value};
use sync_support::*;

fn pulls() -> Value {
    json!({"name": "pull", "jobs": [
        {"type": "PULL_NHANH_PRODUCTS"}, {"type": "PULL_SHOPIFY_PRODUCTS"},
        {"type": "PULL_NHANH_CUSTOMERS"}, {"type": "PULL_SHOPIFY_CUSTOMERS"}
    ]})
}

fn reconcile_pipeline() -> Value {
    json!({"recheckSecs": 1, "stages": [pulls(), {"name": "reconcile", "jobs": [{"type": "RECONCILE", "input": {"recheckSecs": 1}}]}]})
}

/// The RECONCILE child of a finished pipeline, and its `compare` step's note.
async fn reconcile_of(
    engine: &Engine,
    pipeline: &dongbo_engine::BackgroundJob,
) -> (dongbo_engine::BackgroundJob, String) {
    let store = engine.store();
    let links = children_of(&store.db(), &pipeline.id.to_string()).await.unwrap();
    let link = links.iter().find(|l| l.stage == "reconcile").expect("a reconcile child");
    let job = store.job(link.child_job_id.parse().unwrap()).await.unwrap().unwrap();
    let events = store.events(job.id, 0, 1000).await.unwrap();
    let compare = events.iter().find(|e| e.payload["step"] == json!("compare")).expect("a compare step");
    (job, compare.payload["note"].as_str().unwrap_or_default().to_owned())
}

async fn reconcile_fixes_exactly_the_drift(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let sim = simulator(40, 80).await;
    let up = upstreams(&sim);
    let mut registry = Registry::new();
    dongbo_workflows::register_all(&mut registry, &up);
    dongbo_workflows::schedules::register(&mut registry, &store, &up);
    let engine = Engine::new(store.clone(), registry);
    let db = store.db();
    map_locations(&db, &sim).await;
    let products = map_products(&db, &sim, 20).await;
    let customers = map_customers(&db, &sim, 30).await;

    // A full sync: pull everything, push everything mapped.
    let sync = json!({"recheckSecs": 1, "stages": [pulls(), {"name": "sync", "jobs": [
        {"type": "PRODUCT_SYNC", "input": {"forceSync": true}}, {"type": "CUSTOMER_SYNC", "input": {"forceSync": true}}
    ]}]});
    let synced = run_job(&engine, "PIPELINE", sync).await;
    assert_eq!(synced.status, JobStatus::Completed, "{:?}", synced.error);

    // Both sides agree: a reconcile finds nothing and requests nothing.
    let first = run_job(&engine, "PIPELINE", reconcile_pipeline()).await;
    assert_eq!(first.status, JobStatus::Completed, "{:?}", first.error);
    let (job, note) = reconcile_of(&engine, &first).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(
        (job.metadata["stockDrift"].clone(), job.metadata["totalSpentDrift"].clone()),
        (json!(0), json!(0)),
        "{note}"
    );
    assert!(children_of(&db, &job.id.to_string()).await.unwrap().is_empty());

    // Someone changes Shopify directly: three variants' stock and two customers' total spent.
    let shopify = up.shopify().unwrap();
    let expected = sim.state().expected_inventory();
    let mut drifted_variants = HashSet::new();
    let mut changes = Vec::new();
    for (_, nhanh_id, variant) in products.iter().skip(2).step_by(5).take(3) {
        let item = sim.state().variant(variant).unwrap().inventory_item_id;
        let level = expected.iter().find(|l| l.inventory_item_id == item && l.nhanh_product_id == *nhanh_id).unwrap();
        changes.push(InventoryQuantity {
            inventory_item_id: item,
            location_id: level.location_id.clone(),
            quantity: level.quantity + 7,
        });
        drifted_variants.insert(variant.clone());
    }
    let errors = shopify.inventory_set_quantities(&changes, "operator-hand-edit-1").await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let drifted_customers: Vec<String> =
        customers.iter().skip(4).step_by(7).take(2).map(|(_, _, gid)| gid.clone()).collect();
    let metafields: Vec<MetafieldInput> = drifted_customers
        .iter()
        .map(|gid| MetafieldInput {
            owner_id: gid.clone(),
            namespace: "custom".into(),
            key: "total_spent".into(),
            type_: "number_integer".into(),
            value: "1".into(),
        })
        .collect();
    shopify.metafields_set(&metafields).await.unwrap();
    let journal_before = sim.journal().len();

    // The nightly pipeline: fresh pulls, then RECONCILE finds and fixes exactly those five.
    let second = run_job(&engine, "PIPELINE", reconcile_pipeline()).await;
    assert_eq!(second.status, JobStatus::Completed, "{:?}", second.error);
    let (job, note) = reconcile_of(&engine, &second).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let summary = &job.metadata["summary"];
    assert_eq!(summary["stockDrift"], json!(3), "{note}");
    assert_eq!(summary["stockFixed"], json!(3), "{summary}");
    assert_eq!(summary["totalSpentDrift"], json!(2), "{note}");
    assert_eq!(summary["totalSpentFixed"], json!(2), "{summary}");
    assert!(note.starts_with("3 stock and 2 total-spent items differ"), "{note}");
    for gid in drifted_variants.iter().chain(&drifted_customers) {
        assert!(note.contains(gid.as_str()), "{gid} missing from {note}");
    }
    // Each drifted mapping is in the audit index as `drift`.
    let events = store.events(job.id, 0, 1000).await.unwrap();
    let compare = events.iter().find(|e| e.payload["step"] == json!("compare")).unwrap();
    let touched = compare.payload["touched"].as_array().unwrap();
    assert_eq!(touched.len(), 5, "{touched:?}");
    for t in touched {
        let entity = format!("{}:{}", t["kind"].as_str().unwrap(), t["id"].as_str().unwrap());
        let audit = store.entity_events(&entity, 100).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "drift"), "{entity}");
    }
    // Only those were pushed: the children were scoped to them.
    let fixes = children_of(&db, &job.id.to_string()).await.unwrap();
    assert_eq!(fixes.len(), 2);
    for link in &fixes {
        let first = store.events(link.child_job_id.parse().unwrap(), 0, 1).await.unwrap();
        let ids = first[0].payload["input"]["mappingIds"].as_array().unwrap().len();
        match first[0].payload["jobType"].as_str().unwrap() {
            "PRODUCT_SYNC" => assert_eq!(ids, 3),
            "CUSTOMER_SYNC" => assert_eq!(ids, 2),
            other => panic!("unexpected child {other}"),
        }
    }
    let pushed: Vec<_> = sim.journal().into_iter().skip(journal_before).filter(|e| e.applied).collect();
    let metafield_writes: HashSet<String> =
        pushed.iter().filter(|e| e.kind == "metafieldsSet").map(|e| e.target.clone()).collect();
    assert_eq!(metafield_writes, drifted_customers.iter().cloned().collect::<HashSet<_>>());
    let inventory_writes: HashSet<String> =
        pushed.iter().filter(|e| e.kind == "inventorySetQuantities").map(|e| e.target.clone()).collect();
    let drifted_items: HashSet<String> = changes.iter().map(|c| c.inventory_item_id.clone()).collect();
    assert_eq!(inventory_writes, drifted_items);

    // Shopify equals Nhanh again for every mapped item.
    for level in sim.state().expected_inventory() {
        let mapped = products.iter().any(|(_, n, _)| *n == level.nhanh_product_id);
        if mapped {
            let now = sim.state().inventory(&level.inventory_item_id, &level.location_id);
            assert_eq!(now, Some(level.quantity), "{} at {}", level.inventory_item_id, level.location_id);
        }
    }
    let totals: std::collections::HashMap<String, u64> = sim.state().expected_total_spent().into_iter().collect();
    for (_, _, gid) in &customers {
        assert_eq!(
            sim.state().customer_metafield(gid, "custom", "total_spent"),
            Some(totals[gid].to_string()),
            "{gid}"
        );
    }

    // A stock transfer in Nhanh between two depots that feed different locations, whose
    // webhooks were all lost: the product's total is unchanged, two of its levels are not.
    let truth = sim.truth();
    let (from, from_location) = truth.depot_to_location[0].clone();
    let (to, to_location) = truth
        .depot_to_location
        .iter()
        .find(|(_, l)| *l != from_location)
        .cloned()
        .expect("depots feeding two locations");
    let (mapping, moved, variant) = products
        .iter()
        .find(|(_, n, _)| sim.state().nhanh_available(*n, from).unwrap_or(0) >= 3)
        .cloned()
        .expect("a mapped product with stock to move");
    assert!(sim.transfer_nhanh_stock(moved, from, to, 3));
    let journal_before = sim.journal().len();
    let third = run_job(&engine, "PIPELINE", reconcile_pipeline()).await;
    assert_eq!(third.status, JobStatus::Completed, "{:?}", third.error);
    let (job, note) = reconcile_of(&engine, &third).await;
    let summary = &job.metadata["summary"];
    assert_eq!((&summary["stockDrift"], &summary["stockFixed"]), (&json!(1), &json!(1)), "{note}");
    assert_eq!(summary["totalSpentDrift"], json!(0), "{note}");
    assert!(note.contains(&format!("stock {mapping} ")) && note.contains(" at gid://shopify/Location/"), "{note}");
    let item = sim.state().variant(&variant).unwrap().inventory_item_id;
    let pushed: Vec<_> = sim.journal().into_iter().skip(journal_before).filter(|e| e.applied).collect();
    assert!(pushed.iter().filter(|e| e.kind == "inventorySetQuantities").all(|e| e.target == item), "{pushed:?}");
    for level in sim.state().expected_inventory().iter().filter(|l| l.nhanh_product_id == moved) {
        let now = sim.state().inventory(&level.inventory_item_id, &level.location_id);
        assert_eq!(now, Some(level.quantity), "{} at {}", level.inventory_item_id, level.location_id);
    }
    let levels = |l: &str| sim.state().inventory(&item, l).unwrap();
    let before: i64 = truth
        .depot_to_location
        .iter()
        .filter(|(_, l)| *l == from_location)
        .map(|(d, _)| sim.state().nhanh_available(moved, *d).unwrap())
        .sum();
    assert_eq!(levels(&from_location), before, "the location the stock left");
    assert!(levels(&to_location) >= 3, "the location the stock went to");

    // Stock moved between two Shopify locations by hand in Shopify, whose `inventory_levels/update`
    // deliveries were all lost (no webhook target here): the variant's total is unchanged, so only
    // the reconcile's own read of Shopify's levels sees it.
    let (mapping, _, variant) = products
        .iter()
        .find(|(_, _, v)| {
            let item = sim.state().variant(v).unwrap().inventory_item_id;
            sim.state().inventory(&item, &from_location).unwrap() >= 2
        })
        .cloned()
        .expect("a mapped variant with stock to move in Shopify");
    let item = sim.state().variant(&variant).unwrap().inventory_item_id;
    let hand_moved = vec![
        InventoryQuantity {
            inventory_item_id: item.clone(),
            location_id: from_location.clone(),
            quantity: levels(&from_location) - 2,
        },
        InventoryQuantity {
            inventory_item_id: item.clone(),
            location_id: to_location.clone(),
            quantity: levels(&to_location) + 2,
        },
    ];
    let errors = shopify.inventory_set_quantities(&hand_moved, "operator-hand-transfer-1").await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let journal_before = sim.journal().len();
    let fourth = run_job(&engine, "PIPELINE", reconcile_pipeline()).await;
    assert_eq!(fourth.status, JobStatus::Completed, "{:?}", fourth.error);
    let (job, note) = reconcile_of(&engine, &fourth).await;
    let summary = &job.metadata["summary"];
    assert_eq!((&summary["stockDrift"], &summary["stockFixed"]), (&json!(1), &json!(1)), "{note}");
    assert!(note.contains(&format!("stock {mapping} ")) && note.contains(&format!("at {from_location}: ")), "{note}");
    let every_level = sim.state().shopify_variant_count() * truth.locations.len();
    assert_eq!(job.metadata["shopifyLevelsRead"], json!(every_level), "{}", job.metadata);
    let pushed: Vec<_> = sim.journal().into_iter().skip(journal_before).filter(|e| e.applied).collect();
    assert!(pushed.iter().filter(|e| e.kind == "inventorySetQuantities").all(|e| e.target == item), "{pushed:?}");
    for level in sim.state().expected_inventory().iter().filter(|l| l.inventory_item_id == item) {
        let now = sim.state().inventory(&level.inventory_item_id, &level.location_id);
        assert_eq!(now, Some(level.quantity), "{} at {}", level.inventory_item_id, level.location_id);
    }
}

#[tokio::test]
async fn reconcile_fixes_exactly_the_drift_sqlite() {
    reconcile_fixes_exactly_the_drift(Backend::Sqlite).await;
}

#[tokio::test]
async fn reconcile_fixes_exactly_the_drift_postgres() {
    reconcile_fixes_exactly_the_drift(Backend::Postgres).await;
}
