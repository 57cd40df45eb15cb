//! The envelope's variants: ids as numbers or strings, dates in every form Hotmart sends,
//! statuses named after their events.

use super::*;

/// Ids as numbers or strings, and `creation_date` as epoch milliseconds, as
/// `creationDate`, or as ISO-8601.
async fn envelope_variants_are_understood(app: TestApp) {
    let shop = Shop::open(&app, "variantes").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;

    // A numeric envelope id is the same dedupe key as its text.
    let mut numeric = Sale::new("HP7000000001", "num@exemplo.com", at(1)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(1),
    );
    numeric["id"] = json!(987_654_321_012_u64);
    shop.post(&numeric).await;
    let mut as_text = numeric.clone();
    as_text["id"] = json!("987654321012");
    let (status, answer) = app.post_hotmart(&shop.slug, Some(HOTTOK), &as_text).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &json!("duplicate")),
        "{answer}"
    );

    // `creationDate`, as one captured payload spells it.
    let mut camel = Sale::new("HP7000000002", "camel@exemplo.com", at(2)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(2),
    );
    let created = camel
        .as_object_mut()
        .expect("object")
        .remove("creation_date")
        .expect("date");
    camel["creationDate"] = created;
    // ISO-8601 with an offset, and epoch milliseconds as a string.
    let mut text_date = Sale::new("HP7000000003", "iso@exemplo.com", at(3)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(3),
    );
    text_date["creation_date"] = json!(brasilia(at(3)));
    let mut string_ms = Sale::new("HP7000000004", "texto@exemplo.com", at(4)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(4),
    );
    string_ms["creation_date"] = json!(at(4).to_string());
    // The same product id as a string: one product.
    let same_product = Sale::new("HP7000000005", "num@exemplo.com", at(5))
        .product(json!("3526906"), "Curso de Confeitaria")
        .price(json!("197.50"))
        .event("PURCHASE_APPROVED", "APPROVED", at(5));
    shop.post_all(&[camel, text_date, string_ms, same_product])
        .await;
    app.drain().await;

    let events = shop.webhook_events(json!({})).await;
    assert_eq!(events["totalCount"], 5, "{events}");
    let external: Vec<&str> = events["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|e| e["externalId"].as_str())
        .collect();
    assert!(external.contains(&"987654321012"), "{external:?}");
    assert_eq!(
        shop.webhook_events(json!({"status": "PROCESSED"})).await["totalCount"],
        5
    );
    assert_eq!(
        shop.products().await.len(),
        1,
        "3526906 and \"3526906\" are one product"
    );

    for (email, day) in [
        ("num@exemplo.com", 1),
        ("camel@exemplo.com", 2),
        ("iso@exemplo.com", 3),
        ("texto@exemplo.com", 4),
    ] {
        let customer = shop.customer(email).await;
        let first = customer["activities"]
            .as_array()
            .expect("activities")
            .iter()
            .map(|a| ms(&a["occurredAt"]).expect("time"))
            .min();
        assert_eq!(first, Some(at(day)), "{email}: the event's own date");
        assert_eq!(ms(&customer["firstActivityAt"]), Some(at(day)), "{email}");
    }
    let num = shop.customer("num@exemplo.com").await;
    assert_eq!(
        num["ltvTotal"], "694.50",
        "497.00 + 197.50 (a price sent as text)"
    );
    assert_eq!(num["enrollments"].as_array().map(Vec::len), Some(1));
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    envelope_variants_are_understood,
    envelope_variants_are_understood
);

/// Hotmart's own test postbacks spell two purchase statuses after their
/// events: PURCHASE_BILLET_PRINTED carries `"status": "BILLET_PRINTED"` and
/// PURCHASE_DELAYED carries `"status": "DELAYED"` (neither is in the status
/// list of CONTRACTS.md, whose rule is to be lenient). The event name says
/// what happened; the billet must still count as pending, so its later
/// approval is a recovered sale, and the late payment must still be recorded.
async fn statuses_named_after_their_events(app: TestApp) {
    let shop = Shop::open(&app, "grafias").await;
    let base = now_ms() - 40 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let billet = Sale::new("HP8000000001", "rita@exemplo.com", at(1))
        .payment("BILLET", 1)
        .approved_at(Some(at(3)));
    let mut printed = billet.billet_printed(at(1));
    printed["data"]["purchase"]["status"] = json!("BILLET_PRINTED");
    let renewal = Sale::new("HP8000000003", "rita@exemplo.com", at(31))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .approved_at(None)
        .recurrence(2)
        .subscription(json!("SUB-RITA-01"), json!(114680), "Plano Mensal");
    let first_charge = Sale::new("HP8000000002", "rita@exemplo.com", at(1))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .subscription(json!("SUB-RITA-01"), json!(114680), "Plano Mensal");
    shop.post_all(&[
        printed,
        billet.event("PURCHASE_APPROVED", "APPROVED", at(3)),
        first_charge.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        renewal.event("PURCHASE_DELAYED", "DELAYED", at(32)),
    ])
    .await;
    app.drain().await;

    let rita = shop.customer("rita@exemplo.com").await;
    assert_eq!(transaction(&rita, "HP8000000001")["status"], "APPROVED");
    assert_eq!(
        transaction(&rita, "HP8000000001")["billetUrl"],
        "https://billet.hotmart.com/b/HP8000000001"
    );
    assert_eq!(rita["ltvTotal"], "546.90");
    let mut problems = Vec::new();
    for (event_type, count) in [
        ("billet_printed", 1),
        ("sale_recovered", 1),
        ("payment_delayed", 1),
    ] {
        let found = domain_events(&app, event_type).await;
        if found != count {
            problems.push(format!("{event_type}: {found} recorded, {count} expected"));
        }
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    statuses_named_after_their_events,
    statuses_named_after_their_events
);
