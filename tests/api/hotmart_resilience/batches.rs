//! Purchases applied together in one batch end where applying them one by one
//! ends, and a refused purchase fails alone.

use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};

use super::{
    apply_all, break_transactions, converged_state, differences, event_of, repair_transactions,
    story,
};
use crate::helpers::{ApiOnlyApp, TestApp};
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{DAY_MS, Sale, now_ms};
use crate::on_both_backends;

const CULPRIT: &str = "HP9100000099";

/// Domain events of one workspace as (type, dedupe key with its ids blanked), sorted.
async fn domain_event_keys(app: &TestApp, workspace: uuid::Uuid) -> Vec<(String, String)> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            app.db.get_database_backend(),
            match app.db.get_database_backend() {
                DbBackend::Postgres => {
                    "SELECT event_type, dedupe_key FROM domain_events WHERE workspace_id = $1"
                }
                _ => "SELECT event_type, dedupe_key FROM domain_events WHERE workspace_id = ?",
            },
            [workspace.into()],
        ))
        .await
        .expect("domain events");
    let mut keys: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            let event_type: String = row.try_get("", "event_type").expect("type");
            let key: String = row.try_get("", "dedupe_key").expect("key");
            // Ids differ between workspaces; what they name does not.
            let key = key
                .split(':')
                .map(|part| {
                    if uuid::Uuid::parse_str(part).is_ok() {
                        "<id>"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join(":");
            (event_type, key)
        })
        .collect();
    keys.sort();
    keys
}

/// Purchases stored together and applied in one batch (the launch-day path)
/// end exactly where applying them one by one ends — customers, transactions,
/// enrollments, subscriptions, LTV and domain events — whatever order they
/// arrived in; a purchase the database refuses fails alone and applies once
/// the fault is gone.
async fn purchases_applied_together_match_one_by_one(served: ApiOnlyApp) {
    let app = &served.app;
    let base = now_ms() - 25 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let mut events: Vec<Value> = story(base).into_iter().map(|(_, e)| e).collect();
    // A second buyer: two sales, one refunded; the refund told first.
    let ebook = Sale::new("HP9100000001", "caio@exemplo.com", at(1)).buyer("Caio Lima", None);
    let mentoria = Sale::new("HP9100000002", "caio@exemplo.com", at(2))
        .buyer("Caio Lima", Some(("55", "21998765432")))
        .product(json!(990011), "Mentoria");
    events.push(ebook.event("PURCHASE_REFUNDED", "REFUNDED", at(6)));
    events.push(ebook.event("PURCHASE_APPROVED", "APPROVED", at(1)));
    events.push(mentoria.event("PURCHASE_APPROVED", "APPROVED", at(2)));
    events.push(mentoria.event("PURCHASE_COMPLETE", "COMPLETE", at(9)));

    // The dated order, one by one: where any delivery order must end.
    let dated = Shop::open(app, "datado").await;
    for event in &events {
        dated.post(event).await;
        assert_eq!(apply_all(app).await, vec![1], "one event, one batch");
    }

    let culprit =
        Sale::new(CULPRIT, "dora@exemplo.com", at(3)).event("PURCHASE_APPROVED", "APPROVED", at(3));
    for (n, order) in [
        (0..events.len()).rev().collect::<Vec<_>>(),
        vec![8, 1, 10, 0, 5, 9, 2, 7, 4, 6, 3],
    ]
    .into_iter()
    .enumerate()
    {
        // The same arrival order, one by one and all in one batch.
        let one_by_one = Shop::open(app, &format!("um-a-um-{n}")).await;
        for &i in &order {
            one_by_one.post(&events[i]).await;
            assert_eq!(apply_all(app).await, vec![1]);
        }
        let together = Shop::open(app, &format!("em-lote-{n}")).await;
        for &i in &order {
            together.post(&events[i]).await;
        }
        if n == 0 {
            break_transactions(app, Some(CULPRIT)).await;
            together.post(&culprit).await;
        }
        let expected = events.len() + usize::from(n == 0);
        assert_eq!(apply_all(app).await, vec![expected], "one batch for all");

        let processed = together
            .webhook_events(json!({"status": "PROCESSED"}))
            .await;
        assert_eq!(processed["totalCount"], events.len(), "{processed}");
        for email in ["bia@exemplo.com", "caio@exemplo.com"] {
            let reference = converged_state(&dated, email).await;
            for shop in [&one_by_one, &together] {
                let mut found = Vec::new();
                differences(
                    "",
                    &reference,
                    &converged_state(shop, email).await,
                    &mut found,
                );
                assert!(
                    found.is_empty(),
                    "{} {order:?}, {email}: {found:#?}",
                    shop.slug
                );
            }
        }
        // Which state changes were recorded depends on the arrival order (a
        // late approval changes nothing, so records nothing): the batch
        // records what one by one in the same order records.
        assert_eq!(
            domain_event_keys(app, one_by_one.workspace).await,
            domain_event_keys(app, together.workspace).await,
            "order {order:?}: the same domain events"
        );
        if n == 0 {
            let failed = event_of(&together, culprit["id"].as_str().expect("id")).await;
            assert_eq!(failed["status"], "FAILED", "{failed}");
            assert!(
                failed["lastError"]
                    .as_str()
                    .is_some_and(|e| e.contains("temporary failure")),
                "{failed}"
            );
            assert_eq!(
                app.count_where("customers", "email = 'dora@exemplo.com'")
                    .await,
                0,
                "nothing of the refused purchase was kept"
            );
            repair_transactions(app).await;
            // Its backoff passes.
            app.clock.advance(entity::webhook_events::backoff(1));
            assert_eq!(apply_all(app).await, vec![1]);
            let applied = event_of(&together, culprit["id"].as_str().expect("id")).await;
            assert_eq!(applied["status"], "PROCESSED", "{applied}");
            assert_eq!(
                together.customer("dora@exemplo.com").await["transactions"][0]["code"],
                CULPRIT
            );
        }
    }
}

on_both_backends!(
    purchases_applied_together,
    purchases_applied_together_match_one_by_one,
    crate::helpers::spawn_api_only
);
