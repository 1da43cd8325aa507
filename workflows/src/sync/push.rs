//! One page of mappings pushed to Shopify, with the outcome of every item: what the full syncs
//! and `RETRY_FAILED_SYNC` share.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use dongbo_engine::{EntityRef, JobId, StepContext, StepError};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

use super::plan::{self, CustomerAction, LocationPlan, LocationStock, ProductStock, StockPlan};
use super::{configured, db_error, step_error, SyncSettings, Written};
use crate::catalog::store::pulls::location_mappings;
use crate::catalog::store::sync::{self as store, ProductSyncRow, Selection, SyncKind, SyncOutcomes};
use crate::connectors::nhanh::types::{InventoryFilters, NhanhInventory, Parsed, ProductFilters};
use crate::connectors::shopify::documents::TOTAL_SPENT;
use crate::connectors::shopify::{InventoryQuantity, MetafieldInput};
use crate::connectors::{NhanhClient, ShopifyClient};
use crate::upstreams::Upstreams;

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
    /// Items not sent because Shopify showed the value the step's cut-off run had set, when the
    /// step read them back (counted among `synced`: see [`ReadBack`]).
    pub already_set: i64,
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

/// Whether a step reads back what Shopify shows before it writes.
///
/// A step that runs again after its first run was cut off (its worker killed, its commit lost,
/// the step failed) may find some of its calls already applied. It reads its items back first
/// and does not send an item whose value Shopify shows *and changed since the step before began*
/// (`updatedAt`, at Shopify's one-second resolution): that is the cut-off run's write, which
/// landed. An item whose value was already right before is sent as on any run, so the step ends
/// with the outcome an uninterrupted run has (the chaos suite holds it to that). A first run
/// sends without reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadBack {
    /// The page's writes cannot have been sent before: send them.
    No,
    /// The page may have been sent in part since this time: read each call's items back first.
    Since(DateTime<Utc>),
}

impl ReadBack {
    /// For a step of claim `ctx.attempt`, whose checkpoint says which claim's step wrote it and
    /// when that step began (`written`): the first step of a later claim reads back, from that
    /// time on (the claim before may have been cut off within this very page). Records this step
    /// in `written`. The job's very first step has no time to read back from, and sends.
    pub fn for_step(ctx: &StepContext, written: &mut Written) -> ReadBack {
        ReadBack::decide(ctx.attempt, ctx.clock.now().timestamp_millis(), written)
    }

    /// [`ReadBack::for_step`] for a step of claim `attempt` beginning at `now_ms`. The time read
    /// back from is the second the step before began in (Shopify's times have whole seconds).
    fn decide(attempt: u32, now_ms: i64, written: &mut Written) -> ReadBack {
        let later_claim = attempt > 1 && written.claim != attempt;
        let since = DateTime::from_timestamp(written.at_ms.div_euclid(1000), 0).filter(|_| written.at_ms > 0);
        *written = Written { claim: attempt, at_ms: now_ms };
        match since {
            Some(since) if later_claim => ReadBack::Since(since),
            _ => ReadBack::No,
        }
    }

    /// Whether a value Shopify shows, changed at `updated_at`, is this page's own write.
    fn written_since(&self, updated_at: DateTime<Utc>) -> bool {
        matches!(self, ReadBack::Since(since) if updated_at >= *since)
    }
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
    pub async fn customers(
        &self,
        ctx: &StepContext,
        scope: Scope<'_>,
        force: bool,
        read_back: ReadBack,
    ) -> Result<Pushed, StepError> {
        let sel = match scope {
            Scope::After(after) => Selection::After { after, limit: self.customer_page() },
            Scope::Ids(ids) => Selection::Ids(ids),
        };
        let rows = store::customer_rows(&ctx.db, sel).await.map_err(|e| db_error("reading customer mappings", e))?;
        let mut out = Pushed { seen: rows.iter().map(|r| r.mapping_id).collect(), ..Pushed::default() };
        let mut to_push: Vec<(i64, String, i64)> = Vec::new();
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
        if read_back != ReadBack::No {
            let owners: Vec<String> = to_push.iter().map(|(_, owner, _)| owner.clone()).collect();
            let shown = shopify
                .customer_metafields(&owners, TOTAL_SPENT.namespace, TOTAL_SPENT.key)
                .await
                .map_err(step_error)?;
            to_push.retain(|(mapping_id, owner, total)| {
                let set = shown.get(owner).and_then(Option::as_ref).is_some_and(|m| {
                    m.value == total.to_string()
                        && m.type_ == TOTAL_SPENT.type_
                        && read_back.written_since(m.updated_at)
                });
                if set {
                    out.already_set += 1;
                    out.record(SyncKind::Customer, *mapping_id, owner, Ok(json!(total)));
                }
                !set
            });
        }
        let calls = plan::chunks(&to_push, self.settings.max_metafields_per_call);
        let calls_in_flight: Vec<_> =
            calls.iter().enumerate().map(|(n, call)| tagged(n, metafields_call(shopify, call))).collect();
        let results: Vec<(usize, Outcomes)> = futures::stream::iter(calls_in_flight)
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

    /// Decides where stock goes: the depot → location mapping, or — with none and exactly one
    /// active Shopify location — every Nhanh depot (`business/depot`) onto that location; and
    /// which mapped depots the Nhanh token does not cover (`app/checkaccesstoken`). With no
    /// mapping and not exactly one active location, fails naming the Locations panel.
    pub async fn location_plan(&self, ctx: &StepContext) -> Result<StockPlan, StepError> {
        let mapped = location_mappings(&ctx.db).await.map_err(|e| db_error("reading location mappings", e))?;
        let nhanh = configured(self.upstreams.nhanh())?;
        let mut plan = StockPlan { pairs: mapped, ..StockPlan::default() };
        if plan.pairs.is_empty() {
            let shopify = configured(self.upstreams.shopify())?;
            let locations = shopify.locations().await.map_err(step_error)?;
            let active: Vec<_> = locations.into_iter().filter(|l| l.is_active == Some(true)).collect();
            let [only] = active.as_slice() else {
                return Err(StepError::permanent(format!(
                    "no Nhanh depot is mapped to a Shopify location and the shop has {} active locations, so \
                     there is no single one to default to: map depots to locations in the dashboard's Locations \
                     panel before syncing stock",
                    active.len()
                )));
            };
            let depots = nhanh.business_depots().await.map_err(step_error)?;
            if depots.is_empty() {
                return Err(StepError::permanent(
                    "Nhanh's business/depot listed no depot: map depots to locations in the dashboard's Locations panel",
                ));
            }
            plan.pairs = depots.iter().map(|d| (d.id, only.id.clone())).collect();
            plan.default_location = Some(only.id.clone());
        }
        if nhanh.can_check_access_token() {
            let info = nhanh.check_access_token().await.map_err(step_error)?;
            let mut uncovered: Vec<u64> = plan.pairs.iter().map(|(d, _)| *d).filter(|d| !info.covers(*d)).collect();
            uncovered.sort_unstable();
            uncovered.dedup();
            if !uncovered.is_empty() {
                // Named in the job's metadata as the dashboard names them (business/depot).
                let depots = nhanh.business_depots().await.map_err(step_error)?;
                plan.uncovered_depot_names =
                    depots.into_iter().filter(|d| uncovered.contains(&d.id)).map(|d| (d.id, d.name)).collect();
            }
            plan.uncovered_depots = uncovered;
        } else {
            plan.coverage_unchecked = Some(
                "NHANH_SECRET_KEY is not set, so app/checkaccesstoken cannot run; depots absent from Nhanh's \
                 replies are skipped, never counted as 0"
                    .into(),
            );
        }
        Ok(plan)
    }

    /// Products per full page under `plan`.
    pub fn product_page(&self, plan: &StockPlan) -> i64 {
        let locations = plan.locations().map_or(1, |l| l.locations.len());
        let per_call = plan::products_per_call(locations, self.settings.max_quantities_per_call);
        (per_call * self.settings.calls_per_step.max(1)) as i64
    }

    /// Reads and pushes one page of product mappings, with stock fetched from Nhanh now.
    pub async fn products(
        &self,
        ctx: &StepContext,
        stock_plan: &StockPlan,
        scope: Scope<'_>,
        read_back: ReadBack,
    ) -> Result<Pushed, StepError> {
        let plan = &stock_plan.locations().ok_or_else(|| {
            StepError::permanent(
                "no Nhanh depot feeds a Shopify location: map depots in the dashboard's Locations panel",
            )
        })?;
        let uncovered = &stock_plan.uncovered();
        let sel = match scope {
            Scope::After(after) => Selection::After { after, limit: self.product_page(stock_plan) },
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
            .map(|(n, call)| tagged(n, product_call(ctx, nhanh, shopify, (plan, uncovered), (n, read_back), call)))
            .collect();
        let results: Vec<(usize, (Outcomes, i64))> = futures::stream::iter(calls_in_flight)
            .buffer_unordered(self.settings.calls_per_step.max(1))
            .try_collect()
            .await?;
        for (n, (result, already_set)) in in_call_order(results) {
            out.already_set += already_set;
            for (i, r) in result {
                let (row, _) = &calls[n][i];
                out.record(SyncKind::Product, row.mapping_id, &row.shopify_variant_id, r);
            }
        }
        Ok(out)
    }
}

/// The outcome of each item of a call (by index in the call).
type Outcomes = Vec<(usize, Result<Value, String>)>;

/// Calls complete in any order; outcomes are recorded in call order so a step's writes and
/// audit entries do not depend on timing.
fn in_call_order<T>(mut results: Vec<(usize, T)>) -> Vec<(usize, T)> {
    results.sort_by_key(|(n, _)| *n);
    results
}

/// What Nhanh said of each product it answered for (rows per depot, or why its row could not
/// be read); products it left out are absent.
///
/// Nhanh limits each URL separately (150 requests / 30 s), and `product/list` filtered by `ids`
/// carries the same per-depot stock as `product/inventory` (both nest it under `inventory`);
/// so calls alternate between the two (`Endpoint`), doubling the read budget to 10 requests/s
/// — above the ≈ 10 calls/s Shopify allows — instead of capping the sync at half the throttle
/// ceiling.
async fn fetch_stock(nhanh: &NhanhClient, ids: &[u64], via: Endpoint) -> Result<HashMap<u64, ProductStock>, StepError> {
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

/// A product's rows per depot, `(depot, available)`; a product without an `inventory` block
/// has no rows (so every mapped depot reads as absent, never as 0).
fn depot_rows(inv: Option<&NhanhInventory>) -> ProductStock {
    ProductStock::Depots(inv.map(|i| i.depots.iter().map(|d| (d.id, d.available)).collect()).unwrap_or_default())
}

/// What Nhanh said of up to 100 products; a row that fails to parse marks its product (when
/// its id can be read) unreadable instead of failing the call.
async fn stock_of(nhanh: &NhanhClient, ids: Vec<u64>, via: Endpoint) -> Result<Vec<(u64, ProductStock)>, StepError> {
    let mut next = None;
    let mut out = Vec::new();
    // Bounded: 100 ids fill one page; a `next` Nhanh sends anyway is followed a few times.
    for _ in 0..10 {
        let next_page = match via {
            Endpoint::Inventory => {
                let filters = InventoryFilters { ids: ids.clone(), ..InventoryFilters::default() };
                let page = nhanh.product_inventory_rows(&filters, next).await.map_err(step_error)?;
                out.extend(page.items.into_iter().filter_map(|row| match row {
                    Parsed::Row(p) => Some((p.product_id, depot_rows(p.inventory.as_ref()))),
                    Parsed::Unreadable { id, reason } => id.map(|id| (id, ProductStock::Unreadable(reason))),
                }));
                page.next
            }
            Endpoint::List => {
                let filters = ProductFilters { ids: ids.clone(), ..ProductFilters::default() };
                let page = nhanh.list_product_rows(&filters, next).await.map_err(step_error)?;
                out.extend(page.items.into_iter().filter_map(|row| match row {
                    Parsed::Row(p) => Some((p.id, depot_rows(p.inventory.as_ref()))),
                    Parsed::Unreadable { id, reason } => id.map(|id| (id, ProductStock::Unreadable(reason))),
                }));
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
async fn metafields_call(shopify: &ShopifyClient, call: &[(i64, String, i64)]) -> Result<Outcomes, StepError> {
    let mut remaining: Vec<usize> = (0..call.len()).collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let inputs: Vec<MetafieldInput> = remaining
            .iter()
            .map(|&i| MetafieldInput {
                owner_id: call[i].1.clone(),
                namespace: TOTAL_SPENT.namespace.into(),
                key: TOTAL_SPENT.key.into(),
                type_: TOTAL_SPENT.type_.into(),
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
/// odd ones from `product/list`); when the step reads back ([`ReadBack::Since`]), their
/// quantities read from Shopify, and a product whose every sendable quantity the cut-off run
/// had set recorded as pushed without being sent (counted in the second value returned); then one
/// `inventorySetQuantities` under the step's key
/// `batch-<n>`, resent without the rejected products under `batch-<n>-retry-<k>` (a rejected
/// call applied nothing). Only locations whose every depot was read are sent; a product with
/// any location unknown (missing from the reply, an absent or unreadable row, a depot the token
/// does not cover) fails with the reason, so RETRY_FAILED_SYNC takes it up again — nothing is
/// ever sent as 0 that was not read as 0. A pushed product's value is `{location: quantity}`.
async fn product_call(
    ctx: &StepContext,
    nhanh: &NhanhClient,
    shopify: &ShopifyClient,
    (plan, uncovered): (&LocationPlan, &BTreeSet<u64>),
    (n, read_back): (usize, ReadBack),
    call: &[(ProductSyncRow, String)],
) -> Result<(Outcomes, i64), StepError> {
    let ids: Vec<u64> = call.iter().filter_map(|(r, _)| u64::try_from(r.nhanh_product_id).ok()).collect();
    let via = [Endpoint::Inventory, Endpoint::List][n % 2];
    let stock = fetch_stock(nhanh, &ids, via).await?;
    let locations = &plan.locations;
    let mut out = Vec::new();
    // Per product: the `(location index, quantity)` it can send, and why the rest cannot.
    let mut sendable: Vec<Vec<(usize, i64)>> = vec![Vec::new(); call.len()];
    let mut unknown: Vec<Option<String>> = vec![None; call.len()];
    for (i, (row, _)) in call.iter().enumerate() {
        let product = u64::try_from(row.nhanh_product_id).ok().and_then(|id| stock.get(&id));
        let mut why = Vec::new();
        for (l, s) in plan.stock(product, uncovered).into_iter().enumerate() {
            match s {
                LocationStock::Known(q) => sendable[i].push((l, q)),
                LocationStock::Unknown(reason) => why.push(format!("{}: {reason}", locations[l])),
            }
        }
        if !why.is_empty() {
            unknown[i] = Some(format!(
                "Nhanh product {}: stock not known, nothing sent for {} ({})",
                row.nhanh_product_id,
                if sendable[i].is_empty() { "any location" } else { "some locations" },
                why.join("; ")
            ));
        }
    }
    let mut remaining: Vec<usize> = (0..call.len()).filter(|&i| !sendable[i].is_empty()).collect();
    for i in (0..call.len()).filter(|&i| sendable[i].is_empty()) {
        out.push((i, Err(unknown[i].clone().unwrap_or_else(|| "no location to send stock to".into()))));
    }
    let pushed = |i: usize| -> Result<Value, String> {
        match &unknown[i] {
            Some(reason) => Err(reason.clone()),
            None => Ok(Value::Object(sendable[i].iter().map(|&(l, q)| (locations[l].clone(), json!(q))).collect())),
        }
    };
    let mut already_set = 0;
    if read_back != ReadBack::No && !remaining.is_empty() {
        let pairs: Vec<(String, String)> = remaining
            .iter()
            .flat_map(|&i| sendable[i].iter().map(move |&(l, _)| (call[i].1.clone(), locations[l].clone())))
            .collect();
        let shown = shopify.available_quantities(&pairs).await.map_err(step_error)?;
        remaining.retain(|&i| {
            let set = sendable[i].iter().all(|&(l, q)| {
                let level = shown.get(&(call[i].1.clone(), locations[l].clone())).copied().flatten();
                level.is_some_and(|level| level.available == q && read_back.written_since(level.updated_at))
            });
            if set {
                already_set += 1;
                out.push((i, pushed(i)));
            }
            !set
        });
    }
    let mut attempt = 0usize;
    while !remaining.is_empty() {
        let mut owners = Vec::new();
        let mut inputs: Vec<InventoryQuantity> = Vec::new();
        for (pos, &i) in remaining.iter().enumerate() {
            for &(l, q) in &sendable[i] {
                owners.push(pos);
                inputs.push(InventoryQuantity {
                    inventory_item_id: call[i].1.clone(),
                    location_id: locations[l].clone(),
                    quantity: q,
                });
            }
        }
        let digest = contents_digest(&inputs);
        let key = match attempt {
            0 => ctx.idempotency_key(&format!("batch-{n}-{digest}")),
            k => ctx.idempotency_key(&format!("batch-{n}-retry-{k}-{digest}")),
        };
        let errors = shopify.inventory_set_quantities(&inputs, &key).await.map_err(step_error)?;
        if errors.is_empty() {
            out.extend(remaining.drain(..).map(|i| (i, pushed(i))));
            break;
        }
        let rejected = plan::rejected_items(&errors, remaining.len(), |q| owners.get(q).copied());
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
    out.sort_by_key(|(i, _)| *i);
    Ok((out, already_set))
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

#[cfg(test)]
mod read_back_tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn only_the_first_step_of_a_later_claim_reads_back_from_when_the_step_before_began() {
        let began = at("2026-12-07T10:00:00.750Z").timestamp_millis();
        // The job's first step, first claim: nothing can have been sent before.
        let mut written = Written::default();
        assert_eq!(ReadBack::decide(1, began, &mut written), ReadBack::No);
        assert_eq!(written, Written { claim: 1, at_ms: began });
        // Its next step, same claim: sends.
        let mut next = written;
        assert_eq!(ReadBack::decide(1, began + 5_000, &mut next), ReadBack::No);
        // The same checkpoint claimed again (the claim before was cut off): reads back from the
        // whole second the step before began in.
        let mut again = written;
        assert_eq!(ReadBack::decide(2, began + 40_000, &mut again), ReadBack::Since(at("2026-12-07T10:00:00Z")));
        assert_eq!(again.claim, 2);
        // ... and only its first step does.
        assert_eq!(ReadBack::decide(2, began + 41_000, &mut again), ReadBack::No);
        // A job cut off in its very first step has no time to read back from.
        assert_eq!(ReadBack::decide(2, began, &mut Written::default()), ReadBack::No);
    }

    #[test]
    fn a_value_is_the_cut_off_runs_when_it_changed_at_or_after_that_second() {
        let read_back = ReadBack::Since(at("2026-12-07T10:00:00Z"));
        assert!(read_back.written_since(at("2026-12-07T10:00:00Z")));
        assert!(read_back.written_since(at("2026-12-07T10:03:00Z")));
        assert!(!read_back.written_since(at("2026-12-07T09:59:59Z")), "a value that was already there is sent");
        assert!(!ReadBack::No.written_since(at("2026-12-07T10:03:00Z")));
    }
}
