//! The dashboard in headless Chromium against real processes: `dongbo sim` and a `dongbo serve`
//! pointed at it. "Pull Nhanh customers" clicked on the page starts a job whose row shows its
//! progress advancing and then COMPLETED at 100 % without a reload, and whose job page lists every
//! step of the log in its timeline. Then the Locations panel, before any product pull, names the
//! pulls to run and runs them; a depot mapped there reads back through the API, and the API's
//! refusal of a stale unmapping shows in the panel. The Webhooks panel lists a delivery sent to the
//! server with a link to the job it caused, and lifts the stop a Shopify `app/uninstalled` puts on
//! pushes. Screenshots of the pages (and the two
//! processes' logs) are left in the `dashboard` folder of cargo's `CARGO_TARGET_TMPDIR`; the test
//! prints their paths.
//!
//! Chromium is Debian's (`chromium` on the PATH, or `DONGBO_CHROMIUM`); nothing is downloaded.
//! It is driven over the DevTools protocol by the small client in [`cdp`]: one WebSocket, JSON
//! commands matched to their replies by id. The crates that wrap the protocol (`chromiumoxide`,
//! `headless_chrome`) compile generated bindings for the whole protocol to offer what this test
//! uses six methods of.
//!
//! Without Chromium the test fails under `CI=true` and is skipped loudly otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dongbo_tests::{dongbo_bin, sqlite_db, wait_for};
use serde_json::{json, Value};

/// The button the test clicks ("Pull Nhanh customers"), and the job type it starts.
const TRIGGER: &str = "/api/nhanh/pull-customers-all";
const JOB_TYPE: &str = "PULL_NHANH_CUSTOMERS";
/// Customers the simulator serves: 80 pages of 100, about a second or two of steps at the
/// simulator's speed — shorter than the page's 3 s list refresh, so the intermediate values the
/// test sees can only come from the live stream.
const CUSTOMERS: i64 = 8000;

/// The webhook secrets the server is started with, so the test can send it deliveries.
const NHANH_WEBHOOK_TOKEN: &str = "dashboard-nhanh-token";
const SHOPIFY_WEBHOOK_SECRET: &str = "dashboard-shopify-secret";

/// Where a test may leave files: under `target/`, never in the repository.
fn artefact_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("create the artefact directory");
    dir
}

/// Debian's Chromium, or `None` (after a loud message) when it is not installed outside CI.
fn chromium() -> Option<PathBuf> {
    let explicit = std::env::var_os("DONGBO_CHROMIUM").map(PathBuf::from);
    let found = explicit.or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|n| dir.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but no Chromium is installed: the dashboard test must run in CI (apt-get install chromium)"
            );
        }
        eprintln!("\n!!! SKIPPED the dashboard test: no `chromium` on the PATH (apt-get install chromium) !!!\n");
    }
    found
}

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// `dongbo sim` on free ports, and the `NAME=value` pairs it printed for dongbo.
fn start_simulator(log: &Path) -> (Proc, Vec<(String, String)>) {
    let customers = CUSTOMERS.to_string();
    let mut child = Command::new(dongbo_bin())
        .args(["sim", "--listen", "127.0.0.1:0", "--shopify-listen", "127.0.0.1:0"])
        .args(["--customers", &customers, "--products", "50"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("create the simulator log"))
        .spawn()
        .expect("start dongbo sim");
    let stdout = child.stdout.take().expect("the simulator's stdout");
    let sim = Proc(child);
    // It prints every `export` line in one write once both servers listen.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) else { continue };
            let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
            if tx.send((name.to_owned(), value.replace("'\\''", "'"))).is_err() {
                return;
            }
        }
    });
    let mut env = Vec::new();
    while !["NHANH_BASE_URL", "NHANH_ACCESS_TOKEN", "SHOPIFY_SHOP_URL", "SHOPIFY_ACCESS_TOKEN"]
        .iter()
        .all(|k| env.iter().any(|(n, _)| n == k))
    {
        let pair = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("the simulator did not print its environment ({e}); see {}", log.display()));
        env.push(pair);
    }
    (sim, env)
}

/// `dongbo serve` on a fresh SQLite file, pointed at the upstreams in `env`; its log goes to `log`.
async fn start_server(db_url: &str, env: &[(String, String)], log: &Path) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(dongbo_bin())
        .args(["serve", "--db", db_url, "--listen", &addr, "--workers", "2"])
        .env_remove("DONGBO_API_TOKEN")
        .env("NHANH_WEBHOOK_TOKEN", NHANH_WEBHOOK_TOKEN)
        .env("SHOPIFY_WEBHOOK_SECRET", SHOPIFY_WEBHOOK_SECRET)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("create the server log"))
        .spawn()
        .expect("start dongbo serve");
    let server = Proc(child);
    let base = format!("http://{addr}");
    let health = &format!("{base}/healthz");
    wait_for("dongbo serve to answer /healthz", Duration::from_secs(60), || async move {
        reqwest::get(health.as_str()).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    (server, base)
}

/// Headless Chromium with a fresh profile, and the DevTools WebSocket URL it printed.
fn start_chromium(binary: &Path, profile: &Path) -> (Proc, String) {
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().expect("chromium's stderr");
    let chromium = Proc(child);
    // Chromium prints `DevTools listening on ws://…` once it accepts connections. The reader
    // keeps draining stderr afterwards so Chromium never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(60)).expect("chromium to print its DevTools address");
    (chromium, url)
}

/// What the test reads off the job's row.
#[derive(Debug, PartialEq)]
struct RowView {
    status: String,
    pct: String,
    counts: String,
    live: bool,
}

fn row_view(v: &Value) -> Option<RowView> {
    Some(RowView {
        status: v["status"].as_str()?.to_owned(),
        pct: v["pct"].as_str()?.to_owned(),
        counts: v["counts"].as_str()?.to_owned(),
        live: v["live"].as_bool()?,
    })
}

/// `"7,900 / 8,000"` → (7900, 8000), whatever the digit grouping of the browser's locale.
fn counts(text: &str) -> Option<(i64, i64)> {
    let (done, total) = text.split_once('/')?;
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>().parse().ok();
    Some((digits(done)?, digits(total)?))
}

/// `"3,100 / —"` → 3100: what the row has counted, whether or not its total is known.
fn done_count(text: &str) -> Option<i64> {
    let (done, _) = text.split_once('/')?;
    done.chars().filter(char::is_ascii_digit).collect::<String>().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_started_from_the_dashboard_shows_live_progress_then_completed_and_its_timeline_lists_its_steps() {
    let Some(chromium_bin) = chromium() else { return };
    let artefacts = artefact_dir();
    let db = sqlite_db();
    let (_sim, env) = start_simulator(&artefacts.join("sim.log"));
    let (_server, base) = start_server(&db.url, &env, &artefacts.join("serve.log")).await;
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    let (_chromium, ws_url) = start_chromium(&chromium_bin, profile.path());
    let page = &cdp::Page::open(&ws_url).await;

    page.call("Page.navigate", json!({ "url": format!("{base}/") })).await;
    wait_for("the dashboard to show its job list", Duration::from_secs(30), || async move {
        page.eval("document.body && document.body.dataset.ready === 'true'").await.as_bool().filter(|b| *b)
    })
    .await;
    // A reload would drop this marker: it proves that everything below happens in one document.
    page.eval("window.sameDocument = true").await;

    page.eval(&format!("document.querySelector('[data-trigger=\"{TRIGGER}\"]').click()")).await;
    let find_row = format!(
        "(() => {{ const r = [...document.querySelectorAll('#jobs tbody tr')]
            .find(tr => tr.children[1] && tr.children[1].textContent === '{JOB_TYPE}');
           return r ? r.dataset.jobId : null; }})()"
    );
    let find_row = &find_row;
    let job_id = wait_for("the started job to appear in the table", Duration::from_secs(30), || async move {
        page.eval(find_row).await.as_str().map(str::to_owned)
    })
    .await;

    // Follow the row as the page shows it, recording each distinct state seen.
    let row_js = format!(
        "(() => {{ const tr = document.querySelector('#jobs tr[data-job-id=\"{job_id}\"]');
           if (!tr || window.sameDocument !== true) return null;
           return {{ status: tr.querySelector('.status').textContent, pct: tr.querySelector('.pct').textContent,
                    counts: tr.querySelector('.counts').textContent, live: tr.classList.contains('live') }}; }})()"
    );
    let mut seen: Vec<RowView> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = page.eval(&row_js).await;
        let row = row_view(&v).unwrap_or_else(|| panic!("the job's row vanished or the page reloaded: {v}"));
        let done = row.status == "COMPLETED";
        if seen.last() != Some(&row) {
            seen.push(row);
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for the row to show COMPLETED: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nhanh's v3 pages document no total count, so a Nhanh pull runs with an unknown total: the
    // row shows what it has counted ("3,100 / —") and an indeterminate bar until it ends.
    let last = seen.last().map(|r| (r.pct.clone(), done_count(&r.counts), counts(&r.counts))).unwrap_or_default();
    let intermediate: Vec<i64> = seen
        .iter()
        .filter(|r| r.status != "COMPLETED")
        .filter_map(|r| done_count(&r.counts))
        .filter(|n| *n > 0 && *n < CUSTOMERS)
        .collect();
    assert!(
        intermediate.len() >= 3,
        "the page showed too few intermediate progress values for a live stream: {seen:#?}"
    );
    assert!(intermediate.windows(2).all(|w| w[0] < w[1]), "progress went backwards: {seen:#?}");
    assert!(seen.iter().any(|r| r.live), "the row was never followed live: {seen:#?}");
    assert_eq!(last, ("100 %".to_owned(), Some(CUSTOMERS), None), "the finished row: {seen:#?}");
    let shot = artefacts.join("dashboard-jobs.png");
    page.screenshot(&shot).await;
    println!("screenshot of the job list: {}", shot.display());

    // The job page, reached by its link, lists every step of the job, live from the same page.
    page.eval(&format!("document.querySelector('#jobs tr[data-job-id=\"{job_id}\"] a').click()")).await;
    let timeline_js = "(() => {
        if (window.sameDocument !== true || document.querySelector('#view-job').hidden) return null;
        const items = [...document.querySelectorAll('#timeline li')];
        if (!items.some(li => li.dataset.eventType === 'JobCompleted')) return null;
        return { types: items.map(li => li.dataset.eventType),
                 steps: [...document.querySelectorAll('#timeline li.ev-StepCompleted .what')].map(w => w.textContent),
                 hash: location.hash }; })()";
    let timeline = wait_for("the job page's timeline to reach JobCompleted", Duration::from_secs(30), || async move {
        Some(page.eval(timeline_js).await).filter(|v| !v.is_null())
    })
    .await;
    assert_eq!(timeline["hash"], json!(format!("#/jobs/{job_id}")));
    let types: Vec<&str> = timeline["types"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(types.first(), Some(&"JobRequested"), "{types:?}");
    assert_eq!(types.get(1), Some(&"JobClaimed"), "{types:?}");
    assert_eq!(types.last(), Some(&"JobCompleted"), "{types:?}");
    // Every step the log holds is listed, in order, with its note.
    let events: Value =
        reqwest::get(format!("{base}/api/jobs/{job_id}/events?limit=1000")).await.unwrap().json().await.unwrap();
    let expected: Vec<String> = events["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "StepCompleted")
        .map(|e| match e["payload"]["note"].as_str() {
            Some(note) => format!("Step {} — {note}", e["payload"]["step"].as_str().unwrap()),
            None => format!("Step {}", e["payload"]["step"].as_str().unwrap()),
        })
        .collect();
    let steps: Vec<&str> = timeline["steps"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(expected.len() >= 2, "the job committed too few steps to show a timeline: {expected:#?}");
    assert_eq!(steps, expected, "the timeline's steps");
    let shot = artefacts.join("dashboard-job.png");
    page.screenshot(&shot).await;
    println!("screenshot of the job page: {}", shot.display());

    // The page's view agrees with the API's.
    let api: Value = reqwest::get(format!("{base}/api/jobs/{job_id}")).await.unwrap().json().await.unwrap();
    assert_eq!(api["data"]["status"], json!("COMPLETED"));
    assert_eq!(api["data"]["processed"], json!(CUSTOMERS));

    locations_panel_maps_a_depot_and_shows_the_apis_refusal(page, &base, &artefacts).await;
    console_cancels_a_waiting_job_resumes_a_failed_one_and_maps_a_pair_by_hand(page, &base, &db.url, &artefacts).await;
    schedules_panel_pauses_resumes_and_runs_a_schedule_now(page, &base).await;
    // Last: it stops pushes to Shopify for a while.
    webhooks_panel_lists_a_delivery_with_its_job_and_lifts_the_uninstalled_stop(page, &base, &artefacts).await;
}

/// The Webhooks panel on the jobs page: a Nhanh delivery sent to the server shows in it with its
/// source, topic and state, and a link to the job it caused that opens the job's page; a Shopify
/// `app/uninstalled` shows as stopped pushes with a button, which lifts the stop (read back
/// through the API).
async fn webhooks_panel_lists_a_delivery_with_its_job_and_lifts_the_uninstalled_stop(
    page: &cdp::Page,
    base: &str,
    artefacts: &Path,
) {
    let client = reqwest::Client::new();
    let body = json!({ "event": "productUpdate", "businessId": 1, "data": { "productId": "1" } });
    let sent = client
        .post(format!("{base}/api/webhooks/nhanh"))
        .header("content-type", "application/json")
        .header("verifyToken", NHANH_WEBHOOK_TOKEN)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{sent:?}");
    let sent: Value = sent.json().await.unwrap();
    let delivery = sent["data"]["deliveryId"].as_i64().expect("a delivery id");
    // The server's dispatcher turns it into a job; the API says which.
    let url = &format!("{base}/api/webhook-deliveries?limit=10");
    let job = wait_for("the delivery's job", Duration::from_secs(30), || async move {
        let list: Value = reqwest::get(url.as_str()).await.ok()?.json().await.ok()?;
        let d = list["data"].as_array()?.iter().find(|d| d["id"] == json!(delivery))?.clone();
        d["jobId"].as_str().or(d["pullJobId"].as_str()).map(str::to_owned)
    })
    .await;

    page.eval("location.hash = '#/'").await;
    let row_js = &format!(
        "(() => {{ document.querySelector('#webhooks-reload').click();
           const tr = document.querySelector('#deliveries tr[data-delivery=\"{delivery}\"]');
           if (window.sameDocument !== true || !tr || !tr.querySelector('a[data-job=\"{job}\"]')) return null;
           return {{ source: tr.children[1].textContent, topic: tr.children[2].textContent,
                    state: tr.dataset.state }}; }})()"
    );
    let row = wait_for("the panel to list the delivery with its job", Duration::from_secs(30), || async move {
        Some(page.eval(row_js).await).filter(|v| !v.is_null())
    })
    .await;
    assert_eq!((&row["source"], &row["topic"]), (&json!("nhanh"), &json!("productUpdate")), "{row}");
    assert!(["DISPATCHED", "WAITING"].contains(&row["state"].as_str().unwrap_or("")), "{row}");
    let shot = artefacts.join("dashboard-webhooks.png");
    page.eval("document.querySelector('#webhooks-card').scrollIntoView()").await;
    page.screenshot(&shot).await;
    println!("screenshot of the Webhooks panel: {}", shot.display());
    // The panel refreshes itself: by now the row may link the targeted job that followed the
    // pull. Follow whichever job the delivery's row links, and check that it is a real job.
    let click_js = &format!(
        "(() => {{ const a = document.querySelector('#deliveries tr[data-delivery=\"{delivery}\"] a[data-job]');
           if (!a) return null; a.click(); return a.dataset.job; }})()"
    );
    let followed: String = wait_for("the delivery's job link", Duration::from_secs(10), || async move {
        page.eval(click_js).await.as_str().map(str::to_owned)
    })
    .await;
    let known = reqwest::get(format!("{base}/api/jobs/{followed}")).await.unwrap();
    assert!(known.status().is_success(), "the delivery links job {followed}, which the API does not know");
    let hash = &format!("#/jobs/{followed}");
    wait_for("the delivery's job page", Duration::from_secs(10), || async move {
        page.eval("location.hash").await.as_str().filter(|h| *h == hash.as_str()).map(|_| ())
    })
    .await;

    // Shopify says the app was uninstalled: the panel says pushes are stopped, and its button
    // lets them resume.
    let uninstalled = json!({ "id": 1, "name": "dongbo-sim" }).to_string();
    let sent = client
        .post(format!("{base}/api/webhooks/shopify"))
        .header("content-type", "application/json")
        .header("X-Shopify-Topic", "app/uninstalled")
        .header("X-Shopify-Event-Id", "dashboard-uninstalled")
        .header("X-Shopify-Shop-Domain", "dongbo-sim.myshopify.com")
        .header(
            "X-Shopify-Hmac-SHA256",
            dongbo_workflows::webhooks::shopify::sign(SHOPIFY_WEBHOOK_SECRET, uninstalled.as_bytes()),
        )
        .body(uninstalled)
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{sent:?}");
    page.eval("location.hash = '#/'").await;
    let stopped_js = "(() => { document.querySelector('#webhooks-reload').click();
        const line = document.querySelector('#shopify-app-state'); const b = document.querySelector('#shopify-reinstalled');
        if (line.dataset.pushesStopped !== 'true' || b.hidden) return null;
        return line.textContent; })()";
    let said = wait_for("the panel to show pushes stopped", Duration::from_secs(30), || async move {
        page.eval(stopped_js).await.as_str().map(str::to_owned)
    })
    .await;
    assert!(said.contains("stopped") && said.contains("dongbo-sim.myshopify.com"), "{said}");
    page.eval("document.querySelector('#shopify-reinstalled').click()").await;
    let app_url = &format!("{base}/api/shopify/app");
    wait_for("the API to say pushes resume", Duration::from_secs(20), || async move {
        let app: Value = reqwest::get(app_url.as_str()).await.ok()?.json().await.ok()?;
        (app["data"]["pushesStopped"] == json!(false)).then_some(())
    })
    .await;
    // The panel redraws when the POST's answer reaches the page, a moment after the server
    // changed the state the API reads.
    let resumed_js = "(() => { const b = document.querySelector('#shopify-reinstalled');
        return b.hidden && document.querySelector('#shopify-app-state').dataset.pushesStopped === 'false'; })()";
    wait_for("the panel to show pushes resumed", Duration::from_secs(20), || async move {
        (page.eval(resumed_js).await == json!(true)).then_some(())
    })
    .await;
}

/// The Schedules panel on the jobs page: a schedule made through the API is listed with its cron
/// expression and next firing; its Pause, Resume and Run now buttons change it as the API then
/// reads it back, and Run now opens the page of the job it requested, which runs to the end.
async fn schedules_panel_pauses_resumes_and_runs_a_schedule_now(page: &cdp::Page, base: &str) {
    let client = reqwest::Client::new();
    // Once a year, so it never fires by itself during the test.
    let schedule = json!({ "id": "dashboard-count", "cron": "0 3 1 1 *", "jobType": "EXAMPLE_COUNT",
                           "input": { "items": 3 } });
    let made = client
        .post(format!("{base}/api/schedules"))
        .header("content-type", "application/json")
        .body(schedule.to_string())
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{made:?}");
    let api_url = &format!("{base}/api/schedules/dashboard-count");
    let paused_in_api = |want: bool| async move {
        wait_for(&format!("the API to read paused = {want}"), Duration::from_secs(20), || async move {
            let s: Value = reqwest::get(api_url.as_str()).await.ok()?.json().await.ok()?;
            let schedule = &s["data"]["schedule"];
            (schedule["paused"] == json!(want)).then_some(schedule.clone())
        })
        .await
    };

    page.eval("location.hash = '#/'").await;
    // The row's state and its action buttons, after asking the panel to reload.
    let row_js = "(() => { document.querySelector('#schedules-reload').click();
        const tr = document.querySelector('#schedules tr[data-schedule=\"dashboard-count\"]');
        if (window.sameDocument !== true || !tr) return null;
        return { cron: tr.children[1].textContent, state: tr.children[4].textContent,
                 next: tr.children[5].dataset.next,
                 actions: [...tr.querySelectorAll('[data-schedule-action]')].map(b => b.dataset.scheduleAction) }; })()";
    let shown = |state: &'static str| async move {
        wait_for(&format!("the panel to show the schedule {state}"), Duration::from_secs(20), || async move {
            Some(page.eval(row_js).await).filter(|v| v["state"] == json!(state))
        })
        .await
    };
    let click = |action: &'static str| async move {
        page.eval(&format!(
            "document.querySelector('#schedules tr[data-schedule=\"dashboard-count\"] [data-schedule-action=\"{action}\"]').click()"
        ))
        .await;
    };

    let row = shown("active").await;
    assert_eq!(row["cron"], json!("0 3 1 1 *"), "{row}");
    assert_eq!(row["actions"], json!(["pause", "run now"]), "{row}");
    let next = paused_in_api(false).await["nextRunAt"].clone();
    assert_eq!(row["next"], next, "the panel shows the API's next firing");

    click("pause").await;
    paused_in_api(true).await;
    let row = shown("paused").await;
    assert_eq!(row["actions"], json!(["resume", "run now"]), "{row}");
    click("resume").await;
    paused_in_api(false).await;
    shown("active").await;

    click("run now").await;
    let job: String = wait_for("Run now to open its job's page", Duration::from_secs(20), || async move {
        let hash = page.eval("location.hash").await;
        hash.as_str()?.strip_prefix("#/jobs/").map(str::to_owned)
    })
    .await;
    let ran = job_status(base, &job, "COMPLETED").await;
    assert_eq!(ran["type"], json!("EXAMPLE_COUNT"), "{ran}");
    let s: Value = reqwest::get(api_url.as_str()).await.unwrap().json().await.unwrap();
    assert_eq!(s["data"]["schedule"]["lastFiring"]["jobId"], json!(job), "the schedule records the firing: {s}");
}

/// Waits until the job `id` is in `status` (read through the API).
async fn job_status(base: &str, id: &str, status: &str) -> Value {
    let url = &format!("{base}/api/jobs/{id}");
    wait_for(&format!("job {id} to be {status}"), Duration::from_secs(60), || async move {
        let job: Value = reqwest::get(url.as_str()).await.ok()?.json().await.ok()?;
        (job["data"]["status"] == json!(status)).then_some(job["data"].clone())
    })
    .await
}

/// The console: the queue shows a job waiting for a free worker and cancels it; a FAILED job is
/// resumed from its page; a Nhanh product is mapped to a Shopify variant by hand through the form,
/// and the API reads back a `manual` mapping made by `dashboard`.
async fn console_cancels_a_waiting_job_resumes_a_failed_one_and_maps_a_pair_by_hand(
    page: &cdp::Page,
    base: &str,
    db_url: &str,
    artefacts: &Path,
) {
    let store = dongbo_workflows::open(db_url).await.expect("open the server's database");
    let mut registry = dongbo_engine::Registry::new();
    registry.register(dongbo_engine::example::ExampleCount);
    let engine = dongbo_engine::Engine::new(store, registry);
    let request = |input: Value| {
        let engine = engine.clone();
        async move {
            let r = dongbo_engine::JobRequest::new(dongbo_engine::example::EXAMPLE_COUNT, input);
            engine.request(r).await.expect("request").job.id.to_string()
        }
    };
    // The dashboard's confirmations and prompts answer by themselves.
    page.eval("window.confirm = () => true; window.prompt = (_, d) => d;").await;

    // Both workers busy with slow jobs: a third waits, and is cancelled from the queue.
    let slow = json!({ "items": 600, "batch": 1, "stepMillis": 100 });
    let busy = [request(slow.clone()).await, request(slow).await];
    for id in &busy {
        job_status(base, id, "RUNNING").await;
    }
    let waiting = request(json!({ "items": 5, "batch": 1, "stepMillis": 0 })).await;
    page.eval("location.hash = '#/console'").await;
    let row_js = &format!(
        "(() => {{ const tr = document.querySelector('#queue-waiting tr[data-job-id=\"{waiting}\"]');
           if (window.sameDocument !== true || !tr) return null;
           return {{ position: tr.children[0].textContent, priority: tr.children[1].textContent,
                    behind: tr.children[4].textContent,
                    running: document.querySelectorAll('#queue-running tbody tr').length }}; }})()"
    );
    let row = wait_for("the queue to show the waiting job", Duration::from_secs(20), || async move {
        Some(page.eval(row_js).await).filter(|v| !v.is_null())
    })
    .await;
    assert_eq!(
        (&row["position"], &row["priority"], &row["behind"]),
        (&json!("1"), &json!("MANUAL"), &json!("a free worker")),
        "{row}"
    );
    assert!(row["running"].as_u64().unwrap_or(0) >= 2, "{row}");
    let shot = artefacts.join("dashboard-console.png");
    page.screenshot(&shot).await;
    println!("screenshot of the console: {}", shot.display());
    page.eval(&format!("document.querySelector('[data-cancel-waiting=\"{waiting}\"]').click()")).await;
    job_status(base, &waiting, "CANCELLED").await;
    let client = reqwest::Client::new();
    for id in &busy {
        let r = client
            .post(format!("{base}/api/jobs/{id}/cancel"))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{r:?}");
        job_status(base, id, "CANCELLED").await;
    }

    // A job that fails for good is resumed from its page, under the same id.
    let failing = request(json!({ "items": 10, "batch": 2, "stepMillis": 0, "failAt": 6 })).await;
    job_status(base, &failing, "FAILED").await;
    page.eval(&format!("location.hash = '#/jobs/{failing}'")).await;
    wait_for("the Resume button", Duration::from_secs(20), || async move {
        page.eval("(() => { const b = document.querySelector('#job-resume'); return b && !b.hidden && !document.querySelector('#job-rerun').hidden; })()")
            .await
            .as_bool()
            .filter(|b| *b)
    })
    .await;
    page.eval("document.querySelector('#job-resume').click()").await;
    let events_url = &format!("{base}/api/jobs/{failing}/events?limit=1000");
    let resumed = wait_for("the job's JobResumed event", Duration::from_secs(20), || async move {
        let events: Value = reqwest::get(events_url.as_str()).await.ok()?.json().await.ok()?;
        events["data"]["items"].as_array()?.iter().find(|e| e["type"] == "JobResumed").cloned()
    })
    .await;
    assert_eq!(resumed["payload"]["reason"], json!("resumed from the dashboard"), "{resumed}");
    assert_eq!(resumed["payload"]["previousStatus"], json!("FAILED"), "{resumed}");
    wait_for("the timeline to show the resume", Duration::from_secs(20), || async move {
        page.eval("document.querySelectorAll('#timeline li[data-event-type=\"JobResumed\"]').length")
            .await
            .as_u64()
            .filter(|n| *n > 0)
    })
    .await;

    // Map a pair by hand: a Nhanh product and a Shopify variant, through the form.
    let pull = client
        .post(format!("{base}/api/nhanh/pull-products"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let pull: Value = pull.json().await.unwrap();
    job_status(base, pull["data"]["jobId"].as_str().unwrap(), "COMPLETED").await;
    let first = |side: &str| {
        let url = format!("{base}/api/records?side={side}&kind=product&limit=1");
        async move {
            let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            page["data"]["items"][0]["id"].as_str().expect("a record").to_owned()
        }
    };
    let (nhanh, variant) = (first("nhanh").await, first("shopify").await);
    page.eval("location.hash = '#/console'").await;
    page.eval(&format!(
        "(() => {{ document.querySelector('#map-kind').value = 'product';
           document.querySelector('#map-nhanh').value = '{nhanh}';
           document.querySelector('#map-shopify').value = '{variant}';
           document.querySelector('#map-submit').click(); }})()"
    ))
    .await;
    let mapping_id = wait_for("the form to show the mapping made", Duration::from_secs(20), || async move {
        page.eval("document.querySelector('#map-result').dataset.mappingId || null").await.as_str().map(str::to_owned)
    })
    .await;
    let m: Value =
        reqwest::get(format!("{base}/api/mappings/product/{mapping_id}")).await.unwrap().json().await.unwrap();
    let m = &m["data"];
    assert_eq!(m["nhanhId"].to_string(), nhanh, "{m}");
    assert_eq!(
        (&m["shopifyId"], &m["method"], &m["createdBy"]),
        (&json!(variant), &json!("manual"), &json!("dashboard")),
        "{m}"
    );
}

/// The Locations panel, on a server that has pulled no product yet: its empty state names the
/// pull still to run (depots come from the token check at start) and its button runs it; once they have, a depot mapped through the panel reads
/// back through the API, and unmapping a depot someone else already unmapped shows the API's 404
/// message next to the row, which then shows the stored state.
async fn locations_panel_maps_a_depot_and_shows_the_apis_refusal(page: &cdp::Page, base: &str, artefacts: &Path) {
    page.eval("location.hash = '#/locations'").await;
    let empty_js = "(() => {
        const box = document.querySelector('#locations-empty');
        if (window.sameDocument !== true || document.querySelector('#view-locations').hidden || box.hidden) return null;
        return { what: document.querySelector('#locations-empty-what').textContent,
                 pulls: [...box.querySelectorAll('li:not([hidden]) button')].map(b => b.textContent) }; })()";
    let empty = wait_for("the Locations panel's empty state", Duration::from_secs(10), || async move {
        Some(page.eval(empty_js).await).filter(|v| !v.is_null())
    })
    .await;
    // Nhanh's depots are known from the start: `dongbo serve` checks its token and reads
    // `business/depot` (names and coverage) before any pull; only Shopify's locations wait for one.
    assert_eq!(empty["what"], json!("No Shopify location is known yet."));
    assert_eq!(empty["pulls"], json!(["Pull Shopify products"]));
    page.eval("document.querySelectorAll('#locations-empty li:not([hidden]) button').forEach(b => b.click())").await;

    // The panel fills in by itself once both pulls have run.
    let filled_js = "(() => {
        if (window.sameDocument !== true || !document.querySelector('#locations-empty').hidden) return null;
        const select = document.querySelector('#locations tbody select');
        if (!select || select.options.length < 2) return null;
        return { depot: select.dataset.depot, saved: select.dataset.saved, location: select.options[1].value }; })()";
    let filled = wait_for("the Locations panel to list depots and locations", Duration::from_secs(30), || async move {
        Some(page.eval(filled_js).await).filter(|v| !v.is_null())
    })
    .await;
    assert_eq!(filled["saved"], json!(""), "no depot is mapped before the panel maps one: {filled}");
    let depot = filled["depot"].as_str().expect("a depot id").to_owned();
    let location = filled["location"].as_str().expect("a location gid").to_owned();

    // Choose a location for the depot and save it.
    let choose = |value: &str| {
        format!(
            "(() => {{ const s = document.getElementById('location-of-{depot}');
               s.value = '{value}'; s.dispatchEvent(new Event('change', {{ bubbles: true }}));
               const b = document.getElementById('save-location-{depot}'); const enabled = !b.disabled;
               b.click(); return enabled; }})()"
        )
    };
    assert_eq!(page.eval(&choose(&location)).await, json!(true), "a changed choice enables its Save button");
    let row_js = &format!(
        "(() => {{ const s = document.getElementById('location-of-{depot}');
           const n = document.getElementById('location-note-{depot}');
           if (!s || s.disabled || !n || n.textContent === 'saving…') return null;
           return {{ saved: s.dataset.saved, value: s.value, note: n.textContent, error: n.classList.contains('error'),
                    focused: document.activeElement === s,
                    notice: document.querySelector('#notice').textContent }}; }})()"
    );
    let saved = wait_for("the saved mapping to show in the panel", Duration::from_secs(10), || async move {
        Some(page.eval(row_js).await).filter(|v| v["note"] == json!("saved"))
    })
    .await;
    assert_eq!((&saved["saved"], &saved["value"]), (&json!(location), &json!(location)), "{saved}");
    assert_eq!(saved["focused"], json!(true), "the focus went back to the row's select: {saved}");
    let shot = artefacts.join("dashboard-locations.png");
    page.screenshot(&shot).await;
    println!("screenshot of the Locations panel: {}", shot.display());

    let url = format!("{base}/api/location-mappings");
    let listed: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let depot_id: u64 = depot.parse().expect("a numeric depot id");
    assert_eq!(listed["data"]["mappings"], json!([{ "depotId": depot_id, "locationId": location }]), "{listed}");

    // Someone else unmaps the depot; unmapping it again from the (now stale) panel is a 404 whose
    // message the row shows, and the row then shows the stored state: not mapped.
    let removed = reqwest::Client::new()
        .delete(format!("{url}/{depot}"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success(), "{removed:?}");
    assert_eq!(page.eval(&choose("")).await, json!(true));
    let refused = wait_for("the API's refusal to show in the panel", Duration::from_secs(10), || async move {
        Some(page.eval(row_js).await).filter(|v| v["error"] == json!(true))
    })
    .await;
    let message = format!("depot {depot} is not mapped to any location");
    assert_eq!(refused["note"], json!(message), "{refused}");
    assert!(refused["notice"].as_str().unwrap_or_default().contains(&message), "{refused}");
    assert_eq!((&refused["saved"], &refused["value"]), (&json!(""), &json!("")), "{refused}");
}

/// A minimal DevTools protocol client: enough to drive one page.
mod cdp {
    use std::path::Path;
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    use base64::Engine as _;

    /// No single command may take longer than this.
    const CALL_TIMEOUT: Duration = Duration::from_secs(30);

    /// One page (a target) of the browser, attached over the browser's WebSocket.
    pub struct Page {
        ws: tokio::sync::Mutex<WebSocketStream<MaybeTlsStream<TcpStream>>>,
        next_id: std::sync::atomic::AtomicU64,
        session: String,
    }

    impl Page {
        /// Opens a new 1400×1000 page in the browser listening at `browser_ws`.
        pub async fn open(browser_ws: &str) -> Page {
            let (ws, _) = tokio_tungstenite::connect_async(browser_ws).await.expect("connect to Chromium's DevTools");
            let mut page = Page { ws: ws.into(), next_id: 1.into(), session: String::new() };
            let target = page.call("Target.createTarget", json!({ "url": "about:blank" })).await;
            let attached =
                page.call("Target.attachToTarget", json!({ "targetId": target["targetId"], "flatten": true })).await;
            page.session = attached["sessionId"].as_str().expect("a session id").to_owned();
            page.call(
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false }),
            )
            .await;
            page
        }

        /// Sends a command (to the page once attached) and returns its result; panics on an error.
        pub async fn call(&self, method: &str, params: Value) -> Value {
            let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut message = json!({ "id": id, "method": method, "params": params });
            if !self.session.is_empty() {
                message["sessionId"] = json!(self.session);
            }
            let mut ws = self.ws.lock().await;
            let exchange = async {
                ws.send(Message::text(message.to_string())).await.expect("send to Chromium");
                // Replies come in order with events between them; events are not needed here.
                loop {
                    let frame = ws.next().await.expect("Chromium closed the connection").expect("read from Chromium");
                    let Message::Text(text) = frame else { continue };
                    let reply: Value = serde_json::from_str(text.as_str()).expect("Chromium sends JSON");
                    if reply["id"] == json!(id) {
                        return reply;
                    }
                }
            };
            let reply = tokio::time::timeout(CALL_TIMEOUT, exchange)
                .await
                .unwrap_or_else(|_| panic!("{method} got no reply within {CALL_TIMEOUT:?}"));
            assert!(reply.get("error").is_none(), "{method} failed: {}", reply["error"]);
            reply["result"].clone()
        }

        /// Evaluates `expression` in the page and returns its value; panics on a script error.
        pub async fn eval(&self, expression: &str) -> Value {
            let result = self
                .call(
                    "Runtime.evaluate",
                    json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
                )
                .await;
            if let Some(details) = result.get("exceptionDetails") {
                panic!("the page threw evaluating {expression}: {details}");
            }
            result["result"].get("value").cloned().unwrap_or(Value::Null)
        }

        /// Saves a PNG of the viewport to `path`.
        pub async fn screenshot(&self, path: &Path) {
            let shot = self.call("Page.captureScreenshot", json!({ "format": "png" })).await;
            let png = base64::engine::general_purpose::STANDARD
                .decode(shot["data"].as_str().expect("screenshot data"))
                .expect("screenshot data is base64");
            std::fs::write(path, png).expect("write the screenshot");
        }
    }
}
