//! Chatwoot against a fake Chatwoot: signed webhook deliveries stored and
//! deduplicated, labels turned into conversation tags matched to
//! customers, the labels job's read-union-write with retries, and the tag
//! report.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fakes::chatwoot::FakeChatwoot;
use crate::helpers::TestApp;
use crate::templates::set_setting;

mod labels;
mod report;
mod webhooks;

const SECRET: &str = "segredo-do-webhook";

/// A workspace whose Chatwoot settings point at a fake Chatwoot.
struct Workspace {
    id: Uuid,
    slug: String,
    chatwoot: FakeChatwoot,
}

/// A workspace `slug` set up for Chatwoot, signing deliveries with
/// `secret` when given.
async fn workspace(app: &TestApp, slug: &str, secret: Option<&str>) -> Workspace {
    let id = app.create_workspace(slug).await;
    let chatwoot = FakeChatwoot::spawn().await;
    for (key, value) in chatwoot.settings() {
        set_setting(app, id, key, &value).await;
    }
    if let Some(secret) = secret {
        set_setting(app, id, "chatwoot.webhook_secret", secret).await;
    }
    Workspace {
        id,
        slug: slug.to_owned(),
        chatwoot,
    }
}

/// A customer of the workspace with this e-mail and phone.
async fn customer(app: &TestApp, workspace: Uuid, email: &str, phone: Option<&str>) -> Uuid {
    let created = app
        .graphql(
            Some(&app.agent_token(workspace)),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({"input": {"email": email, "name": "Cliente Teste", "phone": phone}}),
        )
        .await;
    created.data("createCustomer")["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a customer id")
}

/// What the receiver answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    body: Value,
}

impl Answer {
    fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }
}

/// POSTs `body` to the workspace's Chatwoot webhook with `headers`.
pub(crate) async fn post(
    app: &TestApp,
    slug: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/chatwoot/{slug}")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the app answers");
    let status = response.status();
    Answer {
        status,
        body: response.json().await.unwrap_or(Value::Null),
    }
}

/// The signature headers Chatwoot sends, signed at `at`.
fn signed(secret: &str, at: DateTime<Utc>, body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = at.timestamp().to_string();
    vec![
        (
            "x-chatwoot-signature",
            entity::chatwoot::webhook::signature_header(secret, &timestamp, body),
        ),
        ("x-chatwoot-timestamp", timestamp),
    ]
}

/// Delivers `payload` as Chatwoot does: signed now when the workspace has a
/// secret, with a delivery id when given. Asserts it was taken.
async fn deliver(app: &TestApp, ws: &Workspace, secret: Option<&str>, payload: &Value) -> Answer {
    let body = serde_json::to_vec(payload).unwrap();
    let headers = secret
        .map(|s| signed(s, app.clock.now(), &body))
        .unwrap_or_default();
    let answer = post(app, &ws.slug, &body, &headers).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer
}

/// The workspace's conversation tags, in the order they were put on.
async fn tags(app: &TestApp, workspace: Uuid) -> Vec<entity::conversation_tag::Model> {
    use entity::conversation_tag::{Column, Entity};
    Entity::find()
        .filter(Column::WorkspaceId.eq(workspace))
        .order_by_asc(Column::TaggedAt)
        .order_by_asc(Column::Label)
        .all(&app.db)
        .await
        .expect("read the tags")
}

/// The tags of one label, in the order they were put on.
async fn tags_of(
    app: &TestApp,
    workspace: Uuid,
    label: &str,
) -> Vec<entity::conversation_tag::Model> {
    tags(app, workspace)
        .await
        .into_iter()
        .filter(|t| t.label == label)
        .collect()
}

async fn stored_customer(app: &TestApp, id: Uuid) -> entity::customer::Model {
    entity::customer::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("read the customer")
        .expect("the customer exists")
}

/// Asserts `at` is the moment a delivery posted between `before` and
/// `after` was received.
fn received_between(at: DateTime<Utc>, before: DateTime<Utc>, after: DateTime<Utc>) {
    assert!(
        before <= at && at <= after,
        "{at} is not between {before} and {after}"
    );
}
