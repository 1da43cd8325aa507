//! The Nhanh access token's life: where dongbo gets it (the environment, or the store where
//! Nhanh's OAuth put it, sealed), and where it stands (its expiry, checked on start and daily).
//!
//! # Layout
//!
//! - [`oauth`]: Nhanh's OAuth: the login link with a one-time state, the exchange, the store.
//! - [`sealing`]: [`SealingKey`], the encryption at rest keyed by `DONGBO_SECRET_KEY`.
//! - [`source`]: [`choose`], which token the clients use.
//! - [`standing`]: [`assess`], the pure 30-day warning.
//! - [`watch`]: the check on start and daily, through a [`watch::TokenOracle`], published as a notice.

pub mod oauth;
pub mod sealing;
pub mod source;
pub mod standing;
pub mod watch;

pub use sealing::{SealError, SealingKey, SECRET_KEY_VAR};
pub use source::{choose, Choice, ChosenToken, TokenSource};
pub use standing::{assess, Standing, RENEW, WARN_BEFORE};

use crate::notices::NoticeKey;

/// The notice about the Nhanh token: expiring within 30 days, expired, replaced, or stored but
/// unreadable.
pub const NOTICE: NoticeKey = NoticeKey::new("nhanh_token");
