//! `dongbo bench`: every benchmark of the project against a baseline measured in the same run,
//! gathered into one table (name, measured, baseline, ratio, target, met) or a JSON list of the
//! same six fields.
//!
//! Each section is a module with `pub async fn run(opts: &BenchOpts) -> anyhow::Result<Vec<Row>>`,
//! listed once in [`SECTIONS`]. A section prints its context (sizes, lock-outs, notes) on stderr
//! through [`note`], so that stdout carries only the table or the JSON. PostgreSQL rows need a
//! server URL; without one a section asks [`backends`], which skips them loudly.
//!
//! The baselines are measured here too, which is why this module (and only this module of the
//! `api` crate) runs raw SQL: the engine section's single-row insert+commit rate is the yardstick
//! the engine is measured against.

pub mod bulk_rss;
pub mod chaos;
pub mod engine;
pub mod fixture;
pub mod matching;
pub mod pulls;
pub mod resume;
pub mod scratch;
pub mod sync;
pub mod throughput_svg;

use std::path::PathBuf;

use anyhow::bail;
use futures::future::BoxFuture;
use serde::Serialize;

pub use scratch::{Backend, ScratchDb};

/// How to run the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct BenchOpts {
    /// Reduced sizes (the whole `dongbo bench --quick` stays under ten minutes on two cores).
    pub quick: bool,
    /// A PostgreSQL server URL; benches create and drop their own scratch databases on it.
    pub pg_url: Option<String>,
    /// The `dongbo` binary, for benches that spawn `dongbo worker` processes.
    pub dongbo_bin: PathBuf,
    /// The engine section's step count, instead of the quick or full default.
    pub steps: Option<u32>,
    /// Where the sync section writes its throughput plot (SVG), if anywhere.
    pub plot: Option<PathBuf>,
}

impl BenchOpts {
    /// `full` normally, `quick` with `--quick`.
    pub fn size<T>(&self, quick: T, full: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// What was measured, with its unit and backend: `engine empty steps/s (postgres)`.
    pub name: String,
    /// The figure measured.
    pub measured: f64,
    /// The baseline measured in the same run (or the old tool's figure).
    pub baseline: f64,
    /// `measured / baseline`.
    pub ratio: f64,
    /// The target, for a human: `≥ 0.50`, `≤ 1.5×`, `≤ 1 step`.
    pub target: String,
    /// Whether the target is met.
    pub met: bool,
}

impl Row {
    /// A row whose ratio is `measured / baseline` (0 when the baseline is 0, so JSON stays finite).
    pub fn new(name: impl Into<String>, measured: f64, baseline: f64, target: impl Into<String>, met: bool) -> Row {
        let ratio = if baseline != 0.0 && (measured / baseline).is_finite() { measured / baseline } else { 0.0 };
        Row { name: name.into(), measured, baseline, ratio, target: target.into(), met }
    }

    /// A row met when `ratio ≥ min` (the target reads `≥ min`).
    pub fn at_least(name: impl Into<String>, measured: f64, baseline: f64, min: f64) -> Row {
        let row = Row::new(name, measured, baseline, format!("≥ {min:.2}"), false);
        Row { met: row.ratio >= min, ..row }
    }

    /// A row met when `ratio ≤ max` (the target reads `≤ max×`).
    pub fn at_most(name: impl Into<String>, measured: f64, baseline: f64, max: f64) -> Row {
        let row = Row::new(name, measured, baseline, format!("≤ {max}×"), false);
        Row { met: row.ratio <= max, ..row }
    }

    /// A row with no target of its own, printed to explain another (its target and met read
    /// `—`; in JSON `met` is true, so it never fails a run).
    pub fn info(name: impl Into<String>, measured: f64, baseline: f64) -> Row {
        Row::new(name, measured, baseline, INFO, true)
    }
}

/// The target of an explanatory row.
const INFO: &str = "—";

/// A section's entry point.
pub type Section = for<'a> fn(&'a BenchOpts) -> BoxFuture<'a, anyhow::Result<Vec<Row>>>;

/// Every section, in the order `dongbo bench` runs them. One line per section.
pub const SECTIONS: &[(&str, Section)] = &[
    ("engine", |o| Box::pin(engine::run(o))),
    ("pulls", |o| Box::pin(pulls::run(o))),
    ("matching", |o| Box::pin(matching::run(o))),
    ("sync", |o| Box::pin(sync::run(o))),
    ("resume", |o| Box::pin(resume::run(o))),
    ("chaos", |o| Box::pin(chaos::run(o))),
    ("bulk_rss", |o| Box::pin(bulk_rss::run(o))),
];

/// The names of every section.
pub fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|(n, _)| *n).collect()
}

/// Runs the named sections (every section when `names` is empty), in [`SECTIONS`] order. A section
/// that fails is reported on stderr and the others still run; the error is returned at the end
/// with the rows of those that succeeded.
pub async fn run(names: &[String], opts: &BenchOpts) -> (Vec<Row>, Vec<(String, anyhow::Error)>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (name, section) in SECTIONS.iter().filter(|(n, _)| names.is_empty() || names.iter().any(|m| m == n)) {
        note(name, &format!("running ({})", if opts.quick { "quick sizes" } else { "full sizes" }));
        let started = std::time::Instant::now();
        match section(opts).await {
            Ok(r) => {
                note(name, &format!("done in {:.1} s", started.elapsed().as_secs_f64()));
                rows.extend(r);
            }
            Err(e) => {
                eprintln!("[bench {name}] FAILED: {e:#}");
                errors.push((name.to_string(), e));
            }
        }
    }
    (rows, errors)
}

/// Checks section names before anything runs.
pub fn check_sections(names: &[String]) -> anyhow::Result<()> {
    for n in names {
        if !SECTIONS.iter().any(|(s, _)| s == n) {
            bail!("unknown bench section `{n}`; sections: {}", section_names().join(", "));
        }
    }
    Ok(())
}

/// A line of context from a section, on stderr.
pub fn note(section: &str, message: &str) {
    eprintln!("[bench {section}] {message}");
}

/// The backends a section measures: SQLite always, PostgreSQL when a server URL is given — else a
/// loud line on stderr says its PostgreSQL rows are skipped.
pub fn backends(opts: &BenchOpts, section: &str) -> Vec<Backend> {
    if opts.pg_url.is_some() {
        return vec![Backend::Sqlite, Backend::Postgres];
    }
    eprintln!(
        "\n!!! [bench {section}] SKIPPED its PostgreSQL rows: no server URL \
         (--pg, DONGBO_BENCH_PG_URL or DONGBO_TEST_PG_URL) !!!\n"
    );
    vec![Backend::Sqlite]
}

/// The rows as a JSON list of objects with the six fields.
pub fn to_json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let head = ["name", "measured", "baseline", "ratio", "target", "met"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                figure(r.measured),
                figure(r.baseline),
                format!("{:.2}", r.ratio),
                r.target.clone(),
                match (r.target.as_str(), r.met) {
                    (INFO, _) => INFO.into(),
                    (_, true) => "yes".into(),
                    (_, false) => "NO".into(),
                },
            ]
        })
        .collect();
    let mut widths = head.map(|h| h.chars().count());
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |c: &[String; 6]| {
        let mut s = String::new();
        for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            // Names and targets read left to right; figures line up on the right.
            match i {
                0 | 4 | 5 => s.push_str(&format!("{cell}{pad}")),
                _ => s.push_str(&format!("{pad}{cell}")),
            }
            if i < 5 {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&head.map(String::from));
    out.push_str(&line(&widths.map(|w| "-".repeat(w))));
    for c in &cells {
        out.push_str(&line(c));
    }
    out
}

/// A figure with as many decimals as its size warrants.
fn figure(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 || a == a.trunc() => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_baseline_gives_a_finite_ratio() {
        let row = Row::new("x", 3.0, 0.0, "≤ 1 step", false);
        assert_eq!(row.ratio, 0.0);
        assert!(to_json(&[row]).contains("\"ratio\": 0.0"));
    }

    #[test]
    fn the_table_aligns_figures_and_says_whether_each_target_is_met() {
        let rows =
            [Row::at_least("engine empty steps/s (sqlite)", 500.0, 2000.0, 0.5), Row::at_most("b", 1.2, 1.0, 1.5)];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].starts_with("engine empty steps/s (sqlite)") && lines[2].ends_with("NO"), "{t}");
        assert!(lines[3].ends_with("yes"), "{t}");
        assert!(lines[2].contains("0.25") && lines[2].contains("≥ 0.50"), "{t}");
    }

    #[test]
    fn an_explanatory_row_claims_no_target() {
        let t = table(&[Row::info("dry run", 2.0, 1.0)]);
        let last = t.lines().last().unwrap_or_default();
        assert!(last.ends_with("—") && !last.contains("yes") && last.contains("2.00"), "{t}");
    }
}
