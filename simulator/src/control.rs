//! The control API under `/_sim/` on each server (no auth): journal, request counts, truth,
//! faults, and touching records for incremental-pull tests.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::faults::{FaultPatch, Scope, Server};
use crate::sim::Sim;

#[derive(Clone)]
struct Control {
    sim: Arc<Sim>,
    server: Server,
}

pub(crate) fn router(sim: Arc<Sim>, server: Server) -> Router {
    Router::new()
        .route("/_sim/journal", get(journal))
        .route("/_sim/requests", get(requests))
        .route("/_sim/truth", get(truth))
        .route("/_sim/faults", get(faults).post(set_faults))
        .route("/_sim/touch", post(touch))
        .with_state(Control { sim: sim.clone(), server })
        .merge(crate::webhooks::control::router(sim))
}

async fn journal(State(c): State<Control>) -> Json<serde_json::Value> {
    Json(json!(c.sim.journal.all()))
}

async fn requests(State(c): State<Control>) -> Json<serde_json::Value> {
    let stats = match c.server {
        Server::Nhanh => &c.sim.nhanh_stats,
        Server::Shopify => &c.sim.shopify_stats,
    };
    Json(stats.snapshot())
}

async fn truth(State(c): State<Control>) -> Json<serde_json::Value> {
    Json(json!(*c.sim.truth()))
}

async fn faults(State(c): State<Control>) -> Json<serde_json::Value> {
    Json(c.sim.faults.snapshot())
}

async fn set_faults(State(c): State<Control>, body: axum::body::Bytes) -> Response {
    let patch: FaultPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))).into_response(),
    };
    let scope = match c.server {
        Server::Nhanh => Scope::Nhanh,
        Server::Shopify => Scope::Shopify,
    };
    match c.sim.faults.apply(&patch, scope) {
        Ok(()) => Json(c.sim.faults.snapshot()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

#[derive(Deserialize)]
struct TouchBody {
    #[serde(default)]
    customers: usize,
    #[serde(default)]
    products: usize,
    /// Shopify stock levels changed by hand (each sends `INVENTORY_LEVELS_UPDATE`).
    #[serde(default, rename = "shopifyInventory")]
    shopify_inventory: usize,
    /// Nhanh products whose information (price) changed (each batch sends `productUpdate`).
    #[serde(default, rename = "productInfo")]
    product_info: usize,
}

/// Touched records fire the webhooks their platform would send: Nhanh `orderAdd` for a customer
/// whose total rose, `inventoryChange` for products whose stock changed, Shopify
/// `INVENTORY_LEVELS_UPDATE` for levels changed by hand.
async fn touch(State(c): State<Control>, Json(body): Json<TouchBody>) -> Json<serde_json::Value> {
    let customers = crate::touch::customers(&c.sim, body.customers);
    let products = crate::touch::products(&c.sim, body.products);
    crate::webhooks::customers_ordered(&c.sim, &customers);
    crate::webhooks::products_changed(&c.sim, &products);
    let inventory = crate::webhooks::touch_shopify_inventory(&c.sim, body.shopify_inventory);
    let info = crate::webhooks::touch_product_info(&c.sim, body.product_info);
    Json(json!({"customers": customers, "products": products, "shopifyInventory": inventory, "productInfo": info}))
}
