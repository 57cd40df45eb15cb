//! Domain events when a consumer fails: the failed ones are retried, the
//! consumers that handled them are not run twice.

use entity::db::Partition;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::apply_all;
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
        worker::domain_events::dispatch_batch(
            &app.db,
            &consumers,
            Partition::ALL,
            256,
            app.clock.now(),
        )
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
