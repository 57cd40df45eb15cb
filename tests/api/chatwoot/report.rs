//! `tagReport` against a hand-computed fixture of label changes delivered
//! over two weeks, by product, across workspaces and roles.

use chrono::Duration;
use entity::enums::AccessStatus;
use sea_orm::ActiveModelTrait;
use sea_orm::Set;
use serde_json::json;

use super::*;
use crate::fakes::chatwoot::{label_change, sender};
use crate::on_both_backends;

const REPORT: &str = "query($ws: ID, $from: DateTime!, $to: DateTime!, $product: ID) {
    tagReport(workspaceId: $ws, from: $from, to: $to, productId: $product) {
        label count customers previousCount } }";

async fn product(app: &TestApp, workspace: Uuid, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    let now = app.clock.now();
    entity::product::ActiveModel::from(entity::product::Model {
        id,
        workspace_id: workspace,
        name: name.to_owned(),
        monitored: true,
        created_at: now,
        updated_at: now,
        ..Default::default()
    })
    .insert(&app.db)
    .await
    .expect("insert a product");
    id
}

async fn enroll(app: &TestApp, workspace: Uuid, customer: Uuid, product: Uuid) {
    let now = app.clock.now();
    entity::enrollment::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace),
        customer_id: Set(customer),
        product_id: Set(product),
        transaction_id: Set(None),
        access_status: Set(AccessStatus::Active),
        starts_at: Set(Some(now)),
        ends_at: Set(None),
        renews_at: Set(None),
        first_access_at: Set(None),
        first_access_origin: Set(None),
        last_access_at: Set(None),
        last_lesson_completed_at: Set(None),
        progress_percent: Set(Default::default()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .expect("insert an enrollment");
}

fn row(label: &str, count: i64, customers: i64, previous: i64) -> Value {
    json!({"label": label, "count": count, "customers": customers, "previousCount": previous})
}

async fn the_tag_report_counts_labels_per_period(app: TestApp) {
    let ws = workspace(&app, "nuvem", None).await;
    let ana = customer(&app, ws.id, "ana@example.com", None).await;
    let _bia = customer(&app, ws.id, "bia@example.com", None).await;
    let caio = customer(&app, ws.id, "caio@example.com", None).await;
    let course = product(&app, ws.id, "Curso de Confeitaria").await;
    // Ana bought the course; Caio is enrolled in it; Bia neither.
    app.insert_transaction(ws.id, ana, Some(course), "HP0001")
        .await;
    enroll(&app, ws.id, caio, course).await;

    // The report's week starts at `start`; the week before is the previous period.
    let start = app.clock.now() + Duration::days(6);
    let end = start + Duration::days(7);
    // Each customer is one Chatwoot contact.
    let who = |email: &str| {
        let contact = match email {
            "ana@example.com" => 1,
            "bia@example.com" => 2,
            _ => 3,
        };
        sender(contact, Some(email), None)
    };
    let s = |labels: &[&str]| labels.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let changes = [
        (
            Duration::days(-5),
            "1",
            "ana@example.com",
            &[][..],
            &["duvida"][..],
        ),
        (
            Duration::days(-3),
            "2",
            "bia@example.com",
            &[],
            &["duvida", "boleto"],
        ),
        (
            Duration::days(-1),
            "2",
            "bia@example.com",
            &["duvida", "boleto"],
            &["duvida", "boleto", "elogio"],
        ),
        // Boleto put on, duvida taken off (a removal counts for nothing).
        (
            Duration::days(1),
            "1",
            "ana@example.com",
            &["duvida"],
            &["boleto"],
        ),
        (
            Duration::days(2),
            "3",
            "caio@example.com",
            &[],
            &["duvida", "boleto"],
        ),
        (
            Duration::days(3),
            "2",
            "bia@example.com",
            &["duvida", "boleto", "elogio"],
            &["duvida", "elogio"],
        ),
        // Taken off and put on again: counted again.
        (
            Duration::days(3) + Duration::hours(1),
            "2",
            "bia@example.com",
            &["duvida", "elogio"],
            &["duvida", "elogio", "boleto"],
        ),
        // Caio's second conversation: two duvida tags, one customer.
        (Duration::days(4), "4", "caio@example.com", &[], &["duvida"]),
        // After the period.
        (
            Duration::days(8),
            "1",
            "ana@example.com",
            &["boleto"],
            &["boleto", "fora"],
        ),
    ];
    for (offset, conversation, email, previous, current) in changes {
        app.advance_to(start + offset).await;
        let change = label_change(conversation, who(email), &s(previous), &s(current));
        deliver(&app, &ws, None, &change).await;
    }
    app.drain().await;

    let variables = |product: Option<Uuid>| json!({"from": start.to_rfc3339(), "to": end.to_rfc3339(), "product": product});
    let agent = app.agent_token(ws.id);
    let everyone = app.graphql(Some(&agent), REPORT, variables(None)).await;
    let expected = json!([
        row("boleto", 3, 3, 1),
        row("duvida", 2, 1, 2),
        row("elogio", 0, 0, 1),
    ]);
    assert_eq!(everyone.data("tagReport"), &expected);
    let buyers = app
        .graphql(Some(&agent), REPORT, variables(Some(course)))
        .await;
    assert_eq!(
        buyers.data("tagReport"),
        &json!([row("duvida", 2, 1, 1), row("boleto", 2, 2, 0)]),
        "only the course's buyers and students"
    );

    // A read-only token and service_role read the same.
    let reader = app.reader_token(ws.id);
    assert_eq!(
        app.graphql(Some(&reader), REPORT, variables(None))
            .await
            .data("tagReport"),
        &expected
    );
    let mut named = variables(None);
    named["ws"] = json!(ws.id);
    let service = app.service_token();
    assert_eq!(
        app.graphql(Some(&service), REPORT, named.clone())
            .await
            .data("tagReport"),
        &expected
    );

    // Another workspace sees none of it.
    let other = app.create_workspace("outra-nuvem").await;
    let outsider = app.agent_token(other);
    assert_eq!(
        app.graphql(Some(&outsider), REPORT, variables(None))
            .await
            .data("tagReport"),
        &json!([])
    );
    let peek = app.graphql(Some(&outsider), REPORT, named).await;
    assert_eq!(peek.error_code(), Some("NOT_FOUND"));
    let mut foreign_product = variables(Some(course));
    foreign_product["ws"] = json!(other);
    assert_eq!(
        app.graphql(Some(&service), REPORT, foreign_product)
            .await
            .data("tagReport"),
        &json!([])
    );

    // Bad questions get stable codes.
    let anonymous = app.graphql(None, REPORT, variables(None)).await;
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"));
    let backwards = json!({"from": end.to_rfc3339(), "to": start.to_rfc3339()});
    assert_eq!(
        app.graphql(Some(&agent), REPORT, backwards)
            .await
            .error_code(),
        Some("INVALID_INPUT")
    );
    let mut bad_product = variables(None);
    bad_product["product"] = json!("curso");
    assert_eq!(
        app.graphql(Some(&agent), REPORT, bad_product)
            .await
            .error_code(),
        Some("INVALID_INPUT")
    );
}
on_both_backends!(
    the_tag_report_counts_labels_per_period,
    the_tag_report_counts_labels_per_period
);
