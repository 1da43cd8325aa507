//! `/_sim/webhooks` (targets, faults, the delivery journal) and `/_sim/drip` (start, stop, the
//! changes made), on both servers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{drip, DripRates, Subscription, WebhookFaults};
use crate::sim::Sim;

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/_sim/webhooks", get(show).post(change))
        .route("/_sim/drip", get(show_drip).post(drip_control))
        .with_state(sim)
}

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message.into()}))).into_response()
}

fn snapshot(sim: &Sim, with_log: bool) -> Value {
    let s = sim.webhooks.lock();
    let accepted = s.log.iter().filter(|d| d.accepted).count();
    let dropped = s.log.iter().filter(|d| d.fate == "dropped").count();
    let mut out = json!({
        "targets": s.targets,
        "faults": s.faults,
        "attempts": s.log.len(),
        "accepted": accepted,
        "dropped": dropped,
    });
    if with_log {
        out["deliveries"] = json!(s.log);
    }
    out
}

async fn show(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(snapshot(&sim, true))
}

/// A change to the targets and faults; absent fields stay as they are, `null` clears a URL.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Change {
    nhanh_url: Option<Value>,
    shopify_url: Option<Value>,
    subscriptions: Option<Vec<Subscription>>,
    faults: Option<WebhookFaults>,
}

fn url(v: &Value, field: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => Ok(Some(s.clone())),
        _ => Err(format!("{field} must be an http(s) URL or null")),
    }
}

fn check_faults(f: &WebhookFaults) -> Result<(), String> {
    for (name, rate) in [
        ("dropRate", f.drop_rate),
        ("delayRate", f.delay_rate),
        ("duplicateRate", f.duplicate_rate),
        ("reorderRate", f.reorder_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("faults.{name} must be between 0 and 1"));
        }
    }
    Ok(())
}

async fn change(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    let change: Change = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    let nhanh = match change.nhanh_url.as_ref().map(|v| url(v, "nhanhUrl")).transpose() {
        Ok(u) => u,
        Err(e) => return bad(e),
    };
    let shopify = match change.shopify_url.as_ref().map(|v| url(v, "shopifyUrl")).transpose() {
        Ok(u) => u,
        Err(e) => return bad(e),
    };
    if let Some(subs) = &change.subscriptions {
        if let Some(s) = subs.iter().find(|s| url(&json!(s.uri), "uri").is_err() || s.topic.is_empty()) {
            return bad(format!("subscription {:?} needs a topic and an http(s) uri", s.topic));
        }
    }
    if let Some(Err(e)) = change.faults.as_ref().map(check_faults) {
        return bad(e);
    }
    {
        let mut s = sim.webhooks.lock();
        if let Some(u) = nhanh {
            s.targets.nhanh_url = u;
        }
        if let Some(u) = shopify {
            s.targets.shopify_url = u;
        }
        if let Some(subs) = change.subscriptions {
            s.targets.subscriptions = subs;
        }
        if let Some(f) = change.faults {
            s.faults = f;
        }
    }
    Json(snapshot(&sim, false)).into_response()
}

fn drip_snapshot(sim: &Sim, with_changes: bool) -> Value {
    let d = sim.webhooks.drip.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = json!({"running": d.rates.is_some(), "rates": d.rates, "changes": d.changes.len()});
    if with_changes {
        out["changes"] = json!(d.changes);
    }
    out
}

async fn show_drip(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(drip_snapshot(&sim, true))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DripControl {
    action: String,
    #[serde(default)]
    stock_per_second: f64,
    #[serde(default)]
    orders_per_second: f64,
}

async fn drip_control(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    let c: DripControl = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    match c.action.as_str() {
        "start" => {
            let ok = |r: f64| r.is_finite() && (0.0..=10_000.0).contains(&r);
            if !ok(c.stock_per_second) || !ok(c.orders_per_second) {
                return bad("stockPerSecond and ordersPerSecond must be between 0 and 10000");
            }
            drip::start(
                &sim,
                DripRates { stock_per_second: c.stock_per_second, orders_per_second: c.orders_per_second },
            );
        }
        "stop" => drip::stop(&sim),
        other => return bad(format!("action must be start or stop, not {other:?}")),
    }
    Json(drip_snapshot(&sim, false)).into_response()
}
