//! The token's calls and the depot list: `app/getaccesstoken` (the OAuth exchange),
//! `app/checkaccesstoken` (expiry and covered depots) and `business/depot`.
//!
//! Sources: apidocs.nhanh.vn/app ("Get access token v3", "Kiểm tra access token") and
//! apidocs.nhanh.vn/v3/business/depot, read on 2026-12-06. A v3 token lives one year, cannot be
//! refreshed, and stops working 15 minutes after the business authorises the app again; its
//! `depotIds` list the depots it may touch, an empty list (or `"All"`) meaning every depot.

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use tracing::Instrument;

use super::reply::{read_object, read_reply, Outcome};
use super::NhanhClient;
use crate::connectors::error::{ConnectorError, Result};
use crate::connectors::lenient;
use crate::connectors::secret::Secret;
use crate::connectors::transport::{http_client, send, upstream_span};

/// What `app/checkaccesstoken` (and the exchange) report about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenInfo {
    /// When the token stops working (`expiredAt`).
    pub expires_at: DateTime<Utc>,
    /// The business the token belongs to.
    pub business_id: u64,
    /// The depots the token may touch; **empty means every depot** (the docs: "Nếu mảng rỗng
    /// hoặc bằng All thì sẽ được thao tác với toàn bộ các kho hàng"). Use
    /// [`AccessTokenInfo::covers`] rather than reading it directly.
    pub depot_ids: Vec<u64>,
    /// The permissions the user granted (as Nhanh names them).
    pub permissions: Vec<String>,
    /// The API version the token is for (`"3.0"`), when reported.
    pub version: Option<String>,
}

impl AccessTokenInfo {
    /// Whether the token may read `depot`.
    pub fn covers(&self, depot: u64) -> bool {
        self.depot_ids.is_empty() || self.depot_ids.contains(&depot)
    }

    /// Whether the token covers every depot of the business.
    pub fn covers_all_depots(&self) -> bool {
        self.depot_ids.is_empty()
    }
}

/// A token fresh from `app/getaccesstoken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedToken {
    /// The token itself (128 to 256 characters).
    pub access_token: Secret,
    /// Its expiry, business and covered depots.
    pub info: AccessTokenInfo,
}

/// A depot (warehouse or shop) of the business, from `business/depot`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NhanhDepot {
    /// The depot id.
    #[serde(deserialize_with = "lenient::u64")]
    pub id: u64,
    /// The depot's code.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub code: Option<String>,
    /// The depot's name.
    #[serde(deserialize_with = "required_string")]
    pub name: String,
    /// Its phone number.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mobile: Option<String>,
    /// Where it is.
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub location: Option<NhanhDepotLocation>,
}

/// A depot's address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NhanhDepotLocation {
    /// Province or city id.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub city_id: Option<u64>,
    /// Province or city name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub city_name: Option<String>,
    /// District id.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub district_id: Option<u64>,
    /// District name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub district_name: Option<String>,
    /// Ward id.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub ward_id: Option<u64>,
    /// Ward name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ward_name: Option<String>,
    /// Street address.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub address: Option<String>,
}

fn required_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    use serde::de::Error;
    lenient::opt_string(d)?.ok_or_else(|| D::Error::custom("expected a string, got null"))
}

/// The `data` object of both token calls, as documented.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToken {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_unix_time")]
    expired_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    business_id: Option<u64>,
    #[serde(default, deserialize_with = "depot_list")]
    depot_ids: Vec<u64>,
    #[serde(default, deserialize_with = "word_list")]
    permissions: Vec<String>,
}

/// `depotIds`: a list of ids, or `"All"` (every depot, read as the empty list the docs give the
/// same meaning).
fn depot_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u64>, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.trim().eq_ignore_ascii_case("all") => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match &v {
                Value::Number(n) => n.as_u64().ok_or_else(|| D::Error::custom(format!("bad depot id {v}"))),
                Value::String(s) => s.trim().parse().map_err(|_| D::Error::custom(format!("bad depot id {v}"))),
                _ => Err(D::Error::custom(format!("bad depot id {v}"))),
            })
            .collect(),
        other => Err(D::Error::custom(format!("expected a list of depot ids or \"All\", got {other}"))),
    }
}

/// `permissions`: documented as a list in the example and as a string in the table; both read.
fn word_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => Vec::new(),
        Value::String(s) => s.split(',').map(str::trim).filter(|w| !w.is_empty()).map(String::from).collect(),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    })
}

impl WireToken {
    fn info(&self, call: &str) -> Result<AccessTokenInfo> {
        let missing = |field: &str| ConnectorError::malformed(format!("{call} reply: missing `data.{field}`"));
        let expired_at = self.expired_at.ok_or_else(|| missing("expiredAt"))?;
        let expires_at = DateTime::<Utc>::from_timestamp(expired_at, 0).ok_or_else(|| {
            ConnectorError::malformed(format!("{call} reply: `expiredAt` out of range: {expired_at}"))
        })?;
        Ok(AccessTokenInfo {
            expires_at,
            business_id: self.business_id.ok_or_else(|| missing("businessId"))?,
            depot_ids: self.depot_ids.clone(),
            permissions: self.permissions.clone(),
            version: self.version.clone(),
        })
    }
}

/// Reads a reply of `app/getaccesstoken` or `app/checkaccesstoken` (`call`): the token, when the
/// reply carries one, and what it says of the token. A lock-out reads as a transient error.
pub fn read_token_reply(call: &str, status: u16, body: &[u8]) -> Result<(Option<Secret>, AccessTokenInfo)> {
    let wire: WireToken = match read_object(call, status, body, now_unix()) {
        Outcome::Page(w) => w,
        Outcome::Locked { locked_for, reason } => {
            return Err(ConnectorError::Transient { reason, retry_after: Some(locked_for) })
        }
        Outcome::Failed(e) => return Err(e),
    };
    let info = wire.info(call)?;
    Ok((wire.access_token.filter(|t| !t.is_empty()).map(Secret::new), info))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Exchanges a one-time `accessCode` (10 minutes, single use) for a token:
/// `POST {base_url}/v3.0/app/getaccesstoken?appId=…` with `{accessCode, secretKey}` and no
/// `Authorization`. Sent once, never retried: the code is spent by the first exchange that
/// reaches Nhanh, so a retry could only fail. The reason of any error never holds the secret.
pub async fn get_access_token(
    base_url: &str,
    app_id: &str,
    secret_key: &Secret,
    access_code: &str,
) -> Result<GrantedToken> {
    const CALL: &str = "app/getaccesstoken";
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let http = http_client(headers, std::time::Duration::from_secs(30))?;
    let url = format!("{}/v3.0/{CALL}", base_url.trim_end_matches('/'));
    let body = json!({"accessCode": access_code, "secretKey": secret_key.expose()});
    let redact = |e: ConnectorError| {
        let code = Secret::new(access_code);
        e.map_reason(|r| code.redact(&secret_key.redact(&r)))
    };
    let span = upstream_span("nhanh", CALL, 1);
    let sent = send(http.post(&url).query(&[("appId", app_id)]).json(&body), CALL).instrument(span.clone()).await;
    if let Ok(reply) = &sent {
        span.record("status", reply.status);
    }
    span.record("result", if sent.is_ok() { "replied" } else { "transient failure" });
    span.in_scope(|| tracing::info!("nhanh call"));
    let reply = sent.map_err(redact)?;
    let (token, info) = read_token_reply(CALL, reply.status, &reply.body).map_err(redact)?;
    let access_token =
        token.ok_or_else(|| ConnectorError::malformed(format!("{CALL} reply: missing `data.accessToken`")))?;
    Ok(GrantedToken { access_token, info })
}

impl NhanhClient {
    /// `app/checkaccesstoken`: the token's expiry, business and covered depots. The docs require
    /// the app's secret key in the body, so the config must carry one
    /// ([`super::NhanhConfig::secret_key`], `NHANH_SECRET_KEY`); without it this fails
    /// permanently, naming the variable.
    pub async fn check_access_token(&self) -> Result<AccessTokenInfo> {
        const CALL: &str = "app/checkaccesstoken";
        let Some(secret) = self.inner.cfg.secret_key.clone() else {
            return Err(ConnectorError::permanent(format!("{CALL} needs the app's secret key: set NHANH_SECRET_KEY")));
        };
        let body = json!({"secretKey": secret.expose()});
        let wire: WireToken =
            self.post(CALL, &body, read_object::<WireToken>).await.map_err(|e| e.map_reason(|r| secret.redact(&r)))?;
        wire.info(CALL)
    }

    /// `business/depot`: every depot of the business, following `next` to the end.
    pub async fn business_depots(&self) -> Result<Vec<NhanhDepot>> {
        const CALL: &str = "business/depot";
        let mut depots = Vec::new();
        let mut next: Option<Value> = None;
        for _ in 0..10_000 {
            let mut body = json!({"filters": {}});
            if let Some(next) = next.take() {
                body["paginator"] = json!({"next": next});
            }
            let page = self.post(CALL, &body, read_reply::<NhanhDepot>).await?;
            depots.extend(page.items);
            match page.next {
                Some(n) => next = Some(n),
                None => return Ok(depots),
            }
        }
        Err(ConnectorError::malformed(format!("{CALL}: still a `next` after 10000 pages; the cursor loops")))
    }
}
