//! Notices: conditions an operator must see before they turn into failed jobs — a Shopify API
//! version about to leave support, a Nhanh token about to expire, an app that was uninstalled.
//!
//! A [`Notices`] registry is shared by the clients and background checks of one process; the
//! HTTP layer shows it in `/healthz`, as a `dongbo_notices` gauge in `/metrics` and as a banner
//! on the dashboard. Each notice has a fixed [`NoticeKey`] (a compile-time constant, so metric
//! labels form a fixed set); raising the same key again replaces it. A notice is logged once when
//! it appears or its text changes, not every time a check re-raises it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// A notice's identity: one fixed, lower-case, snake-case name per condition (e.g.
/// `shopify_api_version`). Also its metric label, so it must be a compile-time constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoticeKey(&'static str);

impl NoticeKey {
    /// A key named `name` (lower-case letters, digits and `_`; checked in debug builds).
    pub const fn new(name: &'static str) -> Self {
        NoticeKey(name)
    }

    /// The key's name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeLevel {
    /// Work goes on, but will stop working unless someone acts (e.g. a token expiring soon).
    Warning,
    /// Work that needs this upstream fails until someone acts.
    Error,
}

impl NoticeLevel {
    /// `warning` or `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NoticeLevel::Warning => "warning",
            NoticeLevel::Error => "error",
        }
    }
}

/// One condition to show an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Which condition.
    pub key: NoticeKey,
    /// How serious it is.
    pub level: NoticeLevel,
    /// What is wrong and what to do, in a sentence or two. Never a secret.
    pub message: String,
    /// When this notice (with this level and text) was first raised.
    pub since: DateTime<Utc>,
}

/// The notices of one process: cheap to clone, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct Notices {
    inner: Arc<Mutex<BTreeMap<NoticeKey, Notice>>>,
}

impl Notices {
    /// An empty registry.
    pub fn new() -> Self {
        Notices::default()
    }

    /// Raises (or replaces) the notice `key` at `now`. Returns `true` when it is new or its
    /// level or text changed — and only then logs it — so a check that runs every minute logs a
    /// condition once.
    pub fn raise(&self, key: NoticeKey, level: NoticeLevel, message: impl Into<String>, now: DateTime<Utc>) -> bool {
        debug_assert!(
            key.0.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "notice keys are snake_case: {}",
            key.0
        );
        let message = message.into();
        let mut map = self.lock();
        if let Some(old) = map.get(&key) {
            if old.level == level && old.message == message {
                return false;
            }
        }
        match level {
            NoticeLevel::Warning => tracing::warn!(notice = key.as_str(), "{message}"),
            NoticeLevel::Error => tracing::error!(notice = key.as_str(), "{message}"),
        }
        map.insert(key, Notice { key, level, message, since: now });
        true
    }

    /// Clears the notice `key`; returns `true` (and logs) when there was one.
    pub fn clear(&self, key: NoticeKey) -> bool {
        let cleared = self.lock().remove(&key).is_some();
        if cleared {
            tracing::info!(notice = key.as_str(), "cleared");
        }
        cleared
    }

    /// The notice `key`, if raised.
    pub fn get(&self, key: NoticeKey) -> Option<Notice> {
        self.lock().get(&key).cloned()
    }

    /// Every raised notice, errors first, then by key.
    pub fn list(&self) -> Vec<Notice> {
        let mut all: Vec<Notice> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| b.level.cmp(&a.level).then(a.key.cmp(&b.key)));
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<NoticeKey, Notice>> {
        // A panic while holding this lock cannot leave the map half-updated (each operation is
        // one insert or remove), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const A: NoticeKey = NoticeKey::new("a_check");
    const B: NoticeKey = NoticeKey::new("b_check");

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn a_notice_raised_twice_with_the_same_text_is_new_once_and_keeps_its_first_time() {
        let n = Notices::new();
        assert!(n.raise(A, NoticeLevel::Warning, "soon", at(1)));
        assert!(!n.raise(A, NoticeLevel::Warning, "soon", at(2)));
        assert_eq!(n.get(A).unwrap().since, at(1));
        assert!(n.raise(A, NoticeLevel::Error, "now", at(3)));
        assert_eq!(n.get(A).unwrap().since, at(3));
    }

    #[test]
    fn clones_share_one_registry_and_errors_list_first() {
        let n = Notices::new();
        let other = n.clone();
        other.raise(A, NoticeLevel::Warning, "w", at(1));
        other.raise(B, NoticeLevel::Error, "e", at(1));
        let keys: Vec<_> = n.list().iter().map(|x| x.key.as_str()).collect();
        assert_eq!(keys, ["b_check", "a_check"]);
        assert!(n.clear(B));
        assert!(!n.clear(B));
        assert_eq!(other.list().len(), 1);
    }
}
