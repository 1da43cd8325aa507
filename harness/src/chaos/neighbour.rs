//! Throttling on demand: a noisy neighbour that shares the shop's cost bucket.
//!
//! The simulator's limits are always on, and the workers' limiters pace themselves by the
//! `throttleStatus` of their own replies, so an undisturbed run is rarely throttled. A second
//! app (or a second dongbo) spending the same bucket is what makes a real shop answer THROTTLED:
//! between two of a worker's replies the bucket drains behind its back. The neighbour sends a
//! cheap-to-run, expensive-to-price customer listing every `period` until stopped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A query the simulator prices at 2 + 250 × 1 = 252 points and charges in full when the shop
/// has 250 customers or more.
const QUERY: &str = "query neighbour { customers(first: 250) { nodes { id } } }";

/// What the neighbour saw.
#[derive(Debug, Default)]
pub(crate) struct NeighbourCounts {
    pub(crate) sent: AtomicU64,
    pub(crate) throttled: AtomicU64,
}

/// A running neighbour.
pub(crate) struct Neighbour {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    pub(crate) counts: Arc<NeighbourCounts>,
}

impl Neighbour {
    /// Starts spending the bucket of the shop at `shop_url` every `period`.
    pub(crate) fn start(shop_url: &str, token: &str, period: Duration) -> Neighbour {
        let (stop, mut stopped) = watch::channel(false);
        let counts = Arc::new(NeighbourCounts::default());
        let url = format!("{shop_url}/admin/api/2025-10/graphql.json");
        let token = token.to_owned();
        let seen = counts.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = stopped.changed() => return,
                }
                seen.sent.fetch_add(1, Ordering::Relaxed);
                let reply = client
                    .post(&url)
                    .header("X-Shopify-Access-Token", &token)
                    .json(&json!({ "query": QUERY }))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                // Its own THROTTLED replies are counted so the report can tell the workers' apart.
                if let Ok(r) = reply {
                    if let Ok(body) = r.json::<Value>().await {
                        if body["errors"][0]["extensions"]["code"] == "THROTTLED" {
                            seen.throttled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Neighbour { stop, task, counts }
    }

    /// Stops it and returns `(requests sent, THROTTLED replies it got)`.
    pub(crate) async fn stop(self) -> (u64, u64) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        (self.counts.sent.load(Ordering::Relaxed), self.counts.throttled.load(Ordering::Relaxed))
    }
}
