//! Nhanh's OAuth, as its v3 pages and the old tool describe it: the business opens
//! `https://nhanh.vn/oauth?version=3.0&appId=…&returnLink=…`, logs in and grants the app, and Nhanh
//! sends the browser to `returnLink` with a one-time `accessCode` (10 minutes); dongbo exchanges it
//! with the app's secret key at `app/getaccesstoken` for a token that lives one year.
//!
//! The return link carries a one-time `state` dongbo issued ([`begin`]) in its path, and
//! [`complete`] stores nothing unless that state is fresh and unused: a forged return cannot plant
//! a token. The path, not the query, so it survives however Nhanh appends `accessCode`.

use std::time::Duration;

use dongbo_engine::Db;
use rand::RngCore;

use super::sealing::{SealError, SealingKey, SECRET_KEY_VAR};
use crate::catalog::store::credentials::{
    issue_oauth_state, record_check, save_token, take_oauth_state, SealedTokenRow, TokenCheckRow,
};
use crate::connectors::nhanh::app::get_access_token;
use crate::connectors::{ConnectorError, Secret};

/// Nhanh's login page for apps.
pub const DEFAULT_LOGIN_URL: &str = "https://nhanh.vn/oauth";

/// How long a begun authorisation may take: Nhanh's `accessCode` lives 10 minutes.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);

/// The path dongbo serves return links under; the state follows it.
pub const RETURN_PATH: &str = "/nhanh/oauth/return";

/// Why an authorisation could not begin or complete. No variant carries a token, the secret key
/// or the access code.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// A setting is missing.
    #[error("cannot authorise Nhanh: {0}")]
    NotConfigured(String),
    /// The return's state was not issued by dongbo, was used already, or is too old.
    #[error(
        "this return was not started by dongbo, was used already, or is older than 10 minutes: \
         nothing was stored; start again with `dongbo nhanh authorize` or the dashboard's button"
    )]
    UnknownState,
    /// The return carried no accessCode.
    #[error("Nhanh's return carried no accessCode: nothing was stored")]
    NoAccessCode,
    /// Nhanh refused the exchange, or did not answer.
    #[error("app/getaccesstoken failed: {0}")]
    Exchange(ConnectorError),
    /// The token could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// What the OAuth flow needs: the app and where Nhanh is.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Nhanh's login page (`NHANH_OAUTH_URL`, by default [`DEFAULT_LOGIN_URL`]).
    pub login_url: String,
    /// The API base (`NHANH_BASE_URL`), where `app/getaccesstoken` is.
    pub base_url: String,
    /// The app (`NHANH_APP_ID`).
    pub app_id: String,
    /// The app's secret key (`NHANH_SECRET_KEY`).
    pub secret_key: Secret,
    /// The key that seals the token (`DONGBO_SECRET_KEY`).
    pub sealing: SealingKey,
}

impl OAuthConfig {
    /// The settings as looked up by `var`; the error names every one missing.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<OAuthConfig, AuthorizeError> {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let sealing = SealingKey::from_vars(&var).map_err(|e| AuthorizeError::NotConfigured(e.to_string()))?;
        let missing: Vec<&str> = ["NHANH_BASE_URL", "NHANH_APP_ID", "NHANH_SECRET_KEY", SECRET_KEY_VAR]
            .into_iter()
            .filter(|k| if *k == SECRET_KEY_VAR { sealing.is_none() } else { get(k).is_none() })
            .collect();
        match (get("NHANH_BASE_URL"), get("NHANH_APP_ID"), get("NHANH_SECRET_KEY"), sealing) {
            (Some(base_url), Some(app_id), Some(secret), Some(sealing)) => Ok(OAuthConfig {
                login_url: get("NHANH_OAUTH_URL").unwrap_or_else(|| DEFAULT_LOGIN_URL.to_owned()),
                base_url,
                app_id,
                secret_key: Secret::new(secret),
                sealing,
            }),
            _ => Err(AuthorizeError::NotConfigured(format!(
                "set {} (the token is stored encrypted with {SECRET_KEY_VAR}: 32 random bytes in base64)",
                missing.join(", ")
            ))),
        }
    }
}

/// A begun authorisation: the link to open, and the state its return must carry.
#[derive(Debug, Clone)]
pub struct LoginLink {
    /// Nhanh's login page with `version`, `appId` and `returnLink`.
    pub url: String,
    /// The one-time state in the return link.
    pub state: String,
}

/// What dongbo stored (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The business the token acts for.
    pub business_id: String,
    /// Its expiry (unix seconds), when Nhanh said.
    pub expires_at: Option<i64>,
    /// The depots it covers, when Nhanh said.
    pub depot_ids: Option<Vec<u64>>,
}

/// Begins an authorisation at `now` (unix seconds): issues a one-time state and returns Nhanh's
/// login link whose return comes back to `public_url` (where the browser reaches dongbo).
pub async fn begin(db: &Db, cfg: &OAuthConfig, public_url: &str, now: i64) -> Result<LoginLink, AuthorizeError> {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let state: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    issue_oauth_state(db, &state, now, now - STATE_TTL.as_secs() as i64).await?;
    let return_link = format!("{}{RETURN_PATH}/{state}", public_url.trim_end_matches('/'));
    let mut url = reqwest::Url::parse(&cfg.login_url)
        .map_err(|e| AuthorizeError::NotConfigured(format!("NHANH_OAUTH_URL is not a URL ({e})")))?;
    url.query_pairs_mut()
        .append_pair("version", "3.0")
        .append_pair("appId", &cfg.app_id)
        .append_pair("returnLink", &return_link);
    Ok(LoginLink { url: url.into(), state })
}

/// Completes the authorisation whose return carried `state` and `access_code`, at `now`: uses
/// the state up, exchanges the code for a token, and stores it sealed with its business id and
/// expiry (and, when Nhanh listed them, the depots it covers).
pub async fn complete(
    db: &Db,
    cfg: &OAuthConfig,
    state: &str,
    access_code: Option<&str>,
    now: i64,
) -> Result<Granted, AuthorizeError> {
    if !take_oauth_state(db, state, now - STATE_TTL.as_secs() as i64).await? {
        return Err(AuthorizeError::UnknownState);
    }
    let code = access_code.map(str::trim).filter(|c| !c.is_empty()).ok_or(AuthorizeError::NoAccessCode)?;
    let granted =
        get_access_token(&cfg.base_url, &cfg.app_id, &cfg.secret_key, code).await.map_err(AuthorizeError::Exchange)?;
    let expires_at = granted.info.expires_at.timestamp();
    let row = SealedTokenRow {
        sealed: cfg.sealing.seal(&granted.access_token)?,
        business_id: granted.info.business_id.to_string(),
        granted_at: now,
        expires_at: Some(expires_at),
    };
    save_token(db, &row).await?;
    let depot_ids = granted.info.depot_ids.clone();
    record_check(db, &TokenCheckRow { expires_at, checked_at: now, depot_ids: depot_ids.clone() }).await?;
    tracing::info!(business_id = %row.business_id, "stored a Nhanh access token from Nhanh's OAuth");
    Ok(Granted { business_id: row.business_id, expires_at: Some(expires_at), depot_ids: Some(depot_ids) })
}
