//! Churn risk as a CS person reads it on the customer: the score and its
//! reasons follow each postback as it is applied, and the passage of time
//! through the hourly refresh (`docs/metrics.md`, "Churn risk").

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{DAY_MS, Sale, first_access, iso, product_ref};
use crate::on_both_backends;

const RISK: &str =
    "segment churnRisk churnRiskScore churnRiskReasons { code points since deadline productId }";

async fn risk_of(shop: &Shop<'_>, email: &str) -> Value {
    let id = shop
        .customer_id(email)
        .await
        .expect("the buyer is a customer");
    shop.query(
        &format!("query($id: ID!) {{ customer(id: $id) {{ {RISK} }} }}"),
        json!({"id": id}),
        "customer",
    )
    .await
}

async fn product_id(shop: &Shop<'_>, name: &str) -> String {
    let products = shop
        .query(
            "{ products { edges { node { id name } } } }",
            json!({}),
            "products",
        )
        .await;
    products["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["node"]["name"] == name)
        .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
        .expect("the product was recorded")
}

/// The hourly refresh, at the app's clock.
async fn refresh(app: &TestApp) {
    entity::segments::refresh_all(&app.db, &app.secrets, app.clock.now())
        .await
        .expect("the refresh runs");
}

async fn follows_what_happens_and_time(app: TestApp) {
    let shop = Shop::open(&app, "risco").await;
    let start = app.clock.now().timestamp_millis();
    let bought = |code: &str, email: &str| {
        let mut sale = Sale::new(code, email, start - 60_000);
        sale.approved_ms = Some(start);
        sale
    };
    let ana = bought("HP3000000001", "ana@exemplo.com");
    let bia = bought("HP3000000002", "bia@exemplo.com");
    let gil = bought("HP3000000003", "gil@exemplo.com")
        .product(json!(788921), "Clube do Bolo")
        .subscription(json!("SUB-GIL"), json!(114680), "Plano Mensal");
    let approved = |sale: &Sale| sale.event("PURCHASE_APPROVED", "APPROVED", start);
    shop.post_all(&[approved(&ana), approved(&bia), approved(&gil)])
        .await;
    let curso = product_id(&shop, "Curso de Confeitaria").await;
    let clube = product_id(&shop, "Clube do Bolo").await;

    assert_eq!(
        risk_of(&shop, "ana@exemplo.com").await,
        json!({"segment": "active", "churnRisk": "low", "churnRiskScore": 0, "churnRiskReasons": []}),
        "a buyer of a minute ago is at no risk"
    );

    // Bia asks for her money back an hour later: her access is blocked, yet
    // she is the one to call.
    let protest_ms = start + 3_600_000;
    shop.post(&bia.event("PURCHASE_PROTEST", "PROTESTED", protest_ms))
        .await;
    // Gil's second charge (a transaction of its own) is late.
    let delayed_ms = start + 2 * 3_600_000;
    let mut renewal = gil.clone();
    renewal.transaction = "HP3000000004".to_owned();
    shop.post(&renewal.recurrence(2).approved_at(None).event(
        "PURCHASE_DELAYED",
        "OVERDUE",
        delayed_ms,
    ))
    .await;
    app.drain().await;
    assert_eq!(
        risk_of(&shop, "bia@exemplo.com").await,
        json!({"segment": "at_risk", "churnRisk": "high", "churnRiskScore": 50, "churnRiskReasons": [
            {"code": "REFUND_REQUESTED", "points": 50, "since": iso(protest_ms), "deadline": null, "productId": curso}
        ]}),
        "recomputed as the refund request is applied, without waiting for the hour"
    );
    assert_eq!(
        risk_of(&shop, "gil@exemplo.com").await,
        json!({"segment": "at_risk", "churnRisk": "high", "churnRiskScore": 50, "churnRiskReasons": [
            {"code": "PAYMENT_DELAYED", "points": 50, "since": iso(delayed_ms), "deadline": null, "productId": clube}
        ]})
    );

    // Five days on, Ana has not opened the course and her warranty (seven
    // days after the order) ends in two days.
    app.advance(Duration::days(5)).await;
    refresh(&app).await;
    let warranty_ends = iso(start - 60_000 + 7 * DAY_MS);
    let near_warranty_end = json!({"code": "LOW_PROGRESS_NEAR_WARRANTY_END", "points": 30, "since": null, "deadline": warranty_ends, "productId": curso});
    assert_eq!(
        risk_of(&shop, "ana@exemplo.com").await,
        json!({"segment": "at_risk", "churnRisk": "medium", "churnRiskScore": 30, "churnRiskReasons": [near_warranty_end]})
    );

    // Fifteen days after buying she still has not come: 14 days without
    // access; the warranty has ended.
    app.advance(Duration::days(10)).await;
    refresh(&app).await;
    assert_eq!(
        risk_of(&shop, "ana@exemplo.com").await,
        json!({"segment": "at_risk", "churnRisk": "medium", "churnRiskScore": 30, "churnRiskReasons": [
            {"code": "NO_ACCESS", "points": 30, "since": iso(start), "deadline": null, "productId": null}
        ]})
    );

    // She opens the course: recomputed as the access is applied.
    let access_ms = app.clock.now().timestamp_millis();
    shop.post(&first_access(
        "ana@exemplo.com",
        "Ana",
        product_ref(json!(3526906), "Curso de Confeitaria"),
        access_ms,
    ))
    .await;
    app.drain().await;
    assert_eq!(
        risk_of(&shop, "ana@exemplo.com").await,
        json!({"segment": "active", "churnRisk": "low", "churnRiskScore": 0, "churnRiskReasons": []})
    );

    // Thirty days after buying, opening it was all she did: 15 days since,
    // and no lesson completed since the start of her access.
    app.advance(Duration::days(15)).await;
    refresh(&app).await;
    assert_eq!(
        risk_of(&shop, "ana@exemplo.com").await,
        json!({"segment": "at_risk", "churnRisk": "high", "churnRiskScore": 50, "churnRiskReasons": [
            {"code": "NO_ACCESS", "points": 30, "since": iso(access_ms), "deadline": null, "productId": null},
            {"code": "PROGRESS_STALLED", "points": 20, "since": iso(start), "deadline": null, "productId": curso},
        ]})
    );

    // The CS team's list of whom to call first.
    let at_risk = shop
        .query(
            "{ customers(filter: {minChurnRiskScore: 50}) { edges { node { email churnRiskScore } } } }",
            json!({}),
            "customers",
        )
        .await;
    let mut emails: Vec<_> = at_risk["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            (
                edge["node"]["email"].clone(),
                edge["node"]["churnRiskScore"].clone(),
            )
        })
        .collect();
    emails.sort_by_key(|(email, _)| email.to_string());
    assert_eq!(
        emails,
        vec![
            (json!("ana@exemplo.com"), json!(50)),
            (json!("bia@exemplo.com"), json!(50)),
            // Late, 30 days without access, nothing completed: 50 + 50 + 20.
            (json!("gil@exemplo.com"), json!(100)),
        ]
    );
    let high = shop
        .query(
            "{ customers(filter: {churnRisk: \"high\"}) { totalCount } }",
            json!({}),
            "customers",
        )
        .await;
    assert_eq!(high["totalCount"], 3);
    let bad = app
        .graphql(
            Some(&shop.token),
            "{ customers(filter: {minChurnRiskScore: 101}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(bad.error_code(), Some("INVALID_INPUT"));
    refresh(&app).await;
    assert_eq!(
        entity::segments::refresh_all(&app.db, &app.secrets, app.clock.now())
            .await
            .unwrap(),
        0,
        "a refresh with nothing new changes nothing"
    );
}
on_both_backends!(
    churn_risk_follows_what_happens_and_time,
    follows_what_happens_and_time
);

async fn thresholds_are_the_workspace_s(app: TestApp) {
    let shop = Shop::open(&app, "limiares").await;
    let start = app.clock.now().timestamp_millis();
    let mut sale = Sale::new("HP3100000001", "rui@exemplo.com", start - 60_000);
    sale.approved_ms = Some(start);
    for (key, value) in [
        ("churn_risk.no_access_days", "3"),
        ("churn_risk.warranty_days", "0"),
    ] {
        let set = app
            .graphql(
                Some(&shop.token),
                "mutation($key: String!, $value: String!) { setSetting(key: $key, value: $value) { key } }",
                json!({"key": key, "value": value}),
            )
            .await;
        assert_eq!(set.data("setSetting")["key"], key);
    }
    shop.post_all(&[sale.event("PURCHASE_APPROVED", "APPROVED", start)])
        .await;
    app.advance(Duration::days(6)).await;
    refresh(&app).await;
    let risk = risk_of(&shop, "rui@exemplo.com").await;
    assert_eq!(risk["churnRiskScore"], 50, "{risk}");
    assert_eq!(
        risk["churnRiskReasons"][0]["code"], "NO_ACCESS",
        "6 days is twice the workspace's 3; a warranty 1 day off is outside its 0 days"
    );
}
on_both_backends!(
    churn_risk_thresholds_are_the_workspace_s,
    thresholds_are_the_workspace_s
);
