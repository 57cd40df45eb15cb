//! Audiences on dates relative to now: target groups and a condition node
//! asking "no lesson for 7 days" or "bought within 10 days", answered by
//! the app's clock as it moves.

use super::*;

/// Nudges the students whose last lesson is over a week old, bought in the
/// last 30 days, past their warranty.
fn stalled_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("stalled", "condition", json!({"combinator": "and", "rules": [
                {"field": "enrollment.lastLessonCompletedAt", "op": "olderThanDays", "value": 7},
                {"field": "enrollment.purchasedAt", "op": "withinDays", "value": 30},
                {"field": "enrollment.warrantyEndsAt", "op": "olderThanDays", "value": 0}
            ]})),
            node("nudge", "sendMessage", json!({"channel": "log", "body": "Sentimos sua falta, {{customer.first_name}}!"})),
            node("end-nudged", "exit", json!({})),
            node("end", "exit", json!({}))
        ],
        "edges": [
            edge("start", "stalled"),
            branch("stalled", "true", "nudge"),
            branch("stalled", "false", "end"),
            edge("nudge", "end-nudged")
        ]
    })
}

/// The customers (of those named) whom `campaign`'s messages reached, and
/// how many each got, as their 360 view shows them.
async fn nudged(shop: &Shop<'_>, campaign: &str) -> Vec<(&'static str, usize)> {
    let mut reached = Vec::new();
    for email in ["ana@exemplo.com", "bia@exemplo.com", "caio@exemplo.com"] {
        let id = shop.customer_id(email).await.expect("customer");
        let answer = shop
            .query(
                "query($id: ID!) { customer(id: $id) { messages(first: 50) { nodes { origin { kind campaignId } } } } }",
                json!({"id": id}),
                "customer",
            )
            .await;
        let count = answer["messages"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter(|m| m["origin"]["campaignId"] == campaign)
            .count();
        if count > 0 {
            reached.push((email, count));
        }
    }
    reached
}

async fn relative_dates_follow_the_clock(app: TestApp) {
    let shop = Shop::open(&app, "datas-relativas").await;
    let t0 = clock_ms(&app);
    shop.post_all(&[
        approved_sale("HP91000001", "ana@exemplo.com", "Ana Lima", CURSO, t0),
        approved_sale("HP91000002", "bia@exemplo.com", "Bia Costa", CURSO, t0),
        approved_sale("HP91000003", "caio@exemplo.com", "Caio Reis", CURSO, t0),
    ])
    .await;
    course_with_modules(&shop).await;
    // Ana's last lesson is on day 1, Bia's on day 6; Caio never studies.
    for (email, name, day) in [
        ("ana@exemplo.com", "Ana Lima", 1),
        ("bia@exemplo.com", "Bia Costa", 6),
    ] {
        app.advance_to(at(t0 + day * 24 * HOUR_MS)).await;
        shop.post_all(&[module_completed(
            email,
            name,
            curso(),
            "mod-massas",
            "Massas",
            t0 + day * 24 * HOUR_MS,
        )])
        .await;
    }
    app.advance_to(at(t0 + 9 * 24 * HOUR_MS)).await;

    // Bad relative dates are refused with a stable code.
    for rule in [
        json!({"field": "lastLessonCompletedAt", "op": "olderThanDays", "value": -1}),
        json!({"field": "lastLessonCompletedAt", "op": "withinDays", "value": "uma semana"}),
        json!({"field": "progress", "op": "withinDays", "value": 3}),
    ] {
        let refused = app
            .graphql(
                Some(&shop.token),
                "mutation($input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(input: $input) { id } }",
                json!({"input": {"crmName": "Errado", "source": "enrollments", "filter": {"rules": [rule]}}}),
            )
            .await;
        assert_eq!(
            refused.error_code(),
            Some("INVALID_INPUT"),
            "{:?}",
            refused.body
        );
    }
    let problems = shop
        .query(
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code } }",
            json!({"doc": {
                "nodes": [
                    node("start", "trigger", json!({"source": "manual"})),
                    node("when", "condition", json!({"rules": [{"field": "enrollment.purchasedAt", "op": "withinDays", "value": -2}]})),
                    node("a", "exit", json!({})),
                    node("b", "exit", json!({}))
                ],
                "edges": [edge("start", "when"), branch("when", "true", "a"), branch("when", "false", "b")]
            }}),
            "validateWorkflow",
        )
        .await;
    assert!(
        problems
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p["nodeId"] == "when"),
        "{problems}"
    );

    // On day 9: Ana's last lesson is 8 days old, Bia's 3.
    let stalled = target_group(
        &shop,
        "Parados há 7 dias",
        "enrollments",
        json!({"rules": [{"field": "lastLessonCompletedAt", "op": "olderThanDays", "value": 7}]}),
    )
    .await;
    let recent_buyers = target_group(
        &shop,
        "Compraram nos últimos 10 dias",
        "transactions",
        json!({"rules": [{"field": "approvedAt", "op": "withinDays", "value": 10}]}),
    )
    .await;
    let warranty_ending = target_group(
        &shop,
        "Garantia acabando",
        "transactions",
        json!({"rules": [{"field": "warrantyEndsAt", "op": "withinDays", "value": 2}]}),
    )
    .await;
    let everyone = target_group(&shop, "Todos", "customers", Value::Null).await;
    let (_, in_stalled) =
        run_campaign(&shop, "Parados", message_journey("Volte!"), None, &stalled).await;
    let (_, in_recent) = run_campaign(
        &shop,
        "Recentes",
        message_journey("Oi!"),
        None,
        &recent_buyers,
    )
    .await;
    let (_, in_warranty) = run_campaign(
        &shop,
        "Garantia",
        message_journey("Tudo bem?"),
        None,
        &warranty_ending,
    )
    .await;
    let (nudge, first_run) =
        run_campaign(&shop, "Retomada", stalled_journey(), None, &everyone).await;
    app.drain().await;
    let emails = |found: Vec<(String, Value)>| -> Vec<String> {
        found.into_iter().map(|(email, _)| email).collect()
    };
    assert_eq!(
        emails(recipients(&shop, &in_stalled).await),
        vec!["ana@exemplo.com"]
    );
    assert_eq!(
        emails(recipients(&shop, &in_recent).await),
        vec!["ana@exemplo.com", "bia@exemplo.com", "caio@exemplo.com"]
    );
    // The sales' 7-day warranties ended two days ago: nothing ends ahead.
    assert!(emails(recipients(&shop, &in_warranty).await).is_empty());
    assert_eq!(recipients(&shop, &first_run).await.len(), 3);
    assert_eq!(nudged(&shop, &nudge).await, vec![("ana@exemplo.com", 1)]);

    // Five days later Bia has stalled too; the purchase is 14 days old.
    app.advance(Duration::days(5)).await;
    let second = shop
        .query(
            "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id } }",
            json!({"id": nudge, "g": everyone}),
            "runCampaign",
        )
        .await;
    let (_, in_stalled_later) = run_campaign(
        &shop,
        "Parados de novo",
        message_journey("Volte!"),
        None,
        &stalled,
    )
    .await;
    let (_, in_recent_later) = run_campaign(
        &shop,
        "Recentes de novo",
        message_journey("Oi!"),
        None,
        &recent_buyers,
    )
    .await;
    app.drain().await;
    let second_run = recipients(&shop, second["id"].as_str().expect("id")).await;
    assert_eq!(second_run.len(), 3);
    assert_eq!(
        nudged(&shop, &nudge).await,
        vec![("ana@exemplo.com", 2), ("bia@exemplo.com", 1)]
    );
    assert_eq!(
        emails(recipients(&shop, &in_stalled_later).await),
        vec!["ana@exemplo.com", "bia@exemplo.com"]
    );
    assert!(emails(recipients(&shop, &in_recent_later).await).is_empty());
}
on_both_backends!(
    relative_dates_follow_the_clock,
    relative_dates_follow_the_clock
);
