//! `/api/schedules` through the router, on SQLite and PostgreSQL: create, list with the next
//! firing, change, pause, resume, run now, delete; bad cron expressions, zones, names, job types
//! and inputs are 400s naming the problem, a duplicate is 409, an unknown one 404, and none of
//! them writes anything. `/api/jobs/{id}/children` lists a pipeline's children.

mod http_support;

use axum::http::StatusCode;
use dongbo_api::http::{self, AppState};
use dongbo_engine::example::ExampleCount;
use dongbo_engine::{Engine, Registry};
use dongbo_tests::{fresh_db, Backend};
use http_support::call;
use serde_json::json;

async fn schedules_crud_and_refusals(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let store = dongbo_workflows::open(&db.url).await.unwrap();
    let mut registry = Registry::new();
    registry.register(ExampleCount);
    dongbo_workflows::schedules::register(&mut registry, &store, &dongbo_workflows::Upstreams::default());
    let engine = Engine::new(store.clone(), registry);
    let router = http::router(AppState::new(engine.clone(), None));

    let listed = call("GET", "/api/schedules").send(&router).await;
    let ids: Vec<&str> = listed.data().as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["incremental", "nightly-reconcile"], "the defaults");
    assert!(listed.data().as_array().unwrap().iter().all(|s| s["paused"] == json!(true) && s["nextRunAt"].is_null()));

    let good = json!({"id": "count", "cron": "*/15 * * * *", "jobType": "EXAMPLE_COUNT", "input": {"items": 2}});
    let created = call("POST", "/api/schedules").json(&good).send(&router).await;
    let s = created.data();
    assert_eq!(s["timeZone"], json!("Asia/Ho_Chi_Minh"));
    assert_eq!(s["paused"], json!(false));
    assert!(s["nextRunAt"].is_string(), "{s}");
    call("POST", "/api/schedules").json(&good).send(&router).await.error(StatusCode::CONFLICT);

    for (patch, says) in [
        (json!({"cron": "every quarter hour"}), "invalid cron expression"),
        (json!({"cron": "*/15 * * * *", "timeZone": "Europe/Atlantis"}), "unknown time zone"),
        (json!({"id": "bad name!"}), "schedule name"),
        (json!({"jobType": "NOT_A_JOB"}), "unknown job type"),
        (json!({"input": {"items": -1}}), "invalid input"),
    ] {
        let mut body = json!({"id": "other", "cron": "0 2 * * *", "jobType": "EXAMPLE_COUNT", "input": {"items": 1}});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let error = call("POST", "/api/schedules").json(&body).send(&router).await;
        let message = error.error(StatusCode::BAD_REQUEST);
        assert!(message.contains(says), "{message}");
    }
    let unknown_field = json!({"id": "x", "cron": "0 2 * * *", "jobType": "EXAMPLE_COUNT", "every": 5});
    call("POST", "/api/schedules").json(&unknown_field).send(&router).await.error(StatusCode::UNPROCESSABLE_ENTITY);
    let after = call("GET", "/api/schedules").send(&router).await;
    assert_eq!(after.data().as_array().unwrap().len(), 3, "refused schedules were not written");

    let changed = call("PATCH", "/api/schedules/count")
        .json(&json!({"cron": "0 3 * * *", "timeZone": "UTC"}))
        .send(&router)
        .await;
    assert_eq!(changed.data()["cron"], json!("0 3 * * *"));
    assert!(changed.data()["nextRunAt"].as_str().unwrap().contains("T03:00:00"), "{}", changed.text);
    call("PATCH", "/api/schedules/count")
        .json(&json!({"timeZone": "Nowhere/Else"}))
        .send(&router)
        .await
        .error(StatusCode::BAD_REQUEST);
    call("PATCH", "/api/schedules/missing")
        .json(&json!({"cron": "0 3 * * *"}))
        .send(&router)
        .await
        .error(StatusCode::NOT_FOUND);

    let paused = call("POST", "/api/schedules/count/pause").send(&router).await;
    assert_eq!((paused.data()["paused"].clone(), paused.data()["nextRunAt"].clone()), (json!(true), json!(null)));
    let resumed = call("POST", "/api/schedules/count/resume").send(&router).await;
    assert!(resumed.data()["nextRunAt"].is_string());
    call("POST", "/api/schedules/missing/pause").send(&router).await.error(StatusCode::NOT_FOUND);
    call("POST", "/api/schedules/b%20d/resume").send(&router).await.error(StatusCode::BAD_REQUEST);

    let run = call("POST", "/api/schedules/count/run").send(&router).await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{run:?}");
    let job = run.data()["jobId"].as_str().unwrap().to_owned();
    let shown = call("GET", "/api/schedules/count").send(&router).await;
    let firing = &shown.data()["firings"][0];
    assert_eq!((firing["kind"].clone(), firing["jobId"].clone()), (json!("manual"), json!(job)));
    assert_eq!(shown.data()["schedule"]["lastFiring"]["jobId"], json!(job));

    let family = call("GET", &format!("/api/jobs/{job}/children")).send(&router).await;
    assert_eq!(family.data()["parentJobId"], json!(null));
    assert_eq!(family.data()["children"], json!([]));
    call("GET", "/api/jobs/not-a-uuid/children").send(&router).await.error(StatusCode::BAD_REQUEST);

    call("DELETE", "/api/schedules/count").send(&router).await.data();
    call("GET", "/api/schedules/count").send(&router).await.error(StatusCode::NOT_FOUND);
    call("DELETE", "/api/schedules/count").send(&router).await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn schedules_crud_and_refusals_sqlite() {
    schedules_crud_and_refusals(Backend::Sqlite).await;
}

#[tokio::test]
async fn schedules_crud_and_refusals_postgres() {
    schedules_crud_and_refusals(Backend::Postgres).await;
}
