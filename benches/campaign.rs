//! Campaign fan-out, end to end, against the release binary.
//!
//! `cargo bench --bench campaign` builds `jornada`, serves it (API + worker)
//! on a free loopback port against a fresh PostgreSQL database and then a
//! fresh SQLite file, seeds the customers, and runs one campaign through
//! GraphQL: trigger → condition (`customer.tags contains "aluna"`) → a
//! WhatsApp template `sendMessage` → exit, against a fake WhatsApp Cloud API
//! on loopback (the workspace's WhatsApp rate limit lifted). For each
//! backend it prints one line: recipients/s from `runCampaign` until the
//! execution is COMPLETED, the total time, the server's peak RSS, and the
//! checks that every recipient got exactly one message.
//!
//! Environment:
//! - `JORNADA_BENCH_RECIPIENTS` (100000): customers in the target group.
//! - `JORNADA_BENCH_POSTGRES_URL` (postgres://postgres@127.0.0.1:5432/postgres):
//!   where a scratch database is created and dropped.
//! - `JORNADA_BENCH_BACKENDS` (postgres,sqlite): which backends to run.
//! - `JORNADA_BENCH_TIMEOUT_SECONDS` (1800): how long to wait for completion.
//! - `JORNADA_MAX_CONNECTIONS`: passed to the server (its pool size).

mod support;

#[path = "../tests/api/fakes/meta.rs"]
mod meta;

#[path = "../tests/api/journeys.rs"]
mod journeys;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use entity::entities::customer;
use rust_decimal::Decimal;
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

use journeys::{branch, edge, node};
use support::{
    Backend, Server, env_backends, env_number, env_postgres_url, fresh_database, graphql,
    insert_chunked, invoked_as_bench, jornada_binary, on_each_backend, seeding_connection,
    whatsapp_workspace,
};

const TEMPLATE: &str = "boas_vindas_bench";

struct Settings {
    recipients: u64,
    postgres_url: String,
    backends: Vec<Backend>,
    timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    if !invoked_as_bench() {
        println!("campaign: skipped (run it with `cargo bench --bench campaign`)");
        return Ok(());
    }
    let settings = Settings {
        recipients: env_number("JORNADA_BENCH_RECIPIENTS", 100_000)?,
        postgres_url: env_postgres_url(),
        backends: env_backends()?,
        timeout: Duration::from_secs(env_number("JORNADA_BENCH_TIMEOUT_SECONDS", 1800)?),
    };
    let binary = jornada_binary()?;
    on_each_backend("campaign", &settings.backends, |backend| {
        bench_backend(&settings, &binary, backend)
    })
}

fn journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("aluna", "condition", json!({"combinator": "and", "rules": [{"field": "customer.tags", "op": "contains", "value": "aluna"}]})),
            node("welcome", "sendMessage", json!({"channel": "whatsapp", "templateName": TEMPLATE, "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}})),
            node("done", "exit", json!({})),
            node("skipped", "exit", json!({}))
        ],
        "edges": [
            edge("start", "aluna"),
            branch("aluna", "true", "welcome"),
            branch("aluna", "false", "skipped"),
            edge("welcome", "done")
        ]
    })
}

/// An approved template with one body variable, as Meta lists it.
fn approved_template() -> Value {
    json!({
        "id": "998877665544",
        "name": TEMPLATE,
        "status": "APPROVED",
        "category": "UTILITY",
        "language": "pt_BR",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Olá {{1}}, seu acesso ao curso está liberado.",
             "example": {"body_text": [["Maria"]]}}
        ]
    })
}

fn phone_of(i: u64) -> String {
    format!("+55119{i:08}")
}

/// Inserts `count` customers straight into the database (seed data, not
/// the code under measurement).
async fn seed_customers(database_url: &str, workspace: Uuid, count: u64) -> anyhow::Result<()> {
    let db = seeding_connection(database_url).await?;
    let now = Utc::now();
    let rows = (0..count).map(|i| customer::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace),
        hotmart_ucode: Set(None),
        chatwoot_contact_id: Set(None),
        chatwoot_conversation_id: Set(None),
        email: Set(format!("aluna{i}@bench.example.com")),
        name: Set(Some(format!("Aluna{i} Silva"))),
        phone: Set(Some(phone_of(i))),
        document: Set(None),
        document_type: Set(None),
        tags: Set(json!(["aluna"])),
        segment: Set(Some("active".to_owned())),
        churn_risk: Set(None),
        churn_risk_score: Set(None),
        churn_risk_reasons: Set(None),
        ltv_total: Set(Decimal::ZERO),
        first_activity_at: Set(Some(now)),
        last_activity_at: Set(Some(now)),
        consent: Set(json!({})),
        metadata: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    });
    insert_chunked(&db, rows).await?;
    db.close().await.ok();
    Ok(())
}

/// The server's peak resident set (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn metric(metrics: &Value, key: &str) -> u64 {
    metrics[key].as_u64().unwrap_or(0)
}

async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let (database_url, _store) = fresh_database(&settings.postgres_url, backend).await?;
    let fake = meta::FakeMeta::spawn().await;
    fake.seed_templates([approved_template()]);
    let client = reqwest::Client::new();
    let mut server = Server::spawn(binary, &database_url)?;
    server.wait_ready(&client).await?;
    let token = server.service_token(binary, &database_url)?;
    let call = |query: &'static str, variables: Value| {
        let (client, server, token) = (&client, &server, &token);
        async move { graphql(client, server, token, query, variables).await }
    };

    let workspace =
        whatsapp_workspace(&client, &server, &token, "bench", fake.settings(), &[]).await?;

    let seeding = Instant::now();
    let workspace_id: Uuid = workspace.parse()?;
    seed_customers(&database_url, workspace_id, settings.recipients).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let campaign = call(
        "mutation($ws: ID!, $doc: JSON!) { createCampaign(workspaceId: $ws, input: {name: \"Boas-vindas\", workflowData: $doc}) { id } }",
        json!({"ws": workspace, "doc": journey()}),
    )
    .await?["createCampaign"]["id"]
        .as_str()
        .context("createCampaign returned no id")?
        .to_owned();
    call(
        "mutation($ws: ID!, $id: ID!) { publishCampaign(workspaceId: $ws, id: $id) { status } }",
        json!({"ws": workspace, "id": campaign}),
    )
    .await?;
    let group = call(
        "mutation($ws: ID!) { createTargetGroupMapping(workspaceId: $ws, input: {crmName: \"Todas\", source: \"customers\"}) { id } }",
        json!({"ws": workspace}),
    )
    .await?["createTargetGroupMapping"]["id"]
        .as_str()
        .context("createTargetGroupMapping returned no id")?
        .to_owned();

    let started = Instant::now();
    let execution = call(
        "mutation($ws: ID!, $id: ID!, $g: ID!) { runCampaign(workspaceId: $ws, id: $id, targetGroupId: $g) { id } }",
        json!({"ws": workspace, "id": campaign, "g": group}),
    )
    .await?["runCampaign"]["id"]
        .as_str()
        .context("runCampaign returned no id")?
        .to_owned();
    let enrolled_seconds = started.elapsed().as_secs_f64();
    let finished = loop {
        let current = call(
            "query($ws: ID!, $id: ID!) { campaignExecution(workspaceId: $ws, id: $id) { status metrics } }",
            json!({"ws": workspace, "id": execution}),
        )
        .await?["campaignExecution"]
            .clone();
        if current["status"] != "RUNNING" {
            break current;
        }
        if started.elapsed() > settings.timeout {
            bail!(
                "not completed after {} s: {}",
                settings.timeout.as_secs(),
                current["metrics"]
            );
        }
        // `metrics` is counted live on each read: poll gently.
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let total = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib(server.child.id());
    let metrics = &finished["metrics"];

    // What the fake saw: one message per phone, none twice.
    let requests = fake.message_requests();
    let phones: HashSet<String> = requests
        .iter()
        .filter_map(|r| r.body.as_ref()?.get("to")?.as_str().map(str::to_owned))
        .collect();
    let twice = requests.len() - phones.len();
    let (entered, sent, failed, unknown) = (
        metric(metrics, "entered"),
        metric(metrics, "sent"),
        metric(metrics, "failed"),
        metric(metrics, "unknown"),
    );
    println!(
        "campaign {:<8} {:>6.0} recipients/s ({} recipients in {total:.2} s; runCampaign {enrolled_seconds:.2} s), status {}, entered {entered}, sent {sent}, failed {failed}, unknown {unknown}; fake WhatsApp: {} requests, {} phones, {twice} repeated; peak RSS {}; seeding {seed_seconds:.1} s",
        backend.name(),
        settings.recipients as f64 / total,
        settings.recipients,
        finished["status"],
        requests.len(),
        phones.len(),
        peak.map_or("unknown".to_owned(), |m| format!("{m:.1} MiB")),
    );
    if finished["status"] != "COMPLETED" || twice > 0 || sent != settings.recipients {
        bail!("the run was not clean: {metrics}");
    }
    Ok(())
}
