//! The worker SIGKILLed mid-campaign: no customer gets a message twice.

use super::*;

const KILL_CUSTOMERS: usize = 150;
const KILLS: usize = 6;
/// Recipients with a send still to make: no message yet, or one only reserved.
const SENDABLE: &str = "r.status = 'active' AND NOT EXISTS \
    (SELECT 1 FROM messages m WHERE m.campaign_recipient_id = r.id AND m.status <> 'queued')";

async fn a_worker_killed_mid_campaign_never_sends_twice(api: ApiOnlyApp) {
    let app = &api.app;
    let dir = std::env::temp_dir().join(format!("jornada-kill-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let meta = FakeMeta::spawn().await;
    let ws = whatsapp_workspace(app, "morte-subita", &meta).await;
    customers_with_phones(app, ws, 1, KILL_CUSTOMERS).await;
    slow_down(&meta, KILL_CUSTOMERS * 2, 250..=400);
    let (campaign, group) = published_campaign(app, ws, "Boas-vindas", whatsapp_journey()).await;
    let execution = run_over(app, ws, &campaign, &group).await;
    assert_eq!(
        app.count_where("campaign_recipients", "status = 'active'")
            .await,
        KILL_CUSTOMERS as i64,
        "nothing runs the campaign yet: this process has no worker"
    );
    assert!(meta.message_requests().is_empty());

    // Start a worker, let it send for a random 150–600 ms, SIGKILL it; again.
    let mut rng = rand::thread_rng();
    let mut lives = Vec::new();
    while lives.len() < KILLS {
        let before = meta.message_requests().len();
        let worker = ChildWorker::spawn(&api, &dir, lives.len());
        // While something is left to send, kill only once this life sends
        // (recipients claimed by the last one wait out its 2 s lease first);
        // afterwards, kill it while it reconciles.
        if app.count_where("campaign_recipients r", SENDABLE).await > 0 {
            until_it_sends(&meta, before, &worker, lives.len()).await;
        }
        let after_ms = rng.gen_range(150..=600);
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        let status = fetch_execution(app, ws, &execution).await["status"].clone();
        worker.kill();
        lives.push((after_ms, meta.message_requests().len() - before, status));
    }
    let requests_during_kills = meta.message_requests().len();
    let cut_short = app
        .count_where("messages", "status IN ('sending', 'unknown')")
        .await;
    let killed_mid_campaign = lives.iter().filter(|l| l.2 == "RUNNING").count();
    assert!(
        killed_mid_campaign >= 5,
        "the kills landed mid-campaign (lives: {lives:?})"
    );
    assert!(
        cut_short > 0,
        "some kill landed mid-send (lives: {lives:?})"
    );

    // One last worker finishes the campaign, then stops gracefully.
    let last = ChildWorker::spawn(&api, &dir, lives.len());
    let started = Instant::now();
    let done = loop {
        let current = fetch_execution(app, ws, &execution).await;
        if current["status"] == "COMPLETED" {
            break current;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "execution not completed: {current}\n{}",
            last.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let last_log = last.log();
    assert!(
        last.terminate().await,
        "SIGTERM stops `jornada worker` with status 0: {last_log}"
    );

    // Nobody got a message twice.
    let per_phone = requests_per_phone(&meta);
    assert_nobody_got_two(&per_phone);
    let requests = meta.message_requests().len();
    assert_eq!(per_phone.len(), requests);

    // Every recipient is completed or unknown, and the counts add up.
    let entered = KILL_CUSTOMERS as u64;
    let completed = recipients_with(app, ws, &execution, "completed").await;
    let unknown = recipients_with(app, ws, &execution, "unknown").await;
    assert_eq!(
        completed + unknown,
        entered,
        "every recipient is completed or unknown ({completed} + {unknown})"
    );
    let metrics = &done["metrics"];
    let number = |key: &str| {
        metrics[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {metrics}"))
    };
    assert_eq!(number("entered"), entered);
    assert_eq!(number("completed"), completed);
    assert_eq!(number("inFlight"), 0);
    assert_eq!(number("failed"), 0, "{metrics}");
    let (sent, unknown_messages) = (number("sent"), number("unknown"));
    assert_eq!(
        unknown_messages, unknown,
        "one unknown message per unknown recipient"
    );
    assert_eq!(
        number("entered"),
        number("completed") + unknown,
        "{metrics}"
    );
    assert_eq!(sent + unknown_messages, entered, "{metrics}");
    assert_eq!(
        app.count_rows("messages").await,
        entered as i64,
        "one message row per recipient"
    );
    assert_eq!(
        app.count_where("messages", "status IN ('queued', 'sending')")
            .await,
        0
    );
    let accepted = meta.accepted() as u64;
    assert!(
        sent <= accepted && accepted <= sent + unknown_messages,
        "the provider accepted {accepted}; recorded sent {sent}, unknown {unknown_messages}"
    );
    assert!(
        (sent as usize) <= requests && requests <= (sent + unknown_messages) as usize,
        "{requests} requests reached the provider; sent {sent}, unknown {unknown_messages}"
    );

    // Every message recorded as sent went to its customer's phone.
    let sent_phones = phones_with_messages(app, Some(MessageStatus::Sent)).await;
    assert_eq!(sent_phones.len() as u64, sent);
    for phone in &sent_phones {
        assert_eq!(per_phone.get(phone), Some(&1), "{phone} was recorded sent");
    }
    eprintln!(
        "worker killed {} times (ms after first send, sends in that life, execution status at the kill: {lives:?}); \
         {requests_during_kills} requests and {cut_short} sends cut short during the kills; \
         at the end: {requests} requests at the fake, {accepted} accepted, \
         {sent} sent, {unknown_messages} unknown, {completed} recipients completed",
        lives.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

on_both_backends!(
    a_worker_killed_mid_campaign,
    a_worker_killed_mid_campaign_never_sends_twice,
    crate::helpers::spawn_api_only
);
