//! `dongbo demo` as a newcomer runs it, at small sizes: it must exit 0, its summary must show
//! every job type COMPLETED with counts equal to the simulator's ground truth, and its continuous
//! phase must show Shopify following a stock change made in Nhanh.

use std::collections::BTreeMap;
use std::process::Command;

/// One row of the demo's summary table.
#[derive(Debug)]
struct Row {
    status: String,
    records: i64,
    truth: i64,
    success: i64,
    failed: i64,
}

fn parse_summary(out: &str) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() == Some(&"job") && cols.get(1) == Some(&"status") {
            in_table = true;
            continue;
        }
        if in_table {
            if cols.len() < 6 {
                break;
            }
            let n = |i: usize| cols[i].parse::<i64>().unwrap_or_else(|_| panic!("column {i} of {line:?}"));
            rows.insert(
                cols[0].to_owned(),
                Row { status: cols[1].to_owned(), records: n(2), truth: n(3), success: n(4), failed: n(5) },
            );
        }
    }
    rows
}

#[test]
fn the_demo_exits_zero_with_every_job_type_completed_and_counts_equal_to_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let out = Command::new(dongbo_tests::dongbo_bin())
        .args(["demo", "--products", "300", "--customers", "600", "--db", &db])
        .current_dir(dir.path())
        .output()
        .expect("run dongbo demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows = parse_summary(&stdout);
    let types = [
        "PULL_NHANH_PRODUCTS",
        "PULL_SHOPIFY_PRODUCTS",
        "PULL_NHANH_CUSTOMERS",
        "PULL_SHOPIFY_CUSTOMERS",
        "AUTO_MATCH_PRODUCTS",
        "AUTO_MATCH_CUSTOMERS",
        "PRODUCT_SYNC",
        "CUSTOMER_SYNC",
        "RETRY_FAILED_SYNC",
    ];
    for t in types {
        let row = rows.get(t).unwrap_or_else(|| panic!("{t} missing from the summary:\n{stdout}"));
        assert_eq!(row.status, "COMPLETED", "{t}: {row:?}");
    }
    for pull in &types[..4] {
        let r = &rows[*pull];
        assert_eq!((r.records, r.success, r.failed), (r.truth, r.truth, 0), "{pull} against the truth: {r:?}");
    }
    for matcher in ["AUTO_MATCH_PRODUCTS", "AUTO_MATCH_CUSTOMERS"] {
        let r = &rows[matcher];
        assert_eq!(r.success, r.truth, "{matcher} mapped other than the matchable pairs: {r:?}");
    }
    let product_sync = &rows["PRODUCT_SYNC"];
    assert_eq!((product_sync.success, product_sync.failed), (rows["AUTO_MATCH_PRODUCTS"].success, 0));
    let customer_sync = &rows["CUSTOMER_SYNC"];
    let retry = &rows["RETRY_FAILED_SYNC"];
    assert_eq!(customer_sync.success + customer_sync.failed, rows["AUTO_MATCH_CUSTOMERS"].success);
    assert_eq!(customer_sync.failed, retry.truth, "the refused customers fail, the others sync");
    assert_eq!((retry.success, retry.failed), (retry.truth, 0), "the retry brings the refused customers to SYNCED");
    assert!(stdout.contains("(attempt 2)"), "no resume after the kill:\n{stdout}");
    assert!(stdout.contains("inventory keys applied twice: 0"), "{stdout}");
    let check = stdout.lines().find(|l| l.starts_with("check:")).expect("the check line");
    assert!(check.contains("9/9 jobs COMPLETED"), "{check}");
    // The continuous phase: a stock change in Nhanh reached Shopify through a webhook delivery
    // and a targeted PRODUCT_SYNC, within the demo's limit.
    let continuous = stdout.lines().find(|l| l.starts_with("continuous: Shopify followed")).unwrap_or_else(|| {
        panic!("no continuous line:\n{stdout}");
    });
    assert!(continuous.contains("→ PRODUCT_SYNC"), "{continuous}");
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("delivery: #")), "{stdout}");
}
