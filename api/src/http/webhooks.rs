//! The vendors' webhooks: `POST /api/webhooks/nhanh` and `POST /api/webhooks/shopify`, the
//! deliveries' audit listing `GET /api/webhook-deliveries`, and the stop Shopify's
//! `app/uninstalled` puts on pushes: `GET /api/shopify/app` shows it and
//! `POST /api/shopify/app/reinstalled` lifts it (as `dongbo webhooks reinstalled` does).
//!
//! A delivery is verified (Nhanh's verify token, Shopify's HMAC over the raw body, both in
//! constant time), read, and recorded in the store — then answered 200. Nothing else happens in
//! the request: the dispatcher (`dongbo_workflows::webhooks::dispatch`) turns recorded
//! deliveries into jobs. A wrong token or signature is 401 and records nothing; a body that
//! cannot be read is 400 and records nothing; a duplicate (same Shopify event id, or a Nhanh body
//! identical to one not yet dispatched) is 200 and records nothing new. Once a delivery is
//! recorded the answer is 200 whatever follows, since the vendors retry anything else.
//!
//! The two receiving routes are outside the bearer token and the browser guard (they come from
//! the vendors' servers and carry their own proof); the listing and the app routes are ordinary
//! guarded routes. The app routes are deliberately not under `/api/webhooks/`, which the browser
//! guard leaves alone for the vendors' sake: lifting the stop must need the token, JSON and a
//! loopback origin like every other operator action.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use dongbo_workflows::catalog::store::webhooks::{self as store, DeliveryRow, NewDelivery};
use dongbo_workflows::webhooks::{self as hooks, nhanh, shopify, ReadDelivery, Touch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::extract::{ApiQuery, JsonBody};
use super::AppState;

/// The receiving paths, which authenticate by the vendors' proofs instead of the bearer token.
pub const RECEIVING_PATHS: [&str; 2] = ["/api/webhooks/nhanh", "/api/webhooks/shopify"];

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_nhanh))
        .routes(routes!(receive_shopify))
        .routes(routes!(list_deliveries))
        .routes(routes!(shopify_app))
        .routes(routes!(shopify_reinstalled))
}

/// The secrets the receiving routes check; a route whose secret is unset answers 503.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// The verify token typed in Nhanh's app settings (`NHANH_WEBHOOK_TOKEN`).
    pub nhanh_token: Option<String>,
    /// The Shopify app's client secret (`SHOPIFY_WEBHOOK_SECRET`).
    pub shopify_secret: Option<String>,
}

impl WebhookSecrets {
    /// From `NHANH_WEBHOOK_TOKEN` and `SHOPIFY_WEBHOOK_SECRET` read through `var` (blank = unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k| var(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        WebhookSecrets { nhanh_token: get("NHANH_WEBHOOK_TOKEN"), shopify_secret: get("SHOPIFY_WEBHOOK_SECRET") }
    }
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("nhanh_token", &self.nhanh_token.as_ref().map(|_| "<set>"))
            .field("shopify_secret", &self.shopify_secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// What recording a delivery did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAccepted {
    /// The delivery's id (the earlier copy's, for a duplicate).
    pub delivery_id: i64,
    /// Whether this was a copy of a delivery already recorded (nothing new was recorded).
    pub duplicate: bool,
    /// Whether dongbo acts on it (false: recorded for the audit trail only).
    pub acted_on: bool,
}

fn now_ms(state: &AppState) -> i64 {
    state.engine.clock().now().timestamp_millis()
}

async fn record(state: &AppState, d: NewDelivery) -> ApiResult<DeliveryAccepted> {
    let acted_on = d.state == "RECEIVED";
    let recorded = state
        .recorder()
        .record(d)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the delivery could not be recorded, send it again: {e}")))?;
    Ok(Reply::ok(DeliveryAccepted { delivery_id: recorded.id, duplicate: recorded.duplicate, acted_on }))
}

fn new_delivery(
    source: hooks::Source,
    read: ReadDelivery,
    dedup_key: String,
    content_key: String,
    received_at: i64,
    triggered_at: Option<i64>,
    body: String,
) -> Result<NewDelivery, ApiError> {
    let touches = serde_json::to_string(&read.touches).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (state, note) = match read.ignored {
        Some(why) => ("IGNORED", Some(why)),
        None => ("RECEIVED", None),
    };
    Ok(NewDelivery {
        source: source.as_str(),
        topic: read.topic,
        dedup_key,
        content_key,
        received_at,
        triggered_at,
        body,
        touches,
        state,
        note,
    })
}

/// Receives a Nhanh webhook (apidocs.nhanh.vn/v3/webhooks): checks the verify token (the
/// `verifyToken` header, or the v2 body field `webhooksVerifyToken`), records the delivery and
/// answers 200.
#[utoipa::path(post, path = "/api/webhooks/nhanh", tag = "webhooks",
    request_body(content = String, description = "Nhanh's JSON body: {event, businessId, data}", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded (or a copy of one recorded)", body = Envelope<DeliveryAccepted>),
        (status = 400, description = "The body cannot be read; nothing recorded", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong verify token; nothing recorded", body = ErrorEnvelope),
        (status = 503, description = "NHANH_WEBHOOK_TOKEN is not set, or the store is down; nothing recorded", body = ErrorEnvelope),
    ))]
pub async fn receive_nhanh(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<DeliveryAccepted> {
    let Some(expected) = state.webhooks.nhanh_token.as_deref() else {
        return Err(ApiError::Unavailable("Nhanh webhooks are not set up here: NHANH_WEBHOOK_TOKEN is not set".into()));
    };
    let header = headers.get(nhanh::TOKEN_HEADER).map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_owned());
    // A header token is checked before the body is even parsed.
    if let Some(given) = &header {
        if !hooks::same_secret(given, expected) {
            return Err(ApiError::Unauthorized);
        }
    }
    let parsed = nhanh::parse_body(&body).map_err(|e| ApiError::BadRequest(e.0))?;
    if header.is_none() && !parsed.body_token.as_deref().is_some_and(|t| hooks::same_secret(t.trim(), expected)) {
        return Err(ApiError::Unauthorized);
    }
    let read = nhanh::read(&parsed.value).map_err(|e| ApiError::BadRequest(e.0))?;
    let content_key = hooks::digest_hex(parsed.stored.as_bytes());
    let d = new_delivery(
        hooks::Source::Nhanh,
        read,
        format!("nhanh:{content_key}"),
        content_key,
        now_ms(&state),
        None,
        parsed.stored,
    )?;
    record(&state, d).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Receives a Shopify webhook (shopify.dev/docs/apps/build/webhooks): checks
/// `X-Shopify-Hmac-SHA256` over the raw body, deduplicates on `X-Shopify-Event-Id`, records the
/// delivery and answers 200. `app/uninstalled` stops every push at once.
#[utoipa::path(post, path = "/api/webhooks/shopify", tag = "webhooks",
    request_body(content = String, description = "The topic's JSON payload", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded (or a copy of one recorded)", body = Envelope<DeliveryAccepted>),
        (status = 400, description = "A header is missing or the body cannot be read; nothing recorded", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong HMAC; nothing recorded", body = ErrorEnvelope),
        (status = 503, description = "SHOPIFY_WEBHOOK_SECRET is not set, or the store is down; nothing recorded", body = ErrorEnvelope),
    ))]
pub async fn receive_shopify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<DeliveryAccepted> {
    let Some(secret) = state.webhooks.shopify_secret.as_deref() else {
        return Err(ApiError::Unavailable(
            "Shopify webhooks are not set up here: SHOPIFY_WEBHOOK_SECRET is not set".into(),
        ));
    };
    let signature = header(&headers, "x-shopify-hmac-sha256").ok_or(ApiError::Unauthorized)?;
    if !shopify::verify(secret, &body, signature) {
        return Err(ApiError::Unauthorized);
    }
    let topic = header(&headers, "x-shopify-topic")
        .ok_or_else(|| ApiError::BadRequest("X-Shopify-Topic is missing".into()))?
        .to_owned();
    let event_id = header(&headers, "x-shopify-event-id")
        .ok_or_else(|| ApiError::BadRequest("X-Shopify-Event-Id is missing".into()))?
        .chars()
        .take(200)
        .collect::<String>();
    let triggered_at = match header(&headers, "x-shopify-triggered-at") {
        Some(t) => Some(
            shopify::parse_time(t)
                .ok_or_else(|| ApiError::BadRequest("X-Shopify-Triggered-At is not an RFC 3339 time".into()))?,
        ),
        None => None,
    };
    let read = shopify::read(&topic, &body, triggered_at).map_err(|e| ApiError::BadRequest(e.0))?;
    let uninstalled = read.touches.iter().any(|t| t.touch == Touch::AppUninstalled);
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let d = new_delivery(
        hooks::Source::Shopify,
        read,
        format!("shopify:{event_id}"),
        hooks::digest_hex(&body),
        now_ms(&state),
        triggered_at,
        text,
    )?;
    let reply = record(&state, d).await?;
    if uninstalled {
        let shop = header(&headers, "x-shopify-shop-domain");
        // Recorded: the answer is 200 whatever happens here (a failure is logged, and the
        // dispatcher closes the delivery as ignored; the next delivery raises the flag again).
        if let Err(e) =
            hooks::app_uninstalled(&state.engine.store().db(), &state.notices, state.engine.clock().now(), shop).await
        {
            tracing::error!(error = %e, "recording that the Shopify app was uninstalled failed");
        }
    }
    Ok(reply)
}

/// `GET /api/webhook-deliveries` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries with an id below this (the next page: the last id seen).
    pub before: Option<i64>,
    /// Only the deliveries that caused this job.
    pub job_id: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<i64>,
}

/// One recorded delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Its id.
    pub id: i64,
    /// `nhanh` or `shopify`.
    pub source: String,
    /// The event or topic.
    pub topic: String,
    /// When it arrived (RFC 3339).
    pub received_at: String,
    /// When the source says it happened (Shopify's `X-Shopify-Triggered-At`).
    pub triggered_at: Option<String>,
    /// `RECEIVED`, `WAITING` (for its pull), `DISPATCHED`, `IGNORED` or `STALE`.
    pub state: String,
    /// The pull it needed first.
    pub pull_job_id: Option<String>,
    /// The job it caused.
    pub job_id: Option<String>,
    /// Why it was ignored or stale.
    pub note: Option<String>,
    /// What it is about, item by item.
    #[schema(value_type = Object)]
    pub touches: serde_json::Value,
    /// When it was dispatched or closed (RFC 3339).
    pub dispatched_at: Option<String>,
}

fn time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl From<DeliveryRow> for DeliveryView {
    fn from(r: DeliveryRow) -> Self {
        DeliveryView {
            id: r.id,
            source: r.source,
            topic: r.topic,
            received_at: time(r.received_at),
            triggered_at: r.triggered_at.map(time),
            state: r.state,
            pull_job_id: r.pull_job_id,
            job_id: r.job_id,
            note: r.note,
            touches: serde_json::from_str(&r.touches).unwrap_or(serde_json::Value::Null),
            dispatched_at: r.dispatched_at.map(time),
        }
    }
}

/// Lists recorded webhook deliveries, newest first, with the job each caused.
#[utoipa::path(get, path = "/api/webhook-deliveries", tag = "webhooks", params(DeliveriesQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = Envelope<Vec<DeliveryView>>),
        (status = 400, description = "A bad query value", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Vec<DeliveryView>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    let rows = store::deliveries_page(&state.engine.store().db(), q.before, q.job_id.as_deref(), limit)
        .await
        .map_err(|e| ApiError::Internal(format!("webhook deliveries: {e}")))?;
    Ok(Reply::ok(rows.into_iter().map(DeliveryView::from).collect()))
}

/// Whether pushes to Shopify are stopped because Shopify said the app was uninstalled.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopifyAppView {
    /// True while pushes are stopped (every push job fails at once, saying why).
    pub pushes_stopped: bool,
    /// When Shopify's `app/uninstalled` arrived (RFC 3339), while stopped.
    pub uninstalled_at: Option<String>,
    /// What Shopify said (the shop, when it named one), while stopped.
    pub detail: Option<String>,
}

async fn app_view(state: &AppState) -> Result<ShopifyAppView, ApiError> {
    let flag = store::flag(&state.engine.store().db(), hooks::APP_UNINSTALLED_FLAG)
        .await
        .map_err(|e| ApiError::Internal(format!("reading the webhook flags: {e}")))?;
    Ok(ShopifyAppView {
        pushes_stopped: flag.is_some(),
        uninstalled_at: flag.as_ref().map(|f| time(f.raised_at)),
        detail: flag.map(|f| f.detail),
    })
}

/// Whether pushes to Shopify are stopped since Shopify said the app was uninstalled.
#[utoipa::path(get, path = "/api/shopify/app", tag = "webhooks",
    responses(
        (status = 200, description = "Whether pushes are stopped, since when and why", body = Envelope<ShopifyAppView>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn shopify_app(State(state): State<AppState>) -> ApiResult<ShopifyAppView> {
    Ok(Reply::ok(app_view(&state).await?))
}

/// The body of `POST /api/shopify/app/reinstalled`: empty, or `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReinstalledBody {}

/// Lets pushes to Shopify resume once the app is installed again (what `dongbo webhooks
/// reinstalled` does): clears the stop `app/uninstalled` raised, and this process's notice; the
/// other processes see it within a second.
#[utoipa::path(post, path = "/api/shopify/app/reinstalled", tag = "webhooks",
    request_body(content = ReinstalledBody, description = "Empty, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Pushes may resume", body = Envelope<ShopifyAppView>),
        (status = 400, description = "A body that is not JSON", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 409, description = "Pushes were not stopped: nothing to lift", body = ErrorEnvelope),
        (status = 415, description = "Not sent as `application/json`", body = ErrorEnvelope),
        (status = 422, description = "A body with fields", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn shopify_reinstalled(
    State(state): State<AppState>,
    JsonBody(_body): JsonBody<ReinstalledBody>,
) -> ApiResult<ShopifyAppView> {
    let was = hooks::reinstalled(&state.engine.store().db(), &state.notices)
        .await
        .map_err(|e| ApiError::Internal(format!("clearing the webhook flag: {e}")))?;
    if !was {
        return Err(ApiError::Conflict(
            "pushes to Shopify are not stopped: no app/uninstalled webhook is outstanding".into(),
        ));
    }
    tracing::warn!("pushes to Shopify resume: the app was marked reinstalled through the API");
    Ok(Reply::ok(app_view(&state).await?))
}
