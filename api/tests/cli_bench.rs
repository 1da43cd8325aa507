//! `dongbo bench` from the terminal, on a tiny engine section: `--json` prints a list of objects
//! with exactly the six fields and real figures, the table renders, and a bad section is refused.

use std::process::{Command, Output};

use serde_json::Value;

fn dongbo_bench(args: &[&str]) -> Output {
    // Without a server URL the PostgreSQL rows are skipped, which keeps this test to SQLite.
    Command::new(env!("CARGO_BIN_EXE_dongbo"))
        .arg("bench")
        .args(args)
        .env_remove("DONGBO_BENCH_PG_URL")
        .env_remove("DONGBO_TEST_PG_URL")
        .env_remove("DONGBO_BENCH_QUICK")
        .env_remove("DONGBO_BENCH_STEPS")
        .output()
        .expect("run dongbo bench")
}

#[test]
fn bench_json_prints_rows_with_the_six_fields_and_real_figures() {
    let out = dongbo_bench(&["engine", "--steps", "30", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("SKIPPED its PostgreSQL rows"), "the skip is said loudly: {stderr}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("stdout is only the JSON list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = rows[0].as_object().expect("an object");
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["baseline", "measured", "met", "name", "ratio", "target"]);
    assert_eq!(row["name"], "engine empty steps/s (sqlite, WAL, synchronous NORMAL)");
    for field in ["measured", "baseline", "ratio"] {
        let v = row[field].as_f64().unwrap_or_default();
        assert!(v > 0.0 && v.is_finite(), "{field} = {v}");
    }
    let ratio = row["measured"].as_f64().unwrap() / row["baseline"].as_f64().unwrap();
    assert!((row["ratio"].as_f64().unwrap() - ratio).abs() < 1e-9);
    assert_eq!(row["target"], "≥ 0.50");
    assert_eq!(row["met"].as_bool(), Some(ratio >= 0.5));
}

#[test]
fn bench_prints_a_table_with_a_header_and_one_line_per_row() {
    let out = dongbo_bench(&["engine", "--steps", "30"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("dongbo bench (full sizes"), "{stdout}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header, ["name", "measured", "baseline", "ratio", "target", "met"]);
    assert!(lines[2].chars().all(|c| c == '-' || c == ' '), "{stdout}");
    let row = lines
        .iter()
        .find(|l| l.starts_with("engine empty steps/s (sqlite, WAL, synchronous NORMAL)"))
        .expect("the engine row");
    assert!(row.ends_with("yes") || row.ends_with("NO"), "{row}");
    assert!(row.contains("≥ 0.50"), "{row}");
}

#[test]
fn an_unknown_section_is_refused_with_the_list_of_sections() {
    let out = dongbo_bench(&["nonsense"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown bench section `nonsense`") && stderr.contains("engine"), "{stderr}");
    assert!(out.stdout.is_empty());
}
