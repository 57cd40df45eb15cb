//! The webhook event log: its filters, pagination and tenancy.

use entity::webhook_event;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::event_of;
use crate::helpers::TestApp;
use crate::hotmart_events::{Shop, utc};
use crate::hotmart_webhooks::{DAY_MS, Sale, envelope, now_ms};
use crate::on_both_backends;

async fn webhook_event_log_filters_and_tenancy(app: TestApp) {
    let shop = Shop::open(&app, "registro").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let refund_of = Sale::new("HP2200000001", "um@exemplo.com", at(1));
    let mut broken = Sale::new("HP2200000009", "x@exemplo.com", at(1)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(1),
    );
    broken["data"]["buyer"]
        .as_object_mut()
        .expect("buyer")
        .remove("email");
    let bodies = vec![
        refund_of.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        Sale::new("HP2200000002", "dois@exemplo.com", at(2)).event(
            "PURCHASE_APPROVED",
            "APPROVED",
            at(2),
        ),
        Sale::new("HP2200000003", "tres@exemplo.com", at(3)).event(
            "PURCHASE_APPROVED",
            "APPROVED",
            at(3),
        ),
        refund_of.event("PURCHASE_REFUNDED", "REFUNDED", at(4)),
        envelope("NOT_A_HOTMART_EVENT", at(5), json!({})),
        broken,
    ];
    shop.post_all(&bodies).await;
    app.drain().await;
    // Received on six consecutive days of January 2026.
    let day = |d: i64| utc(1_767_225_600_000 + d * DAY_MS);
    for (d, body) in bodies.iter().enumerate() {
        webhook_event::Entity::update_many()
            .col_expr(
                webhook_event::Column::ReceivedAt,
                Expr::value(day(d as i64)),
            )
            .filter(webhook_event::Column::ExternalId.eq(body["id"].as_str().expect("id")))
            .exec(&app.db)
            .await
            .expect("date the event");
    }
    let count = |filter: Value| {
        let shop = &shop;
        async move { shop.webhook_events(filter).await["totalCount"].clone() }
    };
    assert_eq!(count(json!({})).await, 6);
    assert_eq!(count(json!({"status": "PROCESSED"})).await, 4);
    assert_eq!(count(json!({"status": "IGNORED"})).await, 1);
    assert_eq!(count(json!({"status": "DEAD"})).await, 1);
    assert_eq!(count(json!({"status": "FAILED"})).await, 0);
    assert_eq!(count(json!({"eventType": "PURCHASE_APPROVED"})).await, 4);
    assert_eq!(
        count(json!({"eventType": "purchase_refunded"})).await,
        1,
        "event types match case-insensitively"
    );
    assert_eq!(
        count(json!({"eventType": "PURCHASE_APPROVED", "status": "PROCESSED"})).await,
        3
    );
    let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    assert_eq!(
        count(json!({"from": iso(day(2)), "to": iso(day(4))})).await,
        2,
        "from is inclusive, to exclusive"
    );
    assert_eq!(count(json!({"from": iso(day(5))})).await, 1);
    assert_eq!(count(json!({"to": iso(day(0))})).await, 0);
    assert_eq!(
        count(
            json!({"from": iso(day(1)), "eventType": "PURCHASE_APPROVED", "status": "PROCESSED"})
        )
        .await,
        2
    );

    // Pages of two, newest first, cover every event once.
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = shop
            .query(
                "query($after: String) { webhookEvents(first: 2, after: $after) { totalCount
                    pageInfo { hasNextPage endCursor } nodes { id externalId } } }",
                json!({"after": after}),
                "webhookEvents",
            )
            .await;
        assert_eq!(page["totalCount"], 6, "{page}");
        let ids: Vec<String> = page["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["externalId"].as_str().expect("id").to_owned())
            .collect();
        pages.push(ids);
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(pages.len() < 10, "pagination does not end");
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    let listed: Vec<String> = pages.concat();
    let newest_first: Vec<String> = bodies
        .iter()
        .rev()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, newest_first);
    let too_many = app
        .graphql(
            Some(&shop.token),
            "{ webhookEvents(first: 101) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(too_many.error_code().is_some(), "{:?}", too_many.body);
    let forged = app
        .graphql(
            Some(&shop.token),
            "{ webhookEvents(first: 2, after: \"bm90LWEtY3Vyc29y\") { totalCount } }",
            json!({}),
        )
        .await;
    assert!(forged.error_code().is_some(), "{:?}", forged.body);

    // Another workspace's agent sees none of it and can replay none of it.
    let other = Shop::open(&app, "vizinha").await;
    assert_eq!(other.webhook_events(json!({})).await["totalCount"], 0);
    let dead = shop.webhook_events(json!({"status": "DEAD"})).await;
    let dead_id = dead["nodes"][0]["id"].as_str().expect("id").to_owned();
    let mine = shop.workspace.to_string();
    let peek = app
        .graphql(
            Some(&other.token),
            "query($w: ID) { webhookEvents(workspaceId: $w) { totalCount } }",
            json!({"w": mine}),
        )
        .await;
    assert_eq!(peek.error_code(), Some("NOT_FOUND"), "{:?}", peek.body);
    let replay = app
        .graphql(
            Some(&other.token),
            "mutation($id: ID!) { replayWebhookEvent(id: $id) { id status } }",
            json!({"id": dead_id}),
        )
        .await;
    assert_eq!(replay.error_code(), Some("NOT_FOUND"), "{:?}", replay.body);
    let replay_there = app
        .graphql(
            Some(&other.token),
            "mutation($id: ID!, $w: ID) { replayWebhookEvent(workspaceId: $w, id: $id) { id } }",
            json!({"id": dead_id, "w": mine}),
        )
        .await;
    assert_eq!(
        replay_there.error_code(),
        Some("NOT_FOUND"),
        "{:?}",
        replay_there.body
    );
    let replay_all = app
        .graphql(
            Some(&other.token),
            "mutation { replayDeadWebhookEvents { id } }",
            json!({}),
        )
        .await;
    assert_eq!(replay_all.data("replayDeadWebhookEvents"), &json!([]));
    let reader = app.reader_token(shop.workspace);
    let read_only = app
        .graphql(
            Some(&reader),
            "mutation($id: ID!) { replayWebhookEvent(id: $id) { id } }",
            json!({"id": dead_id}),
        )
        .await;
    assert_eq!(
        read_only.error_code(),
        Some("FORBIDDEN"),
        "{:?}",
        read_only.body
    );
    let anonymous = app
        .graphql(None, "{ webhookEvents { totalCount } }", json!({}))
        .await;
    assert!(anonymous.error_code().is_some(), "{:?}", anonymous.body);
    assert_eq!(
        event_of(&shop, bodies[5]["id"].as_str().expect("id")).await["status"],
        "DEAD",
        "nothing was replayed"
    );
    assert_eq!(
        event_of(&shop, bodies[5]["id"].as_str().expect("id")).await["attempts"],
        1
    );

    // service_role names the workspace.
    let service = app
        .graphql(
            Some(&app.service_token()),
            "query($w: ID) { webhookEvents(workspaceId: $w) { totalCount } }",
            json!({"w": mine}),
        )
        .await;
    assert_eq!(service.data("webhookEvents")["totalCount"], 6);
}
on_both_backends!(
    webhook_event_log_filters_and_tenancy,
    webhook_event_log_filters_and_tenancy
);
