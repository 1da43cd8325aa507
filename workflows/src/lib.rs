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

#![forbid(unsafe_code)]

pub mod keys;
pub mod connectors;
