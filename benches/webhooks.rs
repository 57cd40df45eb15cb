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

use std::collections::BTreeMap;
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const JWT_SECRET: &str = "jornada-bench-jwt-secret-that-is-long-enough";
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

struct Settings {
    seconds: u64,
    connections: usize,
    postgres_url: String,
    backends: Vec<Backend>,
    drain_timeout: Duration,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let number = |key: &str, default: u64| -> anyhow::Result<u64> {
            match std::env::var(key) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{key} must be a positive integer")),
                _ => Ok(default),
            }
        };
        let backends = std::env::var("JORNADA_BENCH_BACKENDS")
            .unwrap_or_else(|_| "postgres,sqlite".into())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "postgres" | "postgresql" => Ok(Backend::Postgres),
                "sqlite" => Ok(Backend::Sqlite),
                other => bail!("JORNADA_BENCH_BACKENDS: unknown backend `{other}`"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Settings {
            seconds: number("JORNADA_BENCH_SECONDS", 10)?,
            connections: usize::try_from(number("JORNADA_BENCH_CONNECTIONS", 64)?)?,
            postgres_url: std::env::var("JORNADA_BENCH_POSTGRES_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_POSTGRES_URL.into()),
            backends,
            drain_timeout: Duration::from_secs(number("JORNADA_BENCH_DRAIN_SECONDS", 600)?),
        })
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and
    // a minute-long load has no place in a test run.
    if !std::env::args().any(|a| a == "--bench") {
        println!("webhooks: skipped (run it with `cargo bench --bench webhooks`)");
        return Ok(());
    }
    let settings = Settings::from_env()?;
    let binary = build_binary()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut failed = false;
    for &backend in &settings.backends {
        if let Err(err) = runtime.block_on(bench_backend(&settings, &binary, backend)) {
            eprintln!("webhooks {}: FAILED: {err:#}", backend.name());
            failed = true;
        }
    }
    if failed {
        bail!("at least one backend failed");
    }
    Ok(())
}

/// `cargo build --release --bin jornada`, returning the executable's path.
fn build_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut command = Command::new(cargo);
    // Cargo gives this process the bench's package variables (CARGO_PKG_*,
    // CARGO_MANIFEST_DIR, OUT_DIR, …). Build scripts such as ring's track
    // some of them, so passing them on would rebuild half the dependency
    // tree here and again at the next `cargo bench`.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_for_this_run = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CFG_"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref());
        if set_by_cargo_for_this_run {
            command.env_remove(key.as_ref());
        }
    }
    let output = command
        .args(["build", "--release", "--bin", "jornada"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo build --release --bin jornada failed");
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "jornada")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .context("cargo did not report the jornada executable")
}

/// A database made for one run, removed when dropped.
enum Store {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl Drop for Store {
    fn drop(&mut self) {
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
fn database_url(admin_url: &str, name: &str) -> String {
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

async fn fresh_database(settings: &Settings, backend: Backend) -> anyhow::Result<(String, Store)> {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("jornada-bench-{}.db", Uuid::new_v4()));
            Ok((
                format!("sqlite://{}?mode=rwc", path.display()),
                Store::Sqlite(path),
            ))
        }
        Backend::Postgres => {
            let admin_url = settings.postgres_url.clone();
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
struct Server {
    child: Child,
    address: SocketAddr,
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

    fn spawn(binary: &Path, database_url: &str) -> anyhow::Result<Self> {
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

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A service_role token from `jornada token`, run with the server's
    /// environment. The README spells the role `service_role`; clap's
    /// default for the enum is `service-role`, so both are tried.
    fn service_token(&self, binary: &Path, database_url: &str) -> anyhow::Result<String> {
        let mut refusals = Vec::new();
        for role in ["service_role", "service-role"] {
            let out = Self::command(binary, &self.dir, database_url, &self.address.to_string())
                .args(["token", "--role", role, "--ttl", "2h"])
                .output()
                .context("cannot run jornada token")?;
            if out.status.success() {
                if role != "service_role" {
                    eprintln!(
                        "note: `jornada token --role service_role` was refused; used `{role}`"
                    );
                }
                return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
            }
            refusals.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        bail!("jornada token failed: {}", refusals.join("\n"))
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
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

    fn log_lines(&self) -> Vec<String> {
        File::open(&self.log)
            .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
            .unwrap_or_default()
    }

    fn log_tail(&self, n: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGTERM, then wait (the worker gets 30 s to finish); SIGKILL after 45 s.
    fn stop(&mut self) -> Option<Duration> {
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

fn secret_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn free_address() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

async fn graphql(
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
        let head = format!(
            "POST /webhooks/hotmart/{SLUG} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\nx-hotmart-hottok: {HOTTOK}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let bytes = [head.as_bytes(), body.as_bytes()].concat();
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

/// A keep-alive HTTP/1.1 connection that sends one request at a time.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    filled: usize,
}

impl Connection {
    async fn open(address: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: vec![0; 16 * 1024],
            filled: 0,
        })
    }

    /// Sends `request` and reads the whole response; `Err` means the
    /// connection is unusable.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<Outcome> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((head_len, status, body_len, close)) =
                parse_head(&self.buffer[..self.filled])?
            {
                let total = head_len + body_len;
                if total > self.buffer.len() {
                    self.buffer.resize(total, 0);
                }
                while self.filled < total {
                    self.read_more().await?;
                }
                let body = &self.buffer[head_len..total];
                let outcome = match status {
                    200 if contains(body, b"\"duplicate\"") => Outcome::Duplicate,
                    200 => Outcome::Accepted,
                    other => Outcome::Status(other),
                };
                self.buffer.copy_within(total..self.filled, 0);
                self.filled -= total;
                if close {
                    return Err(std::io::Error::other("the server closed the connection"));
                }
                return Ok(outcome);
            }
            if self.filled == self.buffer.len() {
                return Err(std::io::Error::other("response head too large"));
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        let n = self.stream.read(&mut self.buffer[self.filled..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.filled += n;
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `(head length, status, content length, connection: close)` once the head
/// is complete. Responses without a content-length are treated as broken.
fn parse_head(data: &[u8]) -> std::io::Result<Option<(usize, u16, usize, bool)>> {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let head = std::str::from_utf8(&data[..end]).map_err(|_| bad("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let (mut length, mut close) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let length = length.ok_or_else(|| bad("no content-length"))?;
    Ok(Some((end + 4, status, length, close)))
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
            Ok(Ok(outcome)) => {
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

/// Cumulative CPU seconds: this process, the server, PostgreSQL backends, the machine.
#[derive(Clone, Copy, Default)]
struct CpuSample {
    at: Option<Instant>,
    client: f64,
    server: f64,
    postgres: f64,
    machine_busy: f64,
}

/// Linux `/proc`; clock ticks assumed at the usual 100 Hz.
fn process_cpu(stat_path: &Path) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    let (left, right) = text.rsplit_once(')')?;
    let comm = left.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = right.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / 100.0))
}

fn sample_cpu(server_pid: u32) -> CpuSample {
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
    fn cores_until(&self, later: &CpuSample) -> (f64, f64, f64, f64) {
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

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let (database_url, _store) = fresh_database(settings, backend).await?;
    if backend == Backend::Postgres {
        insert_ceiling(&database_url, settings.connections).await?;
    }
    let client = reqwest::Client::new();
    let mut server = Server::spawn(binary, &database_url)?;
    server.wait_ready(&client).await?;
    let token = server.service_token(binary, &database_url)?;

    let workspace = graphql(
        &client,
        &server,
        &token,
        "mutation($slug: String!) { createWorkspace(input: {name: \"Bench\", slug: $slug}) { id } }",
        json!({"slug": SLUG}),
    )
    .await?["createWorkspace"]["id"]
        .as_str()
        .context("createWorkspace returned no id")?
        .to_owned();
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
    if !matches!(probe.exchange(&request).await?, Outcome::Accepted) {
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
    let expected = stats.stored() + 1;
    let mut processed_at_load_end = None;
    let drained = loop {
        let counts = status_counts(&observer).await?;
        let n = |status: &str| counts.get(status).copied().unwrap_or(0);
        let (processed, received, failed, dead, ignored) = (
            n("processed"),
            n("received"),
            n("failed"),
            n("dead"),
            n("ignored"),
        );
        processed_at_load_end.get_or_insert(processed);
        let settled = processed + dead + ignored >= expected && received + failed == 0;
        if settled || load_end.elapsed() > settings.drain_timeout {
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
