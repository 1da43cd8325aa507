//! The catalog listings through the router, on both stores: `/api/mappings` and
//! `/api/conflicts` paged by the store across both kinds, every row exactly once, in order;
//! bad cursors and kinds refused with a reason.

mod http_support;

use axum::http::StatusCode;
use dongbo_api::http::{self, AppState};
use dongbo_engine::{Engine, JobId};
use dongbo_tests::{fresh_db, Backend};
use dongbo_workflows::catalog::store::matching::{MappingWrite, MatchKind, MatchWrites};
use dongbo_workflows::catalog::store::pulls::apply_outside_step;
use dongbo_workflows::matching::decide::Conflict;
use http_support::*;
use serde_json::Value;

/// Every item of `path` (with `query`), following `nextCursor` a page of `limit` at a time.
async fn walk(router: &axum::Router, path: &str, query: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let after = cursor.as_deref().map(|c| format!("&cursor={}", urlencoding(c))).unwrap_or_default();
        let answer = call("GET", &format!("{path}?limit={limit}{query}{after}")).send(router).await;
        let page = answer.data().clone();
        let rows = page["items"].as_array().expect("items").clone();
        assert!(rows.len() <= limit as usize, "a page of {} for a limit of {limit}", rows.len());
        items.extend(rows);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
    panic!("{path} never reached its last page");
}

/// Enough of percent-encoding for the cursors here (`+`, `:`, `.` and letters).
fn urlencoding(s: &str) -> String {
    s.replace('%', "%25").replace('+', "%2B").replace(':', "%3A")
}

fn writes(kind: MatchKind, ids: std::ops::Range<i64>, conflicts: &[&str]) -> MatchWrites {
    let key = |i: i64| match kind {
        MatchKind::Products => format!("sku:p{i}"),
        MatchKind::Customers => format!("+8490{i:07}"),
    };
    MatchWrites {
        kind,
        job: JobId::new(),
        now_ms: 1,
        inserts: ids
            .map(|i| MappingWrite {
                nhanh_id: i,
                shopify_id: format!("gid://shopify/X/{i}"),
                method: "sku".into(),
                key: key(i),
            })
            .collect(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        conflicts: conflicts
            .iter()
            .map(|k| Conflict { key: (*k).into(), nhanh_ids: vec![1, 2], shopify_ids: vec!["a".into(), "b".into()] })
            .collect(),
    }
}

#[tokio::test]
async fn mappings_and_conflicts_are_paged_across_both_kinds_each_row_once_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh_db(backend).await else { continue };
        let store = dongbo_workflows::open(&db.url).await.expect("open the test database");
        let catalog = store.db();
        // Seven product mappings, five customer mappings; keys that sort differently by byte
        // and by a natural collation ("B" < "a" by byte, not by most locales).
        let product_conflicts = ["sku:a", "sku:B", "barcode:0012"];
        apply_outside_step(&catalog, &writes(MatchKind::Products, 1..8, &product_conflicts)).await.unwrap();
        apply_outside_step(&catalog, &writes(MatchKind::Customers, 100..105, &["+84901", "+84902"])).await.unwrap();
        let router = http::router(AppState::new(Engine::new(store, registry()), None));

        for limit in [1, 3, 7, 12, 1000] {
            let all = walk(&router, "/api/mappings", "", limit).await;
            let got: Vec<(String, i64)> =
                all.iter().map(|m| (m["kind"].as_str().unwrap().to_owned(), m["nhanhId"].as_i64().unwrap())).collect();
            let want: Vec<(String, i64)> =
                (1..8).map(|i| ("product".into(), i)).chain((100..105).map(|i| ("customer".into(), i))).collect();
            assert_eq!(got, want, "{backend:?}, limit {limit}");

            let customers = walk(&router, "/api/mappings", "&kind=customer", limit).await;
            assert_eq!(customers.len(), 5, "{backend:?}, limit {limit}");

            let conflicts = walk(&router, "/api/conflicts", "", limit).await;
            let keys: Vec<&str> = conflicts.iter().map(|c| c["key"].as_str().unwrap()).collect();
            assert_eq!(keys, ["barcode:0012", "sku:B", "sku:a", "+84901", "+84902"], "{backend:?}, limit {limit}");
        }

        for (path, cursor) in [
            ("/api/mappings", "7"),
            ("/api/mappings", "order.5"),
            ("/api/mappings", "product.x"),
            ("/api/conflicts", "nokind"),
        ] {
            let answer = call("GET", &format!("{path}?cursor={cursor}")).send(&router).await;
            assert!(answer.error(StatusCode::BAD_REQUEST).contains("cursor"), "{backend:?} {path} {cursor}");
        }
        // A customer cursor is not a cursor of the product listing.
        let answer = call("GET", "/api/mappings?kind=product&cursor=customer.100").send(&router).await;
        assert!(answer.error(StatusCode::BAD_REQUEST).contains("cursor"), "{backend:?}");
        let answer = call("GET", "/api/conflicts?kind=order").send(&router).await;
        assert!(answer.error(StatusCode::BAD_REQUEST).contains("kind"), "{backend:?}");
    }
}
