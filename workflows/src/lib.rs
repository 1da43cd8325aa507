//! dongbo-workflows: the sync domain on top of the engine.
//!
//! It owns the Nhanh v3 and Shopify GraphQL Admin connectors (with their limiters), the match
//! keys, and the job types of DESIGN.md. It knows the upstreams, but not HTTP serving or the
//! command line, and it writes no SQL outside its store modules.
//!
//! # Layout
//!
//! - [`connectors`]: the Nhanh and Shopify clients, wire types, limiters and error classes.
//! - [`keys`]: validated match keys — [`keys::Sku`], [`keys::Barcode`], [`keys::PhoneKey`].
//! - [`catalog`]: the local mirror, mappings, conflicts and failures; its `store` holds all SQL.
//! - [`pull`], [`matching`], [`sync`]: the job types, by family ([`jobs`] names them).
//! - [`nhanh_token`]: the Nhanh access token: stored sealed, chosen, checked, warned about.
//! - [`notices`]: conditions an operator must see (a token expiring, an API version leaving
//!   support), shown by the HTTP layer.
//! - [`webhooks`]: Nhanh and Shopify webhook deliveries — verified, recorded, coalesced into
//!   targeted jobs by a dispatcher.
//! - [`setup`]: upstream clients from configuration and [`setup::register_all`].

#![forbid(unsafe_code)]

pub mod catalog;
pub mod connectors;
pub mod jobs;
pub mod keys;
pub mod matching;
pub mod nhanh_token;
pub mod notices;
pub mod pull;
pub mod setup;
pub mod sync;
pub mod webhooks;

pub use setup::{register_all, Upstreams};
