//! The CSV exports over real HTTP on both stores, on a set larger than any page: every mapping,
//! every failure and every item a real AUTO_MATCH_CUSTOMERS job touched, once each, in order,
//! arriving as a stream of chunks.

mod http_support;

use std::time::Duration;

use dongbo_api::http::AppState;
use dongbo_engine::{Engine, JobId, JobRequest, JobStatus, Registry, WorkerConfig, WorkerId};
use dongbo_tests::{fresh_db, Backend};
use dongbo_workflows::catalog::store::pulls::{
    apply_outside_step, NhanhCustomerRow, ShopifyCustomerRow, UpsertNhanhCustomers, UpsertShopifyCustomers,
};
use dongbo_workflows::catalog::store::sync::{SyncKind, SyncOutcomes};
use http_support::spawn_server;
use serde_json::json;

/// More than two export pages (1,000 rows each) and several match batches.
const N: u64 = 2_600;

fn phone(i: u64) -> String {
    format!("09{i:08}")
}

/// Reads `url` as a stream: the lines, and how many chunks they came in.
async fn csv(url: &str) -> (Vec<String>, usize) {
    let reply = reqwest::get(url).await.expect("GET");
    assert_eq!(reply.status(), 200, "{url}");
    let ct = reply.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(reply.headers().get("content-length").is_none(), "a stream has no length up front");
    let mut reply = reply;
    let (mut text, mut chunks) = (Vec::new(), 0);
    while let Some(chunk) = reply.chunk().await.expect("chunk") {
        text.extend_from_slice(&chunk);
        chunks += 1;
    }
    let text = String::from_utf8(text).expect("UTF-8");
    assert!(text.ends_with("\r\n"));
    (text.split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect(), chunks)
}

#[tokio::test]
async fn mappings_failures_and_a_jobs_items_export_every_row_once_as_a_stream_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh_db(backend).await else { continue };
        let store = dongbo_workflows::open(&db.url).await.expect("open");
        let catalog = store.db();
        let job = JobId::new();
        let nhanh: Vec<NhanhCustomerRow> = (1..=N)
            .map(|i| NhanhCustomerRow {
                id: i,
                name: Some(format!("Khách, \"{i}\"")),
                mobile: Some(phone(i)),
                total_amount: Some(1),
                updated_at: Some(1),
            })
            .collect();
        apply_outside_step(&catalog, &UpsertNhanhCustomers { job, rows: nhanh, seen_by_full_pull: None })
            .await
            .unwrap();
        let shopify: Vec<ShopifyCustomerRow> = (1..=N)
            .map(|i| ShopifyCustomerRow {
                id: format!("gid://shopify/Customer/{i}"),
                display_name: None,
                email: None,
                phone: Some(format!("+849{i:08}")),
                address_phone: None,
                amount_spent: None,
                total_spent: None,
                updated_at: None,
            })
            .collect();
        apply_outside_step(&catalog, &UpsertShopifyCustomers { job, rows: shopify, seen_by_full_pull: None })
            .await
            .unwrap();
        let mut registry = Registry::new();
        dongbo_workflows::matching::register(&mut registry);
        let engine = Engine::new(store.clone(), registry);
        let id = engine.request(JobRequest::new("AUTO_MATCH_CUSTOMERS", json!({}))).await.unwrap().job.id;
        let mut config = WorkerConfig::new(WorkerId::new("export-test"));
        config.lease = Duration::from_secs(60);
        let worker = engine.worker(config);
        while !store.job(id).await.unwrap().unwrap().status.is_finished() {
            worker.run_once().await.expect("run");
        }
        assert_eq!(store.job(id).await.unwrap().unwrap().status, JobStatus::Completed);
        // Every third mapping failed its last push, with a reason that needs quoting.
        let failed: Vec<(i64, String)> =
            (1..=N as i64).filter(|i| i % 3 == 0).map(|i| (i, format!("bad, \"{i}\""))).collect();
        let outcomes = SyncOutcomes {
            kind: SyncKind::Customer,
            job_id: JobId::new(),
            at_ms: 1_000,
            synced: vec![],
            failed: failed.clone(),
            dropped: vec![],
        };
        apply_outside_step(&catalog, &outcomes).await.unwrap();

        let server = spawn_server(AppState::new(engine.clone(), None)).await;

        let (lines, chunks) = csv(&format!("{}/api/exports/mappings.csv?kind=customer", server.base)).await;
        assert_eq!(
            lines[0],
            "kind,id,nhanhId,shopifyId,method,source,createdBy,matchKey,jobId,state,lastError,updatedAt"
        );
        assert_eq!(lines.len() as u64, N + 1, "{backend:?}: one line per mapping");
        assert!(chunks > 2, "{backend:?}: {chunks} chunk(s): the export was not streamed a page at a time");
        let mut nhanh_ids: Vec<u64> =
            lines[1..].iter().map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
        let ids: Vec<i64> = lines[1..].iter().map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{backend:?}: by id, each once");
        nhanh_ids.sort_unstable();
        assert_eq!(nhanh_ids, (1..=N).collect::<Vec<_>>());
        assert!(lines[1].starts_with("customer,") && lines[1].contains(",phone,match,,+849"), "{}", lines[1]);
        let (failed_only, _) =
            csv(&format!("{}/api/exports/mappings.csv?kind=customer&state=FAILED", server.base)).await;
        assert_eq!(failed_only.len(), failed.len() + 1);

        let (lines, _) = csv(&format!("{}/api/exports/failures.csv", server.base)).await;
        assert_eq!(lines[0], "kind,mappingId,reason,failedAt,attempts");
        assert_eq!(lines.len(), failed.len() + 1, "{backend:?}");
        let mut rows: Vec<String> = lines[1..].to_vec();
        rows.sort_by_key(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap());
        assert_eq!(rows[0], "customer,3,\"bad, \"\"3\"\"\",1970-01-01T00:00:01+00:00,1");

        let (lines, chunks) = csv(&format!("{}/api/jobs/{id}/items.csv", server.base)).await;
        assert_eq!(lines[0], "position,kind,id,action");
        assert_eq!(lines.len() as u64, N + 1, "{backend:?}: every item, not only those the events list");
        assert!(chunks > 1, "{backend:?}: not streamed");
        let positions: Vec<i64> = lines[1..].iter().map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] <= w[1]), "in log order");
        assert!(lines[1..].iter().all(|l| l.ends_with(",mapped:created")), "{}", lines[1]);

        let missing = reqwest::get(format!("{}/api/jobs/{}/items.csv", server.base, JobId::new())).await.unwrap();
        assert_eq!(missing.status(), 404);
        let bad = reqwest::get(format!("{}/api/exports/mappings.csv?kind=order", server.base)).await.unwrap();
        assert_eq!(bad.status(), 400);
        let _ = server.stop.send(());
    }
}
