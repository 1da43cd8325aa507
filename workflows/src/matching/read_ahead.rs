//! Reading the next batch while the engine commits this one.
//!
//! A match step reads and decides its key range, then hands its writes to the engine, which
//! commits them after the step returns. The next range's decision does not depend on those
//! writes: a record is decided at its first key only, so a batch writes the mappings of its own
//! records and never one the next batch reads, and the key tables and manual mappings the reads
//! see are not written by the job at all. So the step starts the next range's read and decision
//! in the background before it returns, and the next step of the same claim takes the result
//! instead of reading again: the read runs on another connection beside the commit.
//!
//! It is a cache of one result, never a source of truth. A result is taken only by the step it
//! was read for — the same job, claim, cursor, strategy and batch size; anything else (another
//! job, a resume, a failed commit that leaves the cursor where it was) drops it and reads afresh.
//! A read that failed is read again by the step, whose error then fails the step as before.
//! What the step sees is at most one commit older than a read made when it starts; concurrent
//! writers (pulls, an operator's manual mapping) were never fenced against a step's read anyway.

use std::sync::Mutex;

use dongbo_engine::{Db, JobId};
use tokio::task::JoinHandle;

use super::decide::BatchDecision;
use super::strategy::{next_batch, Strategy};
use crate::catalog::store::matching::{MatchKind, R};

/// The next batch after a cursor: its last key and its decision, or `None` when none is left.
pub type NextBatch = Option<(String, BatchDecision)>;

/// Which step a read is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AheadKey {
    /// The job.
    pub job: JobId,
    /// Its claim.
    pub attempt: u32,
    /// The last key decided before the batch.
    pub cursor: String,
    /// How the batch is cut and decided.
    pub strategy: Strategy,
    /// Key rows per batch.
    pub size: i64,
}

/// At most one read running ahead, per match kind.
#[derive(Debug, Default)]
pub struct ReadAhead {
    slot: Mutex<Option<(AheadKey, JoinHandle<R<NextBatch>>)>>,
}

impl ReadAhead {
    /// Starts reading the batch `key` names in the background, in place of any read running
    /// ahead before (which is stopped).
    pub fn start(&self, db: &Db, kind: MatchKind, key: AheadKey) {
        let db = db.clone();
        let (strategy, cursor, size) = (key.strategy, key.cursor.clone(), key.size);
        let task = tokio::spawn(async move { next_batch(&db, kind, strategy, &cursor, size).await });
        if let Some((_, old)) = self.slot().replace((key, task)) {
            old.abort();
        }
    }

    /// The batch `key` names: the read started ahead for it if there is one, else read now.
    pub async fn next(&self, db: &Db, kind: MatchKind, key: &AheadKey) -> R<NextBatch> {
        let ahead = self.slot().take();
        if let Some((for_key, task)) = ahead {
            if for_key == *key {
                if let Ok(Ok(next)) = task.await {
                    return Ok(next);
                }
            } else {
                task.abort();
            }
        }
        next_batch(db, kind, key.strategy, &key.cursor, key.size).await
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(AheadKey, JoinHandle<R<NextBatch>>)>> {
        // A panic while the lock was held cannot leave the slot half-written: take the value.
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
