//! Arbitrary bytes → `POST /graphql`, through the whole router, on a tokio
//! worker thread with the stack `jornada serve` runs on (tokio's 2 MiB):
//! whatever a client sends, jornada answers with JSON and never with a 5xx.
//! A panic anywhere (even one `CatchPanicLayer` would turn into a 500) and a
//! stack overflow are crashes.
//!
//! The input's first byte picks the caller: no `Authorization` header
//! (anon), an agent of the fuzz workspace, a read-only agent of it, or
//! service_role. The rest is the request body, sent as JSON.
//!
//! The database is a SQLite file in the temporary directory, created and
//! migrated once per fuzzing process and removed when it exits normally;
//! `JORNADA_FUZZ_DATABASE_URL` names another one (say, a PostgreSQL
//! database) instead.

#![no_main]

use std::path::PathBuf;
use std::sync::{LazyLock, OnceLock};

use api::{JwtKeys, Role};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const JWT_SECRET: &[u8] = b"jornada-fuzz-secret-that-is-long-enough";
/// A tokio worker thread's stack unless configured otherwise; `jornada
/// serve` (`#[tokio::main]`) keeps it.
const WORKER_STACK: usize = 2 * 1024 * 1024;
/// The pool `jornada serve` opens by default.
const MAX_CONNECTIONS: u32 = 16;

/// Who sends a request, picked by the input's first byte.
const CALLERS: [Caller; 4] = [Caller::Anon, Caller::Agent, Caller::Reader, Caller::Service];

#[derive(Debug, Clone, Copy)]
enum Caller {
    /// No `Authorization` header.
    Anon,
    /// An authenticated token for the fuzz workspace.
    Agent,
    /// A read-only authenticated token for the fuzz workspace.
    Reader,
    /// A service_role token.
    Service,
}

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
    jwt: JwtKeys,
    workspace: Uuid,
}

static APP: LazyLock<App> = LazyLock::new(App::start);

/// The SQLite file this process created, removed at exit.
static DATABASE_FILE: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_database_file() {
    if let Some(path) = DATABASE_FILE.get() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

fn database_url() -> String {
    if let Ok(url) = std::env::var("JORNADA_FUZZ_DATABASE_URL") {
        return url;
    }
    let path = std::env::temp_dir().join(format!(
        "jornada-fuzz-{}-{}.db",
        std::process::id(),
        Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    if DATABASE_FILE.set(path).is_ok() {
        // SAFETY: registers a plain function without arguments; libFuzzer
        // leaves through `exit`, which runs it.
        unsafe { libc::atexit(remove_database_file) };
    }
    url
}

impl App {
    fn start() -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_stack_size(WORKER_STACK)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let jwt = JwtKeys::new(JWT_SECRET);
        let url = database_url();
        let router = runtime.block_on(async {
            let db = jornada::connect(&url, MAX_CONNECTIONS)
                .await
                .expect("connect to the fuzz database");
            jornada::migrate(&db)
                .await
                .expect("migrate the fuzz database");
            let secrets =
                entity::SecretKey::parse(&entity::SecretKey::generate_text()).expect("secret key");
            jornada::api_router(db, jwt.clone(), secrets, worker::WorkQueue::default())
        });
        let service = authorization(&jwt, Role::ServiceRole, None, false);
        let body = json!({
            "query": "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }",
            "variables": {"input": {"name": "Fuzz", "slug": format!("fuzz-{}", Uuid::new_v4().simple())}},
        });
        let (status, answer) = send(
            &runtime,
            &router,
            Some(&service),
            Bytes::from(body.to_string()),
        );
        let workspace = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| {
                v["data"]["createWorkspace"]["id"]
                    .as_str()?
                    .parse::<Uuid>()
                    .ok()
            })
            .unwrap_or_else(|| {
                panic!(
                    "createWorkspace answered {status}: {}",
                    String::from_utf8_lossy(&answer)
                )
            });
        let app = App {
            runtime,
            router,
            jwt,
            workspace,
        };
        // Every caller's token must be accepted, or the fuzzer would only
        // ever meet the 401 that refuses it.
        for caller in CALLERS {
            let body = Bytes::from_static(br#"{"query":"{ __typename }"}"#);
            let (status, answer) = send(
                &app.runtime,
                &app.router,
                app.authorization(caller).as_deref(),
                body,
            );
            assert_eq!(
                status,
                StatusCode::OK,
                "{caller:?} is refused: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        app
    }

    /// The `Authorization` header `caller` sends, minted afresh so that
    /// tokens neither expire during a long run nor outlive the lifetime
    /// jornada allows their role.
    fn authorization(&self, caller: Caller) -> Option<String> {
        match caller {
            Caller::Anon => None,
            Caller::Agent => Some(authorization(
                &self.jwt,
                Role::Authenticated,
                Some(self.workspace),
                false,
            )),
            Caller::Reader => Some(authorization(
                &self.jwt,
                Role::Authenticated,
                Some(self.workspace),
                true,
            )),
            Caller::Service => Some(authorization(&self.jwt, Role::ServiceRole, None, false)),
        }
    }
}

fn authorization(jwt: &JwtKeys, role: Role, workspace: Option<Uuid>, read_only: bool) -> String {
    let ttl = chrono::Duration::hours(1);
    let token = jwt.mint(role, workspace, Some("fuzz".into()), read_only, ttl);
    format!("Bearer {token}")
}

/// Sends `POST /graphql` with `body` through a clone of `router`, on the
/// runtime's worker thread, and reads the whole answer.
fn send(
    runtime: &tokio::runtime::Runtime,
    router: &Router,
    authorization: Option<&str>,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let request = request.body(Body::from(body)).expect("request");
    let router = router.clone();
    let task = runtime.spawn(async move {
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("read the response body");
        (status, body)
    });
    runtime.block_on(task).expect("the request task failed")
}

fuzz_target!(|data: &[u8]| {
    let Some((&who, body)) = data.split_first() else {
        return;
    };
    let app = &*APP;
    let caller = CALLERS[usize::from(who) % CALLERS.len()];
    let (status, answer) = send(
        &app.runtime,
        &app.router,
        app.authorization(caller).as_deref(),
        Bytes::copy_from_slice(body),
    );
    assert!(
        !status.is_server_error(),
        "POST /graphql answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        serde_json::from_slice::<Value>(&answer).is_ok(),
        "POST /graphql answered {status} with a body that is not JSON: {}",
        String::from_utf8_lossy(&answer)
    );
});
