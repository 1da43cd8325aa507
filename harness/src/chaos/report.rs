//! The chaos report: the figures of a run (what was done to it, what it cost, each job's
//! counters next to the truth and the undisturbed run) and the verdict of every check.

use std::fmt;
use std::time::Duration;

use super::checks::{self, inventory_writes, redo, redo_bounded, truth_counters};
use super::disrupt::Disruptions;
use super::outcome::Traffic;
use super::pipeline::Pass;
use super::{Backend, ChaosConfig};

/// One job of the disturbed run.
#[derive(Debug, Clone)]
pub struct JobFigures {
    /// The job type.
    pub job_type: String,
    /// Its final status.
    pub status: String,
    /// `(total, processed, successful, failed)` as the job ended.
    pub counters: (Option<i64>, i64, i64, i64),
    /// The same, in the undisturbed run.
    pub undisturbed: Option<(Option<i64>, i64, i64, i64)>,
    /// Successful items the simulator's truth expects, where it fixes them.
    pub truth_successful: Option<i64>,
    /// Claims of the job (1 = never resumed or retried).
    pub attempts: i64,
    /// How long it took.
    pub elapsed: Duration,
    /// How long it took undisturbed.
    pub undisturbed_elapsed: Option<Duration>,
}

/// The figures and the verdict of a chaos run.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    /// The database.
    pub backend: Backend,
    /// The seed.
    pub seed: u64,
    /// Nhanh products.
    pub products: usize,
    /// Nhanh customers.
    pub customers: usize,
    /// Worker processes.
    pub workers: usize,
    /// Kills and restarts done.
    pub disruptions: Disruptions,
    /// Worker processes started over the disturbed run (first ones included).
    pub worker_starts: usize,
    /// Worker processes that exited by themselves and were started again.
    pub unexpected_exits: usize,
    /// Claims that took over a lease its holder lost (killed, or cut off by the restart).
    pub lost_lease_resumes: usize,
    /// Steps whose work was thrown away and done again (see the `checks` module doc).
    pub steps_redone: usize,
    /// The most times one step (one checkpoint of one job) was redone.
    pub max_redone_one_step: usize,
    /// Steps committed over the disturbed run, all jobs.
    pub steps_committed: usize,
    /// Step failures retried by the engine (faults the connectors' own retries did not absorb).
    pub step_retries: usize,
    /// Inventory writes applied, disturbed run.
    pub inventory_writes_applied: usize,
    /// Inventory keys applied more than once.
    pub inventory_keys_applied_twice: usize,
    /// Inventory keys sent again after they applied (deduplicated by Shopify).
    pub inventory_keys_replayed: usize,
    /// Requests and what the simulator did to them, disturbed run.
    pub traffic: Traffic,
    /// Each job of the disturbed run.
    pub jobs: Vec<JobFigures>,
    /// The disturbed pipeline, first request to last job finished.
    pub elapsed: Duration,
    /// The undisturbed pipeline.
    pub undisturbed_elapsed: Duration,
    /// `(check, violations found)`, in order.
    pub checks: Vec<(String, usize)>,
    /// What went wrong, prefixed by its check; empty = pass.
    pub violations: Vec<String>,
}

impl ChaosReport {
    /// Kills plus PostgreSQL restarts.
    pub fn disruption_count(&self) -> usize {
        self.disruptions.kills + self.disruptions.pg_restarts
    }

    /// Jobs of the disturbed run that COMPLETED.
    pub fn jobs_completed(&self) -> usize {
        self.jobs.iter().filter(|j| j.status == "COMPLETED").count()
    }
}

fn counters(j: &super::pipeline::JobRun) -> (Option<i64>, i64, i64, i64) {
    (j.row.total, j.row.processed, j.row.successful, j.row.failed)
}

/// Runs every check on the two passes and gathers the figures.
pub(crate) fn judge(cfg: &ChaosConfig, reference: &Pass, run: &Pass) -> ChaosReport {
    let ref_writes = inventory_writes(&reference.journal);
    let writes = inventory_writes(&run.journal);
    let (fire_redo, log_violations) = redo(&run.jobs);
    let disruptions = run.disruptions.kills + run.disruptions.pg_restarts;
    // Undisturbed, nothing may be redone: a lease lost there was lost to a late heartbeat.
    let (calm_redo, mut calm_violations) = redo(&reference.jobs);
    calm_violations.extend(redo_bounded(&calm_redo, 0, &ref_writes));
    let checks: Vec<(&str, Vec<String>)> = vec![
        ("the undisturbed run completes", checks::completed(reference)),
        ("the undisturbed run reaches Nhanh's values", checks::shopify_writes(reference, &ref_writes, &ref_writes)),
        ("the undisturbed run redoes no step", calm_violations),
        ("every job COMPLETED", checks::completed(run)),
        ("counters equal the truth and the undisturbed run", checks::counters(reference, run)),
        (
            "catalog, mappings and Shopify equal the undisturbed run",
            checks::same_outcome(&reference.outcome, &run.outcome),
        ),
        ("no inventory key applied twice, no item lost", checks::shopify_writes(run, &writes, &ref_writes)),
        ("event logs are contiguous and resume from the last checkpoint", log_violations),
        ("at most one step redone per kill or restart", redo_bounded(&fire_redo, disruptions, &writes)),
    ];
    let jobs = run
        .jobs
        .iter()
        .map(|j| {
            let undisturbed = reference.jobs.iter().find(|r| r.stage == j.stage);
            JobFigures {
                job_type: j.row.job_type.clone(),
                status: j.row.status.as_str().to_owned(),
                counters: counters(j),
                undisturbed: undisturbed.map(counters),
                truth_successful: truth_counters(&j.row.job_type, &run.truth)[2],
                attempts: j.row.attempts,
                elapsed: j.elapsed,
                undisturbed_elapsed: undisturbed.map(|r| r.elapsed),
            }
        })
        .collect();
    ChaosReport {
        backend: cfg.backend,
        seed: cfg.seed,
        products: cfg.products,
        customers: cfg.customers,
        workers: cfg.workers,
        disruptions: run.disruptions.clone(),
        worker_starts: run.worker_starts,
        unexpected_exits: run.unexpected_exits,
        lost_lease_resumes: fire_redo.lost_lease_resumes,
        steps_redone: fire_redo.steps_redone,
        max_redone_one_step: fire_redo.max_redone_one_step,
        steps_committed: fire_redo.steps_committed,
        step_retries: fire_redo.step_retries,
        inventory_writes_applied: writes.applied.values().sum(),
        inventory_keys_applied_twice: writes.applied.values().filter(|n| **n > 1).count(),
        inventory_keys_replayed: writes.replayed.values().map(|k| k.len()).sum(),
        traffic: run.traffic.clone(),
        jobs,
        elapsed: run.elapsed,
        undisturbed_elapsed: reference.elapsed,
        checks: checks.iter().map(|(name, v)| (name.to_string(), v.len())).collect(),
        violations: checks.iter().flat_map(|(name, v)| v.iter().map(move |x| format!("{name}: {x}"))).collect(),
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.disruptions;
        let t = &self.traffic;
        writeln!(
            f,
            "chaos on {} (seed {}): {} products, {} customers, {} worker processes",
            self.backend.as_str(),
            self.seed,
            self.products,
            self.customers,
            self.workers
        )?;
        writeln!(
            f,
            "fire: {} SIGKILLs ({} on the lease holder), {} PostgreSQL restarts ({:.1} s down), {} worker starts, \
             {} exited by themselves",
            d.kills,
            d.kills_on_lease_holders,
            d.pg_restarts,
            d.pg_downtime.as_secs_f64(),
            self.worker_starts,
            self.unexpected_exits
        )?;
        writeln!(
            f,
            "upstreams: {} requests, {} answered 5xx, {} hung then 504, {} THROTTLED to workers \
             (the neighbour sent {}), {} Nhanh ERR_429",
            t.requests,
            t.errors,
            t.timeouts,
            t.workers_throttled(),
            t.neighbour_sent,
            t.locked
        )?;
        writeln!(
            f,
            "redo: {} lost-lease resumes, {} steps redone for {} kills and restarts (at most {} of one step), \
             {} steps committed, {} step retries; inventory: {} writes applied, {} keys replayed and deduplicated, {} applied twice",
            self.lost_lease_resumes,
            self.steps_redone,
            self.disruption_count(),
            self.max_redone_one_step,
            self.steps_committed,
            self.step_retries,
            self.inventory_writes_applied,
            self.inventory_keys_replayed,
            self.inventory_keys_applied_twice
        )?;
        writeln!(
            f,
            "{:<23} {:<10} {:>7} {:>9} {:>10} {:>6} {:>6} {:>8} {:>8} {:>11}",
            "job",
            "status",
            "total",
            "processed",
            "successful",
            "failed",
            "truth",
            "attempts",
            "elapsed",
            "undisturbed"
        )?;
        for j in &self.jobs {
            let (total, processed, successful, failed) = j.counters;
            let same = if j.undisturbed == Some(j.counters) { "" } else { " ≠" };
            writeln!(
                f,
                "{:<23} {:<10} {:>7} {:>9} {:>10} {:>6} {:>6} {:>8} {:>7.1}s {:>10.1}s{same}",
                j.job_type,
                j.status,
                total.map_or_else(|| "-".into(), |t| t.to_string()),
                processed,
                successful,
                failed,
                j.truth_successful.map_or_else(|| "-".into(), |t| t.to_string()),
                j.attempts,
                j.elapsed.as_secs_f64(),
                j.undisturbed_elapsed.unwrap_or_default().as_secs_f64()
            )?;
        }
        let ratio = self.elapsed.as_secs_f64() / self.undisturbed_elapsed.as_secs_f64().max(0.001);
        writeln!(
            f,
            "elapsed: {:.1} s under fire, {:.1} s undisturbed ({ratio:.1}×)",
            self.elapsed.as_secs_f64(),
            self.undisturbed_elapsed.as_secs_f64()
        )?;
        for line in &d.timeline {
            writeln!(f, "  {line}")?;
        }
        let passed = self.checks.iter().filter(|(_, n)| *n == 0).count();
        writeln!(f, "checks: {passed}/{} passed", self.checks.len())?;
        for v in &self.violations {
            writeln!(f, "  VIOLATION {v}")?;
        }
        Ok(())
    }
}
