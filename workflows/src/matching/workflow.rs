//! AUTO_MATCH_PRODUCTS and AUTO_MATCH_CUSTOMERS: one workflow over a [`MatchKind`].
//!
//! Steps: `start` (sets `total` = eligible Nhanh records holding a key, and forgets the kind's
//! old conflicts), then one `batch` per key range (the checkpoint is the last key decided and
//! the batch index, so a crash redoes at most that batch; its writes commit with that checkpoint,
//! so a redone batch reads afresh what an unfinished one left unwritten),
//! then `prune` (deletes non-manual mappings of records that no longer hold a key), the step
//! that finds no key left, which completes the job; the stale mappings are read with that
//! finding, ahead of it (`read_ahead`). A dry run computes the same and writes nothing; its
//! summary holds the counts and a sample of what would be mapped.

use std::sync::Arc;

use async_trait::async_trait;
use dongbo_engine::{EntityRef, Progress, Step, StepContext, StepError, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::decide::BatchDecision;
use super::read_ahead::{Ahead, AheadKey, ReadAhead};
use super::strategy::Strategy;
use crate::catalog::store::matching::{
    self as store, ClearConflicts, MappingWrite, MatchKind, MatchWrites, PruneStaleMappings,
};

/// Key rows per batch unless the input says otherwise. Each batch is one step: a transaction,
/// its events and the projection, and a few planned statements. At 20,000 those fixed costs
/// are a small part of a batch's work, a crash redoes about a second of work, and a batch's
/// rows take a few MB.
pub const DEFAULT_BATCH: u32 = 20_000;
/// Mappings kept in the summary's sample.
const SAMPLE: usize = 20;

/// The input of both match job types.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchInput {
    /// How to work through the keys (customers; products always stream in memory).
    #[serde(default)]
    pub strategy: Strategy,
    /// Report what would be mapped without writing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Nhanh key rows per batch (default 20,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
}

/// Where the job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Count and clear.
    Start,
    /// Batches of keys.
    Batches,
    /// Delete mappings of records without keys, complete. Only a checkpoint written by an
    /// earlier release stops here: the batches now end with the prune.
    Prune,
}

/// Running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Nhanh records decided.
    pub considered: i64,
    /// Of which mapped.
    pub matched: i64,
    /// Mappings created.
    pub created: i64,
    /// Mappings repointed to another Shopify record.
    pub changed: i64,
    /// Mappings confirmed as they were.
    pub unchanged: i64,
    /// Mappings deleted (no longer hold).
    pub removed: i64,
    /// Conflicting keys.
    pub conflicts: i64,
}

/// One mapping of the summary's sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleMapping {
    /// Nhanh record.
    pub nhanh_id: i64,
    /// Shopify record.
    pub shopify_id: String,
    /// The key.
    pub key: String,
    /// `created`, `changed` or `unchanged`.
    pub change: String,
}

/// The checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchState {
    /// Where the job is.
    pub phase: Phase,
    /// The last key decided ("" before the first batch).
    pub cursor: String,
    /// Batches done.
    pub batch: u32,
    /// Running totals.
    pub counts: Counts,
    /// The first mappings decided.
    pub sample: Vec<SampleMapping>,
}

/// The match workflow for one kind.
#[derive(Debug, Clone)]
pub struct AutoMatch {
    /// What it matches.
    pub kind: MatchKind,
    /// The next batch, read while the engine commits the last one.
    ahead: Arc<ReadAhead>,
}

impl AutoMatch {
    /// The workflow matching `kind`.
    pub fn new(kind: MatchKind) -> AutoMatch {
        AutoMatch { kind, ahead: Arc::default() }
    }

    /// Which step reads the batch after `cursor`.
    fn ahead_key(&self, ctx: &StepContext, input: &MatchInput, cursor: &str) -> AheadKey {
        AheadKey {
            job: ctx.job_id,
            attempt: ctx.attempt,
            cursor: cursor.to_owned(),
            strategy: self.strategy(input),
            size: i64::from(input.batch_size.unwrap_or(DEFAULT_BATCH)),
        }
    }

    fn method(&self, key: &str) -> String {
        match self.kind {
            MatchKind::Customers => "phone".into(),
            MatchKind::Products => key.split_once(':').map_or("sku", |(m, _)| m).into(),
        }
    }

    fn entity(&self) -> &'static str {
        match self.kind {
            MatchKind::Customers => "nhanh_customer",
            MatchKind::Products => "nhanh_product",
        }
    }

    fn strategy(&self, input: &MatchInput) -> Strategy {
        match self.kind {
            MatchKind::Customers => input.strategy,
            MatchKind::Products => Strategy::Memory,
        }
    }

    fn metadata(&self, input: &MatchInput, counts: &Counts, cursor: &str) -> serde_json::Value {
        json!({
            "strategy": self.strategy(input).as_str(), "dryRun": input.dry_run, "conflicts": counts.conflicts,
            "created": counts.created, "changed": counts.changed, "unchanged": counts.unchanged,
            "removed": counts.removed, "lastKey": cursor,
        })
    }

    fn batch_step(
        &self,
        ctx: &StepContext,
        input: &MatchInput,
        mut state: MatchState,
        upto: String,
        d: BatchDecision,
    ) -> Step<MatchState> {
        let mut writes = MatchWrites {
            kind: self.kind,
            job: ctx.job_id,
            now_ms: ctx.clock.now().timestamp_millis(),
            inserts: Vec::new(),
            upserts: Vec::new(),
            deletes: Vec::new(),
            conflicts: d.conflicts,
        };
        let mut touched = Vec::new();
        let mappings: std::collections::HashMap<i64, &super::decide::Mapping> =
            d.mappings.iter().map(|m| (m.nhanh_id, m)).collect();
        let c = &mut state.counts;
        for n in &d.considered {
            let change = match (mappings.get(&n.nhanh_id), &n.existing) {
                (Some(m), Some(old)) if *old == m.shopify_id => {
                    c.unchanged += 1;
                    "unchanged"
                }
                (Some(_), old) => {
                    if old.is_some() {
                        c.changed += 1;
                        "changed"
                    } else {
                        c.created += 1;
                        "created"
                    }
                }
                (None, Some(_)) => {
                    c.removed += 1;
                    writes.deletes.push(n.nhanh_id);
                    touched.push(EntityRef {
                        kind: self.entity().into(),
                        id: n.nhanh_id.to_string(),
                        action: "unmapped".into(),
                    });
                    continue;
                }
                (None, None) => continue,
            };
            let m = mappings[&n.nhanh_id];
            if change != "unchanged" {
                let write = MappingWrite {
                    nhanh_id: m.nhanh_id,
                    shopify_id: m.shopify_id.clone(),
                    method: self.method(&m.key),
                    key: m.key.clone(),
                };
                // A record the batch read no mapping of gets a plain insert (`MatchWrites`).
                if n.existing.is_none() {
                    writes.inserts.push(write)
                } else {
                    writes.upserts.push(write)
                }
                touched.push(EntityRef {
                    kind: self.entity().into(),
                    id: m.nhanh_id.to_string(),
                    action: format!("mapped:{change}"),
                });
            }
            if state.sample.len() < SAMPLE {
                state.sample.push(SampleMapping {
                    nhanh_id: m.nhanh_id,
                    shopify_id: m.shopify_id.clone(),
                    key: m.key.clone(),
                    change: change.into(),
                });
            }
        }
        c.considered += d.considered.len() as i64;
        c.matched += d.mappings.len() as i64;
        c.conflicts += writes.conflicts.len() as i64;
        let progress = Progress {
            total: None,
            processed: d.considered.len() as i64,
            successful: d.mappings.len() as i64,
            failed: 0,
            metadata: Some(self.metadata(input, &state.counts, &upto)),
        };
        let note = format!(
            "keys after {:?} up to {upto:?}: {} mapped, {} conflicts",
            state.cursor,
            d.mappings.len(),
            writes.conflicts.len()
        );
        state.cursor = upto;
        state.batch += 1;
        let step = Step::next("batch", state).with_progress(progress).with_note(note);
        if input.dry_run {
            step
        } else {
            step.with_effects(writes).with_touched(touched)
        }
    }

    /// The last step: deletes the non-manual mappings of the Nhanh records `stale` (those still
    /// stale when it commits) and completes the job with its summary.
    fn prune_step(&self, input: &MatchInput, mut state: MatchState, stale: Vec<i64>) -> Step<MatchState> {
        state.counts.removed += stale.len() as i64;
        let c = &state.counts;
        let summary = json!({
            "strategy": self.strategy(input).as_str(), "dryRun": input.dry_run, "batches": state.batch,
            "considered": c.considered, "matched": c.matched, "created": c.created, "changed": c.changed,
            "unchanged": c.unchanged, "removed": c.removed, "conflicts": c.conflicts, "sample": state.sample,
        });
        let progress = Progress { metadata: Some(self.metadata(input, c, &state.cursor)), ..Progress::default() };
        let step = Step::complete("prune", summary).with_progress(progress);
        if input.dry_run {
            step
        } else {
            step.with_effects(PruneStaleMappings { kind: self.kind, nhanh_ids: stale })
        }
    }
}

fn db_error(e: sqlx::Error) -> StepError {
    StepError::transient(format!("catalog: {e}"))
}

#[async_trait]
impl Workflow for AutoMatch {
    type Input = MatchInput;
    type State = MatchState;

    fn job_type(&self) -> &'static str {
        match self.kind {
            MatchKind::Products => super::PRODUCTS.name(),
            MatchKind::Customers => super::CUSTOMERS.name(),
        }
    }

    fn validate(&self, input: &MatchInput) -> Result<(), String> {
        match input.batch_size {
            Some(n) if !(1..=100_000).contains(&n) => Err("batchSize must be between 1 and 100,000".into()),
            _ => Ok(()),
        }
    }

    fn concurrency_key(&self, _input: &MatchInput) -> Option<String> {
        Some(self.job_type().into())
    }

    fn initial_state(&self, _input: &MatchInput) -> MatchState {
        MatchState {
            phase: Phase::Start,
            cursor: String::new(),
            batch: 0,
            counts: Counts::default(),
            sample: Vec::new(),
        }
    }

    async fn step(
        &self,
        ctx: &StepContext,
        input: &MatchInput,
        mut state: MatchState,
    ) -> Result<Step<MatchState>, StepError> {
        match state.phase {
            Phase::Start => {
                store::analyse_new_tables(&ctx.db, self.kind).await.map_err(db_error)?;
                // The first batch is read beside the count (after the analysis, whose
                // statistics its plan needs).
                self.ahead.start(&ctx.db, self.kind, self.ahead_key(ctx, input, &state.cursor));
                let total = store::count_candidates(&ctx.db, self.kind).await.map_err(db_error)?;
                state.phase = Phase::Batches;
                let progress = Progress {
                    total: Some(total),
                    metadata: Some(self.metadata(input, &state.counts, "")),
                    ..Progress::default()
                };
                let step = Step::next("start", state)
                    .with_progress(progress)
                    .with_note(format!("{total} Nhanh records to match"));
                Ok(if input.dry_run { step } else { step.with_effects(ClearConflicts { kind: self.kind }) })
            }
            Phase::Batches => {
                let key = self.ahead_key(ctx, input, &state.cursor);
                match self.ahead.next(&ctx.db, self.kind, &key).await.map_err(db_error)? {
                    Ahead::Batch(upto, decision) => {
                        self.ahead.start(&ctx.db, self.kind, self.ahead_key(ctx, input, &upto));
                        Ok(self.batch_step(ctx, input, state, upto, decision))
                    }
                    Ahead::Done { stale } => Ok(self.prune_step(input, state, stale)),
                }
            }
            Phase::Prune => {
                let stale = store::stale_mappings(&ctx.db, self.kind).await.map_err(db_error)?;
                Ok(self.prune_step(input, state, stale))
            }
        }
    }
}
