//! `dongbo jobs list|show|events|watch|cancel|resume|rerun`: a client of a running server's API.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use dongbo_engine::{BackgroundJob, JobStatus};
use serde_json::Value;

use super::progress::JobProgress;

/// `dongbo jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The server's base URL.
    #[arg(long, env = "DONGBO_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Bearer token for the API.
    #[arg(long, env = "DONGBO_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Lists jobs, newest first.
    List {
        /// Only this job type.
        #[arg(long = "type")]
        job_type: Option<String>,
        /// Only this status (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED).
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Shows one job as JSON.
    Show {
        /// Job id.
        id: String,
    },
    /// Prints a job's audit trail.
    Events {
        /// Job id.
        id: String,
        /// How many events.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Follows a job's progress until it finishes (exit status 0 only if it completed).
    Watch {
        /// Job id.
        id: String,
    },
    /// Asks a job to stop at its next step boundary.
    Cancel {
        /// Job id.
        id: String,
    },
    /// Continues a FAILED or CANCELLED job from its last checkpoint under the same id.
    Resume {
        /// Job id.
        id: String,
        /// Why (kept in the job's audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Starts a new job with the same type and input as this one.
    Rerun {
        /// Job id.
        id: String,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let changes_state = method != reqwest::Method::GET;
        let mut rb = self.http.request(method, format!("{}{path}", self.base.trim_end_matches('/')));
        if changes_state {
            // The server refuses a state-changing request that is not sent as JSON (CSRF guard).
            rb = rb.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and unwraps the `{success, data}` envelope.
    async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(method, path), path).await
    }

    /// POSTs a JSON body and unwraps the envelope.
    async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(reqwest::Method::POST, path).json(body), path).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<Value> {
        let reply = request.send().await.with_context(|| format!("reaching {}", self.base))?;
        let status = reply.status();
        let body: Value = reply.json().await.with_context(|| format!("reading the reply to {path}"))?;
        if body["success"] != Value::Bool(true) {
            let error = body["error"].as_str().unwrap_or("no message");
            bail!("{status}: {error}");
        }
        Ok(body["data"].clone())
    }
}

pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
    let client = Client { http, base: args.server, token: args.token };
    match args.command {
        JobsCommand::List { job_type, status, limit } => {
            let mut query = vec![format!("limit={limit}")];
            query.extend(job_type.map(|t| format!("type={t}")));
            query.extend(status.map(|s| format!("status={s}")));
            let data = client.call(reqwest::Method::GET, &format!("/api/jobs?{}", query.join("&"))).await?;
            let jobs: Vec<BackgroundJob> = serde_json::from_value(data["items"].clone()).context("job list")?;
            println!("{:<36}  {:<24} {:<10} {:>9} {:>9} {:>7}", "id", "type", "status", "processed", "total", "failed");
            for j in jobs {
                let total = j.total.map_or_else(|| "-".into(), |t| t.to_string());
                println!(
                    "{:<36}  {:<24} {:<10} {:>9} {:>9} {:>7}",
                    j.id,
                    j.job_type,
                    j.status.as_str(),
                    j.processed,
                    total,
                    j.failed
                );
            }
        }
        JobsCommand::Show { id } => {
            let data = client.call(reqwest::Method::GET, &format!("/api/jobs/{id}")).await?;
            println!("{}", serde_json::to_string_pretty(&data)?);
        }
        JobsCommand::Events { id, limit } => {
            let data = client.call(reqwest::Method::GET, &format!("/api/jobs/{id}/events?limit={limit}")).await?;
            for e in data["items"].as_array().into_iter().flatten() {
                println!(
                    "{:>5}  {:<16} {}  {:<28} {}",
                    e["seq"],
                    e["type"].as_str().unwrap_or("?"),
                    e["recordedAt"].as_str().unwrap_or("?"),
                    e["actor"].as_str().unwrap_or("?"),
                    e["payload"]
                );
            }
        }
        JobsCommand::Watch { id } => watch(&client, &id).await?,
        JobsCommand::Resume { id, reason } => {
            let body = serde_json::json!({ "reason": reason });
            let data = client.post_json(&format!("/api/jobs/{id}/resume"), &body).await?;
            let job: BackgroundJob = serde_json::from_value(data).context("resume reply")?;
            println!("{id}: {}, resumed; it continues from its last checkpoint", job.status);
        }
        JobsCommand::Rerun { id } => {
            let data = client.post_json(&format!("/api/jobs/{id}/rerun"), &serde_json::json!({})).await?;
            let new_id = data["jobId"].as_str().unwrap_or("?");
            match data["existing"].as_str() {
                Some(why) => println!("{new_id}: not started, an unfinished job answers instead ({why})"),
                None => println!("{new_id}: rerun of {id}"),
            }
        }
        JobsCommand::Cancel { id } => {
            let data = client.call(reqwest::Method::POST, &format!("/api/jobs/{id}/cancel")).await?;
            let job: BackgroundJob = serde_json::from_value(data).context("cancel reply")?;
            match job.status {
                JobStatus::Cancelled => println!("{id}: CANCELLED"),
                other => println!("{id}: {other}, cancel requested; it stops at its next step boundary"),
            }
        }
    }
    Ok(())
}

/// Follows the job's server-sent events, drawing a progress bar.
async fn watch(client: &Client, id: &str) -> anyhow::Result<()> {
    let first = client.call(reqwest::Method::GET, &format!("/api/jobs/{id}")).await?;
    let mut job: BackgroundJob = serde_json::from_value(first).context("job")?;
    let mut bar = JobProgress::new(&job.job_type);
    bar.update(&job);
    if !job.status.is_finished() {
        let mut reply = client
            .request(reqwest::Method::GET, &format!("/api/jobs/{id}/stream"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .context("opening the progress stream")?;
        anyhow::ensure!(reply.status().is_success(), "progress stream: {}", reply.status());
        let mut buffer = String::new();
        'stream: while let Some(chunk) = reply.chunk().await.context("reading the progress stream")? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Ok(row) = serde_json::from_str::<BackgroundJob>(&data) {
                    job = row;
                    bar.update(&job);
                }
                if job.status.is_finished() || frame.lines().any(|l| l.trim() == "event: end") {
                    break 'stream;
                }
            }
        }
    }
    bar.finish();
    match job.status {
        JobStatus::Completed => {
            println!("{id}: COMPLETED ({} processed, {} failed)", job.processed, job.failed);
            Ok(())
        }
        other => bail!("{id}: {other}{}", job.error.map(|e| format!(": {e}")).unwrap_or_default()),
    }
}
