//! The nightly snapshots, and `jornada analytics backfill` writing their
//! history, read back through `analyticsSnapshots`.

use std::process::Command;

use crate::helpers::{Backend, spawn_api_only};

use super::*;

async fn snapshots(shop: &Shop<'_>, arguments: Value) -> Value {
    shop.query(
        "query($p: ID, $c: String, $from: DateTime!, $to: DateTime!, $g: Granularity) {
            analyticsSnapshots(productId: $p, currency: $c, from: $from, to: $to, granularity: $g) {
                productId granularity periodStart periodEnd currency mrr arr activeSubscriptions
                churnedSubscriptions churnRate revenue refunds newCustomers } }",
        arguments,
        "analyticsSnapshots",
    )
    .await
}

/// `jornada analytics backfill` over the test's database, as an operator runs it.
fn backfill(database_url: &str, secret_key: &str, since: &str) -> String {
    let dir = std::env::temp_dir().join(format!("jornada-backfill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = Command::new(env!("CARGO_BIN_EXE_jornada"))
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .env("JORNADA_DATABASE_URL", database_url)
        .env("JORNADA_SECRET_KEY", secret_key)
        .args([
            "analytics",
            "backfill",
            "--since",
            since,
            "--workspace",
            "painel",
        ])
        .output()
        .expect("the binary runs");
    std::fs::remove_dir_all(dir).ok();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed
}

async fn backfill_writes_history(backend: Backend) {
    let api = spawn_api_only(backend).await;
    let shop = told(&api.app).await;
    let printed = backfill(&api.database_url, &api.secret_key_text, "2026-01-01");
    assert!(printed.starts_with("painel: "), "{printed}");
    let written = api.app.count_rows("analytics_snapshots").await;
    // Running it again rewrites the same periods.
    backfill(&api.database_url, &api.secret_key_text, "2026-01-01");
    assert_eq!(api.app.count_rows("analytics_snapshots").await, written);

    let quarter =
        json!({"from": "2026-01-01T03:00:00Z", "to": "2026-04-01T03:00:00Z", "g": "MONTH"});
    let months = snapshots(&shop, quarter.clone()).await;
    let figures = |m: &Value| {
        (
            m["revenue"].as_str().unwrap().to_owned(),
            m["refunds"].as_str().unwrap().to_owned(),
            m["mrr"].as_str().unwrap().to_owned(),
            m["activeSubscriptions"].as_i64().unwrap(),
            m["churnedSubscriptions"].as_i64().unwrap(),
            m["churnRate"].as_f64().unwrap(),
            m["newCustomers"].as_i64().unwrap(),
        )
    };
    assert_eq!(
        months
            .as_array()
            .unwrap()
            .iter()
            .map(figures)
            .collect::<Vec<_>>(),
        vec![
            (
                "943.70".into(),
                "0.00".into(),
                "149.70".into(),
                3,
                0,
                0.0,
                5
            ),
            (
                "596.80".into(),
                "497.00".into(),
                "99.80".into(),
                2,
                1,
                0.3333,
                1
            ),
            (
                "149.80".into(),
                "497.00".into(),
                "149.80".into(),
                2,
                1,
                0.5,
                0
            ),
        ]
    );
    assert_eq!(months[0]["periodStart"], "2026-01-01T03:00:00+00:00");
    assert_eq!(months[0]["periodEnd"], "2026-02-01T03:00:00+00:00");
    assert_eq!(months[0]["granularity"], "month");
    assert_eq!(months[0]["productId"], Value::Null);
    assert_eq!(months[1]["arr"], "1197.60");
    // By day: Bia's Pix is São Paulo's 31 January.
    let day = snapshots(
        &shop,
        json!({"from": "2026-01-31T03:00:00Z", "to": "2026-02-01T03:00:00Z"}),
    )
    .await;
    assert_eq!(day.as_array().unwrap().len(), 1, "{day}");
    assert_eq!(figures(&day[0]).0, "297.00");
    assert_eq!(figures(&day[0]).6, 1);
    // Per product, and per currency.
    let products = shop.products().await;
    let mut course = quarter.clone();
    course["p"] = json!(products["3526906"]);
    let course = snapshots(&shop, course).await;
    assert_eq!(figures(&course[0]).0, "794.00");
    assert_eq!(figures(&course[0]).6, 2, "Ana and Bia");
    let mut dollars = quarter.clone();
    dollars["c"] = json!("USD");
    let dollars = snapshots(&shop, dollars).await;
    assert_eq!(dollars.as_array().unwrap().len(), 3);
    assert_eq!(figures(&dollars[1]).0, "100.00");

    // The nightly job writes yesterday's day and month, beside the rest.
    let now = api.app.clock.now();
    let written =
        entity::analytics::snapshots::snapshot_yesterday(&api.app.db, &api.app.secrets, now)
            .await
            .expect("the nightly snapshots");
    assert!(written > 0);
    let tz = chrono_tz::America::Sao_Paulo;
    let yesterday = entity::analytics::snapshots::yesterday(now, tz);
    let start = entity::analytics::periods::day_start(yesterday, tz);
    let end = entity::analytics::periods::day_start(yesterday.succ_opt().unwrap(), tz);
    let last = snapshots(
        &shop,
        json!({"from": start.to_rfc3339(), "to": end.to_rfc3339()}),
    )
    .await;
    assert_eq!(last.as_array().unwrap().len(), 1, "{last}");
    assert_eq!(figures(&last[0]).2, "149.80", "MRR as it stands");

    let weekly = snapshots_refused(&shop).await;
    assert_eq!(weekly, Some("INVALID_INPUT".to_owned()));
}

async fn snapshots_refused(shop: &Shop<'_>) -> Option<String> {
    shop.app
        .graphql(
            Some(&shop.token),
            "{ analyticsSnapshots(from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\", granularity: WEEK) { mrr } }",
            json!({}),
        )
        .await
        .error_code()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_writes_history_on_sqlite() {
    backfill_writes_history(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_writes_history_on_postgres() {
    if crate::helpers::postgres_runs("backfill_writes_history_on_postgres") {
        backfill_writes_history(Backend::Postgres).await;
    }
}
