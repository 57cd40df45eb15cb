//! Purchase postbacks (approved, complete, refunded, chargeback, billets and Pix, …) land as
//! customers, transactions, LTV, domain events and timeline entries.

use super::*;

/// 16 purchase postbacks for three customers: every PURCHASE_* event but the
/// cart, with the statuses spelled as Hotmart spells them.
async fn purchase_events_land_in_the_domain(app: TestApp) {
    let shop = Shop::open(&app, "confeitaria").await;
    let base = now_ms() - 60 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;

    // Maria: a course, a subscription, a refunded mentoring, a charged-back e-book.
    let maria = "maria.silva@exemplo.com";
    let t1 = Sale::new("HP1000000001", "Maria.Silva@Exemplo.com", at(1))
        .buyer("Maria Silva", Some(("55", "11987654321")));
    let t2 = Sale::new("HP1000000002", maria, at(2))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .offer("m3nsal")
        .payment("CREDIT_CARD", 1)
        .subscription(json!("SUB-MARIA-01"), json!(114680), "Plano Mensal");
    let t3 = Sale::new("HP1000000003", maria, at(3))
        .product(json!(1200001), "Mentoria Bolos de Festa")
        .price(json!(997.0));
    let t4 = Sale::new("HP1000000004", maria, at(4))
        .product(json!("1200002"), "E-book Recheios")
        .price(json!(47));
    // Her second month's charge is late.
    let t5 = Sale::new("HP1000000005", maria, at(32))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .offer("m3nsal")
        .approved_at(None)
        .recurrence(2)
        .subscription(json!("SUB-MARIA-01"), json!(114680), "Plano Mensal");

    // João: a billet paid late (a recovered sale), a Pix left to lapse, a billet expired.
    let joao = "joao@exemplo.com";
    let t6 = Sale::new("HP2000000006", joao, at(10))
        .buyer("João Souza", Some(("+55", "(21) 99999-8888")))
        .product(json!(1200003), "Workshop Naked Cake")
        .price(json!(297.0))
        .payment("BILLET", 1)
        .approved_at(Some(at(12)));
    let t7 = Sale::new("HP2000000007", joao, at(13))
        .buyer("João Souza", Some(("+55", "(21) 99999-8888")))
        .product(json!(1200004), "Apostila Impressa")
        .price(json!(39.9))
        .payment("PIX", 1)
        .approved_at(None);
    let t8 = Sale::new("HP2000000008", joao, at(15))
        .buyer("João Souza", None)
        .product(json!(1200005), "Kit Bicos")
        .price(json!(89.0))
        .payment("BILLET", 1)
        .approved_at(None);

    // Carla: a purchase in dispute, and a cancelled one spelled with two Ls.
    let carla = "carla@exemplo.com";
    let t9 = Sale::new("HP3000000009", carla, at(16))
        .buyer("Carla Dias", None)
        .product(json!(1200006), "Aulão de Natal")
        .price(json!(197.0));
    let t10 = Sale::new("HP3000000010", carla, at(19))
        .buyer("Carla Dias", None)
        .product(json!(1200004), "Apostila Impressa")
        .price(json!(39.9))
        .approved_at(None);

    let bodies = vec![
        t1.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        t1.event("PURCHASE_COMPLETE", "COMPLETE", at(9)),
        t2.event("PURCHASE_APPROVED", "APPROVED", at(2)),
        t3.event("PURCHASE_APPROVED", "APPROVED", at(3)),
        t3.event("PURCHASE_REFUNDED", "REFUNDED", at(5)),
        t4.event("PURCHASE_APPROVED", "APPROVED", at(4)),
        t4.event("PURCHASE_CHARGEBACK", "CHARGEBACK", at(20)),
        t5.event("PURCHASE_DELAYED", "OVERDUE", at(33)),
        t6.billet_printed(at(10)),
        t6.event("PURCHASE_APPROVED", "APPROVED", at(12)),
        t7.pix_printed(at(13)),
        t7.event("PURCHASE_CANCELED", "CANCELED", at(14)),
        t8.event("PURCHASE_EXPIRED", "EXPIRED", at(18)),
        t9.event("PURCHASE_APPROVED", "APPROVED", at(16)),
        t9.event("PURCHASE_PROTEST", "DISPUTE", at(18)),
        t10.event("PURCHASE_CANCELED", "CANCELLED", at(19)),
    ];
    shop.post_all(&bodies).await;
    app.drain().await;

    let events = shop.webhook_events(json!({})).await;
    assert_eq!(events["totalCount"], 16, "{events}");
    let processed = shop.webhook_events(json!({"status": "PROCESSED"})).await;
    assert_eq!(processed["totalCount"], 16, "{events}");

    // Maria.
    let m = shop.customer(maria).await;
    assert_eq!(m["email"], maria, "e-mails are stored lower-case");
    assert_eq!(m["name"], "Maria Silva");
    assert_eq!(m["phone"], "+5511987654321");
    assert_eq!(
        (&m["document"], &m["documentType"]),
        (&json!("69526128664"), &json!("CPF"))
    );
    // approved + complete − refunded − charged back:
    // (497.00 + 49.90 + 997.00 + 47.00) − 997.00 − 47.00.
    assert_eq!(m["ltvTotal"], "546.90");
    assert_eq!(ms(&m["firstActivityAt"]), Some(at(1)));
    assert_eq!(ms(&m["lastActivityAt"]), Some(at(33)));
    let course = transaction(&m, "HP1000000001");
    assert_eq!(course["status"], "COMPLETE");
    assert_eq!(course["amount"], "497.00");
    assert_eq!(course["currency"], "BRL");
    assert_eq!(course["paymentMethod"], "CREDIT_CARD");
    assert_eq!(course["installments"], 12);
    assert_eq!(
        (&course["src"], &course["sck"], &course["xcod"]),
        (&json!("instagram"), &json!("bio"), &json!("post-42"))
    );
    assert_eq!(course["commissionType"], "PRODUCER");
    assert_eq!(course["recurrenceNumber"], 1);
    assert_eq!(ms(&course["purchasedAt"]), Some(at(1)));
    assert_eq!(ms(&course["approvedAt"]), Some(at(1) + 1_000));
    assert_eq!(ms(&course["warrantyEndsAt"]), Some(at(8)));
    assert_eq!(ms(&course["refundedAt"]), None);
    assert_eq!(
        course["product"],
        json!({"hotmartProductId": "3526906", "name": "Curso de Confeitaria"})
    );
    let refunded = transaction(&m, "HP1000000003");
    assert_eq!(refunded["status"], "REFUNDED");
    assert_eq!(ms(&refunded["refundedAt"]), Some(at(5)));
    assert_eq!(ms(&refunded["approvedAt"]), Some(at(3) + 1_000));
    let charged_back = transaction(&m, "HP1000000004");
    assert_eq!(charged_back["status"], "CHARGEBACK");
    assert_eq!(charged_back["amount"], "47.00");
    assert_eq!(
        charged_back["product"]["hotmartProductId"], "1200002",
        "a product id sent as a string"
    );
    let late = transaction(&m, "HP1000000005");
    assert_eq!(late["status"], "OVERDUE");
    assert_eq!(late["recurrenceNumber"], 2);
    assert_eq!(late["approvedAt"], Value::Null);

    let subscriptions = m["subscriptions"].as_array().expect("subscriptions");
    assert_eq!(subscriptions.len(), 1, "{m}");
    let subscription = &subscriptions[0];
    assert_eq!(subscription["subscriberCode"], "SUB-MARIA-01");
    assert!(
        ["DELAYED", "OVERDUE"].contains(&subscription["status"].as_str().unwrap_or_default()),
        "PURCHASE_DELAYED makes the subscription overdue: {subscription}"
    );
    assert_eq!(
        (&subscription["planId"], &subscription["planName"]),
        (&json!("114680"), &json!("Plano Mensal"))
    );
    assert_eq!(ms(&subscription["startedAt"]), Some(at(2) + 1_000));
    assert_eq!(subscription["recurringAmount"], "49.90");
    for code in ["HP1000000002", "HP1000000005"] {
        assert_eq!(
            transaction(&m, code)["subscriptionId"],
            subscription["id"],
            "{code} is a charge of the subscription"
        );
    }

    let products = shop.products().await;
    let access: HashMap<&str, &str> = m["enrollments"]
        .as_array()
        .expect("enrollments")
        .iter()
        .map(|e| {
            let product = products
                .iter()
                .find(|(_, id)| e["productId"] == id.as_str())
                .map(|(hotmart, _)| hotmart.as_str())
                .expect("a known product");
            (product, e["accessStatus"].as_str().expect("access"))
        })
        .collect();
    assert_eq!(
        access,
        HashMap::from([
            ("3526906", "ACTIVE"),
            ("788921", "ACTIVE"),
            ("1200001", "BLOCKED"),
            ("1200002", "BLOCKED"),
        ]),
        "REFUNDED and CHARGEBACK block access; the others keep it"
    );
    assert_eq!(
        activity_types(&m),
        sorted(&[
            "purchase_approved",
            "purchase_approved",
            "purchase_approved",
            "purchase_approved",
            "purchase_completed",
            "purchase_refunded",
            "purchase_chargeback",
            "payment_delayed",
        ])
    );

    // João.
    let j = shop.customer(joao).await;
    assert_eq!(j["phone"], "+5521999998888");
    assert_eq!(j["ltvTotal"], "297.00");
    let recovered = transaction(&j, "HP2000000006");
    assert_eq!(recovered["status"], "APPROVED");
    assert_eq!(recovered["paymentMethod"], "BILLET");
    assert_eq!(
        recovered["billetUrl"], "https://billet.hotmart.com/b/HP2000000006",
        "the billet link from purchase.payment"
    );
    let pix = transaction(&j, "HP2000000007");
    assert_eq!(
        pix["status"], "CANCELLED",
        "CANCELED is stored as CANCELLED"
    );
    assert_eq!(
        pix["pixCode"], PIX_CODE,
        "the Pix code from purchase.payment"
    );
    assert_eq!(pix["paymentMethod"], "PIX");
    assert_eq!(transaction(&j, "HP2000000008")["status"], "EXPIRED");
    let enrollments = j["enrollments"].as_array().expect("enrollments");
    assert_eq!(
        enrollments.len(),
        1,
        "unpaid purchases grant nothing: {enrollments:?}"
    );
    assert_eq!(enrollments[0]["productId"], products["1200003"].as_str());
    assert_eq!(enrollments[0]["accessStatus"], "ACTIVE");
    assert_eq!(
        activity_types(&j),
        sorted(&[
            "billet_printed",
            "billet_printed",
            "purchase_approved",
            "sale_recovered",
            "purchase_cancelled",
            "purchase_expired",
        ])
    );

    // Carla.
    let c = shop.customer(carla).await;
    assert_eq!(c["phone"], Value::Null);
    assert_eq!(transaction(&c, "HP3000000009")["status"], "PROTESTED");
    assert_eq!(
        transaction(&c, "HP3000000010")["status"],
        "CANCELLED",
        "CANCELLED is stored as CANCELLED"
    );
    assert_eq!(
        activity_types(&c),
        sorted(&[
            "purchase_approved",
            "purchase_protested",
            "purchase_cancelled"
        ])
    );

    for (event_type, count) in [
        ("purchase_approved", 6),
        ("purchase_completed", 1),
        ("purchase_refunded", 1),
        ("purchase_chargeback", 1),
        ("purchase_protested", 1),
        ("purchase_cancelled", 2),
        ("purchase_expired", 1),
        ("billet_printed", 2),
        ("payment_delayed", 1),
        ("sale_recovered", 1),
    ] {
        assert_eq!(domain_events(&app, event_type).await, count, "{event_type}");
    }
    assert_eq!(app.count_rows("domain_events").await, 17);
    assert_eq!(app.count_rows("customers").await, 3);
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    purchase_events_land_in_the_domain,
    purchase_events_land_in_the_domain
);
