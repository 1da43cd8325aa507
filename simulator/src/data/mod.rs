//! The simulated world: both sides' products, customers, inventory and metafields.
//!
//! Generated once from the seed ([`World::generate`]); the servers then read and write it under
//! one `std::sync::RwLock` (never held across an await, so a std lock is cheaper than tokio's).

pub(crate) mod customers;
pub(crate) mod draw;
pub(crate) mod names;
pub(crate) mod phone;
pub(crate) mod products;

use std::collections::HashMap;

use customers::{NhanhCustomer, ShopCustomer};
use products::{NhanhProduct, ProductIntent, ShopProduct, ShopVariant};

use crate::gid::{gid, parse_gid};

/// Nhanh depot ids, in [`names::DEPOTS`] order.
pub(crate) fn depot_id(index: usize) -> u64 {
    53_481 + index as u64 * 17
}

/// Index of a Nhanh depot id.
pub(crate) fn depot_index(depot: u64) -> Option<usize> {
    (0..names::DEPOTS.len()).find(|&i| depot_id(i) == depot)
}

/// Shopify location ids, in [`names::LOCATIONS`] order.
pub(crate) fn location_id(index: usize) -> u64 {
    74_120_000_011 + index as u64 * 1_009
}

/// Index of a location gid.
pub(crate) fn location_index(location_gid: &str) -> Option<usize> {
    let id = parse_gid(location_gid, "Location")?;
    (0..names::LOCATIONS.len()).find(|&i| location_id(i) == id)
}

/// A metafield as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Metafield {
    pub id: u64,
    pub namespace: String,
    pub key: String,
    pub kind: String,
    pub value: String,
    pub updated_at: i64,
}

/// Lookups by contact, built on the first `customerSet` and kept up to date after.
#[derive(Debug, Default)]
pub(crate) struct ContactIndex {
    pub phone: HashMap<String, u32>,
    pub email: HashMap<String, u32>,
}

/// Everything both servers serve.
pub(crate) struct World {
    pub seed: u64,
    /// Number of persons drawn (customers of either side come from `0..persons`).
    pub persons: u64,
    pub nhanh_customers: Vec<NhanhCustomer>,
    pub shop_customers: Vec<ShopCustomer>,
    /// Generated Shopify customers (those after were created by `customerSet`).
    pub generated_shop_customers: usize,
    pub nhanh_products: Vec<NhanhProduct>,
    pub shop_products: Vec<ShopProduct>,
    pub variants: Vec<ShopVariant>,
    pub product_intent: ProductIntent,
    /// Metafields by owner gid.
    pub metafields: HashMap<String, Vec<Metafield>>,
    pub next_metafield_id: u64,
    pub contacts: Option<ContactIndex>,
    /// How many `touch_*` calls ran (each draws different records).
    pub touches: u64,
}

impl World {
    /// Generates the world of a seed.
    pub(crate) fn generate(seed: u64, products: usize, customers: usize) -> World {
        let catalog = products::generate(seed, products);
        let (persons, nhanh_customers, shop_customers) = customers::generate(seed, customers);
        let mut metafields = HashMap::new();
        let mut next_metafield_id = 26_000_000_000_000u64;
        for c in &shop_customers {
            let Some(p) = c.person else { continue };
            if let Some(value) = customers::person(seed, p as u64).initial_metafield {
                next_metafield_id += 1;
                metafields.insert(
                    gid("Customer", c.id),
                    vec![Metafield {
                        id: next_metafield_id,
                        namespace: "custom".into(),
                        key: "total_spent".into(),
                        kind: "number_integer".into(),
                        value: value.to_string(),
                        updated_at: c.updated_at,
                    }],
                );
            }
        }
        World {
            seed,
            persons,
            generated_shop_customers: shop_customers.len(),
            nhanh_customers,
            shop_customers,
            nhanh_products: catalog.nhanh,
            shop_products: catalog.products,
            variants: catalog.variants,
            product_intent: catalog.intent,
            metafields,
            next_metafield_id,
            contacts: None,
            touches: 0,
        }
    }

    pub(crate) fn shop_customer_index(&self, customer_gid: &str) -> Option<usize> {
        let id = parse_gid(customer_gid, "Customer")?;
        self.shop_customers.binary_search_by_key(&id, |c| c.id).ok()
    }

    pub(crate) fn variant_index(&self, variant_gid: &str) -> Option<usize> {
        let id = parse_gid(variant_gid, "ProductVariant")?;
        self.variants.binary_search_by_key(&id, |v| v.id).ok()
    }

    pub(crate) fn inventory_item_index(&self, item_gid: &str) -> Option<usize> {
        let id = parse_gid(item_gid, "InventoryItem")?;
        self.variants.binary_search_by_key(&id, |v| v.inventory_item_id).ok()
    }

    pub(crate) fn product_index(&self, product_gid: &str) -> Option<usize> {
        let id = parse_gid(product_gid, "Product")?;
        self.shop_products.binary_search_by_key(&id, |p| p.id).ok()
    }

    /// Whether a gid names something that can own metafields.
    pub(crate) fn owner_exists(&self, owner_gid: &str) -> bool {
        self.shop_customer_index(owner_gid).is_some()
            || self.variant_index(owner_gid).is_some()
            || self.product_index(owner_gid).is_some()
    }

    pub(crate) fn nhanh_customer_index(&self, id: u64) -> Option<usize> {
        self.nhanh_customers.binary_search_by_key(&id, |c| c.id).ok()
    }

    pub(crate) fn nhanh_product_index(&self, id: u64) -> Option<usize> {
        self.nhanh_products.binary_search_by_key(&id, |p| p.id).ok()
    }

    /// Shopify phone (E.164 `defaultPhoneNumber`) and e-mail of a customer, edits applied.
    pub(crate) fn shop_contact(&self, index: usize) -> (Option<String>, Option<String>) {
        let c = &self.shop_customers[index];
        if let Some(edit) = &c.edit {
            return (edit.phone.clone(), edit.email.clone());
        }
        match c.person {
            Some(p) => {
                let person = customers::person(self.seed, p as u64);
                (person.shop_phone, person.email)
            }
            None => (None, None),
        }
    }

    /// The contact index, built on first use.
    pub(crate) fn contacts(&mut self) -> &mut ContactIndex {
        if self.contacts.is_none() {
            let mut index = ContactIndex::default();
            for i in 0..self.shop_customers.len() {
                let (phone, email) = self.shop_contact(i);
                if let Some(phone) = phone {
                    index.phone.insert(phone, i as u32);
                }
                if let Some(email) = email {
                    index.email.insert(email.to_lowercase(), i as u32);
                }
            }
            self.contacts = Some(index);
        }
        self.contacts.get_or_insert_with(ContactIndex::default)
    }
}
