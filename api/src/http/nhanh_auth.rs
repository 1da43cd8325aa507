//! Authorising dongbo at Nhanh: the dashboard's button asks for Nhanh's login link
//! (`POST /api/nhanh/authorize`), the business logs in at Nhanh, and Nhanh sends the browser back
//! to `GET /nhanh/oauth/return/{state}?accessCode=…`, where dongbo exchanges the code and stores
//! the token sealed (the OAuth itself is the workflows' `nhanh_token::oauth`).
//!
//! The return route is outside `/api` because it is a browser navigation from Nhanh, which
//! carries no bearer token; what guards it is the one-time `state` in its path, issued by the
//! guarded `POST` and used up by the first return. `GET /api/nhanh/token` says where the token in
//! use stands — never the token.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Html;
use dongbo_engine::{SharedClock, SystemClock};
use dongbo_workflows::catalog::store::credentials::{last_check, load_token};
use dongbo_workflows::nhanh_token::oauth::{begin, complete, AuthorizeError, Granted, OAuthConfig, STATE_TTL};
use dongbo_workflows::nhanh_token::standing::date;
use dongbo_workflows::nhanh_token::{assess, RENEW};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Envelope, ErrorEnvelope, Reply};
use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_authorization))
        .routes(routes!(token_status))
        .routes(routes!(oauth_return))
}

/// The return route alone, for `dongbo nhanh authorize`, which serves it while it waits.
pub fn return_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/nhanh/oauth/return/{state}", axum::routing::get(oauth_return))
}

/// What the authorisation routes need: the OAuth settings (or why they are missing), where the
/// browser reaches dongbo, and whether `NHANH_ACCESS_TOKEN` overrides a stored token.
pub struct NhanhAuth {
    config: Result<OAuthConfig, String>,
    public_url: Option<String>,
    env_token: bool,
    clock: SharedClock,
    stored: watch::Sender<Option<Granted>>,
}

impl Default for NhanhAuth {
    fn default() -> Self {
        NhanhAuth::not_configured("this server was started without the Nhanh authorisation settings")
    }
}

impl NhanhAuth {
    /// Settings that refuse every authorisation, saying `why`.
    pub fn not_configured(why: impl Into<String>) -> NhanhAuth {
        let (stored, _) = watch::channel(None);
        NhanhAuth { config: Err(why.into()), public_url: None, env_token: false, clock: Arc::new(SystemClock), stored }
    }

    /// Settings from `NHANH_BASE_URL`, `NHANH_APP_ID`, `NHANH_SECRET_KEY`, `NHANH_OAUTH_URL`,
    /// `DONGBO_SECRET_KEY` and `DONGBO_PUBLIC_URL` as looked up by `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> NhanhAuth {
        let mut auth = NhanhAuth::not_configured("");
        auth.config = OAuthConfig::from_vars(&var).map_err(|e| e.to_string());
        auth.public_url = var("DONGBO_PUBLIC_URL").filter(|v| !v.trim().is_empty());
        auth.env_token = var("NHANH_ACCESS_TOKEN").is_some_and(|v| !v.is_empty());
        auth
    }

    /// The same settings with return links to `public_url` (where the browser reaches dongbo).
    pub fn with_public_url(mut self, public_url: impl Into<String>) -> NhanhAuth {
        self.public_url = Some(public_url.into());
        self
    }

    /// The same settings reading the time from `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> NhanhAuth {
        self.clock = clock;
        self
    }

    /// The OAuth settings, or why they are missing.
    pub fn config(&self) -> Result<&OAuthConfig, &str> {
        self.config.as_ref().map_err(String::as_str)
    }

    /// Watches for tokens stored through these settings (what each stored, never the token).
    pub fn stored(&self) -> watch::Receiver<Option<Granted>> {
        self.stored.subscribe()
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }
}

/// Nhanh's login link for this authorisation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeLink {
    /// Open it in the browser: Nhanh's login page, returning to dongbo.
    pub login_url: String,
    /// How long the link may take to come back, in seconds.
    pub valid_for_seconds: u64,
}

/// Where the Nhanh token in use stands. Never the token itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NhanhTokenView {
    /// `environment` (NHANH_ACCESS_TOKEN, which wins), `stored`, or absent when there is none.
    pub source: Option<String>,
    /// The business of the stored token.
    pub business_id: Option<String>,
    /// When the stored token was granted (unix seconds).
    pub granted_at: Option<i64>,
    /// When the token in use expires (unix seconds), by the last check, else by the grant.
    pub expires_at: Option<i64>,
    /// When Nhanh was last asked (unix seconds).
    pub checked_at: Option<i64>,
    /// The depots the token covers, by the last check.
    pub covered_depots: Option<Vec<u64>>,
    /// What the operator should know: expiry within 30 days, or expired.
    pub warning: Option<String>,
    /// Why the dashboard's button cannot authorise, when it cannot.
    pub authorize_unavailable: Option<String>,
}

fn store_failure(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("nhanh token: {e}"))
}

/// Begins an authorisation at Nhanh: answers Nhanh's login link, whose return (within 10
/// minutes, once) stores the token.
#[utoipa::path(post, path = "/api/nhanh/authorize", tag = "nhanh",
    responses(
        (status = 200, description = "Nhanh's login link", body = Envelope<AuthorizeLink>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
        (status = 503, description = "A setting is missing", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn start_authorization(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<AuthorizeLink> {
    let auth = &state.nhanh_auth;
    let cfg = auth.config.as_ref().map_err(|why| ApiError::Unavailable(why.clone()))?;
    let public_url = match &auth.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or_else(|| {
                ApiError::BadRequest("no Host header: set DONGBO_PUBLIC_URL to where browsers reach dongbo".into())
            })?;
            format!("http://{host}")
        }
    };
    let db = state.engine.store().db();
    let link = begin(&db, cfg, &public_url, auth.now()).await.map_err(|e| match e {
        AuthorizeError::Store(e) => store_failure(e),
        other => ApiError::Unavailable(other.to_string()),
    })?;
    Ok(Reply::ok(AuthorizeLink { login_url: link.url, valid_for_seconds: STATE_TTL.as_secs() }))
}

/// Where the Nhanh token in use stands: its source, business, expiry, covered depots and any
/// warning.
#[utoipa::path(get, path = "/api/nhanh/token", tag = "nhanh",
    responses(
        (status = 200, description = "The token's standing", body = Envelope<NhanhTokenView>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorEnvelope),
    ),
    security(("bearer" = [])))]
pub async fn token_status(State(state): State<AppState>) -> ApiResult<NhanhTokenView> {
    let auth = &state.nhanh_auth;
    let db = state.engine.store().db();
    let stored = load_token(&db).await.map_err(store_failure)?;
    let check = last_check(&db).await.map_err(store_failure)?;
    let source = if auth.env_token { Some("environment") } else { stored.as_ref().map(|_| "stored") };
    let expires_at = check.as_ref().map(|c| c.expires_at).or(stored.as_ref().and_then(|s| s.expires_at));
    Ok(Reply::ok(NhanhTokenView {
        source: source.map(str::to_owned),
        business_id: stored.as_ref().map(|s| s.business_id.clone()),
        granted_at: stored.as_ref().map(|s| s.granted_at),
        expires_at,
        checked_at: check.as_ref().map(|c| c.checked_at),
        covered_depots: check.map(|c| c.depot_ids),
        warning: expires_at.and_then(|at| assess(at, auth.now()).warning()),
        authorize_unavailable: auth.config.as_ref().err().cloned(),
    }))
}

/// What Nhanh appends to the return link.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ReturnQuery {
    /// The one-time code to exchange (10 minutes).
    #[serde(default)]
    pub access_code: Option<String>,
}

/// Nhanh's return: exchanges the `accessCode` for a token and stores it sealed, when `state` is
/// one dongbo issued and has not used. Answers a page for the browser.
#[utoipa::path(get, path = "/nhanh/oauth/return/{state}", tag = "nhanh",
    params(("state" = String, Path, description = "The one-time state dongbo issued"), ReturnQuery),
    responses(
        (status = 200, description = "The token is stored", content_type = "text/html", body = String),
        (status = 400, description = "Unknown, used or stale state; no accessCode", body = ErrorEnvelope),
        (status = 503, description = "Nhanh refused the exchange, or a setting is missing", body = ErrorEnvelope),
    ))]
pub async fn oauth_return(
    State(state): State<AppState>,
    Path(oauth_state): Path<String>,
    Query(query): Query<ReturnQuery>,
) -> Result<Html<String>, ApiError> {
    let auth = &state.nhanh_auth;
    let cfg = auth.config.as_ref().map_err(|why| ApiError::Unavailable(why.clone()))?;
    let db = state.engine.store().db();
    let granted = complete(&db, cfg, &oauth_state, query.access_code.as_deref(), auth.now()).await.map_err(|e| {
        tracing::warn!("a Nhanh authorisation did not complete: {e}");
        match e {
            AuthorizeError::UnknownState | AuthorizeError::NoAccessCode => ApiError::BadRequest(e.to_string()),
            AuthorizeError::Exchange(_) | AuthorizeError::NotConfigured(_) => ApiError::Unavailable(e.to_string()),
            AuthorizeError::Seal(_) | AuthorizeError::Store(_) => store_failure(e),
        }
    })?;
    let page = stored_page(&granted, auth.env_token);
    auth.stored.send_replace(Some(granted));
    Ok(Html(page))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn stored_page(granted: &Granted, env_token: bool) -> String {
    let expiry = granted.expires_at.map_or_else(
        || "Nhanh did not say when it expires".to_owned(),
        |at| format!("It expires on {}; dongbo warns 30 days before ({RENEW}).", date(at)),
    );
    let depots = match &granted.depot_ids {
        Some(ids) if !ids.is_empty() => {
            format!("It covers depots {}.", ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
        }
        _ => String::new(),
    };
    let env = if env_token {
        "<p><strong>NHANH_ACCESS_TOKEN is set and wins over the stored token</strong>: unset it to use this one.</p>"
    } else {
        ""
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dongbo: Nhanh authorised</title></head>\n\
         <body>\n<h1>Nhanh authorised</h1>\n<p>dongbo stored an access token for business {}, encrypted. {} {}</p>\n{env}\
         <p>Processes started before now keep their old token: restart <code>dongbo serve</code> and \
         <code>dongbo worker</code> to use this one.</p>\n<p><a href=\"/\">Back to the dashboard</a></p>\n</body></html>\n",
        escape(&granted.business_id),
        escape(&expiry),
        escape(&depots),
    )
}
