//! The pulls' catalog writes on both stores: upserts keyed by upstream id with their match keys,
//! key replacement, the full-pull sweep, watermarks and the location mapping.

use dongbo_engine::{Db, JobId};
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::pulls::*;

async fn db(backend: Backend) -> Option<(dongbo_tests::TestDb, Db)> {
    let t = dongbo_tests::fresh_db(backend).await?;
    let store = dongbo_workflows::open(&t.url).await.expect("open store");
    let db = store.db();
    Some((t, db))
}

fn customer(id: u64, mobile: &str, amount: i64) -> NhanhCustomerRow {
    NhanhCustomerRow {
        id,
        name: Some(format!("Khách {id}")),
        mobile: Some(mobile.into()),
        total_amount: Some(amount),
        updated_at: Some(1_700_000_000 + id as i64),
    }
}

async fn upserts_write_rows_and_replace_their_keys(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    let job = JobId::new();
    let rows =
        vec![customer(1, "0912 345 678 / 0987654321", 10), customer(2, "01689123456", 20), customer(3, "n/a", 0)];
    apply_outside_step(&db, &UpsertNhanhCustomers { job, rows: rows.clone(), seen_by_full_pull: Some(job) })
        .await
        .unwrap();
    assert_eq!(list_nhanh_customers(&db).await.unwrap(), rows);
    let keys = list_nhanh_customer_keys(&db).await.unwrap();
    let expect = [(1, "+84912345678"), (1, "+84987654321"), (2, "+84389123456")];
    assert_eq!(keys, expect.iter().map(|(i, k)| (*i as u64, k.to_string())).collect::<Vec<_>>());

    // A second upsert of customer 1 with one number replaces both keys; a repeated id in one
    // batch writes its last row.
    let again = vec![customer(1, "0911111111", 11), customer(1, "0922222222", 12)];
    apply_outside_step(&db, &UpsertNhanhCustomers { job, rows: again, seen_by_full_pull: None }).await.unwrap();
    let keys = list_nhanh_customer_keys(&db).await.unwrap();
    assert_eq!(keys[0], (1, "+84922222222".to_string()));
    assert_eq!(keys.len(), 2);
    assert_eq!(list_nhanh_customers(&db).await.unwrap()[0].total_amount, Some(12));

    let sc = ShopifyCustomerRow {
        id: "gid://shopify/Customer/1".into(),
        display_name: Some("An".into()),
        email: None,
        phone: Some("+84912345678".into()),
        address_phone: Some("0987 654 321".into()),
        amount_spent: Some("10.0".into()),
        total_spent: None,
        updated_at: Some("2025-01-01T00:00:00Z".into()),
    };
    apply_outside_step(&db, &UpsertShopifyCustomers { job, rows: vec![sc.clone()], seen_by_full_pull: None })
        .await
        .unwrap();
    assert_eq!(list_shopify_customers(&db).await.unwrap(), vec![sc.clone()]);
    let keys: Vec<String> = list_shopify_customer_keys(&db).await.unwrap().into_iter().map(|(_, k)| k).collect();
    assert_eq!(keys, vec!["+84912345678", "+84987654321"]);

    let product = NhanhProductRow {
        id: 7,
        parent_id: None,
        code: Some(" AO 01".into()),
        barcode: Some("893".into()),
        name: "Áo".into(),
        status: Some(2),
        price_retail: Some(199_000),
        available: Some(5),
        updated_at: Some(1_700_000_000),
        depots: vec![(100, Some(2)), (101, Some(3))],
    };
    apply_outside_step(&db, &UpsertNhanhProducts { job, rows: vec![product.clone()], seen_by_full_pull: None })
        .await
        .unwrap();
    assert_eq!(list_nhanh_products(&db).await.unwrap(), vec![product.clone()]);
    assert_eq!(
        list_nhanh_product_keys(&db).await.unwrap(),
        vec![(7, "barcode:893".to_string()), (7, "sku:ao01".to_string())],
        "both the SKU and the barcode are keys"
    );
    assert_eq!(list_depots(&db).await.unwrap().len(), 2);
    // A depot listed without a value, and no total: both stay unread (NULL), never 0.
    let fewer = NhanhProductRow { depots: vec![(101, None)], available: None, code: None, ..product };
    apply_outside_step(&db, &UpsertNhanhProducts { job, rows: vec![fewer.clone()], seen_by_full_pull: None })
        .await
        .unwrap();
    assert_eq!(list_nhanh_products(&db).await.unwrap(), vec![fewer]);
    assert_eq!(list_nhanh_product_keys(&db).await.unwrap(), vec![(7, "barcode:893".to_string())]);

    let sp = ShopifyProductRow { id: "gid://shopify/Product/1".into(), title: "Áo".into(), updated_at: None };
    let sv = ShopifyVariantRow {
        id: "gid://shopify/ProductVariant/11".into(),
        product_id: sp.id.clone(),
        sku: Some("ao-01".into()),
        barcode: None,
        price: Some("199000.00".into()),
        inventory_quantity: Some(5),
        inventory_item_id: Some("gid://shopify/InventoryItem/111".into()),
    };
    let effects = EffectsList::default()
        .push(UpsertShopifyProducts {
            job,
            products: vec![sp.clone()],
            variants: vec![sv.clone()],
            seen_by_full_pull: None,
        })
        .push(UpsertLocations {
            rows: vec![LocationRow { id: "gid://shopify/Location/1".into(), name: "Kho".into() }],
        });
    apply_outside_step(&db, &effects).await.unwrap();
    assert_eq!(list_shopify_products(&db).await.unwrap(), vec![sp]);
    assert_eq!(list_shopify_variants(&db).await.unwrap(), vec![sv]);
    assert_eq!(list_shopify_variant_keys(&db).await.unwrap()[0].1, "sku:ao-01");
    assert_eq!(list_locations(&db).await.unwrap().len(), 1);

    set_location_mapping(&db, 100, "gid://shopify/Location/1").await.unwrap();
    set_location_mapping(&db, 100, "gid://shopify/Location/2").await.unwrap();
    assert_eq!(location_mappings(&db).await.unwrap(), vec![(100, "gid://shopify/Location/2".to_string())]);
    assert!(set_location_mapping(&db, 1, "Location 2").await.is_err());
}

async fn a_full_pull_marks_what_it_did_not_see_and_a_later_sighting_revives_it(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    let first = JobId::new();
    let all = vec![customer(1, "0912345678", 1), customer(2, "0912345679", 2), customer(3, "0912345670", 3)];
    apply_outside_step(&db, &UpsertNhanhCustomers { job: first, rows: all, seen_by_full_pull: Some(first) })
        .await
        .unwrap();
    let second = JobId::new();
    let seen = vec![customer(1, "0912345678", 1), customer(3, "0912345670", 3)];
    apply_outside_step(&db, &UpsertNhanhCustomers { job: second, rows: seen, seen_by_full_pull: Some(second) })
        .await
        .unwrap();
    assert_eq!(count_unseen(&db, PullSource::NhanhCustomers, second).await.unwrap(), 1);
    let end = EffectsList::default()
        .push(MarkRemoved { source: PullSource::NhanhCustomers, job: second, at_ms: 1 })
        .push(SetWatermark { source: PullSource::NhanhCustomers, watermark: 1234, job: second });
    apply_outside_step(&db, &end).await.unwrap();
    let ids: Vec<u64> = list_nhanh_customers(&db).await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![1, 3]);
    let keyed: Vec<u64> = list_nhanh_customer_keys(&db).await.unwrap().iter().map(|k| k.0).collect();
    assert_eq!(keyed, vec![1, 3], "a removed record keeps no match keys");
    let counts = catalog_counts(&db).await.unwrap();
    assert_eq!((counts.nhanh_customers, counts.nhanh_customers_removed), (2, 1));
    assert_eq!(watermark(&db, PullSource::NhanhCustomers).await.unwrap(), Some(1234));
    assert_eq!(watermark(&db, PullSource::ShopifyCustomers).await.unwrap(), None);

    // An incremental pull that sees customer 2 again brings it and its key back.
    let third = JobId::new();
    apply_outside_step(
        &db,
        &UpsertNhanhCustomers { job: third, rows: vec![customer(2, "0912345679", 5)], seen_by_full_pull: None },
    )
    .await
    .unwrap();
    assert_eq!(list_nhanh_customers(&db).await.unwrap().len(), 3);
    assert_eq!(list_nhanh_customer_keys(&db).await.unwrap().len(), 3);
}

dongbo_tests::on_both_stores!(
    upserts_write_rows_and_replace_their_keys,
    a_full_pull_marks_what_it_did_not_see_and_a_later_sighting_revives_it,
);
