//! Campaign reliability: the worker SIGKILLed mid-campaign, pause and resume,
//! opted-out customers, republishing a live campaign, sends of unknown outcome
//! settled by Meta's callbacks, and the send history the send rules count.
//! Whatever happens, no customer gets a message twice and every recipient
//! ends accounted for.

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
use crate::templates::set_setting;

mod kills;
mod opt_outs;
mod pause;
mod reconciliation;
mod republishing;
mod send_history;

/// The approved WhatsApp template every journey here sends.
const TEMPLATE: &str = "boas_vindas";
/// How long any wait in these tests may take before it counts as stuck.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

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
pub(crate) fn slow_down(meta: &FakeMeta, sends: usize, millis: std::ops::RangeInclusive<u64>) {
    let mut rng = rand::thread_rng();
    for _ in 0..sends {
        meta.delay_next_send(Duration::from_millis(rng.gen_range(millis.clone())));
    }
}

/// How many message requests the fake received per `to`.
pub(crate) fn requests_per_phone(meta: &FakeMeta) -> HashMap<String, usize> {
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

/// Waits until the fake has more than `before` message requests: the
/// worker of that life has sent.
pub(crate) async fn until_it_sends(
    meta: &FakeMeta,
    before: usize,
    worker: &ChildWorker,
    life: usize,
) {
    let started = Instant::now();
    while meta.message_requests().len() == before {
        assert!(
            started.elapsed() < PATIENCE,
            "worker {life} never sent: {}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) fn assert_nobody_got_two(per_phone: &HashMap<String, usize>) {
    let twice: Vec<_> = per_phone.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "phones that received more than one message: {twice:?}"
    );
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
