//! "Approve all" with the worker SIGKILLed while it sends: every matched
//! item goes at most once, and every one ends accounted for.

use std::time::Instant;

use rand::Rng;

use super::queue::billet;
use super::*;
use crate::campaign_reliability::{
    PATIENCE, assert_nobody_got_two, requests_per_phone, slow_down, until_it_sends,
};
use crate::helpers::{ApiOnlyApp, ChildWorker};

const ITEMS: usize = 120;
const KILLS: usize = 4;
/// Approved items no send has been made for yet.
const UNSENT: &str = "q.status = 'approved' AND NOT EXISTS \
    (SELECT 1 FROM messages m WHERE m.dispatch_item_id = q.id)";

/// The phone of the `i`-th buyer, as Hotmart sends it (area code, number).
fn buyer_phone(i: usize) -> String {
    format!("119770{i:05}")
}

async fn approving_by_filter_sends_each_item_once_with_the_worker_killed(api: ApiOnlyApp) {
    let app = &api.app;
    let dir = std::env::temp_dir().join(format!("jornada-approve-kill-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(app, "aprovar-tudo", Some(&meta)).await;
    // Slow enough that each life leaves sends for the next.
    set_setting(app, shop.workspace, "whatsapp.messages_per_second", "10").await;
    // The billets arrive and are applied here; the sends are left to workers.
    let now = app.clock.now();
    for i in 0..ITEMS {
        let sale = billet(
            &format!("HP8{i:09}"),
            &format!("comprador{i}@example.com"),
            &buyer_phone(i),
            ms(now) - 60_000,
        );
        let (status, answer) = app
            .post_hotmart(&shop.slug, Some(HOTTOK), &sale.billet_printed(ms(now)))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    app.drain().await;
    let pending = app
        .count_where("dispatch_queue", "status = 'pending'")
        .await;
    assert_eq!(pending, ITEMS as i64);

    let decided = shop
        .query(
            DECIDE,
            json!({"f": {"trigger": "BILLET_PRINTED"}}),
            "approveDispatches",
        )
        .await;
    assert_eq!(
        decided,
        json!({"matched": ITEMS, "decided": ITEMS, "skipped": 0})
    );
    assert!(
        meta.message_requests().is_empty(),
        "nothing sends yet: this process has no worker"
    );

    // Workers that live a random 100–400 ms past their first send; Meta
    // answers each send 150–300 ms late, so kills land mid-call.
    slow_down(&meta, ITEMS * 2, 150..=300);
    let mut rng = rand::thread_rng();
    let mut lives = Vec::new();
    while lives.len() < KILLS {
        let before = meta.message_requests().len();
        let worker = ChildWorker::spawn(&api, &dir, lives.len());
        if app.count_where("dispatch_queue q", UNSENT).await > 0 {
            until_it_sends(&meta, before, &worker, lives.len()).await;
        }
        let after_ms = rng.gen_range(100..=400);
        tokio::time::sleep(std::time::Duration::from_millis(after_ms)).await;
        let unsent = app.count_where("dispatch_queue q", UNSENT).await;
        worker.kill();
        lives.push((after_ms, meta.message_requests().len() - before, unsent));
    }
    let cut_short = app
        .count_where("messages", "status IN ('sending', 'unknown')")
        .await;
    assert!(
        lives.iter().filter(|l| l.2 > 0).count() >= KILLS - 1,
        "the kills landed with sends still to make (lives: {lives:?})"
    );
    assert!(
        cut_short > 0,
        "some kill landed mid-send (lives: {lives:?})"
    );

    // One last worker finishes, then stops gracefully.
    let last = ChildWorker::spawn(&api, &dir, lives.len());
    let started = Instant::now();
    while app
        .count_where("dispatch_queue", "status = 'approved'")
        .await
        > 0
    {
        assert!(
            started.elapsed() < PATIENCE,
            "approved items left unsent: {}",
            last.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = last.log();
    assert!(last.terminate().await, "SIGTERM stops the worker: {log}");

    // Nobody got the message twice, and every item was sent.
    let per_phone = requests_per_phone(&meta);
    assert_nobody_got_two(&per_phone);
    let sent_items = shop
        .query(
            "{ dispatchQueue(filter: {status: SENT}, first: 1) { totalCount } }",
            json!({}),
            "dispatchQueue",
        )
        .await;
    assert_eq!(
        sent_items["totalCount"], ITEMS,
        "every approved item ends sent"
    );
    assert_eq!(
        app.count_rows("messages").await,
        ITEMS as i64,
        "one message per item"
    );
    let unknown = app.count_where("messages", "status = 'unknown'").await;
    let sent = app.count_where("messages", "status = 'sent'").await;
    assert_eq!(sent + unknown, ITEMS as i64);
    let requests = meta.message_requests().len() as i64;
    assert!(
        sent <= requests && requests <= sent + unknown,
        "{requests} requests reached Meta; {sent} sent, {unknown} of unknown outcome"
    );
    for phone in per_phone.keys() {
        assert!(phone.starts_with("55119770"), "{phone}");
    }
    eprintln!(
        "worker killed {} times (ms after its first send, sends in that life, items unsent at the kill: {lives:?}); \
         {cut_short} sends cut short; {requests} requests at the fake, {sent} sent, {unknown} unknown",
        lives.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}
on_both_backends!(
    approving_by_filter_with_the_worker_killed,
    approving_by_filter_sends_each_item_once_with_the_worker_killed,
    crate::helpers::spawn_api_only
);
