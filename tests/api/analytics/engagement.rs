//! `engagement`: first accesses, learners, courses and modules completed,
//! abandoned carts that became sales.

use crate::hotmart_webhooks::{cart_abandoned, first_access};

use super::cohorts::lessons_completed;
use super::*;

const QUERY: &str = "query($p: ID, $from: DateTime!, $to: DateTime!) { engagement(productId: $p, from: $from, to: $to) {
    access { buyers accessed medianHoursToFirstAccess } firstAccessShare activeLearners
    courses { productId enrolled completed completionRate modules { moduleId name lessons completed completionRate } }
    abandonedCarts convertedCarts cartConversionRate } }";

pub async fn tells_who_uses_what_they_bought(app: TestApp) {
    let shop = told(&app).await;
    lessons_completed(&shop).await;
    let course = || product_ref(json!(3526906), "Curso de Confeitaria");
    shop.post_all(&[
        // Ana opens the course two days after buying it.
        first_access(
            "ana@exemplo.com",
            "Ana",
            course(),
            ms("2026-01-12T15:00:00Z"),
        ),
        // Caio leaves a cart five days before buying; Hugo never comes back.
        cart_abandoned(
            "caio@exemplo.com",
            "Caio",
            "11999990000",
            course(),
            "n82b9jqz",
            ms("2026-02-05T12:00:00Z"),
        ),
        cart_abandoned(
            "hugo@exemplo.com",
            "Hugo",
            "11999991111",
            course(),
            "n82b9jqz",
            ms("2026-02-20T12:00:00Z"),
        ),
    ])
    .await;
    let quarter = json!({"from": "2026-01-01T03:00:00Z", "to": "2026-04-01T03:00:00Z"});
    let e = shop.query(QUERY, quarter.clone(), "engagement").await;
    // Ana, Bia, Caio, Dan, Eva, Fabio and Gil bought; only Ana opened.
    assert_eq!(
        (
            &e["access"]["buyers"],
            &e["access"]["accessed"],
            &e["firstAccessShare"],
            &e["access"]["medianHoursToFirstAccess"]
        ),
        (&json!(7), &json!(1), &json!(0.1429), &json!(48.0)),
        "{e:#}"
    );
    assert_eq!(e["activeLearners"], 2);
    assert_eq!(
        (
            &e["abandonedCarts"],
            &e["convertedCarts"],
            &e["cartConversionRate"]
        ),
        (&json!(2), &json!(1), &json!(0.5))
    );
    let products = shop.products().await;
    let courses = e["courses"].as_array().unwrap();
    assert_eq!(courses.len(), 2, "{e:#}");
    let confeitaria = courses
        .iter()
        .find(|c| c["productId"] == json!(products["3526906"]))
        .expect("the course");
    // Ana, Bia, Caio and Dan are enrolled (Ana's refund ended her access, not her enrolment).
    assert_eq!(
        confeitaria,
        &json!({
            "productId": products["3526906"], "enrolled": 4, "completed": 1, "completionRate": 0.25,
            "modules": [
                {"moduleId": null, "name": "Módulo 1", "lessons": 2, "completed": 1, "completionRate": 0.25},
                {"moduleId": null, "name": "Módulo 2", "lessons": 1, "completed": 2, "completionRate": 0.5},
            ]
        })
    );
    let club = courses
        .iter()
        .find(|c| c["productId"] == json!(products["788921"]))
        .expect("the club");
    assert_eq!(
        (
            &club["enrolled"],
            &club["completed"],
            &club["completionRate"],
            &club["modules"]
        ),
        (&json!(3), &json!(0), &json!(0.0), &json!([]))
    );

    // February alone: Bia studied; Ana's January lessons count for
    // completion (by the period's end) but not as activity.
    let mut february = json!({"from": "2026-02-01T03:00:00Z", "to": "2026-03-01T03:00:00Z"});
    let e = shop.query(QUERY, february.clone(), "engagement").await;
    assert_eq!(e["activeLearners"], 1);
    february["p"] = json!(products["3526906"]);
    let e = shop.query(QUERY, february, "engagement").await;
    assert_eq!(e["courses"][0]["completed"], 0, "Bia finished on 1 March");
    assert_eq!(e["courses"][0]["modules"][0]["completed"], 1);
    assert_eq!(e["abandonedCarts"], 2);
}
