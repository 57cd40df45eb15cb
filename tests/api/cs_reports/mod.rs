//! What the producer sees of the CS work: the access report, campaign goals
//! with their conversions and revenue, the customer 360's messages and
//! module progress, and audiences on dates relative to now. Postbacks are
//! posted to the webhook and applied by the worker; time moves with the
//! app's clock.

use chrono::{DateTime, Duration, Utc};
use entity::Tenant;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{Sale, first_access, module_completed, product_ref};
use crate::journeys::{branch, edge, node};
use crate::on_both_backends;

pub(crate) mod access_report;
mod campaign_goals;
mod customer_360;
mod relative_dates;

const HOUR_MS: i64 = 3_600_000;

/// The app's clock in epoch milliseconds: postbacks carry their own dates,
/// and these tests date them by the clock the worker reads.
fn clock_ms(app: &TestApp) -> i64 {
    app.clock.now().timestamp_millis()
}

/// The Hotmart product the tests sell (the "Curso de Confeitaria").
pub(crate) const CURSO: i64 = 3526906;
/// Another product of the same producer, without modules.
pub(crate) const MENTORIA: i64 = 4411223;

pub(crate) fn curso() -> Value {
    product_ref(json!(CURSO), "Curso de Confeitaria")
}

/// An approved sale of `product` to `email`, approved (and posted) at `at_ms`.
fn approved_sale(code: &str, email: &str, name: &str, product: i64, at_ms: i64) -> Value {
    let product_name = if product == CURSO {
        "Curso de Confeitaria"
    } else {
        "Mentoria de Confeitaria"
    };
    Sale::new(code, email, at_ms - 1_000)
        .buyer(name, None)
        .product(json!(product), product_name)
        .approved_at(Some(at_ms))
        .event("PURCHASE_APPROVED", "APPROVED", at_ms)
}

/// Gives the course two modules of two lessons each (the Club sync's
/// part), so completing a module completes its lessons.
pub(crate) async fn course_with_modules(shop: &Shop<'_>) -> Uuid {
    let tenant = Tenant::new(shop.workspace);
    let products = shop.products().await;
    let product = Uuid::parse_str(&products[&CURSO.to_string()]).expect("uuid");
    for (position, (module_id, name)) in
        [("mod-massas", "Massas"), ("mod-coberturas", "Coberturas")]
            .iter()
            .enumerate()
    {
        let facts = entity::catalog::ModuleFacts {
            hotmart_module_id: module_id,
            name: Some(name),
            position: Some(position as i32 + 1),
            is_extra: Some(false),
        };
        let module = entity::catalog::upsert_module(
            &shop.app.db,
            tenant,
            product,
            facts,
            shop.app.clock.now(),
        )
        .await
        .expect("module");
        for lesson in 1..=2 {
            entity::catalog::upsert_lesson(
                &shop.app.db,
                tenant,
                product,
                &entity::catalog::LessonFacts {
                    hotmart_page_id: format!("{module_id}-{lesson}"),
                    page_name: format!("Aula {lesson}"),
                    module_id: Some(module.id),
                    module_name: Some((*name).to_owned()),
                    is_extra: false,
                    position: lesson,
                },
                shop.app.clock.now(),
            )
            .await
            .expect("lesson");
        }
    }
    product
}

/// Creates, publishes and runs a campaign over a target group; returns
/// (campaign, execution).
async fn run_campaign(
    shop: &Shop<'_>,
    name: &str,
    document: Value,
    goal: Option<Value>,
    group: &str,
) -> (String, String) {
    let created = shop
        .query(
            "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id goal { event productId withinDays } } }",
            json!({"input": {"name": name, "workflowData": document, "goal": goal}}),
            "createCampaign",
        )
        .await;
    let campaign = created["id"].as_str().expect("id").to_owned();
    let published = shop
        .query(
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": campaign}),
            "publishCampaign",
        )
        .await;
    assert_eq!(published["status"], "ACTIVE");
    let run = shop
        .query(
            "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id } }",
            json!({"id": campaign, "g": group}),
            "runCampaign",
        )
        .await;
    (campaign, run["id"].as_str().expect("id").to_owned())
}

/// Creates a target group; returns its id.
async fn target_group(shop: &Shop<'_>, name: &str, source: &str, filter: Value) -> String {
    let created = shop
        .query(
            "mutation($input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(input: $input) { id } }",
            json!({"input": {"crmName": name, "source": source, "filter": filter}}),
            "createTargetGroupMapping",
        )
        .await;
    created["id"].as_str().expect("id").to_owned()
}

/// The e-mails of an execution's recipients, sorted, with their convertedAt.
async fn recipients(shop: &Shop<'_>, execution: &str) -> Vec<(String, Value)> {
    let answer = shop
        .query(
            "query($id: ID!) { campaignExecution(id: $id) { recipients(first: 100) { nodes { convertedAt customer { email } } } } }",
            json!({"id": execution}),
            "campaignExecution",
        )
        .await;
    let mut found: Vec<(String, Value)> = answer["recipients"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|r| {
            (
                r["customer"]["email"].as_str().expect("email").to_owned(),
                r["convertedAt"].clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a representable time")
}

fn rfc3339(ms: i64) -> String {
    at(ms).to_rfc3339()
}

/// A journey that sends one logged message and exits.
pub(crate) fn message_journey(body: &str) -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("msg", "sendMessage", json!({"channel": "log", "body": body})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "msg"), edge("msg", "end")]
    })
}
