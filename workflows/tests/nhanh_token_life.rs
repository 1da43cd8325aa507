//! The token's check loop: on start and every period it asks Nhanh (here a scripted oracle) for
//! the token's expiry, covered depots and depot names, keeps them in the store, and raises the
//! `nhanh_token` notice from 30 days before expiry (an error once refused). The clock and the
//! period are injected: "a day" passes by moving the clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use dongbo_engine::ManualClock;
use dongbo_workflows::catalog::store::credentials::last_check;
use dongbo_workflows::catalog::store::pulls::list_depots;
use dongbo_workflows::connectors::ConnectorError;
use dongbo_workflows::nhanh_token::watch::{spawn_checks, TokenFacts, TokenOracle};
use dongbo_workflows::nhanh_token::NOTICE;
use dongbo_workflows::notices::{NoticeLevel, Notices};

const DAY: i64 = 86_400;
const EXPIRES_AT: i64 = 1_900_000_000;

/// Answers like Nhanh for a token expiring at [`EXPIRES_AT`] covering depot 1201, until told to
/// refuse it; counts the checks.
#[derive(Default)]
struct Scripted {
    refuse: Mutex<bool>,
    checks: Mutex<u32>,
}

#[async_trait]
impl TokenOracle for Scripted {
    async fn check_token(&self) -> Result<TokenFacts, ConnectorError> {
        *self.checks.lock().unwrap() += 1;
        if *self.refuse.lock().unwrap() {
            return Err(ConnectorError::permanent("app/checkaccesstoken: ERR_INVALID_ACCESS_TOKEN"));
        }
        Ok(TokenFacts { expires_at: EXPIRES_AT, depot_ids: vec![1201] })
    }

    async fn depot_names(&self) -> Result<Vec<(u64, String)>, ConnectorError> {
        Ok(vec![(1201, "Kho Hà Nội".into()), (1202, "Kho Sài Gòn".into())])
    }
}

/// Waits (at most 20 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_check_warns_from_30_days_before_expiry_and_fails_loudly_once_refused() {
    let t = dongbo_tests::sqlite_db();
    let db = dongbo_workflows::open(&t.url).await.unwrap().db();
    let oracle = Arc::new(Scripted::default());
    let clock = ManualClock::new(Utc.timestamp_opt(EXPIRES_AT - 40 * DAY, 0).unwrap());
    let notices = Notices::new();
    let checks =
        spawn_checks(oracle.clone(), db.clone(), Arc::new(clock.clone()), Duration::from_millis(20), notices.clone());

    // The first check runs at once: 40 days left, no notice; expiry, coverage and names stored.
    until("the first check", || *oracle.checks.lock().unwrap() >= 1).await;
    // The check stores its answer, then the depot names: wait for both (20 s at most).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (stored, names) = loop {
        let stored = last_check(&db).await.unwrap();
        let names: Vec<_> = list_depots(&db).await.unwrap().into_iter().map(|d| (d.id, d.name)).collect();
        if let (Some(stored), false) = (stored, names.is_empty()) {
            break (stored, names);
        }
        assert!(tokio::time::Instant::now() < deadline, "the first check stored nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!((stored.expires_at, stored.depot_ids.clone()), (EXPIRES_AT, vec![1201]));
    assert_eq!(names, vec![(1201, Some("Kho Hà Nội".into())), (1202, Some("Kho Sài Gòn".into()))]);
    assert_eq!(notices.get(NOTICE), None);

    // Eleven days later, the next periodic check warns: 29 days left.
    clock.advance(Duration::from_secs(11 * DAY as u64));
    until("the 30-day warning", || notices.get(NOTICE).is_some()).await;
    let notice = notices.get(NOTICE).unwrap();
    assert_eq!(notice.level, NoticeLevel::Warning);
    assert!(notice.message.contains("in 29 days") && notice.message.contains("dongbo nhanh authorize"), "{notice:?}");

    // The business authorised elsewhere: Nhanh refuses the token, and the notice becomes an error.
    *oracle.refuse.lock().unwrap() = true;
    until("the refusal", || notices.get(NOTICE).is_some_and(|n| n.level == NoticeLevel::Error)).await;
    let notice = notices.get(NOTICE).unwrap();
    assert!(notice.message.contains("replaced") && notice.message.contains("dongbo nhanh authorize"), "{notice:?}");
    checks.abort();
}
