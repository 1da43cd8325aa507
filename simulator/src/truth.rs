//! The ground truth: which records belong together, as the generator meant them.
//!
//! Truth comes from the generator's intent (the canonical number or SKU it rendered), never from
//! parsing what it rendered, so it can judge a matcher's parser.
//!
//! Rules it encodes:
//! - products pair by normalised SKU (trimmed, lowercase, inner whitespace removed) when exactly
//!   one record on each side holds it; when one side has no SKU, by barcode; a SKU held by two
//!   records of one side is ambiguous and pairs nothing;
//! - customers pair by canonical E.164 number: Nhanh's `mobile` (any number in it, old 11-digit
//!   forms migrated) against Shopify's `defaultPhoneNumber`, or `defaultAddress.phone` when the
//!   former is absent; a number held by two records of one side is ambiguous and pairs nothing.
//!   A Nhanh field with several numbers pairs through the one Shopify holds (its other numbers
//!   belong to nobody).

use serde::Serialize;

use crate::data::customers::{self, Kind};
use crate::data::names::{DEPOTS, LOCATIONS};
use crate::data::products::normalise_sku;
use crate::data::{depot_id, location_id, World};
use crate::gid::gid;

/// A Nhanh depot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Depot {
    /// Nhanh depot id.
    pub id: u64,
    /// Its name.
    pub name: String,
}

/// A Shopify location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// `gid://shopify/Location/…`.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// What a perfect sync would conclude about the generated data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Truth {
    /// (Nhanh product id, Shopify variant gid) that belong together.
    pub product_pairs: Vec<(u64, String)>,
    /// (Nhanh customer id, Shopify customer gid) that belong together.
    pub customer_pairs: Vec<(u64, String)>,
    /// Canonical E.164 numbers held by several records of one side (no pair made from them).
    pub ambiguous_customer_keys: Vec<String>,
    /// Normalised SKUs held by several records of one side (no pair made from them).
    pub ambiguous_skus: Vec<String>,
    /// Rows of Nhanh `product/list` (parents included).
    pub nhanh_products: usize,
    /// Shopify products.
    pub shopify_products: usize,
    /// Shopify variants.
    pub shopify_variants: usize,
    /// Rows of Nhanh `customer/list`.
    pub nhanh_customers: usize,
    /// Shopify customers (generated ones).
    pub shopify_customers: usize,
    /// Nhanh depots.
    pub depots: Vec<Depot>,
    /// Shopify locations.
    pub locations: Vec<Location>,
    /// (Nhanh depot id, Shopify location gid): whose `available` sums into which location.
    /// A depot absent here feeds no location.
    pub depot_to_location: Vec<(u64, String)>,
}

impl Truth {
    pub(crate) fn compute(world: &World) -> Truth {
        let product_pairs = world
            .product_intent
            .pairs
            .iter()
            .map(|&(n, v)| (world.nhanh_products[n as usize].id, gid("ProductVariant", world.variants[v as usize].id)))
            .collect();
        let mut ambiguous_skus: Vec<String> =
            world.product_intent.ambiguous_skus.iter().map(|s| normalise_sku(s)).collect();
        ambiguous_skus.sort();
        ambiguous_skus.dedup();

        let seed = world.seed;
        let generated = &world.shop_customers[..world.generated_shop_customers];
        let mut customer_pairs = Vec::new();
        let mut ambiguous_customer_keys = Vec::new();
        for n in &world.nhanh_customers {
            let p = n.person as u64;
            if customers::kind(seed, p) != Kind::Both {
                continue;
            }
            let next = customers::kind(seed, p + 1);
            if p + 1 < world.persons && matches!(next, Kind::DupNhanh | Kind::DupShopify) {
                ambiguous_customer_keys.push(customers::key_mobile(seed, p).e164());
                continue;
            }
            if let Ok(s) = generated.binary_search_by_key(&Some(n.person), |c| c.person) {
                customer_pairs.push((n.id, gid("Customer", generated[s].id)));
            }
        }
        ambiguous_customer_keys.sort();

        let depots =
            DEPOTS.iter().enumerate().map(|(i, (name, _))| Depot { id: depot_id(i), name: name.to_string() }).collect();
        let locations = LOCATIONS
            .iter()
            .enumerate()
            .map(|(i, name)| Location { id: gid("Location", location_id(i)), name: name.to_string() })
            .collect();
        let depot_to_location = DEPOTS
            .iter()
            .enumerate()
            .filter_map(|(i, (_, loc))| loc.map(|l| (depot_id(i), gid("Location", location_id(l)))))
            .collect();
        Truth {
            product_pairs,
            customer_pairs,
            ambiguous_customer_keys,
            ambiguous_skus,
            nhanh_products: world.nhanh_products.len(),
            shopify_products: world.shop_products.len(),
            shopify_variants: world.variants.len(),
            nhanh_customers: world.nhanh_customers.len(),
            shopify_customers: world.generated_shop_customers,
            depots,
            locations,
            depot_to_location,
        }
    }
}
