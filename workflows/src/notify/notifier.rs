//! The notifier: finds what to notify (in the event log from a durable cursor, and in the
//! process's notices), writes it to the outbox, and sends the outbox's due entries.

use std::time::Duration;

use chrono::{DateTime, TimeDelta};
use dongbo_engine::{BackgroundJob, JobStatus, SharedClock, SharedStore};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::payload::{job_payload, notice_payload, NotifyEvent, Payload};
use super::sign::{signature, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::catalog::store::console as outbox;
use crate::nhanh_token;
use crate::notices::{NoticeLevel, Notices};

/// Where and how to send notifications.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The receiver (`DONGBO_NOTIFY_URL`).
    pub url: reqwest::Url,
    /// The HMAC key (`DONGBO_NOTIFY_SECRET`). Never logged.
    pub secret: String,
    /// The first retry's delay; each next one doubles, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts before an entry is given up (kept in the outbox with its last error).
    pub max_attempts: i64,
    /// How often the log and the notices are read and the outbox sent.
    pub period: Duration,
    /// Events younger than this are left for the next pass, so that a transaction that took a
    /// log position before a newer one but committed after it is not skipped.
    pub settle: Duration,
    /// How long one HTTP attempt may take.
    pub timeout: Duration,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyConfigError {
    /// The URL does not parse or is not http(s).
    #[error("DONGBO_NOTIFY_URL {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    /// A URL without a secret (every notification is signed).
    #[error("DONGBO_NOTIFY_URL is set but DONGBO_NOTIFY_SECRET is not: every notification is signed")]
    NoSecret,
}

impl NotifyConfig {
    /// The configuration from `url` and `secret` (both trimmed; blank counts as unset), with the
    /// default pacing (2 s passes, retries from 5 s doubling to 1 h, 15 attempts). `Ok(None)`
    /// when no URL is set: notifications are off.
    pub fn from_parts(url: Option<&str>, secret: Option<&str>) -> Result<Option<Self>, NotifyConfigError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(None) };
        let parsed = reqwest::Url::parse(url).map_err(|_| NotifyConfigError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(NotifyConfigError::BadUrl(url.to_owned()));
        }
        let secret = secret.map(str::trim).filter(|s| !s.is_empty()).ok_or(NotifyConfigError::NoSecret)?;
        Ok(Some(NotifyConfig {
            url: parsed,
            secret: secret.to_owned(),
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            max_attempts: 15,
            period: Duration::from_secs(2),
            settle: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }))
    }

    /// The delay before the attempt after `attempts` failed ones: `first_delay × 2^(attempts-1)`,
    /// at most `max_delay`.
    pub fn delay_after(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }
}

/// Reads what to notify and sends it.
#[derive(Clone)]
pub struct Notifier {
    config: NotifyConfig,
    store: SharedStore,
    notices: Notices,
    clock: SharedClock,
    http: reqwest::Client,
}

/// The cursors, one per event type read.
const FAILED: &str = "JobFailed";
const COMPLETED: &str = "JobCompleted";
/// Events read per pass and type.
const BATCH: i64 = 500;

impl Notifier {
    /// A notifier over `store`'s log and `notices`, with time from `clock`.
    pub fn new(config: NotifyConfig, store: SharedStore, notices: Notices, clock: SharedClock) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Notifier { config, store, notices, clock, http }
    }

    /// Runs [`Notifier::pass`] every `period` until the task is aborted; failures are logged and
    /// the next pass tries again.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.config.period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = self.pass().await {
                    tracing::warn!(error = %e, "notifications: a pass failed; the next one tries again");
                }
            }
        })
    }

    /// One pass: enqueue what happened since the last pass, then send every due entry. Returns
    /// how many were delivered.
    pub async fn pass(&self) -> Result<usize, sqlx::Error> {
        self.scan().await?;
        self.send_due().await
    }

    /// Enqueues the notifications of the events and notices not seen yet. Returns how many
    /// were new.
    pub async fn scan(&self) -> Result<usize, sqlx::Error> {
        let mut added = 0;
        for name in [FAILED, COMPLETED] {
            added += self.scan_type(name).await?;
        }
        added += self.scan_notices().await?;
        Ok(added)
    }

    async fn scan_type(&self, name: &'static str) -> Result<usize, sqlx::Error> {
        let db = self.store.db();
        let now = self.clock.now();
        let cursor = outbox::read_cursor(&db, name, now.timestamp_millis()).await?;
        let from = DateTime::from_timestamp_millis(cursor.since).unwrap_or(now);
        let settle = TimeDelta::from_std(self.config.settle).unwrap_or_default();
        let mut position = cursor.position;
        let mut added = 0;
        loop {
            let events = self
                .store
                .events_by_type(Some(name), from, now - settle, position, BATCH)
                .await
                .map_err(store_error)?;
            for event in &events {
                let Some(job) = self.store.job(event.job_id).await.map_err(store_error)? else { continue };
                let notify = match name {
                    FAILED => Some(NotifyEvent::JobFailed),
                    _ if self.recovered(&job).await? => Some(NotifyEvent::JobRecovered),
                    _ => None,
                };
                if let Some(kind) = notify {
                    let id = format!("{}:{}:{}", kind.as_str(), event.job_id, event.position);
                    let body = job_payload(id.clone(), kind, &job, event.recorded_at);
                    added += usize::from(self.enqueue(&id, kind, &body).await?);
                }
                position = event.position;
            }
            outbox::save_cursor(&db, name, position).await?;
            if (events.len() as i64) < BATCH {
                return Ok(added);
            }
        }
    }

    /// Whether a completed job completed after a failure: it was resumed from FAILED, or it is a
    /// rerun of a job that is FAILED.
    async fn recovered(&self, job: &BackgroundJob) -> Result<bool, sqlx::Error> {
        let meta = |k: &str| job.metadata.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        if meta("resumedFrom").as_deref() == Some(JobStatus::Failed.as_str()) {
            return Ok(true);
        }
        let Some(original) = meta("rerunOf").and_then(|id| id.parse().ok()) else { return Ok(false) };
        let original = self.store.job(original).await.map_err(store_error)?;
        Ok(original.is_some_and(|o| o.status == JobStatus::Failed))
    }

    /// The Nhanh token's notice, once per level and text.
    async fn scan_notices(&self) -> Result<usize, sqlx::Error> {
        let Some(notice) = self.notices.get(nhanh_token::NOTICE) else { return Ok(0) };
        let kind = match notice.level {
            NoticeLevel::Warning => NotifyEvent::TokenExpiring,
            NoticeLevel::Error => NotifyEvent::TokenInvalid,
        };
        let digest = Sha256::digest(notice.message.as_bytes());
        let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let id = format!("{}:{}", kind.as_str(), short);
        let body = notice_payload(id.clone(), kind, &notice);
        Ok(usize::from(self.enqueue(&id, kind, &body).await?))
    }

    async fn enqueue(&self, id: &str, kind: NotifyEvent, body: &Payload) -> Result<bool, sqlx::Error> {
        let text =
            serde_json::to_string(body).map_err(|e| sqlx::Error::Protocol(format!("encoding a notification: {e}")))?;
        let added =
            outbox::enqueue(&self.store.db(), id, kind.as_str(), &text, self.clock.now().timestamp_millis()).await?;
        if added {
            tracing::info!(notification = id, "notification queued");
        }
        Ok(added)
    }

    /// Sends every due outbox entry once. Returns how many were delivered.
    pub async fn send_due(&self) -> Result<usize, sqlx::Error> {
        let db = self.store.db();
        let hold = i64::try_from(self.config.timeout.as_millis()).unwrap_or(i64::MAX / 4).saturating_mul(3);
        let mut delivered = 0;
        while let Some(due) = outbox::claim_due(&db, self.clock.now().timestamp_millis(), hold).await? {
            let outcome = self.send(&due).await;
            let now = self.clock.now().timestamp_millis();
            match outcome {
                Ok(()) => {
                    outbox::mark_delivered(&db, due.id, now).await?;
                    tracing::info!(outbox = due.id, "notification delivered");
                    delivered += 1;
                }
                Err(why) => {
                    let attempts = due.attempts + 1;
                    let retry_at = (attempts < self.config.max_attempts).then(|| {
                        now.saturating_add(
                            i64::try_from(self.config.delay_after(attempts).as_millis()).unwrap_or(i64::MAX / 4),
                        )
                    });
                    match retry_at {
                        Some(_) => {
                            tracing::warn!(outbox = due.id, attempts, "notification not delivered: {why}; retrying")
                        }
                        None => {
                            tracing::error!(outbox = due.id, attempts, "notification not delivered: {why}; giving up")
                        }
                    }
                    outbox::mark_failed(&db, due.id, &why, retry_at, now).await?;
                }
            }
        }
        Ok(delivered)
    }

    /// One attempt: `Err` with a reason (never the secret) unless the receiver answered 2xx.
    async fn send(&self, due: &outbox::Due) -> Result<(), String> {
        let timestamp = self.clock.now().timestamp();
        let event = serde_json::from_str::<serde_json::Value>(&due.body)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let reply = self
            .http
            .post(self.config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, concat!("dongbo/", env!("CARGO_PKG_VERSION")))
            .header("X-Dongbo-Event", event)
            .header("X-Dongbo-Delivery", due.id.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(self.config.secret.as_bytes(), timestamp, due.body.as_bytes()))
            .body(due.body.clone())
            .send()
            .await
            .map_err(|e| format!("sending: {}", e.without_url()))?;
        let status = reply.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }
}

fn store_error(e: dongbo_engine::StoreError) -> sqlx::Error {
    match e {
        dongbo_engine::StoreError::Database(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_first_delay_up_to_the_cap() {
        let mut c = NotifyConfig::from_parts(Some("https://example.com/hook"), Some("s")).unwrap().unwrap();
        c.first_delay = Duration::from_secs(5);
        c.max_delay = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=6).map(|a| c.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
        assert_eq!(c.delay_after(10_000), Duration::from_secs(60));
    }

    #[test]
    fn a_url_needs_a_secret_and_http() {
        assert!(NotifyConfig::from_parts(None, Some("s")).unwrap().is_none());
        assert!(NotifyConfig::from_parts(Some("  "), None).unwrap().is_none());
        assert!(matches!(NotifyConfig::from_parts(Some("https://x.test/h"), None), Err(NotifyConfigError::NoSecret)));
        assert!(matches!(
            NotifyConfig::from_parts(Some("ftp://x.test/h"), Some("s")),
            Err(NotifyConfigError::BadUrl(_))
        ));
        assert!(matches!(NotifyConfig::from_parts(Some("not a url"), Some("s")), Err(NotifyConfigError::BadUrl(_))));
    }
}
