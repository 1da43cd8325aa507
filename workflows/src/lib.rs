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
//! - [`catalog`]: the local mirror, mappings, conflicts and failures; its `store` holds all SQL
//!   and the catalog's migrations ([`open`] applies the engine's, then these).
//! - [`pull`], [`matching`], [`sync`]: the job types, by family ([`jobs`] names them).
//! - [`nhanh_token`]: the Nhanh access token: stored sealed, chosen, checked, warned about.
//! - [`notices`]: conditions an operator must see (a token expiring, an API version leaving
//!   support), shown by the HTTP layer.
//! - [`schedules`]: durable cron schedules, their scheduler, and PIPELINE (parent and child jobs).
//! - [`reconcile`]: RECONCILE, which repairs the drift webhooks missed.
//! - [`notify`]: outgoing notifications (signed webhooks through a durable outbox) when a job
//!   fails or recovers and when the Nhanh token is about to expire.
//! - [`webhooks`]: Nhanh and Shopify webhook deliveries — verified, recorded, coalesced into
//!   targeted jobs by a dispatcher.
//! - [`upstreams`]: the upstream clients from configuration ([`Upstreams`]).
//! - [`setup`]: [`setup::register_all`], every job type with those clients.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod connectors;
pub mod jobs;
pub mod keys;
pub mod matching;
pub mod nhanh_token;
pub mod notices;
pub mod notify;
pub mod pull;
pub mod reconcile;
pub mod schedules;
pub mod setup;
pub mod sync;
pub mod upstreams;
pub mod webhooks;

pub use catalog::store::schema::open;
pub use setup::register_all;
pub use upstreams::Upstreams;
