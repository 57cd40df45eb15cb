//! Duplicates and replays change nothing, and concurrent redeliveries store
//! each event once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::XorShift;
use crate::helpers::TestApp;
use crate::hotmart_events::{Shop, assert_timeline_mirrors_domain_events, domain_events};
use crate::hotmart_webhooks::{
    DAY_MS, HOTTOK, PlanOption, Sale, Subscriber, cart_abandoned, charge_date_change, envelope,
    first_access, module_completed, now_ms, order_fulfillment, product_ref,
    subscription_cancellation, switch_plan,
};
use crate::on_both_backends;

/// Tables whose rows the Hotmart appliers write.
const DOMAIN_TABLES: [&str; 13] = [
    "customers",
    "products",
    "offers",
    "transactions",
    "subscriptions",
    "enrollments",
    "modules",
    "lessons",
    "lesson_progress",
    "domain_events",
    "domain_event_deliveries",
    "customer_activities",
    "webhook_events",
];

/// Row counts of every domain table and the customers as GraphQL shows them.
async fn snapshot(shop: &Shop<'_>, emails: &[&str]) -> Value {
    let mut rows = serde_json::Map::new();
    for table in DOMAIN_TABLES {
        rows.insert(table.into(), json!(shop.app.count_rows(table).await));
    }
    let mut customers = Vec::new();
    for email in emails {
        customers.push(shop.customer(email).await);
    }
    json!({"rows": rows, "customers": customers})
}

/// One postback of each of the 16 kinds (and an unknown one) for two customers.
fn every_kind(at: impl Fn(i64) -> i64) -> Vec<Value> {
    let maria = "maria@exemplo.com";
    let course = Sale::new("HP1100000001", maria, at(1));
    let club = Sale::new("HP1100000002", maria, at(2))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .subscription(json!("SUB-IDEM-01"), json!(114680), "Plano Mensal");
    let renewal = club
        .clone()
        .approved_at(None)
        .recurrence(2)
        .price(json!(49.9));
    let renewal = Sale {
        transaction: "HP1100000003".into(),
        order_ms: at(32),
        ..renewal
    };
    let mentoring = Sale::new("HP1100000004", maria, at(3))
        .product(json!(1200001), "Mentoria")
        .price(json!(997.0));
    let ebook = Sale::new("HP1100000005", maria, at(4))
        .product(json!(1200002), "E-book")
        .price(json!(47.0));
    let joao = "joao@exemplo.com";
    let billet = Sale::new("HP1100000006", joao, at(5))
        .buyer("João Souza", Some(("55", "21999998888")))
        .product(json!(1200003), "Workshop")
        .price(json!(297.0))
        .payment("BILLET", 1)
        .approved_at(Some(at(6)));
    let pix = Sale::new("HP1100000007", joao, at(7))
        .buyer("João Souza", None)
        .product(json!(1200004), "Apostila")
        .price(json!(39.9))
        .payment("PIX", 1)
        .approved_at(None);
    let expired = Sale::new("HP1100000008", joao, at(8))
        .buyer("João Souza", None)
        .product(json!(1200005), "Kit")
        .approved_at(None);
    let disputed = Sale::new("HP1100000009", joao, at(9))
        .buyer("João Souza", None)
        .product(json!(1200006), "Aulão");
    let clube = || product_ref(json!(788921), "Clube do Bolo");
    let curso = || product_ref(json!(3526906), "Curso de Confeitaria");
    let subscriber =
        Subscriber::new("SUB-IDEM-01", "Maria Silva", Some(maria)).cell("11", "987654321");
    vec![
        course.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        course.event("PURCHASE_COMPLETE", "COMPLETE", at(9)),
        club.event("PURCHASE_APPROVED", "APPROVED", at(2)),
        mentoring.event("PURCHASE_APPROVED", "APPROVED", at(3)),
        mentoring.event("PURCHASE_REFUNDED", "REFUNDED", at(5)),
        ebook.event("PURCHASE_APPROVED", "APPROVED", at(4)),
        ebook.event("PURCHASE_CHARGEBACK", "CHARGEBACK", at(6)),
        billet.billet_printed(at(5)),
        billet.event("PURCHASE_APPROVED", "APPROVED", at(6)),
        pix.pix_printed(at(7)),
        pix.event("PURCHASE_CANCELED", "CANCELED", at(8)),
        expired.event("PURCHASE_EXPIRED", "EXPIRED", at(9)),
        disputed.event("PURCHASE_APPROVED", "APPROVED", at(9)),
        disputed.event("PURCHASE_PROTEST", "DISPUTE", at(10)),
        cart_abandoned(
            "lia@exemplo.com",
            "Lia Castro",
            "11912345678",
            curso(),
            "n82b9jqz",
            at(10),
        ),
        switch_plan(
            "SUB-IDEM-01",
            maria,
            clube(),
            &[PlanOption {
                id: json!(114681),
                name: "Plano Anual".into(),
                offer_key: "anual01".into(),
                current: true,
            }],
            "ACTIVE",
            at(40),
            at(11),
        ),
        charge_date_change(
            &subscriber,
            clube(),
            (2, 15),
            &crate::hotmart_webhooks::iso(at(44)),
            "ACTIVE",
            (json!(114681), "Plano Anual", "anual01"),
            at(12),
        ),
        first_access(maria, "Maria Silva", curso(), at(13)),
        module_completed(
            maria,
            "Maria Silva",
            curso(),
            "QOZmLb1E4W",
            "Módulo 1",
            at(14),
        ),
        order_fulfillment(
            joao,
            "HP1100000006",
            product_ref(json!(1200003), "Workshop"),
            at(15),
        ),
        subscription_cancellation(
            &subscriber,
            clube(),
            (json!(114681), "Plano Anual"),
            json!(499.0),
            at(16),
            at(44),
            at(16),
        ),
        renewal.event("PURCHASE_DELAYED", "OVERDUE", at(33)),
        envelope("SOMETHING_ELSE_ENTIRELY", at(17), json!({"x": 1})),
    ]
}

/// The same postback twice, and every postback replayed after it was
/// processed, change nothing.
async fn duplicates_and_replays_change_nothing(app: TestApp) {
    let shop = Shop::open(&app, "idempotente").await;
    let base = now_ms() - 20 * DAY_MS;
    let bodies = every_kind(|day| base + day * DAY_MS);
    shop.post_all(&bodies).await;
    app.drain().await;
    let emails = ["maria@exemplo.com", "joao@exemplo.com", "lia@exemplo.com"];
    let first = snapshot(&shop, &emails).await;
    assert_eq!(first["rows"]["webhook_events"], bodies.len());
    assert_eq!(first["customers"][0]["ltvTotal"], "546.90", "{first}");
    let recorded = app.count_rows("domain_events").await;
    assert!(recorded >= 20, "{recorded} domain events");

    for body in &bodies {
        let (status, answer) = app.post_hotmart(&shop.slug, Some(HOTTOK), body).await;
        assert_eq!(
            (status, &answer["status"]),
            (200, &json!("duplicate")),
            "{answer}"
        );
    }
    app.drain().await;
    assert_eq!(
        snapshot(&shop, &emails).await,
        first,
        "a redelivered postback changes nothing"
    );

    let events = shop.webhook_events(json!({})).await;
    let ids: Vec<String> = events["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), bodies.len());
    for id in &ids {
        let replayed = shop
            .query(
                "mutation($id: ID!) { replayWebhookEvent(id: $id) { id status attempts } }",
                json!({"id": id}),
                "replayWebhookEvent",
            )
            .await;
        assert_eq!(replayed["id"], id.as_str());
        assert_eq!(replayed["status"], "RECEIVED", "{replayed}");
        assert_eq!(replayed["attempts"], 0, "{replayed}");
        app.drain().await;
    }
    assert_eq!(
        snapshot(&shop, &emails).await,
        first,
        "replaying processed postbacks changes nothing: same rows, same LTV, no new domain events"
    );
    let after = shop.webhook_events(json!({})).await;
    for event in after["nodes"].as_array().expect("nodes") {
        let expected = if event["eventType"] == "SOMETHING_ELSE_ENTIRELY" {
            "IGNORED"
        } else {
            "PROCESSED"
        };
        assert_eq!(event["status"], expected, "{event}");
        assert_eq!(event["attempts"], 1, "{event}");
        assert_eq!(event["lastError"], Value::Null, "{event}");
    }
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    duplicates_and_replays_change_nothing,
    duplicates_and_replays_change_nothing
);

/// An operator replays events while the worker is busy applying others (and
/// the replays themselves): every replay is accepted, and applies once.
async fn replays_while_the_worker_is_busy(app: TestApp) {
    let shop = Shop::open(&app, "ocupada").await;
    let base = now_ms() - 5 * DAY_MS;
    let bodies: Vec<Value> = (0..30)
        .map(|n| {
            let at = base + n * 60_000;
            Sale::new(
                &format!("HP8800{n:06}"),
                &format!("fila{n}@exemplo.com"),
                at,
            )
            .event("PURCHASE_APPROVED", "APPROVED", at)
        })
        .collect();
    for body in &bodies {
        let (status, answer) = app.post_hotmart(&shop.slug, Some(HOTTOK), body).await;
        assert_eq!(
            (status, &answer["status"]),
            (200, &json!("accepted")),
            "{answer}"
        );
    }
    let events = shop.webhook_events(json!({})).await;
    let ids: Vec<String> = events["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), bodies.len());
    let mut refused = Vec::new();
    for round in 0..2 {
        for id in &ids {
            let answer = app
                .graphql(
                    Some(&shop.token),
                    "mutation($id: ID!) { replayWebhookEvent(id: $id) { id status } }",
                    json!({"id": id}),
                )
                .await;
            if answer.body.get("errors").is_some() {
                refused.push(format!("round {round}, {id}: {}", answer.body));
            }
        }
    }
    app.drain().await;
    assert!(
        refused.is_empty(),
        "{} of {} replays refused:\n{}",
        refused.len(),
        2 * ids.len(),
        refused[..refused.len().min(3)].join("\n")
    );
    assert_eq!(
        shop.webhook_events(json!({"status": "PROCESSED"})).await["totalCount"],
        bodies.len()
    );
    assert_eq!(app.count_rows("transactions").await, bodies.len() as i64);
    assert_eq!(
        domain_events(&app, "purchase_approved").await,
        bodies.len() as i64
    );
}
on_both_backends!(
    replays_while_the_worker_is_busy,
    replays_while_the_worker_is_busy
);

const CUSTOMERS: usize = 50;
const PER_CUSTOMER: usize = 4;
const COPIES: usize = 3;

/// 200 distinct PURCHASE_APPROVED for 50 customers, each delivered three
/// times at once: every event is stored and applied exactly once.
async fn concurrent_redeliveries_store_each_event_once(app: TestApp) {
    let shop = Shop::open(&app, "lancamento").await;
    let base = now_ms() - 5 * DAY_MS;
    let mut bodies = Vec::new();
    let mut expected_ltv: BTreeMap<String, Decimal> = BTreeMap::new();
    for customer in 0..CUSTOMERS {
        let email = format!("aluna{customer:02}@exemplo.com");
        for purchase in 0..PER_CUSTOMER {
            // Prices with cents that binary floats hold exactly: 10.25, 11.50, ...
            let cents = 1_000 + 100 * customer as i64 + 25 * (purchase as i64 + 1);
            let price = Decimal::new(cents, 2);
            *expected_ltv.entry(email.clone()).or_default() += price;
            let at = base + (customer * PER_CUSTOMER + purchase) as i64 * 60_000;
            bodies.push(
                Sale::new(&format!("HP77{customer:03}{purchase:02}"), &email, at)
                    .buyer(&format!("Aluna {customer}"), Some(("55", "11987654321")))
                    .product(json!(3526906 + purchase as i64), "Curso")
                    .price(json!(cents as f64 / 100.0))
                    .event("PURCHASE_APPROVED", "APPROVED", at),
            );
        }
    }
    let mut deliveries: Vec<usize> = (0..bodies.len())
        .flat_map(|i| std::iter::repeat_n(i, COPIES))
        .collect();
    XorShift(0x2545_F491_4F6C_DD1D).shuffle(&mut deliveries);
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut accepted_ids = BTreeSet::new();
    // Waves of 150 requests keep the open sockets bounded.
    for wave in deliveries.chunks(150) {
        let answers = join_all(
            wave.iter()
                .map(|&i| app.post_hotmart(&shop.slug, Some(HOTTOK), &bodies[i])),
        )
        .await;
        for (status, answer) in answers {
            assert_eq!(status, 200, "{answer}");
            let outcome = answer["status"].as_str().expect("status").to_owned();
            if outcome == "accepted" {
                assert!(accepted_ids.insert(answer["id"].as_str().expect("id").to_owned()));
            }
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    let n = bodies.len();
    assert_eq!(
        outcomes,
        HashMap::from([("accepted".to_owned(), n), ("duplicate".to_owned(), 2 * n)])
    );
    assert_eq!(app.count_rows("webhook_events").await, n as i64);
    app.drain().await;
    assert_eq!(app.count_rows("transactions").await, n as i64);
    assert_eq!(app.count_rows("customers").await, CUSTOMERS as i64);
    assert_eq!(domain_events(&app, "purchase_approved").await, n as i64);
    assert_eq!(
        shop.webhook_events(json!({"status": "PROCESSED"})).await["totalCount"],
        n
    );
    let customers = shop
        .query(
            "{ customers(first: 100) { nodes { email ltvTotal } } }",
            json!({}),
            "customers",
        )
        .await;
    let ltv: BTreeMap<String, Decimal> = customers["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|c| {
            (
                c["email"].as_str().expect("email").to_owned(),
                c["ltvTotal"]
                    .as_str()
                    .expect("ltv")
                    .parse()
                    .expect("decimal"),
            )
        })
        .collect();
    assert_eq!(ltv, expected_ltv);
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    concurrent_redeliveries_store_each_event_once,
    concurrent_redeliveries_store_each_event_once
);
