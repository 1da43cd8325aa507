//! The job type names of DESIGN.md, as the API, the CLI and the registry spell them, and
//! [`JobType`]: a name bound to the input its workflow reads.
//!
//! A caller that requests a job (an HTTP trigger, the CLI, a harness) goes through the typed
//! constant its workflow takes its name from ([`crate::pull::NHANH_CUSTOMERS`],
//! [`crate::matching::CUSTOMERS`], [`crate::sync::PRODUCTS`], …), so it builds the workflow's own
//! input struct: a field renamed in the input, or an input of another job type, is a compile
//! error at every caller rather than a 400 at run time. The `&str` names stay for the places that
//! only name a type (filters, listings, the registry's keys).

use std::fmt;
use std::marker::PhantomData;

use dongbo_engine::JobRequest;
use serde::Serialize;

/// Page through Nhanh `product/list` and mirror the products.
pub const PULL_NHANH_PRODUCTS: &str = "PULL_NHANH_PRODUCTS";
/// Page (or bulk-export) Shopify products and variants and mirror them.
pub const PULL_SHOPIFY_PRODUCTS: &str = "PULL_SHOPIFY_PRODUCTS";
/// Page through Nhanh `customer/list` (full or incremental) and mirror the customers.
pub const PULL_NHANH_CUSTOMERS: &str = "PULL_NHANH_CUSTOMERS";
/// Page (or bulk-export) Shopify customers and mirror them.
pub const PULL_SHOPIFY_CUSTOMERS: &str = "PULL_SHOPIFY_CUSTOMERS";
/// Map Nhanh products to Shopify variants by SKU, barcode as fallback.
pub const AUTO_MATCH_PRODUCTS: &str = "AUTO_MATCH_PRODUCTS";
/// Map Nhanh customers to Shopify customers by normalised phone.
pub const AUTO_MATCH_CUSTOMERS: &str = "AUTO_MATCH_CUSTOMERS";
/// Push Nhanh stock (depots summed per mapped location) to Shopify.
pub const PRODUCT_SYNC: &str = "PRODUCT_SYNC";
/// Push Nhanh total spent to the customer metafield `custom.total_spent`.
pub const CUSTOMER_SYNC: &str = "CUSTOMER_SYNC";
/// Re-drive the items whose last sync failed.
pub const RETRY_FAILED_SYNC: &str = "RETRY_FAILED_SYNC";

/// Every sync-domain job type.
pub const ALL: [&str; 9] = [
    PULL_NHANH_PRODUCTS,
    PULL_SHOPIFY_PRODUCTS,
    PULL_NHANH_CUSTOMERS,
    PULL_SHOPIFY_CUSTOMERS,
    AUTO_MATCH_PRODUCTS,
    AUTO_MATCH_CUSTOMERS,
    PRODUCT_SYNC,
    CUSTOMER_SYNC,
    RETRY_FAILED_SYNC,
];

/// A job type bound to its workflow's input type `I`.
pub struct JobType<I> {
    name: &'static str,
    input: PhantomData<fn(I) -> I>,
}

impl<I> JobType<I> {
    /// The job type `name`, whose workflow reads an `I`.
    pub const fn new(name: &'static str) -> Self {
        JobType { name, input: PhantomData }
    }

    /// Its name, as the registry, the API and the events spell it.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<I: Serialize> JobType<I> {
    /// A request for a job of this type with `input` (by `api`, no idempotency key: see
    /// [`JobRequest::new`]; set the other fields on the result).
    pub fn request(&self, input: &I) -> Result<JobRequest, serde_json::Error> {
        Ok(JobRequest::new(self.name, serde_json::to_value(input)?))
    }
}

impl<I> Clone for JobType<I> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I> Copy for JobType<I> {}

impl<I> fmt::Debug for JobType<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<I> fmt::Display for JobType<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
