//! The three AUTO_MATCH_CUSTOMERS strategies give identical mappings and conflicts on random
//! catalogs (duplicated numbers on both sides, several numbers per field, manual mappings,
//! removed records), equal to the rule computed by brute force — on SQLite and PostgreSQL.

mod match_support;

use std::collections::BTreeSet;

use dongbo_engine::JobStatus;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::matching::MatchKind;
use dongbo_workflows::catalog::store::pulls::{
    nhanh_customer_keys, shopify_customer_keys, MarkRemoved, NhanhCustomerRow, PullSource, ShopifyCustomerRow,
    UpsertNhanhCustomers, UpsertShopifyCustomers,
};
use dongbo_workflows::catalog::store::sync::set_manual_customer_mapping;
use dongbo_workflows::jobs::AUTO_MATCH_CUSTOMERS;
use match_support::{reference, Harness};
use proptest::prelude::*;
use serde_json::json;

/// A random catalog: phone numbers are drawn from a small pool so that they collide.
#[derive(Debug, Clone)]
struct Catalog {
    /// Nhanh customers: the pool indexes of their `mobile` numbers, and whether removed.
    nhanh: Vec<(Vec<usize>, bool)>,
    /// Shopify customers: pool indexes of `phone` and `address_phone`, and whether removed.
    shopify: Vec<(Option<usize>, Option<usize>, bool)>,
    /// Manual mappings `(nhanh index, shopify index)`.
    manual: Vec<(usize, usize)>,
    /// Key rows per batch.
    batch: u32,
}

const POOL: usize = 24;

fn number(i: usize) -> String {
    format!("09012345{i:02}")
}

fn catalog() -> impl Strategy<Value = Catalog> {
    let nhanh = prop::collection::vec((prop::collection::vec(0..POOL, 0..4), prop::bool::weighted(0.1)), 1..20);
    let shopify = prop::collection::vec(
        (prop::option::of(0..POOL), prop::option::weighted(0.3, 0..POOL), prop::bool::weighted(0.1)),
        1..20,
    );
    (nhanh, shopify, prop::collection::vec((0..20usize, 0..20usize), 0..4), 1..6u32).prop_map(
        |(nhanh, shopify, manual, batch)| {
            let manual = manual.into_iter().filter(|&(n, s)| n < nhanh.len() && s < shopify.len()).collect();
            Catalog { nhanh, shopify, manual, batch }
        },
    )
}

fn sid(i: usize) -> String {
    format!("gid://shopify/Customer/{}", 500 + i)
}

async fn fill(h: &Harness, c: &Catalog) -> (Vec<(i64, Vec<String>)>, Vec<(String, Vec<String>)>) {
    let full = dongbo_engine::JobId::new();
    let nhanh_rows: Vec<NhanhCustomerRow> = c
        .nhanh
        .iter()
        .enumerate()
        .map(|(i, (nums, _))| NhanhCustomerRow {
            id: 100 + i as u64,
            name: Some(format!("n{i}")),
            mobile: Some(nums.iter().map(|&n| number(n)).collect::<Vec<_>>().join(", ")),
            total_amount: Some(1000),
            updated_at: Some(1),
        })
        .collect();
    let shop_rows: Vec<ShopifyCustomerRow> = c
        .shopify
        .iter()
        .enumerate()
        .map(|(i, (phone, address, _))| ShopifyCustomerRow {
            id: sid(i),
            display_name: None,
            email: None,
            phone: phone.map(|p| format!("+84{}", &number(p)[1..])),
            address_phone: address.map(number),
            amount_spent: None,
            total_spent: None,
            updated_at: None,
        })
        .collect();
    let (alive_n, gone_n): (Vec<_>, Vec<_>) =
        nhanh_rows.iter().cloned().zip(&c.nhanh).partition(|(_, (_, removed))| !removed);
    let (alive_s, gone_s): (Vec<_>, Vec<_>) =
        shop_rows.iter().cloned().zip(&c.shopify).partition(|(_, (_, _, removed))| !removed);
    let job = dongbo_engine::JobId::new();
    h.apply(UpsertNhanhCustomers { job, rows: gone_n.into_iter().map(|r| r.0).collect(), seen_by_full_pull: None })
        .await;
    h.apply(UpsertNhanhCustomers {
        job,
        rows: alive_n.into_iter().map(|r| r.0).collect(),
        seen_by_full_pull: Some(full),
    })
    .await;
    h.apply(UpsertShopifyCustomers { job, rows: gone_s.into_iter().map(|r| r.0).collect(), seen_by_full_pull: None })
        .await;
    h.apply(UpsertShopifyCustomers {
        job,
        rows: alive_s.into_iter().map(|r| r.0).collect(),
        seen_by_full_pull: Some(full),
    })
    .await;
    h.apply(MarkRemoved { source: PullSource::NhanhCustomers, job: full, at_ms: 5 }).await;
    h.apply(MarkRemoved { source: PullSource::ShopifyCustomers, job: full, at_ms: 5 }).await;
    let mut manual_n = BTreeSet::new();
    let mut manual_s = BTreeSet::new();
    for &(n, s) in &c.manual {
        if manual_n.insert(n) {
            set_manual_customer_mapping(&h.db(), 100 + n as i64, &sid(s), 1).await.unwrap();
            manual_s.insert(s);
        }
    }
    // Eligible records with their keys, for the reference.
    let nhanh = nhanh_rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !c.nhanh[*i].1 && !manual_n.contains(i))
        .map(|(_, r)| (r.id as i64, nhanh_customer_keys(r.mobile.as_deref())))
        .collect();
    let shopify = shop_rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !c.shopify[*i].2 && !manual_s.contains(i))
        .map(|(_, r)| (r.id.clone(), shopify_customer_keys(r.phone.as_deref(), r.address_phone.as_deref())))
        .collect();
    (nhanh, shopify)
}

async fn strategies_agree(backend: Backend, c: Catalog) -> Result<(), TestCaseError> {
    let Some(h) = Harness::new(backend).await else { return Ok(()) };
    let (nhanh, shopify) = fill(&h, &c).await;
    let (want_mappings, want_conflicts) = reference(&nhanh, &shopify);
    let want: BTreeSet<(i64, String, String, String)> =
        want_mappings.into_iter().map(|(n, s, k)| (n, s, "phone".to_string(), k)).collect();
    for strategy in ["memory", "sql", "batch"] {
        let job = h.run(AUTO_MATCH_CUSTOMERS, json!({ "strategy": strategy, "batchSize": c.batch })).await;
        prop_assert_eq!(job.status, JobStatus::Completed, "{} failed: {:?}", strategy, job.error);
        prop_assert_eq!(job.total, Some(nhanh.iter().filter(|n| !n.1.is_empty()).count() as i64), "{} total", strategy);
        prop_assert_eq!(job.processed, job.total.unwrap_or(0), "{} processed", strategy);
        prop_assert_eq!(&h.mappings(MatchKind::Customers).await, &want, "{} mappings", strategy);
        prop_assert_eq!(&h.conflicts(MatchKind::Customers).await, &want_conflicts, "{} conflicts", strategy);
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_three_strategies_give_the_rules_mappings_and_conflicts_on_sqlite(c in catalog()) {
        runtime().block_on(strategies_agree(Backend::Sqlite, c))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_three_strategies_give_the_rules_mappings_and_conflicts_on_postgres(c in catalog()) {
        runtime().block_on(strategies_agree(Backend::Postgres, c))?;
    }
}
