//! `dongbo mappings stats|map|unmap|delete|resolve|records|export`: the console's mappings from
//! the command line, a client of a running server's API.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// `dongbo mappings`.
#[derive(Debug, Args)]
pub struct MappingsArgs {
    /// The server's base URL.
    #[arg(long, env = "DONGBO_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Bearer token for the API.
    #[arg(long, env = "DONGBO_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: MappingsCommand,
}

#[derive(Debug, Subcommand)]
enum MappingsCommand {
    /// Mapped, unmapped, conflicting and failing, per kind.
    Stats,
    /// Maps a Nhanh record to a Shopify record by hand (or re-maps it).
    Map {
        /// `product` or `customer`.
        kind: String,
        /// The Nhanh id.
        nhanh_id: i64,
        /// The Shopify gid (`gid://shopify/ProductVariant/…` or `gid://shopify/Customer/…`).
        shopify_id: String,
        /// Take the Shopify record from the mapping that holds it.
        #[arg(long)]
        replace: bool,
        /// Who maps it (default `cli`).
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Leaves a mapping's Nhanh record unpaired (matching will not pair it again).
    Unmap {
        /// `product` or `customer`.
        kind: String,
        /// The mapping id.
        id: i64,
        /// Who unmaps it (default `cli`).
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Deletes a mapping: its records are free for the next match.
    Delete {
        /// `product` or `customer`.
        kind: String,
        /// The mapping id.
        id: i64,
    },
    /// Resolves a conflict by mapping the chosen pair.
    Resolve {
        /// `product` or `customer`.
        kind: String,
        /// The conflict's key.
        key: String,
        /// One of its Nhanh ids.
        nhanh_id: i64,
        /// One of its Shopify gids.
        shopify_id: String,
    },
    /// Lists records of one side with search and filters.
    Records {
        /// `nhanh` or `shopify`.
        side: String,
        /// `product` or `customer`.
        kind: String,
        /// Name, SKU, barcode, phone or email.
        #[arg(long)]
        search: Option<String>,
        /// Only mapped (`true`) or unmapped (`false`) records.
        #[arg(long)]
        mapped: Option<bool>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Writes a CSV export to stdout: `mappings` or `failures`.
    Export {
        /// `mappings` or `failures`.
        what: String,
    },
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn run(args: MappingsArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
    let base = args.server.trim_end_matches('/').to_owned();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut rb = http.request(method.clone(), format!("{base}{path}"));
        if method != reqwest::Method::GET {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.unwrap_or(json!({})).to_string());
        }
        if let Some(t) = &args.token {
            rb = rb.bearer_auth(t);
        }
        rb
    };
    let data = |rb: reqwest::RequestBuilder| async move {
        let reply = rb.send().await.context("reaching the server")?;
        let status = reply.status();
        let body: Value = reply.json().await.context("reading the reply")?;
        if body["success"] != Value::Bool(true) {
            bail!("{status}: {}", body["error"].as_str().unwrap_or("no message"));
        }
        Ok(body["data"].clone())
    };
    let show = |m: &Value| {
        println!(
            "{} mapping {}: Nhanh {} -> {} ({}, {}{})",
            m["kind"].as_str().unwrap_or("?"),
            m["id"],
            m["nhanhId"],
            m["shopifyId"].as_str().unwrap_or("nothing"),
            m["method"].as_str().unwrap_or("?"),
            m["state"].as_str().unwrap_or("?"),
            m["createdBy"].as_str().map(|b| format!(", by {b}")).unwrap_or_default()
        )
    };
    match args.command {
        MappingsCommand::Stats => {
            let stats = data(send(reqwest::Method::GET, "/api/mappings/stats", None)).await?;
            println!(
                "{:<9} {:>8} {:>8} {:>11} {:>8} {:>8} {:>8}",
                "kind", "mapped", "unmapped", "conflicting", "failing", "synced", "manual"
            );
            for kind in ["products", "customers"] {
                let s = &stats[kind];
                println!(
                    "{:<9} {:>8} {:>8} {:>11} {:>8} {:>8} {:>8}",
                    kind, s["mapped"], s["unmapped"], s["conflicting"], s["failing"], s["synced"], s["manual"]
                );
            }
        }
        MappingsCommand::Map { kind, nhanh_id, shopify_id, replace, by } => {
            let body =
                json!({"kind": kind, "nhanhId": nhanh_id, "shopifyId": shopify_id, "replace": replace, "by": by});
            show(&data(send(reqwest::Method::POST, "/api/mappings", Some(body))).await?);
        }
        MappingsCommand::Unmap { kind, id, by } => {
            let path = format!("/api/mappings/{}/{id}/unmap", encode(&kind));
            show(&data(send(reqwest::Method::POST, &path, Some(json!({"by": by})))).await?);
        }
        MappingsCommand::Delete { kind, id } => {
            let path = format!("/api/mappings/{}/{id}", encode(&kind));
            let gone = data(send(reqwest::Method::DELETE, &path, None)).await?;
            println!("deleted {} mapping {}", gone["kind"].as_str().unwrap_or("?"), gone["id"]);
        }
        MappingsCommand::Resolve { kind, key, nhanh_id, shopify_id } => {
            let body = json!({"kind": kind, "key": key, "nhanhId": nhanh_id, "shopifyId": shopify_id, "by": "cli"});
            show(&data(send(reqwest::Method::POST, "/api/conflicts/resolve", Some(body))).await?);
        }
        MappingsCommand::Records { side, kind, search, mapped, limit } => {
            let mut query = format!("side={}&kind={}&limit={limit}", encode(&side), encode(&kind));
            query.extend(search.map(|s| format!("&q={}", encode(&s))));
            query.extend(mapped.map(|m| format!("&mapped={m}")));
            let page = data(send(reqwest::Method::GET, &format!("/api/records?{query}"), None)).await?;
            for r in page["items"].as_array().into_iter().flatten() {
                println!(
                    "{:<40} {:<32} {:<16} {:<16} -> {}",
                    r["id"].as_str().unwrap_or("?"),
                    r["name"].as_str().unwrap_or(""),
                    r["sku"].as_str().or(r["phone"].as_str()).unwrap_or(""),
                    r["state"].as_str().unwrap_or("unmapped"),
                    r["mappedTo"].as_str().unwrap_or("-")
                );
            }
        }
        MappingsCommand::Export { what } => {
            let path = match what.as_str() {
                "mappings" => "/api/exports/mappings.csv",
                "failures" => "/api/exports/failures.csv",
                other => bail!("export mappings or failures, not {other:?}"),
            };
            let mut reply = send(reqwest::Method::GET, path, None).send().await.context("reaching the server")?;
            if !reply.status().is_success() {
                bail!("{}", reply.status());
            }
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = reply.chunk().await.context("reading the export")? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
        }
    }
    Ok(())
}
