//! The chaos suite at CI size (see `dongbo_harness::chaos`): the whole pipeline with its worker
//! processes SIGKILLed at seeded moments, PostgreSQL restarted mid-run (a private cluster, so the
//! other suites are not disturbed) and the simulator failing, hanging, slowing and throttling
//! requests — it must end exactly as an undisturbed run of the same seed, with every job
//! COMPLETED, counters equal to the truth, no inventory key applied twice, no item lost and at
//! most one step redone per kill. `DONGBO_CHAOS_LOGS=<dir>` keeps the workers' stderr.

use dongbo_harness::chaos::{find_pg_bin, run, Backend, ChaosConfig};

fn config(backend: Backend) -> ChaosConfig {
    let mut cfg = ChaosConfig::small(backend, dongbo_tests::dongbo_bin());
    cfg.log_dir = std::env::var_os("DONGBO_CHAOS_LOGS").map(Into::into);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_under_kills_a_postgres_restart_and_upstream_faults_ends_as_an_undisturbed_run() {
    if find_pg_bin().is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but no PostgreSQL binaries were found (PATH, DONGBO_PG_BIN, /usr/lib/postgresql/*/bin)");
        }
        eprintln!("\n!!! SKIPPED the PostgreSQL chaos test: no initdb/pg_ctl found (set DONGBO_PG_BIN) !!!\n");
        return;
    }
    let report = run(&config(Backend::Postgres)).await.expect("the chaos run");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(report.jobs_completed(), report.jobs.len());
    assert_eq!(report.jobs.len(), 9, "every stage ran, RETRY_FAILED_SYNC included");
    assert_eq!(report.disruptions.kills, 6);
    assert_eq!(report.disruptions.pg_restarts, 1, "PostgreSQL was restarted mid-run");
    assert!(report.lost_lease_resumes > 0, "no kill took a lease away: the run proved no resume\n{report}");
    assert!(report.traffic.errors > 0 && report.traffic.timeouts > 0, "faults were injected\n{report}");
    assert!(report.inventory_writes_applied > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_with_its_single_sqlite_worker_killed_and_upstream_faults_ends_as_an_undisturbed_run() {
    let report = run(&config(Backend::Sqlite)).await.expect("the chaos run");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(report.jobs_completed(), report.jobs.len());
    assert_eq!(report.jobs.len(), 9, "every stage ran, RETRY_FAILED_SYNC included");
    assert_eq!(report.disruptions.kills, 6);
    assert_eq!(report.disruptions.pg_restarts, 0);
    assert!(report.lost_lease_resumes > 0, "no kill took a lease away: the run proved no resume\n{report}");
    assert!(report.traffic.errors > 0 && report.traffic.timeouts > 0, "faults were injected\n{report}");
    assert!(report.inventory_writes_applied > 0);
}
