//! The vendors' documented webhook payloads (`fixtures/{nhanh,shopify}/webhooks`, each naming its
//! page) read into the touches dongbo acts on.

use dongbo_workflows::webhooks::{nhanh, shopify, Touch};

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn nhanh_touches(path: &str) -> (Vec<Touch>, Option<String>) {
    let body = nhanh::parse_body(&fixture(path)).expect("a documented body parses");
    let read = nhanh::read(&body.value).expect("a documented body is read");
    (read.touches.into_iter().map(|t| t.touch).collect(), read.ignored)
}

#[test]
fn nhanh_documented_bodies_become_touches() {
    let (t, _) = nhanh_touches("nhanh/webhooks/inventoryChange.json");
    assert_eq!(t, vec![Touch::NhanhStock { product_id: 5001 }, Touch::NhanhStock { product_id: 5002 }]);
    let body = nhanh::parse_body(&fixture("nhanh/webhooks/inventoryChange.json")).unwrap();
    assert_eq!(body.body_token.as_deref(), Some("the-verify-token-typed-in-the-app"));
    assert!(!body.stored.contains("the-verify-token"), "the token is not stored");
    let (t, _) = nhanh_touches("nhanh/webhooks/productUpdate.json");
    assert_eq!(t, vec![Touch::NhanhProduct { product_id: 5001, new: false }]);
    let (t, _) = nhanh_touches("nhanh/webhooks/productDelete.json");
    assert_eq!(
        t,
        vec![Touch::NhanhProductDeleted { product_id: 5003 }, Touch::NhanhProductDeleted { product_id: 5004 }]
    );
    let (t, _) = nhanh_touches("nhanh/webhooks/orderAdd.json");
    assert_eq!(t, vec![Touch::NhanhCustomerTotal { customer_id: 3001 }]);
    let (t, ignored) = nhanh_touches("nhanh/webhooks/orderDelete.json");
    assert!(t.is_empty() && ignored.is_some(), "a deleted order names no customer");
}

#[test]
fn shopify_documented_payloads_become_touches() {
    let read = |topic, path| shopify::read(topic, &fixture(path), None).expect("a documented payload is read");
    let r = read("inventory_levels/update", "shopify/webhooks/inventory_levels_update.json");
    assert_eq!(
        r.touches[0].touch,
        Touch::ShopifyStock { inventory_item_id: 271878346596884015, location_id: 24826418, available: Some(6) }
    );
    assert_eq!(r.touches[0].at, shopify::parse_time("2021-12-31T19:00:00-05:00"));
    let r = read("customers/update", "shopify/webhooks/customers_update.json");
    assert_eq!(r.touches[0].touch, Touch::ShopifyCustomer { id: 706405506930370084, new: false });
    let r = read("PRODUCTS_DELETE", "shopify/webhooks/products_delete.json");
    assert_eq!(r.touches[0].touch, Touch::ShopifyDeleted { what: "product".into(), id: 788032119674292922 });
    let r = read("app/uninstalled", "shopify/webhooks/app_uninstalled.json");
    assert_eq!(r.touches[0].touch, Touch::AppUninstalled);
}
