//! `ltvReport`: what the customers a period brought have paid and kept,
//! by product, by the month of their first purchase, by origin.

use super::*;

async fn report(
    shop: &Shop<'_>,
    group_by: &str,
    from: &str,
    to: &str,
    currency: Option<&str>,
) -> Value {
    shop.query(
        "query($groupBy: LtvGroupBy!, $from: DateTime!, $to: DateTime!, $currency: String) {
            ltvReport(groupBy: $groupBy, from: $from, to: $to, currency: $currency) {
                productId cohort src sck xcod customers ltv averageLtv } }",
        json!({"groupBy": group_by, "from": from, "to": to, "currency": currency}),
        "ltvReport",
    )
    .await
}

const FROM: &str = "2026-01-01T03:00:00Z";
const TO: &str = "2026-04-01T03:00:00Z";

pub async fn groups_lifetime_value(app: TestApp) {
    let shop = told(&app).await;
    // January's cohort holds Bia (22:30 on the 31st in São Paulo): Ana kept
    // nothing (refunded), Bia 297.00, Eva 199.70, Fabio 99.80, Gil 99.80.
    // February's is Caio alone, who charged his purchase back.
    assert_eq!(
        report(&shop, "COHORT", FROM, TO, None).await,
        json!([
            {"productId": null, "cohort": "2026-01-01T03:00:00+00:00", "src": null, "sck": null, "xcod": null,
             "customers": 5, "ltv": "696.30", "averageLtv": "139.26"},
            {"productId": null, "cohort": "2026-02-01T03:00:00+00:00", "src": null, "sck": null, "xcod": null,
             "customers": 1, "ltv": "0.00", "averageLtv": "0.00"},
        ])
    );
    let products = shop.products().await;
    let by_product = report(&shop, "PRODUCT", FROM, TO, None).await;
    let rows = by_product.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_product}");
    let course = rows
        .iter()
        .find(|r| r["productId"] == json!(products["3526906"]))
        .expect("the course");
    assert_eq!(
        (&course["customers"], &course["ltv"], &course["averageLtv"]),
        (&json!(3), &json!("297.00"), &json!("99.00"))
    );
    let club = rows
        .iter()
        .find(|r| r["productId"] == json!(products["788921"]))
        .expect("the club");
    assert_eq!(
        (&club["customers"], &club["ltv"], &club["averageLtv"]),
        (&json!(3), &json!("399.30"), &json!("133.10"))
    );
    assert_eq!(
        report(&shop, "ORIGIN", FROM, TO, None).await,
        json!([{"productId": null, "cohort": null, "src": "instagram", "sck": "bio", "xcod": "post-42",
                "customers": 6, "ltv": "696.30", "averageLtv": "116.05"}])
    );
    // February alone: Bia's first purchase is São Paulo's January.
    let february = report(
        &shop,
        "COHORT",
        "2026-02-01T03:00:00Z",
        "2026-03-01T03:00:00Z",
        None,
    )
    .await;
    assert_eq!(february.as_array().unwrap().len(), 1, "{february}");
    assert_eq!(february[0]["customers"], 1);
    // Dollars apart.
    let dollars = report(&shop, "PRODUCT", FROM, TO, Some("USD")).await;
    assert_eq!(dollars[0]["customers"], 1);
    assert_eq!(dollars[0]["ltv"], "100.00");
}
