//! The records a job touched, read from the engine's audit index (`event_entities`, which files
//! every record a step touched under its `StepCompleted` event) in log order.
//!
//! This reads a table the engine writes; it only reads it, in one statement, and the engine's
//! store offers no listing by job. The rows are streamed from the database (never a whole job in
//! memory) into a bounded channel, so an export of a million items runs in constant memory at the
//! pace of its reader.

use dongbo_engine::{Db, JobId};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

use super::R;
use crate::catalog::store::dialect::on_db;

/// One record a job touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobItem {
    /// The log position of the step that touched it.
    pub position: i64,
    /// The record's kind (e.g. `nhanh_customer`, `customer_mapping`).
    pub kind: String,
    /// The record's id.
    pub id: String,
    /// What the step did to it.
    pub action: String,
}

fn item((position, key, action): (i64, String, String)) -> JobItem {
    let (kind, id) = match key.split_once(':') {
        Some((k, i)) => (k.to_owned(), i.to_owned()),
        None => (String::new(), key),
    };
    JobItem { position, kind, id, action }
}

/// Sends every record `job` touched, in log order, into `out`; stops early when the receiver is
/// dropped. A database error is sent as the last item.
pub async fn stream_job_items(db: Db, job: JobId, mut out: mpsc::Sender<R<JobItem>>) {
    const SQL: &str = "SELECT position, entity_key, action FROM event_entities WHERE job_id = $1 \
                       ORDER BY position, entity_key, action";
    type Raw = (i64, String, String);
    on_db!(&db, |pool, d| {
        let mut rows = sqlx::query_as::<_, Raw>(SQL).bind(d.job(job)).fetch(pool);
        while let Some(row) = rows.next().await {
            let failed = row.is_err();
            if out.send(row.map(item)).await.is_err() || failed {
                return;
            }
        }
    })
}
