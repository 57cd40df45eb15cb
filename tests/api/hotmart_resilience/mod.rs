//! Hotmart ingestion when deliveries misbehave: duplicates and replays,
//! concurrent redeliveries, any delivery order, hostile bodies, failures that
//! retry or die, and the webhook event log's filters and tenancy.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::hotmart_events::{Shop, ms};
use crate::hotmart_webhooks::{
    DAY_MS, Sale, Subscriber, first_access, product_ref, subscription_cancellation,
};

mod appliers;
mod batches;
mod consumer_failures;
mod duplicates;
mod event_log;
mod failures;
mod hostile_bodies;
mod order;
mod statistics;

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

/// Takes and applies batches until nothing is due, leaving their domain
/// events to a dispatcher; returns the size of each.
async fn apply_all(app: &TestApp) -> Vec<usize> {
    apply_delivering(app, &[]).await
}

/// Takes and applies batches until nothing is due, each delivering its own
/// domain events to `consumers` as the worker's appliers do; returns the
/// size of each.
async fn apply_delivering(
    app: &TestApp,
    consumers: &[Box<dyn worker::domain_events::DomainEventConsumer>],
) -> Vec<usize> {
    let mut batches = Vec::new();
    loop {
        let claimed = worker::hotmart::applier::apply_batch(
            &app.db,
            &app.secrets,
            consumers,
            entity::db::Partition::ALL,
            worker::EVENT_BATCH,
            app.clock.now(),
        )
        .await
        .expect("apply a batch");
        if claimed == 0 {
            return batches;
        }
        batches.push(claimed);
    }
}
