//! The local catalog: mirrors of both stores, match keys, mappings, conflicts, sync failures and
//! pull watermarks. The tables are in `migrations/catalog/*/0002_catalog.sql`; all SQL is in [`store`].

pub mod store;
