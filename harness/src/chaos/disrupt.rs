//! The fire: a seeded plan of SIGKILLs and PostgreSQL restarts laid over the pipeline's stages,
//! and its execution while the stages run.
//!
//! Each action is tied to a stage and a moment inside it, both drawn from the seed. The stage is
//! drawn with a weight equal to how long its job ran in the undisturbed run (plus a floor), and
//! without replacement until every stage has drawn fire once, so the kills spread over pulls,
//! matches and syncs instead of piling onto the slowest stage. The moment is a share of that
//! running time, counted from when the job is first seen RUNNING (the disturbed run is slower, so
//! it falls inside the job). Actions whose job ended before their moment fire as it ends, between
//! jobs.
//!
//! A kill picks its victim by the seed too: two times in three the process holding the running
//! job's lease (a kill of an idle worker proves little), otherwise any slot. The victim is
//! started again at once.

use std::time::Duration;

use dongbo_engine::event::EventPayload;
use dongbo_engine::{JobId, SharedStore};

use super::cluster::PgCluster;
use super::fleet::Fleet;
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Kill,
    RestartPostgres,
}

#[derive(Debug, Clone)]
struct Planned {
    stage: usize,
    at: Duration,
    action: Action,
}

/// Where the pipeline is: stage index, time since its job was first seen RUNNING (`None`: not
/// yet), whether it just ended, its job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub(crate) stage: usize,
    pub(crate) since: Option<Duration>,
    pub(crate) stage_over: bool,
    pub(crate) job: Option<JobId>,
}

/// What the fire acts on.
pub(crate) struct Scene<'a> {
    pub(crate) store: SharedStore,
    pub(crate) fleet: Fleet,
    pub(crate) cluster: Option<&'a PgCluster>,
}

/// What was done to the run, for the report.
#[derive(Debug, Clone, Default)]
pub struct Disruptions {
    /// Worker processes killed with SIGKILL (and started again).
    pub kills: usize,
    /// Kills whose victim held the running job's lease.
    pub kills_on_lease_holders: usize,
    /// PostgreSQL restarts (`pg_ctl restart -m immediate`).
    pub pg_restarts: usize,
    /// How long the restarts kept PostgreSQL away, in total.
    pub pg_downtime: Duration,
    /// One line per action: stage, moment, victim.
    pub timeline: Vec<String>,
}

/// The plan and what it has done so far.
pub(crate) struct Disruptor {
    plan: Vec<Planned>,
    next: usize,
    rng: StdRng,
    pub(crate) done: Disruptions,
}

impl Disruptor {
    /// `kills` kills and `pg_restarts` restarts over stages whose jobs ran `stage_running`
    /// undisturbed.
    pub(crate) fn plan(seed: u64, kills: usize, pg_restarts: usize, stage_running: &[Duration]) -> Disruptor {
        let mut rng = StdRng::seed_from_u64(seed);
        // A floor so that a stage that was instant undisturbed still draws a little fire.
        let weights: Vec<f64> = stage_running.iter().map(|d| d.as_secs_f64() + 0.05).collect();
        let mut unused = weights.clone();
        let mut plan = Vec::new();
        let mut draw = |rng: &mut StdRng, action: Action, from: f64, span: f64| {
            if unused.iter().all(|w| *w == 0.0) {
                unused = weights.clone();
            }
            // The weights are positive until drawn, and refilled above once all are drawn.
            let stage = WeightedIndex::new(&unused).map_or(0, |w| w.sample(rng));
            unused[stage] = 0.0;
            let at = stage_running[stage].mul_f64(from + span * rng.gen::<f64>());
            plan.push(Planned { stage, at, action });
        };
        for _ in 0..pg_restarts {
            // Away from the job's edges, so the restart hits it in flight.
            draw(&mut rng, Action::RestartPostgres, 0.2, 0.6);
        }
        for _ in 0..kills {
            draw(&mut rng, Action::Kill, 0.0, 0.9);
        }
        plan.sort_by_key(|p| (p.stage, p.at));
        Disruptor { plan, next: 0, rng, done: Disruptions::default() }
    }

    /// Fires every action due at `now`.
    pub(crate) async fn fire_due(&mut self, now: Moment, scene: &mut Scene<'_>) -> anyhow::Result<()> {
        let Moment { stage, since, stage_over, job } = now;
        while let Some(p) = self.plan.get(self.next).cloned() {
            let due = p.stage < stage || (p.stage == stage && (stage_over || since.is_some_and(|s| p.at <= s)));
            if !due {
                break;
            }
            self.next += 1;
            match p.action {
                Action::Kill => self.kill(stage, p.at, job, &scene.store, &mut scene.fleet).await?,
                Action::RestartPostgres => {
                    let Some(cluster) = scene.cluster else { continue };
                    let took = cluster.restart().await?;
                    self.done.pg_restarts += 1;
                    self.done.pg_downtime += took;
                    self.done.timeline.push(format!(
                        "stage {stage} +{:.2}s: PostgreSQL restarted (-m immediate), back after {:.2}s{}",
                        p.at.as_secs_f64(),
                        took.as_secs_f64(),
                        if since.is_some() && !stage_over { "" } else { " (as the job ended)" }
                    ));
                }
            }
        }
        Ok(())
    }

    async fn kill(
        &mut self,
        stage: usize,
        since: Duration,
        job: Option<JobId>,
        store: &SharedStore,
        fleet: &mut Fleet,
    ) -> anyhow::Result<()> {
        let holder = match job {
            Some(job) => lease_holder(store, job).await,
            None => None,
        };
        let holder_slot = holder.as_deref().and_then(|w| fleet.slot_of(w));
        let aim_at_holder = self.rng.gen_ratio(2, 3);
        let slot = match holder_slot {
            Some(s) if aim_at_holder => s,
            _ => self.rng.gen_range(0..fleet.len().max(1)),
        };
        let on_holder = holder_slot == Some(slot);
        let between = if job.is_none() { " (as the job ended)" } else { "" };
        let pid = fleet.kill_and_restart(slot)?;
        self.done.kills += 1;
        self.done.kills_on_lease_holders += usize::from(on_holder);
        self.done.timeline.push(format!(
            "stage {stage} +{:.2}s: SIGKILL worker slot {slot} (pid {pid}){}{between}",
            since.as_secs_f64(),
            if on_holder { ", the lease holder" } else { "" }
        ));
        Ok(())
    }
}

/// The worker holding `job`'s lease now, from its log: the last claim, unless a retry wait or
/// the end came after it. `None` also when the store cannot be read (PostgreSQL restarting).
async fn lease_holder(store: &SharedStore, job: JobId) -> Option<String> {
    let events = store.events(job, 0, 1_000_000).await.ok()?;
    let mut holder = None;
    for e in &events {
        match e.decode() {
            Ok(EventPayload::JobClaimed(c)) => holder = Some(c.worker),
            Ok(EventPayload::StepFailed(_)) => holder = None,
            Ok(p) if p.is_terminal() => holder = None,
            _ => {}
        }
    }
    holder
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_plan_is_the_seeds_spreads_over_every_stage_and_falls_inside_the_jobs() {
        let running = [Duration::from_secs(10), Duration::ZERO, Duration::from_secs(2)];
        let key = |d: &Disruptor| d.plan.iter().map(|p| (p.stage, p.at, p.action)).collect::<Vec<_>>();
        let a = Disruptor::plan(3, 5, 1, &running);
        assert_eq!(key(&a), key(&Disruptor::plan(3, 5, 1, &running)));
        assert_eq!(a.plan.len(), 6);
        assert_eq!(a.plan.iter().filter(|p| p.action == Action::RestartPostgres).count(), 1);
        assert!(a.plan.iter().all(|p| p.at <= running[p.stage]), "{:?}", a.plan);
        let three = Disruptor::plan(3, 2, 1, &running);
        let stages: BTreeSet<usize> = three.plan.iter().map(|p| p.stage).collect();
        assert_eq!(stages.len(), 3, "no stage draws twice before every stage drew once");
    }
}
