//! Appliers side by side split the queue by customer, and appliers killed
//! mid-batch leave nothing half applied.

use std::collections::{BTreeSet, HashMap};

use entity::db::Partition;
use entity::webhook_event;
use futures::future::join_all;
use sea_orm::{DbBackend, EntityTrait};
use serde_json::{Value, json};

use crate::helpers::{ApiOnlyApp, ChildWorker, TestApp};
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{
    DAY_MS, Sale, Subscriber, now_ms, product_ref, subscription_cancellation,
};
use crate::on_both_backends;

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
        while worker::hotmart::applier::apply_batch(
            &app.db,
            &app.secrets,
            &[],
            partition,
            4,
            app.clock.now(),
        )
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
