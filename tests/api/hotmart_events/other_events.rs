//! Abandoned carts, order fulfilment and events jornada does not know.

use super::*;

async fn cart_fulfillment_and_unknown_events(app: TestApp) {
    let shop = Shop::open(&app, "loja").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let kit = Sale::new("HP6000000001", "marcos@exemplo.com", at(1))
        .buyer("Marcos Lima", Some(("55", "31988887777")))
        .product(json!(4999597), "Kit Confeiteiro")
        .price(json!(159.9))
        .physical();
    let unknown = envelope(
        "PURCHASE_SOMETHING_NEW",
        at(3),
        json!({"buyer": {"email": "ninguem@exemplo.com"}, "x": 1}),
    );
    shop.post_all(&[
        cart_abandoned(
            "Lia@Exemplo.com",
            "Lia Castro",
            "11 91234-5678",
            product_ref(json!(3526906), "Curso de Confeitaria"),
            "n82b9jqz",
            at(1),
        ),
        kit.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        order_fulfillment(
            "marcos@exemplo.com",
            "HP6000000001",
            product_ref(json!(4999597), "Kit Confeiteiro"),
            at(2),
        ),
        unknown.clone(),
    ])
    .await;
    app.drain().await;

    let ignored = shop.webhook_events(json!({"status": "IGNORED"})).await;
    assert_eq!(ignored["totalCount"], 1, "{ignored}");
    assert_eq!(ignored["nodes"][0]["externalId"], unknown["id"]);
    assert_eq!(ignored["nodes"][0]["eventType"], "PURCHASE_SOMETHING_NEW");
    assert_eq!(ignored["nodes"][0]["lastError"], Value::Null);
    assert!(ignored["nodes"][0]["processedAt"].is_string());
    let stored = shop
        .query(
            "query($f: WebhookEventFilter) { webhookEvents(filter: $f) { nodes { source payload } } }",
            json!({"f": {"eventType": "PURCHASE_SOMETHING_NEW"}}),
            "webhookEvents",
        )
        .await;
    assert_eq!(
        stored["nodes"][0],
        json!({"source": "hotmart", "payload": unknown}),
        "the body is kept as it came"
    );
    let processed = shop.webhook_events(json!({"status": "PROCESSED"})).await;
    assert_eq!(processed["totalCount"], 3, "{processed}");
    assert_eq!(
        shop.customer_id("ninguem@exemplo.com").await,
        None,
        "an unknown event changes nothing"
    );

    let lia = shop.customer("lia@exemplo.com").await;
    assert_eq!(lia["name"], "Lia Castro");
    assert_eq!(lia["phone"], "+5511912345678");
    assert_eq!(lia["ltvTotal"], "0.00");
    assert_eq!(lia["transactions"], json!([]));
    assert_eq!(lia["enrollments"], json!([]));
    assert_eq!(activity_types(&lia), sorted(&["cart_abandoned"]));

    let marcos = shop.customer("marcos@exemplo.com").await;
    assert_eq!(marcos["ltvTotal"], "159.90");
    assert_eq!(
        activity_types(&marcos),
        sorted(&["purchase_approved", "order_fulfilled"])
    );

    for (event_type, count) in [
        ("cart_abandoned", 1),
        ("purchase_approved", 1),
        ("order_fulfilled", 1),
    ] {
        assert_eq!(domain_events(&app, event_type).await, count, "{event_type}");
    }
    assert_eq!(app.count_rows("domain_events").await, 3);
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    cart_fulfillment_and_unknown_events,
    cart_fulfillment_and_unknown_events
);
