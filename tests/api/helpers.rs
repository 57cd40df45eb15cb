//! One fresh app per test: a random port, a fresh SQLite file or a freshly
//! created PostgreSQL database, dropped afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::http::serve::HttpLimits;
use api::{JwtKeys, Role};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

pub const POSTGRES_ENV: &str = "JORNADA_TEST_POSTGRES_URL";
const JWT_SECRET: &[u8] = b"jornada-test-secret-that-is-long-enough";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's database lives; removed when the app is dropped.
pub enum Store {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Store {
    fn drop(&mut self) {
        match self {
            Store::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Store::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub jwt: JwtKeys,
    pub secrets: entity::SecretKey,
    /// The statements the app sends its database, once a test starts it.
    pub statements: StatementLog,
    /// The app's time: the API and the worker read it; a test moves it.
    pub clock: entity::Clock,
    /// The app's worker, which the test drives ([`TestApp::drain`]) unless
    /// it runs in the background ([`spawn_app_with_worker`]).
    pub worker: worker::Worker,
    /// Whether a worker runs beside the test (in the background or in
    /// another process), so that work is followed, not drained.
    worker_elsewhere: bool,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    background: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Declared last: dropped after the pool is gone.
    _store: Store,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(background) = &self.background {
            background.abort();
        }
    }
}

/// The SQL an app sends its database (API and worker alike), kept while a
/// test has started the log: `start`, do something, `take`.
#[derive(Clone, Default)]
pub struct StatementLog(std::sync::Arc<std::sync::Mutex<Option<Vec<String>>>>);

impl StatementLog {
    /// A log fed by every statement `db` runs; set before the app clones `db`.
    fn recording(db: &mut DatabaseConnection) -> Self {
        let log = StatementLog::default();
        let sink = log.clone();
        db.set_metric_callback(move |info| {
            if let Some(statements) = sink.0.lock().expect("log").as_mut() {
                statements.push(info.statement.sql.clone());
            }
        });
        log
    }

    pub fn start(&self) {
        *self.0.lock().expect("log") = Some(Vec::new());
    }

    /// What was sent since `start`; the log stops.
    pub fn take(&self) -> Vec<String> {
        self.0.lock().expect("log").take().unwrap_or_default()
    }
}

/// The database URL for a new test database of `backend`.
pub async fn fresh_database(backend: Backend) -> (String, Store) {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("jornada-test-{}.db", Uuid::new_v4()));
            (
                format!("sqlite://{}?mode=rwc", path.display()),
                Store::SqliteFile(path),
            )
        }
        Backend::Postgres => {
            let admin_url = std::env::var(POSTGRES_ENV)
                .expect("the PostgreSQL variant runs only when the variable is set");
            let name = format!("jornada_test_{}", Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("{POSTGRES_ENV} is set but PostgreSQL is unreachable: {e}")
            });
            admin
                .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
                .await
                .expect("create the test database");
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin_url);
            (
                format!("{base}/{name}"),
                Store::PostgresDatabase { admin_url, name },
            )
        }
    }
}

/// An app serving the API, whose worker does nothing until the test drives
/// it with [`TestApp::drain`].
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, HttpLimits::default()).await
}

/// Like [`spawn_app`], serving HTTP within `limits`.
pub async fn spawn_app_with(backend: Backend, limits: HttpLimits) -> TestApp {
    spawn(backend, limits, false).await
}

/// An app whose worker runs in the background, as `jornada serve` runs it:
/// for tests about what happens while the worker is busy.
pub async fn spawn_app_with_worker(backend: Backend) -> TestApp {
    spawn(backend, HttpLimits::default(), true).await
}

/// Like [`spawn_app`], allowing browser pages of `origins` to call the API
/// (`JORNADA_CORS_ORIGINS`).
pub async fn spawn_app_with_cors(backend: Backend, origins: &str) -> TestApp {
    let origins = api::http::cors::AllowedOrigins::parse(origins).expect("origins");
    spawn_serving(backend, HttpLimits::default(), false, move |router| {
        api::http::cors::with_cors(router, &origins)
    })
    .await
}

async fn spawn(backend: Backend, limits: HttpLimits, in_background: bool) -> TestApp {
    spawn_serving(backend, limits, in_background, |router| router).await
}

/// A fresh app whose router is served as `serve` makes it.
async fn spawn_serving(
    backend: Backend,
    limits: HttpLimits,
    in_background: bool,
    serve: impl FnOnce(axum::Router) -> axum::Router,
) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        jornada::telemetry::init("text");
    }
    let (url, store) = fresh_database(backend).await;
    let mut db = jornada::connect(&url, 8)
        .await
        .expect("connect to the test database");
    let statements = StatementLog::recording(&mut db);
    jornada::migrate(&db)
        .await
        .expect("migrate the test database");
    let jwt = JwtKeys::new(JWT_SECRET);
    let secrets = entity::SecretKey::parse(&entity::SecretKey::generate_text()).expect("key");
    let work_signals = entity::WorkSignals::for_backend(db.get_database_backend());
    let clock = entity::Clock::system();
    let router = jornada::api_router(
        db.clone(),
        jwt.clone(),
        secrets.clone(),
        work_signals.clone(),
        clock.clone(),
    );
    let worker = worker::Worker {
        db: db.clone(),
        secrets: secrets.clone(),
        signals: work_signals.clone(),
        public_url: "http://jornada.test".into(),
        lease: chrono::Duration::seconds(60),
        clock: clock.clone(),
    };
    let background = in_background.then(|| {
        let worker = worker.clone();
        tokio::spawn(async move {
            worker
                .run(std::future::pending())
                .await
                .map_err(anyhow::Error::from)
        })
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(jornada::serve_http(
        listener,
        serve(router),
        limits,
        std::future::pending(),
    ));
    TestApp {
        worker,
        worker_elsewhere: background.is_some(),
        background,
        clock,
        address,
        client: reqwest::Client::new(),
        db,
        jwt,
        secrets,
        statements,
        server,
        _store: store,
    }
}

/// Whether the PostgreSQL variant of `test` runs: when
/// `JORNADA_TEST_POSTGRES_URL` is set. Without it a developer's run skips
/// the variant with a word; a CI run (`CI` set) fails it, so a missing
/// database never passes as green.
pub fn postgres_runs(test: &str) -> bool {
    if std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI is set but {POSTGRES_ENV} is not; the PostgreSQL run cannot be skipped"
    );
    eprintln!("{test}: {POSTGRES_ENV} is not set; the PostgreSQL run is left to CI");
    false
}

/// Declares `$name::sqlite` and `$name::postgres`, each running `$body(app)`
/// on a fresh app of that backend, made by `$spawn` ([`spawn_app`] unless
/// named, e.g. [`spawn_api_only`] for a test that runs the worker itself).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        $crate::on_both_backends!($name, $body, $crate::helpers::spawn_app);
    };
    ($name:ident, $body:path, $spawn:path) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body($spawn($crate::helpers::Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_runs(stringify!($name)) {
                    return;
                }
                $body($spawn($crate::helpers::Backend::Postgres).await).await;
            }
        }
    };
}

/// A GraphQL answer as a client sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// `data.<field>`, asserting there were no errors.
    pub fn data(&self, field: &str) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"][field]
    }

    /// The `extensions.code` of the first error, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn error_codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn token(&self, role: Role, workspace: Option<Uuid>, read_only: bool) -> String {
        self.jwt.mint(
            role,
            workspace,
            Some("test".into()),
            read_only,
            chrono::Duration::hours(1),
        )
    }

    pub fn service_token(&self) -> String {
        self.token(Role::ServiceRole, None, false)
    }

    pub fn agent_token(&self, workspace: Uuid) -> String {
        self.token(Role::Authenticated, Some(workspace), false)
    }

    pub fn reader_token(&self, workspace: Uuid) -> String {
        self.token(Role::Authenticated, Some(workspace), true)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs a GraphQL operation with an optional bearer token.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        self.post_graphql(token, json!({"query": query, "variables": variables}))
            .await
    }

    pub async fn post_graphql(&self, token: Option<&str>, body: Value) -> Answer {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the app");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// Creates a workspace as service_role and returns its id.
    pub async fn create_workspace(&self, slug: &str) -> Uuid {
        let answer = self
            .graphql(
                Some(&self.service_token()),
                "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }",
                json!({"input": {"name": format!("Workspace {slug}"), "slug": slug}}),
            )
            .await;
        Uuid::parse_str(answer.data("createWorkspace")["id"].as_str().expect("id")).expect("uuid")
    }

    /// Creates a customer in `workspace` as its agent and returns its id.
    pub async fn create_customer(&self, workspace: Uuid, email: &str) -> Uuid {
        let answer = self
            .graphql(
                Some(&self.agent_token(workspace)),
                "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
                json!({"input": {"email": email, "name": "Maria Silva", "phone": "(11) 98765-4321", "tags": ["aluna"]}}),
            )
            .await;
        Uuid::parse_str(answer.data("createCustomer")["id"].as_str().expect("id")).expect("uuid")
    }

    /// Counts rows of a table straight from the database.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }
}

impl TestApp {
    /// POSTs raw bytes to `/graphql` as `application/json`; the body is parsed
    /// as JSON when it is JSON (`Value::Null` otherwise).
    pub async fn post_graphql_raw(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the app");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }
}

/// Helpers for the role, auth and isolation suites.
impl TestApp {
    /// The HS256 secret the app verifies tokens with.
    pub fn jwt_secret(&self) -> &'static [u8] {
        JWT_SECRET
    }

    /// POSTs a GraphQL operation with a raw `Authorization` header value.
    pub async fn graphql_with_authorization(
        &self,
        authorization: &str,
        query: &str,
        variables: Value,
    ) -> Answer {
        let response = self
            .client
            .post(self.url("/graphql"))
            .header(reqwest::header::AUTHORIZATION, authorization)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request reaches the app");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// Inserts an approved Hotmart transaction of `customer` straight into the
    /// database (the API only reads transactions; webhooks write them).
    pub async fn insert_transaction(
        &self,
        workspace: Uuid,
        customer: Uuid,
        product: Option<Uuid>,
        code: &str,
    ) -> Uuid {
        use sea_orm::{ActiveModelTrait, Set};
        let now = chrono::Utc::now();
        let id = Uuid::now_v7();
        entity::transaction::ActiveModel {
            id: Set(id),
            workspace_id: Set(workspace),
            code: Set(code.to_owned()),
            customer_id: Set(customer),
            product_id: Set(product),
            offer_id: Set(None),
            subscription_id: Set(None),
            status: Set("APPROVED".to_owned()),
            amount: Set(sea_orm::prelude::Decimal::new(19700, 2)),
            currency: Set("BRL".to_owned()),
            payment_method: Set(Some("PIX".to_owned())),
            installments: Set(Some(1)),
            purchased_at: Set(Some(now)),
            approved_at: Set(Some(now)),
            refunded_at: Set(None),
            warranty_ends_at: Set(None),
            billet_url: Set(None),
            pix_code: Set(None),
            src: Set(None),
            sck: Set(None),
            xcod: Set(None),
            commission_type: Set(None),
            recurrence_number: Set(None),
            last_event_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .expect("insert a transaction");
        id
    }
}

impl TestApp {
    /// Runs the worker until no work due by the app's clock is left (as
    /// the workers would, without waiting for them) and says what it did.
    pub async fn drain(&self) -> worker::Drained {
        self.worker
            .drain()
            .await
            .expect("the worker works off its work")
    }

    /// Moves the app's clock forward by `by`, then drains what fell due.
    pub async fn advance(&self, by: chrono::Duration) -> worker::Drained {
        self.clock.advance(by);
        self.drain().await
    }

    /// Moves the app's clock forward to `at` (where it is not there yet: a
    /// slow test may have reached it already), then drains what fell due.
    pub async fn advance_to(&self, at: chrono::DateTime<chrono::Utc>) -> worker::Drained {
        let ahead = at - self.clock.now();
        if ahead > chrono::Duration::zero() {
            self.clock.advance(ahead);
        }
        self.drain().await
    }

    /// The background job once it has succeeded or failed, read as a client
    /// does, by `backgroundJob(id)`: after running the worker until it is
    /// idle, or, where a worker runs beside the test, once that worker has
    /// finished it (followed for up to two minutes).
    pub async fn finished_job(&self, token: &str, job: &Value) -> Value {
        const QUERY: &str = "query($id: ID!) { backgroundJob(id: $id) {
            id kind status input progress result error { code message } attempts createdAt startedAt finishedAt } }";
        let finished = |job: &Value| job["status"] == "SUCCEEDED" || job["status"] == "FAILED";
        if !self.worker_elsewhere {
            self.drain().await;
        }
        let started = Instant::now();
        loop {
            let answer = self
                .graphql(Some(token), QUERY, json!({"id": job["id"]}))
                .await;
            let current = answer.data("backgroundJob").clone();
            if finished(&current) {
                return current;
            }
            assert!(
                self.worker_elsewhere && started.elapsed() < Duration::from_secs(120),
                "the job is still {}",
                current["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Creates a campaign of the workspace from a React Flow `document` and
    /// publishes it, as its agent; returns the campaign's id.
    pub async fn published_campaign(&self, workspace: Uuid, name: &str, document: Value) -> String {
        let agent = self.agent_token(workspace);
        let created = self
            .graphql(
                Some(&agent),
                "mutation($name: String!, $doc: JSON!) { createCampaign(input: {name: $name, workflowData: $doc}) { id } }",
                json!({"name": name, "doc": document}),
            )
            .await;
        let campaign = created.data("createCampaign")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let published = self
            .graphql(
                Some(&agent),
                "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
                json!({"id": campaign}),
            )
            .await;
        assert_eq!(published.data("publishCampaign")["status"], "ACTIVE");
        campaign
    }

    /// Asserts the app still answers a query, after whatever it was put through.
    pub async fn assert_serving(&self) {
        let alive = self.graphql(None, "{ __typename }", json!({})).await;
        assert_eq!(alive.data("__typename"), "Query", "the app still serves");
    }

    /// Counts rows of a table matching a condition written by the test.
    pub async fn count_where(&self, table: &str, condition: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}"),
            ))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }
}

/// An app serving only the API, as `jornada api` does: no worker in this
/// process, so a test can run the worker elsewhere (a child `jornada worker`).
pub struct ApiOnlyApp {
    pub app: TestApp,
    /// The test database's URL (`JORNADA_DATABASE_URL` of a child worker).
    pub database_url: String,
    /// The settings key as text (`JORNADA_SECRET_KEY` of a child worker).
    pub secret_key_text: String,
}

/// Like [`spawn_app`], without the in-process worker.
pub async fn spawn_api_only(backend: Backend) -> ApiOnlyApp {
    if std::env::var("TEST_LOG").is_ok() {
        jornada::telemetry::init("text");
    }
    let (database_url, store) = fresh_database(backend).await;
    let mut db = jornada::connect(&database_url, 8)
        .await
        .expect("connect to the test database");
    let statements = StatementLog::recording(&mut db);
    jornada::migrate(&db)
        .await
        .expect("migrate the test database");
    let jwt = JwtKeys::new(JWT_SECRET);
    let secret_key_text = entity::SecretKey::generate_text();
    let secrets = entity::SecretKey::parse(&secret_key_text).expect("key");
    // Announces stored work to a worker in another process, as `jornada api` does.
    let clock = entity::Clock::system();
    let signals = entity::WorkSignals::across_processes(&db);
    let router = jornada::api_router(
        db.clone(),
        jwt.clone(),
        secrets.clone(),
        signals.clone(),
        clock.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(jornada::serve_http(
        listener,
        router,
        HttpLimits::default(),
        std::future::pending(),
    ));
    ApiOnlyApp {
        app: TestApp {
            // The worker runs in another process; this one is never started.
            worker: worker::Worker {
                db: db.clone(),
                secrets: secrets.clone(),
                signals,
                public_url: "http://jornada.test".into(),
                lease: chrono::Duration::seconds(60),
                clock: clock.clone(),
            },
            background: None,
            worker_elsewhere: true,
            clock,
            address,
            client: reqwest::Client::new(),
            db,
            jwt,
            secrets,
            statements,
            server,
            _store: store,
        },
        database_url,
        secret_key_text,
    }
}

/// A `jornada worker` child process over the test database.
pub struct ChildWorker {
    child: Child,
    log: PathBuf,
}

impl ChildWorker {
    pub fn spawn(api: &ApiOnlyApp, dir: &Path, life: usize) -> Self {
        let log = dir.join(format!("worker-{life}.log"));
        let stderr = std::fs::File::create(&log).expect("worker log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_jornada"));
        for (key, _) in std::env::vars() {
            if key.starts_with("JORNADA_") {
                command.env_remove(key);
            }
        }
        let child = command
            .arg("worker")
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .env("JORNADA_DATABASE_URL", &api.database_url)
            .env("JORNADA_SECRET_KEY", &api.secret_key_text)
            .env("JORNADA_WORKER_LEASE_SECONDS", "2")
            .env("JORNADA_DATA_DIR", dir.join("data"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("jornada worker starts");
        Self { child, log }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// SIGKILL, then reap it.
    pub fn kill(mut self) {
        self.signal("-KILL");
        self.child.wait().expect("reap the killed worker");
    }

    /// SIGTERM; true when it exited on its own with status 0.
    pub async fn terminate(mut self) -> bool {
        self.signal("-TERM");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        // A failed assertion must not leave a worker behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
