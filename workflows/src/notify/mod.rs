//! Outgoing notifications: a signed JSON `POST` to `DONGBO_NOTIFY_URL` when a job fails, when a
//! job completes after a failure (resumed from FAILED, or a rerun of a FAILED job), and when the
//! Nhanh token is about to expire or was refused (the `nhanh_token` notice).
//!
//! Durable and at least once: the [`Notifier`] reads the event log from a cursor kept in the
//! database, writes each notification to the outbox (deduplicated by a key naming its cause)
//! before sending it, and retries a failed delivery with exponential backoff; a restart resumes
//! from the outbox and the cursor. Receivers should dedupe on the `id` field (also sent as
//! `X-Dongbo-Delivery`).
//!
//! # Layout
//!
//! - [`sign`]: the HMAC-SHA256 signature and its headers.
//! - [`payload`]: the JSON body (documented in the README).
//! - `notifier`: [`Notifier`]: scanning the log and the notices, sending the outbox.

pub mod payload;
pub mod sign;

mod notifier;

pub use notifier::{Notifier, NotifyConfig, NotifyConfigError};
