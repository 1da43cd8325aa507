//! The example workflow's SQL, for both backends.

use async_trait::async_trait;
use sqlx::Row;

use crate::db::{Db, StoreTx};
use crate::ids::JobId;
use crate::workflow::{EffectError, StepEffects};

/// Writes a batch of counted items to the ledger inside the step's transaction.
pub(super) struct LedgerWrite {
    pub job_id: JobId,
    pub from: u32,
    pub to: u32,
}

#[async_trait]
impl StepEffects for LedgerWrite {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        match tx {
            StoreTx::Sqlite(conn) => {
                for item in self.from..self.to {
                    sqlx::query("INSERT INTO example_ledger (job_id, item) VALUES (?, ?)")
                        .bind(self.job_id.to_string())
                        .bind(i64::from(item))
                        .execute(&mut *conn)
                        .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                let items: Vec<i64> = (self.from..self.to).map(i64::from).collect();
                sqlx::query("INSERT INTO example_ledger (job_id, item) SELECT $1, unnest($2::bigint[])")
                    .bind(self.job_id.as_uuid())
                    .bind(&items)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Records one execution of the step after checkpoint `step_seq` and returns how many step
/// executions the job has had in all.
pub(super) async fn record_execution(db: &Db, job: JobId, step_seq: i64, attempt: u32) -> Result<u64, sqlx::Error> {
    let n: i64 = match db {
        Db::Sqlite(pool) => {
            sqlx::query("INSERT INTO example_executions (job_id, step_seq, attempt) VALUES (?, ?, ?)")
                .bind(job.to_string())
                .bind(step_seq)
                .bind(i64::from(attempt))
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT COUNT(*) FROM example_executions WHERE job_id = ?")
                .bind(job.to_string())
                .fetch_one(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query("INSERT INTO example_executions (job_id, step_seq, attempt) VALUES ($1, $2, $3)")
                .bind(job.as_uuid())
                .bind(step_seq)
                .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT COUNT(*) FROM example_executions WHERE job_id = $1")
                .bind(job.as_uuid())
                .fetch_one(pool)
                .await?
        }
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// What the example wrote for a job: ledger rows and step executions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleStats {
    /// Rows in the ledger (committed items).
    pub ledger_rows: i64,
    /// Distinct ledger items (equal to `ledger_rows` unless something was applied twice).
    pub distinct_items: i64,
    /// Step executions, committed or not.
    pub executions: i64,
}

/// Reads [`ExampleStats`] for a job.
pub async fn example_stats(db: &Db, job: JobId) -> Result<ExampleStats, sqlx::Error> {
    let (ledger_rows, distinct_items, executions): (i64, i64, i64) = match db {
        Db::Sqlite(pool) => {
            let r = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM example_ledger WHERE job_id = ?1),
                        (SELECT COUNT(DISTINCT item) FROM example_ledger WHERE job_id = ?1),
                        (SELECT COUNT(*) FROM example_executions WHERE job_id = ?1)",
            )
            .bind(job.to_string())
            .fetch_one(pool)
            .await?;
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)
        }
        Db::Postgres(pool) => {
            let r = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM example_ledger WHERE job_id = $1),
                        (SELECT COUNT(DISTINCT item) FROM example_ledger WHERE job_id = $1),
                        (SELECT COUNT(*) FROM example_executions WHERE job_id = $1)",
            )
            .bind(job.as_uuid())
            .fetch_one(pool)
            .await?;
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)
        }
    };
    Ok(ExampleStats { ledger_rows, distinct_items, executions })
}
