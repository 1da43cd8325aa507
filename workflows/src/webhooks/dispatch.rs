//! The dispatcher: recorded deliveries → small targeted jobs.
//!
//! Every `serve` and `worker` process runs one. A pass ([`Dispatcher::tick`]) waits until the
//! oldest recorded delivery is [`DispatchConfig::window`] old — so a burst becomes one job, not
//! one per delivery — then claims every waiting delivery with a fenced update (a claim token and
//! an expiry: two processes never hold one delivery), plans them ([`super::plan`]), asks the
//! engine for at most one job per kind with the touched mappings as its scope, and writes each
//! delivery's outcome and job id in one transaction. The request carries an idempotency key made
//! of the claim token and the kind, so a pass that dies between asking and writing does not make
//! a second job when its claim is taken over… with the same token; a new token makes a new job,
//! which is harmless (pushes are absolute sets, pulls and matches idempotent).
//!
//! Jobs are asked for with priority `Webhook`, so a free worker claims them before manual and
//! scheduled work. A targeted job asked for while a job of its type runs with another input
//! waits in the engine's queue behind it; one with the very same input would be answered with the
//! unfinished job, which may have read its items already, so its deliveries go back to the queue
//! instead and are dispatched once that job is done.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dongbo_engine::{Engine, EngineError, Existing, JobId, JobRequest, Priority};
use serde_json::Value;
use tokio::task::JoinHandle;

use super::plan::{self, Claimed, Decision, JobKind, Stage};
use super::{show_uninstalled, Touch, Touched};
use crate::catalog::store::webhooks::{self as store, Outcome};
use crate::notices::Notices;

/// How the dispatcher paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchConfig {
    /// How long the oldest delivery waits for others to join it (default 1 s).
    pub window: Duration,
    /// How often the store is looked at (default 100 ms).
    pub poll: Duration,
    /// How long a claim holds (default 60 s): a dispatcher that dies lets go after it.
    pub claim_for: Duration,
    /// Most deliveries in one pass.
    pub batch: i64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            window: Duration::from_secs(1),
            poll: Duration::from_millis(100),
            claim_for: Duration::from_secs(60),
            batch: 2_000,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Deliveries claimed.
    pub claimed: usize,
    /// Jobs asked for (new ones), by id.
    pub jobs: Vec<JobId>,
    /// Deliveries put back for a later pass.
    pub released: usize,
}

/// Why a pass failed (it is retried at the next poll).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed.
    #[error("webhook dispatcher: database: {0}")]
    Db(#[from] sqlx::Error),
    /// The engine refused.
    #[error("webhook dispatcher: {0}")]
    Engine(#[from] EngineError),
}

/// The dispatcher of one process.
#[derive(Clone)]
pub struct Dispatcher {
    engine: Engine,
    notices: Notices,
    config: DispatchConfig,
}

impl Dispatcher {
    /// A dispatcher asking `engine` for jobs and showing the uninstalled app on `notices`.
    pub fn new(engine: Engine, notices: Notices, config: DispatchConfig) -> Self {
        Dispatcher { engine, notices, config }
    }

    /// Runs passes every [`DispatchConfig::poll`] until aborted; a failed pass is logged.
    pub fn spawn(self) -> JoinHandle<()> {
        let me = Arc::new(self);
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.tick().await {
                    tracing::warn!("{e}");
                }
                tokio::time::sleep(me.config.poll).await;
            }
        })
    }

    /// One pass (see the module documentation).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn tick(&self) -> Result<TickReport, DispatchError> {
        let db = self.engine.store().db();
        let now_at = self.engine.clock().now();
        let now = now_at.timestamp_millis();
        let stopped = show_uninstalled(&db, &self.notices, now_at).await?;
        let window = self.config.window.as_millis() as i64;
        // WAITING deliveries are eligible at once; RECEIVED ones once the oldest is a window old.
        let received_by = match store::oldest_pending(&db, now).await? {
            Some(oldest) if oldest + window <= now => now,
            _ => -1,
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        let until = now + self.config.claim_for.as_millis() as i64;
        let rows = store::claim(&db, &token, now, until, received_by, self.config.batch).await?;
        let mut report = TickReport { claimed: rows.len(), ..TickReport::default() };
        if rows.is_empty() {
            return Ok(report);
        }
        let mut outcomes: Vec<(i64, Outcome)> = Vec::new();
        let mut batch: Vec<Claimed> = Vec::new();
        let mut pulls: HashMap<i64, String> = HashMap::new();
        let mut finished_pulls: HashMap<String, bool> = HashMap::new();
        for row in rows {
            let touches: Vec<Touched> = match serde_json::from_str(&row.touches) {
                Ok(t) => t,
                Err(e) => {
                    let note = format!("its stored touches are unreadable: {e}");
                    outcomes.push((row.id, Outcome::Closed { state: "IGNORED", note }));
                    continue;
                }
            };
            let stage = match (row.state.as_str(), &row.pull_job_id) {
                ("WAITING", Some(pull)) => {
                    let finished = match finished_pulls.get(pull) {
                        Some(&f) => f,
                        None => {
                            let f = match pull.parse::<JobId>() {
                                Ok(id) => self
                                    .engine
                                    .store()
                                    .job(id)
                                    .await
                                    .map_err(EngineError::from)?
                                    .is_none_or(|j| j.status.is_finished()),
                                Err(_) => true,
                            };
                            finished_pulls.insert(pull.clone(), f);
                            f
                        }
                    };
                    if !finished {
                        outcomes.push((row.id, Outcome::Released));
                        continue;
                    }
                    pulls.insert(row.id, pull.clone());
                    Stage::Pulled
                }
                _ => Stage::Fresh,
            };
            batch.push(Claimed { id: row.id, touches, stage });
        }
        let keys: Vec<String> = batch
            .iter()
            .filter(|d| d.stage == Stage::Fresh)
            .flat_map(|d| d.touches.iter().filter(|t| t.at.is_some()).filter_map(|t| t.touch.item_key()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let versions = store::versions(&db, &keys).await?;
        let plan = plan::plan(&batch, &versions, stopped);
        let mut wanted: BTreeMap<JobKind, Vec<(i64, Vec<Touch>)>> = BTreeMap::new();
        for (id, decision) in plan.decisions {
            match decision {
                Decision::Job(kind, touches) => wanted.entry(kind).or_default().push((id, touches)),
                Decision::Done => {
                    let job_id = pulls.get(&id).cloned().unwrap_or_default();
                    outcomes.push((id, Outcome::Dispatched { job_id, note: None }));
                }
                Decision::Ignore(note) => outcomes.push((id, Outcome::Closed { state: "IGNORED", note })),
                Decision::Stale(note) => outcomes.push((id, Outcome::Closed { state: "STALE", note })),
            }
        }
        for (kind, deliveries) in wanted {
            let done = self.ask(&db, &token, kind, deliveries).await?;
            if let Some(job) = done.job {
                report.jobs.push(job);
            }
            outcomes.extend(done.outcomes);
        }
        report.released = outcomes.iter().filter(|(_, o)| *o == Outcome::Released).count();
        let handled: HashSet<i64> =
            outcomes.iter().filter(|(_, o)| *o != Outcome::Released).map(|(id, _)| *id).collect();
        let versions: Vec<(String, i64)> = plan
            .versions
            .into_iter()
            .filter(|(_, (_, by))| handled.contains(by))
            .map(|(key, (at, _))| (key, at))
            .collect();
        store::finish(&db, &token, now, &outcomes, &versions).await?;
        Ok(report)
    }

    /// Asks for one job of `kind` for `deliveries`; their outcomes.
    async fn ask(
        &self,
        db: &dongbo_engine::Db,
        token: &str,
        kind: JobKind,
        deliveries: Vec<(i64, Vec<Touch>)>,
    ) -> Result<Asked, DispatchError> {
        let mut outcomes = Vec::new();
        // The syncs are scoped to mappings; deliveries that lead to none are closed here.
        let (input, deliveries) = match kind {
            JobKind::ProductSync | JobKind::CustomerSync => {
                let scoped = self.scope(db, kind, &deliveries).await?;
                let mut ids: Vec<i64> = Vec::new();
                let mut kept = Vec::new();
                for (id, touches) in deliveries {
                    match scoped.get(&id) {
                        Some(Ok(mappings)) => {
                            ids.extend(mappings);
                            kept.push((id, touches));
                        }
                        Some(Err(note)) => {
                            outcomes.push((id, Outcome::Closed { state: "IGNORED", note: note.clone() }))
                        }
                        None => outcomes
                            .push((id, Outcome::Closed { state: "IGNORED", note: "no mapped item is touched".into() })),
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                let delivery_ids: Vec<i64> = kept.iter().map(|(id, _)| *id).collect();
                (plan::sync_input(kind, &ids, &delivery_ids), kept)
            }
            _ => {
                let all: Vec<Touch> = deliveries.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
                (kind.input(&all), deliveries)
            }
        };
        if deliveries.is_empty() {
            return Ok(Asked { job: None, outcomes });
        }
        let ids: Vec<i64> = deliveries.iter().map(|(id, _)| *id).collect();
        let request = webhook_request(kind.job_type(), input, format!("webhooks:{token}:{kind:?}"), &ids);
        let requested = match self.engine.request(request).await {
            Ok(r) => r,
            Err(EngineError::InvalidInput(why)) => {
                let note = format!("{} refused the request: {why}", kind.job_type());
                outcomes.extend(ids.iter().map(|&id| (id, Outcome::Closed { state: "IGNORED", note: note.clone() })));
                return Ok(Asked { job: None, outcomes });
            }
            Err(e) => return Err(e.into()),
        };
        if requested.existing == Some(Existing::AlreadyRunning) {
            outcomes.extend(ids.iter().map(|&id| (id, Outcome::Released)));
            return Ok(Asked { job: None, outcomes });
        }
        let job_id = requested.job.id.to_string();
        for (id, touches) in &deliveries {
            let outcome = if kind.is_first_of_two(touches) {
                Outcome::Waiting { job_id: job_id.clone() }
            } else {
                Outcome::Dispatched { job_id: job_id.clone(), note: None }
            };
            outcomes.push((*id, outcome));
        }
        let new = requested.existing.is_none().then_some(requested.job.id);
        Ok(Asked { job: new, outcomes })
    }

    /// Per delivery, the mappings a sync of `kind` pushes for it, or why none.
    async fn scope(
        &self,
        db: &dongbo_engine::Db,
        kind: JobKind,
        deliveries: &[(i64, Vec<Touch>)],
    ) -> Result<HashMap<i64, Result<Vec<i64>, String>>, DispatchError> {
        let mut out: HashMap<i64, Result<Vec<i64>, String>> = HashMap::new();
        if kind == JobKind::CustomerSync {
            let nhanh: Vec<i64> = all(deliveries, |t| match t {
                Touch::NhanhCustomerTotal { customer_id } => Some(*customer_id),
                _ => None,
            });
            let by_nhanh: HashMap<i64, i64> =
                store::customer_mappings_of_nhanh(db, &nhanh).await?.into_iter().map(|(m, n)| (n, m)).collect();
            for (id, touches) in deliveries {
                let mappings: Vec<i64> = touches
                    .iter()
                    .filter_map(|t| match t {
                        Touch::NhanhCustomerTotal { customer_id } => by_nhanh.get(customer_id).copied(),
                        _ => None,
                    })
                    .collect();
                if !mappings.is_empty() {
                    out.insert(*id, Ok(mappings));
                }
            }
            return Ok(out);
        }
        let nhanh: Vec<i64> = all(deliveries, |t| match t {
            Touch::NhanhStock { product_id } => Some(*product_id),
            _ => None,
        });
        let items: Vec<String> = all(deliveries, |t| match t {
            Touch::ShopifyStock { inventory_item_id, .. } => Some(inventory_item_gid(*inventory_item_id)),
            _ => None,
        });
        let by_nhanh: HashMap<i64, i64> = store::product_mappings_of_nhanh(db, &nhanh)
            .await?
            .into_iter()
            .map(|h| (h.nhanh_product_id, h.mapping_id))
            .collect();
        let by_item: HashMap<String, store::ProductMappingHit> = store::product_mappings_of_items(db, &items)
            .await?
            .into_iter()
            .filter_map(|h| h.inventory_item_id.clone().map(|i| (i, h)))
            .collect();
        for (id, touches) in deliveries {
            let mut mappings = Vec::new();
            let mut echoes = 0;
            for t in touches {
                match t {
                    Touch::NhanhStock { product_id } => mappings.extend(by_nhanh.get(product_id)),
                    Touch::ShopifyStock { inventory_item_id, location_id, available } => {
                        let Some(hit) = by_item.get(&inventory_item_gid(*inventory_item_id)) else { continue };
                        let pushed = hit
                            .synced_value
                            .as_ref()
                            .and_then(|v| v.get(location_gid(*location_id)))
                            .and_then(Value::as_i64);
                        if available.is_some() && pushed == *available {
                            echoes += 1;
                        } else {
                            mappings.push(hit.mapping_id);
                        }
                    }
                    _ => {}
                }
            }
            if !mappings.is_empty() {
                out.insert(*id, Ok(mappings));
            } else if echoes > 0 {
                out.insert(
                    *id,
                    Err("Shopify's number is the one dongbo last pushed (an echo of its own write)".into()),
                );
            }
        }
        Ok(out)
    }
}

struct Asked {
    job: Option<JobId>,
    outcomes: Vec<(i64, Outcome)>,
}

fn all<T: Ord>(deliveries: &[(i64, Vec<Touch>)], f: impl Fn(&Touch) -> Option<T>) -> Vec<T> {
    let mut out: Vec<T> = deliveries.iter().flat_map(|(_, t)| t.iter().filter_map(&f)).collect();
    out.sort();
    out.dedup();
    out
}

/// `gid://shopify/InventoryItem/<id>`.
pub fn inventory_item_gid(id: i64) -> String {
    format!("gid://shopify/InventoryItem/{id}")
}

/// `gid://shopify/Location/<id>`.
pub fn location_gid(id: i64) -> String {
    format!("gid://shopify/Location/{id}")
}

/// The request of a job the dispatcher asks for, on behalf of `deliveries` (named in who asks,
/// the audit trail's first line).
fn webhook_request(job_type: &str, input: Value, key: String, deliveries: &[i64]) -> JobRequest {
    const SHOWN: usize = 20;
    let mut by = format!(
        "webhooks (deliveries {}",
        deliveries.iter().take(SHOWN).map(i64::to_string).collect::<Vec<_>>().join(", ")
    );
    if deliveries.len() > SHOWN {
        by.push_str(&format!(" and {} more", deliveries.len() - SHOWN));
    }
    by.push(')');
    // Webhook work is claimed before manual and scheduled work (the engine's queue).
    JobRequest {
        job_type: job_type.to_owned(),
        input,
        idempotency_key: Some(key),
        requested_by: by,
        priority: Priority::Webhook,
    }
}
