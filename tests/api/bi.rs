//! BI tools on PostgreSQL: `jornada bi grant` makes a login role that reads
//! the `bi_*` views of its workspaces, and nothing else.

use std::process::Command;

use sea_orm::sqlx::{self, Row};
use uuid::Uuid;

use crate::helpers::{Backend, postgres_runs, spawn_api_only};

/// `jornada bi ...` over the test's database; answers what it printed.
fn jornada_bi(database_url: &str, args: &[&str]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("jornada-bi-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = Command::new(env!("CARGO_BIN_EXE_jornada"))
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .env("JORNADA_DATABASE_URL", database_url)
        .env("JORNADA_DATA_DIR", dir.join(".jornada"))
        .arg("bi")
        .args(args)
        .output()
        .expect("the binary runs");
    std::fs::remove_dir_all(dir).ok();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

/// The test database's URL as `role` logs in.
fn as_role(database_url: &str, role: &str, password: &str) -> String {
    let (scheme, rest) = database_url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}:{password}@{host}")
}

/// Drops the role whatever the test's outcome (roles outlive databases).
struct RoleGuard {
    admin_url: String,
    role: String,
}

impl Drop for RoleGuard {
    fn drop(&mut self) {
        let (admin_url, role) = (self.admin_url.clone(), self.role.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                    let gone = format!("DROP OWNED BY \"{role}\"");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(gone)).execute(&pool).await;
                    let dropped = format!("DROP ROLE IF EXISTS \"{role}\"");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(dropped))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join()
        .ok();
    }
}

async fn emails(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query("SELECT email FROM bi_customers ORDER BY email")
        .fetch_all(pool)
        .await
        .expect("bi_customers reads")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bi_role_reads_the_views_of_its_workspaces_only() {
    if !postgres_runs("a_bi_role_reads_the_views_of_its_workspaces_only") {
        return;
    }
    let api = spawn_api_only(Backend::Postgres).await;
    let app = &api.app;
    let ours = app.create_workspace("escola").await;
    let theirs = app.create_workspace("outra-escola").await;
    let ana = app.create_customer(ours, "ana@exemplo.com").await;
    app.create_customer(ours, "bia@exemplo.com").await;
    let caio = app.create_customer(theirs, "caio@exemplo.com").await;
    app.insert_transaction(ours, ana, None, "HP0000000001")
        .await;
    app.insert_transaction(theirs, caio, None, "HP0000000002")
        .await;

    let role = format!("bi_test_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let _guard = RoleGuard {
        admin_url: api.database_url.clone(),
        role: role.clone(),
    };
    let (ok, printed) = jornada_bi(
        &api.database_url,
        &["grant", &role, "--workspace", &ours.to_string()],
    );
    assert!(ok, "{printed}");
    let password = printed
        .lines()
        .find_map(|line| line.strip_prefix("password (shown once): "))
        .expect("a password made up and shown")
        .to_owned();
    let bi = sqlx::PgPool::connect(&as_role(&api.database_url, &role, &password))
        .await
        .expect("the role logs in");
    assert_eq!(emails(&bi).await, ["ana@exemplo.com", "bia@exemplo.com"]);
    let codes: Vec<String> = sqlx::query("SELECT code FROM bi_transactions")
        .fetch_all(&bi)
        .await
        .expect("bi_transactions reads")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(codes, ["HP0000000001"]);
    for view in [
        "bi_subscriptions",
        "bi_enrollments",
        "bi_messages",
        "bi_campaign_metrics",
        "bi_daily_revenue",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {view}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&bi)
            .await
            .unwrap_or_else(|e| panic!("{view} reads: {e}"));
    }
    // No table: not the customers behind the view, not the settings, not the grants.
    for table in ["customers", "settings", "transactions", "bi_grants"] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&bi)
            .await
            .expect_err("a table is refused");
        let code = refused
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{table}: {refused}");
    }

    // A second workspace, then the first taken back.
    let (ok, printed) = jornada_bi(
        &api.database_url,
        &["grant", &role, "--workspace", &theirs.to_string()],
    );
    assert!(ok, "{printed}");
    assert!(
        !printed.contains("password"),
        "an existing role keeps its password: {printed}"
    );
    assert_eq!(
        emails(&bi).await,
        ["ana@exemplo.com", "bia@exemplo.com", "caio@exemplo.com"]
    );
    let (ok, printed) = jornada_bi(
        &api.database_url,
        &["revoke", &role, "--workspace", &ours.to_string()],
    );
    assert!(ok, "{printed}");
    assert_eq!(emails(&bi).await, ["caio@exemplo.com"]);
    bi.close().await;
    // With its last workspace the role goes.
    let (ok, printed) = jornada_bi(&api.database_url, &["revoke", &role]);
    assert!(ok && printed.contains("is gone"), "{printed}");
    assert!(
        sqlx::PgPool::connect(&as_role(&api.database_url, &role, &password))
            .await
            .is_err(),
        "the role can no longer log in"
    );

    // Refusals: a bad name, a role jornada did not make, a missing workspace.
    let (ok, printed) = jornada_bi(
        &api.database_url,
        &[
            "grant",
            "Robert'); DROP TABLE customers;--",
            "--workspace",
            &ours.to_string(),
        ],
    );
    assert!(!ok && printed.contains("not a role name"), "{printed}");
    let (ok, printed) = jornada_bi(
        &api.database_url,
        &["grant", "postgres", "--workspace", &ours.to_string()],
    );
    assert!(!ok && printed.contains("did not create"), "{printed}");
    let (ok, printed) = jornada_bi(
        &api.database_url,
        &["grant", &role, "--workspace", &Uuid::new_v4().to_string()],
    );
    assert!(!ok && printed.contains("no workspace"), "{printed}");
    assert_eq!(app.count_rows("customers").await, 3, "nothing was dropped");
}
