//! The generated data: determinism, the promised mess, and a ground truth that holds together.

mod harness;

use std::collections::HashSet;

use dongbo_simulator::{Scope, SimConfig};
use harness::{small, start, Harness};
use serde_json::{json, Value};

async fn first_pages(h: &Harness) -> Value {
    h.sim.faults().set_throttle(Scope::Shopify, false);
    let customers = h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 100}})).await;
    let products = h.nhanh("/v3.0/product/list", json!({"paginator": {"size": 100}})).await;
    let shop = h
        .gql("{ customers(first: 100) { nodes { id displayName defaultPhoneNumber { phoneNumber } updatedAt } } products(first: 50) { nodes { id title variants(first: 5) { nodes { sku barcode price } } } } }", json!({}))
        .await;
    json!([customers, products, shop["data"]])
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data_and_another_seed_does_not() {
    let a = start(small()).await;
    let b = start(small()).await;
    let c = start(SimConfig { seed: 7, ..small() }).await;
    let (pa, pb, pc) = (first_pages(&a).await, first_pages(&b).await, first_pages(&c).await);
    assert_eq!(pa, pb);
    assert_eq!(*a.sim.truth(), *b.sim.truth());
    assert_ne!(pa, pc);
    assert_ne!(*a.sim.truth(), *c.sim.truth());
    for h in [a, b, c] {
        h.sim.shutdown().await;
    }
}

#[tokio::test]
async fn the_truth_never_pairs_an_ambiguous_key_and_counts_match_the_apis() {
    let h = start(small()).await;
    let t = h.sim.truth();
    assert!(t.customer_pairs.len() > t.nhanh_customers * 7 / 10, "{} pairs", t.customer_pairs.len());
    assert!(!t.ambiguous_customer_keys.is_empty() && !t.ambiguous_skus.is_empty());
    assert!(
        t.ambiguous_customer_keys.iter().all(|k| k.starts_with("+84") && k.len() == 12),
        "{:?}",
        t.ambiguous_customer_keys
    );
    let nhanh: HashSet<u64> = t.customer_pairs.iter().map(|p| p.0).collect();
    let shop: HashSet<&String> = t.customer_pairs.iter().map(|p| &p.1).collect();
    assert_eq!(nhanh.len(), t.customer_pairs.len());
    assert_eq!(shop.len(), t.customer_pairs.len());
    for (_, gid) in &t.customer_pairs {
        if let Some(phone) = h.sim.state().shopify_customer_phone(gid) {
            assert!(!t.ambiguous_customer_keys.contains(&phone), "{phone} is ambiguous but paired");
        }
    }
    for (_, gid) in &t.product_pairs {
        let sku = h.sim.state().variant(gid).unwrap().sku.unwrap_or_default();
        let normalised: String = sku.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
        assert!(!t.ambiguous_skus.contains(&normalised), "{sku} is ambiguous but paired");
    }
    let count = h.gql("{ customersCount { count } productsCount { count } }", json!({})).await;
    assert_eq!(count["data"]["customersCount"]["count"], json!(t.shopify_customers));
    assert_eq!(count["data"]["productsCount"]["count"], json!(t.shopify_products));
    assert!(t.depot_to_location.len() > t.locations.len(), "several depots feed one location");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn nhanh_mobiles_come_in_every_real_format() {
    let h = start(SimConfig { customers: 4_000, ..small() }).await;
    let mut mobiles: Vec<Value> = Vec::new();
    let mut next = Value::Null;
    loop {
        let mut paginator = json!({"size": 100});
        if !next.is_null() {
            paginator["next"] = next;
        }
        let page = h.nhanh("/v3.0/customer/list", json!({"paginator": paginator})).await;
        mobiles.extend(page["data"].as_array().unwrap().iter().map(|c| c["mobile"].clone()));
        next = page["paginator"]["next"].clone();
        if next.is_null() {
            break;
        }
    }
    let texts: Vec<&str> = mobiles.iter().filter_map(Value::as_str).collect();
    let has = |f: &dyn Fn(&str) -> bool| texts.iter().any(|t| f(t));
    assert!(has(&|t| t.len() == 10 && t.starts_with('0') && t.chars().all(|c| c.is_ascii_digit())), "national");
    assert!(has(&|t| t.starts_with("+84") && !t.contains(' ')), "+84");
    assert!(has(&|t| t.starts_with("84")), "84");
    assert!(has(&|t| t.starts_with("0084")), "0084");
    assert!(has(&|t| t.starts_with("(+84)")), "(+84)");
    assert!(has(&|t| t.starts_with("+84 (0)")), "+84 (0)");
    assert!(has(&|t| t.len() == 9 && t.chars().all(|c| c.is_ascii_digit())), "9 digits");
    assert!(has(&|t| t.contains('.')), "dots");
    assert!(has(&|t| t.contains(" / ")), "several numbers");
    assert!(has(&|t| t.starts_with("ĐT:")), "text around");
    assert!(has(&|t| t.len() == 11 && t.starts_with("01")), "old 11-digit");
    assert!(mobiles.iter().any(Value::is_null), "null");
    assert!(mobiles.iter().any(Value::is_number), "number");
    assert!(has(&|t| t.chars().any(|c| c.is_alphabetic()) && !t.starts_with("ĐT")), "garbage");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn names_carry_vietnamese_diacritics() {
    let h = start(small()).await;
    let page = h.nhanh("/v3.0/customer/list", json!({"paginator": {"size": 100}})).await;
    let names: Vec<&str> = page["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.chars().any(|c| "ễịồầứđĐ".contains(c))), "{names:?}");
    let products = h.nhanh("/v3.0/product/list", json!({"paginator": {"size": 100}})).await;
    assert!(products["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"].as_str().unwrap().contains("Áo") || p["name"].as_str().unwrap().contains("Quần")));
    h.sim.shutdown().await;
}
