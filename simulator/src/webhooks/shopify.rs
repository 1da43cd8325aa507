//! Shopify's webhook headers, signature and payloads.
//!
//! Headers as shopify.dev/docs/apps/build/webhooks lists them (example kept as
//! `sim_shopify_headers.json`): `X-Shopify-Topic` (`orders/create`), `X-Shopify-Hmac-Sha256`,
//! `X-Shopify-Shop-Domain`, `X-Shopify-API-Version`, `X-Shopify-Webhook-Id` (a UUID),
//! `X-Shopify-Triggered-At` (`2023-03-29T18:00:27.877041743Z`) and `X-Shopify-Event-Id` (a
//! UUID). Payloads are the topic's REST resource (shopify.dev/docs/api/webhooks):
//! `inventory_levels/update` is `{inventory_item_id, location_id, available, updated_at,
//! admin_graphql_api_id}`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Stock changed at a location (by hand in the admin, or by any app).
pub const INVENTORY_LEVELS_UPDATE: &str = "INVENTORY_LEVELS_UPDATE";

/// The header form of a GraphQL topic: `INVENTORY_LEVELS_UPDATE` → `inventory_levels/update`,
/// `APP_UNINSTALLED` → `app/uninstalled` (the last word is the action).
pub fn header_topic(topic: &str) -> String {
    let lower = topic.to_ascii_lowercase();
    match lower.rsplit_once('_') {
        Some((resource, action)) => format!("{resource}/{action}"),
        None => lower,
    }
}

/// `X-Shopify-Hmac-Sha256`: base64 of HMAC-SHA256 over the raw body, keyed with the client
/// secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The headers of one delivery, in the order the page lists them.
pub struct Headers<'a> {
    /// GraphQL topic (`INVENTORY_LEVELS_UPDATE`).
    pub topic: &'a str,
    /// Client secret.
    pub secret: &'a str,
    /// `{shop}.myshopify.com`.
    pub shop_domain: &'a str,
    /// `2026-10`.
    pub api_version: &'a str,
    /// Per delivery (per subscription), kept across retries.
    pub webhook_id: &'a str,
    /// When the event happened: `2023-03-29T18:00:27.877041743Z`.
    pub triggered_at: &'a str,
    /// Per event, the same on every duplicate.
    pub event_id: &'a str,
}

impl Headers<'_> {
    /// The header list for `body`.
    pub fn for_body(&self, body: &[u8]) -> Vec<(String, String)> {
        [
            ("Content-Type", "application/json".to_string()),
            ("X-Shopify-Topic", header_topic(self.topic)),
            ("X-Shopify-Hmac-Sha256", sign(self.secret, body)),
            ("X-Shopify-Shop-Domain", self.shop_domain.to_string()),
            ("X-Shopify-API-Version", self.api_version.to_string()),
            ("X-Shopify-Webhook-Id", self.webhook_id.to_string()),
            ("X-Shopify-Triggered-At", self.triggered_at.to_string()),
            ("X-Shopify-Event-Id", self.event_id.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// `inventory_levels/update`: the level of an inventory item at a location, numeric ids as in
/// REST.
pub fn inventory_level(inventory_item_id: u64, location_id: u64, available: i64, updated_at: &str) -> Value {
    json!({
        "inventory_item_id": inventory_item_id,
        "location_id": location_id,
        "available": available,
        "updated_at": updated_at,
        "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{location_id}?inventory_item_id={inventory_item_id}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(topic: &str, expect: &str) {
        assert_eq!(header_topic(topic), expect);
    }

    #[test]
    fn topics_read_as_resource_and_action() {
        check("INVENTORY_LEVELS_UPDATE", "inventory_levels/update");
        check("APP_UNINSTALLED", "app/uninstalled");
        check("CUSTOMERS_CREATE", "customers/create");
        check("ORDERS_PAID", "orders/paid");
    }

    #[test]
    fn the_signature_is_base64_hmac_sha256_of_the_raw_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(sign("Jefe", b"what do ya want for nothing?"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }
}
