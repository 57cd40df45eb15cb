//! The queue a CS team works from: recovery items, decisions, expiry.

use super::*;
use crate::cs_reports::curso;
use crate::hotmart_webhooks::cart_abandoned;

/// "Approve all billets": the filter of every pending sale-recovery item.
fn all_billets() -> Value {
    json!({"f": {"trigger": "BILLET_PRINTED"}})
}

async fn a_billet_paid_cancels_its_recovery_item(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let sale =
        Sale::new("HP1000000004", "maria@example.com", ms(now) - 60_000).payment("BILLET", 1);
    shop.post(&sale.billet_printed(ms(now))).await;
    shop.post(&sale.billet_printed(ms(now))).await;
    let items = shop.queue(json!({"trigger": "BILLET_PRINTED"})).await;
    assert_eq!(items.len(), 1, "a redelivered billet makes no second item");
    let item = &items[0];
    assert_eq!(item["status"], "PENDING");
    assert_eq!(item["transactionCode"], "HP1000000004");
    assert_eq!(
        item["variables"]["3"],
        "https://billet.hotmart.com/b/HP1000000004"
    );
    assert_eq!(
        item["reason"],
        "Gerou boleto ou Pix de Curso de Confeitaria e ainda não pagou"
    );
    app.advance(Duration::hours(3)).await;
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(app.clock.now())))
        .await;
    let items = shop.queue(json!({"trigger": "BILLET_PRINTED"})).await;
    assert_eq!(items[0]["status"], "CANCELLED");
    assert_eq!(items[0]["errorCode"], "PAID");
    assert_eq!(
        meta.accepted(),
        1,
        "the welcome went; the recovery message never did"
    );
}
on_both_backends!(
    a_billet_paid_cancels_its_recovery_item,
    a_billet_paid_cancels_its_recovery_item
);

async fn a_cs_person_works_the_queue(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    // Only the recovery flow here.
    shop.turn_off("welcome").await;
    let now = app.clock.now();
    let buyers = [
        ("HP2000000001", "ana@example.com", "11911110001"),
        ("HP2000000002", "bia@example.com", "11911110002"),
        ("HP2000000003", "carla@example.com", "11911110003"),
    ];
    for (code, email, phone) in buyers {
        let sale = billet(code, email, phone, ms(now) - 60_000);
        shop.post(&sale.billet_printed(ms(now))).await;
    }
    let pending = shop.queue(json!({"status": "PENDING"})).await;
    assert_eq!(pending.len(), 3);
    let found = shop.queue(json!({"search": "bia@"})).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["customer"]["email"], "bia@example.com");

    // Carla answers "PARAR" on WhatsApp: her send is refused with its code.
    let stop = inbound_text("5511911110003", "wamid.IN-CARLA", "PARAR");
    assert_eq!(deliver(&app, &shop.slug, &stop).await, 200);
    app.drain().await;

    // Free text outside the 24 h window is refused; the variables can change.
    let ana_item = shop.queue(json!({"search": "ana@"})).await[0]["id"].clone();
    let text = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!) { editDispatch(id: $id, text: \"Oi Ana, tudo bem?\") { id } }",
            json!({"id": ana_item}),
        )
        .await;
    assert_eq!(text.error_code(), Some("INVALID_INPUT"));
    let edited = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!, $v: JSON) { editDispatch(id: $id, variables: $v) { edited variables } }",
            json!({"id": ana_item, "v": {"1": "Aninha"}}),
        )
        .await;
    assert_eq!(edited.data("editDispatch")["edited"], true);
    assert_eq!(edited.data("editDispatch")["variables"]["1"], "Aninha");

    // Read-only tokens and other workspaces decide nothing.
    let reader = app.reader_token(shop.workspace);
    let refused = app.graphql(Some(&reader), DECIDE, all_billets()).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    let other = app.create_workspace("outra").await;
    let theirs = app
        .graphql(Some(&app.agent_token(other)), DECIDE, all_billets())
        .await;
    assert_eq!(
        theirs.data("approveDispatches"),
        &json!({"matched": 0, "decided": 0, "skipped": 0})
    );
    let by_id = app
        .graphql(
            Some(&app.agent_token(other)),
            DECIDE,
            json!({"ids": [ana_item]}),
        )
        .await;
    assert_eq!(by_id.error_code(), Some("NOT_FOUND"));

    // "Approve all billets": each once.
    assert_eq!(
        shop.query(DECIDE, all_billets(), "approveDispatches").await,
        json!({"matched": 3, "decided": 3, "skipped": 0})
    );
    app.drain().await;
    assert_eq!(meta.accepted(), 2, "Ana and Bia; Carla opted out");
    let to_ana = meta
        .message_requests()
        .into_iter()
        .find(|r| r.body.as_ref().is_some_and(|b| b["to"] == "5511911110001"))
        .expect("Ana's message");
    assert_eq!(
        to_ana.body.as_ref().unwrap()["template"]["components"][0]["parameters"][0]["text"],
        "Aninha",
        "the edit is what went"
    );
    assert_eq!(
        shop.query(DECIDE, all_billets(), "approveDispatches").await,
        json!({"matched": 0, "decided": 0, "skipped": 0})
    );
    app.drain().await;
    assert_eq!(meta.accepted(), 2, "nothing twice");
    let items = shop.queue(json!({})).await;
    let mut outcomes: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["customer"]["email"].as_str().unwrap().to_owned(),
                format!("{} {}", i["status"], i["errorCode"]),
            )
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("ana@example.com".to_owned(), "\"SENT\" null".to_owned()),
            ("bia@example.com".to_owned(), "\"SENT\" null".to_owned()),
            (
                "carla@example.com".to_owned(),
                "\"ERROR\" \"OPTED_OUT\"".to_owned()
            ),
        ]
    );
    let decided_by: Vec<&Value> = items.iter().map(|i| &i["decidedBy"]).collect();
    assert!(decided_by.iter().all(|d| **d == "test"), "{decided_by:?}");

    // Ana pays two days after the message: a recovered sale. Bia pays eight
    // days after hers: too late to count.
    let start = app.clock.now();
    let pays = |code: &'static str, email: &'static str, phone: &'static str| {
        let paid = ms(app.clock.now());
        let sale = billet(code, email, phone, ms(now) - 60_000).approved_at(Some(paid));
        sale.event("PURCHASE_APPROVED", "APPROVED", paid)
    };
    app.advance(Duration::days(2)).await;
    shop.post(&pays("HP2000000001", "ana@example.com", "11911110001"))
        .await;
    app.advance(Duration::days(6)).await;
    shop.post(&pays("HP2000000002", "bia@example.com", "11911110002"))
        .await;
    let report = app
        .graphql(
            Some(&app.reader_token(shop.workspace)),
            "query($from: DateTime!, $to: DateTime!) { recoveredSales(from: $from, to: $to) {
                count revenue { currency amount } byRule { count revenue { amount } rule { key } } } }",
            json!({"from": start.to_rfc3339(), "to": app.clock.now().to_rfc3339()}),
        )
        .await;
    assert_eq!(
        report.data("recoveredSales"),
        &json!({"count": 1, "revenue": [{"currency": "BRL", "amount": "497.00"}],
            "byRule": [{"count": 1, "revenue": [{"amount": "497.00"}], "rule": {"key": "sale_recovery"}}]})
    );
}
on_both_backends!(a_cs_person_works_the_queue, a_cs_person_works_the_queue);

async fn pending_items_expire_and_unmonitored_products_stop_the_rules(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let first = Sale::new("HP3000000001", "ana@example.com", ms(now) - 60_000).payment("BILLET", 1);
    shop.post(&first.billet_printed(ms(now))).await;
    let items = shop.queue(json!({"status": "PENDING"})).await;
    assert_eq!(items.len(), 1);
    app.advance(Duration::hours(73)).await;
    let items = shop.queue(json!({})).await;
    assert_eq!(items[0]["status"], "EXPIRED", "72 hours without a decision");

    let later = ms(app.clock.now());
    let second = billet(
        "HP3000000002",
        "bia@example.com",
        "11922220002",
        later - 60_000,
    );
    shop.post(&second.billet_printed(later)).await;
    assert_eq!(shop.queue(json!({"status": "PENDING"})).await.len(), 1);
    let products = app
        .graphql(
            Some(&shop.token),
            "{ products { nodes { id } } }",
            json!({}),
        )
        .await;
    let product_id = products.data("products")["nodes"][0]["id"].clone();
    app.graphql(
        Some(&shop.token),
        "mutation($id: ID!) { setProductMonitored(id: $id, monitored: false) { monitored } }",
        json!({"id": product_id}),
    )
    .await
    .data("setProductMonitored");
    let items = shop.queue(json!({"status": "CANCELLED"})).await;
    assert_eq!(items.len(), 1, "its pending items are withdrawn");
    assert_eq!(items[0]["errorCode"], "NOT_MONITORED");
    let third = Sale::new(
        "HP3000000003",
        "carla@example.com",
        ms(app.clock.now()) - 60_000,
    )
    .buyer("Carla", Some(("55", "11933330003")));
    shop.post(&third.event("PURCHASE_APPROVED", "APPROVED", ms(app.clock.now())))
        .await;
    assert_eq!(
        meta.accepted(),
        0,
        "no rule acts on buyers of a product not monitored"
    );
}
on_both_backends!(
    pending_items_expire_and_unmonitored_products_stop_the_rules,
    pending_items_expire_and_unmonitored_products_stop_the_rules
);

/// A billet sale of the course to a buyer with a phone, ordered at `order_ms`.
pub(super) fn billet(code: &str, email: &str, phone: &str, order_ms: i64) -> Sale {
    Sale::new(code, email, order_ms)
        .buyer("Cliente Teste", Some(("55", phone)))
        .payment("BILLET", 1)
}

async fn an_abandoned_cart_is_suggested_and_withdrawn_by_the_purchase(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    shop.turn_off("welcome").await;
    let now = ms(app.clock.now());
    let cart = |email: &str, phone: &str| {
        cart_abandoned(email, "Cliente Teste", phone, curso(), "n82b9jqz", now)
    };
    shop.post(&cart("ana@example.com", "5511988880001")).await;
    shop.post(&cart("bia@example.com", "5511988880002")).await;
    shop.post(&cart("bia@example.com", "5511988880002")).await;
    let items = shop.queue(json!({"trigger": "CART_ABANDONED"})).await;
    assert_eq!(items.len(), 2, "one item per customer and product");
    for item in &items {
        assert_eq!(item["status"], "PENDING");
        assert_eq!(item["rule"]["key"], "cart_recovery");
        assert_eq!(
            item["reason"],
            "Abandonou o carrinho de Curso de Confeitaria"
        );
    }
    // Ana's message goes; Bia buys before anyone decided on hers.
    let ana = items
        .iter()
        .find(|i| i["customer"]["email"] == "ana@example.com")
        .unwrap();
    shop.query(DECIDE, json!({"ids": [ana["id"]]}), "approveDispatches")
        .await;
    app.drain().await;
    assert_eq!(meta.accepted(), 1);
    assert_eq!(
        meta.message_requests()[0].body.as_ref().unwrap()["template"]["name"],
        "carrinho_abandonado"
    );
    let start = app.clock.now();
    app.advance(Duration::hours(5)).await;
    for (code, email, phone) in [
        ("HP9000000001", "ana@example.com", "11988880001"),
        ("HP9000000002", "bia@example.com", "11988880002"),
    ] {
        let at = ms(app.clock.now());
        let sale = Sale::new(code, email, at - 60_000).buyer("Cliente Teste", Some(("55", phone)));
        shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", at))
            .await;
    }
    let bia = shop.queue(json!({"search": "bia@"})).await;
    assert_eq!(bia[0]["status"], "CANCELLED");
    assert_eq!(bia[0]["errorCode"], "PAID");
    let report = shop
        .query(
            "query($from: DateTime!, $to: DateTime!) { recoveredSales(from: $from, to: $to) {
                count byRule { count rule { key } } } }",
            json!({"from": start.to_rfc3339(), "to": app.clock.now().to_rfc3339()}),
            "recoveredSales",
        )
        .await;
    assert_eq!(
        report,
        json!({"count": 1, "byRule": [{"count": 1, "rule": {"key": "cart_recovery"}}]}),
        "Ana's purchase followed our message; Bia's did not"
    );
}
on_both_backends!(
    an_abandoned_cart_is_suggested_and_withdrawn_by_the_purchase,
    an_abandoned_cart_is_suggested_and_withdrawn_by_the_purchase
);

/// A sender died calling Meta: the item's message was left `sending`. No
/// sender takes the item while that send may still be under way; once its
/// lease lapses the item ends SENT, its message of unknown outcome, and
/// Meta is never called for it again.
async fn a_send_cut_short_is_never_made_again(app: TestApp) {
    use entity::outbox::{NewMessage, reserve_claimed};
    use sea_orm::EntityTrait;
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    shop.turn_off("welcome").await;
    let now = app.clock.now();
    let sale = billet(
        "HP3000000001",
        "ana@example.com",
        "11911113001",
        ms(now) - 60_000,
    );
    shop.post(&sale.billet_printed(ms(now))).await;
    let decided = app.graphql(Some(&shop.token), DECIDE, all_billets()).await;
    assert_eq!(
        decided.data("approveDispatches"),
        &json!({"matched": 1, "decided": 1, "skipped": 0})
    );
    let item = entity::entities::dispatch_item::Entity::find()
        .one(&app.db)
        .await
        .expect("read the item")
        .expect("the item");
    let lease = app.worker.lease;
    let cut_short = NewMessage {
        idempotency_key: worker::automation::sender::dispatch_key(item.id),
        customer_id: item.customer_id,
        channel: item.channel,
        template_id: item.template_id,
        content: json!({}),
        campaign_recipient_id: None,
        dispatch_item_id: Some(item.id),
        node_id: None,
    };
    let reserved = reserve_claimed(
        &app.db,
        vec![(entity::Tenant::new(shop.workspace), cut_short)],
        app.clock.now(),
        lease,
    )
    .await
    .expect("reserve as the dead sender did");
    assert!(reserved[0].is_some());

    app.drain().await;
    assert_eq!(
        shop.queue(json!({"status": "APPROVED"})).await.len(),
        1,
        "the item waits while its send may be under way"
    );
    // The lease lapses: the send becomes `unknown`, which the send rules
    // count as made to Ana just now, so the item waits out the pair rate.
    app.advance(lease + Duration::seconds(1)).await;
    app.advance(worker::campaigns::policy::PAIR_RATE).await;
    let sent = shop.queue(json!({"status": "SENT"})).await;
    assert_eq!(sent.len(), 1, "the item ends sent");
    assert_eq!(sent[0]["message"]["status"], "UNKNOWN");
    assert!(
        meta.message_requests().is_empty(),
        "Meta was never called for it"
    );
}

on_both_backends!(
    a_send_cut_short_is_never_made_again,
    a_send_cut_short_is_never_made_again
);
