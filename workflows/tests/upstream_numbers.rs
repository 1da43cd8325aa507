//! Hostile numbers from the upstreams (issue 16.2): a lock-out, a `Retry-After` or a cost bucket
//! the server describes with absurd values must neither panic the arithmetic nor make a worker
//! wait longer than the client's cap. Each property runs the numbers through the same path the
//! clients take: the reply reader, the policy's bound, and the limiter that sleeps on the result.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use tokio::time::Instant;

use dongbo_workflows::connectors::limiter::bucket::{CostBucket, Reserve};
use dongbo_workflows::connectors::limiter::window::{RequestWindow, Verdict, WindowConfig};
use dongbo_workflows::connectors::nhanh::reply::{read_reply as read_nhanh, Outcome as NhanhOutcome};
use dongbo_workflows::connectors::nhanh::types::NhanhCustomer;
use dongbo_workflows::connectors::shopify::reply::{read_reply as read_shopify, Outcome as ShopifyOutcome};
use dongbo_workflows::connectors::{ConnectorError, RetryPolicy};

/// A JSON value for a number field: any integer, any float, or a string holding either.
fn json_number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        proptest::num::f64::ANY.prop_map(|x| json!(x)),
        Just(json!(i64::MAX)),
        Just(json!(1e20)),
        Just(json!(1e-300)),
        Just(json!(0)),
        any::<i64>().prop_map(|n| json!(n.to_string())),
        proptest::num::f64::ANY.prop_map(|x| json!(x.to_string())),
        ".*".prop_map(|s| json!(s)),
    ]
}

/// Applies a lock-out the way the Nhanh client does: bounded by the policy, then held by the
/// URL's window. Returns how long the next caller waits.
fn nhanh_lock(policy: &RetryPolicy, locked_for: Duration, reason: String) -> Duration {
    let e = policy.bounded(ConnectorError::Transient { reason, retry_after: Some(locked_for) });
    let held = e.retry_after().unwrap_or(locked_for);
    let mut window = RequestWindow::new(WindowConfig::default());
    let now = Instant::now();
    window.lock(now, held);
    match window.try_acquire(now) {
        Verdict::WaitUntil(t) => t.duration_since(now),
        Verdict::Go | Verdict::WaitForCompletion => Duration::ZERO,
    }
}

proptest! {
    #[test]
    fn no_nhanh_lock_out_panics_or_holds_past_the_cap(
        locked in json_number(),
        unlocked_at in json_number(),
        now in any::<i64>(),
    ) {
        let body = json!({
            "code": 0,
            "errorCode": "ERR_429",
            "messages": "Your app exceeded the API Rate Limit",
            "data": {"lockedSeconds": locked, "unlockedAt": unlocked_at},
        });
        let policy = RetryPolicy::default();
        let bytes = serde_json::to_vec(&body).expect("json");
        match read_nhanh::<NhanhCustomer>("customer/list", 200, &bytes, now) {
            NhanhOutcome::Locked { locked_for, reason } => {
                let waited = nhanh_lock(&policy, locked_for, reason);
                let margin = WindowConfig::default().margin;
                prop_assert!(waited <= policy.max_wait + margin, "waited {waited:?}");
            }
            other => prop_assert!(false, "a lock-out read as {other:?}"),
        }
    }

    #[test]
    fn no_shopify_cost_panics_or_asks_to_wait_past_the_cap(
        requested in json_number(),
        actual in json_number(),
        maximum in json_number(),
        current in json_number(),
        rate in json_number(),
        throttled in any::<bool>(),
    ) {
        let cost = json!({
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": current, "restoreRate": rate},
        });
        let body = if throttled {
            json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": {"cost": cost}})
        } else {
            json!({"data": {"shop": {"name": "x"}}, "extensions": {"cost": cost}})
        };
        let policy = RetryPolicy::default();
        let bytes = serde_json::to_vec(&body).expect("json");
        let cost = match read_shopify("shop", 200, &bytes) {
            ShopifyOutcome::Data(_, c) | ShopifyOutcome::Throttled(c) | ShopifyOutcome::Failed(_, c) => c,
        };
        // The wait a THROTTLED reply hands the engine.
        let wait = cost.wait_for_requested();
        let e = policy.bounded(ConnectorError::Transient { reason: "shop: THROTTLED".into(), retry_after: wait });
        prop_assert!(e.retry_after().is_none_or(|w| w <= policy.max_wait));
        // The bucket mirrors the reply, then paces the next call by it.
        let mut bucket = CostBucket::with_max_wait(policy.max_wait);
        let now = Instant::now();
        // The client's estimate: the cost it learned (only a finite, non-negative one) or its own.
        let estimate = cost.requested.filter(|c| c.is_finite() && *c >= 0.0).unwrap_or(10.0);
        prop_assert_eq!(bucket.try_reserve(estimate, now), Reserve::Go);
        bucket.settle(estimate, cost.actual, cost.status, now);
        for next in [estimate, 1.0, 1000.0] {
            if let Reserve::WaitUntil(t) = bucket.try_reserve(next, now) {
                prop_assert!(t.duration_since(now) <= policy.max_wait, "waits {:?}", t.duration_since(now));
            }
        }
    }
}

#[test]
fn a_lock_out_of_i64_max_seconds_is_held_at_the_cap_with_a_reason() {
    let body =
        br#"{"code":0,"errorCode":"ERR_429","messages":"rate limit","data":{"lockedSeconds":9223372036854775807}}"#;
    let NhanhOutcome::Locked { locked_for, reason } = read_nhanh::<NhanhCustomer>("customer/list", 200, body, 0) else {
        panic!("not read as a lock-out");
    };
    let policy = RetryPolicy::default();
    let e = policy.bounded(ConnectorError::Transient { reason: reason.clone(), retry_after: Some(locked_for) });
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert!(e.to_string().contains("asked to wait 9223372036854775807 s"), "{e}");
    assert_eq!(nhanh_lock(&policy, locked_for, reason), Duration::from_secs(3601));
}

#[test]
fn a_throttled_reply_restoring_at_a_tiny_rate_asks_for_the_cap() {
    let body = json!({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 100, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": 0, "restoreRate": 1e-300}}},
    });
    let ShopifyOutcome::Throttled(cost) = read_shopify("shop", 200, &serde_json::to_vec(&body).expect("json")) else {
        panic!("not read as THROTTLED");
    };
    let policy = RetryPolicy::default();
    let e = policy.bounded(ConnectorError::Transient {
        reason: "shop: THROTTLED".into(),
        retry_after: cost.wait_for_requested(),
    });
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert!(e.to_string().contains("longer than any clock"), "{e}");
}
