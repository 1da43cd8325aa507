//! Background checkpoints of a SQLite file's write-ahead log.
//!
//! A commit in WAL mode appends pages to the log; a checkpoint copies them into the database file
//! and, with `synchronous = NORMAL`, flushes the log before and the file after. SQLite runs one
//! inside whichever commit takes the log past `wal_autocheckpoint` pages, and that commit waits
//! for the flushes of everything written since the last one: at five 4 KB pages a step (before
//! migration 0023; four until 0024, three since), one step commit in a few hundred stalled for
//! 5–17 ms, about a third of the steps' time in `dongbo bench engine`. The checkpointer runs
//! passive checkpoints on a connection of its own, every few milliseconds while the log grows, so
//! the flushing happens beside the commits; the commit that crosses the threshold still
//! checkpoints (that is what lets SQLite start the log over), but finds almost everything already
//! copied and flushed. A passive checkpoint waits for no lock and blocks no reader or writer.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::oneshot;

/// The pause after a checkpoint that found new pages in the log.
const ACTIVE: Duration = Duration::from_millis(5);
/// The longest pause, reached by doubling while nothing is written.
const IDLE: Duration = Duration::from_secs(1);

/// A running checkpointer; it stops when this is dropped.
#[derive(Debug)]
pub struct Checkpointer {
    _stop: oneshot::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database `options` open (a file in WAL mode), on a connection
    /// opened on first use.
    pub fn start(options: SqliteConnectOptions) -> Checkpointer {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(options, stopped));
        Checkpointer { _stop: stop }
    }
}

/// The log's state after a checkpoint: pages in the log, pages copied into the file.
type LogState = (i64, i64);

async fn run(options: SqliteConnectOptions, mut stopped: oneshot::Receiver<()>) {
    let mut conn: Option<SqliteConnection> = None;
    let mut pause = ACTIVE;
    let mut last: Option<LogState> = None;
    let mut failing = false;
    loop {
        tokio::select! {
            // The sender is dropped with the store.
            _ = &mut stopped => break,
            () = tokio::time::sleep(pause) => {}
        }
        match checkpoint(&mut conn, &options).await {
            Ok(state) => {
                // Unchanged since the last one: nothing was written in between.
                pause = if last == Some(state) { (pause * 2).min(IDLE) } else { ACTIVE };
                last = Some(state);
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "background checkpoint failed; commits checkpoint by themselves meanwhile");
                }
                failing = true;
                conn = None;
                pause = IDLE;
            }
        }
    }
    if let Some(conn) = conn {
        let _ = conn.close().await;
    }
}

/// One passive checkpoint on `conn`, connecting first if needed.
async fn checkpoint(conn: &mut Option<SqliteConnection>, options: &SqliteConnectOptions) -> sqlx::Result<LogState> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(options.connect().await?),
    };
    let (_busy, log, copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(conn).await?;
    Ok((log, copied))
}
