//! Which Nhanh token dongbo uses: `NHANH_ACCESS_TOKEN` when set, otherwise the stored one,
//! opened with `DONGBO_SECRET_KEY`.

use dongbo_engine::Db;

use super::sealing::{SealingKey, SECRET_KEY_VAR};
use crate::catalog::store::credentials::load_token;
use crate::connectors::Secret;

/// A usable token and where it came from.
#[derive(Debug, Clone)]
pub struct ChosenToken {
    /// The token.
    pub token: Secret,
    /// The business it acts for, when the store knows it (the environment's token relies on
    /// `NHANH_BUSINESS_ID`).
    pub business_id: Option<String>,
    /// Where it came from.
    pub source: TokenSource,
}

/// Where the token in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `NHANH_ACCESS_TOKEN`, which wins over a stored token.
    Environment,
    /// The store, put there by `dongbo nhanh authorize` or the dashboard.
    Stored,
}

impl TokenSource {
    /// `environment` or `stored`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Environment => "environment",
            TokenSource::Stored => "stored",
        }
    }
}

/// What [`choose`] found.
#[derive(Debug, Clone)]
pub enum Choice {
    /// A token to use.
    Token(ChosenToken),
    /// No token anywhere.
    None,
    /// A token is stored but cannot be used; the reason says why and what to do.
    Unusable(String),
}

/// Chooses the token: the variable `NHANH_ACCESS_TOKEN` (looked up by `var`) when set, else the
/// stored one when `DONGBO_SECRET_KEY` opens it.
pub async fn choose(var: impl Fn(&str) -> Option<String>, db: &Db) -> Result<Choice, sqlx::Error> {
    if let Some(token) = var("NHANH_ACCESS_TOKEN").filter(|t| !t.is_empty()) {
        return Ok(Choice::Token(ChosenToken {
            token: Secret::new(token),
            business_id: None,
            source: TokenSource::Environment,
        }));
    }
    let Some(row) = load_token(db).await? else { return Ok(Choice::None) };
    let key = match SealingKey::from_vars(&var) {
        Ok(Some(key)) => key,
        Ok(None) => {
            return Ok(Choice::Unusable(format!(
                "a Nhanh access token is stored, but {SECRET_KEY_VAR} is not set, so it cannot be read: \
                 set {SECRET_KEY_VAR} to the key it was stored with (or set NHANH_ACCESS_TOKEN)"
            )))
        }
        Err(e) => return Ok(Choice::Unusable(e.to_string())),
    };
    Ok(match key.open(&row.sealed) {
        Ok(token) => {
            Choice::Token(ChosenToken { token, business_id: Some(row.business_id), source: TokenSource::Stored })
        }
        Err(e) => Choice::Unusable(e.to_string()),
    })
}
