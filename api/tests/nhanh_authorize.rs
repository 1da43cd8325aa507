//! Nhanh's OAuth end to end, over real HTTP: the dashboard's `POST /api/nhanh/authorize` gives
//! the simulator's login link, the browser (reqwest, following redirects) lands on dongbo's
//! return link with a one-time `accessCode`, and dongbo stores the granted token sealed. The
//! token appears in no API answer, page or log line; a forged or replayed return stores nothing.

use std::io::Write;
use std::sync::{Arc, Mutex};

use dongbo_api::http::nhanh_auth::NhanhAuth;
use dongbo_api::http::{serve, AppState};
use dongbo_engine::{Engine, Registry};
use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::catalog::store::credentials::{last_check, load_token};
use dongbo_workflows::nhanh_token::SealingKey;
use serde_json::Value;

/// Captures every log line of the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorising_through_nhanh_stores_the_token_sealed_and_shows_it_nowhere() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim =
        Simulator::start(SimConfig { customers: 5, products: 5, ..SimConfig::default() }, "127.0.0.1:0", "127.0.0.1:0")
            .await
            .unwrap();
    let key = SealingKey::generate_base64();
    let mut env: Vec<(String, String)> =
        sim.env().into_iter().filter(|(k, _)| k != "NHANH_ACCESS_TOKEN" && k != "NHANH_BUSINESS_ID").collect();
    env.push(("NHANH_OAUTH_URL".into(), format!("{}/oauth", sim.nhanh_base_url())));
    env.push(("DONGBO_SECRET_KEY".into(), key.clone()));
    let secret_key = env.iter().find(|(k, _)| k == "NHANH_SECRET_KEY").unwrap().1.clone();

    let t = dongbo_tests::sqlite_db();
    let store = dongbo_workflows::open(&t.url).await.unwrap();
    let db = store.db();
    let auth = NhanhAuth::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
    let state = AppState::new(Engine::new(store, Registry::new()), None).with_nhanh_auth(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve(listener, state, std::future::pending()));
    let http = reqwest::Client::new();
    let mut answers = String::new();

    // The button: Nhanh's login link, returning to dongbo.
    let begun: Value = http
        .post(format!("{base}/api/nhanh/authorize"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answers.push_str(&begun.to_string());
    let login = begun["data"]["loginUrl"].as_str().expect("a login link").to_owned();
    assert!(login.starts_with(&format!("{}/oauth?", sim.nhanh_base_url())), "{login}");
    assert!(login.contains("appId=") && login.contains("returnLink="), "{login}");

    // The browser follows Nhanh's redirect back to dongbo, which stores the token.
    let landed = http.get(&login).send().await.unwrap();
    let final_url = landed.url().to_string();
    assert!(final_url.starts_with(&format!("{base}/nhanh/oauth/return/")), "{final_url}");
    assert!(landed.status().is_success(), "{}", landed.status());
    let page = landed.text().await.unwrap();
    answers.push_str(&page);
    assert!(page.contains("Nhanh authorised"), "{page}");

    let stored = load_token(&db).await.unwrap().expect("a stored token");
    let token = SealingKey::parse(&key).unwrap().open(&stored.sealed).expect("sealed with DONGBO_SECRET_KEY");
    assert!(!token.expose().is_empty());
    assert_eq!(stored.business_id, sim.credentials().nhanh_business_id);
    assert!(stored.expires_at.is_some(), "the expiry is stored");
    assert!(last_check(&db).await.unwrap().is_some(), "the granted depots are stored");

    // The same return again (a replay), and a forged one: refused, nothing replaced.
    let replay = http.get(&final_url).send().await.unwrap();
    assert_eq!(replay.status(), reqwest::StatusCode::BAD_REQUEST);
    answers.push_str(&replay.text().await.unwrap());
    let forged = http.get(format!("{base}/nhanh/oauth/return/forged?accessCode=abc")).send().await.unwrap();
    assert_eq!(forged.status(), reqwest::StatusCode::BAD_REQUEST);
    answers.push_str(&forged.text().await.unwrap());
    assert_eq!(load_token(&db).await.unwrap().unwrap().sealed, stored.sealed);

    let status = http.get(format!("{base}/api/nhanh/token")).send().await.unwrap().text().await.unwrap();
    answers.push_str(&status);
    assert!(status.contains("\"source\":\"stored\""), "{status}");

    server.abort();
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for (what, text) in [("an API answer or page", &answers), ("the log", &logged)] {
        assert!(!text.contains(token.expose()), "the token is in {what}");
        assert!(!text.contains(&secret_key), "the app's secret key is in {what}");
    }
}
