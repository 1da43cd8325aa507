//! The GraphQL documents the Shopify client sends, and what each is expected to cost.
//!
//! Costs follow Shopify's published calculation (a scalar costs 0, an object 1 plus its
//! selection, a connection `2 + first × node`, a mutation 10). They are only the first
//! estimate: the client then remembers each query's `requestedQueryCost` as the server
//! reported it. All values travel as GraphQL variables, never spliced into the text; the
//! `*_variables` functions build them, for the client and for [`super::sent`] alike.
//!
//! Every document here is valid, and uses nothing deprecated, in each version dongbo speaks
//! ([`super::version::SPOKEN`]), as Shopify's published schemas of those versions state; where
//! the versions differ, the one input that reads the same in all of them is chosen (see
//! [`INVENTORY_SET_QUANTITIES`]).

use serde_json::{json, Value};

/// Shopify refuses a single query whose requested cost exceeds this.
pub const MAX_QUERY_COST: u32 = 1000;

/// Shopify's largest `first` for a connection.
pub const MAX_FIRST: u32 = 250;

/// The cost of a connection of `first` nodes each costing `node`.
pub const fn connection_cost(first: u32, node: u32) -> u32 {
    2 + first * node
}

/// The largest `first` (≤ 250) whose connection of nodes costing `node` (plus `extra`
/// outside the connection) stays within [`MAX_QUERY_COST`].
pub const fn max_first(node: u32, extra: u32) -> u32 {
    let fit = (MAX_QUERY_COST - 2 - extra) / node;
    if fit < MAX_FIRST {
        fit
    } else {
        MAX_FIRST
    }
}

/// Points a mutation costs.
pub const MUTATION_COST: u32 = 10;

/// The variant fields every product read selects.
const VARIANT_FIELDS: &str = "id sku barcode price inventoryQuantity inventoryItem { id }";

/// Cost of one variant node: the variant and its `inventoryItem`.
pub const VARIANT_NODE_COST: u32 = 2;

/// One page of products with their first variants.
pub const PRODUCTS_PAGE: &str =
    "query ProductsPage($first: Int!, $after: String, $query: String, $variantsFirst: Int!) {
  products(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id title handle status updatedAt
      variants(first: $variantsFirst) {
        pageInfo { hasNextPage endCursor }
        edges { node { id sku barcode price inventoryQuantity inventoryItem { id } } }
      }
    } }
  }
}";

/// The variables of [`PRODUCTS_PAGE`].
pub fn products_page_variables(first: u32, after: Option<&str>, query: Option<&str>, variants_first: u32) -> Value {
    json!({"first": first, "after": after, "query": query, "variantsFirst": variants_first})
}

/// Cost of one product node with `variants` variants.
pub const fn product_node_cost(variants: u32) -> u32 {
    1 + connection_cost(variants, VARIANT_NODE_COST)
}

/// The remaining variants of one product.
pub const PRODUCT_VARIANTS_PAGE: &str = "query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { id sku barcode price inventoryQuantity inventoryItem { id } } }
    }
  }
}";

/// The variables of [`PRODUCT_VARIANTS_PAGE`].
pub fn product_variants_page_variables(product_id: &str, first: u32, after: Option<&str>) -> Value {
    json!({"id": product_id, "first": first, "after": after})
}

/// A metafield by its identity and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetafieldId {
    /// `Metafield.namespace`.
    pub namespace: &'static str,
    /// `Metafield.key`.
    pub key: &'static str,
    /// `Metafield.type`.
    pub type_: &'static str,
}

/// The customer metafield `CUSTOMER_SYNC` writes and reads back, and the customer pulls read
/// (as `totalSpent` in [`CUSTOMERS_PAGE`] and [`BULK_CUSTOMERS_QUERY`]): `custom.total_spent`,
/// an integer.
pub const TOTAL_SPENT: MetafieldId = MetafieldId { namespace: "custom", key: "total_spent", type_: "number_integer" };

/// One page of customers.
pub const CUSTOMERS_PAGE: &str = "query CustomersPage($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id firstName lastName displayName
      defaultEmailAddress { emailAddress }
      defaultPhoneNumber { phoneNumber }
      defaultAddress { phone }
      amountSpent { amount currencyCode }
      numberOfOrders updatedAt
      totalSpent: metafield(namespace: \"custom\", key: \"total_spent\") { value }
    } }
  }
}";

/// The variables of [`CUSTOMERS_PAGE`].
pub fn customers_page_variables(first: u32, after: Option<&str>, query: Option<&str>) -> Value {
    json!({"first": first, "after": after, "query": query})
}

/// Cost of one customer node: itself and five objects.
pub const CUSTOMER_NODE_COST: u32 = 6;

/// Product count (no cap: `limit: null`).
pub const PRODUCTS_COUNT: &str = "query ProductsCount { productsCount(limit: null) { count precision } }";

/// Customer count.
pub const CUSTOMERS_COUNT: &str = "query CustomersCount { customersCount(limit: null) { count precision } }";

/// A page of locations.
pub const LOCATIONS_PAGE: &str = "query LocationsPage($first: Int!, $after: String) {
  locations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id name isActive } }
  }
}";

/// The variables of [`LOCATIONS_PAGE`].
pub fn locations_page_variables(first: u32, after: Option<&str>) -> Value {
    json!({"first": first, "after": after})
}

/// Starts a bulk export.
///
/// `groupObjects` defaults to `false` from 2026-01, and then the JSONL does not keep a
/// product's variants after it (shopify.dev changelog "Bulk operations group objects default
/// changed to false"); the product export, which assembles variants under their product line
/// by line, asks for grouping.
pub const BULK_RUN_QUERY: &str = "mutation BulkRun($query: String!, $groupObjects: Boolean) {
  bulkOperationRunQuery(query: $query, groupObjects: $groupObjects) {
    bulkOperation { id status }
    userErrors { field message }
  }
}";

/// The bulk export of every product and variant (variants as child lines with `__parentId`).
pub fn bulk_products_query() -> String {
    format!(
        "{{ products {{ edges {{ node {{ id title handle status updatedAt variants {{ edges {{ node {{ {VARIANT_FIELDS} }} }} }} }} }} }} }}"
    )
}

/// The bulk export of every inventory level's `available` quantity, location by location: each
/// level a child line of its location (`__parentId`), naming its inventory item
/// (`InventoryLevel.item`, `InventoryLevel.quantities(names:)` in the Admin schema). `locations`
/// lists active locations only (`includeInactive` defaults to false), as pushes go to active ones.
pub const BULK_LEVELS_QUERY: &str = "{ locations { edges { node { id inventoryLevels { edges { node { id item { id } quantities(names: [\"available\"]) { name quantity } } } } } } } }";

/// The bulk export of every customer, with the same fields as [`CUSTOMERS_PAGE`].
pub const BULK_CUSTOMERS_QUERY: &str = "{ customers { edges { node { id firstName lastName displayName defaultEmailAddress { emailAddress } defaultPhoneNumber { phoneNumber } defaultAddress { phone } amountSpent { amount currencyCode } numberOfOrders updatedAt totalSpent: metafield(namespace: \"custom\", key: \"total_spent\") { value } } } } }";

/// Sets absolute available quantities, once per idempotency key.
///
/// The same text serves every version dongbo speaks: `@idempotent(key:)` exists from 2026-01
/// and is mandatory from 2026-04, and the input (see `mutations::inventory_set_variables`)
/// passes `changeFromQuantity: null` on each quantity, which 2026-01 reads as "skip the
/// compare" and 2026-04 onwards requires, instead of `ignoreCompareQuantity`, deprecated in
/// 2026-01 and removed in 2026-04.
pub const INVENTORY_SET_QUANTITIES: &str =
    "mutation InventorySet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    userErrors { code field message }
  }
}";

/// Sets up to 25 metafields atomically.
pub const METAFIELDS_SET: &str = "mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key }
    userErrors { code field message }
  }
}";

/// Updates variants of one product.
pub const PRODUCT_VARIANTS_BULK_UPDATE: &str =
    "mutation VariantsUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id }
    userErrors { code field message }
  }
}";

/// Creates or updates a customer by an identifier.
pub const CUSTOMER_SET: &str = "mutation CustomerSet($identifier: CustomerSetIdentifiers, $input: CustomerSetInput!) {
  customerSet(identifier: $identifier, input: $input) {
    customer { id }
    userErrors { code field message }
  }
}";

#[cfg(test)]
mod tests {
    use super::*;

    fn check(node: u32, extra: u32, expect_first: u32) {
        let first = max_first(node, extra);
        assert_eq!(first, expect_first, "node {node} extra {extra}");
        assert!(connection_cost(first, node) + extra <= MAX_QUERY_COST);
    }

    #[test]
    fn page_sizes_are_capped_so_a_query_never_exceeds_the_maximum_cost() {
        check(CUSTOMER_NODE_COST, 0, 166);
        check(product_node_cost(10), 0, 43);
        check(product_node_cost(0), 0, 250);
        check(1, 0, 250);
        assert_eq!(product_node_cost(10), 23);
    }

    #[test]
    fn the_customer_reads_name_the_metafield_the_sync_writes() {
        let field =
            format!("totalSpent: metafield(namespace: \"{}\", key: \"{}\")", TOTAL_SPENT.namespace, TOTAL_SPENT.key);
        assert!(CUSTOMERS_PAGE.contains(&field), "{field}");
        assert!(BULK_CUSTOMERS_QUERY.contains(&field), "{field}");
    }

    #[test]
    fn documents_carry_values_as_variables() {
        for doc in [PRODUCTS_PAGE, CUSTOMERS_PAGE, INVENTORY_SET_QUANTITIES, METAFIELDS_SET, CUSTOMER_SET] {
            assert!(doc.contains('$'), "{doc}");
        }
        assert!(bulk_products_query().contains("inventoryItem { id }"));
    }
}
