//! The one error type every connector call returns, split by what the caller should do next.

use std::time::Duration;

/// What went wrong talking to an upstream, classified by what the caller should do about it.
///
/// Reasons are written for an operator reading a failed step: they name the call and what was
/// wrong, and never carry an access token (every reason passes through the client's redaction
/// before it is built into this type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth trying again later: a 5xx, a timeout, a dropped connection, a rate-limit lock or a
    /// throttle that outlasted the client's own retries.
    #[error("transient upstream failure: {reason}")]
    Transient {
        /// What happened.
        reason: String,
        /// How long the upstream asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: bad credentials, invalid input, a 4xx, a GraphQL error.
    #[error("permanent upstream failure: {reason}")]
    Permanent {
        /// What happened, including the upstream's own error code when it gave one.
        reason: String,
    },
    /// The reply was not the documented shape.
    #[error("malformed upstream reply: {reason}")]
    Malformed {
        /// Which call, and what was wrong with its reply.
        reason: String,
    },
}

impl ConnectorError {
    /// A transient failure without an upstream-requested wait.
    pub fn transient(reason: impl Into<String>) -> Self {
        ConnectorError::Transient { reason: reason.into(), retry_after: None }
    }

    /// A permanent failure.
    pub fn permanent(reason: impl Into<String>) -> Self {
        ConnectorError::Permanent { reason: reason.into() }
    }

    /// A reply that was not the documented shape.
    pub fn malformed(reason: impl Into<String>) -> Self {
        ConnectorError::Malformed { reason: reason.into() }
    }

    /// Whether the engine should retry the step later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectorError::Transient { .. })
    }

    /// The wait the upstream asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The same error with its reason rewritten by `f` (used to redact secrets).
    pub(crate) fn map_reason(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            ConnectorError::Transient { reason, retry_after } => {
                ConnectorError::Transient { reason: f(reason), retry_after }
            }
            ConnectorError::Permanent { reason } => ConnectorError::Permanent { reason: f(reason) },
            ConnectorError::Malformed { reason } => ConnectorError::Malformed { reason: f(reason) },
        }
    }
}

/// The connectors' result type.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;
