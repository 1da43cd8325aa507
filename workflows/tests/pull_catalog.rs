//! A full pull of 50,000 customers and 10,000 products, on SQLite and PostgreSQL, leaves the
//! catalog equal to the simulator's data: counts, ids and key fields of every record on both sides.

mod pull_support;

use std::collections::{HashMap, HashSet};

use dongbo_engine::JobStatus;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::*;
use dongbo_workflows::jobs::{
    PULL_NHANH_CUSTOMERS, PULL_NHANH_PRODUCTS, PULL_SHOPIFY_CUSTOMERS, PULL_SHOPIFY_PRODUCTS,
};
use dongbo_workflows::pull::PullSettings;
use pull_support::Rig;
use serde_json::json;

async fn a_full_pull_of_50000_customers_and_10000_products_leaves_the_catalog_equal_to_the_simulator(backend: Backend) {
    let sim = pull_support::simulator(50_000, 10_000).await;
    let Some(rig) = Rig::new(backend, &sim, PullSettings::default()).await else { return };
    let truth = sim.truth();
    let state = sim.state();

    // Nhanh's v3 pages document no total count, so a Nhanh pull's total stays unknown; Shopify's
    // counts give its pulls one.
    for (job_type, expect_total, total_known) in [
        (PULL_NHANH_CUSTOMERS, truth.nhanh_customers, false),
        (PULL_NHANH_PRODUCTS, truth.nhanh_products, false),
        (PULL_SHOPIFY_CUSTOMERS, truth.shopify_customers, true),
        (PULL_SHOPIFY_PRODUCTS, truth.shopify_products, true),
    ] {
        let job = rig.run(job_type, json!({})).await;
        assert_eq!(job.status, JobStatus::Completed, "{job_type}: {:?}", job.error);
        assert_eq!(job.total, total_known.then_some(expect_total as i64), "{job_type}");
        assert_eq!(job.processed, expect_total as i64, "{job_type}");
        let summary = rig.summary(job.id).await;
        eprintln!("{job_type}: {summary}");
    }

    // Nhanh customers: every id once, with its current total.
    let customers = list_nhanh_customers(&rig.db).await.unwrap();
    assert_eq!(customers.len(), state.nhanh_customer_count());
    assert_eq!(customers.iter().map(|c| c.id).collect::<HashSet<_>>().len(), customers.len());
    for c in &customers {
        assert_eq!(c.total_amount.map(|t| t as u64), state.nhanh_total_amount(c.id), "customer {}", c.id);
    }
    // Nhanh products: every id once, with the simulator's stock in every depot.
    let products = list_nhanh_products(&rig.db).await.unwrap();
    assert_eq!(products.len(), state.nhanh_product_count());
    for p in &products {
        for &(depot, available) in &p.depots {
            assert_eq!(available, state.nhanh_available(p.id, depot), "product {} depot {depot}", p.id);
        }
    }
    let depots: HashSet<u64> = list_depots(&rig.db).await.unwrap().into_iter().map(|d| d.id).collect();
    assert!(depots.iter().all(|d| truth.depots.iter().any(|t| t.id == *d)), "only real depots are recorded");
    // Shopify: customers with their phone, variants with SKU, barcode and inventory item.
    let shop_customers = list_shopify_customers(&rig.db).await.unwrap();
    assert_eq!(shop_customers.len(), state.shopify_customer_count());
    for c in &shop_customers {
        assert_eq!(c.phone, state.shopify_customer_phone(&c.id), "customer {}", c.id);
    }
    let variants = list_shopify_variants(&rig.db).await.unwrap();
    assert_eq!(variants.len(), state.shopify_variant_count());
    for v in &variants {
        let s = state.variant(&v.id).unwrap_or_else(|| panic!("variant {} unknown", v.id));
        assert_eq!((&v.sku, &v.barcode), (&s.sku, &s.barcode), "variant {}", v.id);
        assert_eq!(v.inventory_item_id.as_deref(), Some(s.inventory_item_id.as_str()));
    }
    assert_eq!(list_shopify_products(&rig.db).await.unwrap().len(), truth.shopify_products);
    assert_eq!(list_locations(&rig.db).await.unwrap().len(), truth.locations.len());

    // The location mapping is configuration: set from the truth, read back.
    for (depot, location) in &truth.depot_to_location {
        set_location_mapping(&rig.db, *depot, location).await.unwrap();
    }
    assert_eq!(location_mappings(&rig.db).await.unwrap().len(), truth.depot_to_location.len());

    // The match keys reach the truth's pairs: how many true pairs share a key (recall).
    let nhanh_keys = group(list_nhanh_customer_keys(&rig.db).await.unwrap());
    let shop_keys = group(list_shopify_customer_keys(&rig.db).await.unwrap());
    let reachable = truth
        .customer_pairs
        .iter()
        .filter(|(n, s)| match (nhanh_keys.get(n), shop_keys.get(s)) {
            (Some(a), Some(b)) => a.iter().any(|k| b.contains(k)),
            _ => false,
        })
        .count();
    eprintln!("customer pairs sharing a phone key: {reachable} of {}", truth.customer_pairs.len());
    assert!(reachable * 100 >= truth.customer_pairs.len() * 95, "{reachable} of {}", truth.customer_pairs.len());
    let pkeys = group(list_nhanh_product_keys(&rig.db).await.unwrap());
    let vkeys = group(list_shopify_variant_keys(&rig.db).await.unwrap());
    let product_reach = truth
        .product_pairs
        .iter()
        .filter(|(n, v)| matches!((pkeys.get(n), vkeys.get(v)), (Some(a), Some(b)) if a == b))
        .count();
    eprintln!("product pairs sharing their key: {product_reach} of {}", truth.product_pairs.len());
}

fn group<K: std::hash::Hash + Eq>(pairs: Vec<(K, String)>) -> HashMap<K, Vec<String>> {
    let mut out: HashMap<K, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        out.entry(k).or_default().push(v);
    }
    out
}

dongbo_tests::on_both_stores!(multi_thread: a_full_pull_of_50000_customers_and_10000_products_leaves_the_catalog_equal_to_the_simulator);
