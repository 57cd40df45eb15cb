//! Failures: undecodable events die with their reason, transient failures
//! back off then die, and replays run them again.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{FAULT, break_transactions, event_of, repair_transactions};
use crate::helpers::TestApp;
use crate::hotmart_events::{Shop, domain_events, ms, transaction};
use crate::hotmart_webhooks::{
    DAY_MS, Sale, Subscriber, now_ms, product_ref, subscription_cancellation,
};
use crate::on_both_backends;

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
    app.drain().await;

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
    app.drain().await;
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
    app.drain().await;
    let unknown = event_of(&shop, cancellation["id"].as_str().expect("id")).await;
    let again = replay_one(&shop, unknown["id"].as_str().expect("id")).await;
    assert_eq!(again["status"], "RECEIVED");
    app.drain().await;
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

/// The app's clock, in Unix milliseconds.
fn clock_ms(app: &TestApp) -> i64 {
    app.clock.now().timestamp_millis()
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

    app.drain().await;
    let failed = event_of(&shop, &external_id).await;
    let observed = clock_ms(&app);
    assert_eq!(failed["status"], "FAILED", "{failed}");
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
        (received + 30_000..=observed + 30_000).contains(&next),
        "the first retry is 30 s after the failure: {failed}"
    );
    assert_eq!(app.count_rows("transactions").await, 0);
    assert_eq!(
        app.count_rows("customers").await,
        0,
        "rolled back as a whole"
    );

    // Nothing is retried before its time.
    app.advance(chrono::Duration::seconds(20)).await;
    assert_eq!(event_of(&shop, &external_id).await["attempts"], 1);

    // Each backoff passes: the worker retries by itself and waits twice as
    // long each time, up to an hour, until the last attempt fails too.
    let mut event = failed;
    let mut waits = Vec::new();
    while event["status"] == "FAILED" {
        let next = ms(&event["nextAttemptAt"]).expect("a next attempt");
        let due_in = (next - clock_ms(&app)).max(0) + 1;
        app.advance(chrono::Duration::milliseconds(due_in)).await;
        let retried_at = clock_ms(&app);
        event = event_of(&shop, &external_id).await;
        if let Some(next) = ms(&event["nextAttemptAt"]) {
            // Rounded to the second: the retry ran a few ms after the move.
            waits.push((next - retried_at + 500) / 1_000);
        }
    }
    assert_eq!(waits, [60, 120, 240, 480, 960, 1920], "{event}");
    let dead = event;
    assert_eq!(dead["status"], "DEAD", "{dead}");
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
    app.drain().await;
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
