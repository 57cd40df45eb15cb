//! Table statistics where autovacuum is off: the worker's upkeep refreshes
//! them after a burst, and vacuums a table grown past autovacuum's insert
//! threshold.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend};

use crate::helpers::{ApiOnlyApp, TestApp};
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{DAY_MS, Sale, now_ms};
use crate::on_both_backends;
use entity::Tenant;
use entity::webhook_events::{self, Inbound};

/// The planner's row estimate of `table` (PostgreSQL's `reltuples`, -1 before
/// the table was first analyzed).
async fn estimated_rows(app: &TestApp, table: &str) -> f64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT reltuples::float8 FROM pg_class \
             WHERE oid = to_regclass(current_schema() || '.' || $1)",
            [table.into()],
        ))
        .await
        .expect("read the estimate")
        .expect("the table exists");
    row.try_get_by_index(0).expect("reltuples")
}

/// What the upkeep does to `table` once it sees the changes of connections
/// just closed (their backends report them on their own time).
async fn looked_after(app: &TestApp, table: &str) -> worker::maintenance::Upkeep {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let done = worker::maintenance::refresh_statistics(&app.db)
            .await
            .expect("upkeep");
        if let Some((_, upkeep)) = done.into_iter().find(|(name, _)| name == table) {
            return upkeep;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{table} never looked after"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// After a burst of postbacks the worker's upkeep brings the planner's
/// statistics up to the rows really stored, as autovacuum would, so the
/// claims and lookups keep walking their indexes; a table left unchanged
/// is not analyzed again. SQLite keeps no such statistics: nothing to do.
async fn upkeep_refreshes_statistics_after_a_burst(served: ApiOnlyApp) {
    let app = &served.app;
    let shop = Shop::open(app, "estatistica").await;
    let base = now_ms() - DAY_MS;
    let postbacks = 150;
    // The burst is stored and applied on connections of its own, closed
    // afterwards: PostgreSQL counts a connection's changes into the table
    // statistics when it ends (an idle one reports them only seconds later).
    let burst = jornada::connect(&served.database_url, 4)
        .await
        .expect("connect for the burst");
    let events: Vec<Inbound> = (0..postbacks)
        .map(|n| {
            let at = base + n * 1_000;
            let body = Sale::new(&format!("HP94{n:08}"), &format!("aluna{n}@exemplo.com"), at)
                .event("PURCHASE_APPROVED", "APPROVED", at);
            Inbound {
                tenant: Tenant::new(shop.workspace),
                source: webhook_events::HOTMART,
                external_id: body["id"].as_str().expect("id").to_owned(),
                event_type: "PURCHASE_APPROVED".into(),
                payload: body.to_string(),
                customer_hash: None,
            }
        })
        .collect();
    webhook_events::accept_many(&burst, &events, app.clock.now())
        .await
        .expect("store the burst");
    let mut applied = 0;
    loop {
        let batch = worker::hotmart::applier::apply_batch(
            &burst,
            &app.secrets,
            &[],
            entity::db::Partition::ALL,
            worker::EVENT_BATCH,
            app.clock.now(),
        )
        .await
        .expect("apply");
        if batch == 0 {
            break;
        }
        applied += batch;
    }
    assert_eq!(applied, postbacks as usize);
    burst.close().await.expect("close the burst's connections");

    if app.db.get_database_backend() != DbBackend::Postgres {
        assert!(
            !worker::maintenance::autovacuum_is_off(&app.db)
                .await
                .expect("setting")
        );
        assert!(
            worker::maintenance::refresh_statistics(&app.db)
                .await
                .expect("upkeep")
                .is_empty()
        );
        return;
    }
    let mut refreshed = BTreeMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !["webhook_events", "transactions", "customers"]
        .iter()
        .all(|table| refreshed.contains_key(*table))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "still not analyzed: {refreshed:?}"
        );
        for (table, upkeep) in worker::maintenance::refresh_statistics(&app.db)
            .await
            .expect("upkeep")
        {
            refreshed.insert(table, upkeep);
        }
        // The closed connections' backends end on their own time.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for table in ["webhook_events", "transactions", "customers"] {
        assert_eq!(
            estimated_rows(app, table).await,
            app.count_rows(table).await as f64,
            "{table}'s statistics count its rows"
        );
    }
    assert_eq!(app.count_rows("webhook_events").await, postbacks);
    let again = worker::maintenance::refresh_statistics(&app.db)
        .await
        .expect("upkeep");
    assert!(
        !again.iter().any(|(table, _)| table == "webhook_events"),
        "an unchanged table is left alone: {again:?}"
    );

    // Every customer rewritten right after a vacuum: the table is analyzed
    // for its changes but not vacuumed again within the minute, however
    // dead its rows (autovacuum's naptime).
    let churn = jornada::connect(&served.database_url, 1)
        .await
        .expect("connect for the churn");
    churn
        .execute_unprepared("VACUUM customers")
        .await
        .expect("vacuum");
    churn
        .execute_unprepared("UPDATE customers SET updated_at = updated_at")
        .await
        .expect("rewrite every customer");
    churn.close().await.expect("close the churn's connection");
    assert_eq!(
        looked_after(app, "customers").await,
        worker::maintenance::Upkeep::Analyzed
    );

    // A table only written to, past autovacuum's insert threshold (a
    // thousand rows and a fifth of the table): vacuumed, so that its pages
    // are all-visible and a read PostgreSQL answers from an index alone
    // stays in the index.
    let writes = jornada::connect(&served.database_url, 1)
        .await
        .expect("connect for the writes");
    writes
        .execute_unprepared(&format!(
            "INSERT INTO cohort_days (id, workspace_id, day, product_id, currency, cohort_month, net) \
             SELECT gen_random_uuid(), '{}', DATE '2026-01-01' + g, NULL, 'BRL', DATE '2026-01-01', 1 \
             FROM generate_series(1, 1200) g",
            shop.workspace
        ))
        .await
        .expect("write a cohort's days");
    writes.close().await.expect("close the writes' connection");
    assert_eq!(
        looked_after(app, "cohort_days").await,
        worker::maintenance::Upkeep::VacuumedAndAnalyzed
    );
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT relpages::int8, relallvisible::int8 FROM pg_class \
             WHERE oid = to_regclass(current_schema() || '.cohort_days')",
        ))
        .await
        .expect("read the visibility map's count")
        .expect("the table exists");
    let (pages, visible): (i64, i64) = (
        row.try_get_by_index(0).expect("relpages"),
        row.try_get_by_index(1).expect("relallvisible"),
    );
    assert!(pages > 0, "the days take pages");
    assert_eq!(visible, pages, "every page of the days is all-visible");
}

on_both_backends!(
    upkeep_refreshes_statistics,
    upkeep_refreshes_statistics_after_a_burst,
    crate::helpers::spawn_api_only
);
