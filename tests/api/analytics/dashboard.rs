//! `dashboard`: revenue and MRR by month, day and product, in each
//! currency, on São Paulo's calendar.

use super::*;

/// Every key of `expected` has that value in `figures`.
#[track_caller]
fn assert_figures(figures: &Value, expected: Value) {
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&figures[key], value, "{key} in {figures:#}");
    }
}

fn movement(amount: &str, subscriptions: i64) -> Value {
    json!({"amount": amount, "subscriptions": subscriptions})
}

fn quarter() -> Value {
    json!({"from": "2026-01-01T03:00:00Z", "to": "2026-04-01T03:00:00Z", "granularity": "MONTH"})
}

pub async fn tells_the_quarter(app: TestApp) {
    let shop = told(&app).await;
    let board = dashboard(&shop, quarter()).await;
    assert_eq!(board["currency"], "BRL");
    assert_eq!(board["timeZone"], "America/Sao_Paulo");
    let series = board["series"].as_array().unwrap();
    assert_eq!(series.len(), 3, "{board:#}");
    // January: Ana's course, Bia's Pix at 22:30 on the 31st, three subscriptions.
    assert_figures(
        &series[0],
        json!({
            "start": "2026-01-01T03:00:00+00:00", "end": "2026-02-01T03:00:00+00:00",
            "grossRevenue": "943.70", "refunds": "0.00", "chargebacks": "0.00",
            "netRevenue": "943.70", "sales": 5, "averageTicket": "188.74", "refundRate": 0.0,
            "mrrAtStart": "0.00", "mrr": "149.70", "arr": "1796.40",
            "activeSubscribersAtStart": 0, "activeSubscribers": 3, "newSubscribers": 3,
            "churnedSubscribers": 0, "churnRate": null, "revenueChurnRate": null,
        }),
    );
    // February: Ana's refund of a January sale, Caio's course, two
    // renewals; Gil's late charge churns him on the 27th.
    assert_figures(
        &series[1],
        json!({
            "grossRevenue": "596.80", "refunds": "497.00", "chargebacks": "0.00",
            "netRevenue": "99.80", "sales": 3, "refundedSales": 1, "refundRate": 0.3333,
            "mrrAtStart": "149.70", "mrr": "99.80",
            "activeSubscribersAtStart": 3, "activeSubscribers": 2,
            "churnedSubscribers": 1, "churnRate": 0.3333, "revenueChurnRate": 0.3333,
            "mrrMovements": {
                "new": movement("0.00", 0), "expansion": movement("0.00", 0),
                "contraction": movement("0.00", 0), "churned": movement("-49.90", 1),
                "reactivated": movement("0.00", 0), "net": "-49.90",
            },
        }),
    );
    // March: Caio's chargeback; Eva pays the premium plan, Gil pays his
    // late charge, Fabio cancels.
    assert_figures(
        &series[2],
        json!({
            "grossRevenue": "149.80", "refunds": "0.00", "chargebacks": "497.00",
            "netRevenue": "-347.20", "sales": 2, "chargedBackSales": 1, "refundRate": 0.5,
            "mrrAtStart": "99.80", "mrr": "149.80", "arr": "1797.60",
            "activeSubscribersAtStart": 2, "activeSubscribers": 2,
            "reactivatedSubscribers": 1, "churnedSubscribers": 1,
            "churnRate": 0.5, "revenueChurnRate": 0.5,
            "mrrMovements": {
                "new": movement("0.00", 0), "expansion": movement("50.00", 1),
                "contraction": movement("0.00", 0), "churned": movement("-49.90", 1),
                "reactivated": movement("49.90", 1), "net": "50.00",
            },
        }),
    );
    let totals = &board["totals"];
    assert_figures(
        totals,
        json!({
            "start": "2026-01-01T03:00:00+00:00", "end": "2026-04-01T03:00:00+00:00",
            "grossRevenue": "1690.30", "refunds": "497.00", "chargebacks": "497.00",
            "netRevenue": "696.30", "sales": 10, "averageTicket": "169.03", "refundRate": 0.2,
            "mrrAtStart": "0.00", "mrr": "149.80", "arr": "1797.60",
            "activeSubscribers": 2, "newSubscribers": 3, "churnedSubscribers": 2,
            "reactivatedSubscribers": 1, "churnRate": null,
            "mrrMovements": {
                "new": movement("149.70", 3), "expansion": movement("50.00", 1),
                "contraction": movement("0.00", 0), "churned": movement("-99.80", 2),
                "reactivated": movement("49.90", 1), "net": "149.80",
            },
        }),
    );
    assert_eq!(board["mrrMovements"]["net"], "149.80");
    assert_eq!(
        totals["salesMix"],
        json!([
            {"paymentMethod": "CREDIT_CARD", "installments": 1, "sales": 7, "grossRevenue": "399.30", "share": 0.7},
            {"paymentMethod": "CREDIT_CARD", "installments": 12, "sales": 2, "grossRevenue": "994.00", "share": 0.2},
            {"paymentMethod": "PIX", "installments": 1, "sales": 1, "grossRevenue": "297.00", "share": 0.1},
        ])
    );

    // Dollars are never added to reais.
    let mut in_dollars = quarter();
    in_dollars["currency"] = json!("usd");
    let board = dashboard(&shop, in_dollars).await;
    assert_eq!(board["currency"], "USD");
    assert_figures(
        &board["totals"],
        json!({"grossRevenue": "100.00", "sales": 1, "mrr": "0.00", "activeSubscribers": 0}),
    );
    assert_figures(
        &board["series"][1],
        json!({"grossRevenue": "100.00", "sales": 1}),
    );

    // One product: the course's sales, no recurring revenue.
    let products = shop.products().await;
    let mut course = quarter();
    course["productId"] = json!(products["3526906"]);
    let board = dashboard(&shop, course).await;
    assert_figures(
        &board["totals"],
        json!({
            "grossRevenue": "1291.00", "sales": 3, "refunds": "497.00", "chargebacks": "497.00",
            "netRevenue": "297.00", "mrr": "0.00", "newSubscribers": 0,
        }),
    );
    let mut club = quarter();
    club["productId"] = json!(products["788921"]);
    let board = dashboard(&shop, club).await;
    assert_figures(
        &board["totals"],
        json!({"grossRevenue": "399.30", "sales": 7, "mrr": "149.80", "activeSubscribers": 2}),
    );

    // Day by day around the turn of the month: Bia's Pix is São Paulo's 31 January.
    let days = dashboard(
        &shop,
        json!({"from": "2026-01-31T03:00:00Z", "to": "2026-02-02T03:00:00Z", "granularity": "DAY"}),
    )
    .await;
    let series = days["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{days:#}");
    assert_figures(
        &series[0],
        json!({"start": "2026-01-31T03:00:00+00:00", "grossRevenue": "297.00", "sales": 1, "mrr": "149.70"}),
    );
    assert_figures(&series[1], json!({"grossRevenue": "0.00", "sales": 0}));
    // By week, Monday first: 26 January to 1 February, then 2 February.
    let weeks = dashboard(
        &shop,
        json!({"from": "2026-01-31T03:00:00Z", "to": "2026-02-03T03:00:00Z", "granularity": "WEEK"}),
    )
    .await;
    assert_eq!(weeks["series"].as_array().unwrap().len(), 2, "{weeks:#}");
    assert_figures(
        &weeks["series"][1],
        json!({"start": "2026-02-02T03:00:00+00:00"}),
    );

    // A read-only token reads the same figures; another workspace sees none of them.
    let reader = app.reader_token(shop.workspace);
    let query = "query($from: DateTime!, $to: DateTime!) { dashboard(from: $from, to: $to) { totals { grossRevenue mrr } } }";
    let read = app.graphql(Some(&reader), query, quarter()).await;
    assert_eq!(
        read.data("dashboard")["totals"],
        json!({"grossRevenue": "1690.30", "mrr": "149.80"})
    );
    let other = app.create_workspace("outra-loja").await;
    let theirs = app
        .graphql(Some(&app.agent_token(other)), query, quarter())
        .await;
    assert_eq!(
        theirs.data("dashboard")["totals"],
        json!({"grossRevenue": "0.00", "mrr": "0.00"})
    );

    // Bad arguments are refused with a stable code.
    for (arguments, why) in [
        (
            json!({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "to before from",
        ),
        (
            json!({"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "currency": "reais"}),
            "currency",
        ),
        (
            json!({"from": "2016-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "DAY"}),
            "too many days",
        ),
        (
            json!({"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "productId": "course"}),
            "product id",
        ),
    ] {
        let query = "query($productId: ID, $currency: String, $from: DateTime!, $to: DateTime!, $granularity: Granularity) {
            dashboard(productId: $productId, currency: $currency, from: $from, to: $to, granularity: $granularity) { currency } }";
        let answer = app.graphql(Some(&shop.token), query, arguments).await;
        assert_eq!(
            answer.error_code(),
            Some("INVALID_INPUT"),
            "{why}: {:?}",
            answer.body
        );
    }
}

pub async fn follows_late_news(app: TestApp) {
    let shop = Shop::open(&app, "painel").await;
    let story = story();
    shop.post_all(&story.january).await;
    let january = json!({"from": "2026-01-01T03:00:00Z", "to": "2026-02-01T03:00:00Z"});
    let before = dashboard(&shop, january.clone()).await;
    assert_figures(
        &before["totals"],
        json!({"grossRevenue": "943.70", "sales": 5, "mrr": "149.70", "activeSubscribers": 3}),
    );

    // February's refund of a January sale leaves January's gross as it was.
    shop.post_all(&story.later).await;
    let after = dashboard(&shop, january).await;
    assert_figures(
        &after["totals"],
        json!({"grossRevenue": "943.70", "refunds": "0.00", "sales": 5, "mrr": "149.70"}),
    );

    // With a 15 days' grace Gil's late charge, paid after ten days, never churned him.
    app.graphql(
        Some(&shop.token),
        "mutation { setSetting(key: \"analytics.past_due_grace_days\", value: \"15\") { key } }",
        json!({}),
    )
    .await
    .data("setSetting");
    app.drain().await;
    let board = dashboard(&shop, quarter()).await;
    let series = board["series"].as_array().unwrap();
    assert_figures(
        &series[1],
        json!({"mrr": "149.70", "churnedSubscribers": 0, "activeSubscribers": 3, "churnRate": 0.0}),
    );
    assert_figures(
        &series[2],
        json!({
            "mrrAtStart": "149.70", "mrr": "149.80", "reactivatedSubscribers": 0,
            "churnedSubscribers": 1, "churnRate": 0.3333,
        }),
    );
}
