//! Domain events when a consumer fails: the failed ones are retried, the
//! consumers that handled them are not run twice.

use entity::db::Partition;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{apply_all, apply_delivering};
use crate::helpers::ApiOnlyApp;
use crate::hotmart_events::{Shop, assert_timeline_mirrors_domain_events};
use crate::hotmart_webhooks::{DAY_MS, Sale, first_access, now_ms, product_ref};
use crate::on_both_backends;

/// A consumer that, while `refusing` is set, refuses any batch holding a
/// `purchase_approved`, and counts the events it handled.
#[derive(Default)]
struct Refuser {
    refusing: std::sync::atomic::AtomicBool,
    handled: std::sync::atomic::AtomicUsize,
    /// The types of the events handled, in the order they came.
    order: std::sync::Mutex<Vec<String>>,
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
        _now: chrono::DateTime<chrono::Utc>,
    ) -> futures::future::BoxFuture<'a, Result<(), entity::Error>> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            if self.0.refusing.load(Ordering::SeqCst)
                && events.iter().any(|e| e.event_type == "purchase_approved")
            {
                return Err(entity::Error::Invalid("not now".into()));
            }
            self.0.handled.fetch_add(events.len(), Ordering::SeqCst);
            let mut order = self.0.order.lock().expect("order");
            order.extend(events.iter().map(|e| e.event_type.clone()));
            Ok(())
        })
    }
}

/// Runs one dispatcher batch over every partition; returns how many
/// events it dispatched.
async fn dispatch(
    app: &crate::helpers::TestApp,
    consumers: &[Box<dyn worker::domain_events::DomainEventConsumer>],
) -> i64 {
    worker::domain_events::dispatch_batch(&app.db, consumers, Partition::ALL, 256, app.clock.now())
        .await
        .expect("dispatch") as i64
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
    let dispatch = || dispatch(app, &consumers);
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

/// A webhook batch delivers the domain events it records before it
/// commits, except where they would overtake older ones: a customer whose
/// earlier event still waits for its retry keeps the new ones waiting
/// too, and the dispatcher later delivers all of them, oldest first. What a
/// consumer refuses in the batch waits for its retry, as with a dispatcher.
async fn a_batch_delivers_its_own_events_behind_older_ones(served: ApiOnlyApp) {
    use std::sync::atomic::Ordering;
    let app = &served.app;
    let shop = Shop::open(app, "em-linha").await;
    let base = now_ms() - 3 * DAY_MS;
    let refuser = std::sync::Arc::new(Refuser::default());
    let consumers: Vec<Box<dyn worker::domain_events::DomainEventConsumer>> = vec![
        Box::new(worker::domain_events::Timeline),
        Box::new(RefusingConsumer(refuser.clone())),
    ];
    let course = || product_ref(json!(3526906), "Curso");

    // Ana's purchase is refused by a consumer; Beto's first access goes.
    refuser.refusing.store(true, Ordering::SeqCst);
    shop.post(&Sale::new("HP9400000001", "ana@exemplo.com", base).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        base,
    ))
    .await;
    shop.post(&first_access("beto@exemplo.com", "Beto", course(), base))
        .await;
    assert_eq!(apply_delivering(app, &consumers).await, vec![2]);
    let pending = |condition: &'static str| async move {
        app.count_where(
            "domain_events",
            &format!("dispatched_at IS NULL AND {condition}"),
        )
        .await
    };
    assert_eq!(
        pending("event_type = 'purchase_approved' AND attempts = 1 AND last_error IS NOT NULL")
            .await,
        1,
        "the refused approval waits for its retry with its error"
    );
    assert_eq!(
        pending("1 = 1").await,
        1,
        "the rest was delivered by the batch"
    );
    let delivered_first = refuser.handled.load(Ordering::SeqCst);
    assert!(delivered_first > 0, "Beto's events reached the consumer");

    // The consumer accepts again. Ana's first access must not overtake her
    // approval; Cida's events go with their batch.
    refuser.refusing.store(false, Ordering::SeqCst);
    app.clock.advance(chrono::Duration::seconds(1));
    let later = base + 60_000;
    shop.post(&first_access("ana@exemplo.com", "Ana", course(), later))
        .await;
    shop.post(&first_access("cida@exemplo.com", "Cida", course(), later))
        .await;
    assert_eq!(apply_delivering(app, &consumers).await, vec![2]);
    let ana_waiting = app
        .count_where(
            "domain_events",
            "dispatched_at IS NULL AND customer_id = \
             (SELECT id FROM customers WHERE email = 'ana@exemplo.com')",
        )
        .await;
    assert!(
        ana_waiting > 1,
        "Ana's new events wait behind her approval: {ana_waiting} pending"
    );
    assert_eq!(
        pending("1 = 1").await,
        ana_waiting,
        "Cida's events were delivered by their batch"
    );
    assert_eq!(
        pending("attempts = 0").await,
        ana_waiting - 1,
        "Ana's new events were never tried"
    );

    // After the backoff the dispatcher delivers Ana's events, oldest first.
    app.db
        .execute_unprepared(
            "UPDATE domain_events SET next_attempt_at = recorded_at WHERE dispatched_at IS NULL",
        )
        .await
        .expect("make the retry due");
    let handled_before = refuser.handled.load(Ordering::SeqCst);
    assert_eq!(dispatch(app, &consumers).await, ana_waiting);
    assert_eq!(
        (refuser.handled.load(Ordering::SeqCst) - handled_before) as i64,
        ana_waiting
    );
    assert_eq!(pending("1 = 1").await, 0);
    let order = refuser.order.lock().expect("order").clone();
    let ana_approval = order
        .iter()
        .position(|t| t == "purchase_approved")
        .expect("the approval was delivered");
    let ana_access = order
        .iter()
        .rposition(|t| t == "first_access")
        .expect("Ana's first access was delivered");
    assert!(
        ana_approval < ana_access,
        "Ana's approval came before her first access: {order:?}"
    );
    assert_timeline_mirrors_domain_events(app).await;
}

on_both_backends!(
    batch_delivers_its_own_events,
    a_batch_delivers_its_own_events_behind_older_ones,
    crate::helpers::spawn_api_only
);
