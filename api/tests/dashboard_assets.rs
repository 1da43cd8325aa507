//! The dashboard through the router: `GET /` is the page, every asset it references is served
//! with its content type, and the example trigger answers like the others, behind the token.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use dongbo_api::dashboard;
use dongbo_api::http::{router_with_dashboard, AppState};
use dongbo_engine::example::ExampleCount;
use dongbo_engine::{Engine, Registry};
use dongbo_tests::TestDb;
use serde_json::Value;
use tower::ServiceExt;

struct App {
    _db: TestDb,
    router: Router,
}

async fn app(token: Option<&str>) -> App {
    let db = dongbo_tests::sqlite_db();
    let store = dongbo_workflows::open(&db.url).await.expect("open the test database");
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    let state = AppState::new(Engine::new(store, registry), token.map(str::to_owned));
    App { _db: db, router: router_with_dashboard(state, dashboard::router()) }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(&name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20).await.expect("read the body").to_vec();
    Answer { status, headers, body }
}

async fn get(router: &Router, path: &str) -> Answer {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

/// The values of every `src="…"` and `href="…"` in `html` that point into `/assets/`.
fn asset_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let value = &rest[..rest.find('"').expect("a closing quote")];
            if value.starts_with("/assets/") {
                found.push(value.to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn the_home_page_is_the_dashboard_in_utf8_html_and_every_asset_it_references_is_served() {
    let app = app(None).await;
    let page = get(&app.router, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert!(page.header(header::CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
    let html = page.text();
    assert!(html.contains(r#"<meta charset="utf-8">"#));
    assert!(html.contains("đồng bộ"), "the page's Vietnamese text did not survive embedding");

    let assets = asset_references(html);
    for expected in ["app.css", "app.js", "favicon.svg"] {
        assert!(assets.iter().any(|a| a.starts_with(&format!("/assets/{expected}?v="))), "{expected} in {assets:?}");
    }
    for path in &assets {
        let asset = get(&app.router, path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        let name = path.trim_start_matches("/assets/").split('?').next().unwrap();
        let expected_type = match name.rsplit('.').next() {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("an asset of unexpected kind {other:?}: {path}"),
        };
        assert_eq!(asset.header(header::CONTENT_TYPE), expected_type, "{path}");
        assert!(asset.header(header::CACHE_CONTROL).contains("immutable"), "{path}");
        let on_disk = std::fs::read(format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(asset.body, on_disk, "{path} is not the file in api/assets");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_a_404_in_the_envelope() {
    let app = app(None).await;
    let answer = get(&app.router, "/assets/nope.js").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["success"], Value::Bool(false));
}

#[tokio::test]
async fn the_page_stays_open_but_the_example_trigger_needs_the_token_when_one_is_set() {
    let app = app(Some("s3cret-token")).await;
    assert_eq!(get(&app.router, "/").await.status, StatusCode::OK);
    let post = |token: Option<&str>| {
        let mut r = Request::post(dashboard::example::PATH).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::from(r#"{"items": 30}"#)).unwrap()
    };
    assert_eq!(send(&app.router, post(None)).await.status, StatusCode::UNAUTHORIZED);

    let answer = send(&app.router, post(Some("s3cret-token"))).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let data = &answer.json()["data"];
    assert_eq!(data["type"], "EXAMPLE_COUNT");
    assert_eq!(data["status"], "PENDING");
    let id = data["jobId"].as_str().expect("a job id");

    let request = Request::get(format!("/api/jobs/{id}/events"))
        .header(header::AUTHORIZATION, "Bearer s3cret-token")
        .body(Body::empty())
        .unwrap();
    let events = send(&app.router, request).await.json();
    let input = &events["data"]["items"][0]["payload"]["input"];
    let asked = (&input["items"], &input["batch"], &input["stepMillis"]);
    assert_eq!(asked, (&serde_json::json!(30), &serde_json::json!(10), &serde_json::json!(100)), "{input}");

    // One dashboard example at a time: pressing the button again answers the unfinished job.
    let again = send(&app.router, post(Some("s3cret-token"))).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        (again.json()["data"]["jobId"].as_str(), again.json()["data"]["existing"].as_str()),
        (Some(id), Some("alreadyRunning"))
    );
}
