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
//! A stack overflow is reported like any crash, its input saved, with or
//! without AddressSanitizer (`cargo fuzz run -s none`): see
//! [`alternate_signal_stack`].
//!
//! `JORNADA_FUZZ_PRINT=1` prints each request's caller, status and answer,
//! e.g. to read what the seeds or a crashing input do:
//! `target/x86_64-unknown-linux-gnu/release/graphql_request seeds/graphql_request/*`.
//!
//! The database is a SQLite file in the temporary directory, created and
//! migrated once per fuzzing process and removed when it exits normally
//! (after a crash, by the next process); `JORNADA_FUZZ_DATABASE_URL` names
//! another one (say, a PostgreSQL database) instead.

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
    /// `JORNADA_FUZZ_PRINT` is set.
    print: bool,
}

static APP: LazyLock<App> = LazyLock::new(App::start);

/// How the SQLite files of fuzzing processes are named in the temporary
/// directory: this, the process id, `-`, a random suffix.
const DATABASE_PREFIX: &str = "jornada-fuzz-";

/// The SQLite file this process created, removed at exit.
static DATABASE_FILE: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_database_file() {
    if let Some(path) = DATABASE_FILE.get() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

/// Removes the SQLite files of fuzzing processes that are gone: a crash
/// leaves through `_exit`, past `remove_database_file`.
fn remove_stale_database_files(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DATABASE_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn database_url() -> String {
    if let Ok(url) = std::env::var("JORNADA_FUZZ_DATABASE_URL") {
        return url;
    }
    let dir = std::env::temp_dir();
    remove_stale_database_files(&dir);
    let path = dir.join(format!(
        "{DATABASE_PREFIX}{}-{}.db",
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
        alternate_signal_stack::handle_segv_on_it();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_stack_size(WORKER_STACK)
            .on_thread_start(alternate_signal_stack::install)
            .on_thread_stop(alternate_signal_stack::remove)
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
            jornada::api_router(
                db,
                jwt.clone(),
                secrets,
                entity::WorkSignals::default(),
                entity::Clock::system(),
            )
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
            print: std::env::var_os("JORNADA_FUZZ_PRINT").is_some(),
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

/// A thread that overflows its stack gets a SIGSEGV, and the handler that
/// reports it (libFuzzer's: it prints the error and saves the input) cannot
/// run on the exhausted stack: the process would vanish without a trace.
/// AddressSanitizer gives each thread an alternate signal stack and its
/// handler runs there; without it (`-s none`) no one does, since libFuzzer's
/// `main` replaces Rust's, which would have. So the runtime's threads get
/// one of their own, and the SIGSEGV handler is moved onto it.
mod alternate_signal_stack {
    use std::cell::Cell;
    use std::ptr;

    const SIZE: usize = 256 * 1024;

    thread_local! {
        /// The stack this module installed on the current thread, if any.
        static OURS: Cell<*mut [u8]> = const { Cell::new(ptr::slice_from_raw_parts_mut(ptr::null_mut(), 0)) };
    }

    /// Lets the installed SIGSEGV handler (libFuzzer's, or the
    /// sanitizer's) run on the thread's alternate stack.
    pub fn handle_segv_on_it() {
        // SAFETY: reads and rewrites the current action with one flag more.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGSEGV, ptr::null(), &mut action) == 0
                && action.sa_sigaction != libc::SIG_DFL
                && action.sa_flags & libc::SA_ONSTACK == 0
            {
                action.sa_flags |= libc::SA_ONSTACK;
                libc::sigaction(libc::SIGSEGV, &action, ptr::null_mut());
            }
        }
    }

    /// Gives the current thread an alternate signal stack unless it has one
    /// (AddressSanitizer installs its own).
    pub fn install() {
        // SAFETY: the stack handed to the kernel stays allocated until
        // `remove` takes it back or the thread ends with the process.
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut current) != 0
                || current.ss_flags & libc::SS_DISABLE == 0
            {
                return;
            }
            let memory = Box::into_raw(vec![0u8; SIZE].into_boxed_slice());
            let stack = libc::stack_t {
                ss_sp: memory.cast(),
                ss_flags: 0,
                ss_size: SIZE,
            };
            if libc::sigaltstack(&stack, ptr::null_mut()) == 0 {
                OURS.set(memory);
            } else {
                drop(Box::from_raw(memory));
            }
        }
    }

    /// Takes back the stack `install` gave the current thread.
    pub fn remove() {
        let memory = OURS.replace(ptr::slice_from_raw_parts_mut(ptr::null_mut(), 0));
        if memory.cast::<u8>().is_null() {
            return;
        }
        // SAFETY: the thread is not handling a signal here, so the kernel
        // lets go of the stack before it is freed.
        unsafe {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            if libc::sigaltstack(&disable, ptr::null_mut()) == 0 {
                drop(Box::from_raw(memory));
            }
        }
    }
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
    if app.print {
        eprintln!(
            "{caller:?} → {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
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
