//! Campaign goals: a recipient who buys the goal's product within the
//! window after our message converts, with the purchase's amount as the
//! revenue; a purchase of another product, or too late, does not.

use super::*;

const METRICS: &str = "query($id: ID!, $c: ID!) {
    campaignExecution(id: $id) { metrics }
    campaignMetrics(campaignId: $c) }";

async fn a_recipient_who_buys_in_time_converts_with_the_revenue(app: TestApp) {
    let shop = Shop::open(&app, "meta-de-campanha").await;
    let t0 = clock_ms(&app);
    // Dani bought both products before: the catalogue, and a customer whose
    // earlier purchases reach no goal.
    shop.post_all(&[
        approved_sale(
            "HP80000001",
            "dani@exemplo.com",
            "Dani Prado",
            CURSO,
            t0 - 48 * HOUR_MS,
        ),
        approved_sale(
            "HP80000002",
            "dani@exemplo.com",
            "Dani Prado",
            MENTORIA,
            t0 - 47 * HOUR_MS,
        ),
    ])
    .await;
    let agent = &shop.token;
    for (email, name) in [
        ("ana@exemplo.com", "Ana Lima"),
        ("bia@exemplo.com", "Bia Costa"),
        ("caio@exemplo.com", "Caio Reis"),
    ] {
        app.graphql(
            Some(agent),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({"input": {"email": email, "name": name}}),
        )
        .await
        .data("createCustomer");
    }
    let products = shop.products().await;
    let mentoria = products[&MENTORIA.to_string()].clone();

    // Goals are checked on the way in.
    let other = app.create_workspace("outra-escola").await;
    let foreign = app
        .graphql(
            Some(&app.agent_token(other)),
            "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { id } }",
            json!({"input": {"name": "Curso de outra escola"}}),
        )
        .await;
    let foreign_product = foreign.data("upsertProduct")["id"].clone();
    for goal in [
        json!({"event": "purchase_aproved", "productId": mentoria, "withinDays": 3}),
        json!({"event": "purchase_approved", "productId": mentoria, "withinDays": 0}),
        json!({"event": "purchase_approved", "productId": mentoria, "withinDays": 366}),
        json!({"event": "purchase_approved", "productId": foreign_product, "withinDays": 3}),
        json!({"event": "purchase_approved", "productId": "nope", "withinDays": 3}),
    ] {
        let refused = app
            .graphql(
                Some(agent),
                "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
                json!({"input": {"name": "Oferta", "goal": goal}}),
            )
            .await;
        assert_eq!(
            refused.error_code(),
            Some("INVALID_INPUT"),
            "{goal}: {:?}",
            refused.body
        );
    }

    let everyone = target_group(&shop, "Todos", "customers", Value::Null).await;
    let goal = json!({"event": "purchase_approved", "productId": mentoria, "withinDays": 3});
    let (campaign, execution) = run_campaign(
        &shop,
        "Oferta da mentoria",
        message_journey("Oi {{customer.first_name}}, a mentoria abriu vagas!"),
        Some(goal.clone()),
        &everyone,
    )
    .await;
    app.drain().await;
    let read_back = shop
        .query(
            "query($id: ID!) { campaign(id: $id) { goal { event productId withinDays } } }",
            json!({"id": campaign}),
            "campaign",
        )
        .await;
    assert_eq!(read_back["goal"], goal);

    // Ana buys the mentoria a day after the message: converted, R$ 297.
    app.advance(Duration::days(1)).await;
    let day1 = clock_ms(&app);
    shop.post(
        &Sale::new("HP80000010", "ana@exemplo.com", day1 - 1_000)
            .buyer("Ana Lima", None)
            .product(json!(MENTORIA), "Mentoria de Confeitaria")
            .price(json!(297.0))
            .approved_at(Some(day1))
            .event("PURCHASE_APPROVED", "APPROVED", day1),
    )
    .await;
    // Bia buys the course instead: another product.
    shop.post(&approved_sale(
        "HP80000011",
        "bia@exemplo.com",
        "Bia Costa",
        CURSO,
        day1,
    ))
    .await;
    app.drain().await;
    // Ana's postback delivered again, and a second purchase of hers: she
    // converted once, with the first.
    shop.post(
        &Sale::new("HP80000010", "ana@exemplo.com", day1 - 1_000)
            .buyer("Ana Lima", None)
            .product(json!(MENTORIA), "Mentoria de Confeitaria")
            .price(json!(297.0))
            .approved_at(Some(day1))
            .event("PURCHASE_APPROVED", "APPROVED", day1),
    )
    .await;
    app.advance(Duration::hours(1)).await;
    shop.post(&approved_sale(
        "HP80000012",
        "ana@exemplo.com",
        "Ana Lima",
        MENTORIA,
        clock_ms(&app),
    ))
    .await;
    app.drain().await;
    // Caio buys the mentoria four days after the message: too late.
    app.advance(Duration::days(3)).await;
    shop.post(&approved_sale(
        "HP80000013",
        "caio@exemplo.com",
        "Caio Reis",
        MENTORIA,
        clock_ms(&app),
    ))
    .await;
    app.drain().await;

    let found = recipients(&shop, &execution).await;
    let converted: Vec<(&str, Option<i64>)> = found
        .iter()
        .map(|(email, converted_at)| {
            (
                email.as_str(),
                converted_at.as_str().map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .expect("rfc3339")
                        .timestamp_millis()
                }),
            )
        })
        .collect();
    assert_eq!(
        converted,
        vec![
            ("ana@exemplo.com", Some(day1)),
            ("bia@exemplo.com", None),
            ("caio@exemplo.com", None),
            ("dani@exemplo.com", None),
        ]
    );
    let metrics = app
        .graphql(
            Some(agent),
            METRICS,
            json!({"id": execution, "c": campaign}),
        )
        .await;
    let execution_metrics = &metrics.data("campaignExecution")["metrics"];
    assert_eq!(execution_metrics["entered"], 4, "{execution_metrics}");
    assert_eq!(execution_metrics["sent"], 4);
    assert_eq!(execution_metrics["converted"], 1);
    assert_eq!(execution_metrics["revenue"], "297.00");
    let campaign_metrics = metrics.data("campaignMetrics");
    assert_eq!(campaign_metrics["converted"], 1, "{campaign_metrics}");
    assert_eq!(campaign_metrics["revenue"], "297.00");

    // The 360 view shows what the campaign said to Ana.
    let ana = shop.customer_id("ana@exemplo.com").await.expect("ana");
    let messages = shop
        .query(
            "query($id: ID!) { customer(id: $id) { messages(first: 10) { totalCount nodes {
                channel templateName status sentAt deliveredAt readAt failedAt error
                origin { kind ruleId ruleKey ruleName campaignId campaignName } } } } }",
            json!({"id": ana}),
            "customer",
        )
        .await;
    let messages = &messages["messages"];
    assert_eq!(messages["totalCount"], 1, "{messages}");
    let message = &messages["nodes"][0];
    assert_eq!(message["channel"], "log");
    assert_eq!(message["status"], "sent");
    assert!(message["sentAt"].is_string(), "{message}");
    assert_eq!(message["templateName"], Value::Null);
    assert_eq!(
        message["origin"],
        json!({"kind": "CAMPAIGN", "ruleId": null, "ruleKey": null, "ruleName": null,
            "campaignId": campaign, "campaignName": "Oferta da mentoria"})
    );

    // The goal can be removed; the conversions already made stay.
    let cleared = shop
        .query(
            "mutation($id: ID!) { updateCampaign(id: $id, input: {goal: null}) { goal { event } } }",
            json!({"id": campaign}),
            "updateCampaign",
        )
        .await;
    assert_eq!(cleared["goal"], Value::Null);
    let metrics = app
        .graphql(
            Some(agent),
            METRICS,
            json!({"id": execution, "c": campaign}),
        )
        .await;
    assert_eq!(metrics.data("campaignMetrics")["converted"], 1);
}
on_both_backends!(
    a_recipient_who_buys_in_time_converts_with_the_revenue,
    a_recipient_who_buys_in_time_converts_with_the_revenue
);
