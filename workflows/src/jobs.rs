//! The job type names of DESIGN.md, as the API, the CLI and the registry spell them.

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
