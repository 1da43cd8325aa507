//! The four pull workflows: mirror both stores into the catalog, resumably.
//!
//! Each step fetches one upstream page (or ingests one bounded chunk of a bulk export) and
//! commits its upserts with the step, so the checkpoint is the upstream cursor: the Nhanh `next`
//! object, the Shopify `endCursor`, or a bulk operation id plus a JSONL line offset. A crash
//! redoes at most the page that was not committed. A full pull stamps what it sees with its job
//! id and, in its final step, marks everything else of that source as removed.
//!
//! # Layout
//!
//! - [`plan`]: the pure decisions — bulk or paged, the watermark, chunk bounds, error mapping.
//! - [`nhanh`]: `PULL_NHANH_CUSTOMERS` (full, incremental, legacy alias) and `PULL_NHANH_PRODUCTS`,
//!   one generic workflow ([`PullNhanh`]) over the two kinds.
//! - [`shopify`]: `PULL_SHOPIFY_CUSTOMERS` and `PULL_SHOPIFY_PRODUCTS`, paged or by bulk export
//!   (the export's polling and chunked ingest are in `shopify::bulk`).
//!
//! [`NHANH_CUSTOMERS`] and its siblings are the job types bound to their inputs, for callers that
//! request a pull (see [`crate::jobs::JobType`]).

pub mod nhanh;
pub mod plan;
pub mod shopify;

use std::time::Duration;

use dongbo_engine::Registry;

use crate::jobs::JobType;
use crate::upstreams::Upstreams;
use nhanh::NhanhPullKind;
pub use nhanh::{
    NhanhCustomersInput, NhanhCustomersMode, NhanhProductsInput, PullNhanh, PullNhanhCustomers, PullNhanhProducts,
};
pub use plan::ShopifyMode;
pub use shopify::{PullShopifyCustomers, PullShopifyProducts, ShopifyPullInput};

/// `PULL_NHANH_CUSTOMERS` with its input (what its triggers request).
pub const NHANH_CUSTOMERS: JobType<NhanhCustomersInput> = nhanh::Customers::JOB;
/// `PULL_NHANH_PRODUCTS` with its input.
pub const NHANH_PRODUCTS: JobType<NhanhProductsInput> = nhanh::Products::JOB;
/// `PULL_SHOPIFY_CUSTOMERS` with its input.
pub const SHOPIFY_CUSTOMERS: JobType<ShopifyPullInput> = shopify::CUSTOMERS;
/// `PULL_SHOPIFY_PRODUCTS` with its input.
pub const SHOPIFY_PRODUCTS: JobType<ShopifyPullInput> = shopify::PRODUCTS;

/// Tunables of the pulls; [`PullSettings::default`] is what `register` uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PullSettings {
    /// Shopify rows per page (the client caps it to the query-cost maximum).
    pub shopify_page_size: u32,
    /// In `auto` mode, a full Shopify pull of more records than this uses a bulk export. Paging
    /// spends the cost bucket (a 250-row page of customers costs several hundred points, and the
    /// Standard plan restores 100 a second: about 20 rows/s), while an export costs one query;
    /// beyond a couple of pages the export wins.
    pub bulk_threshold: u64,
    /// JSONL lines ingested per step of a bulk pull.
    pub bulk_chunk_lines: usize,
    /// How long a poll step waits for a running bulk export before checkpointing (bounded).
    pub bulk_poll_wait: Duration,
    /// Subtracted from a pull's start time to make its watermark (see [`plan::watermark`]).
    /// Default 60 s: far above the clock skew of hosts kept by NTP and the seconds a stamp can be
    /// written late, and small enough that a webhook-driven incremental pull stays one or two
    /// pages. (It was 300 s: at 5 orders a second every order's pull re-read the last five
    /// minutes' 1,500 customers, 15 requests under Nhanh's 150 per 30 s, and total spent took
    /// over 5 s to show at the 99th percentile in `dongbo bench freshness`.)
    pub watermark_overlap: Duration,
}

impl Default for PullSettings {
    fn default() -> Self {
        PullSettings {
            shopify_page_size: 250,
            bulk_threshold: 500,
            bulk_chunk_lines: 2_000,
            bulk_poll_wait: Duration::from_secs(1),
            watermark_overlap: Duration::from_secs(60),
        }
    }
}

/// Registers the pull job types with the default settings.
pub fn register(registry: &mut Registry, upstreams: &Upstreams) {
    register_with(registry, upstreams, PullSettings::default());
}

/// Registers the pull job types with explicit settings (tests and benchmarks).
pub fn register_with(registry: &mut Registry, upstreams: &Upstreams, settings: PullSettings) {
    registry.register(PullNhanhCustomers::new(upstreams.clone(), settings));
    registry.register(PullNhanhProducts::new(upstreams.clone(), settings));
    registry.register(PullShopifyCustomers::new(upstreams.clone(), settings));
    registry.register(PullShopifyProducts::new(upstreams.clone(), settings));
}
