//! Welcome latency, end to end, against the release binary: how long after
//! Hotmart's postback is accepted the buyer's WhatsApp welcome reaches Meta.
//!
//! `cargo bench --bench welcome` serves `jornada` (API + worker) on a free
//! loopback port against a fresh PostgreSQL database and then a fresh
//! SQLite file, with a published campaign `trigger (purchase_approved) →
//! WhatsApp template → exit` and a fake WhatsApp Cloud API on loopback. It
//! then sends PURCHASE_APPROVED postbacks of distinct buyers at a steady
//! rate and, for each buyer, takes the time from the postback's 200 to the
//! fake's receipt of the send to that buyer's phone. It prints p50, p99 and
//! the slowest, beside the same run's p50/p99 of the 200 itself, and checks
//! that every buyer got exactly one welcome.
//!
//! Environment:
//! - `JORNADA_BENCH_RATE` (500): postbacks per second.
//! - `JORNADA_BENCH_SECONDS` (20): how long the postbacks keep coming.
//! - `JORNADA_BENCH_POSTGRES_URL` (postgres://postgres@127.0.0.1:5432/postgres):
//!   where a scratch database is created and dropped.
//! - `JORNADA_BENCH_BACKENDS` (postgres,sqlite): which backends to run.

mod support;

#[path = "../tests/api/fakes/meta.rs"]
mod meta;

#[path = "../tests/api/journeys.rs"]
#[allow(dead_code)] // branches: this journey has none
mod journeys;

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use journeys::{edge, node};
use serde_json::{Value, json};
use support::postbacks;
use support::{
    Backend, Server, env_backends, env_number, env_postgres_url, fresh_database, graphql,
    invoked_as_bench, jornada_binary, on_each_backend, whatsapp_workspace,
};

const TEMPLATE: &str = "boas_vindas_bench";
const HOTTOK: &str = "bench-hottok-welcome-8c1d";
const SLUG: &str = "welcome";
/// How long the sends may trail the last postback before the run is called stuck.
const DRAIN_PATIENCE: Duration = Duration::from_secs(120);

struct Settings {
    rate: u64,
    seconds: u64,
    postgres_url: String,
    backends: Vec<Backend>,
}

fn main() -> anyhow::Result<()> {
    if !invoked_as_bench() {
        println!("welcome: skipped (run it with `cargo bench --bench welcome`)");
        return Ok(());
    }
    let settings = Settings {
        rate: env_number("JORNADA_BENCH_RATE", 500)?,
        seconds: env_number("JORNADA_BENCH_SECONDS", 20)?,
        postgres_url: env_postgres_url(),
        backends: env_backends()?,
    };
    let binary = jornada_binary()?;
    on_each_backend("welcome", &settings.backends, |backend| {
        bench_backend(&settings, &binary, backend)
    })
}

fn journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "event", "event": "purchase_approved"})),
            node("welcome", "sendMessage", json!({"channel": "whatsapp", "templateName": TEMPLATE, "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}})),
            node("done", "exit", json!({}))
        ],
        "edges": [edge("start", "welcome"), edge("welcome", "done")]
    })
}

fn approved_template() -> Value {
    json!({
        "id": "1001",
        "name": TEMPLATE,
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Olá {{1}}, boas-vindas!"}]
    })
}

async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let (database_url, _store) = fresh_database(&settings.postgres_url, backend).await?;
    let fake = meta::FakeMeta::spawn().await;
    fake.seed_templates([approved_template()]);
    let client = reqwest::Client::new();
    let mut server = Server::spawn(binary, &database_url)?;
    server.wait_ready(&client).await?;
    let token = server.service_token(binary, &database_url)?;
    let workspace = whatsapp_workspace(
        &client,
        &server,
        &token,
        SLUG,
        fake.settings(),
        &[("hotmart.hottok", HOTTOK)],
    )
    .await?;
    let campaign = graphql(
        &client,
        &server,
        &token,
        "mutation($ws: ID!, $doc: JSON!) { createCampaign(workspaceId: $ws, input: {name: \"Boas-vindas\", workflowData: $doc}) { id } }",
        json!({"ws": workspace, "doc": journey()}),
    )
    .await?["createCampaign"]["id"]
        .clone();
    graphql(
        &client,
        &server,
        &token,
        "mutation($ws: ID!, $id: ID!) { publishCampaign(workspaceId: $ws, id: $id) { status } }",
        json!({"ws": workspace, "id": campaign}),
    )
    .await?;

    let url = server.url(&format!("/webhooks/hotmart/{SLUG}"));
    let (accepted, welcomes) = postbacks::welcome_buyers(
        &client,
        &url,
        HOTTOK,
        settings.rate,
        settings.seconds,
        DRAIN_PATIENCE,
        || fake.message_requests().len(),
        || fake.message_recipients(),
    )
    .await?;
    println!(
        "welcome {:<8} {}",
        backend.name(),
        welcomes.summary(&accepted)
    );
    if !welcomes.clean() {
        bail!("the run was not clean");
    }
    Ok(())
}
