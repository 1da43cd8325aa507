//! The token's check, on start and once a period (a day in production): `app/checkaccesstoken`
//! for its expiry and the depots it covers, and `business/depot` for the depots' names, both kept
//! in the store; then where the token stands, raised as (or cleared from) the `nhanh_token`
//! notice, which `/healthz`, `/metrics`, the dashboard's banner and the log show.
//!
//! Nhanh is asked through [`TokenOracle`], and the period and "now" are arguments (an injected
//! [`Clock`](dongbo_engine::Clock)), so a test drives days by hand instead of waiting them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dongbo_engine::{Db, SharedClock};
use tokio::task::JoinHandle;

use super::standing::{assess, Standing, RENEW};
use super::NOTICE;
use crate::catalog::store::credentials::{record_check, save_depot_names, TokenCheckRow};
use crate::connectors::{ConnectorError, NhanhClient};
use crate::notices::{NoticeLevel, Notices};

/// How often a running dongbo checks its token.
pub const CHECK_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// What `app/checkaccesstoken` says about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// Its expiry (unix seconds).
    pub expires_at: i64,
    /// The depots it covers.
    pub depot_ids: Vec<u64>,
}

/// Where the check asks: Nhanh's `app/checkaccesstoken` and `business/depot` for the token in use.
#[async_trait]
pub trait TokenOracle: Send + Sync {
    /// The token's expiry and covered depots. A permanent error means Nhanh refused the token.
    async fn check_token(&self) -> Result<TokenFacts, ConnectorError>;
    /// The business's depots: `(id, name)`.
    async fn depot_names(&self) -> Result<Vec<(u64, String)>, ConnectorError>;
}

/// The real oracle: the Nhanh client's `app/checkaccesstoken` and `business/depot`.
#[async_trait]
impl TokenOracle for NhanhClient {
    async fn check_token(&self) -> Result<TokenFacts, ConnectorError> {
        match self.check_access_token().await {
            Ok(info) => Ok(TokenFacts { expires_at: info.expires_at.timestamp(), depot_ids: info.depot_ids }),
            // Only Nhanh's refusal of the token means the token is gone; a missing setting or
            // another permanent failure is not that, and is reported as a failed check.
            Err(ConnectorError::Permanent { reason }) if !reason.contains("ACCESS_TOKEN") => {
                Err(ConnectorError::transient(reason))
            }
            Err(e) => Err(e),
        }
    }

    async fn depot_names(&self) -> Result<Vec<(u64, String)>, ConnectorError> {
        Ok(self.business_depots().await?.into_iter().map(|d| (d.id, d.name)).collect())
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Nhanh answered: where the token stands and the depots it covers.
    Checked {
        /// Where the token stands.
        standing: Standing,
        /// The depots it covers.
        depot_ids: Vec<u64>,
    },
    /// Nhanh refused the token: it expired, or the business authorised again and replaced it.
    Refused {
        /// Nhanh's words.
        reason: String,
    },
    /// Nhanh or the store could not be asked this time (the next check tries again).
    Unknown {
        /// What failed.
        reason: String,
    },
}

impl CheckOutcome {
    /// The warning an operator must see, and how serious it is, if any.
    pub fn warning(&self) -> Option<(NoticeLevel, String)> {
        match self {
            CheckOutcome::Checked { standing, .. } => {
                let level = match standing {
                    Standing::Expired { .. } => NoticeLevel::Error,
                    _ => NoticeLevel::Warning,
                };
                standing.warning().map(|w| (level, w))
            }
            CheckOutcome::Refused { reason } => Some((
                NoticeLevel::Error,
                format!(
                    "Nhanh refused the access token (it expired, or the business authorised again and replaced it): \
                     {RENEW} ({reason})"
                ),
            )),
            CheckOutcome::Unknown { .. } => None,
        }
    }
}

/// Checks the token at `now` (unix seconds) and keeps what Nhanh said in `db`.
pub async fn check_once(oracle: &dyn TokenOracle, db: &Db, now: i64) -> CheckOutcome {
    let facts = match oracle.check_token().await {
        Ok(facts) => facts,
        Err(ConnectorError::Permanent { reason }) => return CheckOutcome::Refused { reason },
        Err(e) => return CheckOutcome::Unknown { reason: e.to_string() },
    };
    let check = TokenCheckRow { expires_at: facts.expires_at, checked_at: now, depot_ids: facts.depot_ids.clone() };
    if let Err(e) = record_check(db, &check).await {
        return CheckOutcome::Unknown { reason: format!("storing the check: {e}") };
    }
    // Names are for display: a failure here is logged and the next check tries again.
    match oracle.depot_names().await {
        Ok(names) => {
            if let Err(e) = save_depot_names(db, &names).await {
                tracing::warn!("storing the Nhanh depot names failed: {e}");
            }
        }
        Err(e) => tracing::warn!("business/depot failed, depot names not refreshed: {e}"),
    }
    CheckOutcome::Checked { standing: assess(facts.expires_at, now), depot_ids: facts.depot_ids }
}

/// Shows `outcome` in `notices`: raises the `nhanh_token` notice for a warning, clears it for a
/// valid token, leaves it as it was when the check could not be made.
pub fn publish(notices: &Notices, outcome: &CheckOutcome, now: chrono::DateTime<chrono::Utc>) {
    match (outcome, outcome.warning()) {
        (_, Some((level, message))) => {
            notices.raise(NOTICE, level, message, now);
        }
        (CheckOutcome::Unknown { reason }, None) => tracing::warn!("checking the Nhanh token failed: {reason}"),
        (_, None) => {
            notices.clear(NOTICE);
        }
    }
}

/// Checks now and then every `period`, publishing each outcome in `notices`. Runs until the task
/// is aborted.
pub fn spawn_checks(
    oracle: Arc<dyn TokenOracle>,
    db: Db,
    clock: SharedClock,
    period: Duration,
    notices: Notices,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = clock.now();
            let outcome = check_once(oracle.as_ref(), &db, now.timestamp()).await;
            publish(&notices, &outcome, now);
        }
    })
}
