//! Clients for the two upstreams: Nhanh.vn v3 and the Shopify GraphQL Admin API.
//!
//! Each client paces itself to the upstream's published limit so that it runs near the ceiling
//! without hitting it, obeys the upstream when told to wait, retries transient failures a
//! bounded number of times, and classifies everything else as [`ConnectorError`]. Access tokens
//! are [`Secret`]s: they never appear in errors, `Debug` output or logs.
//!
//! # Layout
//!
//! - [`error`]: [`ConnectorError`] — transient, permanent or malformed.
//! - [`secret`]: [`Secret`], a token that prints as `***`.
//! - [`lenient`]: tolerant field decoders (numbers as strings, nulls, PHP's `[]`).
//! - [`limiter`]: pacing; pure arithmetic in [`limiter::window`] (Nhanh: 150 requests / 30 s per
//!   URL) and [`limiter::bucket`] (Shopify: the query-cost bucket), plus the async shell.
//! - [`retry`]: the in-call retry policy (backoff with jitter, upstream wait as a floor).
//! - [`stats`]: counters for benchmarks and metrics.
//! - [`nhanh`]: the Nhanh client, its wire types and its reply reader.
//! - [`shopify`]: the Shopify client, its GraphQL documents, wire types, reply reader,
//!   mutations and bulk operations.
//!
//! Only this module knows the upstreams' wire formats; the workflows see typed pages.

pub mod error;
pub mod lenient;
pub mod limiter;
pub mod nhanh;
pub mod retry;
pub mod secret;
pub mod shopify;
pub mod stats;
mod transport;

pub use error::{ConnectorError, Result};
pub use nhanh::{NhanhClient, NhanhConfig, NhanhPage};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use shopify::{ShopifyClient, ShopifyConfig, ShopifyPage};
pub use stats::ConnectorStats;
