//! Table statistics where autovacuum is off: the worker's upkeep refreshes
//! them after a burst.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend};

use super::apply_all;
use crate::helpers::{ApiOnlyApp, TestApp};
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{DAY_MS, Sale, now_ms};
use crate::on_both_backends;

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

/// After a burst of postbacks the worker's upkeep brings the planner's
/// statistics up to the rows really stored, as autovacuum would, so the
/// claims and lookups keep walking their indexes; a table left unchanged
/// is not analyzed again. SQLite keeps no such statistics: nothing to do.
async fn upkeep_refreshes_statistics_after_a_burst(served: ApiOnlyApp) {
    let app = &served.app;
    let shop = Shop::open(app, "estatistica").await;
    let base = now_ms() - DAY_MS;
    let postbacks = 150;
    for n in 0..postbacks {
        let at = base + n * 1_000;
        shop.post(
            &Sale::new(&format!("HP94{n:08}"), &format!("aluna{n}@exemplo.com"), at).event(
                "PURCHASE_APPROVED",
                "APPROVED",
                at,
            ),
        )
        .await;
    }
    assert_eq!(
        apply_all(app).await.iter().sum::<usize>(),
        postbacks as usize
    );

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
    // An idle connection reports its last changes to the statistics up to
    // ten seconds later (PostgreSQL's idle flush interval): wait for them
    // all, so that what the upkeep sees is the whole burst.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
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
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
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
}

on_both_backends!(
    upkeep_refreshes_statistics,
    upkeep_refreshes_statistics_after_a_burst,
    crate::helpers::spawn_api_only
);
