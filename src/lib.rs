//! jornada: customer success and marketing automation for Hotmart sellers.
//! This crate wires the parts together: configuration, the database, the
//! API server and the background worker.

pub mod config;
pub mod demo;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub use config::Config;

/// Opens the pool for a `sqlite://` or `postgres://` URL.
pub async fn connect(
    database_url: &str,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    // The port of a PostgreSQL server reached over TCP (not a Unix socket).
    // Only a PostgreSQL URL is read as one: its parser warns about a
    // SQLite URL's parameters (`mode=rwc`) it does not know.
    let is_postgres = ["postgres:", "postgresql:"]
        .iter()
        .any(|scheme| database_url.starts_with(scheme));
    let tcp_port = is_postgres
        .then(|| {
            database_url
                .parse::<sea_orm::sqlx::postgres::PgConnectOptions>()
                .ok()
        })
        .flatten()
        .filter(|o| o.get_socket().is_none())
        .map(|o| o.get_port());
    let mut options = ConnectOptions::new(database_url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // Statement logs would carry parameter values: personal data.
        .sqlx_logging(false)
        // jornada's statements are short; PostgreSQL's JIT compiles any whose
        // estimate is large (a batch's thousand index probes) and spends more
        // compiling than running them.
        .map_sqlx_postgres_opts(|o| o.options([("jit", "off")]))
        .map_sqlx_postgres_pool_opts(move |pool| {
            pool.after_connect(move |_, _| {
                Box::pin(async move {
                    if let Some(port) = tcp_port {
                        database_sockets_without_delay(port);
                    }
                    Ok(())
                })
            })
        })
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options)
        .await
        .context("cannot connect to the database")
}

/// Turns Nagle's algorithm off on the sockets to PostgreSQL, as database
/// clients do and as sqlx did before 0.9.0 (sqlx issue #4335).
///
/// With it on, a statement longer than one TCP segment (or, over TLS, one
/// 16 KiB record) — every batch insert of the worker — leaves its last
/// piece waiting for the server's delayed acknowledgement, 40 ms a
/// statement: the webhooks bench applied 1,100 events/s over TCP and 3,000
/// over a Unix socket, where there is no Nagle. sqlx hands out no socket,
/// so each new connection looks for this process's TCP sockets to the
/// database's port that still delay, and sets `TCP_NODELAY` on them.
#[cfg(target_os = "linux")]
fn database_sockets_without_delay(port: u16) {
    use std::os::fd::{BorrowedFd, RawFd};
    let Ok(descriptors) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for descriptor in descriptors.flatten() {
        let Some(fd) = descriptor
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let socket = std::fs::read_link(descriptor.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed for two socket-option calls
        // and never closed here. Had it been closed since the listing, the
        // calls fail with EBADF; had its number been reused meanwhile, they
        // read or set an option on another socket, which is harmless.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_database = socket
            .peer_addr()
            .ok()
            .and_then(|peer| peer.as_socket())
            .is_some_and(|peer| peer.port() == port);
        if to_database && socket.tcp_nodelay().is_ok_and(|on| !on) {
            let _ = socket.set_tcp_nodelay(true);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn database_sockets_without_delay(_port: u16) {}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("migrations failed")?;
    // Workspaces created before a built-in rule existed get it now.
    entity::automation::seed_every_workspace(db, chrono::Utc::now())
        .await
        .context("seeding the built-in automation rules failed")?;
    entity::background_jobs::JobQueue::create_tables(db)
        .await
        .context("creating the job queue failed")
}

/// The names of every migration this build knows, for `/readyz`.
pub fn migration_names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// Builds the HTTP application over an open database.
pub fn api_router(
    db: DatabaseConnection,
    jwt: api::JwtKeys,
    secrets: entity::SecretKey,
    work_signals: entity::WorkSignals,
    clock: entity::Clock,
) -> axum::Router {
    let schema = api::build_schema(api::SchemaDeps {
        db: db.clone(),
        secrets: secrets.clone(),
        work_signals: work_signals.clone(),
        clock: clock.clone(),
    });
    api::router(api::AppState {
        persisted_queries: api::http::persisted::PersistedQueries::default(),
        parsed_documents: api::http::remembered::ParsedDocuments::default(),
        webhook_intake: api::webhooks::intake::WebhookIntake::start(
            db.clone(),
            work_signals.clone(),
            clock.clone(),
        ),
        clock,
        db,
        schema,
        jwt,
        metrics: Arc::default(),
        migrations: Arc::new(migration_names()),
        secrets,
        work_signals,
        hotmart_receivers: Arc::default(),
    })
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves,
/// then drains in-flight requests.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: api::http::serve::HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    api::http::serve::serve(listener, router, limits, shutdown).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested");
}
