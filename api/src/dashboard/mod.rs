//! The dashboard: one HTML page, its stylesheet and scripts, embedded in the binary and served at
//! `/` by `dongbo serve`. There is no build step: the assets in `api/assets/` are what the browser
//! runs (`app.js`, `console.js` for the operator's console, `locations.js` for the depot → location panel, which sets the mapping
//! through `/api/location-mappings`, `schedules.js` for the schedules and `webhooks.js` for the
//! webhook deliveries and the Shopify app's uninstalled stop), and the page reads everything through the public `/api`
//! routes (plus the one below).
//!
//! # Layout
//!
//! - [`assets`]: the embedded files, their content types and the fingerprint that busts caches.
//! - [`example`]: `POST /api/example/count`, the trigger of the engine's built-in `EXAMPLE_COUNT`
//!   job — a self-test that needs no upstream, so the dashboard (and its end-to-end test) can
//!   start a job that runs on any server.
//!
//! The router is merged by [`crate::http::router_with_dashboard`], so the dashboard sits behind
//! the same token check (on `/api`), logging and error envelope as the API.

pub mod assets;
pub mod example;

use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

/// The dashboard's routes: the page, its assets and the example trigger.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route(example::PATH, post(example::count))
}
