//! GraphQL reads, end to end, against the release binary, beside raw SQL.
//!
//! `cargo bench --bench graphql` builds `jornada`, serves it on a free
//! loopback port against a fresh PostgreSQL database and then a fresh SQLite
//! file, seeds one workspace with 100,000 customers and 3 transactions each,
//! and loads two queries with an authenticated workspace token, at 8 and at
//! 32 keep-alive connections:
//! - `list`, what a customer list screen sends:
//!   `customers(first: 50) { edges { node { id email name ltvTotal transactions { code status amount } } } }`;
//! - `search`, a filtered list that shows its total:
//!   `customers(first: 50, filter: {search: "silva"}) { totalCount edges { node { id email name ltvTotal } } }`.
//!
//! Before each, the same rows are fetched in this process with two prepared
//! statements (the page, then its transactions; or the count, then the
//! page) through a pool opened as the server opens its own, by as many
//! concurrent callers. Each line prints req/s and p50/p99 for both and
//! jornada's ratio to raw SQL, measured minutes apart on the same machine.
//!
//! Environment:
//! - `JORNADA_BENCH_SECONDS` (10): length of each load.
//! - `JORNADA_BENCH_CUSTOMERS` (100000): customers seeded (3 transactions each).
//! - `JORNADA_BENCH_CONNECTIONS` (8,32): the concurrencies to load with.
//! - `JORNADA_BENCH_QUERIES` (list,search): which queries to load.
//! - `JORNADA_BENCH_POSTGRES_URL` (postgres://postgres@127.0.0.1:5432/postgres):
//!   where a scratch database is created and dropped; server and baseline
//!   reach it without TLS unless the URL names an `sslmode`.
//! - `JORNADA_BENCH_BACKENDS` (postgres,sqlite): which backends to run.
//! - `JORNADA_MAX_CONNECTIONS` (16): the server's pool size, and the baseline's.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use entity::entities::{customer, transaction};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection, Set, sqlx};
use serde_json::{Value, json};
use uuid::Uuid;

use support::http1::{Connection, post_request};
use support::{
    Backend, CpuSample, Server, create_workspace, env_backends, env_number, env_postgres_url,
    fresh_database, graphql, insert_chunked, invoked_as_bench, jornada_binary, on_each_backend,
    percentile, sample_cpu, seeding_connection,
};

const PAGE: usize = 50;
const TRANSACTIONS_PER_CUSTOMER: u64 = 3;
const SEARCH: &str = "silva";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_NAMES: [&str; 10] = [
    "Maria", "Ana", "João", "Pedro", "Juliana", "Carla", "Lucas", "Fernanda", "Rafael", "Beatriz",
];
const SURNAMES: [&str; 10] = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Lima",
    "Pereira",
    "Costa",
    "Rodrigues",
    "Almeida",
    "Nascimento",
];

const LIST_QUERY: &str = "query { customers(first: 50) { edges { node { id email name ltvTotal transactions { code status amount } } } } }";
const SEARCH_QUERY: &str = "query { customers(first: 50, filter: {search: \"silva\"}) { totalCount edges { node { id email name ltvTotal } } } }";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Query {
    List,
    Search,
}

impl Query {
    fn name(self) -> &'static str {
        match self {
            Query::List => "list",
            Query::Search => "search",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Query::List => LIST_QUERY,
            Query::Search => SEARCH_QUERY,
        }
    }
}

struct Settings {
    seconds: u64,
    customers: u64,
    connections: Vec<usize>,
    queries: Vec<Query>,
    pool_size: u32,
    postgres_url: String,
    backends: Vec<Backend>,
}

fn env_list(key: &str, default: &str) -> Vec<String> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let connections = env_list("JORNADA_BENCH_CONNECTIONS", "8,32")
            .iter()
            .map(|n| {
                n.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("JORNADA_BENCH_CONNECTIONS: `{n}` is not a count"))
            })
            .collect::<anyhow::Result<_>>()?;
        let queries = env_list("JORNADA_BENCH_QUERIES", "list,search")
            .iter()
            .map(|q| match q.as_str() {
                "list" => Ok(Query::List),
                "search" => Ok(Query::Search),
                other => bail!("JORNADA_BENCH_QUERIES: unknown query `{other}`"),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Settings {
            seconds: env_number("JORNADA_BENCH_SECONDS", 10)?,
            customers: env_number("JORNADA_BENCH_CUSTOMERS", 100_000)?,
            connections,
            queries,
            pool_size: u32::try_from(env_number("JORNADA_MAX_CONNECTIONS", 16)?)?,
            postgres_url: env_postgres_url(),
            backends: env_backends()?,
        })
    }
}

fn main() -> anyhow::Result<()> {
    if !invoked_as_bench() {
        println!("graphql: skipped (run it with `cargo bench --bench graphql`)");
        return Ok(());
    }
    let settings = Settings::from_env()?;
    let binary = jornada_binary()?;
    on_each_backend("graphql", &settings.backends, |backend| {
        bench_backend(&settings, &binary, backend)
    })
}

fn name_of(i: u64) -> String {
    format!(
        "{} {}",
        FIRST_NAMES[(i % 10) as usize],
        SURNAMES[((i / 10) % 10) as usize]
    )
}

/// The customers the search finds: those whose name or e-mail holds "silva".
fn search_matches(customers: u64) -> u64 {
    (0..customers)
        .filter(|i| name_of(*i).to_lowercase().contains(SEARCH))
        .count() as u64
}

/// 100,000 customers of one workspace with three transactions each, written
/// straight into the database (set-up, not the code under measurement).
async fn seed(database_url: &str, workspace: Uuid, customers: u64) -> anyhow::Result<()> {
    let db = seeding_connection(database_url).await?;
    let start = Utc::now() - TimeDelta::days(365);
    let ids: Vec<Uuid> = (0..customers).map(|_| Uuid::now_v7()).collect();
    let price = Decimal::new(49_700, 2);
    let rows = ids.iter().enumerate().map(|(i, id)| {
        let at = start + TimeDelta::seconds(i as i64 * 60);
        customer::ActiveModel {
            id: Set(*id),
            workspace_id: Set(workspace),
            hotmart_ucode: Set(None),
            chatwoot_contact_id: Set(None),
            chatwoot_conversation_id: Set(None),
            email: Set(format!("cliente{i}@exemplo.com.br")),
            name: Set(Some(name_of(i as u64))),
            phone: Set(Some(format!("+55119{i:08}"))),
            document: Set(None),
            document_type: Set(None),
            tags: Set(json!(["aluna"])),
            segment: Set(Some("active".to_owned())),
            churn_risk: Set(Some("low".to_owned())),
            churn_risk_score: Set(Some(0)),
            churn_risk_reasons: Set(Some(json!([]))),
            ltv_total: Set(price * Decimal::from(TRANSACTIONS_PER_CUSTOMER)),
            first_activity_at: Set(Some(at)),
            last_activity_at: Set(Some(at)),
            consent: Set(json!({})),
            metadata: Set(json!({"origem": "instagram"})),
            created_at: Set(at),
            updated_at: Set(at),
        }
    });
    insert_chunked(&db, rows).await?;
    let transactions = ids.iter().enumerate().flat_map(|(i, id)| {
        (0..TRANSACTIONS_PER_CUSTOMER).map(move |k| {
            let at = start + TimeDelta::seconds(i as i64 * 60 + k as i64);
            transaction::ActiveModel {
                id: Set(Uuid::now_v7()),
                workspace_id: Set(workspace),
                code: Set(format!("HP{i:08}{k}")),
                customer_id: Set(*id),
                product_id: Set(None),
                offer_id: Set(None),
                subscription_id: Set(None),
                status: Set("APPROVED".to_owned()),
                amount: Set(price),
                currency: Set("BRL".to_owned()),
                payment_method: Set(Some("CREDIT_CARD".to_owned())),
                installments: Set(Some(12)),
                purchased_at: Set(Some(at)),
                approved_at: Set(Some(at)),
                refunded_at: Set(None),
                warranty_ends_at: Set(Some(at + TimeDelta::days(7))),
                billet_url: Set(None),
                pix_code: Set(None),
                src: Set(Some("instagram".to_owned())),
                sck: Set(Some("bio".to_owned())),
                xcod: Set(None),
                commission_type: Set(None),
                recurrence_number: Set(None),
                last_event_at: Set(Some(at)),
                created_at: Set(at),
                updated_at: Set(at),
            }
        })
    });
    insert_chunked(&db, transactions).await?;
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // What autovacuum does after a bulk load, done now rather than
        // somewhere inside a measurement.
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    db.close().await.ok();
    Ok(())
}

/// Latencies and failures of one load.
#[derive(Default)]
struct Load {
    ok: u64,
    errors: u64,
    /// Microseconds per successful request.
    latencies: Vec<u32>,
    seconds: f64,
    /// Cores used: (this process, the server, PostgreSQL).
    cores: (f64, f64, f64),
}

impl Load {
    fn merge(&mut self, other: Load) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
    }

    fn finish(mut self, seconds: f64, before: CpuSample, after: CpuSample) -> Self {
        self.latencies.sort_unstable();
        self.seconds = seconds;
        let (client, server, postgres, _) = before.cores_until(&after);
        self.cores = (client, server, postgres);
        self
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn describe(&self) -> String {
        format!(
            "{:>6.0} req/s, p50 {:>6.2} ms, p99 {:>6.2} ms, errors {}",
            self.rate(),
            percentile(&self.latencies, 50.0),
            percentile(&self.latencies, 99.0),
            self.errors
        )
    }
}

/// Runs `connections` callers, each made by `call(deadline)`, for
/// `seconds`, sampling CPU (of `server_pid` too) over the same window.
async fn load<F, Fut>(connections: usize, seconds: u64, server_pid: u32, call: F) -> Load
where
    F: Fn(Instant) -> Fut,
    Fut: std::future::Future<Output = Load> + Send + 'static,
{
    let start = Instant::now() + Duration::from_millis(100);
    let deadline = start + Duration::from_secs(seconds);
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let before = sample_cpu(server_pid);
        tokio::time::sleep_until(deadline.into()).await;
        (before, sample_cpu(server_pid))
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let caller = call(deadline);
        tasks.spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            caller.await
        });
    }
    let mut total = Load::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(part) => total.merge(part),
            Err(_) => total.errors += 1,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let (before, after) = sampler.await.unwrap_or_default();
    total.finish(seconds, before, after)
}

/// One connection sending `request` until `deadline`; a reply is good when
/// it is a 200 without `errors`.
async fn http_caller(address: SocketAddr, request: Arc<Vec<u8>>, deadline: Instant) -> Load {
    let mut part = Load {
        latencies: Vec::with_capacity(64 * 1024),
        ..Load::default()
    };
    let mut connection = None;
    while Instant::now() < deadline {
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => match Connection::open(address).await {
                Ok(conn) => conn,
                Err(_) => {
                    part.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let good = match tokio::time::timeout(REQUEST_TIMEOUT, conn.exchange(&request)).await {
            Ok(Ok(reply)) => {
                let good = reply.status == 200 && !reply.body_contains(b"\"errors\"");
                connection = Some(conn);
                good
            }
            _ => false,
        };
        if good {
            part.ok += 1;
            let micros = sent.elapsed().as_micros();
            part.latencies
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        } else {
            part.errors += 1;
        }
    }
    part
}

/// The baseline: the same rows through a pool opened as the server opens
/// its own, two prepared statements a request.
#[derive(Clone)]
enum Raw {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

const RAW_PAGE: &str = "SELECT id, email, name, ltv_total FROM customers WHERE workspace_id = $1 ORDER BY id DESC LIMIT 51";
const RAW_SEARCH_COUNT: &str = "SELECT COUNT(*) FROM customers WHERE workspace_id = $1 AND (lower(email) LIKE $2 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\')";
const RAW_SEARCH_PAGE: &str = "SELECT id, email, name, ltv_total FROM customers WHERE workspace_id = $1 AND (lower(email) LIKE $2 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\') ORDER BY id DESC LIMIT 51";
const RAW_TRANSACTIONS_PG: &str = "SELECT customer_id, code, status, amount FROM transactions WHERE customer_id = ANY($1) ORDER BY created_at DESC, id DESC";

impl Raw {
    fn of(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                Raw::Postgres(db.get_postgres_connection_pool().clone())
            }
            _ => Raw::Sqlite(db.get_sqlite_connection_pool().clone()),
        }
    }

    /// One request's rows; returns how many rows came back.
    async fn fetch(&self, query: Query, workspace: Uuid) -> Result<usize, sqlx::Error> {
        use sqlx::Row;
        let pattern = format!("%{SEARCH}%");
        match (self, query) {
            (Raw::Postgres(pool), Query::List) => {
                let page: Vec<(Uuid, String, Option<String>, Decimal)> = sqlx::query_as(RAW_PAGE)
                    .bind(workspace)
                    .fetch_all(pool)
                    .await?;
                let ids: Vec<Uuid> = page.iter().take(PAGE).map(|r| r.0).collect();
                let transactions: Vec<(Uuid, String, String, Decimal)> =
                    sqlx::query_as(RAW_TRANSACTIONS_PG)
                        .bind(&ids)
                        .fetch_all(pool)
                        .await?;
                Ok(page.len().min(PAGE) + transactions.len())
            }
            (Raw::Postgres(pool), Query::Search) => {
                let count: i64 = sqlx::query_scalar(RAW_SEARCH_COUNT)
                    .bind(workspace)
                    .bind(&pattern)
                    .fetch_one(pool)
                    .await?;
                let page: Vec<(Uuid, String, Option<String>, Decimal)> =
                    sqlx::query_as(RAW_SEARCH_PAGE)
                        .bind(workspace)
                        .bind(&pattern)
                        .fetch_all(pool)
                        .await?;
                Ok(page.len().min(PAGE) + usize::from(count > 0))
            }
            (Raw::Sqlite(pool), Query::List) => {
                let page = sqlx::query(RAW_PAGE)
                    .bind(workspace)
                    .fetch_all(pool)
                    .await?;
                let mut ids = Vec::with_capacity(PAGE);
                for row in page.iter().take(PAGE) {
                    let (_, _, _, _): (Uuid, String, Option<String>, f64) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get_unchecked(3)?,
                    );
                    ids.push(row.try_get::<Uuid, _>(0)?);
                }
                let placeholders = vec!["?"; ids.len()].join(", ");
                let statement = format!(
                    "SELECT customer_id, code, status, amount FROM transactions WHERE customer_id IN ({placeholders}) ORDER BY created_at DESC, id DESC"
                );
                let mut transactions = sqlx::query(sqlx::AssertSqlSafe(statement));
                for id in &ids {
                    transactions = transactions.bind(*id);
                }
                let rows = transactions.fetch_all(pool).await?;
                for row in &rows {
                    let _: (Uuid, String, String, f64) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get_unchecked(3)?,
                    );
                }
                Ok(ids.len() + rows.len())
            }
            (Raw::Sqlite(pool), Query::Search) => {
                let count: i64 = sqlx::query_scalar(RAW_SEARCH_COUNT)
                    .bind(workspace)
                    .bind(&pattern)
                    .fetch_one(pool)
                    .await?;
                let page = sqlx::query(RAW_SEARCH_PAGE)
                    .bind(workspace)
                    .bind(&pattern)
                    .fetch_all(pool)
                    .await?;
                for row in page.iter().take(PAGE) {
                    let _: (Uuid, String, Option<String>, f64) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get_unchecked(3)?,
                    );
                }
                Ok(page.len().min(PAGE) + usize::from(count > 0))
            }
        }
    }
}

async fn raw_caller(raw: Raw, query: Query, workspace: Uuid, deadline: Instant) -> Load {
    let mut part = Load {
        latencies: Vec::with_capacity(64 * 1024),
        ..Load::default()
    };
    while Instant::now() < deadline {
        let sent = Instant::now();
        match raw.fetch(query, workspace).await {
            Ok(rows) if rows > 0 => {
                part.ok += 1;
                let micros = sent.elapsed().as_micros();
                part.latencies
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            _ => part.errors += 1,
        }
    }
    part
}

/// Checks what both queries answer before loading them.
async fn check_answers(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    customers: u64,
) -> anyhow::Result<()> {
    let list = graphql(client, server, token, LIST_QUERY, json!({})).await?;
    let edges = list["customers"]["edges"].as_array().context("no edges")?;
    let with_three = edges
        .iter()
        .filter(|e| {
            e["node"]["transactions"].as_array().map(Vec::len)
                == Some(TRANSACTIONS_PER_CUSTOMER as usize)
        })
        .count();
    if edges.len() != PAGE.min(customers as usize) || with_three != edges.len() {
        bail!(
            "the list query answered {} customers, {with_three} with 3 transactions",
            edges.len()
        );
    }
    let search = graphql(client, server, token, SEARCH_QUERY, json!({})).await?;
    let total = &search["customers"]["totalCount"];
    let expected = search_matches(customers);
    if total != &Value::from(expected) {
        bail!("the search query counted {total}, not {expected}");
    }
    Ok(())
}

/// `url` asking for a plain connection when it names no `sslmode`: server,
/// baseline and database share one machine, where TLS between them would
/// only add its cost to both sides of the comparison.
fn plain_on_one_machine(url: String) -> String {
    if !url.starts_with("postgres") || url.contains("sslmode=") {
        return url;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let (database_url, _store) = fresh_database(&settings.postgres_url, backend).await?;
    let database_url = plain_on_one_machine(database_url);
    let client = reqwest::Client::new();
    let mut server = Server::spawn(binary, &database_url)?;
    server.wait_ready(&client).await?;
    let service = server.service_token(binary, &database_url)?;
    let workspace = create_workspace(&client, &server, &service, "escola").await?;
    let token = server.workspace_token(binary, &database_url, &workspace)?;
    let workspace_id: Uuid = workspace.parse()?;

    let seeding = Instant::now();
    seed(&database_url, workspace_id, settings.customers).await?;
    println!(
        "graphql  {:<8} seeded {} customers, {} transactions in {:.1} s",
        backend.name(),
        settings.customers,
        settings.customers * TRANSACTIONS_PER_CUSTOMER,
        seeding.elapsed().as_secs_f64()
    );
    check_answers(&client, &server, &token, settings.customers).await?;

    let baseline_pool = jornada::connect(&database_url, settings.pool_size).await?;
    let raw = Raw::of(&baseline_pool);
    let pid = server.child.id();
    for &query in &settings.queries {
        let body = json!({"query": query.text()}).to_string();
        let request = Arc::new(post_request(
            server.address,
            "/graphql",
            &[("authorization", &format!("Bearer {token}"))],
            &body,
        ));
        for &connections in &settings.connections {
            let seconds = settings.seconds;
            let baseline = load(connections, seconds, pid, |deadline| {
                raw_caller(raw.clone(), query, workspace_id, deadline)
            })
            .await;
            let served = load(connections, seconds, pid, |deadline| {
                http_caller(server.address, request.clone(), deadline)
            })
            .await;
            println!(
                "graphql  {:<8} {:<6} {connections:>2} conns: jornada {} | raw SQL {} | {:.2}× raw",
                backend.name(),
                query.name(),
                served.describe(),
                baseline.describe(),
                served.rate() / baseline.rate(),
            );
            let postgres = |cores: f64| {
                if backend == Backend::Postgres {
                    format!(", postgres {cores:.2}")
                } else {
                    String::new()
                }
            };
            println!(
                "         {:<8} {:<6} {connections:>2} cpu cores: jornada {:.2}{}, bench client {:.2} | raw SQL client {:.2}{}",
                backend.name(),
                query.name(),
                served.cores.1,
                postgres(served.cores.2),
                served.cores.0,
                baseline.cores.0,
                postgres(baseline.cores.2),
            );
        }
    }
    baseline_pool.close().await.ok();
    server.stop();
    Ok(())
}
