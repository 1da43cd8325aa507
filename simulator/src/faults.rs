//! Faults injected on demand: errors, latency, timeouts, malformed bodies, throttling, plan, and
//! per-item userErrors. One [`Faults`] handle is shared by both servers and the control API.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::Plan;
use crate::stats::Stats;

/// Which server a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    /// The Nhanh v3 server.
    Nhanh,
    /// The Shopify GraphQL Admin server.
    Shopify,
}

/// Where a change applies: one server or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The Nhanh server only.
    Nhanh,
    /// The Shopify server only.
    Shopify,
    /// Both servers.
    Both,
}

impl Scope {
    fn covers(self, server: Server) -> bool {
        matches!((self, server), (Scope::Both, _) | (Scope::Nhanh, Server::Nhanh) | (Scope::Shopify, Server::Shopify))
    }
}

/// Transport faults of one server. Rates are probabilities in `0.0..=1.0` per request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSettings {
    /// Share of requests answered with HTTP 500, 502 or 503 (an HTML body, as a proxy would).
    pub error_rate: f64,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests that hang for `timeout_ms` and then get HTTP 504.
    pub timeout_rate: f64,
    /// How long a timed-out request hangs (longer than any sane client timeout).
    pub timeout_ms: u64,
    /// Share of requests whose (otherwise correct) body is cut in half.
    pub malformed_rate: f64,
    /// Rate limiting on: Nhanh's window and lock, Shopify's cost bucket.
    pub throttle: bool,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            error_rate: 0.0,
            latency_ms: 0,
            timeout_rate: 0.0,
            timeout_ms: 30_000,
            malformed_rate: 0.0,
            throttle: true,
        }
    }
}

/// A change to the faults, as `POST /_sim/faults` takes it; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultPatch {
    /// Which server(s) the transport settings apply to; default: the server receiving the POST.
    pub scope: Option<Scope>,
    /// Restore every default first.
    #[serde(default)]
    pub reset: bool,
    /// New `errorRate`.
    pub error_rate: Option<f64>,
    /// New `latencyMs`.
    pub latency_ms: Option<u64>,
    /// New `timeoutRate`.
    pub timeout_rate: Option<f64>,
    /// New `timeoutMs`.
    pub timeout_ms: Option<u64>,
    /// New `malformedRate`.
    pub malformed_rate: Option<f64>,
    /// Rate limiting on or off.
    pub throttle: Option<bool>,
    /// Shopify plan (`standard`, `advanced`, `plus`).
    pub plan: Option<String>,
    /// Gids whose writes fail with a userError.
    pub fail_targets: Option<Vec<String>>,
    /// Share of written items that fail with a userError.
    pub user_error_rate: Option<f64>,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Error(StatusCode),
    Timeout(Duration),
    Malformed,
}

#[derive(Debug)]
struct FaultState {
    nhanh: FaultSettings,
    shopify: FaultSettings,
    plan: Plan,
    fail_targets: HashSet<String>,
    user_error_rate: f64,
    rng: StdRng,
}

/// Handle to the faults of a running simulator; clones share the settings.
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
}

impl Faults {
    pub(crate) fn new(seed: u64, plan: Plan) -> Self {
        Faults {
            inner: Arc::new(Mutex::new(FaultState {
                nhanh: FaultSettings::default(),
                shopify: FaultSettings::default(),
                plan,
                fail_targets: HashSet::new(),
                user_error_rate: 0.0,
                rng: StdRng::seed_from_u64(seed ^ 0xFA17),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Current transport settings of one server.
    pub fn settings(&self, server: Server) -> FaultSettings {
        let s = self.lock();
        match server {
            Server::Nhanh => s.nhanh.clone(),
            Server::Shopify => s.shopify.clone(),
        }
    }

    /// Changes the transport settings of the servers in `scope`.
    pub fn update(&self, scope: Scope, change: impl Fn(&mut FaultSettings)) {
        let mut s = self.lock();
        if scope.covers(Server::Nhanh) {
            change(&mut s.nhanh);
        }
        if scope.covers(Server::Shopify) {
            change(&mut s.shopify);
        }
    }

    /// Switches rate limiting on or off.
    pub fn set_throttle(&self, scope: Scope, on: bool) {
        self.update(scope, |f| f.throttle = on);
    }

    /// The Shopify plan in force.
    pub fn plan(&self) -> Plan {
        self.lock().plan
    }

    /// Changes the Shopify plan; the bucket keeps its points up to the new maximum.
    pub fn set_plan(&self, plan: Plan) {
        self.lock().plan = plan;
    }

    /// Writes to these gids (metafield owners, inventory items, customers, variants) fail with a
    /// userError from now on.
    pub fn fail_targets<S: Into<String>>(&self, targets: impl IntoIterator<Item = S>) {
        self.lock().fail_targets = targets.into_iter().map(Into::into).collect();
    }

    /// Share of written items that fail with a userError.
    pub fn set_user_error_rate(&self, rate: f64) {
        self.lock().user_error_rate = rate.clamp(0.0, 1.0);
    }

    /// Back to no faults, throttling on; the plan is kept.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.nhanh = FaultSettings::default();
        s.shopify = FaultSettings::default();
        s.fail_targets.clear();
        s.user_error_rate = 0.0;
    }

    /// Applies a control-API patch; `default_scope` is the server that received it.
    pub fn apply(&self, patch: &FaultPatch, default_scope: Scope) -> Result<(), crate::config::UnknownPlan> {
        let plan = patch.plan.as_deref().map(str::parse::<Plan>).transpose()?;
        if patch.reset {
            self.clear();
        }
        self.update(patch.scope.unwrap_or(default_scope), |f| {
            if let Some(v) = patch.error_rate {
                f.error_rate = v;
            }
            if let Some(v) = patch.latency_ms {
                f.latency_ms = v;
            }
            if let Some(v) = patch.timeout_rate {
                f.timeout_rate = v;
            }
            if let Some(v) = patch.timeout_ms {
                f.timeout_ms = v;
            }
            if let Some(v) = patch.malformed_rate {
                f.malformed_rate = v;
            }
            if let Some(v) = patch.throttle {
                f.throttle = v;
            }
        });
        if let Some(plan) = plan {
            self.set_plan(plan);
        }
        if let Some(targets) = &patch.fail_targets {
            self.fail_targets(targets.iter().cloned());
        }
        if let Some(rate) = patch.user_error_rate {
            self.set_user_error_rate(rate);
        }
        Ok(())
    }

    /// Everything, as `GET /_sim/faults` shows it.
    pub fn snapshot(&self) -> serde_json::Value {
        let s = self.lock();
        let mut targets: Vec<&String> = s.fail_targets.iter().collect();
        targets.sort();
        serde_json::json!({
            "nhanh": s.nhanh,
            "shopify": s.shopify,
            "plan": s.plan.as_str(),
            "failTargets": targets,
            "userErrorRate": s.user_error_rate,
        })
    }

    /// Draws the fate of one request and its added latency.
    pub(crate) fn roll(&self, server: Server) -> (Outcome, Duration) {
        let mut s = self.lock();
        let f = match server {
            Server::Nhanh => s.nhanh.clone(),
            Server::Shopify => s.shopify.clone(),
        };
        let latency = Duration::from_millis(f.latency_ms);
        let r: f64 = s.rng.gen();
        let outcome = if r < f.timeout_rate {
            Outcome::Timeout(Duration::from_millis(f.timeout_ms))
        } else if r < f.timeout_rate + f.error_rate {
            let codes = [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE];
            Outcome::Error(codes[s.rng.gen_range(0..codes.len())])
        } else if r < f.timeout_rate + f.error_rate + f.malformed_rate {
            Outcome::Malformed
        } else {
            Outcome::Pass
        };
        (outcome, latency)
    }

    /// Whether rate limiting is on for a server.
    pub(crate) fn throttle(&self, server: Server) -> bool {
        self.settings(server).throttle
    }

    /// Whether a write to `target` fails with an injected userError.
    pub(crate) fn item_fails(&self, target: &str) -> bool {
        let mut s = self.lock();
        if s.fail_targets.contains(target) {
            return true;
        }
        let rate = s.user_error_rate;
        rate > 0.0 && s.rng.gen::<f64>() < rate
    }
}

/// State of the fault middleware of one server.
#[derive(Clone)]
pub(crate) struct FaultLayer {
    pub faults: Faults,
    pub stats: Arc<Stats>,
    pub server: Server,
}

/// Axum middleware: counts the request, then applies the server's faults (never to `/_sim/`).
pub(crate) async fn inject(State(layer): State<FaultLayer>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sim/") {
        return next.run(req).await;
    }
    layer.stats.request(&path);
    let (outcome, latency) = layer.faults.roll(layer.server);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match outcome {
        Outcome::Pass => next.run(req).await,
        Outcome::Error(status) => {
            layer.stats.event("fault.error");
            let body = format!("<html><body><h1>{status}</h1>simulated upstream error</body></html>");
            (status, [("content-type", "text/html")], body).into_response()
        }
        Outcome::Timeout(hang) => {
            layer.stats.event("fault.timeout");
            tokio::time::sleep(hang).await;
            (StatusCode::GATEWAY_TIMEOUT, "simulated timeout").into_response()
        }
        Outcome::Malformed => {
            layer.stats.event("fault.malformed");
            let response = next.run(req).await;
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(cut))
        }
    }
}
