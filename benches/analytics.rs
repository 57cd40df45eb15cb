//! The business figures on a year of a big school, against the release
//! binary, beside hand-written SQL.
//!
//! `cargo bench --bench analytics` builds `jornada`, serves it against a
//! fresh PostgreSQL database and then a fresh SQLite file, and writes one
//! workspace's year straight into the tables (set-up, not measured):
//! 100,000 customers, 1,000,000 transactions over twelve months (five
//! products, card, Pix and billet, a few refunded or charged back) and
//! 20,000 subscriptions with their histories (some cancelled, some paying
//! more). Then:
//! - `jornada analytics backfill` adds the year up and snapshots it (timed
//!   once);
//! - `dashboard` for the twelve months by MONTH, one caller after another,
//!   beside the same run's hand-written SQL adding up gross revenue,
//!   refunds and chargebacks by month from the transactions: p50, p99 and
//!   the ratio of the p50s;
//! - `cohorts` for the twelve months, beside the same run's hand-written
//!   SQL adding up sales by purchase cohort and month from the
//!   transactions: p50, p99 and the ratio of the p50s;
//! - `GET /exports/transactions.csv` of all the transactions: rows per
//!   second beside the same run's hand-written SQL reading the same rows
//!   through the bench's pool, and how much the server's resident memory
//!   grew.
//!
//! Environment:
//! - `JORNADA_BENCH_TRANSACTIONS` (1000000), `JORNADA_BENCH_CUSTOMERS`
//!   (100000), `JORNADA_BENCH_SUBSCRIPTIONS` (20000): the year's size.
//! - `JORNADA_BENCH_REQUESTS` (200): dashboards (and a tenth as many
//!   cohorts) asked per measurement.
//! - `JORNADA_BENCH_BACKENDS` (postgres,sqlite), `JORNADA_BENCH_POSTGRES_URL`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use entity::entities::{customer, subscription, subscription_change, transaction};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, Set, sqlx};
use serde_json::json;
use uuid::Uuid;

use support::{
    Backend, Server, create_workspace, env_backends, env_number, env_postgres_url, fresh_database,
    graphql, insert_chunked, invoked_as_bench, jornada_binary, on_each_backend, percentile,
    seeding_connection,
};

const PRODUCTS: usize = 5;
const TIME_ZONE: chrono_tz::Tz = chrono_tz::America::Sao_Paulo;

struct Settings {
    transactions: u64,
    customers: u64,
    subscriptions: u64,
    requests: u64,
    postgres_url: String,
    backends: Vec<Backend>,
}

fn main() -> anyhow::Result<()> {
    if !invoked_as_bench() {
        println!("analytics: skipped (run it with `cargo bench --bench analytics`)");
        return Ok(());
    }
    let settings = Settings {
        transactions: env_number("JORNADA_BENCH_TRANSACTIONS", 1_000_000)?,
        customers: env_number("JORNADA_BENCH_CUSTOMERS", 100_000)?,
        subscriptions: env_number("JORNADA_BENCH_SUBSCRIPTIONS", 20_000)?,
        requests: env_number("JORNADA_BENCH_REQUESTS", 200)?,
        postgres_url: env_postgres_url(),
        backends: env_backends()?,
    };
    let binary = jornada_binary()?;
    on_each_backend("analytics", &settings.backends, |backend| {
        bench_backend(&settings, &binary, backend)
    })
}

/// The first instant of the year measured: twelve whole months of São
/// Paulo's calendar ending with the last one.
fn year_start() -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&TIME_ZONE).date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).expect("a month");
    let first = this_month - chrono::Months::new(12);
    TIME_ZONE
        .from_local_datetime(&first.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("midnight exists")
        .with_timezone(&Utc)
}

fn year_end() -> DateTime<Utc> {
    year_start() + TimeDelta::days(365)
}

/// Who made sale `i`: one sale in `transactions / customers` is a new
/// customer's first, the others come back from those who bought before, so
/// that every month brings its cohort.
fn buyer(i: u64, settings: &Settings) -> u64 {
    let per_customer = (settings.transactions / settings.customers).max(1);
    let arrived = (i / per_customer).min(settings.customers - 1);
    if i.is_multiple_of(per_customer) {
        arrived
    } else {
        // An earlier customer, spread by a multiplicative hash.
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (arrived + 1)
    }
}

/// The year, written straight into the tables.
async fn seed(
    database_url: &str,
    workspace: Uuid,
    products: &[Uuid],
    settings: &Settings,
) -> anyhow::Result<()> {
    let db = seeding_connection(database_url).await?;
    let start = year_start();
    let span = (year_end() - start).num_seconds() as u64 - 60;
    let customers: Vec<Uuid> = (0..settings.customers).map(|_| Uuid::now_v7()).collect();
    insert_chunked(
        &db,
        customers
            .iter()
            .enumerate()
            .map(|(i, id)| customer::ActiveModel {
                id: Set(*id),
                workspace_id: Set(workspace),
                hotmart_ucode: Set(None),
                chatwoot_contact_id: Set(None),
                chatwoot_conversation_id: Set(None),
                email: Set(format!("cliente{i}@exemplo.com.br")),
                name: Set(Some(format!("Cliente {i}"))),
                phone: Set(None),
                document: Set(None),
                document_type: Set(None),
                tags: Set(json!([])),
                segment: Set(None),
                churn_risk: Set(None),
                churn_risk_score: Set(None),
                churn_risk_reasons: Set(None),
                ltv_total: Set(Decimal::ZERO),
                first_activity_at: Set(Some(start)),
                last_activity_at: Set(Some(start)),
                consent: Set(json!({})),
                metadata: Set(json!({})),
                created_at: Set(start),
                updated_at: Set(start),
            }),
    )
    .await?;
    let payments = [
        ("CREDIT_CARD", 12),
        ("CREDIT_CARD", 1),
        ("PIX", 1),
        ("BILLET", 1),
    ];
    let transactions = (0..settings.transactions).map(|i| {
        let at = start + TimeDelta::seconds((i * span / settings.transactions) as i64);
        let (status, refunded_at) = match i % 100 {
            0..=2 => ("REFUNDED", Some(at + TimeDelta::days(3))),
            3 => ("CHARGEBACK", Some(at + TimeDelta::days(20))),
            _ => ("APPROVED", None),
        };
        let (method, installments) = payments[(i % 4) as usize];
        transaction::ActiveModel {
            id: Set(Uuid::now_v7()),
            workspace_id: Set(workspace),
            code: Set(format!("HP{i:010}")),
            customer_id: Set(customers[buyer(i, settings) as usize]),
            product_id: Set(Some(products[(i % PRODUCTS as u64) as usize])),
            offer_id: Set(None),
            subscription_id: Set(None),
            status: Set(status.to_owned()),
            amount: Set(Decimal::new(9_700 + (i % 5) as i64 * 10_000, 2)),
            currency: Set(if i % 50 == 0 { "USD" } else { "BRL" }.to_owned()),
            payment_method: Set(Some(method.to_owned())),
            installments: Set(Some(installments)),
            purchased_at: Set(Some(at)),
            approved_at: Set(Some(at)),
            refunded_at: Set(refunded_at),
            warranty_ends_at: Set(Some(at + TimeDelta::days(7))),
            billet_url: Set(None),
            pix_code: Set(None),
            src: Set(Some(
                ["instagram", "youtube", "google"][(i % 3) as usize].to_owned(),
            )),
            sck: Set(None),
            xcod: Set(None),
            commission_type: Set(None),
            recurrence_number: Set(None),
            last_event_at: Set(Some(at)),
            created_at: Set(at),
            updated_at: Set(at),
        }
    });
    insert_chunked(&db, transactions).await?;
    let subscriptions: Vec<(Uuid, DateTime<Utc>, u64)> = (0..settings.subscriptions)
        .map(|i| {
            let at = start + TimeDelta::seconds((i * span / 2 / settings.subscriptions) as i64);
            (Uuid::now_v7(), at, i)
        })
        .collect();
    insert_chunked(
        &db,
        subscriptions
            .iter()
            .map(|(id, at, i)| subscription::ActiveModel {
                id: Set(*id),
                workspace_id: Set(workspace),
                customer_id: Set(customers[(*i % settings.customers) as usize]),
                product_id: Set(Some(products[0])),
                subscriber_code: Set(format!("SUB{i:08}")),
                hotmart_subscription_id: Set(None),
                plan_id: Set(None),
                plan_name: Set(None),
                status: Set("ACTIVE".to_owned()),
                started_at: Set(Some(*at)),
                next_charge_at: Set(None),
                cancelled_at: Set(None),
                recurring_amount: Set(Some(Decimal::new(4_990, 2))),
                currency: Set(Some("BRL".to_owned())),
                recurrence_period_days: Set(Some(30)),
                last_event_at: Set(Some(*at)),
                created_at: Set(*at),
                updated_at: Set(*at),
            }),
    )
    .await?;
    // Each subscribes; one in five cancels two months later, one in ten
    // pays more a month in.
    let changes = subscriptions.iter().flat_map(|(id, at, i)| {
        let change = |days: i64, status: &str, cents: i64| subscription_change::ActiveModel {
            id: Set(Uuid::now_v7()),
            workspace_id: Set(workspace),
            subscription_id: Set(*id),
            effective_at: Set(*at + TimeDelta::days(days)),
            status: Set(status.to_owned()),
            recurring_amount: Set(Some(Decimal::new(cents, 2))),
            currency: Set(Some("BRL".to_owned())),
            recurrence_period_days: Set(Some(30)),
            recorded_at: Set(*at + TimeDelta::days(days)),
        };
        let mut history = vec![change(0, "ACTIVE", 4_990)];
        if i % 10 == 0 {
            history.push(change(30, "ACTIVE", 9_990));
        }
        if i % 5 == 1 {
            history.push(change(60, "CANCELLED_BY_CUSTOMER", 4_990));
        }
        history
    });
    insert_chunked(&db, changes).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    db.close().await.ok();
    Ok(())
}

/// `jornada analytics backfill` over the bench's database.
fn backfill(binary: &Path, database_url: &str, since: NaiveDate) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("jornada-bench-backfill-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let out = Command::new(binary)
        .current_dir(&dir)
        .env("JORNADA_DATABASE_URL", database_url)
        .env("JORNADA_SECRET_KEY", support::secret_key())
        .env("JORNADA_DATA_DIR", dir.join(".jornada"))
        .env("RUST_LOG", "warn")
        .args(["analytics", "backfill", "--workspace", "escola", "--since"])
        .arg(since.to_string())
        .output()
        .context("cannot run jornada analytics backfill")?;
    std::fs::remove_dir_all(&dir).ok();
    if !out.status.success() {
        bail!("backfill failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `requests` answers of `ask`, one after another: their latencies, sorted (µs).
async fn timed<F, Fut>(requests: u64, mut ask: F) -> anyhow::Result<Vec<u32>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(requests as usize);
    for _ in 0..requests {
        let sent = Instant::now();
        ask().await?;
        latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    latencies.sort_unstable();
    Ok(latencies)
}

fn describe(latencies: &[u32]) -> String {
    format!(
        "p50 {:>7.1} ms, p99 {:>7.1} ms",
        percentile(latencies, 50.0),
        percentile(latencies, 99.0)
    )
}

/// Sales by purchase cohort and month of São Paulo's calendar, from the
/// transactions themselves (each customer's first approved sale, then every
/// sale joined to it): what a person would write by hand. Returns how many
/// (cohort, month) pairs answered.
async fn cohorts_by_hand(
    db: &sea_orm::DatabaseConnection,
    workspace: Uuid,
) -> anyhow::Result<usize> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let month = |column: &str| {
                format!("date_trunc('month', {column} AT TIME ZONE 'America/Sao_Paulo')")
            };
            let sql = format!(
                "WITH firsts AS (SELECT customer_id, MIN(approved_at) AS first FROM transactions \
                 WHERE workspace_id = $1 AND currency = 'BRL' AND approved_at IS NOT NULL \
                 GROUP BY customer_id) \
                 SELECT {} AS cohort, {} AS month, SUM(t.amount), COUNT(DISTINCT t.customer_id) \
                 FROM transactions t JOIN firsts f ON f.customer_id = t.customer_id \
                 WHERE t.workspace_id = $1 AND t.currency = 'BRL' AND t.approved_at IS NOT NULL \
                 GROUP BY 1, 2",
                month("f.first"),
                month("t.approved_at")
            );
            let rows: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime, Decimal, i64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(workspace)
                    .fetch_all(db.get_postgres_connection_pool())
                    .await?;
            Ok(rows.len())
        }
        _ => {
            let month = |column: &str| format!("strftime('%Y-%m', {column}, '-3 hours')");
            let sql = format!(
                "WITH firsts AS (SELECT customer_id, MIN(approved_at) AS first FROM transactions \
                 WHERE workspace_id = ?1 AND currency = 'BRL' AND approved_at IS NOT NULL \
                 GROUP BY customer_id) \
                 SELECT {} AS cohort, {} AS month, SUM(t.amount), COUNT(DISTINCT t.customer_id) \
                 FROM transactions t JOIN firsts f ON f.customer_id = t.customer_id \
                 WHERE t.workspace_id = ?1 AND t.currency = 'BRL' AND t.approved_at IS NOT NULL \
                 GROUP BY 1, 2",
                month("f.first"),
                month("t.approved_at")
            );
            let rows: Vec<(String, String, f64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(workspace)
                .fetch_all(db.get_sqlite_connection_pool())
                .await?;
            Ok(rows.len())
        }
    }
}

/// Gross revenue, refunds and chargebacks by month of São Paulo's
/// calendar, from the transactions themselves: what a person would write
/// by hand. Returns how many months answered.
async fn by_hand(db: &sea_orm::DatabaseConnection, workspace: Uuid) -> anyhow::Result<usize> {
    let (from, to) = (year_start(), year_end());
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            let month = |column: &str| {
                format!(
                    "SELECT date_trunc('month', {column} AT TIME ZONE 'America/Sao_Paulo') AS month, \
                     status, SUM(amount), COUNT(*) FROM transactions \
                     WHERE workspace_id = $1 AND currency = 'BRL' AND {column} >= $2 AND {column} < $3 \
                     GROUP BY 1, 2"
                )
            };
            let gross: Vec<(chrono::NaiveDateTime, String, Decimal, i64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(month("approved_at")))
                    .bind(workspace)
                    .bind(from)
                    .bind(to)
                    .fetch_all(pool)
                    .await?;
            let reversed: Vec<(chrono::NaiveDateTime, String, Decimal, i64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(month("refunded_at")))
                    .bind(workspace)
                    .bind(from)
                    .bind(to)
                    .fetch_all(pool)
                    .await?;
            Ok(gross.len() + reversed.len())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            let month = |column: &str| {
                format!(
                    "SELECT strftime('%Y-%m', {column}, '-3 hours') AS month, status, SUM(amount), COUNT(*) \
                     FROM transactions WHERE workspace_id = ?1 AND currency = 'BRL' \
                     AND {column} >= ?2 AND {column} < ?3 GROUP BY 1, 2"
                )
            };
            let mut months = 0;
            for column in ["approved_at", "refunded_at"] {
                let rows: Vec<(String, String, f64, i64)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(month(column)))
                        .bind(workspace)
                        .bind(from)
                        .bind(to)
                        .fetch_all(pool)
                        .await?;
                months += rows.len();
            }
            Ok(months)
        }
    }
}

/// Every transaction of the workspace in the export's order, read with
/// hand-written SQL through the bench's pool and counted (not decoded):
/// the export's baseline. Returns how many.
async fn transactions_by_hand(
    db: &sea_orm::DatabaseConnection,
    workspace: Uuid,
) -> anyhow::Result<u64> {
    use futures::TryStreamExt;
    let rows = match db.get_database_backend() {
        DbBackend::Postgres => {
            sqlx::query("SELECT * FROM transactions WHERE workspace_id = $1 ORDER BY id")
                .bind(workspace)
                .fetch(db.get_postgres_connection_pool())
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await?
        }
        _ => {
            sqlx::query("SELECT * FROM transactions WHERE workspace_id = ?1 ORDER BY id")
                .bind(workspace)
                .fetch(db.get_sqlite_connection_pool())
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await?
        }
    };
    Ok(rows)
}

/// The server's resident memory, in KiB.
fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn bench_backend(settings: &Settings, binary: &Path, backend: Backend) -> anyhow::Result<()> {
    let (database_url, _store) = fresh_database(&settings.postgres_url, backend).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut server = Server::spawn(binary, &database_url)?;
    server.wait_ready(&client).await?;
    let service = server.service_token(binary, &database_url)?;
    let workspace = create_workspace(&client, &server, &service, "escola").await?;
    let token = server.workspace_token(binary, &database_url, &workspace)?;
    let workspace_id: Uuid = workspace.parse()?;
    let mut products = Vec::new();
    for n in 0..PRODUCTS {
        let made = graphql(
            &client,
            &server,
            &token,
            &format!("mutation {{ upsertProduct(input: {{hotmartProductId: \"{n}\", name: \"Curso {n}\"}}) {{ id }} }}"),
            json!({}),
        )
        .await?;
        products.push(
            made["upsertProduct"]["id"]
                .as_str()
                .context("no product id")?
                .parse()?,
        );
    }

    let seeding = Instant::now();
    seed(&database_url, workspace_id, &products, settings).await?;
    println!(
        "analytics {:<8} seeded {} customers, {} transactions, {} subscriptions in {:.1} s",
        backend.name(),
        settings.customers,
        settings.transactions,
        settings.subscriptions,
        seeding.elapsed().as_secs_f64()
    );
    let since = year_start().with_timezone(&TIME_ZONE).date_naive();
    let started = Instant::now();
    let printed = backfill(binary, &database_url, since)?;
    println!(
        "analytics {:<8} backfill (figures from scratch, 365 days and 13 months of snapshots): {:.1} s ({printed})",
        backend.name(),
        started.elapsed().as_secs_f64()
    );

    let range = json!({"from": year_start(), "to": year_end()});
    let dashboard = "query($from: DateTime!, $to: DateTime!) { dashboard(from: $from, to: $to, granularity: MONTH) {
        totals { grossRevenue refunds chargebacks netRevenue sales mrr arr activeSubscribers churnRate
                 salesMix { paymentMethod installments sales } }
        series { start grossRevenue refunds chargebacks netRevenue sales mrr activeSubscribers churnRate
                 mrrMovements { new { amount } churned { amount } expansion { amount } } } } }";
    let answer = graphql(&client, &server, &token, dashboard, range.clone()).await?;
    let months = answer["dashboard"]["series"].as_array().map_or(0, Vec::len);
    if months < 12 || answer["dashboard"]["totals"]["sales"].as_i64().unwrap_or(0) == 0 {
        bail!("the dashboard answered {months} months: {answer}");
    }
    let baseline_pool = jornada::connect(&database_url, 4).await?;
    // Warm both, then measure both, one after the other.
    by_hand(&baseline_pool, workspace_id).await?;
    let raw = timed(settings.requests, || async {
        let rows = by_hand(&baseline_pool, workspace_id).await?;
        if rows == 0 {
            bail!("the hand-written SQL found nothing");
        }
        Ok(())
    })
    .await?;
    let served = timed(settings.requests, || async {
        graphql(&client, &server, &token, dashboard, range.clone()).await?;
        Ok(())
    })
    .await?;
    println!(
        "analytics {:<8} dashboard 12 months by MONTH: jornada {} | hand-written SQL (revenue only) {} | {:.2}× the SQL's p50",
        backend.name(),
        describe(&served),
        describe(&raw),
        percentile(&served, 50.0) / percentile(&raw, 50.0),
    );
    let cohorts = "query($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to) {
        start customers months { offset revenuePerCustomer subscriptionRetention learnerRetention } } }";
    let answer = graphql(&client, &server, &token, cohorts, range.clone()).await?;
    let count = answer["cohorts"].as_array().map_or(0, Vec::len);
    let cohort_requests = (settings.requests / 10).max(5);
    cohorts_by_hand(&baseline_pool, workspace_id).await?;
    let raw = timed(cohort_requests, || async {
        if cohorts_by_hand(&baseline_pool, workspace_id).await? == 0 {
            bail!("the hand-written cohort SQL found nothing");
        }
        Ok(())
    })
    .await?;
    let asked = timed(cohort_requests, || async {
        graphql(&client, &server, &token, cohorts, range.clone()).await?;
        Ok(())
    })
    .await?;
    println!(
        "analytics {:<8} cohorts 12 months ({count} cohorts): jornada {} | hand-written SQL (revenue only) {} | {:.2}× the SQL's p50",
        backend.name(),
        describe(&asked),
        describe(&raw),
        percentile(&asked, 50.0) / percentile(&raw, 50.0),
    );

    let started = Instant::now();
    let read = transactions_by_hand(&baseline_pool, workspace_id).await?;
    let read_per_second = read as f64 / started.elapsed().as_secs_f64();

    let pid = server.child.id();
    let before = resident_kib(pid);
    let started = Instant::now();
    let mut response = client
        .get(server.url("/exports/transactions.csv"))
        .bearer_auth(&token)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("the export answered {}", response.status());
    }
    let (mut lines, mut peak) = (0u64, before);
    while let Some(chunk) = response.chunk().await? {
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        peak = peak.max(resident_kib(pid));
    }
    let seconds = started.elapsed().as_secs_f64();
    let rows = lines.saturating_sub(1);
    if rows != settings.transactions {
        bail!("the export gave {rows} rows, not {}", settings.transactions);
    }
    println!(
        "analytics {:<8} export transactions.csv: {rows} rows in {seconds:.1} s, {:.0} rows/s | the same rows read by hand-written SQL {read_per_second:.0} rows/s | {:.2}× the SQL; server resident {} MiB before, peak {} MiB (+{} MiB)",
        backend.name(),
        rows as f64 / seconds,
        rows as f64 / seconds / read_per_second,
        before / 1024,
        peak / 1024,
        peak.saturating_sub(before) / 1024,
    );
    baseline_pool.close().await.ok();
    server.stop();
    Ok(())
}
