//! Reading a Shopify GraphQL Admin reply: `data`, top-level `errors` (THROTTLED among them) and
//! `extensions.cost`. Pure: the client hands in the HTTP status and body bytes.
//!
//! `userErrors` are not handled here: they are part of `data` and reach the caller as data.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::connectors::error::ConnectorError;
use crate::connectors::limiter::bucket::ThrottleStatus;
use crate::connectors::retry::upstream_seconds;

/// `extensions.cost` of a reply, as far as it was present.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// `requestedQueryCost`.
    pub requested: Option<f64>,
    /// `actualQueryCost` (null when throttled).
    pub actual: Option<f64>,
    /// `throttleStatus`.
    pub status: Option<ThrottleStatus>,
}

impl Cost {
    /// How long until the bucket holds the requested cost, by the server's own numbers.
    pub fn wait_for_requested(&self) -> Option<Duration> {
        let (requested, s) = (self.requested?, self.status?);
        // A tiny rate asks for more than any clock holds: saturated, then refused by the policy.
        (s.restore_rate > 0.0)
            .then(|| upstream_seconds(((requested - s.currently_available) / s.restore_rate).max(0.0)))
            .flatten()
    }
}

/// What a reply meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `data`, to be decoded by the caller.
    Data(Value, Cost),
    /// THROTTLED: try again once the bucket holds the requested cost.
    Throttled(Cost),
    /// Anything else.
    Failed(ConnectorError, Cost),
}

impl Outcome {
    /// The outcome in a word or two, for the call's span.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Data(..) => "ok",
            Outcome::Throttled(_) => "throttled",
            Outcome::Failed(e, _) if e.is_transient() => "transient failure",
            Outcome::Failed(..) => "permanent failure",
        }
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn read_cost(obj: &Map<String, Value>) -> Cost {
    let Some(cost) = obj.get("extensions").and_then(|e| e.get("cost")).and_then(Value::as_object) else {
        return Cost::default();
    };
    let status = cost.get("throttleStatus").and_then(Value::as_object).and_then(|s| {
        Some(ThrottleStatus {
            maximum_available: number(s.get("maximumAvailable"))?,
            currently_available: number(s.get("currentlyAvailable"))?,
            restore_rate: number(s.get("restoreRate"))?,
        })
    });
    Cost { requested: number(cost.get("requestedQueryCost")), actual: number(cost.get("actualQueryCost")), status }
}

/// The messages and codes of top-level `errors`, which may be a list of GraphQL errors or,
/// from the HTTP layer, a plain string.
fn errors_text(errors: &Value) -> (String, Vec<String>) {
    match errors {
        Value::String(s) => (s.clone(), Vec::new()),
        Value::Array(list) => {
            let mut words = Vec::new();
            let mut codes = Vec::new();
            for e in list {
                let message = e.get("message").and_then(Value::as_str).unwrap_or("(no message)");
                match e.get("extensions").and_then(|x| x.get("code")).and_then(Value::as_str) {
                    Some(code) => {
                        words.push(format!("{code}: {message}"));
                        codes.push(code.to_owned());
                    }
                    None => words.push(message.to_owned()),
                }
            }
            (words.join("; "), codes)
        }
        Value::Object(m) => (m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "), Vec::new()),
        other => (other.to_string(), Vec::new()),
    }
}

/// Reads the reply of `call` (`"customers page"`), given the HTTP status and the body.
pub fn read_reply(call: &str, status: u16, body: &[u8]) -> Outcome {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let obj = match &parsed {
        Ok(Value::Object(obj)) => Some(obj),
        _ => None,
    };
    let cost = obj.map(read_cost).unwrap_or_default();
    let detail = obj.and_then(|o| o.get("errors")).map(|e| format!(": {}", errors_text(e).0)).unwrap_or_default();
    match status {
        200 => {}
        429 => return Outcome::Failed(ConnectorError::transient(format!("{call}: HTTP 429{detail}")), cost),
        500..=599 => return Outcome::Failed(ConnectorError::transient(format!("{call}: HTTP {status}{detail}")), cost),
        _ => return Outcome::Failed(ConnectorError::permanent(format!("{call}: HTTP {status}{detail}")), cost),
    }
    let obj = match parsed {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => return Outcome::Failed(ConnectorError::malformed(format!("{call} reply: not a JSON object")), cost),
        Err(e) => return Outcome::Failed(ConnectorError::malformed(format!("{call} reply: not JSON ({e})")), cost),
    };
    if let Some(errors) = obj.get("errors").filter(|e| !e.is_null() && e.as_array().is_none_or(|a| !a.is_empty())) {
        let (words, codes) = errors_text(errors);
        if codes.iter().any(|c| c == "THROTTLED") {
            return Outcome::Throttled(cost);
        }
        let reason = format!("{call}: {words}");
        // Shopify documents INTERNAL_SERVER_ERROR as worth retrying.
        let error = if codes.iter().any(|c| c == "INTERNAL_SERVER_ERROR") {
            ConnectorError::transient(reason)
        } else {
            ConnectorError::permanent(reason)
        };
        return Outcome::Failed(error, cost);
    }
    match obj.get("data") {
        Some(Value::Object(_)) => {}
        None => return Outcome::Failed(ConnectorError::malformed(format!("{call} reply: missing field `data`")), cost),
        Some(_) => {
            return Outcome::Failed(ConnectorError::malformed(format!("{call} reply: `data` is not an object")), cost)
        }
    }
    let mut obj = obj;
    let data = obj.remove("data").unwrap_or(Value::Null);
    Outcome::Data(data, cost)
}

/// Decodes `value` into a typed shape; a mismatch names `context` and the path that was wrong
/// (``customers page reply: at `customers.edges[1].node.id`: invalid type …``).
pub fn decode<T: DeserializeOwned>(context: &str, value: Value) -> Result<T, ConnectorError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ConnectorError::malformed(format!("{context}: {inner}"))
        } else {
            ConnectorError::malformed(format!("{context}: at `{path}`: {inner}"))
        }
    })
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
