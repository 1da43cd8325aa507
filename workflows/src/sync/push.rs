//! One page of mappings pushed to Shopify, with the outcome of every item: what the full syncs
//! and `RETRY_FAILED_SYNC` share.

use std::collections::HashMap;

use dongbo_engine::{EntityRef, JobId, StepContext, StepError};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use super::plan::{self, CustomerAction, LocationPlan};
use super::{configured, db_error, step_error, SyncSettings};
use crate::catalog::store::pulls::location_mappings;
use crate::catalog::store::sync::{self as store, ProductSyncRow, Selection, SyncKind, SyncOutcomes};
use crate::connectors::nhanh::types::{InventoryFilters, NhanhInventory, ProductFilters};
use crate::connectors::shopify::{InventoryQuantity, MetafieldInput};
use crate::connectors::{NhanhClient, ShopifyClient};
use crate::setup::Upstreams;

/// Nhanh's largest `ids` filter of `product/inventory`.
const NHANH_IDS_PER_CALL: usize = 100;

/// What a page of mappings came to.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    /// The mapping ids read (pushed, skipped or failed), ascending.
    pub seen: Vec<i64>,
    /// `(mapping id, value pushed)`.
    pub synced: Vec<(i64, Value)>,
    /// `(mapping id, reason)`.
    pub failed: Vec<(i64, String)>,
    /// Mappings left alone because their value is unchanged.
    pub skipped: i64,
    /// For the audit index.
    pub touched: Vec<EntityRef>,
}

impl Pushed {
    /// The local writes of this page.
    pub fn outcomes(&self, kind: SyncKind, job_id: JobId, at_ms: i64, dropped: Vec<i64>) -> SyncOutcomes {
        SyncOutcomes { kind, job_id, at_ms, synced: self.synced.clone(), failed: self.failed.clone(), dropped }
    }

    fn record(&mut self, kind: SyncKind, mapping_id: i64, shopify_id: &str, outcome: Result<Value, String>) {
        let (mapping_kind, shop_kind) = match kind {
            SyncKind::Product => ("product_mapping", "shopify_variant"),
            SyncKind::Customer => ("customer_mapping", "shopify_customer"),
        };
        let action = if outcome.is_ok() { "synced" } else { "failed" };
        self.touched.push(EntityRef { kind: mapping_kind.into(), id: mapping_id.to_string(), action: action.into() });
        self.touched.push(EntityRef { kind: shop_kind.into(), id: shopify_id.into(), action: action.into() });
        match outcome {
            Ok(v) => self.synced.push((mapping_id, v)),
            Err(reason) => self.failed.push((mapping_id, reason)),
        }
    }
}

/// Which mappings a page holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// The next keyset page after this mapping id (its size follows the settings).
    After(i64),
    /// These mapping ids.
    Ids(&'a [i64]),
}

/// Pushes pages of mappings.
#[derive(Clone)]
pub(crate) struct Pusher {
    pub upstreams: Upstreams,
    pub settings: SyncSettings,
}

impl Pusher {
    /// Customers per full page.
    pub fn customer_page(&self) -> i64 {
        (self.settings.max_metafields_per_call * self.settings.calls_per_step.max(1)) as i64
    }

    /// Reads and pushes one page of customer mappings.
    pub async fn customers(&self, ctx: &StepContext, scope: Scope<'_>, force: bool) -> Result<Pushed, StepError> {
        let sel = match scope {
            Scope::After(after) => Selection::After { after, limit: self.customer_page() },
            Scope::Ids(ids) => Selection::Ids(ids),
        };
        let rows = store::customer_rows(&ctx.db, sel).await.map_err(|e| db_error("reading customer mappings", e))?;
        let mut out = Pushed { seen: rows.iter().map(|r| r.mapping_id).collect(), ..Pushed::default() };
        let mut to_push = Vec::new();
        for row in rows {
            match plan::customer_action(&row, force, self.settings.change_threshold) {
                CustomerAction::SkipUnchanged => out.skipped += 1,
                CustomerAction::Fail(reason) => {
                    out.record(SyncKind::Customer, row.mapping_id, &row.shopify_customer_id, Err(reason))
                }
                CustomerAction::Push(total) => to_push.push((row.mapping_id, row.shopify_customer_id, total)),
            }
        }
        if to_push.is_empty() {
            return Ok(out);
        }
        let shopify = configured(self.upstreams.shopify())?;
        let shopify = &*shopify;
        let calls = plan::chunks(&to_push, self.settings.max_metafields_per_call);
        let calls_in_flight: Vec<_> =
            calls.iter().enumerate().map(|(n, call)| tagged(n, metafields_call(shopify, call))).collect();
        let results: Vec<CallResult> = futures::stream::iter(calls_in_flight)
            .buffer_unordered(self.settings.calls_per_step.max(1))
            .try_collect()
            .await?;
        for (n, result) in in_call_order(results) {
            let call = &calls[n];
            for (i, r) in result {
                let (mapping_id, owner, _) = &call[i];
                out.record(SyncKind::Customer, *mapping_id, owner, r);
            }
        }
        Ok(out)
    }

    /// Reads the depot → location mapping; a sync without one cannot say where stock goes.
    pub async fn location_plan(&self, ctx: &StepContext) -> Result<LocationPlan, StepError> {
        let pairs = location_mappings(&ctx.db).await.map_err(|e| db_error("reading location mappings", e))?;
        LocationPlan::new(&pairs).ok_or_else(|| {
            StepError::permanent(
                "no Nhanh depot is mapped to a Shopify location: set the location mapping before syncing stock",
            )
        })
    }

    /// Products per full page under `plan`.
    pub fn product_page(&self, plan: &LocationPlan) -> i64 {
        let per_call = plan::products_per_call(plan.locations.len(), self.settings.max_quantities_per_call);
        (per_call * self.settings.calls_per_step.max(1)) as i64
    }

    /// Reads and pushes one page of product mappings, with stock fetched from Nhanh now.
    pub async fn products(
        &self,
        ctx: &StepContext,
        plan: &LocationPlan,
        scope: Scope<'_>,
    ) -> Result<Pushed, StepError> {
        let sel = match scope {
            Scope::After(after) => Selection::After { after, limit: self.product_page(plan) },
            Scope::Ids(ids) => Selection::Ids(ids),
        };
        let rows = store::product_rows(&ctx.db, sel).await.map_err(|e| db_error("reading product mappings", e))?;
        let mut out = Pushed { seen: rows.iter().map(|r| r.mapping_id).collect(), ..Pushed::default() };
        let mut ready: Vec<(ProductSyncRow, String)> = Vec::new();
        for row in rows {
            match row.inventory_item_id.clone() {
                Some(item) => ready.push((row, item)),
                None => {
                    let reason = format!(
                        "variant {} has no inventory item in the local catalog (pull Shopify products first)",
                        row.shopify_variant_id
                    );
                    out.record(SyncKind::Product, row.mapping_id, &row.shopify_variant_id, Err(reason));
                }
            }
        }
        if ready.is_empty() {
            return Ok(out);
        }
        let nhanh = configured(self.upstreams.nhanh())?;
        let shopify = configured(self.upstreams.shopify())?;
        let (nhanh, shopify) = (&*nhanh, &*shopify);
        let per_call = plan::products_per_call(plan.locations.len(), self.settings.max_quantities_per_call);
        let calls = plan::chunks(&ready, per_call);
        // Each call reads its own products' stock from Nhanh right before setting it, so Nhanh
        // reads and Shopify writes of different calls overlap.
        let calls_in_flight: Vec<_> = calls
            .iter()
            .enumerate()
            .map(|(n, call)| tagged(n, product_call(ctx, nhanh, shopify, plan, n, call)))
            .collect();
        let results: Vec<CallResult> = futures::stream::iter(calls_in_flight)
            .buffer_unordered(self.settings.calls_per_step.max(1))
            .try_collect()
            .await?;
        for (n, result) in in_call_order(results) {
            for (i, r) in result {
                let (row, _) = &calls[n][i];
                out.record(SyncKind::Product, row.mapping_id, &row.shopify_variant_id, r);
            }
        }
        Ok(out)
    }
}

/// A call's index in the step and the outcome of each of its items (by index in the call).
type CallResult = (usize, Vec<(usize, Result<Value, String>)>);

/// Calls complete in any order; outcomes are recorded in call order so a step's writes and
/// audit entries do not depend on timing.
fn in_call_order(mut results: Vec<CallResult>) -> Vec<CallResult> {
    results.sort_by_key(|(n, _)| *n);
    results
}

/// Stock per depot of each product Nhanh answered for; products it left out are absent.
///
/// Nhanh limits each URL separately (150 requests / 30 s), and `product/list` filtered by `ids`
/// carries the same per-depot stock as `product/inventory`; so calls alternate between the two
/// (`Endpoint`), doubling the read budget to 10 requests/s — above the ≈ 10 calls/s Shopify
/// allows — instead of capping the sync at half the throttle ceiling.
async fn fetch_stock(
    nhanh: &NhanhClient,
    ids: &[u64],
    via: Endpoint,
) -> Result<HashMap<u64, Vec<(u64, Option<f64>)>>, StepError> {
    let mut out = HashMap::new();
    for ids in plan::chunks(ids, NHANH_IDS_PER_CALL) {
        out.extend(stock_of(nhanh, ids, via).await?);
    }
    Ok(out)
}

/// Which Nhanh URL a call reads stock from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `product/inventory`.
    Inventory,
    /// `product/list` with an `ids` filter.
    List,
}

type Stock = Vec<(u64, Vec<(u64, Option<f64>)>)>;

/// Stock per depot of up to 100 products.
async fn stock_of(nhanh: &NhanhClient, ids: Vec<u64>, via: Endpoint) -> Result<Stock, StepError> {
    let depots = |inv: &NhanhInventory| inv.depots.iter().map(|d| (d.id, d.available)).collect::<Vec<_>>();
    let mut next = None;
    let mut out = Vec::new();
    // Bounded: 100 ids fill one page; a `next` Nhanh sends anyway is followed a few times.
    for _ in 0..10 {
        let next_page = match via {
            Endpoint::Inventory => {
                let filters = InventoryFilters { ids: ids.clone(), ..InventoryFilters::default() };
                let page = nhanh.product_inventory(&filters, next).await.map_err(step_error)?;
                out.extend(page.items.iter().map(|p| (p.product_id, depots(&p.inventory))));
                page.next
            }
            Endpoint::List => {
                let filters = ProductFilters { ids: ids.clone(), ..ProductFilters::default() };
                let page = nhanh.list_products(&filters, next).await.map_err(step_error)?;
                out.extend(page.items.iter().map(|p| (p.id, p.inventory.as_ref().map(depots).unwrap_or_default())));
                page.next
            }
        };
        match next_page {
            Some(n) if !n.is_null() => next = Some(n),
            _ => return Ok(out),
        }
    }
    Err(StepError::permanent("Nhanh kept paging past 10 pages for 100 product ids"))
}

/// A call's future, tagged with its index.
async fn tagged<T>(
    n: usize,
    call: impl std::future::Future<Output = Result<T, StepError>>,
) -> Result<(usize, T), StepError> {
    Ok((n, call.await?))
}

/// One `metafieldsSet` call, resent without the items Shopify rejected until the rest is set.
/// Returns each item's outcome by its index in the call.
async fn metafields_call(
    shopify: &ShopifyClient,
    call: &[(i64, String, i64)],
) -> Result<Vec<(usize, Result<Value, String>)>, StepError> {
    let mut remaining: Vec<usize> = (0..call.len()).collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let inputs: Vec<MetafieldInput> = remaining
            .iter()
            .map(|&i| MetafieldInput {
                owner_id: call[i].1.clone(),
                namespace: "custom".into(),
                key: "total_spent".into(),
                type_: "number_integer".into(),
                value: call[i].2.to_string(),
            })
            .collect();
        let reply = shopify.metafields_set(&inputs).await.map_err(step_error)?;
        if reply.user_errors.is_empty() {
            out.extend(remaining.drain(..).map(|i| (i, Ok(json!(call[i].2)))));
            break;
        }
        let rejected = plan::rejected_items(&reply.user_errors, remaining.len(), Some);
        let mut kept = Vec::new();
        for (pos, &i) in remaining.iter().enumerate() {
            match rejected.get(&pos) {
                Some(reason) => out.push((i, Err(reason.clone()))),
                None => kept.push(i),
            }
        }
        remaining = kept;
    }
    Ok(out)
}

/// One call's products: their stock read from Nhanh now (even calls from `product/inventory`,
/// odd ones from `product/list`; a product missing from the answer counts as 0), then one `inventorySetQuantities` under the step's key `batch-<n>`, resent
/// without the rejected products under `batch-<n>-retry-<k>` (a rejected call applied nothing).
/// A product's value is `{location: quantity}`.
async fn product_call(
    ctx: &StepContext,
    nhanh: &NhanhClient,
    shopify: &ShopifyClient,
    plan: &LocationPlan,
    n: usize,
    call: &[(ProductSyncRow, String)],
) -> Result<Vec<(usize, Result<Value, String>)>, StepError> {
    let ids: Vec<u64> = call.iter().filter_map(|(r, _)| u64::try_from(r.nhanh_product_id).ok()).collect();
    let via = [Endpoint::Inventory, Endpoint::List][n % 2];
    let stock = fetch_stock(nhanh, &ids, via).await?;
    let quantities: Vec<Vec<i64>> = call
        .iter()
        .map(|(row, _)| {
            let depots = u64::try_from(row.nhanh_product_id).ok().and_then(|id| stock.get(&id));
            plan.quantities(depots.map_or(&[][..], Vec::as_slice))
        })
        .collect();
    let locations = &plan.locations;
    let mut remaining: Vec<usize> = (0..call.len()).collect();
    let mut out = Vec::new();
    let mut attempt = 0usize;
    while !remaining.is_empty() {
        let inputs: Vec<InventoryQuantity> = remaining
            .iter()
            .flat_map(|&i| {
                locations.iter().zip(&quantities[i]).map(move |(l, q)| InventoryQuantity {
                    inventory_item_id: call[i].1.clone(),
                    location_id: l.clone(),
                    quantity: *q,
                })
            })
            .collect();
        let digest = contents_digest(&inputs);
        let key = match attempt {
            0 => ctx.idempotency_key(&format!("batch-{n}-{digest}")),
            k => ctx.idempotency_key(&format!("batch-{n}-retry-{k}-{digest}")),
        };
        let errors = shopify.inventory_set_quantities(&inputs, &key).await.map_err(step_error)?;
        if errors.is_empty() {
            out.extend(remaining.drain(..).map(|i| {
                let value: Map<String, Value> =
                    locations.iter().cloned().zip(quantities[i].iter().map(|q| json!(q))).collect();
                (i, Ok(Value::Object(value)))
            }));
            break;
        }
        let per_item = locations.len().max(1);
        let rejected = plan::rejected_items(&errors, remaining.len(), |q| Some(q / per_item));
        let mut kept = Vec::new();
        for (pos, &i) in remaining.iter().enumerate() {
            match rejected.get(&pos) {
                Some(reason) => out.push((i, Err(reason.clone()))),
                None => kept.push(i),
            }
        }
        remaining = kept;
        attempt += 1;
    }
    Ok(out)
}

/// A stable digest of an inventory call's contents (16 hex digits), part of its idempotency
/// key: a step re-run after a crash sends the same call under the same key, which Shopify
/// applies once; but if Nhanh's stock moved in between, the call carries other quantities and
/// must apply, or Shopify would keep the old quantities while the mapping records the new.
fn contents_digest(inputs: &[InventoryQuantity]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for q in inputs {
        h.update(format!("{}\u{1f}{}\u{1f}{}\u{1e}", q.inventory_item_id, q.location_id, q.quantity).as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}
