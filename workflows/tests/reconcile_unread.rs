//! RECONCILE compares only numbers that were read: a feeding depot Nhanh listed without a value
//! is stored as NULL (not 0), and the product is left out of the stock comparison instead of
//! being reported as drift towards a made-up zero. Likewise a Shopify level the reconcile's
//! export carried without its `available`, or that an earlier reconcile read. Both stores.

use dongbo_engine::JobId;
use dongbo_tests::{fresh_db, Backend};
use dongbo_workflows::catalog::store::console::{map_by_hand, HandMapping};
use dongbo_workflows::catalog::store::matching::MatchKind;
use dongbo_workflows::catalog::store::pulls::*;
use dongbo_workflows::catalog::store::reconcile::{stock_drift, DriftSide, UpsertShopifyLevels};
use dongbo_workflows::connectors::shopify::bulk::ShopifyLevel;

fn product(id: u64, depots: Vec<(u64, Option<i64>)>) -> NhanhProductRow {
    NhanhProductRow {
        id,
        parent_id: None,
        code: Some(format!("SKU-{id}")),
        barcode: None,
        name: format!("Product {id}"),
        status: Some(2),
        price_retail: Some(1000),
        available: None,
        updated_at: Some(1_700_000_000),
        depots,
    }
}

fn variant(id: u64, quantity: i64) -> ShopifyVariantRow {
    ShopifyVariantRow {
        id: format!("gid://shopify/ProductVariant/{id}"),
        product_id: format!("gid://shopify/Product/{id}"),
        sku: Some(format!("SKU-{id}")),
        barcode: None,
        price: Some("1000.00".into()),
        inventory_quantity: Some(quantity),
        inventory_item_id: Some(format!("gid://shopify/InventoryItem/{id}")),
    }
}

async fn unread_depot_values_are_not_compared(backend: Backend) {
    let Some(t) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&t.url).await.expect("open store");
    let db = store.db();
    let job = JobId::new();
    // Product 1: both depots read (3 + 4 = 7), Shopify shows 5: drift.
    // Product 2: depot 101 listed without a value, Shopify shows 12 (depot 100's 9 and 101's
    // unknown share): not compared, where a missing value read as 0 would report a drift to 9.
    // Products 3 to 5: both depots read (2 + 2 = 4), Shopify's total 4 too; at the one location
    // this reconcile read 1 for product 3 (drift), no `available` for product 4, and an
    // earlier reconcile read 0 for product 5 (neither compared).
    let mut rows =
        vec![product(1, vec![(100, Some(3)), (101, Some(4))]), product(2, vec![(100, Some(9)), (101, None)])];
    rows.extend((3..=5).map(|id| product(id, vec![(100, Some(2)), (101, Some(2))])));
    apply_outside_step(&db, &UpsertNhanhProducts { job, rows, seen_by_full_pull: None }).await.unwrap();
    let shopify: Vec<ShopifyProductRow> = (1..=5)
        .map(|i| ShopifyProductRow {
            id: format!("gid://shopify/Product/{i}"),
            title: format!("P{i}"),
            updated_at: None,
        })
        .collect();
    let upsert = UpsertShopifyProducts {
        job,
        products: shopify,
        variants: vec![variant(1, 5), variant(2, 12), variant(3, 4), variant(4, 4), variant(5, 4)],
        seen_by_full_pull: None,
    };
    apply_outside_step(&db, &upsert).await.unwrap();
    for id in 1..=5 {
        let m = HandMapping {
            kind: MatchKind::Products,
            nhanh_id: id,
            shopify_id: format!("gid://shopify/ProductVariant/{id}"),
            by: "test".into(),
            replace: false,
            now_ms: 1,
        };
        map_by_hand(&db, &m).await.unwrap();
    }
    let location =
        UpsertLocations { rows: vec![LocationRow { id: "gid://shopify/Location/1".into(), name: "Kho".into() }] };
    apply_outside_step(&db, &location).await.unwrap();
    set_location_mapping(&db, 100, "gid://shopify/Location/1").await.unwrap();
    set_location_mapping(&db, 101, "gid://shopify/Location/1").await.unwrap();

    let depots = list_nhanh_product_depots(&db).await.unwrap();
    assert!(depots.contains(&(2, 101, None)), "the unread value is kept as unread: {depots:?}");
    let level = |id: u64, available: Option<i64>| ShopifyLevel {
        inventory_item_id: format!("gid://shopify/InventoryItem/{id}"),
        location_id: "gid://shopify/Location/1".into(),
        available,
    };
    let earlier = UpsertShopifyLevels { job: JobId::new(), rows: vec![level(5, Some(0))] };
    apply_outside_step(&db, &earlier).await.unwrap();
    let reconcile = JobId::new();
    let read = UpsertShopifyLevels { job: reconcile, rows: vec![level(3, Some(1)), level(4, None)] };
    apply_outside_step(&db, &read).await.unwrap();

    let drift = stock_drift(&db, reconcile).await.unwrap();
    let drifted: Vec<(i64, DriftSide, i64, Option<i64>)> =
        drift.iter().map(|d| (d.nhanh_product_id, d.side.clone(), d.nhanh, d.shopify)).collect();
    let at = DriftSide::Level("gid://shopify/Location/1".into());
    assert_eq!(
        drifted,
        vec![(1, DriftSide::Total, 7, Some(5)), (3, at, 4, Some(1))],
        "product 2 has a depot whose value was not read, product 4 a level without its value, and \
         product 5 a level this reconcile did not read"
    );
}

#[tokio::test]
async fn unread_depot_values_are_not_compared_sqlite() {
    unread_depot_values_are_not_compared(Backend::Sqlite).await;
}

#[tokio::test]
async fn unread_depot_values_are_not_compared_postgres() {
    unread_depot_values_are_not_compared(Backend::Postgres).await;
}
