//! Customer success at scale, end to end, against the release binary: the
//! built-in automation rules' scan, approval by filter, and the welcome.
//!
//! `cargo bench --bench automation` serves `jornada` (API + worker) on a
//! free loopback port against a fresh PostgreSQL database and then a fresh
//! SQLite file, with a fake WhatsApp Cloud API on loopback whose
//! `boas_vindas` and `resgate_acesso` templates are mirrored as APPROVED
//! (the workspaces' WhatsApp rate limit lifted, `hotmart.club_url` set).
//! For each backend it prints these lines:
//!
//! 1. The access rescue scan: buyers of a monitored course, their purchase
//!    approved three days ago and the course never opened, are written
//!    straight into the database; `runAutomationRule` then runs the
//!    built-in `access_rescue` rule (ACCESS_MISSING, 24 h), timed until its
//!    job has succeeded. Every buyer must get a pending item, and a second
//!    run none. Beside it: the same candidates copied by one raw-SQL
//!    `INSERT … SELECT` into a table shaped like the queue's, and the ratio.
//! 2. Approval by filter: in a second workspace the same scan queues an
//!    item per buyer; `approveDispatches(filter: {ruleId})` approves them
//!    all, timed until the fake has taken the last send (sends/s); each
//!    phone must get exactly one. Beside it: the same request bodies POSTed
//!    by this process straight to a second fake, as many at once as
//!    jornada's dispatch sender keeps under way, and the ratio.
//! 3. The welcome rule, on a fresh database and server: PURCHASE_APPROVED
//!    postbacks of distinct buyers at a steady rate and, for each buyer,
//!    the time from the postback's 200 to the fake's receipt of the
//!    built-in `welcome` rule's `boas_vindas` send (p50, p99, slowest,
//!    beside the 200 itself); every buyer welcomed exactly once. A fourth
//!    line says where that time went, stage by stage (p50/p99), as the
//!    stored postbacks, domain events and messages have it: stored →
//!    applied → delivered to the rules → send reserved → recorded sent,
//!    each stamped when its worker's turn began.
//!
//! Environment:
//! - `JORNADA_BENCH_ENROLMENTS` (100000): buyers the timed scan goes over.
//! - `JORNADA_BENCH_APPROVALS` (10000): items approved by filter.
//! - `JORNADA_BENCH_RATE` (1000): postbacks per second.
//! - `JORNADA_BENCH_SECONDS` (30): how long the postbacks keep coming.
//! - `JORNADA_BENCH_POSTGRES_URL` (postgres://postgres@127.0.0.1:5432/postgres):
//!   where scratch databases are created and dropped.
//! - `JORNADA_BENCH_BACKENDS` (postgres,sqlite): which backends to run.

mod support;

#[path = "../tests/api/fakes/meta.rs"]
mod meta;

#[path = "automation/seed.rs"]
mod seed;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use support::postbacks;
use support::{
    Backend, CpuSample, Server, Store, env_backends, env_number, env_postgres_url,
    finished_job_within, fresh_database, graphql, invoked_as_bench, jornada_binary,
    on_each_backend, sample_cpu, whatsapp_workspace,
};

const HOTTOK: &str = "bench-hottok-automation-5e2a";
/// How long sends may stop coming before the run is called stuck.
const DRAIN_PATIENCE: Duration = Duration::from_secs(120);
/// How long one scan may take before the run is called stuck.
const SCAN_PATIENCE: Duration = Duration::from_secs(1800);
/// Provider calls jornada's dispatch sender keeps under way at once
/// (`CONCURRENT_CALLS` in worker/src/automation/sender.rs).
const SENDER_CONCURRENCY: usize = 64;
/// The approved buyers' phones start here, apart from the scanned ones.
const FIRST_APPROVED_BUYER: u64 = 50_000_000;

/// The targets.
const SCAN_TARGET: Duration = Duration::from_secs(3);
const SENDS_PER_SECOND_TARGET: f64 = 2_000.0;
const WELCOME_P99_TARGET_MS: f64 = 1_000.0;

struct Settings {
    enrolments: u64,
    approvals: u64,
    rate: u64,
    seconds: u64,
    postgres_url: String,
    backends: Vec<Backend>,
}

fn main() -> anyhow::Result<()> {
    if !invoked_as_bench() {
        println!("automation: skipped (run it with `cargo bench --bench automation`)");
        return Ok(());
    }
    let settings = Settings {
        enrolments: env_number("JORNADA_BENCH_ENROLMENTS", 100_000)?,
        approvals: env_number("JORNADA_BENCH_APPROVALS", 10_000)?,
        rate: env_number("JORNADA_BENCH_RATE", 1_000)?,
        seconds: env_number("JORNADA_BENCH_SECONDS", 30)?,
        postgres_url: env_postgres_url(),
        backends: env_backends()?,
    };
    let binary = jornada_binary()?;
    on_each_backend("automation", &settings.backends, |backend| {
        bench_backend(&settings, &binary, backend)
    })
}

/// The scan and the approvals share a server; the welcome gets its own.
async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let queue = async {
        let served = Served::start(settings, binary, backend).await?;
        access_rescue_scan(&served, settings, backend).await?;
        approval_by_filter(&served, settings, backend).await
    }
    .await;
    if let Err(err) = &queue {
        eprintln!(
            "automation {}: the scan or the approvals FAILED: {err:#}",
            backend.name()
        );
    }
    let welcome = welcome_rule(settings, binary, backend).await;
    queue.and(welcome)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The cores used since `since` by the server, every PostgreSQL process,
/// this process and the whole machine (shared: what else ran shows in the
/// difference).
fn cores_since(since: &CpuSample, server: &Server) -> String {
    let (bench, jornada, postgres, machine) = since.cores_until(&sample_cpu(server.child.id()));
    format!(
        "cores: jornada {jornada:.2}, PostgreSQL {postgres:.2}, bench {bench:.2}, machine {machine:.2}"
    )
}

/// A `jornada serve` child on a fresh database, with a fake Meta and a
/// service token. Fields drop in order: the server stops before its
/// database goes.
struct Served {
    server: Server,
    client: reqwest::Client,
    token: String,
    fake: meta::FakeMeta,
    database_url: String,
    _store: Store,
}

/// What a scan's job reported, and how long it took from the mutation.
struct Scan {
    considered: u64,
    queued: u64,
    took: Duration,
    cores: String,
}

impl Served {
    async fn start(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<Self> {
        let (database_url, store) = fresh_database(&settings.postgres_url, backend).await?;
        let fake = meta::FakeMeta::spawn().await;
        fake.seed_templates([
            meta::welcome_template(),
            meta::template("1002", "resgate_acesso", "pt_BR", "APPROVED", "UTILITY"),
        ]);
        let client = reqwest::Client::new();
        let mut server = Server::spawn(binary, &database_url)?;
        server.wait_ready(&client).await?;
        let token = server.service_token(binary, &database_url)?;
        Ok(Served {
            server,
            client,
            token,
            fake,
            database_url,
            _store: store,
        })
    }

    async fn call(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        graphql(&self.client, &self.server, &self.token, query, variables).await
    }

    /// A workspace taking Hotmart postbacks and sending WhatsApp through
    /// the fake, with its members area set: its id, as GraphQL and as stored.
    async fn workspace(&self, slug: &str) -> anyhow::Result<(String, Uuid)> {
        let id = whatsapp_workspace(
            &self.client,
            &self.server,
            &self.token,
            slug,
            self.fake.settings(),
            &[
                ("hotmart.hottok", HOTTOK),
                ("hotmart.club_url", seed::CLUB_URL),
            ],
        )
        .await?;
        let stored = id.parse().context("a workspace id that is not a UUID")?;
        Ok((id, stored))
    }

    /// The workspace's built-in rule `key`, which must have no problems.
    async fn builtin(&self, workspace: &str, key: &str) -> anyhow::Result<Value> {
        let rules = self
            .call(
                "query($ws: ID!) { automationRules(workspaceId: $ws, first: 50) { nodes { id key params problems { code message } } } }",
                json!({"ws": workspace}),
            )
            .await?;
        let rule = rules["automationRules"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["key"] == key)
            .with_context(|| format!("no built-in rule {key}"))?
            .clone();
        if rule["problems"].as_array().is_some_and(|p| !p.is_empty()) {
            bail!("the built-in {key} has problems: {}", rule["problems"]);
        }
        Ok(rule)
    }

    /// Runs a scan rule now, through its background job.
    async fn scan(&self, workspace: &str, rule: &Value) -> anyhow::Result<Scan> {
        let cpu = sample_cpu(self.server.child.id());
        let started = Instant::now();
        let job = self
            .call(
                "mutation($ws: ID!, $id: ID!) { runAutomationRule(workspaceId: $ws, id: $id, dryRun: false) { id } }",
                json!({"ws": workspace, "id": rule["id"]}),
            )
            .await?["runAutomationRule"]["id"]
            .clone();
        let done = finished_job_within(
            &self.client,
            &self.server,
            &self.token,
            workspace,
            &job,
            SCAN_PATIENCE,
        )
        .await?;
        let took = started.elapsed();
        let cores = cores_since(&cpu, &self.server);
        if done["status"] != "SUCCEEDED" {
            bail!("the scan failed: {done}");
        }
        let count = |key: &str| done["result"][key].as_u64();
        Ok(Scan {
            considered: count("considered").context("a scan report without `considered`")?,
            queued: count("queued").context("a scan report without `queued`")?,
            took,
            cores,
        })
    }

    /// How many of the rule's items are in the queue with `status`.
    async fn items(&self, workspace: &str, rule: &Value, status: &str) -> anyhow::Result<u64> {
        self.call(
            "query($ws: ID!, $f: DispatchFilter) { dispatchQueue(workspaceId: $ws, filter: $f, first: 1) { totalCount } }",
            json!({"ws": workspace, "f": {"ruleId": rule["id"], "status": status}}),
        )
        .await?["dispatchQueue"]["totalCount"]
            .as_u64()
            .context("dispatchQueue without totalCount")
    }
}

/// 1. The built-in access rescue over every buyer who never opened the course.
async fn access_rescue_scan(
    served: &Served,
    settings: &Settings,
    backend: Backend,
) -> anyhow::Result<()> {
    let (workspace, stored) = served.workspace("resgate").await?;
    let now = Utc::now();
    let seeding = Instant::now();
    seed::buyers_without_access(&served.database_url, stored, 0, settings.enrolments, now).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let rule = served.builtin(&workspace, "access_rescue").await?;
    let hours = rule["params"]["hours"]
        .as_i64()
        .context("access_rescue without params.hours")?;
    let (copied, raw) =
        seed::insert_select_baseline(&served.database_url, stored, hours, now).await?;

    let first = served.scan(&workspace, &rule).await?;
    let second = served.scan(&workspace, &rule).await?;
    let pending = served.items(&workspace, &rule, "PENDING").await?;
    let target = match backend {
        Backend::Postgres => verdict(first.took <= SCAN_TARGET),
        Backend::Sqlite => "PostgreSQL's",
    };
    println!(
        "automation {:<8} access_rescue scan: {} enrolments considered, {} items queued in {:.2} s ({:.0} items/s; target ≤ {} s: {target}); \
         second run {:.2} s, {} considered, {} queued; {pending} pending in the queue; \
         beside one raw INSERT … SELECT of the {copied} candidates {:.3} s: {:.1}× that; seeding {seed_seconds:.1} s; first run's {}",
        backend.name(),
        first.considered,
        first.queued,
        first.took.as_secs_f64(),
        first.queued as f64 / first.took.as_secs_f64(),
        SCAN_TARGET.as_secs(),
        second.took.as_secs_f64(),
        second.considered,
        second.queued,
        raw.as_secs_f64(),
        first.took.as_secs_f64() / raw.as_secs_f64(),
        first.cores,
    );
    if first.queued != settings.enrolments
        || second.queued != 0
        || pending != settings.enrolments
        || copied != settings.enrolments
    {
        bail!("the scan was not clean");
    }
    Ok(())
}

/// 2. Every pending item of a rule approved by filter, through to the fake.
async fn approval_by_filter(
    served: &Served,
    settings: &Settings,
    backend: Backend,
) -> anyhow::Result<()> {
    let (workspace, stored) = served.workspace("envios").await?;
    let count = settings.approvals;
    seed::buyers_without_access(
        &served.database_url,
        stored,
        FIRST_APPROVED_BUYER,
        count,
        Utc::now(),
    )
    .await?;
    let rule = served.builtin(&workspace, "access_rescue").await?;
    let scan = served.scan(&workspace, &rule).await?;
    if scan.queued != count {
        bail!("the scan queued {} items of {count}", scan.queued);
    }
    let before = served.fake.accepted();

    let cpu = sample_cpu(served.server.child.id());
    let started = Instant::now();
    let decision = served
        .call(
            "mutation($ws: ID!, $f: DispatchFilter) { approveDispatches(workspaceId: $ws, filter: $f) { matched decided skipped } }",
            json!({"ws": workspace, "f": {"ruleId": rule["id"]}}),
        )
        .await?["approveDispatches"]
        .clone();
    let answered = started.elapsed();
    let expected = before + count as usize;
    if let Err(stuck) =
        postbacks::until_count(|| served.fake.accepted(), expected, DRAIN_PATIENCE, "sends").await
    {
        let mut statuses = Vec::new();
        for status in ["APPROVED", "SENT", "ERROR", "PENDING"] {
            let n = served.items(&workspace, &rule, status).await?;
            statuses.push(format!("{status} {n}"));
        }
        bail!("{stuck:#}; the rule's items: {}", statuses.join(", "));
    }
    let cores = cores_since(&cpu, &served.server);
    let last = served
        .fake
        .message_recipients()
        .iter()
        .map(|(_, at)| *at)
        .max()
        .context("no sends")?;
    let took = last.saturating_duration_since(started).as_secs_f64();
    // Anything sent twice would come after the count was reached.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut per_phone: HashMap<String, u32> = HashMap::new();
    for message in served.fake.accepted_messages() {
        *per_phone.entry(message.to).or_default() += 1;
    }
    let buyers: HashSet<String> = (FIRST_APPROVED_BUYER..FIRST_APPROVED_BUYER + count)
        .map(|i| seed::phone_of(i).trim_start_matches('+').to_owned())
        .collect();
    let twice = per_phone.values().filter(|n| **n > 1).count();
    let missing = buyers
        .iter()
        .filter(|p| !per_phone.contains_key(*p))
        .count();
    let strangers = per_phone.keys().filter(|p| !buyers.contains(*p)).count();
    let sent = served.items(&workspace, &rule, "SENT").await?;

    let bodies: Vec<String> = served
        .fake
        .message_requests()
        .into_iter()
        .map(|r| r.raw_body)
        .collect();
    let raw = raw_posts(bodies).await?;
    let per_second = count as f64 / took;
    let raw_per_second = count as f64 / raw.as_secs_f64();
    println!(
        "automation {:<8} approveDispatches by filter: {count} items ({decision}) answered in {:.2} s, \
         the {count}th send at the fake after {took:.2} s: {per_second:.0} sends/s (target ≥ {SENDS_PER_SECOND_TARGET:.0}/s: {}); \
         {sent} items SENT, {twice} phones sent twice, {missing} phones missing, {strangers} strangers; \
         beside {count} raw POSTs to a fake, {SENDER_CONCURRENCY} at once, in {:.2} s ({raw_per_second:.0}/s): {:.2}× that rate; {cores}",
        backend.name(),
        answered.as_secs_f64(),
        verdict(per_second >= SENDS_PER_SECOND_TARGET),
        raw.as_secs_f64(),
        per_second / raw_per_second,
    );
    if twice > 0 || missing > 0 || strangers > 0 || sent != count {
        bail!("the approvals were not clean");
    }
    Ok(())
}

/// The same send requests POSTed straight to a fresh fake by this process,
/// `SENDER_CONCURRENCY` at once: the floor under jornada's sends.
async fn raw_posts(bodies: Vec<String>) -> anyhow::Result<Duration> {
    let fake = meta::FakeMeta::spawn().await;
    let client = reqwest::Client::new();
    let url = format!("{}/{}/messages", fake.base_url(), meta::PHONE_NUMBER_ID);
    let count = bodies.len();
    let started = Instant::now();
    let answers: Vec<bool> = futures::stream::iter(bodies)
        .map(|body| {
            let request = client
                .post(&url)
                .bearer_auth(meta::TOKEN)
                .header("content-type", "application/json")
                .body(body);
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .buffer_unordered(SENDER_CONCURRENCY)
        .collect()
        .await;
    let took = started.elapsed();
    let refused = answers.iter().filter(|ok| !**ok).count();
    if refused > 0 || fake.accepted() != count {
        bail!("the fake refused {refused} of the raw POSTs");
    }
    Ok(took)
}

/// 3. Postback → the built-in welcome at the fake, at a steady rate.
async fn welcome_rule(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let served = Served::start(settings, binary, backend).await?;
    let (workspace, _) = served.workspace("boas-vindas").await?;
    served.builtin(&workspace, "welcome").await?;
    let url = served.server.url("/webhooks/hotmart/boas-vindas");
    let cpu = sample_cpu(served.server.child.id());
    let (accepted, welcomes) = postbacks::welcome_buyers(
        &served.client,
        &url,
        HOTTOK,
        settings.rate,
        settings.seconds,
        DRAIN_PATIENCE,
        || served.fake.accepted(),
        || served.fake.message_recipients(),
    )
    .await?;
    println!(
        "automation {:<8} welcome rule: {} (target p99 ≤ {WELCOME_P99_TARGET_MS:.0} ms: {}); {}",
        backend.name(),
        welcomes.summary(&accepted),
        verdict(welcomes.p99_ms() <= WELCOME_P99_TARGET_MS && welcomes.clean()),
        cores_since(&cpu, &served.server),
    );
    println!(
        "automation {:<8} welcome stages: {}",
        backend.name(),
        welcome_stages(&served.database_url).await?
    );
    if !welcomes.clean() {
        bail!("the welcomes were not clean");
    }
    Ok(())
}

/// When each stage of a welcome began, as jornada stored it.
#[derive(sea_orm::FromQueryResult)]
struct WelcomeStages {
    /// The postback stored (the API).
    received_at: chrono::DateTime<Utc>,
    /// The applier's turn that applied it began.
    processed_at: chrono::DateTime<Utc>,
    /// The dispatcher's turn that delivered its domain event to the rules began.
    dispatched_at: chrono::DateTime<Utc>,
    /// The sender reserved the item's message.
    claimed_at: chrono::DateTime<Utc>,
    /// The sender recorded the provider's answer.
    sent_at: chrono::DateTime<Utc>,
}

/// Where the welcomes' time went, stage by stage (p50/p99 in ms), read
/// from the stored postbacks, domain events and messages.
async fn welcome_stages(database_url: &str) -> anyhow::Result<String> {
    use sea_orm::{FromQueryResult, Statement};
    let db = support::seeding_connection(database_url).await?;
    let rows = WelcomeStages::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT w.received_at, w.processed_at, d.dispatched_at, m.created_at AS claimed_at, m.sent_at \
         FROM messages m \
         JOIN dispatch_queue q ON q.id = m.dispatch_item_id \
         JOIN domain_events d ON d.customer_id = q.customer_id AND d.event_type = 'purchase_approved' \
         JOIN webhook_events w ON w.id = d.source_event_id \
         WHERE m.sent_at IS NOT NULL",
    ))
    .all(&db)
    .await
    .context("cannot read the welcomes' stages")?;
    db.close().await.ok();
    let stage = |gap: &dyn Fn(&WelcomeStages) -> chrono::TimeDelta| {
        let mut micros: Vec<u32> = rows
            .iter()
            .map(|r| {
                u32::try_from(gap(r).num_microseconds().unwrap_or(0).max(0)).unwrap_or(u32::MAX)
            })
            .collect();
        micros.sort_unstable();
        format!(
            "{:.0}/{:.0}",
            support::percentile(&micros, 50.0),
            support::percentile(&micros, 99.0)
        )
    };
    Ok(format!(
        "{} sends, p50/p99 ms: stored → applied {}, applied → delivered to the rules {}, delivered → send reserved {}, reserved → recorded sent {}",
        rows.len(),
        stage(&|r| r.processed_at - r.received_at),
        stage(&|r| r.dispatched_at - r.processed_at),
        stage(&|r| r.claimed_at - r.dispatched_at),
        stage(&|r| r.sent_at - r.claimed_at),
    ))
}
