//! Pause and resume while the worker is busy sending: nothing is sent twice.

use super::*;

/// More than one worker batch (64), so some recipients are still unclaimed
/// when the campaign is paused.
const PAUSE_CUSTOMERS: usize = 100;

/// Waits until the fake's message count stops changing for a while; returns it.
async fn settled_requests(meta: &FakeMeta) -> usize {
    let started = Instant::now();
    let mut last = meta.message_requests().len();
    let mut stable_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = meta.message_requests().len();
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= Duration::from_millis(1500) {
            return now;
        }
        assert!(started.elapsed() < PATIENCE, "sends never settled");
    }
}

async fn pausing_and_resuming_sends_nothing_twice(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    let ws = whatsapp_workspace(&app, "pausa", &meta).await;
    let agent = app.agent_token(ws);
    customers_with_phones(&app, ws, 2, PAUSE_CUSTOMERS).await;
    slow_down(&meta, PAUSE_CUSTOMERS * 2, 100..=200);
    let (campaign, group) = published_campaign(&app, ws, "Pausa", whatsapp_journey()).await;
    let execution = run_over(&app, ws, &campaign, &group).await;

    let started = Instant::now();
    while meta.message_requests().len() < 3 {
        assert!(started.elapsed() < PATIENCE, "the campaign never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let paused = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { pauseCampaign(id: $id) { status } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(paused.data("pauseCampaign")["status"], "PAUSED");
    // In flight when the pause returned: sends already at the fake, and
    // those already reserved in the outbox.
    let requested_at_pause: HashSet<String> = requests_per_phone(&meta).into_keys().collect();
    let reserved_at_pause: HashSet<String> =
        phones_with_messages(&app, None).await.into_iter().collect();
    let settled = settled_requests(&meta).await;
    let started_after_pause: Vec<String> = requests_per_phone(&meta)
        .into_keys()
        .filter(|p| !requested_at_pause.contains(p) && !reserved_at_pause.contains(p))
        .collect();
    let paused_metrics = fetch_execution(&app, ws, &execution).await;
    assert_eq!(paused_metrics["status"], "RUNNING", "{paused_metrics}");

    let again = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { pauseCampaign(id: $id) { status } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(again.error_code(), Some("CONFLICT"), "{:?}", again.body);

    let resumed = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { resumeCampaign(id: $id) { status } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(resumed.data("resumeCampaign")["status"], "ACTIVE");
    let done = completed_by_running_worker(&app, ws, &execution).await;

    // Each customer got exactly one message, paused or not.
    let per_phone = requests_per_phone(&meta);
    assert_nobody_got_two(&per_phone);
    assert_eq!(per_phone.len(), PAUSE_CUSTOMERS, "everyone got one");
    for i in 0..PAUSE_CUSTOMERS {
        assert_eq!(per_phone.get(&phone(2, i)), Some(&1));
    }
    assert_eq!(done["metrics"]["sent"], PAUSE_CUSTOMERS);
    assert_eq!(done["metrics"]["completed"], PAUSE_CUSTOMERS);
    assert_eq!(done["metrics"]["unknown"], 0);
    assert_eq!(meta.accepted(), PAUSE_CUSTOMERS);
    eprintln!(
        "pause: {} requests at the fake and {} messages reserved when pauseCampaign returned, \
         {settled} requests once settled while paused (of {PAUSE_CUSTOMERS}); \
         metrics while paused: {}",
        requested_at_pause.len(),
        reserved_at_pause.len(),
        paused_metrics["metrics"]
    );

    // Pause stops sends at once: what was in flight may land (allow one
    // racing the pause), nothing new starts.
    assert!(
        started_after_pause.len() <= 1,
        "{} sends started after pauseCampaign returned \
         ({} requested and {} reserved before it; {settled} requests once settled)",
        started_after_pause.len(),
        requested_at_pause.len(),
        reserved_at_pause.len()
    );
}
on_both_backends!(
    pausing_and_resuming_sends_nothing_twice,
    pausing_and_resuming_sends_nothing_twice,
    crate::helpers::spawn_app_with_worker
);
