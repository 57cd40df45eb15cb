//! The `jornada` binary as an operator meets it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use api::JwtKeys;
use uuid::Uuid;

use crate::helpers::{Backend, fresh_database, postgres_runs};

fn jornada(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jornada"));
    command.current_dir(dir).env("RUST_LOG", "warn");
    for (key, _) in std::env::vars() {
        if key.starts_with("JORNADA_") {
            command.env_remove(key);
        }
    }
    command
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jornada-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(command: &mut Command) -> (bool, String, String) {
    let out = command.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn schema_graphql_is_what_the_binary_prints() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql is checked in");
    assert_eq!(
        api::sdl(),
        checked_in,
        "schema.graphql drifted: run `cargo run -- schema > schema.graphql`"
    );
    let (ok, printed, _) = run(jornada(&scratch_dir()).arg("schema"));
    assert!(ok);
    assert_eq!(printed, checked_in);
}

#[test]
fn token_mints_with_the_persisted_development_secret() {
    let dir = scratch_dir();
    let workspace = Uuid::new_v4();
    let (ok, token, _) = run(jornada(&dir).args([
        "token",
        "--role",
        "authenticated",
        "--workspace",
        &workspace.to_string(),
        "--ttl",
        "2h",
        "--read-only",
    ]));
    assert!(ok);
    let secret = std::fs::read_to_string(dir.join(".jornada/jwt_secret"))
        .expect("development secret persisted");
    let caller = JwtKeys::new(secret.trim().as_bytes())
        .verify(token.trim())
        .expect("the minted token verifies");
    assert_eq!(caller.workspace_id, Some(workspace));
    assert!(caller.read_only);

    let (ok, _, stderr) = run(jornada(&dir).args(["token", "--role", "authenticated"]));
    assert!(!ok, "authenticated without a workspace is refused");
    assert!(stderr.contains("--workspace"), "{stderr}");
    let (ok, service, _) =
        run(jornada(&dir).args(["token", "--role", "service_role", "--sub", "bi"]));
    assert!(ok, "service_role is written as in the token");
    let caller = JwtKeys::new(secret.trim().as_bytes())
        .verify(service.trim())
        .expect("verifies");
    assert_eq!(caller.role, api::Role::ServiceRole);
    let (ok, _, _) = run(jornada(&dir).args(["token", "--role", "admin"]));
    assert!(!ok, "unknown roles are refused");
    let (ok, _, _) =
        run(jornada(&dir).args(["token", "--role", "service_role", "--ttl", "forever"]));
    assert!(!ok, "bad ttl is refused");
    std::fs::remove_dir_all(dir).ok();
}

/// `jornada demo` on a fresh SQLite file: it fills, prints what a person
/// needs to look (a token that verifies for the workspace, the GraphiQL
/// address, the sandbox note), and a second run changes nothing.
#[test]
fn demo_fills_once_and_prints_a_token_and_graphiql() {
    let dir = scratch_dir();
    let demo = || {
        let mut command = jornada(&dir);
        command.args(["demo", "--customers", "12", "--days", "30"]);
        run(&mut command)
    };
    let (ok, printed, stderr) = demo();
    assert!(ok, "{stderr}");
    assert!(printed.contains("Escola Demo is ready"), "{printed}");
    assert!(printed.contains("12 customers"), "{printed}");
    assert!(
        printed.contains("local sandbox, never to Meta"),
        "{printed}"
    );
    assert!(
        printed.contains("http://127.0.0.1:8080/graphql"),
        "{printed}"
    );
    let token = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("token:"))
        .expect("a token line")
        .trim();
    let secret = std::fs::read_to_string(dir.join(".jornada/jwt_secret")).expect("secret");
    let caller = JwtKeys::new(secret.trim().as_bytes())
        .verify(token)
        .expect("the printed token verifies");
    assert_eq!(caller.role, api::Role::Authenticated);
    let workspace = caller.workspace_id.expect("a workspace").to_string();
    assert!(printed.contains(&workspace), "{printed}");

    let (ok, again, stderr) = demo();
    assert!(ok, "{stderr}");
    assert!(again.contains("already filled; nothing changed"), "{again}");
    assert!(again.contains(&workspace), "the same workspace: {again}");
    let holds = |text: &str| {
        text.lines()
            .find(|l| l.contains("holds:"))
            .map(str::to_owned)
    };
    assert_eq!(holds(&again), holds(&printed));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn token_refuses_to_mint_past_the_lifetime_a_role_allows() {
    let dir = scratch_dir();
    let workspace = Uuid::new_v4().to_string();
    let agent = |ttl: &str| {
        [
            "token",
            "--role",
            "authenticated",
            "--workspace",
            &workspace,
            "--ttl",
            ttl,
        ]
        .map(str::to_owned)
    };
    let (ok, _, stderr) = run(jornada(&dir).args(agent("31d")));
    assert!(!ok, "31 days for a person's token");
    assert!(stderr.contains("JORNADA_JWT_MAX_TTL"), "{stderr}");
    assert!(run(jornada(&dir).args(agent("30d"))).0);
    let service = |ttl: &str| ["token", "--role", "service_role", "--ttl", ttl].map(str::to_owned);
    assert!(
        run(jornada(&dir).args(service("3650d"))).0,
        "a service's token is unbounded by default"
    );
    let (ok, _, stderr) = run(jornada(&dir)
        .env("JORNADA_JWT_MAX_TTL", "12h")
        .args(service("13h")));
    assert!(!ok, "bounded once configured");
    assert!(stderr.contains("12 hours"), "{stderr}");
    assert!(
        run(jornada(&dir)
            .env("JORNADA_JWT_MAX_TTL", "43200")
            .args(service("12h")))
        .0,
        "the bound may be given in seconds"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn migrate_up_status_and_down() {
    let dir = scratch_dir();
    let status = |dir: &Path| run(jornada(dir).args(["migrate", "status"])).1;
    let (ok, _, _) = run(jornada(&dir).args(["migrate", "up"]));
    assert!(ok);
    let applied = status(&dir);
    assert_eq!(applied.lines().count(), jornada::migration_names().len());
    assert!(
        applied.lines().all(|l| l.starts_with("Applied")),
        "{applied}"
    );
    let (ok, _, _) = run(jornada(&dir).args(["migrate", "down", "--steps", "2"]));
    assert!(ok);
    assert_eq!(
        status(&dir)
            .lines()
            .filter(|l| l.starts_with("Pending"))
            .count(),
        2
    );
    let (ok, _, _) = run(jornada(&dir).arg("migrate"));
    assert!(ok, "plain `migrate` applies what is pending");
    assert!(status(&dir).lines().all(|l| l.starts_with("Applied")));
    std::fs::remove_dir_all(dir).ok();
}

/// Starts `jornada` (no subcommand: serve) on a free port and returns it with its base URL.
fn start_serving(dir: &Path, database_url: Option<&str>) -> (Child, String) {
    let mut command = jornada(dir);
    command
        .env("JORNADA_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.env("JORNADA_DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("jornada starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("jornada prints where it listens")
            .expect("utf-8");
        if let Some(url) = line.strip_prefix("jornada is listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn stop_gracefully(mut child: Child) -> bool {
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    false
}

async fn assert_healthy(client: &reqwest::Client, base: &str) {
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
}

async fn serve_smoke(dir: &Path, database_url: Option<&str>) {
    let (child, base) = start_serving(dir, database_url);
    let client = reqwest::Client::new();
    assert_healthy(&client, &base).await;
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "serve migrates before it is ready");
    let graphiql = client
        .get(format!("{base}/graphql"))
        .send()
        .await
        .expect("graphiql");
    assert!(
        graphiql
            .text()
            .await
            .expect("html")
            .to_lowercase()
            .contains("graphiql")
    );
    assert!(
        stop_gracefully(child),
        "SIGTERM stops jornada with exit code 0"
    );
}

#[tokio::test]
async fn a_fresh_run_with_no_configuration_serves_graphiql_on_sqlite() {
    let dir = scratch_dir();
    serve_smoke(&dir, None).await;
    assert!(
        dir.join("jornada.db").exists(),
        "the embedded default database is created"
    );
    assert!(
        dir.join(".jornada/secret_key").exists(),
        "a development settings key is persisted"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn serves_on_postgresql() {
    if !postgres_runs("serves_on_postgresql") {
        return;
    }
    let (url, _store) = fresh_database(Backend::Postgres).await;
    let dir = scratch_dir();
    serve_smoke(&dir, Some(&url)).await;
    std::fs::remove_dir_all(dir).ok();
}

/// The pool's connections to PostgreSQL send each statement at once: a
/// batch statement longer than one TCP segment never waits for the server's
/// delayed acknowledgement (Nagle's algorithm is off on their sockets).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_connections_send_without_delay() {
    use sea_orm::ConnectionTrait;
    if !postgres_runs("database_connections_send_without_delay") {
        return;
    }
    let (url, _store) = fresh_database(Backend::Postgres).await;
    let db = jornada::connect(&url, 1).await.expect("connect");
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT inet_client_port() AS port",
        ))
        .await
        .expect("query")
        .expect("a row");
    let port: i32 = row.try_get("", "port").expect("port");
    let mut found = None;
    for descriptor in std::fs::read_dir("/proc/self/fd")
        .expect("descriptors")
        .flatten()
    {
        let Some(fd) = descriptor
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<std::os::fd::RawFd>().ok())
        else {
            continue;
        };
        if !std::fs::read_link(descriptor.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        {
            continue;
        }
        // SAFETY: borrowed for two socket-option reads while the pool keeps
        // its connection open; a descriptor closed meanwhile only fails them.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        if local.is_some_and(|a| i32::from(a.port()) == port) {
            found = Some(socket.tcp_nodelay().expect("TCP_NODELAY"));
        }
    }
    assert_eq!(
        found,
        Some(true),
        "the pool's socket (port {port}) sends without delay"
    );
    db.close().await.expect("close");
}

/// The request that aborted `jornada serve` (a list literal nested 2,000
/// deep), a hundred times over, in a few shapes: each is answered 400 and
/// the process goes on serving, worker and all.
async fn the_process_survives_a_hundred_query_bombs(database_url: Option<&str>) {
    let dir = scratch_dir();
    let (mut child, base) = start_serving(&dir, database_url);
    let client = reqwest::Client::new();
    let bombs = (0..100).map(|i| {
        let depth = 2_000 + 37 * i;
        let body = match i % 3 {
            0 => crate::deep_input::nested_list_query(depth),
            1 => serde_json::json!({"query": format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth))}),
            _ => serde_json::json!({"query": format!("{{ customers(filter: {}1{}) {{ totalCount }} }}", "{search: ".repeat(depth), "}".repeat(depth))}),
        };
        let request = client.post(format!("{base}/graphql")).json(&body).send();
        async move {
            let response = request.await.expect("the server answers every bomb");
            let status = response.status();
            let body: serde_json::Value = response.json().await.expect("a JSON body");
            (status, body)
        }
    });
    for (status, body) in futures::future::join_all(bombs).await {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "jornada is still running"
    );
    assert_healthy(&client, &base).await;
    let answer: serde_json::Value = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["data"]["__typename"], "Query");
    assert!(stop_gracefully(child), "SIGTERM still stops it cleanly");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_process_survives_a_hundred_query_bombs_on_sqlite() {
    the_process_survives_a_hundred_query_bombs(None).await;
}

#[tokio::test]
async fn the_process_survives_a_hundred_query_bombs_on_postgresql() {
    if !postgres_runs("the_process_survives_a_hundred_query_bombs_on_postgresql") {
        return;
    }
    let (url, _store) = fresh_database(Backend::Postgres).await;
    the_process_survives_a_hundred_query_bombs(Some(&url)).await;
}

/// A first run with nothing configured says only what concerns the user's
/// setup, in plain text when its output is not a terminal.
#[test]
fn a_fresh_run_logs_no_stray_warnings_and_no_colour_codes() {
    let dir = scratch_dir();
    let out = jornada(&dir)
        .env("RUST_LOG", "info")
        .args(["migrate", "up"])
        .output()
        .expect("jornada migrate runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a log that goes to a pipe: {stderr:?}"
    );
    assert!(
        !stderr.contains("unrecognized connect parameter"),
        "the SQLite URL was read as a PostgreSQL one: {stderr}"
    );
    assert!(
        dir.join("jornada.db").exists(),
        "the default database is made"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The apalis workers a `jornada worker` on SQLite runs, by the names its
/// log gives them (the job queue's worker is named per process).
const WORKERS: &[&str] = &[
    "webhook-applier-0 ",
    "domain-event-dispatcher-0 ",
    "campaign-runner-0 ",
    "dispatch-sender ",
    "background-jobs-",
    "background-job-recovery ",
    "segment-refresh ",
    "hotmart-sync ",
    "campaign-schedules ",
    "automation-scans ",
    "campaign-metrics ",
];

/// Every background activity starts as a named worker on the Monitor, and
/// a SIGTERM stops them all, cleanly, within the grace period.
#[test]
fn the_worker_starts_every_named_worker_and_stops_them_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = scratch_dir();
    let (migrated, _, stderr) = run(jornada(&dir).args(["migrate", "up"]));
    assert!(migrated, "{stderr}");
    let mut child = jornada(&dir)
        .env("RUST_LOG", "info")
        .arg("worker")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("jornada worker starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let started = std::time::Instant::now();
    let started_all = |seen: &str| {
        WORKERS.iter().all(|name| {
            seen.lines()
                .any(|line| line.contains(&format!("Worker {name}")) && line.contains("started"))
        })
    };
    while !started_all(&seen) {
        let line = log
            .recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("not every worker started; the log:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(stop_gracefully(child), "SIGTERM stops the worker with 0");
    // The process has exited: its log ends, and so does the channel.
    let rest: Vec<String> = log.iter().collect();
    assert!(
        rest.iter().any(|line| line.contains("worker stopped")),
        "the worker says it stopped: {rest:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}
