//! Bulk query operations: run in the background through the same schema, page by page, written
//! as JSONL (one object per line; a nested connection's nodes follow their parent on their own
//! lines with `__parentId`), served at `/_sim/bulk/{id}.jsonl`.
//!
//! Status: `CREATED` until the run starts, `RUNNING` until every row is written *and*
//! `bulk_min_duration` has passed since creation, then `COMPLETED` (or `FAILED`). One query
//! operation runs at a time; `url` is null when the result is empty, as at Shopify. The finished
//! file is shared by every download, not copied for each.
//!
//! Clients poll an operation with `bulkOperation(id:)`; `currentBulkOperation` is kept, marked
//! deprecated as in Shopify's 2026-10 schema.

use std::sync::{Arc, Mutex};

use async_graphql::parser::types::OperationType;
use async_graphql::ID;
use axum::body::Bytes;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::connection::BulkPage;
use super::objects::{
    BulkOperation, BulkOperationErrorCode, BulkOperationStatus, BulkOperationType, DateTime, UnsignedInt64, Url,
};
use super::ShopSchema;
use crate::clock::iso;
use crate::cost;
use crate::gid::gid;
use crate::sim::Sim;

/// Rows fetched per page while running.
const RUN_PAGE: usize = 250;

/// Root fields a bulk query may page through.
const BULK_ROOTS: &[&str] = &["products", "customers", "locations"];

#[derive(Debug, Default)]
struct Progress {
    started: bool,
    done_at: Option<Instant>,
    failed: bool,
    objects: u64,
    roots: u64,
    /// The file while it is written.
    jsonl: Vec<u8>,
    /// The file once written, shared by every download without a copy.
    file: Option<Bytes>,
}

impl Progress {
    /// Marks the run done at `at`, sealing the file.
    fn finish(&mut self, at: Instant) {
        self.done_at = Some(at);
        self.file = Some(Bytes::from(std::mem::take(&mut self.jsonl)));
    }

    fn size(&self) -> usize {
        self.file.as_ref().map_or(self.jsonl.len(), Bytes::len)
    }
}

/// One bulk operation.
#[derive(Debug, Clone)]
pub(crate) struct BulkOp {
    pub id: u64,
    pub query: String,
    pub created: Instant,
    /// `groupObjects`: whether each child line follows its parent. Shopify's default is
    /// `false` from 2026-01, and then the JSONL is not grouped by parent; the simulator writes a
    /// page's child lines *before* their parents then, the least convenient order a client
    /// must cope with (or avoid by asking for grouping).
    pub grouped: bool,
    progress: Arc<Mutex<Progress>>,
}

/// Every bulk operation of the shop.
#[derive(Debug, Default)]
pub(crate) struct BulkOperations {
    ops: Mutex<Vec<BulkOp>>,
}

impl BulkOperations {
    pub(crate) fn current(&self) -> Option<BulkOp> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).last().cloned()
    }

    pub(crate) fn get(&self, id: u64) -> Option<BulkOp> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|op| op.id == id).cloned()
    }

    /// The JSONL of a finished operation.
    pub(crate) fn file(&self, id: u64) -> Option<Bytes> {
        let op = self.get(id)?;
        let p = op.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.file.clone()
    }
}

fn status(sim: &Sim, op: &BulkOp) -> BulkOperationStatus {
    let p = op.progress.lock().unwrap_or_else(|e| e.into_inner());
    if p.failed {
        BulkOperationStatus::Failed
    } else if p.done_at.is_some() && sim.clock.now() >= op.created + sim.config.shopify.bulk_min_duration {
        BulkOperationStatus::Completed
    } else if p.started {
        BulkOperationStatus::Running
    } else {
        BulkOperationStatus::Created
    }
}

/// The GraphQL view of an operation.
pub(crate) fn view(sim: &Sim, op: &BulkOp) -> BulkOperation {
    let status = status(sim, op);
    let p = op.progress.lock().unwrap_or_else(|e| e.into_inner());
    let completed = status == BulkOperationStatus::Completed;
    let completed_at = p.done_at.map(|d| d.max(op.created + sim.config.shopify.bulk_min_duration));
    BulkOperation {
        id: ID(gid("BulkOperation", op.id)),
        status,
        kind: BulkOperationType::Query,
        error_code: p.failed.then_some(BulkOperationErrorCode::InternalServerError),
        object_count: UnsignedInt64(p.objects.to_string()),
        root_object_count: UnsignedInt64(p.roots.to_string()),
        file_size: completed.then(|| UnsignedInt64(p.size().to_string())),
        url: (completed && p.objects > 0).then(|| Url(format!("{}/_sim/bulk/{}.jsonl", sim.shop_url(), op.id))),
        partial_data_url: None,
        query: op.query.clone(),
        created_at: DateTime(iso(sim.clock.unix_ms_at(op.created).div_euclid(1000))),
        completed_at: completed_at
            .filter(|_| completed)
            .map(|t| DateTime(iso(sim.clock.unix_ms_at(t).div_euclid(1000)))),
    }
}

/// Why a bulk query was refused (becomes a userError on `query`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BulkError {
    #[error("Invalid bulk query: {0}")]
    Invalid(String),
    #[error("Bulk queries must contain exactly one top-level connection field ({}).", BULK_ROOTS.join(", "))]
    NoConnection,
    #[error("A bulk query operation for this app and shop is already in progress: {0}.")]
    InProgress(String),
}

impl BulkError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            BulkError::Invalid(_) | BulkError::NoConnection => "INVALID",
            BulkError::InProgress(_) => "OPERATION_IN_PROGRESS",
        }
    }
}

/// Validates `query`, registers the operation and starts running it.
pub(crate) async fn start(
    sim: &Arc<Sim>,
    schema: ShopSchema,
    query: String,
    grouped: bool,
) -> Result<BulkOp, BulkError> {
    let doc = async_graphql::parser::parse_query(&query).map_err(|e| BulkError::Invalid(e.to_string()))?;
    let op = cost::select_operation(&doc, None)
        .ok_or_else(|| BulkError::Invalid("exactly one operation expected".into()))?;
    if op.ty != OperationType::Query {
        return Err(BulkError::Invalid("only queries can run in bulk".into()));
    }
    let roots = cost::root_fields(&doc, op);
    if roots.len() != 1 || !BULK_ROOTS.contains(&roots[0].as_str()) {
        return Err(BulkError::NoConnection);
    }
    // A dry run of an empty page catches unknown fields and bad arguments.
    let dry = BulkPage { after: None, size: 0, next: Arc::default() };
    let response = schema.execute(async_graphql::Request::new(query.clone()).data(dry)).await;
    if let Some(e) = response.errors.first() {
        return Err(BulkError::Invalid(e.message.clone()));
    }
    let bulk_op = {
        let mut ops = sim.bulk.ops.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = ops.last() {
            if matches!(status(sim, last), BulkOperationStatus::Created | BulkOperationStatus::Running) {
                return Err(BulkError::InProgress(gid("BulkOperation", last.id)));
            }
        }
        let op = BulkOp {
            id: 4_410_000_000 + ops.len() as u64 + 1,
            query: query.clone(),
            created: sim.clock.now(),
            grouped,
            progress: Arc::default(),
        };
        ops.push(op.clone());
        op
    };
    tokio::spawn(run(schema, bulk_op.clone(), sim.clock));
    Ok(bulk_op)
}

async fn run(schema: ShopSchema, op: BulkOp, clock: crate::clock::SimClock) {
    op.progress.lock().unwrap_or_else(|e| e.into_inner()).started = true;
    let mut after = None;
    loop {
        let page = BulkPage { after, size: RUN_PAGE, next: Arc::default() };
        let request = async_graphql::Request::new(op.query.clone()).data(page.clone());
        let response = schema.execute(request).await;
        if !response.errors.is_empty() {
            tracing::warn!(errors = ?response.errors, "bulk operation failed");
            let mut p = op.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.failed = true;
            p.finish(clock.now());
            return;
        }
        let data = serde_json::to_value(&response.data).unwrap_or(Value::Null);
        let mut lines = Vec::new();
        let mut roots = 0;
        if let Some(root) = data.as_object().and_then(|o| o.values().next()) {
            for node in connection_nodes(root) {
                roots += 1;
                flatten(node, None, &mut lines);
            }
        }
        if !op.grouped {
            // Ungrouped output: children are not kept under their parents (here: before them).
            lines.sort_by_key(|line| line.get("__parentId").is_none());
        }
        {
            let mut p = op.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.roots += roots;
            p.objects += lines.len() as u64;
            for line in lines {
                p.jsonl.extend_from_slice(line.to_string().as_bytes());
                p.jsonl.push(b'\n');
            }
        }
        after = *page.next.lock().unwrap_or_else(|e| e.into_inner());
        if after.is_none() {
            break;
        }
        tokio::task::yield_now().await;
    }
    op.progress.lock().unwrap_or_else(|e| e.into_inner()).finish(clock.now());
}

/// The nodes of a connection value (`edges[].node` or `nodes[]`).
fn connection_nodes(value: &Value) -> Vec<Value> {
    if let Some(edges) = value.get("edges").and_then(Value::as_array) {
        return edges.iter().filter_map(|e| e.get("node").cloned()).collect();
    }
    value.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn is_connection(value: &Value) -> bool {
    value.get("edges").is_some_and(Value::is_array) || value.get("nodes").is_some_and(Value::is_array)
}

/// Writes `node` as one line, then each node of its nested connections with `__parentId`.
pub(crate) fn flatten(node: Value, parent: Option<&str>, out: &mut Vec<Value>) {
    let Value::Object(fields) = node else { return };
    let mut line = Map::new();
    let mut children = Vec::new();
    for (key, value) in fields {
        if is_connection(&value) {
            children.extend(connection_nodes(&value));
        } else {
            line.insert(key, value);
        }
    }
    let id = line.get("id").and_then(Value::as_str).map(str::to_string);
    if let Some(parent) = parent {
        line.insert("__parentId".into(), Value::String(parent.to_string()));
    }
    out.push(Value::Object(line));
    for child in children {
        flatten(child, id.as_deref(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_connections_become_lines_that_name_their_parent() {
        let node = json!({"id": "P1", "title": "Áo", "variants": {"edges": [
            {"node": {"id": "V1", "sku": "A"}}, {"node": {"id": "V2", "sku": "B"}}]}});
        let mut out = Vec::new();
        flatten(node, None, &mut out);
        assert_eq!(
            out,
            vec![
                json!({"id": "P1", "title": "Áo"}),
                json!({"id": "V1", "sku": "A", "__parentId": "P1"}),
                json!({"id": "V2", "sku": "B", "__parentId": "P1"}),
            ]
        );
    }
}
