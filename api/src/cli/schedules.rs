//! `dongbo schedules list|add|set|pause|resume|run|rm`: a client of a running server's
//! `/api/schedules`.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// `dongbo schedules`.
#[derive(Debug, Args)]
pub struct SchedulesArgs {
    /// The server's base URL.
    #[arg(long, env = "DONGBO_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Bearer token for the API.
    #[arg(long, env = "DONGBO_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: SchedulesCommand,
}

#[derive(Debug, Subcommand)]
enum SchedulesCommand {
    /// Lists the schedules with their next firing.
    List,
    /// Shows one schedule and its latest firings as JSON.
    Show {
        /// The schedule's name.
        id: String,
    },
    /// Creates a schedule.
    Add {
        /// Its name (letters, digits, `-`, `_`).
        id: String,
        /// The cron expression, e.g. "*/15 * * * *" (5 fields, or 6 with seconds first).
        #[arg(long)]
        cron: String,
        /// The IANA time zone (default Asia/Ho_Chi_Minh).
        #[arg(long = "tz")]
        time_zone: Option<String>,
        /// The job type each firing requests (e.g. PIPELINE, RECONCILE, PRODUCT_SYNC).
        #[arg(long = "job")]
        job_type: String,
        /// The job's input, JSON (default {}).
        #[arg(long)]
        input: Option<String>,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Changes a schedule's timing or job.
    Set {
        /// The schedule's name.
        id: String,
        /// A new cron expression.
        #[arg(long)]
        cron: Option<String>,
        /// A new IANA time zone.
        #[arg(long = "tz")]
        time_zone: Option<String>,
        /// A new job type.
        #[arg(long = "job")]
        job_type: Option<String>,
        /// A new input, JSON.
        #[arg(long)]
        input: Option<String>,
    },
    /// Pauses a schedule.
    Pause {
        /// The schedule's name.
        id: String,
    },
    /// Resumes a schedule from its next slot.
    Resume {
        /// The schedule's name.
        id: String,
    },
    /// Fires a schedule now (its slots are unaffected).
    Run {
        /// The schedule's name.
        id: String,
    },
    /// Deletes a schedule (the jobs it requested stay).
    Rm {
        /// The schedule's name.
        id: String,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut rb = self.http.request(method.clone(), format!("{}{path}", self.base.trim_end_matches('/')));
        if method != reqwest::Method::GET {
            // The server refuses a state-changing request that is not sent as JSON (CSRF guard).
            rb = rb.header(reqwest::header::CONTENT_TYPE, "application/json");
            rb = rb.body(body.unwrap_or_else(|| json!({})).to_string());
        }
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let reply = rb.send().await.with_context(|| format!("reaching {}", self.base))?;
        let status = reply.status();
        let body: Value = reply.json().await.with_context(|| format!("reading the reply to {path}"))?;
        if body["success"] != Value::Bool(true) {
            bail!("{status}: {}", body["error"].as_str().unwrap_or("no message"));
        }
        Ok(body["data"].clone())
    }
}

fn parse_input(raw: Option<String>) -> anyhow::Result<Option<Value>> {
    raw.map(|s| serde_json::from_str(&s).context("--input is not JSON")).transpose()
}

fn print_one(s: &Value) {
    let state = if s["paused"] == Value::Bool(true) { "paused" } else { "active" };
    println!(
        "{:<20} {:<16} {:<20} {:<7} {:<12} next {}",
        s["id"].as_str().unwrap_or("?"),
        s["cron"].as_str().unwrap_or("?"),
        s["timeZone"].as_str().unwrap_or("?"),
        state,
        s["jobType"].as_str().unwrap_or("?"),
        s["nextRunAt"].as_str().unwrap_or("-"),
    );
}

pub async fn run(args: SchedulesArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
    let client = Client { http, base: args.server, token: args.token };
    use reqwest::Method;
    match args.command {
        SchedulesCommand::List => {
            let data = client.call(Method::GET, "/api/schedules", None).await?;
            println!("{:<20} {:<16} {:<20} {:<7} {:<12} next", "id", "cron", "zone", "state", "job");
            for s in data.as_array().into_iter().flatten() {
                print_one(s);
            }
        }
        SchedulesCommand::Show { id } => {
            let data = client.call(Method::GET, &format!("/api/schedules/{id}"), None).await?;
            println!("{}", serde_json::to_string_pretty(&data)?);
        }
        SchedulesCommand::Add { id, cron, time_zone, job_type, input, paused } => {
            let body = json!({
                "id": id, "cron": cron, "timeZone": time_zone, "jobType": job_type,
                "input": parse_input(input)?, "paused": paused,
            });
            print_one(&client.call(Method::POST, "/api/schedules", Some(body)).await?);
        }
        SchedulesCommand::Set { id, cron, time_zone, job_type, input } => {
            let body =
                json!({ "cron": cron, "timeZone": time_zone, "jobType": job_type, "input": parse_input(input)? });
            print_one(&client.call(Method::PATCH, &format!("/api/schedules/{id}"), Some(body)).await?);
        }
        SchedulesCommand::Pause { id } => {
            print_one(&client.call(Method::POST, &format!("/api/schedules/{id}/pause"), None).await?);
        }
        SchedulesCommand::Resume { id } => {
            print_one(&client.call(Method::POST, &format!("/api/schedules/{id}/resume"), None).await?);
        }
        SchedulesCommand::Run { id } => {
            let data = client.call(Method::POST, &format!("/api/schedules/{id}/run"), None).await?;
            let job = data["jobId"].as_str().unwrap_or("?");
            match data["existing"].as_str() {
                Some(why) => println!("{job}: not started, an unfinished job answers instead ({why})"),
                None => println!("{job}: requested (follow it with `dongbo jobs watch {job}`)"),
            }
        }
        SchedulesCommand::Rm { id } => {
            client.call(Method::DELETE, &format!("/api/schedules/{id}"), None).await?;
            println!("{id}: deleted");
        }
    }
    Ok(())
}
