//! The scheduler: what a tick fires, "run now", and the loop every serving or working process
//! runs. Time is passed in (`now`), so tests tick at any instant and never wait for a slot.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use dongbo_engine::{Engine, EngineError, JobId, JobRequest, Priority, Requested};
use serde_json::Value;
use tokio::sync::watch;

use super::spec::{ScheduleSpec, DEFAULT_TIME_ZONE};
use crate::catalog::store::schedules::{self as store, FiringRow, ScheduleChange, ScheduleRow, MANUAL, SLOT};

/// The longest a scheduler sleeps between two looks at the schedules (a schedule created or
/// changed by another process is seen within this).
const MAX_NAP: Duration = Duration::from_secs(30);

/// A schedule's name: 1–64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScheduleId(String);

impl ScheduleId {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<ScheduleId, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(ScheduleId(raw.to_owned()))
        } else {
            let shown: String = raw.chars().take(64).collect();
            Err(format!("schedule name `{shown}` must be 1–64 ASCII letters, digits, `-` or `_`"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a schedule operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Bad cron, zone, name, job type or input.
    #[error("{0}")]
    Invalid(String),
    /// No such schedule.
    #[error("no schedule named `{0}`")]
    NotFound(String),
    /// A schedule of that name exists.
    #[error("a schedule named `{0}` exists")]
    Exists(String),
    /// The database failed.
    #[error("schedules store: {0}")]
    Store(#[from] sqlx::Error),
    /// The engine refused or failed the job request.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A schedule to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    /// Its name.
    pub id: String,
    /// The cron expression.
    pub cron: String,
    /// The zone (default [`DEFAULT_TIME_ZONE`]).
    pub time_zone: Option<String>,
    /// The job type to request.
    pub job_type: String,
    /// Its input.
    pub input: Value,
    /// Whether it starts paused.
    pub paused: bool,
}

/// Changes to a schedule; absent fields stay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulePatch {
    /// A new cron expression.
    pub cron: Option<String>,
    /// A new zone.
    pub time_zone: Option<String>,
    /// A new job type.
    pub job_type: Option<String>,
    /// A new input.
    pub input: Option<Value>,
}

/// A slot (or "run now") that requested a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// The schedule.
    pub schedule_id: String,
    /// The slot (or when "run now" was asked).
    pub at: DateTime<Utc>,
    /// The job.
    pub job_id: JobId,
    /// Whether the engine answered with a job that already existed (the same slot's, or the
    /// same pipeline still running).
    pub existing: bool,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The idempotency key of a schedule's slot: every process that fires it asks for the same job.
pub fn slot_key(schedule_id: &str, slot: DateTime<Utc>) -> String {
    format!("schedule:{schedule_id}:{}", slot.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// When a schedule fires next (`None` when paused, or when its stored timing no longer parses).
pub fn next_firing(row: &ScheduleRow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if row.paused {
        return None;
    }
    let spec = ScheduleSpec::parse(&row.cron, &row.time_zone).ok()?;
    spec.next_after(now.max(from_ms(row.after_ms)))
}

/// Schedules over an engine: CRUD with validation, ticks, "run now".
#[derive(Clone)]
pub struct Scheduler {
    engine: Engine,
    fired_by: String,
}

impl Scheduler {
    /// A scheduler that requests jobs from `engine` and signs its firings `fired_by` (the
    /// process's name in the audit trail).
    pub fn new(engine: Engine, fired_by: impl Into<String>) -> Self {
        Scheduler { engine, fired_by: fired_by.into() }
    }

    fn db(&self) -> dongbo_engine::Db {
        self.engine.store().db()
    }

    /// Checks timing, job type and input as a firing would use them; the normalised input.
    fn check(
        &self,
        cron: &str,
        zone: &str,
        job_type: &str,
        input: Value,
    ) -> Result<(ScheduleSpec, Value), ScheduleError> {
        let spec = ScheduleSpec::parse(cron, zone).map_err(ScheduleError::Invalid)?;
        let workflow = self.engine.registry().get(job_type).ok_or_else(|| {
            let shown: String = job_type.chars().take(64).collect();
            ScheduleError::Invalid(format!(
                "unknown job type `{shown}` (known: {})",
                self.engine.registry().job_types().join(", ")
            ))
        })?;
        let (input, _) = workflow.prepare(input).map_err(ScheduleError::Invalid)?;
        Ok((spec, input))
    }

    /// Every schedule.
    pub async fn list(&self) -> Result<Vec<ScheduleRow>, ScheduleError> {
        Ok(store::list_schedules(&self.db()).await?)
    }

    /// One schedule.
    pub async fn get(&self, id: &str) -> Result<ScheduleRow, ScheduleError> {
        store::get_schedule(&self.db(), id).await?.ok_or_else(|| ScheduleError::NotFound(id.to_owned()))
    }

    /// A schedule's firings, newest first.
    pub async fn firings(&self, id: &str, limit: i64) -> Result<Vec<FiringRow>, ScheduleError> {
        Ok(store::firings(&self.db(), id, limit).await?)
    }

    /// Creates a schedule; its first slot is the first after `now`.
    pub async fn create(&self, new: NewSchedule, now: DateTime<Utc>) -> Result<ScheduleRow, ScheduleError> {
        let id = ScheduleId::parse(&new.id).map_err(ScheduleError::Invalid)?;
        let zone = new.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE);
        let (spec, input) = self.check(&new.cron, zone, &new.job_type, new.input)?;
        let row = ScheduleRow {
            id: id.as_str().to_owned(),
            cron: spec.expression().to_owned(),
            time_zone: spec.zone().to_owned(),
            job_type: new.job_type,
            input,
            paused: new.paused,
            after_ms: ms(now),
            created_at: ms(now),
            updated_at: ms(now),
        };
        if !store::insert_schedule(&self.db(), &row).await? {
            return Err(ScheduleError::Exists(row.id));
        }
        Ok(row)
    }

    /// Changes a schedule's timing or job; slots before `now` do not fire for the new timing.
    pub async fn change(
        &self,
        id: &str,
        patch: SchedulePatch,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRow, ScheduleError> {
        let old = self.get(id).await?;
        let cron = patch.cron.unwrap_or(old.cron);
        let zone = patch.time_zone.unwrap_or(old.time_zone);
        let job_type = patch.job_type.unwrap_or(old.job_type);
        let (spec, input) = self.check(&cron, &zone, &job_type, patch.input.unwrap_or(old.input))?;
        let change =
            ScheduleChange { cron: spec.expression().to_owned(), time_zone: spec.zone().to_owned(), job_type, input };
        store::update_schedule(&self.db(), id, &change, ms(now))
            .await?
            .ok_or_else(|| ScheduleError::NotFound(id.to_owned()))
    }

    /// Pauses (`true`) or resumes a schedule. Slots that pass while it is paused never fire.
    pub async fn set_paused(&self, id: &str, paused: bool, now: DateTime<Utc>) -> Result<ScheduleRow, ScheduleError> {
        store::set_paused(&self.db(), id, paused, ms(now)).await?.ok_or_else(|| ScheduleError::NotFound(id.to_owned()))
    }

    /// Deletes a schedule and its firing records (the jobs stay).
    pub async fn delete(&self, id: &str) -> Result<ScheduleRow, ScheduleError> {
        let row = self.get(id).await?;
        if !store::delete_schedule(&self.db(), id).await? {
            return Err(ScheduleError::NotFound(id.to_owned()));
        }
        Ok(row)
    }

    async fn request(&self, row: &ScheduleRow, key: String, priority: Priority) -> Result<Requested, EngineError> {
        let mut req = JobRequest::new(row.job_type.clone(), row.input.clone());
        req.idempotency_key = Some(key);
        req.requested_by = format!("schedule:{}", row.id);
        req.priority = priority;
        self.engine.request(req).await
    }

    /// Fires a schedule now, paused or not, outside its slots (`by` names who asked). Its slots
    /// are unaffected.
    pub async fn run_now(&self, id: &str, by: &str, now: DateTime<Utc>) -> Result<(Fired, Requested), ScheduleError> {
        let row = self.get(id).await?;
        let key = format!("schedule:{id}:run:{}", uuid::Uuid::new_v4());
        // An operator asked: manual priority, like a trigger.
        let requested = self.request(&row, key, Priority::Manual).await?;
        let firing = FiringRow {
            schedule_id: row.id.clone(),
            kind: MANUAL.into(),
            at_ms: ms(now),
            fired_by: by.to_owned(),
            fired_at_ms: ms(now),
            job_id: Some(requested.job.id.to_string()),
        };
        store::file_firing(&self.db(), &firing).await?;
        let fired =
            Fired { schedule_id: row.id, at: now, job_id: requested.job.id, existing: requested.existing.is_some() };
        Ok((fired, requested))
    }

    /// Fires every due slot as of `now`: first the slots won earlier whose job was never
    /// recorded, then, per unpaused schedule, the latest slot after its guard, if this process
    /// wins it. Returns what this call fired.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Fired>, ScheduleError> {
        let db = self.db();
        let mut fired = Vec::new();
        for open in store::open_firings(&db).await? {
            if open.kind != SLOT {
                continue;
            }
            let Some(row) = store::get_schedule(&db, &open.schedule_id).await? else { continue };
            fired.push(self.fire(&row, from_ms(open.at_ms)).await?);
        }
        for row in store::list_schedules(&db).await? {
            if row.paused {
                continue;
            }
            let spec = match ScheduleSpec::parse(&row.cron, &row.time_zone) {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::warn!(schedule = %row.id, error = %e, "stored schedule does not parse; skipped");
                    continue;
                }
            };
            let Some(slot) = spec.due(from_ms(row.after_ms), now) else { continue };
            if store::claim_slot(&db, &row.id, ms(slot), &self.fired_by, ms(now)).await? {
                fired.push(self.fire(&row, slot).await?);
            }
        }
        Ok(fired)
    }

    /// Requests the job of a won slot and records it on the firing.
    async fn fire(&self, row: &ScheduleRow, slot: DateTime<Utc>) -> Result<Fired, ScheduleError> {
        // A slot is background work: it yields to webhooks and to what operators ask for.
        let requested = self.request(row, slot_key(&row.id, slot), Priority::Scheduled).await?;
        let job_id = requested.job.id;
        store::set_firing_job(&self.db(), &row.id, SLOT, ms(slot), &job_id.to_string()).await?;
        tracing::info!(schedule = %row.id, %slot, job = %job_id, "schedule fired");
        Ok(Fired { schedule_id: row.id.clone(), at: slot, job_id, existing: requested.existing.is_some() })
    }

    /// How long until the earliest next slot of an unpaused schedule, capped at 30 s.
    async fn nap(&self, now: DateTime<Utc>) -> Duration {
        let rows = store::list_schedules(&self.db()).await.unwrap_or_default();
        rows.iter()
            .filter_map(|r| next_firing(r, now))
            .filter_map(|t| (t - now).to_std().ok())
            .min()
            .unwrap_or(MAX_NAP)
            .clamp(Duration::from_millis(50), MAX_NAP)
    }

    /// Ticks on the engine's clock until `stop` turns true: at once (so a slot missed while
    /// everything was down fires at start), then at each next slot, looking again at least every
    /// 30 s.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut first = true;
        while !*stop.borrow() {
            let now = self.engine.clock().now();
            match self.tick(now).await {
                Ok(fired) if first => {
                    tracing::info!(by = %self.fired_by, fired = fired.len(), "first schedule tick done");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "schedule tick failed"),
            }
            first = false;
            let nap = self.nap(self.engine.clock().now()).await;
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
