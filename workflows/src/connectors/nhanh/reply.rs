//! Reading a Nhanh v3 reply: the envelope, its error shapes and the rate-limit lock. Pure: the
//! client hands in the HTTP status and body bytes and gets back what happened.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::types::NhanhPage;
use crate::connectors::error::ConnectorError;

/// How long to stay away after a lock-out that did not say for how long: one full window.
const DEFAULT_LOCK: Duration = Duration::from_secs(30);

/// What a reply meant, `P` being what a successful reply carries (a page of rows, or one object).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<P> {
    /// The successful reply's payload.
    Page(P),
    /// The app is locked out of this URL for this long.
    Locked {
        /// How long.
        locked_for: Duration,
        /// The upstream's words, for the error if retries run out.
        reason: String,
    },
    /// Anything else that went wrong.
    Failed(ConnectorError),
}

impl<P> Outcome<P> {
    /// The outcome in a word or two, for the call's span.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Page(_) => "ok",
            Outcome::Locked { .. } => "locked out",
            Outcome::Failed(e) if e.is_transient() => "transient failure",
            Outcome::Failed(_) => "permanent failure",
        }
    }
}

/// Reads the reply of `call` (`"customer/list"`), given the HTTP status, the body, and the
/// current Unix time (to turn an `unlockedAt` into a wait).
pub fn read_reply<T: DeserializeOwned>(call: &str, status: u16, body: &[u8], now_unix: i64) -> Outcome<NhanhPage<T>> {
    read_envelope(call, status, body, now_unix, |obj| read_page(call, obj))
}

/// Reads the reply of a call whose `data` is one object (`app/checkaccesstoken`,
/// `app/getaccesstoken`), decoded as `T`; a successful reply without `data` is malformed.
pub fn read_object<T: DeserializeOwned>(call: &str, status: u16, body: &[u8], now_unix: i64) -> Outcome<T> {
    read_envelope(call, status, body, now_unix, |obj| match obj.get("data") {
        Some(Value::Object(data)) => match serde_json::from_value::<T>(Value::Object(data.clone())) {
            Ok(v) => Outcome::Page(v),
            Err(e) => malformed(call, &format!("field `data`: {e}")),
        },
        None | Some(Value::Null) => malformed(call, "missing field `data`"),
        Some(other) => malformed(call, &format!("field `data` is {}, expected an object", kind(other))),
    })
}

/// The envelope every call shares: HTTP status, JSON, `code`, and the error and lock shapes;
/// `success` reads the body of a `code: 1` reply.
fn read_envelope<P>(
    call: &str,
    status: u16,
    body: &[u8],
    now_unix: i64,
    success: impl FnOnce(&Map<String, Value>) -> Outcome<P>,
) -> Outcome<P> {
    let server_error = (500..600).contains(&status);
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if server_error => {
            return Outcome::Failed(ConnectorError::transient(format!("{call}: HTTP {status} ({e} in body)")))
        }
        Err(_) if status == 429 => {
            return Outcome::Locked { locked_for: DEFAULT_LOCK, reason: format!("{call}: HTTP 429") }
        }
        Err(e) if status != 200 => {
            return Outcome::Failed(ConnectorError::permanent(format!("{call}: HTTP {status}, body not JSON ({e})")))
        }
        Err(e) => return Outcome::Failed(ConnectorError::malformed(format!("{call} reply: not JSON ({e})"))),
    };
    if server_error {
        let detail = error_text(json.as_object());
        return Outcome::Failed(ConnectorError::transient(format!("{call}: HTTP {status}{detail}")));
    }
    let Some(obj) = json.as_object() else {
        return Outcome::Failed(ConnectorError::malformed(format!(
            "{call} reply: expected an object, got {}",
            kind(&json)
        )));
    };
    let code = match obj.get("code") {
        None => return malformed(call, "missing field `code`"),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Bool(b)) => Some(i64::from(*b)),
        Some(_) => None,
    };
    match code {
        Some(1) if status == 200 => success(obj),
        Some(1) => Outcome::Failed(ConnectorError::permanent(format!("{call}: HTTP {status} with code 1"))),
        Some(0) => read_error(call, status, obj, now_unix),
        _ => malformed(call, &format!("field `code` is {}, expected 0 or 1", obj["code"])),
    }
}

fn malformed<T>(call: &str, what: &str) -> Outcome<T> {
    Outcome::Failed(ConnectorError::malformed(format!("{call} reply: {what}")))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_page<T: DeserializeOwned>(call: &str, obj: &Map<String, Value>) -> Outcome<NhanhPage<T>> {
    let rows: Vec<(String, Value)> = match obj.get("data") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect(),
        // PHP keyed arrays: `{"123": {...}, "124": {...}}`.
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                if let Value::Object(fields) = &mut v {
                    fields.entry("id").or_insert_with(|| Value::String(k.clone()));
                }
                (k.clone(), v)
            })
            .collect(),
        Some(other) => return malformed(call, &format!("field `data` is {}, expected a list", kind(other))),
    };
    let mut items = Vec::with_capacity(rows.len());
    for (key, row) in rows {
        match serde_json::from_value::<T>(row) {
            Ok(item) => items.push(item),
            Err(e) => return malformed(call, &format!("item {key}: {e}")),
        }
    }
    let paginator = match obj.get("paginator") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(other) => return malformed(call, &format!("field `paginator` is {}", kind(other))),
    };
    let next = paginator.and_then(|p| p.get("next")).filter(|v| !v.is_null()).cloned();
    let total = paginator.and_then(|p| p.get("totalItems")).or_else(|| obj.get("totalItems"));
    let total_items = match total {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    if total.is_some_and(|t| !t.is_null()) && total_items.is_none() {
        return malformed(call, &format!("field `totalItems` is not a count: {}", total.unwrap_or(&Value::Null)));
    }
    Outcome::Page(NhanhPage { items, next, total_items })
}

/// The upstream's words: `messages` (a string, a list, or an object of field → message) or
/// `message`, flattened to one line.
fn messages(obj: &Map<String, Value>) -> String {
    fn flatten(v: &Value, out: &mut Vec<String>, prefix: &str) {
        match v {
            Value::Null => {}
            Value::String(s) => out.push(if prefix.is_empty() { s.clone() } else { format!("{prefix}: {s}") }),
            Value::Array(a) => a.iter().for_each(|x| flatten(x, out, prefix)),
            Value::Object(m) => m.iter().for_each(|(k, x)| flatten(x, out, k)),
            other => out.push(if prefix.is_empty() { other.to_string() } else { format!("{prefix}: {other}") }),
        }
    }
    let mut out = Vec::new();
    for key in ["messages", "message"] {
        if let Some(v) = obj.get(key) {
            flatten(v, &mut out, "");
        }
    }
    out.join("; ")
}

fn error_text(obj: Option<&Map<String, Value>>) -> String {
    let Some(obj) = obj else { return String::new() };
    let code = obj.get("errorCode").and_then(Value::as_str);
    let words = messages(obj);
    match (code, words.is_empty()) {
        (Some(c), true) => format!(" {c}"),
        (Some(c), false) => format!(" {c}: {words}"),
        (None, false) => format!(": {words}"),
        (None, true) => String::new(),
    }
}

fn read_error<T>(call: &str, status: u16, obj: &Map<String, Value>, now_unix: i64) -> Outcome<T> {
    let code = obj.get("errorCode").and_then(Value::as_str).unwrap_or("");
    let text = error_text(Some(obj));
    let reason = format!("{call}:{text}");
    match code {
        "ERR_429" | "ERR_EXCEEDED_RATE_LIMIT" => {
            let data = obj.get("data").and_then(Value::as_object);
            let number = |key: &str| {
                data.and_then(|d| d.get(key)).and_then(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                })
            };
            let locked_for = match (number("lockedSeconds"), number("unlockedAt")) {
                (Some(s), _) if s >= 0 => Duration::from_secs(s as u64),
                (_, Some(at)) => Duration::from_secs(at.saturating_sub(now_unix).max(0) as u64),
                _ => DEFAULT_LOCK,
            };
            Outcome::Locked { locked_for, reason }
        }
        "" if status == 429 => Outcome::Locked { locked_for: DEFAULT_LOCK, reason },
        "" => malformed(call, &format!("code 0 without `errorCode`{text}")),
        // An expired token, or one replaced by authorising again: no retry helps, only a new token.
        "ERR_INVALID_ACCESS_TOKEN" => Outcome::Failed(ConnectorError::permanent(format!(
            "{reason} (the Nhanh access token expired or was replaced: {})",
            crate::nhanh_token::RENEW
        ))),
        _ => Outcome::Failed(ConnectorError::permanent(reason)),
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
