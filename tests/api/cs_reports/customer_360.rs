//! The customer 360 shows how far a student got: each module's lessons
//! completed, and the last access and lesson.

use super::*;

async fn enrollment_shows_module_progress(app: TestApp) {
    let shop = Shop::open(&app, "progresso").await;
    let t0 = clock_ms(&app);
    shop.post_all(&[approved_sale(
        "HP90000001",
        "eva@exemplo.com",
        "Eva Rocha",
        CURSO,
        t0,
    )])
    .await;
    course_with_modules(&shop).await;
    // Eva opens the course two hours later and finishes "Massas" a day after.
    app.advance(Duration::hours(2)).await;
    shop.post_all(&[first_access(
        "eva@exemplo.com",
        "Eva Rocha",
        curso(),
        t0 + 2 * HOUR_MS,
    )])
    .await;
    app.advance(Duration::days(1)).await;
    let finished = t0 + 26 * HOUR_MS;
    shop.post_all(&[module_completed(
        "eva@exemplo.com",
        "Eva Rocha",
        curso(),
        "mod-massas",
        "Massas",
        finished,
    )])
    .await;

    let eva = shop.customer_id("eva@exemplo.com").await.expect("eva");
    let customer = shop
        .query(
            "query($id: ID!) { customer(id: $id) { enrollments { progress firstAccessAt lastAccessAt
                lastLessonCompletedAt modules { name lessonsTotal lessonsCompleted lastCompletedAt } } } }",
            json!({"id": eva}),
            "customer",
        )
        .await;
    let enrollment = &customer["enrollments"][0];
    assert_eq!(enrollment["progress"], "50.00", "{enrollment}");
    let ms = |v: &Value| {
        v.as_str().map(|t| {
            DateTime::parse_from_rfc3339(t)
                .expect("rfc3339")
                .timestamp_millis()
        })
    };
    assert_eq!(ms(&enrollment["firstAccessAt"]), Some(t0 + 2 * HOUR_MS));
    assert_eq!(ms(&enrollment["lastAccessAt"]), Some(finished));
    assert_eq!(ms(&enrollment["lastLessonCompletedAt"]), Some(finished));
    let modules: Vec<(String, i64, i64, Option<i64>)> = enrollment["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().expect("name").to_owned(),
                m["lessonsTotal"].as_i64().expect("total"),
                m["lessonsCompleted"].as_i64().expect("completed"),
                ms(&m["lastCompletedAt"]),
            )
        })
        .collect();
    assert_eq!(
        modules,
        vec![
            ("Massas".to_owned(), 2, 2, Some(finished)),
            ("Coberturas".to_owned(), 2, 0, None),
        ]
    );
    // Nothing was sent to Eva yet.
    let messages = shop
        .query(
            "query($id: ID!) { customer(id: $id) { messages(first: 5) { totalCount nodes { id } } } }",
            json!({"id": eva}),
            "customer",
        )
        .await;
    assert_eq!(messages["messages"]["totalCount"], 0);
}
on_both_backends!(
    enrollment_shows_module_progress,
    enrollment_shows_module_progress
);
