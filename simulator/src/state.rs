//! Read access to the simulator's current data, for tests that compare the two sides.

use std::sync::Arc;

use crate::data::products::mapped_sum;
use crate::data::{depot_index, location_id, location_index};
use crate::gid::gid;
use crate::sim::Sim;

/// A Shopify variant as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantState {
    /// `gid://shopify/ProductVariant/…`.
    pub id: String,
    /// `gid://shopify/InventoryItem/…`.
    pub inventory_item_id: String,
    /// SKU as stored (may be messy or empty).
    pub sku: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Price in VND.
    pub price: u64,
}

/// The quantity a location should hold after a perfect inventory sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedLevel {
    /// The Nhanh product.
    pub nhanh_product_id: u64,
    /// Its Shopify inventory item.
    pub inventory_item_id: String,
    /// The location.
    pub location_id: String,
    /// Sum of `available` over the depots mapped onto the location.
    pub quantity: i64,
}

/// Read handle on the current data (cheap to clone).
#[derive(Clone)]
pub struct SimState {
    pub(crate) sim: Arc<Sim>,
}

impl SimState {
    /// Shopify `available` of an inventory item at a location.
    pub fn inventory(&self, inventory_item_gid: &str, location_gid: &str) -> Option<i64> {
        let world = self.sim.read();
        let v = world.inventory_item_index(inventory_item_gid)?;
        let l = location_index(location_gid)?;
        Some(world.variants[v].levels[l])
    }

    /// Value of a metafield of any owner (customer, product, variant).
    pub fn metafield(&self, owner_gid: &str, namespace: &str, key: &str) -> Option<String> {
        let world = self.sim.read();
        world
            .metafields
            .get(owner_gid)?
            .iter()
            .find(|m| m.namespace == namespace && m.key == key)
            .map(|m| m.value.clone())
    }

    /// Value of a customer metafield, e.g. `custom.total_spent`.
    pub fn customer_metafield(&self, customer_gid: &str, namespace: &str, key: &str) -> Option<String> {
        self.metafield(customer_gid, namespace, key)
    }

    /// Rows of Nhanh `customer/list`.
    pub fn nhanh_customer_count(&self) -> usize {
        self.sim.read().nhanh_customers.len()
    }

    /// Shopify customers, created ones included.
    pub fn shopify_customer_count(&self) -> usize {
        self.sim.read().shop_customers.len()
    }

    /// Rows of Nhanh `product/list`.
    pub fn nhanh_product_count(&self) -> usize {
        self.sim.read().nhanh_products.len()
    }

    /// Shopify variants.
    pub fn shopify_variant_count(&self) -> usize {
        self.sim.read().variants.len()
    }

    /// Nhanh `totalAmount` of a customer (VND).
    pub fn nhanh_total_amount(&self, nhanh_customer_id: u64) -> Option<u64> {
        let world = self.sim.read();
        let i = world.nhanh_customer_index(nhanh_customer_id)?;
        Some(world.nhanh_customers[i].total_amount)
    }

    /// Nhanh `available` of a product in a depot.
    pub fn nhanh_available(&self, nhanh_product_id: u64, depot: u64) -> Option<i64> {
        let world = self.sim.read();
        let p = world.nhanh_product_index(nhanh_product_id)?;
        let d = depot_index(depot)?;
        Some(world.nhanh_products[p].stock[d])
    }

    /// A Shopify variant.
    pub fn variant(&self, variant_gid: &str) -> Option<VariantState> {
        let world = self.sim.read();
        let v = &world.variants[world.variant_index(variant_gid)?];
        Some(VariantState {
            id: gid("ProductVariant", v.id),
            inventory_item_id: gid("InventoryItem", v.inventory_item_id),
            sku: v.sku.clone(),
            barcode: v.barcode.clone(),
            price: v.price,
        })
    }

    /// Shopify `defaultPhoneNumber` of a customer.
    pub fn shopify_customer_phone(&self, customer_gid: &str) -> Option<String> {
        let world = self.sim.read();
        let i = world.shop_customer_index(customer_gid)?;
        world.shop_contact(i).0
    }

    /// What every location of every paired product should hold after a full inventory sync
    /// (current Nhanh stock summed through the depot mapping).
    pub fn expected_inventory(&self) -> Vec<ExpectedLevel> {
        let world = self.sim.read();
        let mut out = Vec::new();
        for &(n, v) in &world.product_intent.pairs {
            let product = &world.nhanh_products[n as usize];
            let variant = &world.variants[v as usize];
            for (l, quantity) in mapped_sum(&product.stock).into_iter().enumerate() {
                out.push(ExpectedLevel {
                    nhanh_product_id: product.id,
                    inventory_item_id: gid("InventoryItem", variant.inventory_item_id),
                    location_id: gid("Location", location_id(l)),
                    quantity,
                });
            }
        }
        out
    }

    /// (Shopify customer gid, Nhanh `totalAmount`) for every customer pair: what
    /// `custom.total_spent` should hold after a full customer sync.
    pub fn expected_total_spent(&self) -> Vec<(String, u64)> {
        let truth = self.sim.truth();
        let world = self.sim.read();
        truth
            .customer_pairs
            .iter()
            .filter_map(|(nhanh, shop)| {
                let i = world.nhanh_customer_index(*nhanh)?;
                Some((shop.clone(), world.nhanh_customers[i].total_amount))
            })
            .collect()
    }
}
