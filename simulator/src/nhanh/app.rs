//! Nhanh's app and token calls: the OAuth login page (`GET /oauth`), `app/getaccesstoken`,
//! `app/checkaccesstoken` and `business/depot`, with the token's documented life
//! (apidocs.nhanh.vn/app, apidocs.nhanh.vn/v3/business/depot, read on 2026-12-06):
//!
//! - the login page sends the user back to `returnLink` with an `accessCode` that lives 10
//!   minutes and is spent by its first exchange;
//! - a token lives one year and cannot be refreshed;
//! - one live token per appId + businessId: a new authorisation leaves the old token 15 more
//!   minutes, after which it is refused;
//! - a token covers the depots chosen at authorisation, an empty `depotIds` meaning all.
//!
//! Every time is on the simulator's clock, so a paused-time test can walk a token to its end.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::NhanhError;
use crate::data::depot_id;
use crate::data::names::DEPOTS;
use crate::sim::Sim;

/// How long an access code may wait for its exchange.
const CODE_LIFE_MS: i64 = 10 * 60 * 1000;
/// How long a replaced token keeps working.
const REPLACED_GRACE_MS: i64 = 15 * 60 * 1000;
/// How long a token lives.
const TOKEN_LIFE_SECS: i64 = 365 * 86_400;

/// One issued token.
#[derive(Debug, Clone)]
struct Token {
    /// `expiredAt`, Unix seconds.
    expired_at: i64,
    /// Covered depots; empty means all.
    depot_ids: Vec<u64>,
    /// When a newer token replaced this one, the Unix ms at which this one stops working.
    dies_at_ms: Option<i64>,
}

/// The tokens and access codes the server knows.
#[derive(Debug)]
pub(crate) struct TokenBook {
    tokens: HashMap<String, Token>,
    /// Access code → Unix ms it was issued.
    codes: HashMap<String, i64>,
    /// What new authorisations cover; empty means all depots.
    coverage: Vec<u64>,
}

impl TokenBook {
    /// The configured token, live for a year from `now_ms` and covering every depot, and the
    /// configured access code, issued at `now_ms`.
    pub(crate) fn new(token: &str, code: &str, now_ms: i64) -> TokenBook {
        let mut tokens = HashMap::new();
        let expired_at = now_ms.div_euclid(1000) + TOKEN_LIFE_SECS;
        tokens.insert(token.to_string(), Token { expired_at, depot_ids: Vec::new(), dies_at_ms: None });
        let mut codes = HashMap::new();
        codes.insert(code.to_string(), now_ms);
        TokenBook { tokens, codes, coverage: Vec::new() }
    }

    /// The depots `token` covers (empty: all), or why it is refused at `now_ms`.
    pub(crate) fn check(&self, token: &str, now_ms: i64) -> Result<Vec<u64>, NhanhError> {
        let t = self.tokens.get(token).ok_or(NhanhError::InvalidAccessToken)?;
        let expired = t.expired_at * 1000 <= now_ms;
        let replaced = t.dies_at_ms.is_some_and(|at| at <= now_ms);
        if expired || replaced {
            return Err(NhanhError::InvalidAccessToken);
        }
        Ok(t.depot_ids.clone())
    }

    fn issue_code(&mut self, now_ms: i64) -> String {
        let code: String = rand::thread_rng().sample_iter(&Alphanumeric).take(64).map(char::from).collect();
        self.codes.insert(code.clone(), now_ms);
        code
    }

    /// Spends `code` for a new token; every other live token dies 15 minutes from now.
    fn exchange(&mut self, code: &str, now_ms: i64) -> Option<(String, Token)> {
        let issued = self.codes.remove(code)?;
        if now_ms - issued > CODE_LIFE_MS {
            return None;
        }
        for t in self.tokens.values_mut() {
            let dies = now_ms + REPLACED_GRACE_MS;
            t.dies_at_ms = Some(t.dies_at_ms.map_or(dies, |d| d.min(dies)));
        }
        let token: String = rand::thread_rng().sample_iter(&Alphanumeric).take(160).map(char::from).collect();
        let issued = Token {
            expired_at: now_ms.div_euclid(1000) + TOKEN_LIFE_SECS,
            depot_ids: self.coverage.clone(),
            dies_at_ms: None,
        };
        self.tokens.insert(token.clone(), issued.clone());
        Some((token, issued))
    }

    /// Live tokens and new authorisations cover only `depot_ids` (empty: all).
    pub(crate) fn cover(&mut self, depot_ids: Vec<u64>) {
        for t in self.tokens.values_mut() {
            t.depot_ids = depot_ids.clone();
        }
        self.coverage = depot_ids;
    }

    /// Every token known expires at `unix_secs`.
    pub(crate) fn expire_at(&mut self, unix_secs: i64) {
        for t in self.tokens.values_mut() {
            t.expired_at = unix_secs;
        }
    }
}

fn token_data(sim: &Sim, token: &str, t: &Token) -> Value {
    let business = &sim.config.credentials.nhanh_business_id;
    json!({
        "accessToken": token,
        "version": "3.0",
        "expiredAt": t.expired_at,
        "businessId": business.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(business)),
        "depotIds": t.depot_ids,
        "pageIds": [],
        "permissions": [],
    })
}

fn required_strings<'a>(body: &'a Value, names: &[&str]) -> Result<Vec<&'a str>, NhanhError> {
    let mut missing = Map::new();
    let mut found = Vec::new();
    for name in names {
        match body.get(*name).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(s) => found.push(s),
            None => {
                missing.insert((*name).to_string(), json!(format!("{name} is required")));
            }
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(NhanhError::InvalidFormFields(missing))
    }
}

/// `app/getaccesstoken`: spends a live access code, with the app's secret key, for a new token.
pub(crate) fn get_access_token(sim: &Sim, body: &Value) -> Result<Value, NhanhError> {
    let found = required_strings(body, &["accessCode", "secretKey"])?;
    let (code, secret) = (found[0], found[1]);
    if secret != sim.config.credentials.nhanh_secret_key {
        return Err(NhanhError::field("secretKey", "secretKey is invalid"));
    }
    let now = sim.clock.unix_ms();
    let mut book = sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner());
    let Some((token, issued)) = book.exchange(code, now) else {
        return Err(NhanhError::field("accessCode", "accessCode is invalid, expired or already used"));
    };
    Ok(json!({"code": 1, "data": token_data(sim, &token, &issued)}))
}

/// `app/checkaccesstoken`: the calling token's expiry and coverage (the caller has checked the
/// token); the body must carry the app's secret key.
pub(crate) fn check_access_token(sim: &Sim, token: &str, body: &Value) -> Result<Value, NhanhError> {
    let found = required_strings(body, &["secretKey"])?;
    if found[0] != sim.config.credentials.nhanh_secret_key {
        return Err(NhanhError::field("secretKey", "secretKey is invalid"));
    }
    let book = sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner());
    let t = book.tokens.get(token).ok_or(NhanhError::InvalidAccessToken)?;
    Ok(json!({"code": 1, "data": token_data(sim, token, t)}))
}

/// `business/depot`: every depot in one page (the docs' `filters.ids` narrows it).
pub(crate) fn business_depots(body: &Value) -> Result<Value, NhanhError> {
    let ids: Vec<u64> = match body.pointer("/filters/ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_u64().ok_or_else(|| NhanhError::field("filters.ids", "ids must be integers")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(NhanhError::field("filters.ids", "ids must be an array")),
    };
    let rows: Vec<Value> = DEPOTS
        .iter()
        .enumerate()
        .filter(|(i, _)| ids.is_empty() || ids.contains(&depot_id(*i)))
        .map(|(i, (name, _))| {
            json!({
                "id": depot_id(i),
                "code": format!("K{:02}", i + 1),
                "name": name,
                "mobile": format!("02437{:06}", 100_000 + i * 1_111),
                "location": {
                    "cityId": 254 + i,
                    "cityName": if i < 2 { "Hà Nội" } else if i < 4 { "Hồ Chí Minh" } else { "Đà Nẵng" },
                    "districtId": 1_000 + i,
                    "districtName": format!("Quận {}", i + 1),
                    "wardId": 20_000 + i,
                    "wardName": format!("Phường {}", i + 1),
                    "address": format!("{} Đường Số {}", 10 + i, i + 1),
                },
            })
        })
        .collect();
    Ok(json!({"code": 1, "data": rows}))
}

/// The query of the simulated login page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OauthQuery {
    app_id: Option<String>,
    return_link: Option<String>,
}

/// `GET /oauth?appId=…&returnLink=…`: the user "logs in and agrees" at once, and is sent back
/// to `returnLink` with a fresh `accessCode`.
pub(crate) async fn oauth(State(sim): State<std::sync::Arc<Sim>>, Query(q): Query<OauthQuery>) -> Response {
    if q.app_id.as_deref() != Some(sim.config.credentials.nhanh_app_id.as_str()) {
        return (StatusCode::BAD_REQUEST, "unknown appId").into_response();
    }
    let Some(link) = q.return_link.filter(|l| l.starts_with("http://") || l.starts_with("https://")) else {
        return (StatusCode::BAD_REQUEST, "returnLink must be an absolute http(s) URL").into_response();
    };
    let code = sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner()).issue_code(sim.clock.unix_ms());
    let sep = if link.contains('?') { '&' } else { '?' };
    (StatusCode::FOUND, [(header::LOCATION, format!("{link}{sep}accessCode={code}"))]).into_response()
}

/// The body of `POST /_sim/nhanh/token`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenPatch {
    /// Covered depots from now on (empty: all).
    depot_ids: Option<Vec<u64>>,
    /// Unix seconds at which every token known expires.
    expired_at: Option<i64>,
}

/// `POST /_sim/nhanh/token`: sets coverage and expiry, for a hand-run simulator.
pub(crate) async fn set_token(State(sim): State<std::sync::Arc<Sim>>, Json(patch): Json<TokenPatch>) -> Response {
    let mut book = sim.nhanh_tokens.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(depots) = patch.depot_ids {
        book.cover(depots);
    }
    if let Some(at) = patch.expired_at {
        book.expire_at(at);
    }
    StatusCode::NO_CONTENT.into_response()
}
