//! Campaign reliability: the worker SIGKILLed mid-campaign, pause and resume,
//! opted-out customers, and republishing a live campaign. Whatever happens,
//! no customer gets a message twice and every recipient ends accounted for.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use entity::Tenant;
use entity::entities::enums::{Channel, MessageStatus};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fakes::meta::{self, FakeMeta};
use crate::helpers::{ApiOnlyApp, ChildWorker, TestApp};
use crate::journeys::{edge, node};
use crate::on_both_backends;

/// The approved WhatsApp template every journey here sends.
const TEMPLATE: &str = "boas_vindas";
/// How long any wait in these tests may take before it counts as stuck.
const PATIENCE: Duration = Duration::from_secs(120);

/// trigger → WhatsApp template → exit.
fn whatsapp_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("send", "sendMessage", json!({"channel": "whatsapp", "templateName": TEMPLATE, "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}, "buttonVariables": {"0": "minha-area"}})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "send"), edge("send", "end")]
    })
}

/// trigger → delay PT1H → log message with `body` → exit.
fn delayed_journey(body: &str) -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("wait", "delay", json!({"duration": "PT1H"})),
            node("msg", "sendMessage", json!({"channel": "log", "body": body})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "wait"), edge("wait", "msg"), edge("msg", "end")]
    })
}

/// The phone of the `i`-th customer of a test, as WhatsApp's `to` (digits).
fn phone(series: u32, i: usize) -> String {
    format!("55119{series:02}{i:06}")
}

/// Slows the fake down: each of the next `sends` sends answers a random
/// `millis` late. (The fake offers only a FIFO of one-shot delays.)
fn slow_down(meta: &FakeMeta, sends: usize, millis: std::ops::RangeInclusive<u64>) {
    let mut rng = rand::thread_rng();
    for _ in 0..sends {
        meta.delay_next_send(Duration::from_millis(rng.gen_range(millis.clone())));
    }
}

/// How many message requests the fake received per `to`.
fn requests_per_phone(meta: &FakeMeta) -> HashMap<String, usize> {
    let mut per_phone = HashMap::new();
    for request in meta.message_requests() {
        let to = request
            .body
            .as_ref()
            .and_then(|b| b["to"].as_str())
            .expect("every send names its recipient")
            .trim_start_matches('+')
            .to_owned();
        *per_phone.entry(to).or_insert(0) += 1;
    }
    per_phone
}

fn assert_nobody_got_two(per_phone: &HashMap<String, usize>) {
    let twice: Vec<_> = per_phone.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "phones that received more than one message: {twice:?}"
    );
}

async fn set_setting(app: &TestApp, workspace: Uuid, key: &str, value: &str) {
    app.graphql(
        Some(&app.agent_token(workspace)),
        "mutation($k: String!, $v: String!) { setSetting(key: $k, value: $v) { key } }",
        json!({"k": key, "v": value}),
    )
    .await
    .data("setSetting");
}

/// A workspace whose WhatsApp is the fake, with [`TEMPLATE`] mirrored as APPROVED.
async fn whatsapp_workspace(app: &TestApp, slug: &str, meta: &FakeMeta) -> Uuid {
    let workspace = app.create_workspace(slug).await;
    for (key, value) in meta.settings() {
        set_setting(app, workspace, key, &value).await;
    }
    meta.set_templates([meta::template(
        "1001", TEMPLATE, "pt_BR", "APPROVED", "UTILITY",
    )]);
    let mirrored = worker::channels::whatsapp::sync_templates(
        &app.db,
        &app.secrets,
        Tenant::new(workspace),
        app.clock.now(),
    )
    .await
    .expect("templates sync from the fake");
    assert!(
        mirrored
            .iter()
            .any(|t| t.name == TEMPLATE && t.status == "APPROVED"),
        "the template is mirrored as approved"
    );
    workspace
}

/// Creates `count` customers with phones `phone(series, i)`; returns their ids.
async fn customers_with_phones(
    app: &TestApp,
    workspace: Uuid,
    series: u32,
    count: usize,
) -> Vec<Uuid> {
    let agent = app.agent_token(workspace);
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let answer = app
            .graphql(
                Some(&agent),
                "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
                json!({"input": {
                    "email": format!("aluna{series}-{i}@example.com"),
                    "name": format!("Aluna{i} Silva"),
                    "phone": format!("+{}", phone(series, i)),
                }}),
            )
            .await;
        ids.push(
            Uuid::parse_str(answer.data("createCustomer")["id"].as_str().expect("id"))
                .expect("uuid"),
        );
    }
    ids
}

/// Creates and publishes a campaign and a target group of every customer;
/// returns (campaign, group).
async fn published_campaign(
    app: &TestApp,
    workspace: Uuid,
    name: &str,
    document: Value,
) -> (String, String) {
    let campaign = app.published_campaign(workspace, name, document).await;
    let agent = app.agent_token(workspace);
    let group = app
        .graphql(
            Some(&agent),
            "mutation($name: String!) { createTargetGroupMapping(input: {crmName: $name, source: \"customers\"}) { id } }",
            json!({"name": format!("Todos {name}")}),
        )
        .await;
    let group = group.data("createTargetGroupMapping")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (campaign, group)
}

/// Runs the campaign over the group; returns the execution id.
async fn run_over(app: &TestApp, workspace: Uuid, campaign: &str, group: &str) -> String {
    let run = app
        .graphql(
            Some(&app.agent_token(workspace)),
            "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id status } }",
            json!({"id": campaign, "g": group}),
        )
        .await;
    run.data("runCampaign")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn fetch_execution(app: &TestApp, workspace: Uuid, execution: &str) -> Value {
    app.graphql(
        Some(&app.agent_token(workspace)),
        "query($id: ID!) { campaignExecution(id: $id) { status metrics executionData } }",
        json!({"id": execution}),
    )
    .await
    .data("campaignExecution")
    .clone()
}

/// How many of the execution's recipients have `status`, through GraphQL.
async fn recipients_with(app: &TestApp, workspace: Uuid, execution: &str, status: &str) -> u64 {
    let answer = app
        .graphql(
            Some(&app.agent_token(workspace)),
            "query($id: ID!, $s: String!) { campaignExecution(id: $id) { recipients(first: 1, filter: {status: $s}) { totalCount } } }",
            json!({"id": execution, "s": status}),
        )
        .await;
    answer.data("campaignExecution")["recipients"]["totalCount"]
        .as_u64()
        .expect("totalCount")
}

/// The phones (as WhatsApp's `to`) of customers with a message row, of
/// `status` when given.
async fn phones_with_messages(app: &TestApp, status: Option<MessageStatus>) -> Vec<String> {
    let mut messages = entity::message::Entity::find();
    if let Some(status) = status {
        messages = messages.filter(entity::message::Column::Status.eq(status));
    }
    let customers: Vec<Uuid> = messages
        .all(&app.db)
        .await
        .expect("messages")
        .into_iter()
        .map(|m| m.customer_id)
        .collect();
    entity::customer::Entity::find()
        .filter(entity::customer::Column::Id.is_in(customers))
        .all(&app.db)
        .await
        .expect("customers")
        .into_iter()
        .map(|c| c.phone.expect("phone").trim_start_matches('+').to_owned())
        .collect()
}

/// Waits (generously) until a worker running beside the test has completed
/// the execution, and returns it.
async fn completed_by_running_worker(app: &TestApp, workspace: Uuid, execution: &str) -> Value {
    let started = Instant::now();
    loop {
        let current = fetch_execution(app, workspace, execution).await;
        if current["status"] == "COMPLETED" {
            return current;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "execution not completed: {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// 1. The worker SIGKILLed mid-campaign
// ---------------------------------------------------------------------------

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
            let started = Instant::now();
            while meta.message_requests().len() == before {
                assert!(
                    started.elapsed() < PATIENCE,
                    "worker {} never sent: {}",
                    lives.len(),
                    worker.log()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
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

// ---------------------------------------------------------------------------
// 2. Pause and resume
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 3. Opted-out customers
// ---------------------------------------------------------------------------

async fn opted_out_customers_get_nothing(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    let ws = whatsapp_workspace(&app, "opt-out", &meta).await;
    let customers = customers_with_phones(&app, ws, 3, 12).await;
    let opted_out: Vec<usize> = (0..customers.len()).filter(|i| i % 3 == 0).collect();
    for &i in &opted_out {
        entity::customers::record_opt_out(
            &app.db,
            Tenant::new(ws),
            customers[i],
            Channel::Whatsapp,
            "test",
            chrono::Utc::now(),
            app.clock.now(),
        )
        .await
        .expect("record the opt-out");
    }
    // An opt-out of another channel does not stop WhatsApp.
    entity::customers::record_opt_out(
        &app.db,
        Tenant::new(ws),
        customers[1],
        Channel::Email,
        "test",
        chrono::Utc::now(),
        app.clock.now(),
    )
    .await
    .expect("record the e-mail opt-out");

    let (campaign, group) = published_campaign(&app, ws, "Opt-out", whatsapp_journey()).await;
    let execution = run_over(&app, ws, &campaign, &group).await;
    let done = app.completed_execution(ws, &execution).await;

    let per_phone = requests_per_phone(&meta);
    for &i in &opted_out {
        assert_eq!(
            per_phone.get(&phone(3, i)),
            None,
            "customer {i} opted out of WhatsApp"
        );
    }
    for i in (0..customers.len()).filter(|i| !opted_out.contains(i)) {
        assert_eq!(per_phone.get(&phone(3, i)), Some(&1), "customer {i}");
    }
    let reached = (customers.len() - opted_out.len()) as u64;
    assert_eq!(meta.message_requests().len() as u64, reached);
    assert_eq!(
        recipients_with(&app, ws, &execution, "completed").await,
        customers.len() as u64,
        "opted-out recipients are completed, not stuck"
    );
    assert_eq!(done["metrics"]["sent"], reached);
    assert_eq!(done["metrics"]["failed"], 0);
    let rows_for_opted_out = entity::message::Entity::find()
        .filter(entity::message::Column::CustomerId.is_in(opted_out.iter().map(|&i| customers[i])))
        .count(&app.db)
        .await
        .expect("count messages");
    assert_eq!(
        rows_for_opted_out, 0,
        "no message row for opted-out customers"
    );
}
on_both_backends!(
    opted_out_customers_get_nothing,
    opted_out_customers_get_nothing
);

// ---------------------------------------------------------------------------
// 4. Republishing a live campaign
// ---------------------------------------------------------------------------

async fn republishing_never_changes_recipients_in_flight(app: TestApp) {
    let ws = app.create_workspace("republica").await;
    let agent = app.agent_token(ws);
    let waiting = 5;
    customers_with_phones(&app, ws, 4, waiting).await;
    let (campaign, group) =
        published_campaign(&app, ws, "Republicada", delayed_journey("primeira versao")).await;
    let execution = run_over(&app, ws, &campaign, &group).await;
    app.drain().await;
    assert_eq!(
        app.count_where("campaign_recipients", "status = 'waiting'")
            .await,
        waiting as i64
    );

    // Edit the live campaign and publish it again.
    let edited = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!, $doc: JSON!) { updateCampaign(id: $id, input: {workflowData: $doc}) { id } }",
            json!({"id": campaign, "doc": delayed_journey("segunda versao")}),
        )
        .await;
    edited.data("updateCampaign");
    let republished = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(republished.data("publishCampaign")["status"], "ACTIVE");
    assert_eq!(app.count_rows("campaign_versions").await, 2);

    // The execution still points at version 1.
    let version = |n: i32| {
        let db = app.db.clone();
        async move {
            entity::campaign_version::Entity::find()
                .filter(entity::campaign_version::Column::Version.eq(n))
                .one(&db)
                .await
                .expect("versions")
                .expect("the version exists")
        }
    };
    let (first, second) = (version(1).await, version(2).await);
    assert!(first.workflow_data.contains("primeira versao"));
    assert!(second.workflow_data.contains("segunda versao"));
    let pinned =
        entity::campaign_execution::Entity::find_by_id(Uuid::parse_str(&execution).expect("uuid"))
            .one(&app.db)
            .await
            .expect("execution")
            .expect("exists");
    assert_eq!(pinned.version_id, first.id, "the execution pins version 1");
    let current = fetch_execution(&app, ws, &execution).await;
    assert_eq!(current["executionData"]["version"], 1, "{current}");
    assert_eq!(
        recipients_with(&app, ws, &execution, "waiting").await,
        waiting as u64
    );

    // An hour later the delay is over: they go on through version 1's message.
    app.advance(chrono::Duration::minutes(59)).await;
    assert_eq!(
        recipients_with(&app, ws, &execution, "waiting").await,
        waiting as u64,
        "not before the hour is up"
    );
    app.advance(chrono::Duration::minutes(1)).await;
    let done = app.completed_execution(ws, &execution).await;
    assert_eq!(done["metrics"]["sent"], waiting, "{done}");
    assert_eq!(done["executionData"]["version"], 1);
    assert_eq!(
        app.count_where("messages", "CAST(content AS TEXT) LIKE '%primeira versao%'")
            .await,
        waiting as i64,
        "recipients in flight got version 1's message"
    );
    assert_eq!(
        app.count_where("messages", "CAST(content AS TEXT) LIKE '%segunda versao%'")
            .await,
        0
    );

    // A new run starts on version 2.
    let next = run_over(&app, ws, &campaign, &group).await;
    let next = fetch_execution(&app, ws, &next).await;
    assert_eq!(next["executionData"]["version"], 2, "{next}");
}
on_both_backends!(
    republishing_never_changes_recipients_in_flight,
    republishing_never_changes_recipients_in_flight
);

// ---------------------------------------------------------------------------
// 5. Sends of unknown outcome, settled by Meta's status callbacks
// ---------------------------------------------------------------------------

/// trigger → WhatsApp template → a follow-up on the log channel → exit: the
/// follow-up shows whether (and how often) a recipient went past the send.
fn journey_with_follow_up() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("send", "sendMessage", json!({"channel": "whatsapp", "templateName": TEMPLATE, "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}, "buttonVariables": {"0": "minha-area"}})),
            node("followUp", "sendMessage", json!({"channel": "log", "body": "Viu nossa mensagem?"})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "send"), edge("send", "followUp"), edge("followUp", "end")]
    })
}

/// A campaign whose one WhatsApp send was cut short by a SIGKILL: Meta took
/// the message (the fake gave it a wamid) but jornada never heard back, so
/// the message is `unknown` without a wamid and its recipient is parked
/// `unknown` at the send node once the killed worker's lease has run out.
/// From then on the test drives the app's own worker.
struct CutShort {
    api: ApiOnlyApp,
    dir: PathBuf,
    meta: FakeMeta,
    ws: Uuid,
    slug: String,
    execution: String,
    /// The wamid Meta gave the message, which jornada never stored.
    wamid: String,
    /// The message's idempotency key.
    key: String,
    phone: String,
}

async fn a_send_cut_short(api: ApiOnlyApp, slug: &str) -> CutShort {
    let app = &api.app;
    let dir = std::env::temp_dir().join(format!("jornada-reconcile-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let meta = FakeMeta::spawn().await;
    let ws = whatsapp_workspace(app, slug, &meta).await;
    customers_with_phones(app, ws, 7, 1).await;
    // Far longer than the workers' 2 s lease: the worker is killed while it waits.
    meta.delay_next_send(Duration::from_secs(60));
    let (campaign, group) =
        published_campaign(app, ws, "Reconciliada", journey_with_follow_up()).await;
    let execution = run_over(app, ws, &campaign, &group).await;

    let first = ChildWorker::spawn(&api, &dir, 0);
    let started = Instant::now();
    while meta.accepted_messages().is_empty() {
        assert!(
            started.elapsed() < PATIENCE,
            "the worker never sent: {}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    // Once the killed worker's lease on the send has run out, its outcome
    // is unknown, and once WhatsApp's pause between two messages to one
    // person has passed too, the recipient is parked: nothing is resent.
    let leased_until = entity::message::Entity::find()
        .one(&app.db)
        .await
        .expect("messages")
        .and_then(|m| m.lease_until)
        .expect("the send is leased");
    app.advance(leased_until - app.clock.now() + chrono::Duration::seconds(1))
        .await;
    app.clock.advance(worker::campaigns::policy::PAIR_RATE);
    let parked = app.completed_execution(ws, &execution).await;
    assert_eq!(
        app.count_where("campaign_recipients", "status = 'unknown'")
            .await,
        1
    );
    assert_eq!(parked["metrics"]["unknown"], 1, "{parked}");
    assert_eq!(parked["metrics"]["sent"], 0, "{parked}");

    let message = entity::message::Entity::find()
        .one(&app.db)
        .await
        .expect("messages")
        .expect("the send's message");
    assert_eq!(message.status, MessageStatus::Unknown);
    assert_eq!(
        message.provider_message_id, None,
        "the answer never arrived"
    );
    let accepted = meta.accepted_messages();
    assert_eq!(accepted.len(), 1);
    // The send told Meta which outbox message it is.
    let request = &meta.message_requests()[0];
    let body = request.body.as_ref().expect("a JSON send");
    assert_eq!(
        body["biz_opaque_callback_data"],
        json!(message.idempotency_key)
    );
    assert_eq!(
        accepted[0].callback_data.as_deref(),
        Some(message.idempotency_key.as_str())
    );
    CutShort {
        dir,
        ws,
        slug: slug.to_owned(),
        execution,
        wamid: accepted[0].wamid.clone(),
        key: message.idempotency_key,
        phone: accepted[0].to.clone(),
        meta,
        api,
    }
}

impl CutShort {
    /// Meta's callback for the message, with its `biz_opaque_callback_data`
    /// and the wamid jornada never stored, but no `recipient_id`: only the
    /// callback data can tell which message it is.
    fn callback(&self, status: &str, error_code: Option<i64>) -> Value {
        let mut body = self
            .meta
            .status_callback(&self.wamid, status, error_code)
            .expect("the fake sent it");
        let item = &mut body["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(item["biz_opaque_callback_data"], json!(self.key));
        item.as_object_mut()
            .expect("a status item")
            .remove("recipient_id");
        body
    }

    async fn post(&self, body: &Value) -> reqwest::StatusCode {
        post_callback(&self.api.app, &self.slug, body).await
    }

    async fn message(&self) -> entity::message::Model {
        entity::message::Entity::find()
            .filter(entity::message::Column::IdempotencyKey.eq(self.key.as_str()))
            .one(&self.api.app.db)
            .await
            .expect("messages")
            .expect("the message")
    }

    async fn recipient(&self) -> Value {
        self.api
            .app
            .graphql(
                Some(&self.api.app.agent_token(self.ws)),
                "query($id: ID!) { campaignExecution(id: $id) { recipients(first: 5) { nodes { status currentNodeId error sentAt deliveredAt } } } }",
                json!({"id": self.execution}),
            )
            .await
            .data("campaignExecution")["recipients"]["nodes"][0]
            .clone()
    }

    /// Follow-up messages: one per recipient that went past the send.
    async fn follow_ups(&self) -> i64 {
        self.api
            .app
            .count_where("messages", "node_id = 'followUp'")
            .await
    }

    /// Exactly one send ever reached Meta, to the customer's phone.
    fn assert_sent_once(&self) {
        let per_phone = requests_per_phone(&self.meta);
        assert_eq!(per_phone.len(), 1, "{per_phone:?}");
        assert_eq!(per_phone.get(&self.phone), Some(&1), "{per_phone:?}");
    }
}

impl Drop for CutShort {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// POSTs a callback signed with the fake's app secret, as Meta does.
async fn post_callback(app: &TestApp, slug: &str, body: &Value) -> reqwest::StatusCode {
    let raw = serde_json::to_vec(body).expect("JSON");
    app.client
        .post(app.url(&format!("/webhooks/whatsapp/{slug}")))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "X-Hub-Signature-256",
            worker::channels::whatsapp::signature_header(meta::APP_SECRET, &raw),
        )
        .body(raw)
        .send()
        .await
        .expect("the app answers")
        .status()
}

/// Runs the app's worker until it is idle; the recipient is then `status`,
/// and is returned.
async fn drained_recipient(cut: &CutShort, status: &str) -> Value {
    cut.api.app.drain().await;
    let recipient = cut.recipient().await;
    assert_eq!(recipient["status"], status, "{recipient}");
    recipient
}

async fn a_delivered_callback_settles_an_unknown_send_and_its_recipient_goes_on(api: ApiOnlyApp) {
    let cut = a_send_cut_short(api, "reconcilia-entregue").await;

    // Callback data that names no message of ours, or is longer than Meta
    // allows, matches nothing and changes nothing.
    for data in ["campaign:not-ours".to_owned(), "x".repeat(600)] {
        let mut stray = cut.callback("delivered", None);
        let item = &mut stray["entry"][0]["changes"][0]["value"]["statuses"][0];
        item["biz_opaque_callback_data"] = json!(data);
        item["id"] = json!("wamid.STRAY");
        assert_eq!(cut.post(&stray).await, 200);
    }
    assert_eq!(cut.message().await.status, MessageStatus::Unknown);
    assert_eq!(cut.recipient().await["status"], "unknown");

    assert_eq!(cut.post(&cut.callback("delivered", None)).await, 200);
    let message = cut.message().await;
    assert_eq!(message.status, MessageStatus::Delivered);
    assert_eq!(
        message.provider_message_id.as_deref(),
        Some(cut.wamid.as_str())
    );

    // The recipient goes on past the send, through the follow-up, to the exit.
    let recipient = drained_recipient(&cut, "completed").await;
    assert_eq!(recipient["currentNodeId"], Value::Null, "{recipient}");
    assert_eq!(recipient["error"], Value::Null, "{recipient}");
    assert!(recipient["deliveredAt"].is_string(), "{recipient}");
    assert_eq!(cut.follow_ups().await, 1);
    let done = cut
        .api
        .app
        .completed_execution(cut.ws, &cut.execution)
        .await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["entered"], 1, "{metrics}");
    assert_eq!(metrics["completed"], 1, "{metrics}");
    assert_eq!(metrics["inFlight"], 0, "{metrics}");
    assert_eq!(metrics["unknown"], 0, "{metrics}");
    assert_eq!(metrics["failed"], 0, "{metrics}");
    assert_eq!(metrics["delivered"], 1, "{metrics}");
    // The WhatsApp message and the follow-up.
    assert_eq!(metrics["sent"], 2, "{metrics}");
    let send = &metrics["nodes"]["send"];
    assert_eq!(
        (&send["sent"], &send["delivered"], &send["unknown"]),
        (&json!(1), &json!(1), &json!(0)),
        "{metrics}"
    );
    assert_eq!(metrics["nodes"]["followUp"]["sent"], 1, "{metrics}");
    cut.assert_sent_once();
}

on_both_backends!(
    a_delivered_callback_settles_an_unknown_send,
    a_delivered_callback_settles_an_unknown_send_and_its_recipient_goes_on,
    crate::helpers::spawn_api_only
);

async fn repeated_concurrent_callbacks_move_the_recipient_once(api: ApiOnlyApp) {
    let cut = a_send_cut_short(api, "reconcilia-repetido").await;
    // Meta retries and reorders: the same delivered callback several times,
    // with sent and read, all at once.
    let mut bodies = vec![cut.callback("delivered", None); 4];
    bodies.push(cut.callback("read", None));
    bodies.push(cut.callback("sent", None));
    let answers = futures::future::join_all(bodies.iter().map(|body| cut.post(body))).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    // And once more after the recipient went on.
    drained_recipient(&cut, "completed").await;
    assert_eq!(cut.post(&cut.callback("delivered", None)).await, 200);

    let message = cut.message().await;
    assert_eq!(
        message.status,
        MessageStatus::Read,
        "read is the highest state"
    );
    assert_eq!(
        message.provider_message_id.as_deref(),
        Some(cut.wamid.as_str())
    );
    assert_eq!(
        cut.follow_ups().await,
        1,
        "the recipient went past the send once"
    );
    let done = cut
        .api
        .app
        .completed_execution(cut.ws, &cut.execution)
        .await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["completed"], 1, "{metrics}");
    assert_eq!(metrics["unknown"], 0, "{metrics}");
    assert_eq!(metrics["read"], 1, "{metrics}");
    assert_eq!(metrics["nodes"]["send"]["sent"], 1, "{metrics}");
    assert_eq!(metrics["nodes"]["followUp"]["sent"], 1, "{metrics}");
    assert_eq!(cut.api.app.count_rows("messages").await, 2);
    cut.assert_sent_once();
}

on_both_backends!(
    repeated_concurrent_callbacks_move_the_recipient_once,
    repeated_concurrent_callbacks_move_the_recipient_once,
    crate::helpers::spawn_api_only
);

async fn a_failed_callback_ends_the_unknown_recipient_failed(api: ApiOnlyApp) {
    let cut = a_send_cut_short(api, "reconcilia-falha").await;
    assert_eq!(cut.post(&cut.callback("failed", Some(131026))).await, 200);

    let message = cut.message().await;
    assert_eq!(message.status, MessageStatus::Failed);
    assert_eq!(
        message.provider_message_id.as_deref(),
        Some(cut.wamid.as_str())
    );
    let recipient = cut.recipient().await;
    assert_eq!(recipient["status"], "failed", "{recipient}");
    assert_eq!(recipient["currentNodeId"], "send", "{recipient}");
    assert!(
        recipient["error"]
            .as_str()
            .is_some_and(|e| e.contains("131026")),
        "{recipient}"
    );
    // A later delivered callback (Meta reorders) changes nothing.
    assert_eq!(cut.post(&cut.callback("delivered", None)).await, 200);
    assert_eq!(cut.message().await.status, MessageStatus::Failed);
    assert_eq!(cut.recipient().await["status"], "failed");

    let done = cut
        .api
        .app
        .completed_execution(cut.ws, &cut.execution)
        .await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["failed"], 1, "{metrics}");
    assert_eq!(metrics["unknown"], 0, "{metrics}");
    assert_eq!(metrics["sent"], 0, "{metrics}");
    assert_eq!(metrics["inFlight"], 0, "{metrics}");
    assert_eq!(metrics["nodes"]["send"]["failed"], 1, "{metrics}");
    assert_eq!(cut.follow_ups().await, 0, "a failed send ends the journey");
    cut.assert_sent_once();
}

on_both_backends!(
    a_failed_callback_ends_the_unknown_recipient_failed,
    a_failed_callback_ends_the_unknown_recipient_failed,
    crate::helpers::spawn_api_only
);

// ---------------------------------------------------------------------------
// The send history the rules count
// ---------------------------------------------------------------------------

/// Stores a message to `customer` as the runner would have, `ago` before now.
async fn sent_before(
    app: &TestApp,
    workspace: Uuid,
    customer: Uuid,
    channel: Channel,
    status: MessageStatus,
    ago: chrono::Duration,
) -> chrono::DateTime<chrono::Utc> {
    use sea_orm::{ActiveModelTrait, Set};
    let at = chrono::Utc::now() - ago;
    let id = Uuid::now_v7();
    entity::entities::message::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace),
        customer_id: Set(customer),
        channel: Set(channel),
        template_id: Set(None),
        content: Set(json!({"body": "Oi"})),
        idempotency_key: Set(format!("history:{id}")),
        status: Set(status),
        provider_message_id: Set(None),
        error: Set(None),
        campaign_recipient_id: Set(None),
        dispatch_item_id: Set(None),
        node_id: Set(None),
        lease_until: Set(None),
        sent_at: Set(Some(at)),
        delivered_at: Set(None),
        read_at: Set(None),
        failed_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&app.db)
    .await
    .expect("store a message");
    at
}

/// The history the send rules read holds each customer's messages that
/// went out inside the look-back — not failed ones, not older ones, not
/// other customers' — and the pair rate and frequency cap act on it.
async fn send_history_counts_recent_sends_of_each_customer(app: TestApp) {
    use worker::campaigns::policy::{PAIR_RATE, SendHistory, SendPolicy, Verdict};
    let workspace = app.create_workspace("historico").await;
    let ana = app.create_customer(workspace, "ana@exemplo.com").await;
    let bia = app.create_customer(workspace, "bia@exemplo.com").await;
    let caio = app.create_customer(workspace, "caio@exemplo.com").await;
    let seconds = chrono::Duration::seconds;
    let whatsapp_at = sent_before(
        &app,
        workspace,
        ana,
        Channel::Whatsapp,
        MessageStatus::Delivered,
        seconds(2),
    )
    .await;
    sent_before(
        &app,
        workspace,
        ana,
        Channel::Email,
        MessageStatus::Sent,
        seconds(3600),
    )
    .await;
    sent_before(
        &app,
        workspace,
        ana,
        Channel::Whatsapp,
        MessageStatus::Failed,
        seconds(1),
    )
    .await;
    sent_before(
        &app,
        workspace,
        bia,
        Channel::Whatsapp,
        MessageStatus::Read,
        seconds(2 * 86_400),
    )
    .await;
    let everyone = [ana, bia, caio];

    let capped = SendPolicy {
        time_zone: chrono_tz::UTC,
        quiet_hours: None,
        frequency_cap: Some((2, seconds(86_400))),
        whatsapp_per_second: 80,
    };
    let now = chrono::Utc::now();
    let histories = SendHistory::of(&app.db, &everyone, &capped, now)
        .await
        .expect("history");
    let of_ana = histories.get(&ana).expect("ana's history");
    assert_eq!(of_ana.sent.len(), 2, "{of_ana:?}");
    assert_eq!(
        of_ana.last_whatsapp.map(|at| at.timestamp_millis()),
        Some(whatsapp_at.timestamp_millis())
    );
    assert!(
        histories.get(&bia).is_none_or(|h| h.sent.is_empty()),
        "older than a day"
    );
    assert!(!histories.contains_key(&caio));
    assert!(matches!(
        capped.verdict(None, Some(of_ana), Channel::Whatsapp, false, now),
        Verdict::Wait(at) if at.timestamp_millis() == (whatsapp_at + PAIR_RATE).timestamp_millis()
    ));
    assert!(
        matches!(
            capped.verdict(None, Some(of_ana), Channel::Email, false, now),
            Verdict::Wait(_)
        ),
        "two messages today reach the cap"
    );
    assert_eq!(
        capped.verdict(None, histories.get(&bia), Channel::Whatsapp, false, now),
        Verdict::Go
    );

    // Without a cap only the pair rate's few seconds are read.
    let uncapped = SendPolicy {
        frequency_cap: None,
        ..capped
    };
    let histories = SendHistory::of(&app.db, &everyone, &uncapped, now)
        .await
        .expect("history");
    assert_eq!(histories.len(), 1, "{histories:?}");
    assert_eq!(histories[&ana].sent.len(), 1);
    assert_eq!(
        uncapped.verdict(None, histories.get(&ana), Channel::Email, false, now),
        Verdict::Go
    );
}
on_both_backends!(
    send_history_counts_recent_sends_of_each_customer,
    send_history_counts_recent_sends_of_each_customer
);
