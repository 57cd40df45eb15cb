//! What the benchmarks share: the release binary, scratch databases on both
//! backends, a `jornada serve` child, GraphQL calls and CPU sampling.
//! Each bench includes it with `mod support;`.

#![allow(dead_code)] // each bench uses its own part of it

pub mod http1;
pub mod postbacks;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use rand::RngCore;
use sea_orm::sqlx;
use sea_orm::sqlx::Connection as _;
use serde_json::{Value, json};
use uuid::Uuid;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const JWT_SECRET: &str = "jornada-bench-jwt-secret-that-is-long-enough";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// A positive integer from the environment, or `default`.
pub fn env_number(key: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("{key} must be a positive integer")),
        _ => Ok(default),
    }
}

/// `JORNADA_BENCH_BACKENDS` (postgres,sqlite).
pub fn env_backends() -> anyhow::Result<Vec<Backend>> {
    std::env::var("JORNADA_BENCH_BACKENDS")
        .unwrap_or_else(|_| "postgres,sqlite".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "sqlite" => Ok(Backend::Sqlite),
            other => bail!("JORNADA_BENCH_BACKENDS: unknown backend `{other}`"),
        })
        .collect()
}

/// `JORNADA_BENCH_POSTGRES_URL`, where scratch databases are created.
pub fn env_postgres_url() -> String {
    std::env::var("JORNADA_BENCH_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.into())
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and
/// a minute-long load has no place in a test run.
pub fn invoked_as_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Runs `bench` on each backend in turn, on a two-thread runtime (the
/// machine's other core is the server's), reporting each failure; fails if
/// any backend did.
pub fn on_each_backend<F, Fut>(name: &str, backends: &[Backend], mut bench: F) -> anyhow::Result<()>
where
    F: FnMut(Backend) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut failed = false;
    for &backend in backends {
        if let Err(err) = runtime.block_on(bench(backend)) {
            eprintln!("{name} {}: FAILED: {err:#}", backend.name());
            failed = true;
        }
    }
    if failed {
        bail!("at least one backend failed");
    }
    Ok(())
}

/// The `jornada` executable cargo built for this bench, with the bench
/// profile (optimised like release) and the same features.
pub fn jornada_binary() -> anyhow::Result<PathBuf> {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_jornada"));
    if !binary.is_file() {
        bail!(
            "{} is missing: run the bench through cargo bench",
            binary.display()
        );
    }
    Ok(binary)
}

/// A database made for one run, removed when dropped.
pub enum Store {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl Drop for Store {
    fn drop(&mut self) {
        if std::env::var_os("JORNADA_BENCH_KEEP_DATABASE").is_some() {
            match self {
                Store::Sqlite(path) => eprintln!("kept the bench's database {}", path.display()),
                Store::Postgres { name, .. } => eprintln!("kept the bench's database {name}"),
            }
            return;
        }
        match self {
            Store::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Store::Postgres { admin_url, name } => {
                let (admin_url, db_name) = (admin_url.clone(), name.clone());
                // Dropped inside the bench's runtime: use a thread with its own.
                let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(async {
                            let mut admin =
                                sqlx::postgres::PgConnection::connect(&admin_url).await?;
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#
                            )))
                            .execute(&mut admin)
                            .await?;
                            Ok(())
                        })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("warning: could not drop the scratch database {name}");
                }
            }
        }
    }
}

/// `admin_url` with its database name replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let base = match base.rsplit_once('/') {
        Some((head, _)) if head.contains("://") && !head.ends_with('/') => head,
        _ => base.trim_end_matches('/'),
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

pub async fn fresh_database(
    postgres_url: &str,
    backend: Backend,
) -> anyhow::Result<(String, Store)> {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("jornada-bench-{}.db", Uuid::new_v4()));
            Ok((
                format!("sqlite://{}?mode=rwc", path.display()),
                Store::Sqlite(path),
            ))
        }
        Backend::Postgres => {
            let admin_url = postgres_url.to_owned();
            let name = format!("jornada_bench_{}", Uuid::new_v4().simple());
            let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
                .await
                .with_context(|| format!("PostgreSQL is unreachable at {admin_url}"))?;
            sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
                .execute(&mut admin)
                .await
                .context("cannot create the scratch database")?;
            admin.close().await.ok();
            Ok((
                database_url(&admin_url, &name),
                Store::Postgres { admin_url, name },
            ))
        }
    }
}

/// The `jornada serve` child; stopped with SIGTERM when dropped.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    log: PathBuf,
    dir: PathBuf,
}

impl Server {
    fn command(binary: &Path, dir: &Path, database_url: &str, bind: &str) -> Command {
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars() {
            if key.starts_with("JORNADA_") && key != "JORNADA_MAX_CONNECTIONS" {
                command.env_remove(key);
            }
        }
        command
            .current_dir(dir)
            .env("JORNADA_DATABASE_URL", database_url)
            .env("JORNADA_BIND", bind)
            .env("JORNADA_JWT_SECRET", JWT_SECRET)
            .env("JORNADA_SECRET_KEY", secret_key())
            .env("JORNADA_DATA_DIR", dir.join(".jornada"))
            .env("RUST_LOG", "warn");
        command
    }

    pub fn spawn(binary: &Path, database_url: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("jornada-bench-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let address = free_address()?;
        let log = dir.join("server.log");
        let out = File::create(&log)?;
        let child = Self::command(binary, &dir, database_url, &address.to_string())
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("cannot start jornada serve")?;
        Ok(Server {
            child,
            address,
            log,
            dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A service_role token from `jornada token`, run with the server's
    /// environment. The README spells the role `service_role`; clap's
    /// default for the enum is `service-role`, so both are tried.
    pub fn service_token(&self, binary: &Path, database_url: &str) -> anyhow::Result<String> {
        let mut refusals = Vec::new();
        for role in ["service_role", "service-role"] {
            match self.token(binary, database_url, &["--role", role]) {
                Ok(token) => {
                    if role != "service_role" {
                        eprintln!(
                            "note: `jornada token --role service_role` was refused; used `{role}`"
                        );
                    }
                    return Ok(token);
                }
                Err(refusal) => refusals.push(refusal.to_string()),
            }
        }
        bail!("{}", refusals.join("\n"))
    }

    /// An authenticated token for one workspace, as a screen of that
    /// workspace's team holds.
    pub fn workspace_token(
        &self,
        binary: &Path,
        database_url: &str,
        workspace: &str,
    ) -> anyhow::Result<String> {
        self.token(
            binary,
            database_url,
            &["--role", "authenticated", "--workspace", workspace],
        )
    }

    fn token(&self, binary: &Path, database_url: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = Self::command(binary, &self.dir, database_url, &self.address.to_string())
            .arg("token")
            .args(args)
            .args(["--ttl", "2h"])
            .output()
            .context("cannot run jornada token")?;
        if !out.status.success() {
            bail!(
                "jornada token failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self.child.try_wait()? {
                bail!("jornada exited ({status}): {}", self.log_tail(20));
            }
            if let Ok(response) = client.get(self.url("/readyz")).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("/readyz never answered 200: {}", self.log_tail(20))
    }

    pub fn log_lines(&self) -> Vec<String> {
        File::open(&self.log)
            .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
            .unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGTERM, then wait (the worker gets 30 s to finish); SIGKILL after 45 s.
    pub fn stop(&mut self) -> Option<Duration> {
        if self.child.try_wait().ok().flatten().is_some() {
            return None;
        }
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        while started.elapsed() < Duration::from_secs(45) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: jornada ignored SIGTERM for 45 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn secret_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn free_address() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

pub async fn graphql(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let answer: Value = client
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?
        .json()
        .await?;
    if answer.get("errors").is_some_and(|e| !e.is_null()) {
        bail!("GraphQL error: {answer}");
    }
    Ok(answer["data"].clone())
}

/// Creates the workspace `slug` with a service token; returns its id.
pub async fn create_workspace(
    client: &reqwest::Client,
    server: &Server,
    service_token: &str,
    slug: &str,
) -> anyhow::Result<String> {
    Ok(graphql(
        client,
        server,
        service_token,
        "mutation($slug: String!) { createWorkspace(input: {name: \"Bench\", slug: $slug}) { id } }",
        json!({"slug": slug}),
    )
    .await?["createWorkspace"]["id"]
        .as_str()
        .context("createWorkspace returned no id")?
        .to_owned())
}

/// A workspace (`slug`) whose WhatsApp points at a fake Cloud API
/// (`whatsapp_settings`, plus the rate limit lifted: the benches measure
/// jornada, not Meta's throughput tier) and whose templates are mirrored
/// from it; any `extra` settings besides. Returns its id.
pub async fn whatsapp_workspace(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    slug: &str,
    whatsapp_settings: Vec<(&'static str, String)>,
    extra: &[(&str, &str)],
) -> anyhow::Result<String> {
    let workspace = create_workspace(client, server, token, slug).await?;
    let mut settings: Vec<(String, String)> = whatsapp_settings
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    settings.push(("whatsapp.messages_per_second".into(), "1000000".into()));
    settings.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    for (key, value) in settings {
        graphql(
            client,
            server,
            token,
            "mutation($ws: ID!, $k: String!, $v: String!) { setSetting(workspaceId: $ws, key: $k, value: $v) { key } }",
            json!({"ws": workspace, "k": key, "v": value}),
        )
        .await?;
    }
    let job = graphql(
        client,
        server,
        token,
        "mutation($ws: ID!) { syncTemplates(workspaceId: $ws) { id } }",
        json!({"ws": workspace}),
    )
    .await?["syncTemplates"]["id"]
        .clone();
    let synced = finished_job(client, server, token, &workspace, &job).await?;
    if synced["status"] != "SUCCEEDED" {
        bail!("the templates did not sync: {synced}");
    }
    Ok(workspace)
}

/// Follows a background job until it has succeeded or failed (two minutes at most).
pub async fn finished_job(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    workspace: &str,
    job: &Value,
) -> anyhow::Result<Value> {
    finished_job_within(
        client,
        server,
        token,
        workspace,
        job,
        Duration::from_secs(120),
    )
    .await
}

/// Follows a background job until it has succeeded or failed, `patience` at most.
pub async fn finished_job_within(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    workspace: &str,
    job: &Value,
    patience: Duration,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let current = graphql(
            client,
            server,
            token,
            "query($ws: ID!, $id: ID!) { backgroundJob(workspaceId: $ws, id: $id) { status result error { code message } } }",
            json!({"ws": workspace, "id": job}),
        )
        .await?["backgroundJob"]
            .clone();
        if current["status"] == "SUCCEEDED" || current["status"] == "FAILED" {
            return Ok(current);
        }
        if started.elapsed() > patience {
            bail!(
                "the job is still {} after {} s",
                current["status"],
                patience.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Cumulative CPU seconds: this process, the server, PostgreSQL backends, the machine.
#[derive(Clone, Copy, Default)]
pub struct CpuSample {
    at: Option<Instant>,
    client: f64,
    server: f64,
    postgres: f64,
    machine_busy: f64,
}

/// Linux `/proc`; clock ticks assumed at the usual 100 Hz.
pub fn process_cpu(stat_path: &Path) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    let (left, right) = text.rsplit_once(')')?;
    let comm = left.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = right.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / 100.0))
}

pub fn sample_cpu(server_pid: u32) -> CpuSample {
    let mut sample = CpuSample {
        at: Some(Instant::now()),
        ..CpuSample::default()
    };
    sample.client = process_cpu(Path::new("/proc/self/stat")).map_or(0.0, |(_, s)| s);
    sample.server =
        process_cpu(&PathBuf::from(format!("/proc/{server_pid}/stat"))).map_or(0.0, |(_, s)| s);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
                && let Some((comm, seconds)) = process_cpu(&entry.path().join("stat"))
                && comm == "postgres"
            {
                sample.postgres += seconds;
            }
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/stat")
        && let Some(line) = stat.lines().next()
    {
        let ticks: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal …
        let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
        let total: f64 = ticks.iter().take(8).sum();
        sample.machine_busy = (total - idle) / 100.0;
    }
    sample
}

impl CpuSample {
    /// Cores used between `self` and `later`: (client, server, postgres, machine).
    pub fn cores_until(&self, later: &CpuSample) -> (f64, f64, f64, f64) {
        let wall = match (self.at, later.at) {
            (Some(t0), Some(t1)) => (t1 - t0).as_secs_f64().max(1e-9),
            _ => f64::INFINITY,
        };
        (
            (later.client - self.client) / wall,
            (later.server - self.server) / wall,
            (later.postgres - self.postgres) / wall,
            (later.machine_busy - self.machine_busy) / wall,
        )
    }
}

/// A one-connection pool for writing seed data straight into the database
/// (set-up, not the code under measurement).
pub async fn seeding_connection(database_url: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    sea_orm::Database::connect(
        sea_orm::ConnectOptions::new(database_url.to_owned())
            .max_connections(1)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("cannot open the seeding connection")
}

/// Rows inserted per statement while seeding: under both backends' limits
/// on bound parameters for the widest seeded table.
pub const SEED_CHUNK: usize = 1_000;

/// Inserts `rows` in statements of `SEED_CHUNK` rows.
pub async fn insert_chunked<A>(
    db: &sea_orm::DatabaseConnection,
    rows: impl IntoIterator<Item = A>,
) -> anyhow::Result<()>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    use sea_orm::EntityTrait;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(SEED_CHUNK).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(db)
            .await
            .context("seeding failed")?;
    }
    Ok(())
}

pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}
