//! The Hotmart API sync against a fake Hotmart speaking its wire format.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::fakes::hotmart::{self as fake, FakeHotmart};
use crate::helpers::TestApp;
use crate::hotmart_webhooks::{HOTTOK, purchase};
use crate::on_both_backends;

async fn configure(app: &TestApp, agent: &str, hotmart: &FakeHotmart) {
    for (key, value) in [
        ("hotmart.client_id", fake::CLIENT_ID.to_owned()),
        ("hotmart.client_secret", fake::CLIENT_SECRET.to_owned()),
        ("hotmart.base_url", hotmart.base_url().to_owned()),
        ("hotmart.auth_url", hotmart.base_url().to_owned()),
        ("hotmart.club_subdomain", fake::CLUB_SUBDOMAIN.to_owned()),
        ("hotmart.club_product_id", "3526906".to_owned()),
    ] {
        app.graphql(
            Some(agent),
            "mutation($k: String!, $v: String!) { setSetting(key: $k, value: $v) { key } }",
            json!({"k": key, "v": value}),
        )
        .await
        .data("setSetting");
    }
}

/// `syncHotmart` as `agent`, followed to its successful end.
async fn sync(app: &TestApp, agent: &str, since: &str) -> serde_json::Value {
    let job = app
        .graphql(
            Some(agent),
            "mutation($since: DateTime!) { syncHotmart(since: $since) { id status } }",
            json!({"since": since}),
        )
        .await
        .data("syncHotmart")
        .clone();
    assert_eq!(job["status"], "QUEUED", "the mutation answers at once");
    let done = app.finished_job(agent, &job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    done
}

/// A subscription mutation as `agent`, followed to its successful end.
async fn subscription_job(app: &TestApp, agent: &str, mutation: &str) -> serde_json::Value {
    let answer = app.graphql(Some(agent), mutation, json!({})).await;
    let field = answer.body["data"]
        .as_object()
        .and_then(|data| data.values().next())
        .cloned()
        .unwrap_or_else(|| panic!("{}", answer.body));
    let done = app.finished_job(agent, &field).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    done
}

fn recent_sale(transaction: &str, email: &str, status: &str, days_ago: i64) -> serde_json::Value {
    let mut sale = fake::sale(transaction, email, status);
    let ordered = (Utc::now() - Duration::days(days_ago)).timestamp_millis();
    sale["purchase"]["order_date"] = json!(ordered);
    sale["purchase"]["approved_date"] = json!(ordered + 60_000);
    sale
}

async fn a_sync_repairs_a_webhook_that_never_came(app: TestApp) {
    let hotmart = FakeHotmart::spawn().await;
    let ws = app.hotmart_workspace("sincronia").await;
    let agent = app.agent_token(ws);
    configure(&app, &agent, &hotmart).await;

    // One purchase arrived by webhook; its refund and a second sale never did.
    let webhook = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP-WEBHOOK",
        "maria@example.com",
        (Utc::now() - Duration::days(2)).timestamp_millis(),
    );
    assert_eq!(
        app.post_hotmart("sincronia", Some(HOTTOK), &webhook)
            .await
            .0,
        200
    );
    app.drain().await;
    hotmart.seed_sales([
        recent_sale("HP-WEBHOOK", "maria@example.com", "REFUNDED", 2),
        recent_sale("HP-MISSED", "joao@example.com", "APPROVED", 1),
    ]);
    hotmart.seed_subscriptions([fake::subscription("SUB-1", "joao@example.com", "ACTIVE")]);
    hotmart.seed_modules([fake::module("mod-1", "Módulo 1", 1)]);
    hotmart.seed_pages(
        "mod-1",
        [
            fake::page("page-1", "Aula 1", 1),
            fake::page("page-2", "Aula 2", 2),
        ],
    );
    hotmart.seed_club_users([fake::club_user("user-1", "joao@example.com")]);
    hotmart.seed_lessons(
        "user-1",
        [
            fake::lesson("page-1", "Aula 1", "Módulo 1", true),
            fake::lesson("page-2", "Aula 2", "Módulo 1", false),
        ],
    );
    hotmart.inject_token_expired();
    hotmart.inject_rate_limit(1);

    let since = (Utc::now() - Duration::days(7)).to_rfc3339();
    let synced = sync(&app, &agent, &since).await;
    assert_eq!(synced["kind"], "HOTMART_SYNC");
    assert_eq!(
        synced["input"],
        json!({"kind": "hotmart_sync", "since": synced["input"]["since"]})
    );
    assert_eq!(
        synced["result"],
        json!({"pages": 3, "sales": 2, "subscriptions": 1, "members": 1, "lessons": 2, "failed": 0, "skipped": []})
    );
    assert_eq!(
        synced["progress"]["sales"], 2,
        "progress was reported on the way"
    );
    assert_eq!(synced["attempts"], 1);
    app.drain().await;

    let customers = app
        .graphql(
            Some(&agent),
            "{ customers { edges { node { email ltvTotal transactions { code status } subscriptions { subscriberCode status planName recurringAmount }
               enrollments { accessStatus firstAccessOrigin progress } } } } }",
            json!({}),
        )
        .await;
    let edges = customers.data("customers")["edges"]
        .as_array()
        .unwrap()
        .clone();
    let by_email = |email: &str| {
        edges
            .iter()
            .map(|e| &e["node"])
            .find(|n| n["email"] == email)
            .cloned()
            .unwrap()
    };
    let maria = by_email("maria@example.com");
    assert_eq!(
        maria["transactions"],
        json!([{"code": "HP-WEBHOOK", "status": "REFUNDED"}]),
        "the missed refund is applied"
    );
    assert_eq!(maria["ltvTotal"], "0.00");
    assert_eq!(maria["enrollments"][0]["accessStatus"], "BLOCKED");
    let joao = by_email("joao@example.com");
    assert_eq!(
        joao["transactions"],
        json!([{"code": "HP-MISSED", "status": "APPROVED"}])
    );
    assert_eq!(joao["ltvTotal"], "497.00");
    assert_eq!(
        joao["subscriptions"],
        json!([{"subscriberCode": "SUB-1", "status": "ACTIVE", "planName": "Clube Mensal", "recurringAmount": "49.90"}])
    );
    assert_eq!(
        joao["enrollments"],
        json!([{"accessStatus": "ACTIVE", "firstAccessOrigin": "hotmart_email", "progress": "50.00"}])
    );
    assert_eq!(
        app.count_where("domain_events", "event_type = 'purchase_refunded'")
            .await,
        1
    );
    assert_eq!(
        app.count_where("domain_events", "event_type = 'purchase_approved'")
            .await,
        2
    );

    // A second sync finds nothing new to record.
    let again = sync(&app, &agent, &since).await;
    assert_eq!(again["result"]["sales"], 2);
    assert_eq!(again["result"]["failed"], 0);
    app.drain().await;
    assert_eq!(
        app.count_rows("domain_events").await,
        app.count_where("domain_events", "dispatched_at IS NOT NULL")
            .await
    );
    assert_eq!(
        app.count_where("domain_events", "event_type = 'purchase_approved'")
            .await,
        2,
        "a second sync records nothing twice"
    );

    let cancelled = subscription_job(&app, &agent, "mutation { cancelSubscription(subscriberCode: \"SUB-1\", sendMail: true) { id kind status } }").await;
    assert_eq!(cancelled["kind"], "SUBSCRIPTION_CANCEL");
    assert_eq!(cancelled["result"]["status"], "CANCELLED_BY_SELLER");
    assert_eq!(cancelled["result"]["subscriberCode"], "SUB-1");
    assert!(cancelled["result"]["cancelledAt"].is_string());
    assert_eq!(
        hotmart.subscription_status("SUB-1").as_deref(),
        Some("CANCELLED_BY_SELLER")
    );
    let reactivated = subscription_job(&app, &agent, "mutation { reactivateSubscription(subscriberCode: \"SUB-1\", charge: false) { id kind status } }").await;
    assert_eq!(reactivated["kind"], "SUBSCRIPTION_REACTIVATE");
    assert_eq!(reactivated["result"]["status"], "ACTIVE");
    assert_eq!(
        hotmart.subscription_status("SUB-1").as_deref(),
        Some("ACTIVE")
    );
    let subscriptions = app
        .graphql(
            Some(&agent),
            "{ customers { nodes { email subscriptions { subscriberCode status } } } }",
            json!({}),
        )
        .await;
    let joao = subscriptions.data("customers")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["email"] == "joao@example.com")
        .cloned()
        .unwrap();
    assert_eq!(
        joao["subscriptions"],
        json!([{"subscriberCode": "SUB-1", "status": "ACTIVE"}])
    );
    let unknown = app
        .graphql(
            Some(&agent),
            "mutation { cancelSubscription(subscriberCode: \"NOPE\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(unknown.error_code(), Some("NOT_FOUND"));
}
on_both_backends!(
    a_sync_repairs_a_webhook_that_never_came,
    a_sync_repairs_a_webhook_that_never_came
);

async fn a_sync_without_credentials_says_what_to_set(app: TestApp) {
    let ws = app.create_workspace("sem-credenciais").await;
    let agent = app.agent_token(ws);
    let since = (Utc::now() - Duration::days(1)).to_rfc3339();
    let answer = app
        .graphql(
            Some(&agent),
            "mutation($since: DateTime!) { syncHotmart(since: $since) { id } }",
            json!({"since": since}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("INVALID_INPUT"));
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("hotmart.client_id")
    );
    let ancient = app
        .graphql(
            Some(&agent),
            "mutation { syncHotmart(since: \"2001-01-01T00:00:00Z\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(ancient.error_code(), Some("INVALID_INPUT"));
    let reader = app.reader_token(ws);
    let refused = app
        .graphql(
            Some(&reader),
            "mutation($since: DateTime!) { syncHotmart(since: $since) { id } }",
            json!({"since": since}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
}
on_both_backends!(
    a_sync_without_credentials_says_what_to_set,
    a_sync_without_credentials_says_what_to_set
);
