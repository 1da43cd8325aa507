//! Sending deliveries: faults, attempts, retries on the simulator's clock, and the journal of
//! every attempt.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::Hub;

/// Which platform sent a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Nhanh: success is HTTP 200 exactly; 3 retries.
    Nhanh,
    /// Shopify: success is any 2xx; 8 retries.
    Shopify,
}

impl Platform {
    fn accepts(self, status: u16) -> bool {
        match self {
            Platform::Nhanh => status == 200,
            Platform::Shopify => (200..300).contains(&status),
        }
    }
}

/// One delivery to one target, ready to send (and to send again, unchanged).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub platform: Platform,
    /// Nhanh's `event` or Shopify's `X-Shopify-Topic` (`inventory_levels/update`).
    pub topic: String,
    pub url: String,
    pub body: axum::body::Bytes,
    pub headers: Vec<(String, String)>,
    /// Shopify's `X-Shopify-Event-Id`; for Nhanh (which sends no id) the simulator's own.
    pub event_id: String,
    /// Shopify's `X-Shopify-Webhook-Id`.
    pub webhook_id: Option<String>,
    /// Sequence number of this delivery in the hub (for reordering).
    pub seq: u64,
}

/// One attempt (or one delivery a fault swallowed), as `GET /_sim/webhooks` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// `nhanh` or `shopify`.
    pub platform: Platform,
    /// Nhanh's event or Shopify's topic.
    pub topic: String,
    /// Where it went.
    pub url: String,
    /// The event id (Shopify's header; for Nhanh, the simulator's).
    pub event_id: String,
    /// Shopify's `X-Shopify-Webhook-Id`.
    pub webhook_id: Option<String>,
    /// The delivery's place in the order the simulator made them (1, 2, …): a receiver that
    /// sees them in another order saw them reordered.
    pub seq: u64,
    /// 0 for the first attempt, then 1, 2, … for retries.
    pub attempt: u32,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why there was no answer (timeout, refused), if there was none.
    pub error: Option<String>,
    /// `sent`, `dropped` (a fault: never sent), `duplicate` (the second copy of a duplicated
    /// delivery) or `reordered` (held back until the next delivery to its target went).
    pub fate: String,
    /// Whether the receiver accepted it (Nhanh: 200; Shopify: 2xx).
    pub accepted: bool,
    /// Simulator time the attempt ended, unix milliseconds.
    pub at: i64,
    /// How long the receiver took to answer (or to fail), milliseconds.
    pub answer_ms: f64,
    /// Bytes of the body.
    pub body_bytes: usize,
}

/// Sends `deliveries` (already in event order) through the faults.
pub(crate) fn dispatch(hub: &Arc<Hub>, deliveries: Vec<Pending>) {
    for p in deliveries {
        let mut s = hub.lock();
        let f = s.faults.clone();
        let natural_dup = if p.platform == Platform::Shopify { hub.config.shopify_duplicate_rate } else { 0.0 };
        let dropped = f.drop_rate > 0.0 && s.rng.gen::<f64>() < f.drop_rate;
        if dropped {
            let record = record(hub, &p, 0, None, None, "dropped");
            s.log.push(record);
            continue;
        }
        let duplicate = (f.duplicate_rate > 0.0 && s.rng.gen::<f64>() < f.duplicate_rate)
            || (natural_dup > 0.0 && s.rng.gen::<f64>() < natural_dup);
        let delay = if f.delay_rate > 0.0 && s.rng.gen::<f64>() < f.delay_rate {
            Duration::from_millis(f.delay_ms)
        } else {
            Duration::ZERO
        };
        let reorder = f.reorder_rate > 0.0 && s.rng.gen::<f64>() < f.reorder_rate;
        let held = s.held.remove(&p.url);
        if reorder && held.is_none() {
            // Held until the next delivery to this target goes, or a second passes.
            s.held.insert(p.url.clone(), p.clone());
            drop(s);
            let (hub, url, seq) = (hub.clone(), p.url.clone(), p.seq);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let still_held = {
                    let mut s = hub.lock();
                    match s.held.get(&url) {
                        Some(h) if h.seq == seq => s.held.remove(&url),
                        _ => None,
                    }
                };
                if let Some(h) = still_held {
                    attempts(hub, h, Duration::ZERO, "reordered").await;
                }
            });
            continue;
        }
        drop(s);
        let hub = hub.clone();
        tokio::spawn(async move {
            if duplicate {
                tokio::spawn(attempts(hub.clone(), p.clone(), delay, "duplicate"));
            }
            attempts(hub.clone(), p, delay, "sent").await;
            if let Some(h) = held {
                attempts(hub, h, Duration::ZERO, "reordered").await;
            }
        });
    }
}

/// First attempt after `delay`, then the platform's retries until one is accepted. The first
/// attempt is awaited before returning (so a held delivery goes after it); retries run on.
async fn attempts(hub: Arc<Hub>, p: Pending, delay: Duration, fate: &'static str) {
    let mut stop = hub.stop.subscribe();
    if *stop.borrow() {
        return;
    }
    if !delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
    if attempt(&hub, &p, 0, fate).await {
        return;
    }
    let waits = match p.platform {
        Platform::Nhanh => hub.config.nhanh_retries.clone(),
        Platform::Shopify => hub.config.shopify_retries.clone(),
    };
    let scale = if hub.config.time_scale > 0.0 { hub.config.time_scale } else { 1.0 };
    tokio::spawn(async move {
        for (i, wait) in waits.into_iter().enumerate() {
            tokio::select! {
                _ = tokio::time::sleep(wait.div_f64(scale)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if attempt(&hub, &p, i as u32 + 1, fate).await {
                return;
            }
        }
    });
}

/// One HTTP attempt; journalled; true when accepted.
async fn attempt(hub: &Arc<Hub>, p: &Pending, n: u32, fate: &str) -> bool {
    let mut request = hub.client.post(&p.url).body(p.body.clone());
    for (k, v) in &p.headers {
        request = request.header(k, v);
    }
    let started = tokio::time::Instant::now();
    let (status, error) = match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            // Read the answer so the connection can be reused.
            let _ = r.bytes().await;
            (Some(status), None)
        }
        Err(e) => (None, Some(if e.is_timeout() { "timeout".to_string() } else { e.to_string() })),
    };
    let mut rec = record(hub, p, n, status, error, fate);
    rec.answer_ms = started.elapsed().as_secs_f64() * 1000.0;
    let accepted = rec.accepted;
    hub.lock().log.push(rec);
    accepted
}

fn record(
    hub: &Hub,
    p: &Pending,
    attempt: u32,
    status: Option<u16>,
    error: Option<String>,
    fate: &str,
) -> DeliveryRecord {
    DeliveryRecord {
        platform: p.platform,
        topic: p.topic.clone(),
        url: p.url.clone(),
        event_id: p.event_id.clone(),
        webhook_id: p.webhook_id.clone(),
        seq: p.seq,
        attempt,
        accepted: status.is_some_and(|s| p.platform.accepts(s)),
        status,
        error,
        fate: fate.to_string(),
        at: hub.clock.unix_ms(),
        answer_ms: 0.0,
        body_bytes: p.body.len(),
    }
}
