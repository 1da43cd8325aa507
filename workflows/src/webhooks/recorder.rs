//! Recording deliveries as they arrive: one task per process writes them, many at a time.
//!
//! A receiving route does not write its delivery itself. At a few hundred deliveries a second,
//! requests that each open a write transaction mostly wait for one another: SQLite has one
//! writer, and a writer that finds the lock taken sleeps on a growing schedule (1, 2, 5, 10,
//! 15, 20, 25 … ms) whatever the lock's real hold time, holding a pooled connection meanwhile.
//! Instead each request hands its delivery to the [`Recorder`] and waits for the answer; the
//! recorder's task takes every delivery waiting at that moment (up to [`MAX_BATCH`]) and records
//! them in one write transaction (group commit: one wait for the lock, one commit). A request is
//! answered only after the commit that holds its delivery, so "recorded" still means durable.

use dongbo_engine::Db;
use tokio::sync::{mpsc, oneshot};

use crate::catalog::store::webhooks::{self as store, DeliveryWriter, NewDelivery, Recorded};

/// Deliveries recorded in one transaction, at most.
pub const MAX_BATCH: usize = 256;

/// Deliveries waiting for the recorder, at most; a request finding the queue full waits for room.
const QUEUE: usize = 4096;

type Answer = Result<Recorded, String>;

/// Hands deliveries to this process's recording task. Cloning shares the task.
#[derive(Debug, Clone)]
pub struct Recorder {
    queue: mpsc::Sender<(NewDelivery, oneshot::Sender<Answer>)>,
}

impl Recorder {
    /// Starts the recording task over `db` (inside a Tokio runtime). It ends when the last
    /// clone of the recorder is dropped, after recording what was handed to it.
    pub fn start(db: Db) -> Recorder {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, waiting));
        Recorder { queue }
    }

    /// Records `d` (or finds the copy recorded before under the same key) and answers once it is
    /// committed. An error means it was not recorded.
    pub async fn record(&self, d: NewDelivery) -> Result<Recorded, String> {
        let (answer, answered) = oneshot::channel();
        self.queue.send((d, answer)).await.map_err(|_| "the delivery recorder has stopped".to_owned())?;
        answered.await.map_err(|_| "the delivery recorder stopped before answering".to_owned())?
    }
}

async fn run(db: Db, mut waiting: mpsc::Receiver<(NewDelivery, oneshot::Sender<Answer>)>) {
    let mut writer = DeliveryWriter::new(db);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (deliveries, answers): (Vec<NewDelivery>, Vec<oneshot::Sender<Answer>>) = batch.drain(..).unzip();
        match writer.record_all(&deliveries).await {
            Ok(recorded) => {
                for (answer, r) in answers.into_iter().zip(recorded) {
                    // A request that gave up is not waiting for its answer.
                    let _ = answer.send(Ok(r));
                }
            }
            // Nothing of the batch was recorded. If the database refused a row, each is tried
            // alone, so one delivery it refuses does not take the others with it; if it could
            // not be reached or its lock never came free, trying each again would only make the
            // senders wait longer for the same answer.
            Err(e) if deliveries.len() > 1 && store::refused_a_row(&e) => {
                tracing::warn!(error = %e, deliveries = deliveries.len(), "recording a batch of deliveries failed; recording them one by one");
                for (d, answer) in deliveries.iter().zip(answers) {
                    let alone = writer.record_all(std::slice::from_ref(d)).await;
                    let _ = answer.send(
                        alone
                            .map_err(|e| e.to_string())
                            .and_then(|mut r| r.pop().ok_or_else(|| "no row recorded".to_owned())),
                    );
                }
            }
            Err(e) => {
                for answer in answers {
                    let _ = answer.send(Err(e.to_string()));
                }
            }
        }
    }
}
