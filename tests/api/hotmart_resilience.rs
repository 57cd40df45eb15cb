//! Hotmart ingestion when deliveries misbehave: duplicates and replays,
//! concurrent redeliveries, any delivery order, hostile bodies, failures that
//! retry or die, and the webhook event log's filters and tenancy.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use entity::webhook_event;
use entity::webhook_events::Partition;
use futures::future::join_all;
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{ApiOnlyApp, ChildWorker, TestApp};
use crate::hotmart_events::{
    Shop, applied, assert_timeline_mirrors_domain_events, domain_events, ms, transaction, utc,
};
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
    app.settle().await;
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
    app.settle().await;
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
        app.settle().await;
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
    app.settle().await;
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

/// A small deterministic generator (xorshift64) for seeded shuffles.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

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
    app.settle().await;
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

// ---------------------------------------------------------------------------
// Order tolerance
// ---------------------------------------------------------------------------

const PERMUTATIONS: usize = 40;
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// One customer's story, in the order its events happened: a billet bought
/// the course, then it was paid, completed and refunded; a subscription was
/// bought and cancelled; the course was accessed.
fn story(base: i64) -> Vec<(&'static str, Value)> {
    let at = |day: i64| base + day * DAY_MS;
    let email = "bia@exemplo.com";
    let course = Sale::new("HP9000000001", email, at(0))
        .buyer("Bia Rocha", Some(("55", "11987654321")))
        .payment("BILLET", 1)
        .approved_at(Some(at(1)));
    let club = Sale::new("HP9000000002", email, at(2))
        .buyer("Bia Rocha", Some(("55", "11987654321")))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .subscription(json!("SUB-BIA-01"), json!(114680), "Plano Mensal");
    let subscriber =
        Subscriber::new("SUB-BIA-01", "Bia Rocha", Some(email)).cell("11", "987654321");
    vec![
        ("BILLET_PRINTED", course.billet_printed(at(0))),
        (
            "APPROVED",
            course.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        ),
        (
            "APPROVED#2",
            club.event("PURCHASE_APPROVED", "APPROVED", at(2)),
        ),
        (
            "FIRST_ACCESS",
            first_access(
                email,
                "Bia Rocha",
                product_ref(json!(3526906), "Curso de Confeitaria"),
                at(3),
            ),
        ),
        (
            "COMPLETE",
            course.event("PURCHASE_COMPLETE", "COMPLETE", at(8)),
        ),
        (
            "REFUNDED",
            course.event("PURCHASE_REFUNDED", "REFUNDED", at(10)),
        ),
        (
            "CANCELLATION",
            subscription_cancellation(
                &subscriber,
                product_ref(json!(788921), "Clube do Bolo"),
                (json!(114680), "Plano Mensal"),
                json!(49.9),
                at(20),
                at(32),
                at(20),
            ),
        ),
    ]
}

/// The customer's domain state, independent of the workspace's ids.
async fn converged_state(shop: &Shop<'_>, email: &str) -> Value {
    let c = shop.customer(email).await;
    let products = shop.products().await;
    let hotmart_id = |id: &Value| {
        products
            .iter()
            .find(|(_, pid)| *id == pid.as_str())
            .map(|(hid, _)| json!(hid))
            .unwrap_or(Value::Null)
    };
    let code_of = |id: &Value| {
        c["transactions"]
            .as_array()
            .expect("transactions")
            .iter()
            .find(|t| t["id"] == *id)
            .map(|t| t["code"].clone())
            .unwrap_or(Value::Null)
    };
    let time = |v: &Value| json!(ms(v));
    let mut transactions: Vec<Value> = c["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| {
            json!({
                "code": t["code"], "status": t["status"], "amount": t["amount"],
                "purchasedAt": time(&t["purchasedAt"]), "approvedAt": time(&t["approvedAt"]),
                "refundedAt": time(&t["refundedAt"]), "billetUrl": t["billetUrl"],
                "paymentMethod": t["paymentMethod"], "product": t["product"]["hotmartProductId"],
                "inSubscription": !t["subscriptionId"].is_null(),
            })
        })
        .collect();
    transactions.sort_by_key(|t| t["code"].to_string());
    let mut enrollments: Vec<Value> = c["enrollments"]
        .as_array()
        .expect("enrollments")
        .iter()
        .map(|e| {
            json!({
                "product": hotmart_id(&e["productId"]), "accessStatus": e["accessStatus"],
                "transaction": code_of(&e["transactionId"]),
                "startsAt": time(&e["startsAt"]), "endsAt": time(&e["endsAt"]),
                "firstAccessAt": time(&e["firstAccessAt"]),
                "firstAccessOrigin": e["firstAccessOrigin"],
                "lastAccessAt": time(&e["lastAccessAt"]),
            })
        })
        .collect();
    enrollments.sort_by_key(|e| e["product"].to_string());
    let subscriptions: Vec<Value> = c["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .map(|s| {
            json!({
                "subscriberCode": s["subscriberCode"], "status": s["status"],
                "planId": s["planId"], "planName": s["planName"],
                "startedAt": time(&s["startedAt"]), "nextChargeAt": time(&s["nextChargeAt"]),
                "cancelledAt": time(&s["cancelledAt"]), "recurringAmount": s["recurringAmount"],
                "product": hotmart_id(&s["productId"]),
            })
        })
        .collect();
    json!({
        "ltvTotal": c["ltvTotal"], "name": c["name"], "phone": c["phone"],
        "firstActivityAt": time(&c["firstActivityAt"]), "lastActivityAt": time(&c["lastActivityAt"]),
        "transactions": transactions, "enrollments": enrollments, "subscriptions": subscriptions,
    })
}

/// The JSON paths where `a` and `b` differ.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                differences(
                    &format!("{path}.{key}"),
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} (dated order) vs {b}")),
        _ => {}
    }
}

/// For 40 seeded random delivery orders (and the reverse one) of one
/// customer's events, the final state equals the one the dated order gives.
async fn any_delivery_order_converges(app: TestApp) {
    let base = now_ms() - 25 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let events = story(base);
    let email = "bia@exemplo.com";

    let mut orders: Vec<Vec<usize>> = vec![(0..events.len()).collect()];
    orders.push((0..events.len()).rev().collect());
    let mut rng = XorShift(SEED);
    let mut seen: BTreeSet<Vec<usize>> = orders.iter().cloned().collect();
    let mut draws = 0;
    while orders.len() < PERMUTATIONS + 2 && draws < 10 * PERMUTATIONS {
        draws += 1;
        let mut order: Vec<usize> = (0..events.len()).collect();
        rng.shuffle(&mut order);
        if seen.insert(order.clone()) {
            orders.push(order);
        }
    }

    let mut reference = Value::Null;
    let mut diverged: Vec<(String, Vec<String>)> = Vec::new();
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (n, order) in orders.iter().enumerate() {
        let shop = Shop::open(&app, &format!("ordem-{n}")).await;
        for &i in order {
            shop.post(&events[i].1).await;
            applied(&app).await;
        }
        let processed = shop.webhook_events(json!({"status": "PROCESSED"})).await;
        let names: Vec<&str> = order.iter().map(|&i| events[i].0).collect();
        assert_eq!(
            processed["totalCount"],
            events.len(),
            "order {names:?}: {processed}"
        );
        let state = converged_state(&shop, email).await;
        if n == 0 {
            reference = state;
            continue;
        }
        let mut found = Vec::new();
        differences("", &reference, &state, &mut found);
        if !found.is_empty() {
            for path in &found {
                let key = path.split(':').next().unwrap_or_default().to_owned();
                *paths.entry(key).or_default() += 1;
            }
            diverged.push((names.join(" → "), found));
        }
    }

    // The dated order itself ends where DESIGN.md says.
    let r = &reference;
    assert_eq!(r["ltvTotal"], "49.90", "only the subscription is kept: {r}");
    assert_eq!(r["transactions"][0]["status"], "REFUNDED", "{r}");
    assert_eq!(r["transactions"][1]["status"], "APPROVED", "{r}");
    assert_eq!(r["enrollments"][0]["product"], "3526906", "{r}");
    assert_eq!(r["enrollments"][0]["accessStatus"], "BLOCKED", "{r}");
    assert_eq!(r["enrollments"][0]["firstAccessAt"], at(3), "{r}");
    assert_eq!(
        r["enrollments"][0]["firstAccessOrigin"], "hotmart_email",
        "{r}"
    );
    assert_eq!(r["enrollments"][1]["product"], "788921", "{r}");
    assert_eq!(r["enrollments"][1]["accessStatus"], "ACTIVE", "{r}");
    assert_eq!(
        r["enrollments"][1]["endsAt"],
        at(32),
        "access ends with the paid period: {r}"
    );
    assert_eq!(
        r["subscriptions"][0]["status"], "CANCELLED_BY_CUSTOMER",
        "{r}"
    );

    assert!(
        diverged.is_empty(),
        "{} of {} delivery orders end elsewhere than the dated order.\nDiverging fields (orders): {paths:#?}\nFirst cases:\n{}",
        diverged.len(),
        orders.len() - 1,
        diverged
            .iter()
            .take(4)
            .map(|(order, found)| format!("  {order}\n    {}", found.join("\n    ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    app.settle().await;
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(any_delivery_order_converges, any_delivery_order_converges);

/// A module completion delivered before the (earlier) first access: the
/// enrollment and the first_access domain event end as in the dated order.
async fn late_first_access_still_counts(app: TestApp) {
    let shop = Shop::open(&app, "acesso-tardio").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let email = "davi@exemplo.com";
    let curso = || product_ref(json!(3526906), "Curso de Confeitaria");
    shop.post_all(&[
        Sale::new("HP9100000001", email, at(1)).event("PURCHASE_APPROVED", "APPROVED", at(1)),
        module_completed(email, "Davi", curso(), "QOZmLb1E4W", "Módulo 1", at(5)),
        first_access(email, "Davi", curso(), at(2)),
    ])
    .await;
    app.settle().await;
    let davi = shop.customer(email).await;
    let enrollment = shop.enrollment(&davi, "3526906").await.expect("enrolled");
    assert_eq!(ms(&enrollment["firstAccessAt"]), Some(at(2)));
    assert_eq!(enrollment["firstAccessOrigin"], "hotmart_email");
    assert_eq!(ms(&enrollment["lastAccessAt"]), Some(at(5)));
    assert_eq!(
        domain_events(&app, "first_access").await,
        1,
        "the first access happened; a module completion delivered earlier must not hide it"
    );
}
on_both_backends!(
    late_first_access_still_counts,
    late_first_access_still_counts
);

// ---------------------------------------------------------------------------
// Hostile bodies
// ---------------------------------------------------------------------------

/// POSTs raw bytes to the receiver of `slug`.
async fn post_raw(app: &TestApp, slug: &str, hottok: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/hotmart/{slug}")))
        .header("content-type", "application/json")
        .body(body);
    if let Some(hottok) = hottok {
        request = request.header("X-HOTMART-HOTTOK", hottok);
    }
    let response = request.send().await.expect("the receiver answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Wrong types, deep nesting, oversized and unauthenticated bodies are
/// refused with a 4xx and leave nothing behind.
async fn hostile_bodies_are_refused_and_store_nothing(app: TestApp) {
    let shop = Shop::open(&app, "hostil").await;
    let at = now_ms() - DAY_MS;
    let valid = Sale::new("HP6600000001", "alvo@exemplo.com", at).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at,
    );
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        bytes(&body)
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("object").remove(key);
        bytes(&body)
    };
    let deep = format!(
        r#"{{"id": "deep-1", "event": "PURCHASE_APPROVED", "data": {{"x": {}1{}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let deep_objects = format!(
        r#"{{"id": "deep-2", "event": "PURCHASE_APPROVED", "data": {}{}}}"#,
        r#"{"a": "#.repeat(100) + "1",
        "}".repeat(100)
    );
    let mut too_large = valid.clone();
    too_large["data"]["buyer"]["name"] = json!("x".repeat(300 * 1024));
    let mut not_utf8 = bytes(&valid);
    let name_at = not_utf8
        .windows(11)
        .position(|w| w == b"Maria Silva")
        .expect("the buyer's name");
    not_utf8[name_at] = 0xFF;
    let suffixed = format!("{HOTTOK}x");
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("`id` as an object", with("id", json!({"x": 1}))),
        ("`id` as an array", with("id", json!(["a"]))),
        ("`id` as a fraction", with("id", json!(1.5))),
        ("`id` as a boolean", with("id", json!(true))),
        ("`id` blank", with("id", json!("  "))),
        ("`id` of 129 characters", with("id", json!("a".repeat(129)))),
        (
            "`id` with a control character",
            with("id", json!("a\u{0}b")),
        ),
        ("no `id`", without("id")),
        ("`event` as a number", with("event", json!(7))),
        ("`event` as an object", with("event", json!({"name": "X"}))),
        (
            "`event` of 65 characters",
            with("event", json!("E".repeat(65))),
        ),
        ("no `event`", without("event")),
        ("`data` as a string", with("data", json!("{\"buyer\": {}}"))),
        ("`data` as an array", with("data", json!([1, 2]))),
        ("`data` as a number", with("data", json!(42))),
        ("100 nested arrays", deep.into_bytes()),
        ("100 nested objects", deep_objects.into_bytes()),
        ("an array body", b"[1, 2, 3]".to_vec()),
        ("a string body", b"\"PURCHASE_APPROVED\"".to_vec()),
        ("an empty body", Vec::new()),
        ("truncated JSON", bytes(&valid)[..40].to_vec()),
        ("invalid UTF-8", not_utf8),
    ];
    let unauthenticated: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("a wrong hottok", Some("not-the-hottok"), bytes(&valid)),
        ("an empty hottok", Some(""), bytes(&valid)),
        ("the hottok with a suffix", Some(&suffixed), bytes(&valid)),
        ("no hottok", None, bytes(&valid)),
        ("a wrong body hottok", None, with("hottok", json!("nope"))),
        (
            "a wrong header, a right body hottok",
            Some("nope"),
            with("hottok", json!(HOTTOK)),
        ),
    ];
    let mut cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = Vec::new();
    cases.extend(
        malformed
            .into_iter()
            .map(|(what, body)| (what, Some(HOTTOK), body, 400)),
    );
    cases.extend(
        unauthenticated
            .into_iter()
            .map(|(what, hottok, body)| (what, hottok, body, 401)),
    );
    cases.push(("a body over 256 KiB", Some(HOTTOK), bytes(&too_large), 413));
    let mut wrong = Vec::new();
    for (what, hottok, body, expected) in cases {
        let (status, answer) = post_raw(&app, &shop.slug, hottok, body).await;
        if status != expected {
            wrong.push(format!("{what}: {status} (expected {expected}) {answer}"));
        } else {
            assert!(
                answer["errors"][0]["extensions"]["code"].is_string(),
                "{what}: {answer}"
            );
        }
    }
    let (status, _) = post_raw(&app, "nao-existe", Some(HOTTOK), bytes(&valid)).await;
    if status != 404 {
        wrong.push(format!("an unknown workspace: {status} (expected 404)"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(app.count_rows("webhook_events").await, 0, "nothing stored");

    // The body's hottok alone is accepted (Hotmart sends both).
    let (status, answer) = post_raw(&app, &shop.slug, None, with("hottok", json!(HOTTOK))).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &json!("accepted")),
        "{answer}"
    );
    app.settle().await;
    assert_eq!(app.count_rows("webhook_events").await, 1);
    assert_eq!(app.count_rows("transactions").await, 1);
    assert_eq!(app.count_rows("customers").await, 1);
}
on_both_backends!(
    hostile_bodies_are_refused_and_store_nothing,
    hostile_bodies_are_refused_and_store_nothing
);

/// Accepted bodies carrying huge or overlong values: whatever the applier
/// makes of them, each event ends PROCESSED, or DEAD with its reason — never
/// retried for an hour as if the database might change its mind — and the
/// applier keeps working.
async fn oversized_values_never_leave_an_event_stuck(app: TestApp) {
    let shop = Shop::open(&app, "gigante").await;
    let at = now_ms() - DAY_MS;
    let huge = |c: char| c.to_string().repeat(200 * 1024);
    let long = |c: char| c.to_string().repeat(1024);
    let sale = |n: u32| {
        Sale::new(
            &format!("HP55{n:08}"),
            &format!("gigante{n}@exemplo.com"),
            at,
        )
        .subscription(json!(format!("SUB-G-{n}")), json!(114680), "Plano Mensal")
    };
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut purchase = |what: &'static str, n: u32, edit: &dyn Fn(&mut Value)| {
        let mut body = sale(n).event("PURCHASE_APPROVED", "APPROVED", at);
        edit(&mut body["data"]);
        cases.push((what, body));
    };
    purchase("a 200 KiB buyer name", 1, &|d| {
        d["buyer"]["name"] = json!(huge('x'))
    });
    purchase("a 200 KiB buyer name of accented letters", 2, &|d| {
        d["buyer"]["name"] = json!("é".repeat(100 * 1024))
    });
    purchase("a 200 KiB product name", 3, &|d| {
        d["product"]["name"] = json!(huge('p'))
    });
    purchase("a 200 KiB tracking source", 4, &|d| {
        d["purchase"]["origin"]["src"] = json!(huge('s'))
    });
    purchase("a 200 KiB plan name", 5, &|d| {
        d["subscription"]["plan"]["name"] = json!(huge('n'))
    });
    purchase("a 1 KiB buyer document", 6, &|d| {
        d["buyer"]["document"] = json!(long('9'))
    });
    purchase("a 1 KiB document type", 7, &|d| {
        d["buyer"]["document_type"] = json!(long('c'))
    });
    purchase("a 1 KiB offer code", 8, &|d| {
        d["purchase"]["offer"]["code"] = json!(long('o'))
    });
    purchase("a 1 KiB product id", 9, &|d| {
        d["product"]["id"] = json!(long('7'))
    });
    purchase("a 1 KiB product ucode", 10, &|d| {
        d["product"]["ucode"] = json!(long('u'))
    });
    purchase("a 1 KiB payment type", 11, &|d| {
        d["purchase"]["payment"]["type"] = json!(long('t'))
    });
    purchase("a 1 KiB purchase status", 12, &|d| {
        d["purchase"]["status"] = json!(long('S'))
    });
    purchase("a 1 KiB plan id", 13, &|d| {
        d["subscription"]["plan"]["id"] = json!(long('i'))
    });
    purchase("a 1 KiB subscription status", 14, &|d| {
        d["subscription"]["status"] = json!(long('A'))
    });
    purchase("a 1 KiB currency", 15, &|d| {
        d["purchase"]["price"]["currency_value"] = json!(long('R'))
    });
    purchase(
        "a 1 KiB commission source",
        16,
        &|d| d["commissions"] = json!([{"value": 1, "source": long('C'), "currency_value": "BRL"}]),
    );
    purchase("a price of 10^15", 17, &|d| {
        d["purchase"]["price"]["value"] = json!(1e15)
    });
    purchase("a 1 KiB e-mail", 18, &|d| {
        d["buyer"]["email"] = json!(format!("{}@exemplo.com", long('e')))
    });
    purchase("a 1 KiB transaction code", 19, &|d| {
        d["purchase"]["transaction"] = json!(long('H'))
    });
    cases.push((
        "a 1 KiB module id",
        module_completed(
            "gigante20@exemplo.com",
            "Gigante",
            product_ref(json!(3526906), "Curso"),
            &long('m'),
            "Módulo",
            at,
        ),
    ));
    cases.push((
        "a 200 KiB module name",
        module_completed(
            "gigante21@exemplo.com",
            "Gigante",
            product_ref(json!(3526906), "Curso"),
            "QOZmLb1E4W",
            &huge('m'),
            at,
        ),
    ));
    let mut ids = Vec::new();
    for (what, body) in &cases {
        let (status, answer) = app.post_hotmart(&shop.slug, Some(HOTTOK), body).await;
        assert_eq!(status, 200, "{what}: {answer}");
        ids.push((*what, body["id"].as_str().expect("id").to_owned()));
        applied(&app).await;
    }
    let events = shop.webhook_events(json!({})).await;
    let by_external: HashMap<&str, &Value> = events["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|e| (e["externalId"].as_str().expect("id"), e))
        .collect();
    let mut stuck = Vec::new();
    for (what, id) in &ids {
        let event = by_external[id.as_str()];
        let ok = match event["status"].as_str() {
            Some("PROCESSED") => true,
            Some("DEAD") => event["lastError"].is_string(),
            _ => false,
        };
        if !ok {
            stuck.push(format!(
                "{what}: {} after {} attempt(s), next at {}, error {}",
                event["status"], event["attempts"], event["nextAttemptAt"], event["lastError"]
            ));
        }
    }
    // The applier still works.
    shop.post(&Sale::new("HP5599999999", "depois@exemplo.com", at).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at,
    ))
    .await;
    applied(&app).await;
    assert!(shop.customer_id("depois@exemplo.com").await.is_some());
    assert!(
        stuck.is_empty(),
        "{} of {} events are left to retry a permanent failure:\n{}",
        stuck.len(),
        cases.len(),
        stuck.join("\n")
    );
    let name = shop.customer("gigante1@exemplo.com").await["name"].clone();
    assert!(
        name.as_str().is_some_and(|n| n.chars().count() <= 200),
        "names are bounded"
    );
}
on_both_backends!(
    oversized_values_never_leave_an_event_stuck,
    oversized_values_never_leave_an_event_stuck
);

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

const EVENT_FIELDS: &str =
    "id externalId eventType status attempts lastError receivedAt processedAt nextAttemptAt";

async fn replay_dead(shop: &Shop<'_>) -> Value {
    shop.query(
        &format!("mutation {{ replayDeadWebhookEvents {{ {EVENT_FIELDS} }} }}"),
        json!({}),
        "replayDeadWebhookEvents",
    )
    .await
}

async fn replay_one(shop: &Shop<'_>, id: &str) -> Value {
    shop.query(
        &format!("mutation($id: ID!) {{ replayWebhookEvent(id: $id) {{ {EVENT_FIELDS} }} }}"),
        json!({"id": id}),
        "replayWebhookEvent",
    )
    .await
}

/// The stored event with Hotmart id `external_id`.
async fn event_of(shop: &Shop<'_>, external_id: &str) -> Value {
    shop.webhook_events(json!({})).await["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|e| e["externalId"] == external_id)
        .cloned()
        .unwrap_or_else(|| panic!("no event {external_id}"))
}

/// Events that can never be applied as they are end DEAD at once with the
/// reason; replaying them runs them again.
async fn undecodable_events_die_with_their_reason(app: TestApp) {
    let shop = Shop::open(&app, "falhas").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let mut no_email = Sale::new("HP4400000001", "sem@exemplo.com", at(1)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(1),
    );
    no_email["data"]["buyer"]
        .as_object_mut()
        .expect("buyer")
        .remove("email");
    // A cancellation for a subscriber jornada has not seen, without e-mail:
    // nothing identifies the customer. Permanent until the purchase arrives.
    let ghost = Subscriber::new("SUB-GHOST-01", "Fantasma", None);
    let cancellation = subscription_cancellation(
        &ghost,
        product_ref(json!(788921), "Clube do Bolo"),
        (json!(114680), "Plano Mensal"),
        json!(49.9),
        at(5),
        at(35),
        at(5),
    );
    shop.post_all(&[no_email.clone(), cancellation.clone()])
        .await;
    app.settle().await;

    let dead = shop.webhook_events(json!({"status": "DEAD"})).await;
    assert_eq!(dead["totalCount"], 2, "{dead}");
    let missing = event_of(&shop, no_email["id"].as_str().expect("id")).await;
    assert_eq!(missing["status"], "DEAD");
    assert_eq!(
        missing["attempts"], 1,
        "a payload never decodes: no retries"
    );
    assert_eq!(missing["nextAttemptAt"], Value::Null);
    let reason = missing["lastError"].as_str().expect("a reason");
    assert!(reason.contains("buyer.email"), "{reason}");
    assert!(
        !reason.contains("sem@exemplo.com"),
        "no personal data in errors"
    );
    let unknown = event_of(&shop, cancellation["id"].as_str().expect("id")).await;
    assert_eq!(unknown["status"], "DEAD");
    assert!(
        unknown["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("unknown subscriber")),
        "{unknown}"
    );
    assert_eq!(app.count_rows("customers").await, 0);
    assert_eq!(app.count_rows("domain_events").await, 0);

    let replayed = replay_dead(&shop).await;
    let replayed_ids: BTreeSet<&str> = replayed
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["externalId"].as_str().expect("id"))
        .collect();
    assert_eq!(
        replayed_ids,
        BTreeSet::from([
            no_email["id"].as_str().expect("id"),
            cancellation["id"].as_str().expect("id")
        ])
    );
    for event in replayed.as_array().expect("list") {
        assert_eq!(event["status"], "RECEIVED", "{event}");
        assert_eq!(event["attempts"], 0, "{event}");
    }
    app.settle().await;
    let missing = event_of(&shop, no_email["id"].as_str().expect("id")).await;
    assert_eq!(missing["status"], "DEAD", "still undecodable");
    assert_eq!(missing["attempts"], 1);
    assert!(
        missing["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("buyer.email"))
    );
    assert_eq!(
        shop.webhook_events(json!({"status": "DEAD"})).await["totalCount"],
        2
    );

    // Once the subscription's purchase has arrived, the cancellation applies.
    let purchase = Sale::new("HP4400000002", "ghost@exemplo.com", at(1))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .subscription(json!("SUB-GHOST-01"), json!(114680), "Plano Mensal");
    shop.post(&purchase.event("PURCHASE_APPROVED", "APPROVED", at(1)))
        .await;
    app.settle().await;
    let unknown = event_of(&shop, cancellation["id"].as_str().expect("id")).await;
    let again = replay_one(&shop, unknown["id"].as_str().expect("id")).await;
    assert_eq!(again["status"], "RECEIVED");
    app.settle().await;
    let unknown = event_of(&shop, cancellation["id"].as_str().expect("id")).await;
    assert_eq!(unknown["status"], "PROCESSED", "{unknown}");
    assert_eq!(unknown["lastError"], Value::Null, "{unknown}");
    let customer = shop.customer("ghost@exemplo.com").await;
    assert_eq!(
        customer["subscriptions"][0]["status"],
        "CANCELLED_BY_CUSTOMER"
    );
    assert_eq!(
        ms(&customer["subscriptions"][0]["cancelledAt"]),
        Some(at(5))
    );
    assert_eq!(domain_events(&app, "subscription_cancelled").await, 1);
    assert_eq!(
        shop.webhook_events(json!({"status": "DEAD"})).await["totalCount"],
        1
    );
}
on_both_backends!(
    undecodable_events_die_with_their_reason,
    undecodable_events_die_with_their_reason
);

const FAULT: &str = "injected fault: the disk is full";

/// Makes inserts into `transactions` fail, as a database in trouble would:
/// every one, or only the transaction `code`'s.
async fn break_transactions(app: &TestApp, code: Option<&str>) {
    let (raise, when) = match code {
        Some(code) => (
            format!("IF NEW.code = '{code}' THEN RAISE EXCEPTION '{FAULT}'; END IF;"),
            format!(" WHEN NEW.code = '{code}'"),
        ),
        None => (format!("RAISE EXCEPTION '{FAULT}';"), String::new()),
    };
    let statements: Vec<String> = match app.db.get_database_backend() {
        DbBackend::Postgres => vec![
            format!(
                "CREATE OR REPLACE FUNCTION jornada_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {raise} RETURN NEW; END $$"
            ),
            "CREATE TRIGGER jornada_test_fault BEFORE INSERT ON transactions FOR EACH ROW EXECUTE FUNCTION jornada_test_fault()".into(),
        ],
        _ => vec![format!(
            "CREATE TRIGGER jornada_test_fault BEFORE INSERT ON transactions{when} BEGIN SELECT RAISE(ABORT, '{FAULT}'); END"
        )],
    };
    for statement in statements {
        app.db
            .execute_unprepared(&statement)
            .await
            .expect("install the fault");
    }
}

async fn repair_transactions(app: &TestApp) {
    let statement = match app.db.get_database_backend() {
        DbBackend::Postgres => "DROP TRIGGER jornada_test_fault ON transactions",
        _ => "DROP TRIGGER jornada_test_fault",
    };
    app.db
        .execute_unprepared(statement)
        .await
        .expect("remove the fault");
}

/// Waits until the event with that Hotmart id has ended an attempt in
/// `status`, after at least `attempts` attempts. A claim counts the attempt
/// but leaves the status and the error as they were, so an ended attempt is
/// told by its error (which `due_now` clears).
async fn wait_for(shop: &Shop<'_>, external_id: &str, status: &str, attempts: i64) -> Value {
    let started = std::time::Instant::now();
    loop {
        let event = event_of(shop, external_id).await;
        if event["status"] == status
            && event["attempts"].as_i64() >= Some(attempts)
            && event["lastError"].is_string()
        {
            return event;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still {event} after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Makes a failed event due now, as if its backoff had passed, optionally
/// with `attempts` already spent; clears its error so that the next ended
/// attempt shows.
async fn due_now(app: &TestApp, external_id: &str, attempts: Option<i32>) {
    let mut update = webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::NextAttemptAt,
            Expr::value(Some(utc(now_ms() - 1_000))),
        )
        .col_expr(
            webhook_event::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(webhook_event::Column::ExternalId.eq(external_id));
    if let Some(attempts) = attempts {
        update = update.col_expr(webhook_event::Column::Attempts, Expr::value(attempts));
    }
    update.exec(&app.db).await.expect("make the event due");
}

/// A failure that may pass (the database refusing writes) is retried with
/// exponential backoff, dies after MAX_ATTEMPTS with its error kept, and
/// applies once replayed after the repair.
async fn transient_failures_back_off_then_die(app: TestApp) {
    let shop = Shop::open(&app, "instavel").await;
    let at = now_ms() - DAY_MS;
    let body = Sale::new("HP3300000001", "paciente@exemplo.com", at).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at,
    );
    let external_id = body["id"].as_str().expect("id").to_owned();
    break_transactions(&app, None).await;
    shop.post(&body).await;

    let failed = wait_for(&shop, &external_id, "FAILED", 1).await;
    let observed = now_ms();
    assert_eq!(failed["attempts"], 1, "{failed}");
    // The cause is logged for operators; users see why, never database text.
    assert!(
        failed["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("temporary failure") && !e.contains(FAULT)),
        "{failed}"
    );
    let received = ms(&failed["receivedAt"]).expect("received");
    let next = ms(&failed["nextAttemptAt"]).expect("a next attempt");
    assert!(
        (received - 1_000 + 30_000..=observed + 30_000).contains(&next),
        "the first retry is 30 s after the failure: {failed}"
    );
    assert_eq!(app.count_rows("transactions").await, 0);
    assert_eq!(
        app.count_rows("customers").await,
        0,
        "rolled back as a whole"
    );

    // The backoff passes: the worker retries by itself, and waits twice as long.
    let made_due = now_ms();
    due_now(&app, &external_id, None).await;
    let second = wait_for(&shop, &external_id, "FAILED", 2).await;
    let observed = now_ms();
    let next = ms(&second["nextAttemptAt"]).expect("a next attempt");
    assert!(
        (made_due - 1_000 + 60_000..=observed + 60_000).contains(&next),
        "the second retry is 60 s after the failure: {second}"
    );

    // The last attempt fails too: dead, with the error kept.
    due_now(
        &app,
        &external_id,
        Some(entity::webhook_events::MAX_ATTEMPTS - 1),
    )
    .await;
    let dead = wait_for(&shop, &external_id, "DEAD", 8).await;
    assert_eq!(dead["attempts"], entity::webhook_events::MAX_ATTEMPTS);
    assert_eq!(dead["nextAttemptAt"], Value::Null);
    assert!(
        dead["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("temporary failure") && !e.contains(FAULT)),
        "{dead}"
    );
    let listed = shop.webhook_events(json!({"status": "DEAD"})).await;
    assert_eq!(listed["totalCount"], 1);

    repair_transactions(&app).await;
    let replayed = replay_dead(&shop).await;
    assert_eq!(replayed.as_array().map(Vec::len), Some(1), "{replayed}");
    assert_eq!(replayed[0]["externalId"], external_id.as_str());
    app.settle().await;
    let done = event_of(&shop, &external_id).await;
    assert_eq!(done["status"], "PROCESSED", "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["lastError"], Value::Null);
    let customer = shop.customer("paciente@exemplo.com").await;
    assert_eq!(transaction(&customer, "HP3300000001")["status"], "APPROVED");
    assert_eq!(customer["ltvTotal"], "497.00");
    assert_eq!(domain_events(&app, "purchase_approved").await, 1);
}
on_both_backends!(
    transient_failures_back_off_then_die,
    transient_failures_back_off_then_die
);

// ---------------------------------------------------------------------------
// The event log: filters, pagination, tenancy
// ---------------------------------------------------------------------------

async fn webhook_event_log_filters_and_tenancy(app: TestApp) {
    let shop = Shop::open(&app, "registro").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let refund_of = Sale::new("HP2200000001", "um@exemplo.com", at(1));
    let mut broken = Sale::new("HP2200000009", "x@exemplo.com", at(1)).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at(1),
    );
    broken["data"]["buyer"]
        .as_object_mut()
        .expect("buyer")
        .remove("email");
    let bodies = vec![
        refund_of.event("PURCHASE_APPROVED", "APPROVED", at(1)),
        Sale::new("HP2200000002", "dois@exemplo.com", at(2)).event(
            "PURCHASE_APPROVED",
            "APPROVED",
            at(2),
        ),
        Sale::new("HP2200000003", "tres@exemplo.com", at(3)).event(
            "PURCHASE_APPROVED",
            "APPROVED",
            at(3),
        ),
        refund_of.event("PURCHASE_REFUNDED", "REFUNDED", at(4)),
        envelope("NOT_A_HOTMART_EVENT", at(5), json!({})),
        broken,
    ];
    shop.post_all(&bodies).await;
    app.settle().await;
    // Received on six consecutive days of January 2026.
    let day = |d: i64| utc(1_767_225_600_000 + d * DAY_MS);
    for (d, body) in bodies.iter().enumerate() {
        webhook_event::Entity::update_many()
            .col_expr(
                webhook_event::Column::ReceivedAt,
                Expr::value(day(d as i64)),
            )
            .filter(webhook_event::Column::ExternalId.eq(body["id"].as_str().expect("id")))
            .exec(&app.db)
            .await
            .expect("date the event");
    }
    let count = |filter: Value| {
        let shop = &shop;
        async move { shop.webhook_events(filter).await["totalCount"].clone() }
    };
    assert_eq!(count(json!({})).await, 6);
    assert_eq!(count(json!({"status": "PROCESSED"})).await, 4);
    assert_eq!(count(json!({"status": "IGNORED"})).await, 1);
    assert_eq!(count(json!({"status": "DEAD"})).await, 1);
    assert_eq!(count(json!({"status": "FAILED"})).await, 0);
    assert_eq!(count(json!({"eventType": "PURCHASE_APPROVED"})).await, 4);
    assert_eq!(
        count(json!({"eventType": "purchase_refunded"})).await,
        1,
        "event types match case-insensitively"
    );
    assert_eq!(
        count(json!({"eventType": "PURCHASE_APPROVED", "status": "PROCESSED"})).await,
        3
    );
    let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    assert_eq!(
        count(json!({"from": iso(day(2)), "to": iso(day(4))})).await,
        2,
        "from is inclusive, to exclusive"
    );
    assert_eq!(count(json!({"from": iso(day(5))})).await, 1);
    assert_eq!(count(json!({"to": iso(day(0))})).await, 0);
    assert_eq!(
        count(
            json!({"from": iso(day(1)), "eventType": "PURCHASE_APPROVED", "status": "PROCESSED"})
        )
        .await,
        2
    );

    // Pages of two, newest first, cover every event once.
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = shop
            .query(
                "query($after: String) { webhookEvents(first: 2, after: $after) { totalCount
                    pageInfo { hasNextPage endCursor } nodes { id externalId } } }",
                json!({"after": after}),
                "webhookEvents",
            )
            .await;
        assert_eq!(page["totalCount"], 6, "{page}");
        let ids: Vec<String> = page["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["externalId"].as_str().expect("id").to_owned())
            .collect();
        pages.push(ids);
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(pages.len() < 10, "pagination does not end");
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    let listed: Vec<String> = pages.concat();
    let newest_first: Vec<String> = bodies
        .iter()
        .rev()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, newest_first);
    let too_many = app
        .graphql(
            Some(&shop.token),
            "{ webhookEvents(first: 101) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(too_many.error_code().is_some(), "{:?}", too_many.body);
    let forged = app
        .graphql(
            Some(&shop.token),
            "{ webhookEvents(first: 2, after: \"bm90LWEtY3Vyc29y\") { totalCount } }",
            json!({}),
        )
        .await;
    assert!(forged.error_code().is_some(), "{:?}", forged.body);

    // Another workspace's agent sees none of it and can replay none of it.
    let other = Shop::open(&app, "vizinha").await;
    assert_eq!(other.webhook_events(json!({})).await["totalCount"], 0);
    let dead = shop.webhook_events(json!({"status": "DEAD"})).await;
    let dead_id = dead["nodes"][0]["id"].as_str().expect("id").to_owned();
    let mine = shop.workspace.to_string();
    let peek = app
        .graphql(
            Some(&other.token),
            "query($w: ID) { webhookEvents(workspaceId: $w) { totalCount } }",
            json!({"w": mine}),
        )
        .await;
    assert_eq!(peek.error_code(), Some("NOT_FOUND"), "{:?}", peek.body);
    let replay = app
        .graphql(
            Some(&other.token),
            "mutation($id: ID!) { replayWebhookEvent(id: $id) { id status } }",
            json!({"id": dead_id}),
        )
        .await;
    assert_eq!(replay.error_code(), Some("NOT_FOUND"), "{:?}", replay.body);
    let replay_there = app
        .graphql(
            Some(&other.token),
            "mutation($id: ID!, $w: ID) { replayWebhookEvent(workspaceId: $w, id: $id) { id } }",
            json!({"id": dead_id, "w": mine}),
        )
        .await;
    assert_eq!(
        replay_there.error_code(),
        Some("NOT_FOUND"),
        "{:?}",
        replay_there.body
    );
    let replay_all = app
        .graphql(
            Some(&other.token),
            "mutation { replayDeadWebhookEvents { id } }",
            json!({}),
        )
        .await;
    assert_eq!(replay_all.data("replayDeadWebhookEvents"), &json!([]));
    let reader = app.reader_token(shop.workspace);
    let read_only = app
        .graphql(
            Some(&reader),
            "mutation($id: ID!) { replayWebhookEvent(id: $id) { id } }",
            json!({"id": dead_id}),
        )
        .await;
    assert_eq!(
        read_only.error_code(),
        Some("FORBIDDEN"),
        "{:?}",
        read_only.body
    );
    let anonymous = app
        .graphql(None, "{ webhookEvents { totalCount } }", json!({}))
        .await;
    assert!(anonymous.error_code().is_some(), "{:?}", anonymous.body);
    assert_eq!(
        event_of(&shop, bodies[5]["id"].as_str().expect("id")).await["status"],
        "DEAD",
        "nothing was replayed"
    );
    assert_eq!(
        event_of(&shop, bodies[5]["id"].as_str().expect("id")).await["attempts"],
        1
    );

    // service_role names the workspace.
    let service = app
        .graphql(
            Some(&app.service_token()),
            "query($w: ID) { webhookEvents(workspaceId: $w) { totalCount } }",
            json!({"w": mine}),
        )
        .await;
    assert_eq!(service.data("webhookEvents")["totalCount"], 6);
}
on_both_backends!(
    webhook_event_log_filters_and_tenancy,
    webhook_event_log_filters_and_tenancy
);

// ---------------------------------------------------------------------------
// Purchases applied together
// ---------------------------------------------------------------------------

const CULPRIT: &str = "HP9100000099";

/// Takes and applies batches until nothing is due; returns the size of each.
async fn apply_all(app: &TestApp) -> Vec<usize> {
    let mut batches = Vec::new();
    loop {
        let backend = app.db.get_database_backend();
        let claimed = worker::hotmart::applier::apply_batch(
            &app.db,
            entity::webhook_events::Partition::ALL,
            worker::batch_size(backend),
        )
        .await
        .expect("apply a batch");
        if claimed == 0 {
            return batches;
        }
        batches.push(claimed);
    }
}

/// Domain events of one workspace as (type, dedupe key with its ids blanked), sorted.
async fn domain_event_keys(app: &TestApp, workspace: uuid::Uuid) -> Vec<(String, String)> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            app.db.get_database_backend(),
            match app.db.get_database_backend() {
                DbBackend::Postgres => {
                    "SELECT event_type, dedupe_key FROM domain_events WHERE workspace_id = $1"
                }
                _ => "SELECT event_type, dedupe_key FROM domain_events WHERE workspace_id = ?",
            },
            [workspace.into()],
        ))
        .await
        .expect("domain events");
    let mut keys: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            let event_type: String = row.try_get("", "event_type").expect("type");
            let key: String = row.try_get("", "dedupe_key").expect("key");
            // Ids differ between workspaces; what they name does not.
            let key = key
                .split(':')
                .map(|part| {
                    if uuid::Uuid::parse_str(part).is_ok() {
                        "<id>"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join(":");
            (event_type, key)
        })
        .collect();
    keys.sort();
    keys
}

/// Purchases stored together and applied in one batch (the launch-day path)
/// end exactly where applying them one by one ends — customers, transactions,
/// enrollments, subscriptions, LTV and domain events — whatever order they
/// arrived in; a purchase the database refuses fails alone and applies once
/// the fault is gone.
async fn purchases_applied_together_match_one_by_one(served: ApiOnlyApp) {
    let app = &served.app;
    let base = now_ms() - 25 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let mut events: Vec<Value> = story(base).into_iter().map(|(_, e)| e).collect();
    // A second buyer: two sales, one refunded; the refund told first.
    let ebook = Sale::new("HP9100000001", "caio@exemplo.com", at(1)).buyer("Caio Lima", None);
    let mentoria = Sale::new("HP9100000002", "caio@exemplo.com", at(2))
        .buyer("Caio Lima", Some(("55", "21998765432")))
        .product(json!(990011), "Mentoria");
    events.push(ebook.event("PURCHASE_REFUNDED", "REFUNDED", at(6)));
    events.push(ebook.event("PURCHASE_APPROVED", "APPROVED", at(1)));
    events.push(mentoria.event("PURCHASE_APPROVED", "APPROVED", at(2)));
    events.push(mentoria.event("PURCHASE_COMPLETE", "COMPLETE", at(9)));

    // The dated order, one by one: where any delivery order must end.
    let dated = Shop::open(app, "datado").await;
    for event in &events {
        dated.post(event).await;
        assert_eq!(apply_all(app).await, vec![1], "one event, one batch");
    }

    let culprit =
        Sale::new(CULPRIT, "dora@exemplo.com", at(3)).event("PURCHASE_APPROVED", "APPROVED", at(3));
    for (n, order) in [
        (0..events.len()).rev().collect::<Vec<_>>(),
        vec![8, 1, 10, 0, 5, 9, 2, 7, 4, 6, 3],
    ]
    .into_iter()
    .enumerate()
    {
        // The same arrival order, one by one and all in one batch.
        let one_by_one = Shop::open(app, &format!("um-a-um-{n}")).await;
        for &i in &order {
            one_by_one.post(&events[i]).await;
            assert_eq!(apply_all(app).await, vec![1]);
        }
        let together = Shop::open(app, &format!("em-lote-{n}")).await;
        for &i in &order {
            together.post(&events[i]).await;
        }
        if n == 0 {
            break_transactions(app, Some(CULPRIT)).await;
            together.post(&culprit).await;
        }
        let expected = events.len() + usize::from(n == 0);
        assert_eq!(apply_all(app).await, vec![expected], "one batch for all");

        let processed = together
            .webhook_events(json!({"status": "PROCESSED"}))
            .await;
        assert_eq!(processed["totalCount"], events.len(), "{processed}");
        for email in ["bia@exemplo.com", "caio@exemplo.com"] {
            let reference = converged_state(&dated, email).await;
            for shop in [&one_by_one, &together] {
                let mut found = Vec::new();
                differences(
                    "",
                    &reference,
                    &converged_state(shop, email).await,
                    &mut found,
                );
                assert!(
                    found.is_empty(),
                    "{} {order:?}, {email}: {found:#?}",
                    shop.slug
                );
            }
        }
        // Which state changes were recorded depends on the arrival order (a
        // late approval changes nothing, so records nothing): the batch
        // records what one by one in the same order records.
        assert_eq!(
            domain_event_keys(app, one_by_one.workspace).await,
            domain_event_keys(app, together.workspace).await,
            "order {order:?}: the same domain events"
        );
        if n == 0 {
            let failed = event_of(&together, culprit["id"].as_str().expect("id")).await;
            assert_eq!(failed["status"], "FAILED", "{failed}");
            assert!(
                failed["lastError"]
                    .as_str()
                    .is_some_and(|e| e.contains("temporary failure")),
                "{failed}"
            );
            assert_eq!(
                app.count_where("customers", "email = 'dora@exemplo.com'")
                    .await,
                0,
                "nothing of the refused purchase was kept"
            );
            repair_transactions(app).await;
            due_now(app, culprit["id"].as_str().expect("id"), None).await;
            assert_eq!(apply_all(app).await, vec![1]);
            let applied = event_of(&together, culprit["id"].as_str().expect("id")).await;
            assert_eq!(applied["status"], "PROCESSED", "{applied}");
            assert_eq!(
                together.customer("dora@exemplo.com").await["transactions"][0]["code"],
                CULPRIT
            );
        }
    }
}

on_both_backends!(
    purchases_applied_together,
    purchases_applied_together_match_one_by_one,
    crate::helpers::spawn_api_only
);

// ---------------------------------------------------------------------------
// Domain events when a consumer fails
// ---------------------------------------------------------------------------

/// A consumer that, while `refusing` is set, refuses any batch holding a
/// `purchase_approved`, and counts the events it handled.
#[derive(Default)]
struct Refuser {
    refusing: std::sync::atomic::AtomicBool,
    handled: std::sync::atomic::AtomicUsize,
}

struct RefusingConsumer(std::sync::Arc<Refuser>);

impl worker::domain_events::DomainEventConsumer for RefusingConsumer {
    fn name(&self) -> &'static str {
        "refuser"
    }

    fn handle<'a>(
        &'a self,
        _txn: &'a sea_orm::DatabaseTransaction,
        events: &'a [&'a entity::entities::domain_event::Model],
    ) -> futures::future::BoxFuture<'a, Result<(), entity::Error>> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            if self.0.refusing.load(Ordering::SeqCst)
                && events.iter().any(|e| e.event_type == "purchase_approved")
            {
                return Err(entity::Error::Invalid("not now".into()));
            }
            self.0.handled.fetch_add(events.len(), Ordering::SeqCst);
            Ok(())
        })
    }
}

/// When a consumer fails on some events of a batch, the others are
/// dispatched; the failed ones come round again after their backoff with
/// the error kept, and the consumers that had handled them are not run
/// twice: the timeline gets each entry once, the failing consumer each
/// event once it accepts.
async fn failing_consumer_retries_without_repeating_the_others(served: ApiOnlyApp) {
    use std::sync::atomic::Ordering;
    let app = &served.app;
    let shop = Shop::open(app, "recusa").await;
    let base = now_ms() - 3 * DAY_MS;
    for (n, email) in ["ana@exemplo.com", "beto@exemplo.com", "cida@exemplo.com"]
        .iter()
        .enumerate()
    {
        let at = base + n as i64 * DAY_MS;
        shop.post(&Sale::new(&format!("HP93000000{n:02}"), email, at).event(
            "PURCHASE_APPROVED",
            "APPROVED",
            at,
        ))
        .await;
        let opened = at + 60_000;
        shop.post(&first_access(
            email,
            "Aluna",
            product_ref(json!(3526906), "Curso"),
            opened,
        ))
        .await;
    }
    assert_eq!(apply_all(app).await, vec![6]);
    let recorded = app
        .count_where("domain_events", "dispatched_at IS NULL")
        .await;
    let approvals = app
        .count_where("domain_events", "event_type = 'purchase_approved'")
        .await;
    assert_eq!(approvals, 3);
    assert!(
        recorded > approvals,
        "first accesses are recorded too: {recorded}"
    );

    let refuser = std::sync::Arc::new(Refuser::default());
    refuser.refusing.store(true, Ordering::SeqCst);
    let consumers: Vec<Box<dyn worker::domain_events::DomainEventConsumer>> = vec![
        Box::new(worker::domain_events::Timeline),
        Box::new(RefusingConsumer(refuser.clone())),
    ];
    let dispatch = || async {
        worker::domain_events::dispatch_batch(&app.db, &consumers, 256)
            .await
            .expect("dispatch") as i64
    };
    assert_eq!(
        dispatch().await,
        recorded - approvals,
        "only approvals wait"
    );
    assert_eq!(
        app.count_where(
            "domain_events",
            "dispatched_at IS NULL AND attempts = 1 AND last_error IS NOT NULL \
             AND event_type = 'purchase_approved'",
        )
        .await,
        approvals,
        "each refused event waits for its retry with its error kept"
    );
    assert_eq!(
        app.count_where("domain_events", "dispatched_at IS NULL")
            .await,
        approvals
    );
    assert_eq!(
        refuser.handled.load(Ordering::SeqCst) as i64,
        recorded - approvals
    );
    let timeline = app.count_where("customer_activities", "1 = 1").await;
    assert_eq!(timeline, recorded, "one timeline entry per event");
    assert_eq!(
        app.count_where("domain_event_deliveries", "consumer = 'timeline'")
            .await,
        approvals,
        "the timeline's handling of the refused events is remembered"
    );
    assert_eq!(dispatch().await, 0, "not due before the backoff ends");

    // The backoff has passed and the consumer accepts.
    app.db
        .execute_unprepared(
            "UPDATE domain_events SET next_attempt_at = recorded_at WHERE dispatched_at IS NULL",
        )
        .await
        .expect("make the retries due");
    refuser.refusing.store(false, Ordering::SeqCst);
    assert_eq!(dispatch().await, approvals);
    assert_eq!(refuser.handled.load(Ordering::SeqCst) as i64, recorded);
    assert_eq!(
        app.count_where("customer_activities", "1 = 1").await,
        timeline,
        "the timeline is not written twice"
    );
    assert_eq!(
        app.count_where(
            "domain_events",
            "dispatched_at IS NOT NULL AND last_error IS NULL AND attempts = 2",
        )
        .await,
        approvals
    );
    assert_eq!(
        app.count_where("domain_events", "dispatched_at IS NULL")
            .await,
        0
    );
    assert_timeline_mirrors_domain_events(app).await;
}

on_both_backends!(
    failing_consumer_retries,
    failing_consumer_retries_without_repeating_the_others,
    crate::helpers::spawn_api_only
);

// ---------------------------------------------------------------------------
// Table statistics where autovacuum is off
// ---------------------------------------------------------------------------

/// The planner's row estimate of `table` (PostgreSQL's `reltuples`, -1 before
/// the table was first analyzed).
async fn estimated_rows(app: &TestApp, table: &str) -> f64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT reltuples::float8 FROM pg_class \
             WHERE oid = to_regclass(current_schema() || '.' || $1)",
            [table.into()],
        ))
        .await
        .expect("read the estimate")
        .expect("the table exists");
    row.try_get_by_index(0).expect("reltuples")
}

/// After a burst of postbacks the worker's upkeep brings the planner's
/// statistics up to the rows really stored, as autovacuum would, so the
/// claims and lookups keep walking their indexes; a table left unchanged
/// is not analyzed again. SQLite keeps no such statistics: nothing to do.
async fn upkeep_refreshes_statistics_after_a_burst(served: ApiOnlyApp) {
    let app = &served.app;
    let shop = Shop::open(app, "estatistica").await;
    let base = now_ms() - DAY_MS;
    let postbacks = 150;
    for n in 0..postbacks {
        let at = base + n * 1_000;
        shop.post(
            &Sale::new(&format!("HP94{n:08}"), &format!("aluna{n}@exemplo.com"), at).event(
                "PURCHASE_APPROVED",
                "APPROVED",
                at,
            ),
        )
        .await;
    }
    assert_eq!(
        apply_all(app).await.iter().sum::<usize>(),
        postbacks as usize
    );

    if app.db.get_database_backend() != DbBackend::Postgres {
        assert!(
            !worker::maintenance::autovacuum_is_off(&app.db)
                .await
                .expect("setting")
        );
        assert!(
            worker::maintenance::refresh_statistics(&app.db)
                .await
                .expect("upkeep")
                .is_empty()
        );
        return;
    }
    // An idle connection reports its last changes to the statistics up to
    // ten seconds later (PostgreSQL's idle flush interval): wait for them
    // all, so that what the upkeep sees is the whole burst.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let mut refreshed = BTreeMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !["webhook_events", "transactions", "customers"]
        .iter()
        .all(|table| refreshed.contains_key(*table))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "still not analyzed: {refreshed:?}"
        );
        for (table, upkeep) in worker::maintenance::refresh_statistics(&app.db)
            .await
            .expect("upkeep")
        {
            refreshed.insert(table, upkeep);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    for table in ["webhook_events", "transactions", "customers"] {
        assert_eq!(
            estimated_rows(app, table).await,
            app.count_rows(table).await as f64,
            "{table}'s statistics count its rows"
        );
    }
    assert_eq!(app.count_rows("webhook_events").await, postbacks);
    let again = worker::maintenance::refresh_statistics(&app.db)
        .await
        .expect("upkeep");
    assert!(
        !again.iter().any(|(table, _)| table == "webhook_events"),
        "an unchanged table is left alone: {again:?}"
    );
}

on_both_backends!(
    upkeep_refreshes_statistics,
    upkeep_refreshes_statistics_after_a_burst,
    crate::helpers::spawn_api_only
);

// ---------------------------------------------------------------------------
// Appliers side by side, and appliers killed mid-batch
// ---------------------------------------------------------------------------

/// The events `partition` would take now: taken, then let go.
async fn taken_by(app: &TestApp, partition: Partition) -> BTreeSet<uuid::Uuid> {
    let txn = entity::db::begin_write(&app.db).await.expect("begin");
    let taken = entity::webhook_events::claim_due(&txn, partition, 10_000, chrono::Utc::now())
        .await
        .expect("take");
    txn.rollback().await.expect("let go");
    taken.into_iter().map(|e| e.id).collect()
}

/// The buyer's e-mail a stored postback carries, if any.
fn buyer_email(event: &webhook_event::Model) -> Option<String> {
    let payload: Value = serde_json::from_str(&event.payload).expect("stored JSON");
    payload["data"]["buyer"]["email"]
        .as_str()
        .map(str::to_owned)
}

async fn appliers_split_the_queue_by_customer(served: ApiOnlyApp) {
    let app = &served.app;
    let shop = Shop::open(app, "lado-a-lado").await;
    let base = now_ms() - 5 * DAY_MS;
    let mut bodies = Vec::new();
    for buyer in 0..12 {
        for sale in 0..3 {
            let at = base + (buyer * 3 + sale) * 60_000;
            let email = format!("compradora{buyer}@exemplo.com");
            bodies.push(
                Sale::new(&format!("HP93{buyer:03}{sale:02}"), &email, at).event(
                    "PURCHASE_APPROVED",
                    "APPROVED",
                    at,
                ),
            );
        }
    }
    // The same buyer, spelled otherwise.
    bodies.push(
        Sale::new("HP9399999", " Compradora0@Exemplo.COM", base).event(
            "PURCHASE_APPROVED",
            "APPROVED",
            base,
        ),
    );
    // A subscriber known by code alone names no customer by e-mail.
    let ghost = Subscriber::new("SUB-LADO-01", "Sem E-mail", None);
    bodies.push(subscription_cancellation(
        &ghost,
        product_ref(json!(788921), "Clube do Bolo"),
        (json!(114680), "Plano Mensal"),
        json!(49.9),
        base,
        base + 30 * DAY_MS,
        base,
    ));
    for body in &bodies {
        shop.post(body).await;
    }

    let stored: HashMap<uuid::Uuid, webhook_event::Model> = webhook_event::Entity::find()
        .all(&app.db)
        .await
        .expect("stored events")
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    assert_eq!(stored.len(), bodies.len());
    for event in stored.values() {
        assert_eq!(
            event.customer_hash,
            buyer_email(event).map(|email| entity::customers::customer_hash(&email)),
            "{}",
            event.event_type
        );
    }
    assert_eq!(
        entity::customers::customer_hash(" Compradora0@Exemplo.COM"),
        entity::customers::customer_hash("compradora0@exemplo.com")
    );

    // Three appliers' shares: disjoint, the whole queue between them, split
    // by customer, the events naming none with the first.
    let shares: Vec<BTreeSet<uuid::Uuid>> =
        join_all((0..3).map(|index| taken_by(app, Partition { index, of: 3 }))).await;
    let mut all = BTreeSet::new();
    for (index, share) in shares.iter().enumerate() {
        assert!(!share.is_empty(), "share {index} of 3 is empty");
        for id in share {
            assert!(all.insert(*id), "{id} is in two shares");
            let expected = stored[id]
                .customer_hash
                .map_or(0, |hash| usize::try_from(hash % 3).expect("non-negative"));
            assert_eq!(index, expected, "{}", stored[id].event_type);
        }
    }
    assert_eq!(all, stored.keys().copied().collect::<BTreeSet<_>>());

    if app.db.get_database_backend() == DbBackend::Postgres {
        // A batch held by one applier is passed over by another.
        let holder = entity::db::begin_write(&app.db).await.expect("begin");
        let held: BTreeSet<uuid::Uuid> =
            entity::webhook_events::claim_due(&holder, Partition::ALL, 5, chrono::Utc::now())
                .await
                .expect("take five")
                .into_iter()
                .map(|e| e.id)
                .collect();
        assert_eq!(held.len(), 5);
        let rest = taken_by(app, Partition::ALL).await;
        assert!(rest.is_disjoint(&held), "a held event was taken twice");
        assert_eq!(rest.len(), stored.len() - 5);
        holder.rollback().await.expect("let go");
    }

    // The three side by side, in small batches, apply everything once.
    join_all((0..3).map(|index| async move {
        let partition = Partition { index, of: 3 };
        while worker::hotmart::applier::apply_batch(&app.db, partition, 4)
            .await
            .expect("apply a batch")
            > 0
        {}
    }))
    .await;
    assert_eq!(
        app.count_where("webhook_events", "status = 'processed' AND attempts = 1")
            .await,
        bodies.len() as i64 - 1,
        "every purchase applied at its first attempt"
    );
    assert_eq!(
        app.count_where("webhook_events", "status = 'dead' AND attempts = 1")
            .await,
        1,
        "the unknown subscriber cannot be applied"
    );
    assert_eq!(app.count_where("customers", "1 = 1").await, 12);
    assert_eq!(app.count_where("transactions", "1 = 1").await, 37);
    assert_eq!(
        app.count_where("domain_events", "event_type = 'purchase_approved'")
            .await,
        37
    );
}
on_both_backends!(
    appliers_split_the_queue_by_customer,
    appliers_split_the_queue_by_customer,
    crate::helpers::spawn_api_only
);

const KILLED_SALES: i64 = 2_400;

async fn a_killed_worker_leaves_nothing_half_applied(served: ApiOnlyApp) {
    let app = &served.app;
    let shop = Shop::open(app, "queda").await;
    let dir = std::env::temp_dir().join(format!("jornada-applier-kill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let base = now_ms() - DAY_MS;
    let bodies: Vec<Value> = (0..KILLED_SALES)
        .map(|n| {
            let email = format!("aluna{}@exemplo.com", n % 40);
            Sale::new(&format!("HP94{n:06}"), &email, base + n).event(
                "PURCHASE_APPROVED",
                "APPROVED",
                base + n,
            )
        })
        .collect();
    for chunk in bodies.chunks(50) {
        join_all(chunk.iter().map(|body| shop.post(body))).await;
    }

    // Start a worker, SIGKILL it as soon as it has committed a batch, so
    // its other appliers die holding theirs; three times, while work is left.
    let processed = "status = 'processed'";
    for life in 0..3 {
        let before = app.count_where("webhook_events", processed).await;
        if before == KILLED_SALES {
            break;
        }
        let worker = ChildWorker::spawn(&served, &dir, life);
        let started = std::time::Instant::now();
        while app.count_where("webhook_events", processed).await == before {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "worker {life} applied nothing: {}",
                worker.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        worker.kill();
        if life == 0 {
            let left = app
                .count_where("webhook_events", "status = 'received'")
                .await;
            assert!(
                left > 0,
                "the first kill came too late to interrupt anything"
            );
        }
    }
    let last = ChildWorker::spawn(&served, &dir, 3);
    let started = std::time::Instant::now();
    while app.count_where("webhook_events", processed).await < KILLED_SALES
        || app
            .count_where("domain_events", "dispatched_at IS NULL")
            .await
            > 0
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the last worker did not finish: {}",
            last.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(last.terminate().await, "the last worker stops cleanly");

    // Each event applied once: at the attempt that committed, with one
    // transaction, one domain event and one timeline entry each.
    assert_eq!(
        app.count_where("webhook_events", "status = 'processed' AND attempts = 1")
            .await,
        KILLED_SALES,
        "a batch that died with its worker counted no attempt"
    );
    assert_eq!(app.count_where("transactions", "1 = 1").await, KILLED_SALES);
    assert_eq!(
        app.count_where("domain_events", "event_type = 'purchase_approved'")
            .await,
        KILLED_SALES
    );
    assert_eq!(
        app.count_where("customer_activities", "activity_type = 'purchase_approved'")
            .await,
        KILLED_SALES
    );
    assert_eq!(
        app.count_where(
            "customers c",
            "c.ltv_total <> (SELECT SUM(t.amount) FROM transactions t WHERE t.customer_id = c.id)",
        )
        .await,
        0,
        "every lifetime value counts each sale once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
on_both_backends!(
    a_killed_worker_leaves_nothing_half_applied,
    a_killed_worker_leaves_nothing_half_applied,
    crate::helpers::spawn_api_only
);
