//! Matching against the simulator's ground truth: pull both sides through the pull workflows,
//! then match. Precision 100 %, recall ≥ 99 %, every ambiguous key a conflict; a dry run writes
//! nothing; manual mappings survive; the three customer strategies agree — on both stores.

mod match_support;

use std::collections::{BTreeMap, BTreeSet};

use dongbo_engine::{JobStatus, Registry};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::{list_mappings, MatchKind};
use dongbo_workflows::catalog::store::sync::set_manual_customer_mapping;
use dongbo_workflows::jobs::*;
use dongbo_workflows::Upstreams;
use match_support::Harness;
use serde_json::json;

async fn pulled(backend: Backend) -> Option<(Harness, Simulator)> {
    let mut h = Harness::new(backend).await?;
    let config = SimConfig { seed: 7, customers: 5_000, products: 2_000, ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("start simulator");
    let env: BTreeMap<String, String> = sim.env().into_iter().collect();
    let upstreams = Upstreams::from_vars(|k| env.get(k).cloned()).expect("upstreams");
    let mut registry = Registry::new();
    dongbo_workflows::pull::register(&mut registry, &upstreams);
    dongbo_workflows::matching::register(&mut registry);
    h.with_registry(registry);
    for (job_type, input) in [
        (PULL_NHANH_CUSTOMERS, json!({})),
        (PULL_SHOPIFY_CUSTOMERS, json!({ "mode": "bulk" })),
        (PULL_NHANH_PRODUCTS, json!({})),
        (PULL_SHOPIFY_PRODUCTS, json!({ "mode": "bulk" })),
    ] {
        let job = h.run(job_type, input).await;
        assert_eq!(job.status, JobStatus::Completed, "{job_type}: {:?}", job.error);
    }
    Some((h, sim))
}

/// Precision, recall and ambiguity of the non-manual mappings against `truth`.
fn judge(
    kind: &str,
    got: &BTreeSet<(i64, String, String, String)>,
    truth: &BTreeSet<(i64, String)>,
    excluded: &BTreeSet<i64>,
    matchable: &BTreeSet<(i64, String)>,
) {
    let pairs: BTreeSet<(i64, String)> = got.iter().map(|(n, s, _, _)| (*n, s.clone())).collect();
    let wrong: Vec<_> = pairs.difference(truth).collect();
    assert!(
        wrong.is_empty(),
        "{kind}: {} mappings outside the truth, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let matchable: BTreeSet<_> = matchable.iter().filter(|(n, _)| !excluded.contains(n)).collect();
    let found = matchable.iter().filter(|p| pairs.contains(p)).count();
    let recall = found as f64 / matchable.len() as f64;
    eprintln!(
        "{kind}: {found} of {} matchable pairs found (recall {:.2} %), precision 100 %",
        matchable.len(),
        recall * 100.0
    );
    assert!(recall >= 0.99, "{kind}: recall {recall}");
}

async fn matches_the_ground_truth(backend: Backend) {
    let Some((h, sim)) = pulled(backend).await else { return };
    let truth = sim.truth();
    let customer_truth: BTreeSet<(i64, String)> =
        truth.customer_pairs.iter().map(|(n, s)| (*n as i64, s.clone())).collect();
    let product_truth: BTreeSet<(i64, String)> =
        truth.product_pairs.iter().map(|(n, s)| (*n as i64, s.clone())).collect();

    // A dry run reports and writes nothing.
    let dry = h.run(AUTO_MATCH_CUSTOMERS, json!({ "dryRun": true })).await;
    assert_eq!(dry.status, JobStatus::Completed, "{:?}", dry.error);
    let summary = h.store.events(dry.id, 0, 10_000).await.unwrap();
    let completed = summary.iter().rev().find(|e| e.event_type == "JobCompleted").expect("JobCompleted");
    let text = completed.payload.to_string();
    assert!(text.contains("\"sample\""), "dry-run summary has a sample: {text}");
    assert!(dry.successful as usize >= customer_truth.len() * 99 / 100, "dry run would map {}", dry.successful);
    assert!(h.mappings(MatchKind::Customers).await.is_empty(), "a dry run wrote mappings");
    assert!(h.conflicts(MatchKind::Customers).await.is_empty(), "a dry run wrote conflicts");

    // A deliberately crossed manual mapping: both of its records stay out of matching.
    let (a, _) = &truth.customer_pairs[0];
    let (_, b_shop) = &truth.customer_pairs[1];
    set_manual_customer_mapping(&h.db(), *a as i64, b_shop, 1).await.unwrap();
    let excluded: BTreeSet<i64> = [*a as i64, truth.customer_pairs[1].0 as i64].into();

    let mut first: Option<BTreeSet<(i64, String, String, String)>> = None;
    for strategy in ["memory", "sql", "batch"] {
        let job = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": strategy, "batchSize": 700 })).await;
        assert_eq!(job.status, JobStatus::Completed, "{strategy}: {:?}", job.error);
        assert_eq!(Some(job.processed), job.total, "{strategy}: every record considered");
        let got = h.mappings(MatchKind::Customers).await;
        judge(&format!("customers/{strategy}"), &got, &customer_truth, &excluded, &customer_truth);
        let conflicts = h.conflicts(MatchKind::Customers).await;
        for key in &truth.ambiguous_customer_keys {
            assert!(conflicts.contains_key(key), "{strategy}: ambiguous {key} is not a conflict");
        }
        assert!(got.iter().all(|(_, _, method, key)| method == "phone" && key.starts_with("+84")));
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(f, &got, "{strategy} differs from memory"),
        }
        let manual: Vec<_> = list_mappings(&h.db(), MatchKind::Customers)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.method == "manual")
            .map(|m| (m.nhanh_id, m.shopify_id))
            .collect();
        assert_eq!(manual, vec![(*a as i64, Some(b_shop.clone()))], "the manual mapping survives");
    }

    let job = h.run(AUTO_MATCH_PRODUCTS, json!({})).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let got = h.mappings(MatchKind::Products).await;
    // Both a SKU key and a barcode key are written per record, so a product with a SKU still
    // pairs by barcode with a variant that has none: recall is judged on every truth pair.
    judge("products", &got, &product_truth, &BTreeSet::new(), &product_truth);
    assert!(got.iter().all(|(_, _, method, key)| key.starts_with(&format!("{method}:"))));
    let conflicts = h.conflicts(MatchKind::Products).await;
    for sku in &truth.ambiguous_skus {
        assert!(conflicts.contains_key(&format!("sku:{sku}")), "ambiguous SKU {sku} is not a conflict");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_meets_the_simulators_ground_truth_on_sqlite() {
    matches_the_ground_truth(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_meets_the_simulators_ground_truth_on_postgres() {
    matches_the_ground_truth(Backend::Postgres).await;
}
