//! Bulk exports: start one, poll it, download its JSONL, read its lines.
//!
//! In the JSONL a product is one line and each of its variants another line carrying
//! `"__parentId": "gid://shopify/Product/…"`; parents come before their children. Lines are
//! read one at a time so a workflow can ingest a file in steps and resume at a line offset.

use serde::Deserialize;
use serde_json::json;

use super::documents as doc;
use super::mutations::UserError;
use super::reply::decode;
use super::types::{CustomerNode, ProductNode, ShopifyCustomer, ShopifyProduct, ShopifyVariant};
use super::ShopifyClient;
use crate::connectors::error::{ConnectorError, Result};
use crate::connectors::lenient;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkKind {
    /// Every product and its variants.
    Products,
    /// Every customer.
    Customers,
}

impl BulkKind {
    /// The bulk query for this kind.
    pub fn query(self) -> String {
        match self {
            BulkKind::Products => doc::bulk_products_query(),
            BulkKind::Customers => doc::BULK_CUSTOMERS_QUERY.to_owned(),
        }
    }
}

/// The state of a bulk operation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// `gid://shopify/BulkOperation/…`.
    pub id: String,
    /// CREATED, RUNNING, COMPLETED, FAILED, CANCELING, CANCELED or EXPIRED.
    pub status: String,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Objects written so far.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub object_count: Option<u64>,
    /// The JSONL once COMPLETED (null when the export is empty).
    #[serde(default)]
    pub url: Option<String>,
    /// What was written before a failure.
    #[serde(default)]
    pub partial_data_url: Option<String>,
}

impl BulkOperation {
    /// Whether the operation will not change any more.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETED" | "FAILED" | "CANCELED" | "EXPIRED")
    }
}

/// One line of a products export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkProductLine {
    /// A product (its `variants` empty: they follow as their own lines).
    Product(ShopifyProduct),
    /// A variant of the product `product_id`.
    Variant {
        /// The parent's gid.
        product_id: String,
        /// The variant.
        variant: ShopifyVariant,
    },
}

/// Reads one line of a products export.
pub fn parse_product_line(line: &str) -> Result<BulkProductLine> {
    #[derive(Deserialize)]
    struct Parent {
        #[serde(rename = "__parentId")]
        parent_id: Option<String>,
    }
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| ConnectorError::malformed(format!("bulk products line: not JSON ({e})")))?;
    let parent: Parent = serde_json::from_value(value.clone())
        .map_err(|e| ConnectorError::malformed(format!("bulk products line: {e}")))?;
    match parent.parent_id {
        Some(product_id) => {
            let variant: ShopifyVariant = decode("bulk products line", value)?;
            Ok(BulkProductLine::Variant { product_id, variant })
        }
        None => {
            let node: ProductNode = decode("bulk products line", value)?;
            Ok(BulkProductLine::Product(node.into()))
        }
    }
}

/// Reads one line of a customers export.
pub fn parse_customer_line(line: &str) -> Result<ShopifyCustomer> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| ConnectorError::malformed(format!("bulk customers line: not JSON ({e})")))?;
    let node: CustomerNode = decode("bulk customers line", value)?;
    Ok(node.into())
}

/// Folds product lines into products with their variants, in file order. A variant whose
/// parent is not among the lines is an error (the file was cut or misread).
pub fn assemble_products(lines: impl IntoIterator<Item = BulkProductLine>) -> Result<Vec<ShopifyProduct>> {
    let mut products: Vec<ShopifyProduct> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for line in lines {
        match line {
            BulkProductLine::Product(p) => {
                index.insert(p.id.clone(), products.len());
                products.push(p);
            }
            BulkProductLine::Variant { product_id, variant } => match index.get(&product_id) {
                Some(&i) => products[i].variants.push(variant),
                None => {
                    return Err(ConnectorError::malformed(format!(
                        "bulk products: variant {} names parent {product_id}, which is not in the file before it",
                        variant.id
                    )))
                }
            },
        }
    }
    Ok(products)
}

/// The non-empty lines of a JSONL body.
pub fn jsonl_lines(body: &str) -> Vec<String> {
    body.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

impl ShopifyClient {
    /// Starts a bulk export and returns its id. A bulk query already running for this app is
    /// transient (wait for it, or for it to finish); other refusals are permanent.
    pub async fn bulk_run_query(&self, kind: BulkKind) -> Result<String> {
        #[derive(Deserialize)]
        struct Op {
            id: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            bulk_operation: Option<Op>,
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            bulk_operation_run_query: Option<Payload>,
        }
        let vars = json!({"query": kind.query()});
        let data: Data = self.execute("bulkOperationRunQuery", doc::BULK_RUN_QUERY, vars, doc::MUTATION_COST).await?;
        let p = data
            .bulk_operation_run_query
            .ok_or_else(|| ConnectorError::malformed("bulkOperationRunQuery reply: payload is null"))?;
        if let Some(op) = p.bulk_operation {
            return Ok(op.id);
        }
        let words: Vec<String> = p.user_errors.iter().map(|e| e.message.clone()).collect();
        let reason = format!("bulkOperationRunQuery: {}", words.join("; "));
        if words.iter().any(|w| w.to_ascii_lowercase().contains("already in progress")) {
            Err(ConnectorError::transient(reason))
        } else {
            Err(ConnectorError::permanent(reason))
        }
    }

    /// The app's current (latest) bulk query, if any.
    pub async fn current_bulk_operation(&self) -> Result<Option<BulkOperation>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            current_bulk_operation: Option<BulkOperation>,
        }
        let data: Data = self.execute("currentBulkOperation", doc::CURRENT_BULK_OPERATION, json!({}), 1).await?;
        Ok(data.current_bulk_operation)
    }

    /// Downloads a bulk result and splits it into lines. The URL is fetched without the
    /// access token (it is a signed link to storage outside the shop) and is never logged.
    pub async fn download_jsonl(&self, url: &str) -> Result<Vec<String>> {
        let body = self.get_bytes("bulk download", url).await?;
        let text = String::from_utf8(body)
            .map_err(|e| ConnectorError::malformed(format!("bulk download: not UTF-8 ({e})")))?;
        Ok(jsonl_lines(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lines: &[&str], expect: Result<Vec<(&str, Vec<&str>)>, &str>) {
        let parsed: Result<Vec<BulkProductLine>> = lines.iter().map(|l| parse_product_line(l)).collect();
        let got = parsed.and_then(assemble_products).map(|ps| {
            ps.into_iter().map(|p| (p.id, p.variants.into_iter().map(|v| v.id).collect::<Vec<_>>())).collect::<Vec<_>>()
        });
        match (got, expect) {
            (Ok(g), Ok(e)) => {
                let e: Vec<(String, Vec<String>)> =
                    e.into_iter().map(|(p, vs)| (p.to_owned(), vs.into_iter().map(str::to_owned).collect())).collect();
                assert_eq!(g, e, "{lines:?}");
            }
            (Err(g), Err(e)) => assert!(g.to_string().contains(e), "{lines:?}: {g}"),
            (g, e) => panic!("{lines:?}: got {g:?}, expected {e:?}"),
        }
    }

    const P1: &str = r#"{"id":"gid://shopify/Product/1","title":"Áo","handle":"ao","status":"ACTIVE","updatedAt":"2025-01-01T00:00:00Z"}"#;
    const V1: &str = r#"{"id":"gid://shopify/ProductVariant/11","sku":"AO-1","barcode":null,"price":"199000.00","inventoryQuantity":5,"inventoryItem":{"id":"gid://shopify/InventoryItem/111"},"__parentId":"gid://shopify/Product/1"}"#;
    const V2: &str = r#"{"id":"gid://shopify/ProductVariant/12","sku":null,"price":"1","inventoryQuantity":null,"inventoryItem":null,"__parentId":"gid://shopify/Product/1"}"#;
    const P2: &str = r#"{"id":"gid://shopify/Product/2","title":null}"#;

    #[test]
    fn variant_lines_join_the_product_named_by_their_parent_id() {
        check(
            &[P1, V1, V2, P2],
            Ok(vec![
                ("gid://shopify/Product/1", vec!["gid://shopify/ProductVariant/11", "gid://shopify/ProductVariant/12"]),
                ("gid://shopify/Product/2", vec![]),
            ]),
        );
        check(&[], Ok(vec![]));
    }

    #[test]
    fn broken_lines_and_orphans_are_malformed_with_a_clear_reason() {
        check(&[V1], Err("variant gid://shopify/ProductVariant/11 names parent gid://shopify/Product/1, which is not in the file"));
        check(&["{\"id\":"], Err("bulk products line: not JSON"));
        check(&[r#"{"title":"no id"}"#], Err("bulk products line: missing field `id`"));
        check(&[r#"{"id":"v","inventoryQuantity":"many","__parentId":"p"}"#], Err("expected a number"));
    }

    #[test]
    fn a_customer_line_reads_both_phone_fields_and_the_metafield() {
        let line = r#"{"id":"gid://shopify/Customer/9","firstName":"An","lastName":"Nguyễn","displayName":"An Nguyễn","defaultEmailAddress":null,"defaultPhoneNumber":{"phoneNumber":"+84988992942"},"defaultAddress":{"phone":"0988 992 942"},"amountSpent":{"amount":"150000.0","currencyCode":"VND"},"numberOfOrders":"3","updatedAt":"2025-01-01T00:00:00Z","totalSpent":{"value":"150000"}}"#;
        let c = parse_customer_line(line).unwrap();
        assert_eq!(c.phone.as_deref(), Some("+84988992942"));
        assert_eq!(c.address_phone.as_deref(), Some("0988 992 942"));
        assert_eq!(c.email, None);
        assert_eq!(c.number_of_orders, Some(3));
        assert_eq!(c.total_spent_metafield.as_deref(), Some("150000"));
        assert_eq!(c.amount_spent.unwrap().amount.as_deref(), Some("150000.0"));
        assert!(parse_customer_line("not json").unwrap_err().to_string().contains("bulk customers line: not JSON"));
    }

    #[test]
    fn jsonl_bodies_split_into_non_empty_lines() {
        assert_eq!(jsonl_lines("{\"a\":1}\n\n{\"b\":2}\r\n"), vec!["{\"a\":1}", "{\"b\":2}"]);
        assert!(jsonl_lines("").is_empty());
    }
}
