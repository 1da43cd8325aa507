//! Verifying and reading a Shopify webhook delivery (shopify.dev/docs/apps/build/webhooks).
//!
//! `X-Shopify-Hmac-SHA256` is the base64 HMAC-SHA256 of the raw body keyed with the app's client
//! secret; it is checked (in constant time) before the body is parsed. `X-Shopify-Event-Id` is
//! the same on every copy of one event (the deduplication key); `X-Shopify-Triggered-At` is when
//! the event happened, and a retry carries the original payload, so it dates the delivery when
//! the payload has no `updated_at`. The topic comes as `X-Shopify-Topic` (`customers/update`);
//! the GraphQL enum form (`CUSTOMERS_UPDATE`) is read too.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{id_of, ReadDelivery, Touch, Touched, Unreadable};

/// The topics dongbo subscribes to, in GraphQL's enum form (`webhookSubscriptionCreate`).
pub const TOPICS: [&str; 8] = [
    "CUSTOMERS_CREATE",
    "CUSTOMERS_UPDATE",
    "CUSTOMERS_DELETE",
    "PRODUCTS_CREATE",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "INVENTORY_LEVELS_UPDATE",
    "APP_UNINSTALLED",
];

/// Whether `signature` (the header's base64) is the HMAC-SHA256 of `body` under `secret`.
/// Compared in constant time; a header that is not base64 is simply wrong.
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The base64 HMAC-SHA256 of `body` under `secret`: what Shopify sends (for tests and the
/// simulator's counterpart).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `customers/update` for both `customers/update` and `CUSTOMERS_UPDATE`.
pub fn normalise_topic(topic: &str) -> String {
    let t = topic.trim().to_ascii_lowercase();
    if t.contains('/') {
        return t;
    }
    match t.rfind('_') {
        Some(i) => format!("{}/{}", &t[..i], &t[i + 1..]),
        None => t,
    }
}

/// An RFC 3339 time as unix ms.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.timestamp_millis())
}

/// What a (verified) delivery of `topic` is about; `triggered_at` dates it when the payload does not.
pub fn read(topic: &str, body: &[u8], triggered_at: Option<i64>) -> Result<ReadDelivery, Unreadable> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Unreadable(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Unreadable("the body is not a JSON object".into()));
    }
    let topic = normalise_topic(topic);
    let at = value.get("updated_at").and_then(Value::as_str).and_then(parse_time).or(triggered_at);
    let id = |field: &str| {
        value
            .get(field)
            .and_then(id_of)
            .ok_or_else(|| Unreadable(format!("{topic}: `{field}` is missing or not an id")))
    };
    let touch = match topic.as_str() {
        "customers/create" | "customers/update" => {
            Some(Touch::ShopifyCustomer { id: id("id")?, new: topic.ends_with("create") })
        }
        "products/create" | "products/update" => {
            Some(Touch::ShopifyProduct { id: id("id")?, new: topic.ends_with("create") })
        }
        "customers/delete" => Some(Touch::ShopifyDeleted { what: "customer".into(), id: id("id")? }),
        "products/delete" => Some(Touch::ShopifyDeleted { what: "product".into(), id: id("id")? }),
        "inventory_levels/update" => Some(Touch::ShopifyStock {
            inventory_item_id: id("inventory_item_id")?,
            location_id: id("location_id")?,
            available: value.get("available").and_then(Value::as_i64),
        }),
        "app/uninstalled" => Some(Touch::AppUninstalled),
        _ => None,
    };
    let ignored = touch.is_none().then(|| format!("dongbo does not act on `{topic}`"));
    Ok(ReadDelivery { topic, touches: touch.map(|touch| Touched { touch, at }).into_iter().collect(), ignored })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_checked_over_the_raw_body() {
        let body = br#"{"id": 1}"#;
        let sig = sign("shh", body);
        assert!(verify("shh", body, &sig));
        assert!(!verify("shh", br#"{"id":1}"#, &sig), "re-serialised bodies do not verify");
        assert!(!verify("other", body, &sig));
        assert!(!verify("shh", body, "not base64!"));
        assert!(!verify("shh", body, ""));
    }

    #[test]
    fn topics_are_read_in_both_forms() {
        assert_eq!(normalise_topic("INVENTORY_LEVELS_UPDATE"), "inventory_levels/update");
        assert_eq!(normalise_topic("APP_UNINSTALLED"), "app/uninstalled");
        assert_eq!(normalise_topic("customers/update"), "customers/update");
    }

    #[test]
    fn payloads_become_touches_dated_by_updated_at_or_the_trigger() {
        let d = read(
            "customers/update",
            br#"{"id": 706405506930370084, "updated_at": "2021-12-31T19:00:00-05:00"}"#,
            Some(5),
        )
        .unwrap();
        assert_eq!(d.touches[0].touch, Touch::ShopifyCustomer { id: 706405506930370084, new: false });
        assert_eq!(d.touches[0].at, Some(1_640_995_200_000));
        let d = read("products/delete", br#"{"id": 788032119674292922}"#, Some(5)).unwrap();
        assert_eq!(d.touches[0].at, Some(5));
        assert!(read("orders/paid", b"{}", None).unwrap().ignored.is_some());
        assert!(read("customers/update", b"{}", None).is_err());
        assert!(read("customers/update", b"nope", None).is_err());
    }
}
