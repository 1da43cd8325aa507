//! Webhooks from Nhanh and Shopify: reading and verifying a delivery, and turning recorded
//! deliveries into small targeted jobs.
//!
//! A delivery is verified (Nhanh's verify token, Shopify's HMAC), read into [`Touch`]es — what
//! it is about, by item — and recorded in the store (`catalog::store::webhooks`) before it is
//! answered; nothing else happens inside the request. The [`dispatch`]er, which runs in every
//! `serve` and `worker` process, claims recorded deliveries with a fenced update, coalesces what
//! arrived within a short window and requests targeted jobs for them:
//!
//! | Delivery | First | Then |
//! |---|---|---|
//! | Nhanh `inventoryChange` | `PRODUCT_SYNC` of the products' mappings | — |
//! | Nhanh `productAdd` / `productUpdate` | incremental `PULL_NHANH_PRODUCTS` | `AUTO_MATCH_PRODUCTS` |
//! | Nhanh `productDelete` | full `PULL_NHANH_PRODUCTS` (marks removals) | — |
//! | Nhanh `orderAdd` / `orderUpdate` (a customer named) | incremental `PULL_NHANH_CUSTOMERS` | `CUSTOMER_SYNC` of the customers' mappings |
//! | Shopify `customers/create`, `products/create` | pull of those ids | `AUTO_MATCH_*` |
//! | Shopify `customers/update`, `products/update` | pull of those ids | — |
//! | Shopify `customers/delete`, `products/delete` | full pull of that side (marks removals) | — |
//! | Shopify `inventory_levels/update` | `PRODUCT_SYNC` of the item's mapping (Nhanh's number re-asserted), unless it echoes dongbo's own push | — |
//! | Shopify `app/uninstalled` | pushes stop (a flag in the store, a notice) until cleared | — |
//!
//! A push never carries a delivery's number: `PRODUCT_SYNC` reads Nhanh's stock fresh and
//! `CUSTOMER_SYNC` reads the pulled mirror, so a late delivery cannot put an old value back.
//! On top of that, per item the dispatcher keeps the newest source time it acted on
//! (`webhook_item_versions`) and drops a delivery that is older ([`plan`]).
//!
//! # Layout
//!
//! - [`nhanh`], [`shopify`]: reading (and for Shopify, verifying) one delivery.
//! - [`recorder`]: the process's one writer of arriving deliveries, many per transaction.
//! - [`plan`]: the pure core — which job each claimed delivery needs, stale ones dropped.
//! - [`dispatch`]: the loop that claims deliveries and requests the jobs.

pub mod dispatch;
pub mod nhanh;
pub mod plan;
pub mod recorder;
pub mod shopify;

use chrono::{DateTime, Utc};
use dongbo_engine::Db;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::catalog::store::webhooks as store;
use crate::notices::{NoticeKey, NoticeLevel, Notices};

/// The notice raised while the Shopify app is uninstalled.
pub const APP_UNINSTALLED_NOTICE: NoticeKey = NoticeKey::new("shopify_app_uninstalled");

/// The store flag that stops pushes after `app/uninstalled`.
pub const APP_UNINSTALLED_FLAG: &str = "shopify_app_uninstalled";

/// Where a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Nhanh.vn.
    Nhanh,
    /// Shopify.
    Shopify,
}

impl Source {
    /// `nhanh` or `shopify`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Nhanh => "nhanh",
            Source::Shopify => "shopify",
        }
    }
}

/// What one delivery is about, item by item (the stored form: a delivery's `touches`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Touch {
    /// Nhanh's stock of a product moved.
    NhanhStock {
        /// The Nhanh product id.
        product_id: i64,
    },
    /// A Nhanh product was added or changed.
    NhanhProduct {
        /// The Nhanh product id.
        product_id: i64,
        /// Added (not only changed).
        new: bool,
    },
    /// A Nhanh product was deleted.
    NhanhProductDeleted {
        /// The Nhanh product id.
        product_id: i64,
    },
    /// A Nhanh order of this customer was added or changed: their total spent may have moved.
    NhanhCustomerTotal {
        /// The Nhanh customer id.
        customer_id: i64,
    },
    /// A Shopify customer was created or updated.
    ShopifyCustomer {
        /// Shopify's numeric id.
        id: i64,
        /// Created (not only updated).
        new: bool,
    },
    /// A Shopify product was created or updated.
    ShopifyProduct {
        /// Shopify's numeric id.
        id: i64,
        /// Created (not only updated).
        new: bool,
    },
    /// A Shopify customer or product was deleted.
    ShopifyDeleted {
        /// `customer` or `product`.
        what: String,
        /// Shopify's numeric id.
        id: i64,
    },
    /// Someone changed Shopify's stock of an item at a location.
    ShopifyStock {
        /// The inventory item's numeric id.
        inventory_item_id: i64,
        /// The location's numeric id.
        location_id: i64,
        /// Shopify's `available` after the change, when the payload says.
        available: Option<i64>,
    },
    /// The Shopify app was uninstalled.
    AppUninstalled,
}

impl Touch {
    /// The item whose newest applied source time is kept, for touches that carry one.
    pub fn item_key(&self) -> Option<String> {
        match self {
            Touch::ShopifyCustomer { id, .. } => Some(format!("customer:shopify:{id}")),
            Touch::ShopifyProduct { id, .. } => Some(format!("product:shopify:{id}")),
            Touch::ShopifyDeleted { what, id } => Some(format!("{what}:shopify:{id}")),
            Touch::ShopifyStock { inventory_item_id, location_id, .. } => {
                Some(format!("stock:shopify:{inventory_item_id}:{location_id}"))
            }
            _ => None,
        }
    }
}

/// A touch and the time the source says it happened (unix ms), when it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Touched {
    /// What.
    #[serde(flatten)]
    pub touch: Touch,
    /// When, by the source's clock (Shopify's `updated_at`, else `X-Shopify-Triggered-At`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// A delivery read and ready to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadDelivery {
    /// The event (Nhanh) or topic (Shopify), as sent.
    pub topic: String,
    /// What it is about; empty when dongbo does not act on it.
    pub touches: Vec<Touched>,
    /// Why it is recorded without anything to do, when it is.
    pub ignored: Option<String>,
}

/// Why a delivery cannot be read (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Whether two secrets are equal, in a time that depends on neither their contents nor their
/// lengths: their SHA-256 digests (always 32 bytes) are compared in constant time.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let a: [u8; 32] = Sha256::digest(given.as_bytes()).into();
    let b: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    bool::from(a.ct_eq(&b))
}

/// The hex SHA-256 of `bytes` (a delivery's content key).
pub fn digest_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Stops pushes after Shopify said the app was uninstalled: raises the store flag (kept at its
/// first raising) and this process's notice.
pub async fn app_uninstalled(
    db: &Db,
    notices: &Notices,
    at: DateTime<Utc>,
    shop: Option<&str>,
) -> Result<(), sqlx::Error> {
    let detail = match shop {
        Some(shop) => format!("Shopify said the app was uninstalled from {shop}"),
        None => "Shopify said the app was uninstalled".to_owned(),
    };
    store::raise_flag(db, APP_UNINSTALLED_FLAG, at.timestamp_millis(), &detail).await?;
    show_uninstalled(db, notices, at).await.map(|_| ())
}

/// Raises or clears this process's notice to match the store's flag; whether pushes are stopped.
pub async fn show_uninstalled(db: &Db, notices: &Notices, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    match store::flag(db, APP_UNINSTALLED_FLAG).await? {
        Some(flag) => {
            let since = DateTime::<Utc>::from_timestamp_millis(flag.raised_at).unwrap_or(now);
            notices.raise(
                APP_UNINSTALLED_NOTICE,
                NoticeLevel::Error,
                format!(
                    "{} at {}: dongbo stopped pushing to Shopify. Reinstall the app, then press \"The app is reinstalled: resume pushes\" in \
                     the dashboard's Webhooks panel (or run `dongbo webhooks reinstalled`) to let pushes resume.",
                    flag.detail,
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                now,
            );
            Ok(true)
        }
        None => {
            notices.clear(APP_UNINSTALLED_NOTICE);
            Ok(false)
        }
    }
}

/// Lets pushes resume after the app was reinstalled; whether they were stopped.
pub async fn reinstalled(db: &Db, notices: &Notices) -> Result<bool, sqlx::Error> {
    let was = store::clear_flag(db, APP_UNINSTALLED_FLAG).await?;
    notices.clear(APP_UNINSTALLED_NOTICE);
    Ok(was)
}

/// The permanent failure of a push while the app is uninstalled (a step's first check).
pub async fn refuse_if_uninstalled(db: &Db) -> Result<(), dongbo_engine::StepError> {
    match store::flag(db, APP_UNINSTALLED_FLAG).await {
        Ok(None) => Ok(()),
        Ok(Some(flag)) => Err(dongbo_engine::StepError::permanent(format!(
            "{}: pushes to Shopify are stopped until the app is reinstalled and resumed from the dashboard's \
             Webhooks panel (or `dongbo webhooks reinstalled`)",
            flag.detail
        ))),
        Err(e) => Err(dongbo_engine::StepError::transient(format!("reading the webhook flags: database: {e}"))),
    }
}

/// An id sent as a number or a decimal string.
pub(crate) fn id_of(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().filter(|&i| i > 0),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok().filter(|&i| i > 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_digest() {
        assert!(same_secret("tok", "tok"));
        assert!(!same_secret("tok", "toK"));
        assert!(!same_secret("", "tok"));
    }

    #[test]
    fn touches_round_trip_in_their_stored_form() {
        let t = Touched {
            touch: Touch::ShopifyStock { inventory_item_id: 7, location_id: 9, available: Some(3) },
            at: Some(1_000),
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#"{"kind":"shopifyStock","inventoryItemId":7,"locationId":9,"available":3,"at":1000}"#);
        assert_eq!(serde_json::from_str::<Touched>(&text).unwrap(), t);
        assert_eq!(id_of(&serde_json::json!("42")), Some(42));
        assert_eq!(id_of(&serde_json::json!(-1)), None);
    }
}
