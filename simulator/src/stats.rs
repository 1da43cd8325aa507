//! Request statistics of one server, as `GET /_sim/requests` shows them.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts per endpoint, per event (`locked`, `throttled`, injected faults) and per GraphQL root
/// field.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: Mutex<BTreeMap<String, u64>>,
    events: Mutex<BTreeMap<String, u64>>,
    fields: Mutex<BTreeMap<String, u64>>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    *map.lock().unwrap_or_else(|e| e.into_inner()).entry(key.to_string()).or_default() += 1;
}

impl Stats {
    pub(crate) fn request(&self, path: &str) {
        bump(&self.requests, path);
    }

    pub(crate) fn event(&self, name: &str) {
        bump(&self.events, name);
    }

    pub(crate) fn field(&self, name: &str) {
        bump(&self.fields, name);
    }

    pub(crate) fn count(&self, event: &str) -> u64 {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).get(event).copied().unwrap_or(0)
    }

    pub(crate) fn snapshot(&self) -> serde_json::Value {
        let read = |m: &Mutex<BTreeMap<String, u64>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let events = read(&self.events);
        serde_json::json!({
            "requests": read(&self.requests),
            "locked": events.get("locked").copied().unwrap_or(0),
            "throttled": events.get("throttled").copied().unwrap_or(0),
            "events": events,
            "graphqlFields": read(&self.fields),
        })
    }
}
