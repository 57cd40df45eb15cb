//! Hotmart webhook ingest, end to end, against the release binary.
//!
//! `cargo bench --bench webhooks` builds `jornada`, serves it on a free
//! loopback port against a fresh PostgreSQL database and then a fresh SQLite
//! file, and for each prints one line: durable accepts/s with p50/p99
//! latency, errors, and how long the worker takes to apply every accepted
//! event. On PostgreSQL it also measures the raw single-row INSERT ceiling
//! of the same machine (DESIGN.md: the ingest target is half of it).
//!
//! Environment:
//! - `JORNADA_BENCH_SECONDS` (10): length of the webhook load.
//! - `JORNADA_BENCH_CONNECTIONS` (64): concurrent keep-alive connections.
//! - `JORNADA_BENCH_POSTGRES_URL` (postgres://postgres@127.0.0.1:5432/postgres):
//!   where a scratch database is created and dropped.
//! - `JORNADA_BENCH_BACKENDS` (postgres,sqlite): which backends to run.
//! - `JORNADA_BENCH_DRAIN_SECONDS` (600): how long to wait for the worker.
//! - `JORNADA_MAX_CONNECTIONS`: passed to the server (its pool size).
//!
//! The load client speaks HTTP/1.1 directly over one tokio `TcpStream` per
//! connection, with every request pre-serialised from a template (only the
//! event id, transaction code and e-mail digits are patched in place), so
//! the client costs as little of the shared CPU as possible.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::sqlx;
use serde_json::json;
use uuid::Uuid;

use support::http1::{Connection, Reply, post_request};
use support::{
    Backend, Server, create_workspace, env_backends, env_number, env_postgres_url, fresh_database,
    graphql, invoked_as_bench, jornada_binary, on_each_backend, percentile, sample_cpu,
};

const HOTTOK: &str = "bench-hottok-5f2a9c1e7d";
const SLUG: &str = "bench";
/// Distinct buyers; every event also has its own id and transaction code.
const CUSTOMERS: u64 = 2_000;
const CEILING_SECONDS: u64 = 5;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

// Same-width placeholders in the body template, replaced by digits per request.
const ID_MARK: &str = "~~~~~~~~~~~~";
const TRANSACTION_MARK: &str = "^^^^^^^^^^^^^^";
const EMAIL_MARK: &str = "`````";

struct Settings {
    seconds: u64,
    connections: usize,
    postgres_url: String,
    backends: Vec<Backend>,
    drain_timeout: Duration,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Settings {
            seconds: env_number("JORNADA_BENCH_SECONDS", 10)?,
            connections: usize::try_from(env_number("JORNADA_BENCH_CONNECTIONS", 64)?)?,
            postgres_url: env_postgres_url(),
            backends: env_backends()?,
            drain_timeout: Duration::from_secs(env_number("JORNADA_BENCH_DRAIN_SECONDS", 600)?),
        })
    }
}

fn main() -> anyhow::Result<()> {
    if !invoked_as_bench() {
        println!("webhooks: skipped (run it with `cargo bench --bench webhooks`)");
        return Ok(());
    }
    let settings = Settings::from_env()?;
    let binary = jornada_binary()?;
    on_each_backend("webhooks", &settings.backends, |backend| {
        bench_backend(&settings, &binary, backend)
    })
}

/// One PURCHASE_APPROVED postback as a full HTTP/1.1 request, with the byte
/// offsets of the fields that make each event distinct.
struct RequestTemplate {
    bytes: Vec<u8>,
    id_at: usize,
    transaction_at: usize,
    email_at: usize,
}

impl RequestTemplate {
    fn new(address: SocketAddr, run: &str) -> Self {
        let body = json!({
            "id": format!("{run}-0000-4000-8000-{ID_MARK}"),
            "creation_date": 1_767_225_600_000_i64,
            "event": "PURCHASE_APPROVED",
            "version": "2.0.0",
            "data": {
                "product": {"id": 3526906, "ucode": "f4b1c1b2-0000-4e2d-9f0a-1a2b3c4d5e6f", "name": "Curso de Confeitaria", "warranty_date": "2026-02-10T00:00:00Z"},
                "buyer": {"email": format!("cliente{EMAIL_MARK}@bench.example.com"), "name": "Maria Silva", "checkout_phone_code": "55", "checkout_phone": "11987654321", "document": "12345678909", "document_type": "CPF"},
                "purchase": {
                    "transaction": format!("HP{TRANSACTION_MARK}"), "status": "APPROVED", "order_date": 1_767_225_540_000_i64, "approved_date": 1_767_225_600_000_i64,
                    "price": {"value": 497.0, "currency_value": "BRL"},
                    "payment": {"type": "CREDIT_CARD", "installments_number": 12},
                    "offer": {"code": "n82b9jqz"}, "recurrence_number": 1,
                    "origin": {"src": "instagram", "sck": "bio", "xcod": "abc"}
                },
                "producer": {"name": "Ana"}
            }
        })
        .to_string();
        let bytes = post_request(
            address,
            &format!("/webhooks/hotmart/{SLUG}"),
            &[("x-hotmart-hottok", HOTTOK)],
            &body,
        );
        let find = |mark: &str| {
            bytes
                .windows(mark.len())
                .position(|w| w == mark.as_bytes())
                .expect("the template holds every mark")
        };
        RequestTemplate {
            id_at: find(ID_MARK),
            transaction_at: find(TRANSACTION_MARK),
            email_at: find(EMAIL_MARK),
            bytes,
        }
    }

    /// Writes event `seq` into `buffer` (a copy of the template).
    fn fill(&self, buffer: &mut [u8], seq: u64) {
        write_digits(&mut buffer[self.id_at..self.id_at + ID_MARK.len()], seq);
        write_digits(
            &mut buffer[self.transaction_at..self.transaction_at + TRANSACTION_MARK.len()],
            seq,
        );
        write_digits(
            &mut buffer[self.email_at..self.email_at + EMAIL_MARK.len()],
            seq % CUSTOMERS,
        );
    }
}

fn write_digits(out: &mut [u8], mut n: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// What one response was.
enum Outcome {
    Accepted,
    Duplicate,
    Status(u16),
}

impl Outcome {
    fn of(reply: &Reply<'_>) -> Self {
        match reply.status {
            200 if reply.body_contains(b"\"duplicate\"") => Outcome::Duplicate,
            200 => Outcome::Accepted,
            other => Outcome::Status(other),
        }
    }
}

#[derive(Default)]
struct LoadStats {
    accepted: u64,
    duplicates: u64,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    timeouts: u64,
    /// Microseconds per answered request (any status).
    latencies: Vec<u32>,
}

impl LoadStats {
    fn merge(&mut self, other: LoadStats) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.io_errors += other.io_errors;
        self.timeouts += other.timeouts;
        self.latencies.extend(other.latencies);
    }

    /// 200s that stored a new event.
    fn stored(&self) -> u64 {
        self.accepted
    }

    fn errors(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.io_errors + self.timeouts
    }

    fn describe_errors(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{n}×{status}"))
            .collect();
        if self.io_errors > 0 {
            parts.push(format!("{}×connection", self.io_errors));
        }
        if self.timeouts > 0 {
            parts.push(format!("{}×timeout", self.timeouts));
        }
        if self.duplicates > 0 {
            parts.push(format!("{}×200-duplicate", self.duplicates));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" [{}]", parts.join(", "))
        }
    }
}

/// One connection's loop: events `first`, `first + stride`, … until `deadline`.
async fn drive(
    address: SocketAddr,
    template: std::sync::Arc<RequestTemplate>,
    first: u64,
    stride: u64,
    start: Instant,
    deadline: Instant,
    mut connection: Option<Connection>,
) -> LoadStats {
    let mut stats = LoadStats {
        latencies: Vec::with_capacity(64 * 1024),
        ..LoadStats::default()
    };
    let mut request = template.bytes.clone();
    let mut seq = first;
    tokio::time::sleep_until(start.into()).await;
    while Instant::now() < deadline {
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => match Connection::open(address).await {
                Ok(conn) => conn,
                Err(_) => {
                    stats.io_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        template.fill(&mut request, seq);
        seq += stride;
        let sent = Instant::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, conn.exchange(&request)).await {
            Ok(Ok(reply)) => {
                let outcome = Outcome::of(&reply);
                let micros = sent.elapsed().as_micros();
                stats
                    .latencies
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                match outcome {
                    Outcome::Accepted => stats.accepted += 1,
                    Outcome::Duplicate => stats.duplicates += 1,
                    Outcome::Status(status) => *stats.statuses.entry(status).or_default() += 1,
                }
                connection = Some(conn);
            }
            Ok(Err(_)) => stats.io_errors += 1,
            Err(_) => stats.timeouts += 1,
        }
    }
    stats
}

async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let (database_url, _store) = fresh_database(&settings.postgres_url, backend).await?;
    if backend == Backend::Postgres {
        insert_ceiling(&database_url, settings.connections).await?;
    }
    let client = reqwest::Client::new();
    let mut server = Server::spawn(binary, &database_url)?;
    server.wait_ready(&client).await?;
    let token = server.service_token(binary, &database_url)?;

    let workspace = create_workspace(&client, &server, &token, SLUG).await?;
    graphql(
        &client,
        &server,
        &token,
        "mutation($ws: ID!, $v: String!) { setSetting(workspaceId: $ws, key: \"hotmart.hottok\", value: $v) { key } }",
        json!({"ws": workspace, "v": HOTTOK}),
    )
    .await?;

    let run = format!("{:08x}", rand::random::<u32>());
    let template = std::sync::Arc::new(RequestTemplate::new(server.address, &run));
    // One event before the clock starts: proves the set-up (and warms the
    // receiver's hottok cache).
    let mut probe = Connection::open(server.address).await?;
    let mut request = template.bytes.clone();
    template.fill(&mut request, 0);
    if !matches!(
        Outcome::of(&probe.exchange(&request).await?),
        Outcome::Accepted
    ) {
        bail!("the first webhook was not accepted: {}", server.log_tail(5));
    }
    drop(probe);

    // A database connection of our own, to watch the worker.
    let observer = sea_orm::Database::connect(
        sea_orm::ConnectOptions::new(database_url.clone())
            .max_connections(1)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("cannot open the observer connection")?;

    // Connect every connection before the clock starts.
    let connections = settings.connections;
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::open(server.address).await?);
    }
    let start = Instant::now() + Duration::from_millis(100);
    let deadline = start + Duration::from_secs(settings.seconds);
    let pid = server.child.id();
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let before = sample_cpu(pid);
        tokio::time::sleep_until(deadline.into()).await;
        (before, sample_cpu(pid))
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in opened.into_iter().enumerate() {
        tasks.spawn(drive(
            server.address,
            template.clone(),
            1 + i as u64,
            connections as u64,
            start,
            deadline,
            Some(conn),
        ));
    }
    let mut stats = LoadStats::default();
    while let Some(done) = tasks.join_next().await {
        stats.merge(done?);
    }
    let load_end = Instant::now();
    let load_seconds = (load_end - start).as_secs_f64();
    let (cpu_before, cpu_after) = sampler.await?;

    // Drain: poll the database until every stored event has left
    // RECEIVED/FAILED. (Not through GraphQL: `webhookEvents { totalCount }`
    // also fetches and sorts a page of full rows, which on tens of thousands
    // of events costs the server more than the worker it is measuring.)
    // Between the full counts at the start and the end, the observer only
    // asks whether any event is still to do, through the applier's own
    // partial index: a GROUP BY over every stored event ten times a second
    // cost PostgreSQL about 8% of its time while it was being measured, and
    // a COUNT(*) of the events to do 17 ms a poll, 15% of one core.
    let expected = stats.stored() + 1;
    let processed_at_load_end = status_counts(&observer).await?.get("processed").copied();
    let drained = loop {
        if !any_event_to_do(&observer).await? || load_end.elapsed() > settings.drain_timeout {
            let counts = status_counts(&observer).await?;
            let n = |status: &str| counts.get(status).copied().unwrap_or(0);
            let (processed, received, failed, dead, ignored) = (
                n("processed"),
                n("received"),
                n("failed"),
                n("dead"),
                n("ignored"),
            );
            let settled = processed + dead + ignored >= expected && received + failed == 0;
            break (
                load_end.elapsed(),
                settled,
                processed,
                failed,
                dead,
                ignored,
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (drain, settled, processed, failed, dead, ignored) = drained;
    let processed_at_load_end = processed_at_load_end.unwrap_or(0);

    stats.latencies.sort_unstable();
    let accepts_per_second = stats.stored() as f64 / load_seconds;
    let after_load = processed.saturating_sub(processed_at_load_end);
    let drain_seconds = drain.as_secs_f64();
    let rates = format!(
        "{processed_at_load_end} already applied when it ended; {:.0} applied events/s after the load, {:.0}/s from load start",
        after_load as f64 / drain_seconds,
        processed as f64 / (load_seconds + drain_seconds),
    );
    let applied = if settled {
        format!("all {expected} applied {drain_seconds:.2} s after the load ({rates})")
    } else {
        format!(
            "NOT all applied {drain_seconds:.0} s after the load: {processed}/{expected} processed ({rates})"
        )
    };
    let odd = if dead + ignored + failed > 0 {
        format!(" (dead {dead}, ignored {ignored}, failed {failed})")
    } else {
        String::new()
    };
    println!(
        "webhooks {:<8} {:>6.0} accepts/s ({} in {load_seconds:.2} s, {connections} conns), p50 {:.2} ms, p99 {:.2} ms, errors {}{}; {applied}{odd}",
        backend.name(),
        accepts_per_second,
        stats.stored(),
        percentile(&stats.latencies, 50.0),
        percentile(&stats.latencies, 99.0),
        stats.errors(),
        stats.describe_errors(),
    );
    let (client_cores, server_cores, postgres_cores, machine_cores) =
        cpu_before.cores_until(&cpu_after);
    let postgres_cores = if backend == Backend::Postgres {
        format!(", postgres {postgres_cores:.2}")
    } else {
        String::new()
    };
    println!(
        "         {:<8} cpu cores during the load: jornada {server_cores:.2}{postgres_cores}, bench client {client_cores:.2}, whole machine {machine_cores:.2} of {}",
        backend.name(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    // What the GraphQL way of watching the worker costs at this size.
    let asked = Instant::now();
    let data = graphql(
        &client,
        &server,
        &token,
        "query($ws: ID!) { webhookEvents(workspaceId: $ws, filter: {status: PROCESSED}) { totalCount } }",
        json!({"ws": workspace}),
    )
    .await?;
    println!(
        "         {:<8} GraphQL webhookEvents(filter: {{status: PROCESSED}}) {{ totalCount }} = {} in {:.1} ms",
        backend.name(),
        data["webhookEvents"]["totalCount"],
        asked.elapsed().as_secs_f64() * 1000.0
    );

    let stopped = server.stop();
    // Everything but the start-up banner (stdout) is a warning or an error.
    let lines: Vec<String> = server
        .log_lines()
        .into_iter()
        .filter(|l| !l.starts_with("jornada is listening") && !l.starts_with("  "))
        .collect();
    let log_summary = match stopped {
        Some(took) => format!("stopped by SIGTERM in {:.2} s", took.as_secs_f64()),
        None => "did not stop cleanly".to_owned(),
    };
    println!(
        "         {:<8} server {log_summary}; {} warning/error line(s) in its log",
        backend.name(),
        lines.len()
    );
    for line in lines.iter().take(5) {
        println!("           | {line}");
    }
    Ok(())
}

/// Whether any stored webhook event is still to apply (received, or failed
/// and to be retried).
async fn any_event_to_do(db: &sea_orm::DatabaseConnection) -> anyhow::Result<bool> {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE status IN ('received', 'failed'))",
        ))
        .await?
        .context("EXISTS returned no row")?;
    let any: bool = row.try_get_by_index(0)?;
    Ok(any)
}

/// Stored webhook events by status.
async fn status_counts(db: &sea_orm::DatabaseConnection) -> anyhow::Result<BTreeMap<String, u64>> {
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT status, COUNT(*) FROM webhook_events GROUP BY status",
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get_by_index(0)?;
            let count: i64 = row.try_get_by_index(1)?;
            Ok((status, u64::try_from(count).unwrap_or(0)))
        })
        .collect()
}

/// 64 connections inserting single rows (autocommit) into a scratch table.
async fn insert_ceiling(database_url: &str, connections: usize) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(connections)?)
        .acquire_timeout(Duration::from_secs(30))
        .connect(database_url)
        .await
        .context("cannot connect for the INSERT ceiling")?;
    sqlx::query(
        "CREATE TABLE bench_insert_ceiling (id uuid PRIMARY KEY, payload text NOT NULL, received_at timestamptz NOT NULL)",
    )
    .execute(&pool)
    .await?;
    // The same body the webhook load sends, so rows are the same size.
    let payload = {
        let template = RequestTemplate::new(SocketAddr::from(([127, 0, 0, 1], 0)), "00000000");
        let body_at = template
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4);
        String::from_utf8_lossy(&template.bytes[body_at..]).into_owned()
    };
    let mut held = Vec::with_capacity(connections);
    for _ in 0..connections {
        held.push(pool.acquire().await?);
    }
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + Duration::from_secs(CEILING_SECONDS);
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let before = sample_cpu(std::process::id());
        tokio::time::sleep_until(deadline.into()).await;
        (before, sample_cpu(std::process::id()))
    });
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in held {
        let payload = payload.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let (mut inserted, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let result = sqlx::query(
                    "INSERT INTO bench_insert_ceiling (id, payload, received_at) VALUES ($1, $2, now())",
                )
                .bind(Uuid::now_v7())
                .bind(payload.as_str())
                .execute(&mut *conn)
                .await;
                match result {
                    Ok(_) => inserted += 1,
                    Err(_) => errors += 1,
                }
            }
            (inserted, errors)
        });
    }
    let (mut inserted, mut errors) = (0u64, 0u64);
    while let Some(done) = tasks.join_next().await {
        let (i, e) = done?;
        inserted += i;
        errors += e;
    }
    let seconds = start.elapsed().as_secs_f64();
    let (before, after) = sampler.await?;
    sqlx::query("DROP TABLE bench_insert_ceiling")
        .execute(&pool)
        .await?;
    pool.close().await;
    let rate = inserted as f64 / seconds;
    println!(
        "ceiling  postgres {rate:>6.0} inserts/s (single-row autocommit INSERTs, {connections} conns, {inserted} in {seconds:.2} s, errors {errors}); ingest target = half = {:.0} accepts/s",
        rate / 2.0
    );
    let (client_cores, _, postgres_cores, machine_cores) = before.cores_until(&after);
    println!(
        "         postgres cpu cores during the ceiling: postgres {postgres_cores:.2}, sqlx client {client_cores:.2}, whole machine {machine_cores:.2}"
    );
    Ok(())
}
