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
//!
//! When no key is left, the read goes on to the prune's: the Nhanh records whose non-manual
//! mappings are stale (their record holds no key). The job's own writes never change that set —
//! a batch maps and unmaps only records that hold a key, and never writes a key table — so it is
//! the same read before the last batch's commit as after it; and the prune deletes only those of
//! them still stale when it commits (`PruneStaleMappings` asks again).

use std::sync::Mutex;

use dongbo_engine::{Db, JobId};
use tokio::task::JoinHandle;

use super::decide::BatchDecision;
use super::strategy::{next_batch, Strategy};
use crate::catalog::store::matching::{self as store, MatchKind, R};

/// What follows a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ahead {
    /// The next batch: its inclusive upper key and its decision.
    Batch(String, BatchDecision),
    /// No key is left: the Nhanh records whose mappings were stale when read, ascending.
    Done {
        /// What the prune deletes (each if still stale then).
        stale: Vec<i64>,
    },
}

/// What follows `cursor`: the next batch, or the stale mappings when no key is left.
pub async fn read_next(db: &Db, kind: MatchKind, strategy: Strategy, cursor: &str, size: i64) -> R<Ahead> {
    match next_batch(db, kind, strategy, cursor, size).await? {
        Some((upto, decision)) => Ok(Ahead::Batch(upto, decision)),
        None => Ok(Ahead::Done { stale: store::stale_mappings(db, kind).await? }),
    }
}

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
    slot: Mutex<Option<(AheadKey, JoinHandle<R<Ahead>>)>>,
}

impl ReadAhead {
    /// Starts reading what follows `key`'s cursor in the background, in place of any read
    /// running ahead before (which is stopped).
    pub fn start(&self, db: &Db, kind: MatchKind, key: AheadKey) {
        let db = db.clone();
        let (strategy, cursor, size) = (key.strategy, key.cursor.clone(), key.size);
        let task = tokio::spawn(async move { read_next(&db, kind, strategy, &cursor, size).await });
        if let Some((_, old)) = self.slot().replace((key, task)) {
            old.abort();
        }
    }

    /// What follows `key`'s cursor: the read started ahead for it if there is one, else read now.
    pub async fn next(&self, db: &Db, kind: MatchKind, key: &AheadKey) -> R<Ahead> {
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
        read_next(db, kind, key.strategy, &key.cursor, key.size).await
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(AheadKey, JoinHandle<R<Ahead>>)>> {
        // A panic while the lock was held cannot leave the slot half-written: take the value.
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
