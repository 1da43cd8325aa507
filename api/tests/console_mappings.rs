//! The operator's console through the router, on both stores: mapping by hand, unmapping,
//! deleting and resolving a conflict; every refusal a clear 4xx that writes nothing; hand-made
//! mappings surviving real AUTO_MATCH_PRODUCTS runs; the statistics; the record lists with
//! search and filters.

mod http_support;

use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use dongbo_api::http::{self, AppState};
use dongbo_engine::{Db, Engine, JobId, JobRequest, JobStatus, Registry, WorkerConfig, WorkerId};
use dongbo_tests::{fresh_db, Backend};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, NhanhCustomerRow, NhanhProductRow, ShopifyCustomerRow, ShopifyProductRow, ShopifyVariantRow,
    UpsertNhanhCustomers, UpsertNhanhProducts, UpsertShopifyCustomers, UpsertShopifyProducts,
};
use http_support::{call, Answer};
use serde_json::{json, Value};

fn variant(i: u64) -> String {
    format!("gid://shopify/ProductVariant/{i}")
}

fn nhanh_product(id: u64, sku: &str, name: &str) -> NhanhProductRow {
    NhanhProductRow {
        id,
        parent_id: None,
        code: Some(sku.into()),
        barcode: None,
        name: name.into(),
        status: Some(2),
        price_retail: Some(1000),
        available: Some(1),
        updated_at: Some(1),
        depots: Vec::new(),
    }
}

fn shopify_variant(i: u64, sku: &str) -> ShopifyVariantRow {
    ShopifyVariantRow {
        id: variant(i),
        product_id: format!("gid://shopify/Product/{i}"),
        sku: Some(sku.into()),
        barcode: None,
        price: Some("1.00".into()),
        inventory_quantity: Some(1),
        inventory_item_id: Some(format!("gid://shopify/InventoryItem/{i}")),
    }
}

/// Nhanh products 1–3 (SKU-1…3) and 4–5 (both DUP); Shopify variants 1–3 (sku-1…3), 4 (dup) and
/// 6 (no partner); a Nhanh and a Shopify customer with the same phone in two formats.
async fn seed(db: &Db) {
    let job = JobId::new();
    let names = ["Áo thun", "Quần jean", "Mũ lưỡi trai"];
    let mut rows: Vec<NhanhProductRow> =
        (1..=3).map(|i| nhanh_product(i, &format!("SKU-{i}"), names[i as usize - 1])).collect();
    rows.push(nhanh_product(4, "DUP", "Dup one"));
    rows.push(nhanh_product(5, "dup ", "Dup two"));
    apply_outside_step(db, &UpsertNhanhProducts { job, rows, seen_by_full_pull: None }).await.unwrap();
    let mut variants: Vec<ShopifyVariantRow> = (1..=3).map(|i| shopify_variant(i, &format!("sku-{i}"))).collect();
    variants.push(shopify_variant(4, "dup"));
    variants.push(shopify_variant(6, "lonely"));
    let products = variants
        .iter()
        .map(|v| ShopifyProductRow { id: v.product_id.clone(), title: format!("Title of {}", v.id), updated_at: None })
        .collect();
    apply_outside_step(db, &UpsertShopifyProducts { job, products, variants, seen_by_full_pull: None }).await.unwrap();
    let nhanh = NhanhCustomerRow {
        id: 10,
        name: Some("Nguyễn Văn An".into()),
        mobile: Some("0988992942".into()),
        total_amount: Some(5),
        updated_at: Some(1),
    };
    apply_outside_step(db, &UpsertNhanhCustomers { job, rows: vec![nhanh], seen_by_full_pull: None }).await.unwrap();
    let shopify = ShopifyCustomerRow {
        id: "gid://shopify/Customer/10".into(),
        display_name: Some("An Nguyen".into()),
        email: Some("an@example.com".into()),
        phone: Some("+84988992942".into()),
        address_phone: None,
        amount_spent: None,
        total_spent: None,
        updated_at: None,
    };
    apply_outside_step(db, &UpsertShopifyCustomers { job, rows: vec![shopify], seen_by_full_pull: None })
        .await
        .unwrap();
}

struct App {
    engine: Engine,
    router: Router,
    _db: dongbo_tests::TestDb,
}

async fn app(backend: Backend) -> Option<App> {
    let db = fresh_db(backend).await?;
    let store = dongbo_workflows::open(&db.url).await.expect("open the test database");
    seed(&store.db()).await;
    let mut registry = Registry::new();
    dongbo_workflows::matching::register(&mut registry);
    let engine = Engine::new(store, registry);
    let router = http::router(AppState::new(engine.clone(), None));
    Some(App { engine, router, _db: db })
}

impl App {
    /// Runs AUTO_MATCH_PRODUCTS to its end on an in-process worker.
    async fn match_products(&self) {
        let id = self.engine.request(JobRequest::new("AUTO_MATCH_PRODUCTS", json!({}))).await.unwrap().job.id;
        let mut config = WorkerConfig::new(WorkerId::new("console-test"));
        config.lease = Duration::from_secs(60);
        let worker = self.engine.worker(config);
        for _ in 0..1000 {
            let job = self.engine.store().job(id).await.unwrap().unwrap();
            if job.status.is_finished() {
                assert_eq!(job.status, JobStatus::Completed, "{job:?}");
                return;
            }
            worker.run_once().await.expect("run");
        }
        panic!("the match did not finish");
    }

    async fn get(&self, path: &str) -> Answer {
        call("GET", path).send(&self.router).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        call("POST", path).json(&body).send(&self.router).await
    }

    /// The product mappings by Nhanh id: `(nhanh id, shopify id, method)`.
    async fn product_mappings(&self) -> Vec<(i64, Option<String>, String)> {
        let page = self.get("/api/mappings?kind=product&limit=1000").await;
        page.data()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["nhanhId"].as_i64().unwrap(),
                    m["shopifyId"].as_str().map(str::to_owned),
                    m["method"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn mapping_of(&self, nhanh: i64) -> Value {
        let page = self.get("/api/mappings?kind=product&limit=1000").await;
        page.data()["items"].as_array().unwrap().iter().find(|m| m["nhanhId"] == nhanh).cloned().unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn hand_mappings_are_made_and_refused_cleanly_and_survive_every_rematch_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = app(backend).await else { continue };
        app.match_products().await;
        let matched = vec![
            (1, Some(variant(1)), "sku".to_owned()),
            (2, Some(variant(2)), "sku".to_owned()),
            (3, Some(variant(3)), "sku".to_owned()),
        ];
        assert_eq!(app.product_mappings().await, matched, "{backend:?}: the match");
        let first = app.mapping_of(1).await;
        assert!(first["id"].as_i64().is_some_and(|id| id > 0), "mappings carry their ids: {first}");
        assert_eq!(first["source"], "match");
        assert_eq!(first["createdBy"], Value::Null);

        // Refusals: each a 4xx with a reason, and nothing written.
        let refused = [
            (
                json!({"kind": "product", "nhanhId": 1, "shopifyId": variant(2)}),
                StatusCode::CONFLICT,
                "already mapped to Nhanh product 2",
            ),
            (
                json!({"kind": "product", "nhanhId": 999, "shopifyId": variant(6)}),
                StatusCode::NOT_FOUND,
                "no Nhanh product 999",
            ),
            (
                json!({"kind": "product", "nhanhId": 1, "shopifyId": variant(77)}),
                StatusCode::NOT_FOUND,
                "no Shopify product",
            ),
            (
                json!({"kind": "product", "nhanhId": 1, "shopifyId": "gid://shopify/Customer/10"}),
                StatusCode::BAD_REQUEST,
                "gid://shopify/ProductVariant/<number>",
            ),
            (
                json!({"kind": "order", "nhanhId": 1, "shopifyId": variant(6)}),
                StatusCode::BAD_REQUEST,
                "kind must be product or customer",
            ),
            (
                json!({"kind": "product", "nhanhId": "ckz1abc", "shopifyId": variant(6)}),
                StatusCode::BAD_REQUEST,
                "nhanhId must be a positive integer",
            ),
            (
                json!({"kind": "product", "nhanhId": -4, "shopifyId": variant(6)}),
                StatusCode::BAD_REQUEST,
                "nhanhId must be a positive integer",
            ),
            (json!({"kind": "product", "nhanhId": 1}), StatusCode::UNPROCESSABLE_ENTITY, "shopifyId"),
            (
                json!({"kind": "product", "nhanhId": 1, "shopifyId": variant(6), "extra": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "extra",
            ),
        ];
        for (body, status, reason) in refused {
            let answer = app.post("/api/mappings", body.clone()).await;
            let error = answer.error(status);
            assert!(error.contains(reason), "{backend:?} {body}: {error:?} does not say {reason:?}");
        }
        assert_eq!(app.product_mappings().await, matched, "{backend:?}: a refused write changed something");

        // Re-map 1 to variant 2, taking it from Nhanh product 2 (whose mapping goes).
        let answer = app
            .post(
                "/api/mappings",
                json!({"kind": "product", "nhanhId": "1", "shopifyId": variant(2), "replace": true, "by": "lan"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let m = answer.data();
        assert_eq!(
            (m["method"].as_str(), m["source"].as_str(), m["createdBy"].as_str()),
            (Some("manual"), Some("manual"), Some("lan"))
        );
        assert_eq!(m["state"], "PENDING");
        assert_eq!(m["id"], first["id"], "re-mapping keeps the mapping's id");
        // Unmap 3 by hand.
        let three = app.mapping_of(3).await["id"].as_i64().unwrap();
        let answer = app.post(&format!("/api/mappings/product/{three}/unmap"), json!({"by": "lan"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!((answer.data()["state"].as_str(), answer.data()["shopifyId"].as_str()), (Some("UNMAPPED"), None));

        let by_hand = vec![(1, Some(variant(2)), "manual".to_owned()), (3, None, "manual".to_owned())];
        assert_eq!(app.product_mappings().await, by_hand, "{backend:?}: by hand");
        // A re-match leaves both alone and does not pair Nhanh 2 with the hand-mapped variant 2.
        app.match_products().await;
        assert_eq!(app.product_mappings().await, by_hand, "{backend:?}: after a re-match");
        let stats = app.get("/api/mappings/stats").await;
        let p = &stats.data()["products"];
        assert_eq!(
            (p["mapped"].as_i64(), p["unmapped"].as_i64(), p["manual"].as_i64(), p["conflicting"].as_i64()),
            (Some(1), Some(4), Some(2), Some(1)),
            "{backend:?}: {p}"
        );
        assert_eq!((p["nhanhRecords"].as_i64(), p["shopifyRecords"].as_i64()), (Some(5), Some(5)));
        // By state, of the mappings with a Shopify partner: only 1's (the unmapping of 3 has none).
        assert_eq!(
            (p["pending"].as_i64(), p["failing"].as_i64(), p["synced"].as_i64()),
            (Some(1), Some(0), Some(0)),
            "{backend:?}: {p}"
        );

        // Deleting the hand unmapping gives Nhanh 3 back to matching.
        let answer = call("DELETE", &format!("/api/mappings/product/{three}")).send(&app.router).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        app.match_products().await;
        let back = app.mapping_of(3).await;
        assert_eq!((back["shopifyId"].as_str(), back["method"].as_str()), (Some(variant(3).as_str()), Some("sku")));

        for (method, path, status) in [
            ("GET", "/api/mappings/product/99999".to_owned(), StatusCode::NOT_FOUND),
            ("GET", "/api/mappings/product/abc".to_owned(), StatusCode::BAD_REQUEST),
            ("GET", "/api/mappings/order/1".to_owned(), StatusCode::BAD_REQUEST),
            ("DELETE", format!("/api/mappings/product/{three}"), StatusCode::NOT_FOUND),
            ("POST", "/api/mappings/customer/12345/unmap".to_owned(), StatusCode::NOT_FOUND),
        ] {
            let answer = call(method, &path).json(&json!({})).send(&app.router).await;
            assert_eq!(answer.status, status, "{backend:?} {method} {path}: {}", answer.text);
        }

        // The conflict on sku:dup (Nhanh 4 and 5, variant 4) is resolved by choosing its pair.
        let conflicts = app.get("/api/conflicts?kind=product").await;
        let key = conflicts.data()["items"][0]["key"].as_str().unwrap().to_owned();
        assert_eq!(key, "sku:dup");
        for (body, status) in [
            (
                json!({"kind": "product", "key": key, "nhanhId": 4, "shopifyId": variant(6)}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"kind": "product", "key": key, "nhanhId": 1, "shopifyId": variant(4)}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"kind": "product", "key": "sku:nope", "nhanhId": 4, "shopifyId": variant(4)}),
                StatusCode::NOT_FOUND,
            ),
        ] {
            let answer = app.post("/api/conflicts/resolve", body.clone()).await;
            assert_eq!(answer.status, status, "{backend:?} {body}: {}", answer.text);
        }
        assert_eq!(app.get("/api/conflicts?kind=product").await.data()["items"].as_array().unwrap().len(), 1);
        let answer = app
            .post(
                "/api/conflicts/resolve",
                json!({"kind": "product", "key": key, "nhanhId": 5, "shopifyId": variant(4)}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.data()["createdBy"], "api");
        assert!(app.get("/api/conflicts?kind=product").await.data()["items"].as_array().unwrap().is_empty());
        app.match_products().await;
        let five = app.mapping_of(5).await;
        assert_eq!((five["shopifyId"].as_str(), five["method"].as_str()), (Some(variant(4).as_str()), Some("manual")));
        assert_eq!(app.mapping_of(4).await, Value::Null, "the other Nhanh record stays unpaired");
    }
}

#[tokio::test]
async fn records_are_searched_and_filtered_on_both_sides_and_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = app(backend).await else { continue };
        app.match_products().await;
        let ids = |a: &Answer| -> Vec<String> {
            a.data()["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
        };
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("side=nhanh&kind=product", vec!["1", "2", "3", "4", "5"].into_iter().map(String::from).collect()),
            ("side=nhanh&kind=product&q=dup", vec!["4".into(), "5".into()]),
            ("side=nhanh&kind=product&q=%C3%81O%20THUN", vec!["1".into()]),
            ("side=nhanh&kind=product&q=sku-2", vec!["2".into()]),
            ("side=nhanh&kind=product&mapped=false", vec!["4".into(), "5".into()]),
            ("side=nhanh&kind=product&mapped=true&state=PENDING", vec!["1".into(), "2".into(), "3".into()]),
            ("side=nhanh&kind=product&state=SYNCED", vec![]),
            ("side=shopify&kind=product&mapped=false", vec![variant(4), variant(6)]),
            ("side=shopify&kind=product&q=lonely", vec![variant(6)]),
            ("side=nhanh&kind=customer&q=%2B84%20988%20992%20942", vec!["10".into()]),
            ("side=shopify&kind=customer&q=AN%40EXAMPLE", vec!["gid://shopify/Customer/10".into()]),
            ("side=nhanh&kind=product&q=100%25", vec![]),
        ];
        for (query, expect) in cases {
            let answer = app.get(&format!("/api/records?{query}")).await;
            assert_eq!(answer.status, StatusCode::OK, "{backend:?} {query}: {}", answer.text);
            assert_eq!(ids(&answer), expect, "{backend:?} {query}");
        }
        let one = app.get("/api/records?side=shopify&kind=product&q=sku-1").await;
        let row = &one.data()["items"][0];
        assert_eq!((row["mappedTo"].as_str(), row["state"].as_str()), (Some("1"), Some("PENDING")), "{row}");
        // Paged by the store: two at a time, every row once.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app
                .get(&format!("/api/records?side=shopify&kind=product&limit=2&cursor={}", cursor.replace(':', "%3A")))
                .await;
            seen.extend(ids(&page));
            match page.data()["nextCursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, [1, 2, 3, 4, 6].map(variant));
        for query in [
            "kind=product",
            "side=nhanh",
            "side=x&kind=product",
            "side=nhanh&kind=product&cursor=abc",
            "side=nhanh&kind=product&state=DONE",
            "side=nhanh&kind=product&limit=0",
        ] {
            let answer = app.get(&format!("/api/records?{query}")).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{backend:?} {query}: {}", answer.text);
        }
    }
}
