//! `cohorts`: the customers of each month followed month by month.

use chrono::{Datelike, Utc};
use entity::{lesson, lesson_progress};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use uuid::Uuid;

use super::*;

/// The course's lessons: two in "Módulo 1", one in "Módulo 2". Ana
/// completes lessons 1 and 3 in January; Bia lessons 1 and 2 in February
/// and lesson 3 on 1 March, finishing the course.
pub(super) async fn lessons_completed(shop: &Shop<'_>) {
    let products = shop.products().await;
    let course = Uuid::parse_str(&products["3526906"]).unwrap();
    let at = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    };
    let mut lessons = Vec::new();
    for (position, module) in [(1, "Módulo 1"), (2, "Módulo 1"), (3, "Módulo 2")] {
        let row = lesson::Model {
            id: Uuid::now_v7(),
            workspace_id: shop.workspace,
            product_id: course,
            module_id: None,
            hotmart_page_id: format!("page-{position}"),
            page_name: format!("Aula {position}"),
            module_name: Some(module.into()),
            is_extra: false,
            position,
            release_after_days: None,
            release_at: None,
            created_at: at("2026-01-01T00:00:00Z"),
            updated_at: at("2026-01-01T00:00:00Z"),
        };
        lessons.push(
            row.clone()
                .into_active_model()
                .insert(&shop.app.db)
                .await
                .unwrap()
                .id,
        );
    }
    for (email, lesson, completed) in [
        ("ana@exemplo.com", lessons[0], "2026-01-20T12:00:00Z"),
        ("ana@exemplo.com", lessons[2], "2026-01-25T12:00:00Z"),
        ("bia@exemplo.com", lessons[0], "2026-02-10T12:00:00Z"),
        ("bia@exemplo.com", lessons[1], "2026-02-20T12:00:00Z"),
        ("bia@exemplo.com", lessons[2], "2026-03-01T12:00:00Z"),
    ] {
        let customer = Uuid::parse_str(&shop.customer_id(email).await.unwrap()).unwrap();
        lesson_progress::Model {
            id: Uuid::now_v7(),
            workspace_id: shop.workspace,
            customer_id: customer,
            lesson_id: lesson,
            completed: true,
            completed_at: Some(at(completed)),
            updated_at: at(completed),
        }
        .into_active_model()
        .insert(&shop.app.db)
        .await
        .unwrap();
    }
}

fn months(cohort: &Value) -> Vec<(String, Value, f64)> {
    cohort["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["revenuePerCustomer"].as_str().unwrap().to_owned(),
                m["subscriptionRetention"].clone(),
                m["learnerRetention"].as_f64().unwrap(),
            )
        })
        .collect()
}

pub async fn follow_each_month(app: TestApp) {
    let shop = told(&app).await;
    lessons_completed(&shop).await;
    let cohorts = shop
        .query(
            "query($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to, granularity: MONTH) {
                start customers months { offset start revenuePerCustomer subscriptionRetention learnerRetention } } }",
            json!({"from": "2026-01-01T03:00:00Z", "to": "2026-04-01T03:00:00Z"}),
            "cohorts",
        )
        .await;
    let cohorts = cohorts.as_array().unwrap();
    assert_eq!(cohorts.len(), 2, "{cohorts:#?}");
    let (january, february) = (&cohorts[0], &cohorts[1]);
    assert_eq!(january["start"], "2026-01-01T03:00:00+00:00");
    assert_eq!(january["customers"], 5);
    assert_eq!(february["customers"], 1);
    // Followed up to this month of São Paulo's calendar.
    let today = Utc::now().with_timezone(&chrono_tz::America::Sao_Paulo);
    let since_january = (today.year() - 2026) * 12 + today.month() as i32 - 1;
    assert_eq!(
        january["months"].as_array().unwrap().len() as i32,
        since_january + 1
    );
    assert_eq!(january["months"][1]["start"], "2026-02-01T03:00:00+00:00");
    assert_eq!(january["months"][1]["offset"], 1);
    // January: 943.70 by its end over five customers; Ana's refund and two
    // renewals by February's; Eva's premium charge and Gil's late one by
    // March's. Eva, Fabio and Gil subscribed at January's end; Gil churned
    // in February, Fabio in March, while Gil came back. Ana studied in
    // January, Bia in February and March.
    let january = months(january);
    assert_eq!(
        january[..4],
        [
            ("188.74".to_owned(), json!(1.0), 0.2),
            ("109.30".to_owned(), json!(0.6667), 0.2),
            ("139.26".to_owned(), json!(0.6667), 0.2),
            ("139.26".to_owned(), json!(0.6667), 0.0),
        ]
    );
    // Caio's purchase charged back in his second month; he never subscribed.
    let february = months(february);
    assert_eq!(
        february[..2],
        [
            ("497.00".to_owned(), Value::Null, 0.0),
            ("0.00".to_owned(), Value::Null, 0.0)
        ]
    );

    // The club's cohorts hold its subscribers only.
    let products = shop.products().await;
    let club = shop
        .query(
            "query($p: ID, $from: DateTime!, $to: DateTime!) { cohorts(productId: $p, from: $from, to: $to) { customers months { revenuePerCustomer } } }",
            json!({"p": products["788921"], "from": "2026-01-01T03:00:00Z", "to": "2026-04-01T03:00:00Z"}),
            "cohorts",
        )
        .await;
    assert_eq!(club.as_array().unwrap().len(), 1);
    assert_eq!(club[0]["customers"], 3);
    // 149.70, then 249.50, then 399.30 over three.
    assert_eq!(club[0]["months"][0]["revenuePerCustomer"], "49.90");
    assert_eq!(club[0]["months"][2]["revenuePerCustomer"], "133.10");

    // Caio's purchase of 28 January is told late: he moves to January's
    // cohort, with his February purchase and its chargeback.
    let mut earlier = curso().price(json!(100.0)).payment("PIX", 1);
    earlier.transaction = "HP1000000009".to_owned();
    earlier.email = "caio@exemplo.com".to_owned();
    earlier.order_ms = ms("2026-01-28T12:00:00Z");
    earlier.approved_ms = Some(ms("2026-01-28T12:05:00Z"));
    shop.post_all(&[earlier.event("PURCHASE_APPROVED", "APPROVED", ms("2026-01-28T12:05:00Z"))])
        .await;
    let moved = shop
        .query(
            "query($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to) {
                customers months { revenuePerCustomer subscriptionRetention learnerRetention } } }",
            json!({"from": "2026-01-01T03:00:00Z", "to": "2026-04-01T03:00:00Z"}),
            "cohorts",
        )
        .await;
    assert_eq!(moved.as_array().unwrap().len(), 1, "{moved:#}");
    assert_eq!(moved[0]["customers"], 6);
    // 1,043.70, then 546.50 + 100 + 497, then 696.30 + 100, over six.
    assert_eq!(
        months(&moved[0])[..3],
        [
            ("173.95".to_owned(), json!(1.0), 0.1667),
            ("190.58".to_owned(), json!(0.6667), 0.1667),
            ("132.72".to_owned(), json!(0.6667), 0.1667),
        ]
    );

    let weekly = app
        .graphql(
            Some(&shop.token),
            "{ cohorts(from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\", granularity: WEEK) { customers } }",
            json!({}),
        )
        .await;
    assert_eq!(weekly.error_code(), Some("INVALID_INPUT"));
}
