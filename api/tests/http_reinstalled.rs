//! The stop `app/uninstalled` puts on pushes, over HTTP, on SQLite and PostgreSQL:
//! `GET /api/shopify/app` shows it, `POST /api/shopify/app/reinstalled` lifts it — with the bearer
//! token and as JSON only, 409 when there is nothing to lift — and both are in the OpenAPI
//! document.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use dongbo_api::http::webhooks::WebhookSecrets;
use dongbo_api::http::{self, AppState};
use dongbo_engine::Engine;
use dongbo_tests::{fresh_db, Backend};
use dongbo_workflows::webhooks::{shopify, APP_UNINSTALLED_NOTICE};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "operator-token";
const SHOPIFY_SECRET: &str = "shopify-client-secret";

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn get_app(token: Option<&str>) -> Request<Body> {
    let mut r = Request::get("/api/shopify/app");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.body(Body::empty()).unwrap()
}

fn reinstalled(token: Option<&str>, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut r = Request::post("/api/shopify/app/reinstalled");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    if let Some(c) = content_type {
        r = r.header("content-type", c);
    }
    r.body(Body::from(body.to_owned())).unwrap()
}

async fn pushes_can_be_let_resume_over_http_once_the_app_is_reinstalled(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let engine = Engine::new(store, dongbo_engine::Registry::new());
    let state = AppState::new(engine, Some(TOKEN.into()))
        .with_webhook_secrets(WebhookSecrets { nhanh_token: None, shopify_secret: Some(SHOPIFY_SECRET.into()) });
    let router = http::router(state.clone());
    let json = Some("application/json");

    // Nothing stopped: the view says so, and there is nothing to lift.
    let (s, body) = send(&router, get_app(Some(TOKEN))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["pushesStopped"], false);
    let (s, body) = send(&router, reinstalled(Some(TOKEN), json, "")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not stopped"), "{body}");

    // Shopify says the app was uninstalled: pushes stop, and the view says since when and why.
    let shop = std::fs::read(format!(
        "{}/../workflows/tests/fixtures/shopify/webhooks/app_uninstalled.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let delivery = Request::post("/api/webhooks/shopify")
        .header("content-type", "application/json")
        .header("X-Shopify-Topic", "app/uninstalled")
        .header("X-Shopify-Event-Id", "ev-uninstalled")
        .header("X-Shopify-Shop-Domain", "dongbo-sim.myshopify.com")
        .header("X-Shopify-Hmac-SHA256", shopify::sign(SHOPIFY_SECRET, &shop))
        .body(Body::from(shop))
        .unwrap();
    let (s, body) = send(&router, delivery).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = send(&router, get_app(Some(TOKEN))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["pushesStopped"], true, "{body}");
    assert!(body["data"]["detail"].as_str().unwrap().contains("dongbo-sim.myshopify.com"), "{body}");
    assert!(body["data"]["uninstalledAt"].is_string(), "{body}");
    // The notice names the dashboard's button by its label, and the CLI command.
    let notice = state.notices.get(APP_UNINSTALLED_NOTICE).expect("the uninstalled notice").message;
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/index.html")).unwrap();
    let label = "The app is reinstalled: resume pushes";
    assert!(page.contains(&format!(">{label}</button>")), "the Webhooks panel's button is labelled `{label}`");
    assert!(notice.contains(label) && notice.contains("dongbo webhooks reinstalled"), "{notice}");

    // Misuse is refused, and leaves the stop in place.
    for (req, want) in [
        (get_app(None), StatusCode::UNAUTHORIZED),
        (reinstalled(None, json, ""), StatusCode::UNAUTHORIZED),
        (reinstalled(Some("wrong"), json, "{}"), StatusCode::UNAUTHORIZED),
        (reinstalled(Some(TOKEN), None, ""), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (reinstalled(Some(TOKEN), Some("text/plain"), "{}"), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (reinstalled(Some(TOKEN), json, r#"{"shop": "x"}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (reinstalled(Some(TOKEN), json, "[1]"), StatusCode::UNPROCESSABLE_ENTITY),
        (reinstalled(Some(TOKEN), json, "{"), StatusCode::BAD_REQUEST),
        (
            Request::get("/api/shopify/app/reinstalled")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let what = format!("{} {}", req.method(), req.uri());
        let (s, body) = send(&router, req).await;
        assert_eq!(s, want, "{what}: {body}");
        assert_eq!(body["success"], false, "{what}: {body}");
    }
    let (_, body) = send(&router, get_app(Some(TOKEN))).await;
    assert_eq!(body["data"]["pushesStopped"], true, "misuse lifted the stop: {body}");

    // Declared reinstalled: pushes may resume, the notice is gone, and a second call has nothing
    // to lift.
    let (s, body) = send(&router, reinstalled(Some(TOKEN), json, "{}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["pushesStopped"], false, "{body}");
    assert!(state.notices.get(APP_UNINSTALLED_NOTICE).is_none());
    let (_, body) = send(&router, get_app(Some(TOKEN))).await;
    assert_eq!(body["data"]["pushesStopped"], false, "{body}");
    let (s, _) = send(&router, reinstalled(Some(TOKEN), json, "")).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn pushes_can_be_let_resume_over_http_once_the_app_is_reinstalled_on_sqlite() {
    pushes_can_be_let_resume_over_http_once_the_app_is_reinstalled(Backend::Sqlite).await;
}

#[tokio::test]
async fn pushes_can_be_let_resume_over_http_once_the_app_is_reinstalled_on_postgres() {
    pushes_can_be_let_resume_over_http_once_the_app_is_reinstalled(Backend::Postgres).await;
}

#[test]
fn the_app_routes_are_in_the_openapi_document_and_need_the_token() {
    let doc = serde_json::to_value(http::openapi()).unwrap();
    let get = &doc["paths"]["/api/shopify/app"]["get"];
    let post = &doc["paths"]["/api/shopify/app/reinstalled"]["post"];
    for (op, codes) in [(get, &["200", "401"][..]), (post, &["200", "401", "409", "415", "422"][..])] {
        assert!(op.is_object(), "missing from the document: {}", doc["paths"]);
        for code in codes {
            assert!(op["responses"][code].is_object(), "{code} undocumented: {op}");
        }
        assert!(op["security"].to_string().contains("bearer"), "{op}");
    }
}
