//! Subscription postbacks (cancellation, plan switch, charge date) land on the subscription and
//! its customer.

use super::*;

async fn subscription_events_land_in_the_domain(app: TestApp) {
    let shop = Shop::open(&app, "clube").await;
    let base = now_ms() - 20 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let clube = || product_ref(json!(788921), "Clube do Bolo");

    // Ana subscribes, switches to the annual plan, moves her charge day, cancels.
    let ana = "ana@exemplo.com";
    let t20 = Sale::new("HP4000000020", ana, at(1))
        .buyer("Ana Lima", None)
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .offer("m3nsal")
        .subscription(json!("SUB-ANA-01"), json!(114680), "Plano Mensal");
    let ana_subscriber =
        Subscriber::new("SUB-ANA-01", "Ana Lima", Some(ana)).cell("21", "987651234");
    // Bruno's subscriber code comes as a number; his cancellation has no e-mail.
    let bruno = "bruno@exemplo.com";
    let t21 = Sale::new("HP4000000021", bruno, at(1))
        .buyer("Bruno Reis", None)
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .offer("m3nsal")
        .subscription(json!(7340012), json!(114680), "Plano Mensal");
    let mut bruno_subscriber =
        Subscriber::new("7340012", "Bruno Reis", None).cell("11", "912340000");
    let bodies = vec![
        t20.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        switch_plan(
            "SUB-ANA-01",
            ana,
            clube(),
            &[
                PlanOption {
                    id: json!(114680),
                    name: "Plano Mensal".into(),
                    offer_key: "m3nsal".into(),
                    current: false,
                },
                PlanOption {
                    id: json!(114681),
                    name: "Plano Anual".into(),
                    offer_key: "anual01".into(),
                    current: true,
                },
            ],
            "ACTIVE",
            at(40),
            at(5),
        ),
        charge_date_change(
            &ana_subscriber,
            clube(),
            (1, 20),
            &brasilia(at(45)),
            "ACTIVE",
            (json!(114681), "Plano Anual", "anual01"),
            at(6),
        ),
        subscription_cancellation(
            &ana_subscriber,
            clube(),
            (json!(114681), "Plano Anual"),
            json!(499.0),
            at(10),
            at(45),
            at(10),
        ),
        t21.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        subscription_cancellation(
            &bruno_subscriber,
            clube(),
            (json!(114680), "Plano Mensal"),
            json!(49.9),
            at(3),
            at(30),
            at(3),
        ),
    ];
    shop.post_all(&bodies).await;
    // Hotmart spells the cancelled states with one L as well.
    bruno_subscriber.code = json!(7340012);
    shop.post(&charge_date_change(
        &bruno_subscriber,
        clube(),
        (1, 5),
        &iso(at(35)),
        "CANCELED_BY_CUSTOMER",
        (json!(114680), "Plano Mensal", "m3nsal"),
        at(4),
    ))
    .await;
    app.drain().await;
    let processed = shop.webhook_events(json!({"status": "PROCESSED"})).await;
    assert_eq!(processed["totalCount"], 7, "{processed}");

    let a = shop.customer(ana).await;
    let subscriptions = a["subscriptions"].as_array().expect("subscriptions");
    assert_eq!(subscriptions.len(), 1, "{a}");
    let s = &subscriptions[0];
    assert_eq!(s["subscriberCode"], "SUB-ANA-01");
    assert_eq!(s["status"], "CANCELLED_BY_CUSTOMER");
    assert_eq!(
        (&s["planId"], &s["planName"]),
        (&json!("114681"), &json!("Plano Anual")),
        "SWITCH_PLAN moves to the plan marked current"
    );
    assert_eq!(
        ms(&s["nextChargeAt"]),
        Some(at(45)),
        "the ISO date of UPDATE_SUBSCRIPTION_CHARGE_DATE"
    );
    assert_eq!(ms(&s["cancelledAt"]), Some(at(10)));
    assert_eq!(s["recurringAmount"], "499.00");
    assert_eq!(s["productId"], shop.products().await["788921"].as_str());
    assert_eq!(
        a["phone"], "+5521987651234",
        "the subscriber's dddCell and cell, in E.164"
    );
    let enrollment = shop.enrollment(&a, "788921").await.expect("enrolled");
    assert_eq!(
        enrollment["accessStatus"],
        "ACTIVE",
        "paid until {}",
        iso(at(45))
    );
    assert_eq!(
        ms(&enrollment["endsAt"]),
        Some(at(45)),
        "access ends at date_next_charge"
    );
    assert_eq!(
        activity_types(&a),
        sorted(&[
            "purchase_approved",
            "plan_switched",
            "charge_date_changed",
            "subscription_cancelled",
        ])
    );

    let b = shop.customer(bruno).await;
    let subscriptions = b["subscriptions"].as_array().expect("subscriptions");
    assert_eq!(
        subscriptions.len(),
        1,
        "numeric and text codes are one subscriber: {b}"
    );
    let s = &subscriptions[0];
    assert_eq!(s["subscriberCode"], "7340012");
    assert_eq!(s["status"], "CANCELLED_BY_CUSTOMER");
    assert_eq!(ms(&s["cancelledAt"]), Some(at(3)));
    assert_eq!(ms(&s["nextChargeAt"]), Some(at(35)));
    let enrollment = shop.enrollment(&b, "788921").await.expect("enrolled");
    assert_eq!(ms(&enrollment["endsAt"]), Some(at(30)));
    assert_eq!(
        activity_types(&b),
        sorted(&[
            "purchase_approved",
            "subscription_cancelled",
            "charge_date_changed"
        ])
    );

    for (event_type, count) in [
        ("purchase_approved", 2),
        ("plan_switched", 1),
        ("charge_date_changed", 2),
        ("subscription_cancelled", 2),
    ] {
        assert_eq!(domain_events(&app, event_type).await, count, "{event_type}");
    }
    assert_eq!(app.count_rows("domain_events").await, 7);
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    subscription_events_land_in_the_domain,
    subscription_events_land_in_the_domain
);

/// A cancellation without e-mail names the subscriber by code only; what it
/// says about them (their mobile, `phone{dddCell, cell}`) still reaches the
/// customer, as it does when the e-mail is there.
async fn cancellation_by_code_fills_in_the_phone(app: TestApp) {
    let shop = Shop::open(&app, "telefone").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let email = "bruno@exemplo.com";
    let sale = Sale::new("HP4000000031", email, at(1))
        .buyer("Bruno Reis", None)
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .subscription(json!(7340013), json!(114680), "Plano Mensal");
    let subscriber = Subscriber::new("7340013", "Bruno Reis", None).cell("11", "912340000");
    shop.post_all(&[
        sale.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        subscription_cancellation(
            &subscriber,
            product_ref(json!(788921), "Clube do Bolo"),
            (json!(114680), "Plano Mensal"),
            json!(49.9),
            at(3),
            at(30),
            at(3),
        ),
    ])
    .await;
    app.drain().await;
    let bruno = shop.customer(email).await;
    assert_eq!(bruno["subscriptions"][0]["status"], "CANCELLED_BY_CUSTOMER");
    assert_eq!(
        bruno["phone"], "+5511912340000",
        "the subscriber's dddCell and cell, in E.164"
    );
}
on_both_backends!(
    cancellation_by_code_fills_in_the_phone,
    cancellation_by_code_fills_in_the_phone
);
