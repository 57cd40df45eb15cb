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

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use journeys::{edge, node};
use serde_json::{Value, json};
use support::{
    Backend, Server, env_backends, env_number, env_postgres_url, fresh_database, graphql,
    invoked_as_bench, jornada_binary, on_each_backend, percentile, whatsapp_workspace,
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

/// Buyer `i`'s phone as Hotmart sends it (area code and number) and as
/// WhatsApp's `to` carries it.
fn phones(i: u64) -> (String, String) {
    let local = format!("119{i:08}");
    let to = format!("55{local}");
    (local, to)
}

fn postback(run: &str, i: u64) -> Value {
    let (local, _) = phones(i);
    json!({
        "id": format!("{run}-{i}"),
        "creation_date": 1_767_225_600_000_i64,
        "event": "PURCHASE_APPROVED",
        "version": "2.0.0",
        "data": {
            "product": {"id": 3526906, "ucode": "f4b1c1b2-0000-4e2d-9f0a-1a2b3c4d5e6f", "name": "Curso de Confeitaria", "warranty_date": "2026-02-10T00:00:00Z"},
            "buyer": {"email": format!("compradora{i}@bench.example.com"), "name": "Maria Silva", "checkout_phone_code": "55", "checkout_phone": local},
            "purchase": {
                "transaction": format!("HPW{i:012}"), "status": "APPROVED", "order_date": 1_767_225_540_000_i64, "approved_date": 1_767_225_600_000_i64,
                "price": {"value": 497.0, "currency_value": "BRL"},
                "payment": {"type": "CREDIT_CARD", "installments_number": 12},
                "offer": {"code": "n82b9jqz"}, "recurrence_number": 1
            },
            "producer": {"name": "Ana"}
        }
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

    // A steady rate: postback i leaves at start + i / rate, each on its own
    // task (the client's pool keeps the connections alive).
    let run = uuid::Uuid::new_v4().simple().to_string();
    let total = settings.rate * settings.seconds;
    let url = server.url(&format!("/webhooks/hotmart/{SLUG}"));
    let accepted: Arc<std::sync::Mutex<HashMap<String, (Instant, Duration)>>> = Arc::default();
    let mut posts = tokio::task::JoinSet::new();
    let start = Instant::now() + Duration::from_millis(100);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / settings.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, accepted) = (client.clone(), url.clone(), accepted.clone());
        let body = postback(&run, i);
        posts.spawn(async move {
            let sent = Instant::now();
            let answer = client
                .post(url)
                .header("x-hotmart-hottok", HOTTOK)
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(response) if response.status().is_success() => {
                    let at = Instant::now();
                    accepted
                        .lock()
                        .expect("accepted")
                        .insert(phones(i).1, (at, at - sent));
                    true
                }
                _ => false,
            }
        });
    }
    let mut refused = 0u64;
    while let Some(done) = posts.join_next().await {
        if !done.unwrap_or(false) {
            refused += 1;
        }
    }
    let sending_seconds = start.elapsed().as_secs_f64();
    let accepted = Arc::try_unwrap(accepted)
        .map_err(|_| anyhow::anyhow!("posts still running"))?
        .into_inner()
        .expect("accepted");

    // Wait until every accepted buyer has been welcomed (or nothing moves).
    let mut last = (0, Instant::now());
    loop {
        let count = fake.message_requests().len();
        if count >= accepted.len() {
            break;
        }
        if count != last.0 {
            last = (count, Instant::now());
        } else if last.1.elapsed() > DRAIN_PATIENCE {
            bail!(
                "{count} of {} welcomes sent, none for {} s",
                accepted.len(),
                DRAIN_PATIENCE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut welcome: Vec<u32> = Vec::with_capacity(accepted.len());
    let mut per_phone: HashMap<String, u32> = HashMap::new();
    for request in fake.message_requests() {
        let to = request
            .body
            .as_ref()
            .and_then(|b| b["to"].as_str())
            .context("a send without a recipient")?
            .to_owned();
        *per_phone.entry(to.clone()).or_default() += 1;
        if let Some((at, _)) = accepted.get(&to) {
            let micros = request
                .received_at
                .saturating_duration_since(*at)
                .as_micros();
            welcome.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
    let mut accept: Vec<u32> = accepted
        .values()
        .map(|(_, took)| u32::try_from(took.as_micros()).unwrap_or(u32::MAX))
        .collect();
    welcome.sort_unstable();
    accept.sort_unstable();
    let twice = per_phone.values().filter(|n| **n > 1).count();
    let unwelcomed = accepted
        .keys()
        .filter(|p| !per_phone.contains_key(*p))
        .count();
    let slowest = welcome.last().copied().unwrap_or(0);
    println!(
        "welcome {:<8} {} postbacks at {}/s ({:.1} s): postback 200 → WhatsApp send p50 {:.0} ms, p99 {:.0} ms, slowest {:.0} ms; \
         beside the 200 itself p50 {:.1} ms, p99 {:.1} ms; {} refused, {} buyers welcomed twice, {} not welcomed",
        backend.name(),
        accepted.len(),
        settings.rate,
        sending_seconds,
        percentile(&welcome, 50.0),
        percentile(&welcome, 99.0),
        f64::from(slowest) / 1000.0,
        percentile(&accept, 50.0),
        percentile(&accept, 99.0),
        refused,
        twice,
        unwelcomed,
    );
    if twice > 0 || unwelcomed > 0 {
        bail!("the run was not clean");
    }
    Ok(())
}
