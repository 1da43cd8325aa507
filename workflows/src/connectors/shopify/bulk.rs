//! Bulk exports: start one, poll it by id, download its JSONL to a temporary file, read its lines.
//!
//! In the JSONL a product is one line and each of its variants another line carrying
//! `"__parentId": "gid://shopify/Product/…"`; parents come before their children. The body is
//! streamed to an anonymous temporary file (gone with its last handle, even after a crash) and
//! read back one line at a time through [`JsonlFile`], so memory stays bounded whatever the
//! export's size and a workflow can ingest it in steps and resume at a line offset.
//!
//! Polling uses `bulkOperation(id:)`: `currentBulkOperation` is deprecated from Admin API
//! 2026-10 ("Use `bulkOperations` with status filter instead", in Shopify's published schema),
//! and asking by id cannot confuse our export with another app's later one.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};

use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

use super::documents as doc;
use super::mutations::UserError;
use super::reply::decode;
use super::types::{CustomerNode, ProductNode, ShopifyCustomer, ShopifyProduct, ShopifyVariant};
use super::ShopifyClient;
use crate::connectors::error::{ConnectorError, Result};
use crate::connectors::lenient;
use crate::connectors::transport::{open, response_retry_after, transport_error, upstream_span};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkKind {
    /// Every product and its variants.
    Products,
    /// Every customer.
    Customers,
    /// Every location's inventory levels (`available`).
    Levels,
}

impl BulkKind {
    /// The bulk query for this kind.
    pub fn query(self) -> String {
        match self {
            BulkKind::Products => doc::bulk_products_query(),
            BulkKind::Customers => doc::BULK_CUSTOMERS_QUERY.to_owned(),
            BulkKind::Levels => doc::BULK_LEVELS_QUERY.to_owned(),
        }
    }

    /// The variables of [`doc::BULK_RUN_QUERY`] for this kind: products ask for grouped output
    /// (each variant line after its product's, which their assembly relies on); customers have
    /// no child lines, and each level line names its item and location itself, so both keep
    /// Shopify's faster ungrouped default.
    pub fn run_variables(self) -> serde_json::Value {
        json!({"query": self.query(), "groupObjects": matches!(self, BulkKind::Products)})
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

/// One inventory level of a levels export ([`BulkKind::Levels`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyLevel {
    /// `gid://shopify/InventoryItem/…`.
    pub inventory_item_id: String,
    /// `gid://shopify/Location/…`.
    pub location_id: String,
    /// The `available` quantity; `None` when the line did not carry it (never read as zero).
    pub available: Option<i64>,
}

/// Reads one line of a levels export: `None` for a location's own line, the level for a level's
/// line (its location is its `__parentId`). A level line without its item or parent is an error.
pub fn parse_level_line(line: &str) -> Result<Option<ShopifyLevel>> {
    #[derive(Deserialize)]
    struct Item {
        id: String,
    }
    #[derive(Deserialize)]
    struct Quantity {
        name: String,
        quantity: Option<i64>,
    }
    #[derive(Deserialize)]
    struct Line {
        id: String,
        #[serde(rename = "__parentId")]
        parent_id: Option<String>,
        item: Option<Item>,
        #[serde(default)]
        quantities: Option<Vec<Quantity>>,
    }
    let line: Line =
        serde_json::from_str(line).map_err(|e| ConnectorError::malformed(format!("bulk levels line: {e}")))?;
    if line.id.starts_with("gid://shopify/Location/") && line.parent_id.is_none() {
        return Ok(None);
    }
    let missing = |what: &str| ConnectorError::malformed(format!("bulk levels line {}: no {what}", line.id));
    let location_id = line.parent_id.clone().ok_or_else(|| missing("__parentId"))?;
    let inventory_item_id = line.item.as_ref().map(|i| i.id.clone()).ok_or_else(|| missing("item"))?;
    let available = line.quantities.iter().flatten().find(|q| q.name == "available").and_then(|q| q.quantity);
    Ok(Some(ShopifyLevel { inventory_item_id, location_id, available }))
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

/// The state of one bulk operation, asked by id.
pub(crate) const BULK_OPERATION: &str = "query BulkOperation($id: ID!) {
  bulkOperation(id: $id) { id status errorCode objectCount url partialDataUrl }
}";

/// A downloaded export, read one non-empty line at a time from a temporary file. Line numbers
/// count non-empty lines from 0, so a checkpoint's offset names the same line in any download
/// of the same export.
#[derive(Debug)]
pub struct JsonlFile {
    reader: BufReader<File>,
    /// Non-empty lines read so far (the number of the next one).
    line: usize,
    /// Where the last [`mark`](Self::mark) was taken: its line and byte offset.
    mark: (usize, u64),
    /// The byte offset of the next unread byte.
    at: u64,
    buf: String,
}

impl JsonlFile {
    /// Reads `file` from its start.
    pub fn new(mut file: File) -> Result<Self> {
        file.seek(SeekFrom::Start(0)).map_err(|e| io_error("rewinding the export", e))?;
        Ok(JsonlFile { reader: BufReader::new(file), line: 0, mark: (0, 0), at: 0, buf: String::new() })
    }

    /// The number of the next line to be read.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Remembers the current position, for a later [`seek_line`](Self::seek_line) to come back
    /// to without reading the file again (a step retried after its commit failed).
    pub fn mark(&mut self) {
        self.mark = (self.line, self.at);
    }

    /// The next non-empty line, trimmed, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<&str>> {
        loop {
            self.buf.clear();
            let n = self.reader.read_line(&mut self.buf).map_err(|e| io_error("reading the export", e))?;
            if n == 0 {
                return Ok(None);
            }
            self.at += n as u64;
            if !self.buf.trim().is_empty() {
                self.line += 1;
                return Ok(Some(self.buf.trim()));
            }
        }
    }

    /// Whether no non-empty line is left.
    pub fn at_end(&mut self) -> Result<bool> {
        loop {
            let buf = self.reader.fill_buf().map_err(|e| io_error("reading the export", e))?;
            if buf.is_empty() {
                return Ok(true);
            }
            let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if blank < buf.len() {
                return Ok(false);
            }
            self.reader.consume(blank);
            self.at += blank as u64;
        }
    }

    /// Positions the reader so that the next line read is line `target`: from the mark when it
    /// is there, else forward from here, else from the start. An export with fewer lines is
    /// malformed (the checkpoint came from a longer download of the same export).
    pub fn seek_line(&mut self, target: usize) -> Result<()> {
        if target == self.line {
            return Ok(());
        }
        let (mark_line, mark_at) = self.mark;
        let from = if target >= self.line {
            None
        } else if target >= mark_line {
            Some((mark_line, mark_at))
        } else {
            Some((0, 0))
        };
        if let Some((line, at)) = from {
            self.reader.seek(SeekFrom::Start(at)).map_err(|e| io_error("seeking in the export", e))?;
            (self.line, self.at) = (line, at);
        }
        while self.line < target {
            if self.next_line()?.is_none() {
                return Err(ConnectorError::malformed(format!(
                    "bulk export: the file has {} lines, the checkpoint is at line {target}",
                    self.line
                )));
            }
        }
        Ok(())
    }
}

fn io_error(what: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::transient(format!("bulk download: {what}: {e}"))
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
        let data: Data = self
            .execute("bulkOperationRunQuery", doc::BULK_RUN_QUERY, kind.run_variables(), doc::MUTATION_COST)
            .await?;
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

    /// The bulk operation `id` (`gid://shopify/BulkOperation/…`), if Shopify still knows it.
    pub async fn bulk_operation(&self, id: &str) -> Result<Option<BulkOperation>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            bulk_operation: Option<BulkOperation>,
        }
        let data: Data = self.execute("bulkOperation", BULK_OPERATION, json!({ "id": id }), 1).await?;
        Ok(data.bulk_operation)
    }

    /// Downloads a bulk result into an anonymous temporary file, streaming the body, and opens
    /// it for reading. The URL is fetched without the access token (it is a signed link to
    /// storage outside the shop) and is never logged. A transient failure midway starts over.
    pub async fn download_jsonl(&self, url: &str) -> Result<JsonlFile> {
        const CALL: &str = "bulk download";
        let retry = self.inner.policy.retry;
        let mut failures = 0u32;
        loop {
            self.inner.counters.request();
            let span = upstream_span("shopify", CALL, failures + 1);
            let started = tokio::time::Instant::now();
            let streamed = self.stream_to_file(CALL, url).instrument(span.clone()).await;
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            span.record(
                "result",
                match &streamed {
                    Ok(_) => "ok",
                    Err(e) if e.is_transient() => "transient failure",
                    Err(_) => "permanent failure",
                },
            );
            span.in_scope(|| tracing::info!("shopify call"));
            let error = match streamed {
                Ok(file) => return JsonlFile::new(file),
                Err(e) => e,
            };
            failures += 1;
            let too_long = error.retry_after().is_some_and(|w| w > retry.max_upstream_wait);
            if !error.is_transient() || !retry.may_retry(failures) || too_long {
                return Err(retry.bounded(self.redact(error)));
            }
            // The random draw is taken before the await: a ThreadRng held across it would make the
            // future not Send.
            let delay = retry.delay(failures, rand::Rng::gen(&mut rand::thread_rng()), error.retry_after());
            tokio::time::sleep(delay).await;
            self.inner.counters.retry();
        }
    }

    /// One try of [`download_jsonl`](Self::download_jsonl): the body, chunk by chunk, into a
    /// fresh temporary file.
    async fn stream_to_file(&self, call: &str, url: &str) -> Result<File> {
        let mut response = open(self.inner.download.get(url), call).await?;
        let status = response.status().as_u16();
        tracing::Span::current().record("status", status);
        if status != 200 {
            let reason = format!("{call}: HTTP {status}");
            let retry_after = response_retry_after(&response);
            return Err(if status >= 500 || status == 429 {
                ConnectorError::Transient { reason, retry_after }
            } else {
                ConnectorError::permanent(reason)
            });
        }
        let file = tempfile::tempfile().map_err(|e| io_error("creating a temporary file", e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(call, e))? {
            out.write_all(&chunk).map_err(|e| io_error("writing the temporary file", e))?;
        }
        out.into_inner().map_err(|e| io_error("writing the temporary file", e.into_error()))
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

    fn jsonl(body: &str) -> JsonlFile {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(body.as_bytes()).unwrap();
        JsonlFile::new(file).unwrap()
    }

    fn rest(f: &mut JsonlFile) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = f.next_line().unwrap() {
            out.push(l.to_owned());
        }
        out
    }

    #[test]
    fn a_jsonl_file_reads_its_non_empty_lines_and_knows_its_end() {
        let mut f = jsonl("{\"a\":1}\n\n{\"b\":2}\r\n  \n");
        assert!(!f.at_end().unwrap());
        assert_eq!(f.next_line().unwrap(), Some("{\"a\":1}"));
        assert!(!f.at_end().unwrap());
        assert_eq!(f.next_line().unwrap(), Some("{\"b\":2}"));
        assert!(f.at_end().unwrap());
        assert_eq!(f.next_line().unwrap(), None);
        assert_eq!(f.line(), 2);
        assert!(jsonl("").at_end().unwrap());
    }

    #[test]
    fn a_jsonl_file_seeks_to_any_line_forward_back_to_its_mark_or_from_the_start() {
        let body: String = (0..10).map(|i| format!("{{\"n\":{i}}}\n\n")).collect();
        let mut f = jsonl(&body);
        f.seek_line(4).unwrap();
        f.mark();
        assert_eq!(f.next_line().unwrap(), Some("{\"n\":4}"));
        f.next_line().unwrap();
        // A retried step: back to the mark.
        f.seek_line(4).unwrap();
        assert_eq!(f.next_line().unwrap(), Some("{\"n\":4}"));
        // Before the mark: from the start.
        f.seek_line(1).unwrap();
        assert_eq!(rest(&mut f).len(), 9);
        let err = f.seek_line(11).unwrap_err();
        assert!(err.to_string().contains("the file has 10 lines, the checkpoint is at line 11"), "{err}");
    }

    #[test]
    fn a_level_line_names_its_item_its_location_and_maybe_its_quantity() {
        // Shapes from the Admin schema (shopify-schema/data, and the pages
        // shopify.dev/docs/api/admin-graphql/latest/objects/InventoryLevel and .../Location):
        // `Location.inventoryLevels`, `InventoryLevel.item`, `InventoryLevel.quantities(names:)`;
        // a nested connection's node names its parent with `__parentId`
        // (shopify.dev/docs/api/usage/bulk-operations/queries).
        let location = r#"{"id":"gid://shopify/Location/7"}"#;
        assert_eq!(parse_level_line(location).unwrap(), None);
        let level = r#"{"id":"gid://shopify/InventoryLevel/7?inventory_item_id=111","item":{"id":"gid://shopify/InventoryItem/111"},"quantities":[{"name":"available","quantity":4}],"__parentId":"gid://shopify/Location/7"}"#;
        let want = ShopifyLevel {
            inventory_item_id: "gid://shopify/InventoryItem/111".into(),
            location_id: "gid://shopify/Location/7".into(),
            available: Some(4),
        };
        assert_eq!(parse_level_line(level).unwrap(), Some(want.clone()));
        // No `available` among the quantities: not read, so not zero.
        let unread = level.replace(r#"[{"name":"available","quantity":4}]"#, "[]");
        assert_eq!(parse_level_line(&unread).unwrap(), Some(ShopifyLevel { available: None, ..want }));
        for (bad, why) in [
            (r#"{"id":"gid://shopify/InventoryLevel/1","item":{"id":"i"}}"#, "no __parentId"),
            (r#"{"id":"gid://shopify/InventoryLevel/1","__parentId":"gid://shopify/Location/7"}"#, "no item"),
            (r#"{"item":{"id":"i"}}"#, "missing field `id`"),
            ("not json", "bulk levels line"),
        ] {
            let err = parse_level_line(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
