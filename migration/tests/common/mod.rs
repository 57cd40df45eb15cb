//! A fresh database per test, on each backend.
//!
//! SQLite: a new file in the temp directory, removed afterwards. PostgreSQL: a database
//! with a unique name, created from the admin URL in `JORNADA_TEST_POSTGRES_URL` (such as
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. Without that
//! variable the PostgreSQL run is skipped, except under `CI`, where it fails; with it, an
//! unreachable server is a failure.

use std::future::Future;
use std::path::PathBuf;

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

/// Runs `scenario` on a fresh SQLite file.
pub async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let file = TempDbFile(std::env::temp_dir().join(format!(
        "jornada-migration-test-{}.db",
        Uuid::new_v4().simple()
    )));
    let url = format!("sqlite://{}?mode=rwc", file.0.display());
    let db = Database::connect(&url).await.expect("open SQLite file");
    let outcome = run_isolated(scenario(db.clone())).await;
    db.close().await.expect("close SQLite");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `scenario` on a fresh PostgreSQL database, or skips it (see the module doc).
pub async fn on_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("JORNADA_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}")
    });
    let name = format!("jornada_test_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");

    let outcome = match Database::connect(&with_database(&admin_url, &name)).await {
        Ok(db) => {
            let outcome = run_isolated(scenario(db.clone())).await;
            db.close().await.expect("close test database connection");
            outcome
        }
        Err(e) => Err(Box::new(format!("connect to test database {name}: {e}")) as _),
    };

    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop test database");
    admin.close().await.expect("close admin connection");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The admin URL, or `None` to skip; under `CI` a missing URL is a failure.
fn postgres_admin_url() -> Option<String> {
    match std::env::var("JORNADA_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but JORNADA_TEST_POSTGRES_URL is not: the PostgreSQL run is required")
        }
        _ => {
            eprintln!("JORNADA_TEST_POSTGRES_URL is not set: PostgreSQL run skipped");
            None
        }
    }
}

/// Runs the scenario in its own task so that a failed assertion still lets the caller
/// clean up (close the pool, drop the database) before the panic is re-raised.
async fn run_isolated<Fut>(scenario: Fut) -> Result<(), Box<dyn std::any::Any + Send>>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(scenario).await.map_err(|e| e.into_panic())
}

/// `admin_url` with its database name replaced by `database`.
fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Removes the SQLite file (and its journal files) when the test ends, pass or fail.
struct TempDbFile(PathBuf);

impl Drop for TempDbFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}
