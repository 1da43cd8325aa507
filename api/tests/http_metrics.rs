//! `/metrics` label sets are fixed (issue 16.6): invented methods and random paths add no series.

mod http_support;

use http_support::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// The `dongbo_http_requests_total` series `/metrics` shows now.
async fn http_series(app: &TestApp) -> Vec<String> {
    let text = call("GET", "/metrics").send(&app.router).await.text;
    text.lines()
        .filter(|l| l.starts_with("dongbo_http_requests_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect()
}

#[tokio::test]
async fn three_hundred_random_methods_and_paths_add_at_most_a_handful_of_series() {
    let app = app(None).await;
    call("GET", "/api/jobs").send(&app.router).await;
    let before = http_series(&app).await;

    let mut runner = TestRunner::deterministic();
    let methods = "[A-Z][A-Z_-]{2,20}";
    let paths = "(/api)?/[a-z0-9]{1,12}(/[a-zA-Z0-9._~-]{1,16}){0,3}";
    for _ in 0..300 {
        let method = methods.new_tree(&mut runner).unwrap().current();
        let a = call(&method, "/api/jobs").send(&app.router).await;
        assert!(a.status.is_client_error(), "{method}: {a:?}");
        let path = paths.new_tree(&mut runner).unwrap().current();
        let a = call("GET", &path).send(&app.router).await;
        assert!(!a.status.is_server_error(), "{path}: {a:?}");
    }
    let after = http_series(&app).await;
    let added: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(added.len() <= 6, "600 random requests added {} series: {added:#?}", added.len());
    assert!(
        after.iter().any(|s| s.contains("method=\"other\",route=\"/api/jobs\"")),
        "invented methods are counted as `other`: {after:#?}"
    );
    assert!(after.iter().any(|s| s.contains("route=\"unmatched\"")), "{after:#?}");
    assert!(after.iter().all(|s| !s.contains("/nope") && s.len() < 120), "{after:#?}");
}
