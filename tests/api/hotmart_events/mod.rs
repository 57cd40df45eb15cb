//! Every Hotmart postback type, shaped as CONTRACTS.md section 1 describes it,
//! lands in the domain as DESIGN.md "Hotmart ingestion" says: customers,
//! transactions, subscriptions, enrollments, LTV, domain events and the
//! activity timeline, read back through GraphQL and the database.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, Utc};
use entity::Tenant;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::hotmart_webhooks::{
    DAY_MS, HOTTOK, PIX_CODE, PlanOption, Sale, Subscriber, cart_abandoned, charge_date_change,
    envelope, first_access, iso, module_completed, now_ms, order_fulfillment, product_ref,
    subscription_cancellation, switch_plan,
};
use crate::on_both_backends;

mod envelopes;
mod members_area;
mod other_events;
mod purchases;
mod subscriptions;

/// What the tests read of a customer.
pub const CUSTOMER_VIEW: &str = "id email name phone document documentType ltvTotal segment
    firstActivityAt lastActivityAt
    transactions { id code status amount currency paymentMethod installments purchasedAt approvedAt
        refundedAt warrantyEndsAt billetUrl pixCode src sck xcod commissionType recurrenceNumber
        subscriptionId product { hotmartProductId name } }
    subscriptions { id subscriberCode planId planName status startedAt nextChargeAt cancelledAt
        recurringAmount currency productId }
    enrollments { productId transactionId accessStatus startsAt endsAt renewsAt firstAccessAt
        firstAccessOrigin lastAccessAt progress }
    activities { activityType occurredAt data }";

/// A workspace that receives Hotmart postbacks, seen by its own agent.
pub struct Shop<'a> {
    pub app: &'a TestApp,
    pub workspace: Uuid,
    pub slug: String,
    pub token: String,
}

impl<'a> Shop<'a> {
    pub async fn open(app: &'a TestApp, slug: &str) -> Shop<'a> {
        let workspace = app.hotmart_workspace(slug).await;
        Shop {
            app,
            workspace,
            slug: slug.to_owned(),
            token: app.agent_token(workspace),
        }
    }

    /// Posts one postback with the right hottok; it must be accepted as new.
    pub async fn post(&self, body: &Value) {
        let (status, answer) = self.app.post_hotmart(&self.slug, Some(HOTTOK), body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "accepted", "{answer}");
    }

    /// Posts each postback in turn, each applied before the next is sent (as
    /// when Hotmart's deliveries are seconds apart or more).
    pub async fn post_all(&self, bodies: &[Value]) {
        for body in bodies {
            self.post(body).await;
            self.app.drain().await;
        }
    }

    /// A GraphQL query as this workspace's agent; `field` must have no errors.
    pub async fn query(&self, query: &str, variables: Value, field: &str) -> Value {
        let answer = self.app.graphql(Some(&self.token), query, variables).await;
        answer.data(field).clone()
    }

    pub async fn customer_id(&self, email: &str) -> Option<String> {
        let found = self
            .query(
                "query($s: String) { customers(filter: {search: $s}, first: 100) { nodes { id email } } }",
                json!({"s": email}),
                "customers",
            )
            .await;
        found["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|c| c["email"] == email)
            .map(|c| c["id"].as_str().expect("id").to_owned())
    }

    /// The customer with that e-mail, as [`CUSTOMER_VIEW`] reads it.
    pub async fn customer(&self, email: &str) -> Value {
        let id = self
            .customer_id(email)
            .await
            .unwrap_or_else(|| panic!("no customer {email}"));
        self.query(
            &format!("query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_VIEW} }} }}"),
            json!({"id": id}),
            "customer",
        )
        .await
    }

    /// Hotmart product id → jornada product id.
    pub async fn products(&self) -> HashMap<String, String> {
        let products = self
            .query(
                "{ products(first: 100) { nodes { id hotmartProductId } } }",
                json!({}),
                "products",
            )
            .await;
        products["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|p| {
                (
                    p["hotmartProductId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    p["id"].as_str().expect("id").to_owned(),
                )
            })
            .collect()
    }

    /// The customer's enrollment in the product with that Hotmart id.
    pub async fn enrollment(&self, customer: &Value, hotmart_product_id: &str) -> Option<Value> {
        let products = self.products().await;
        let product = products.get(hotmart_product_id)?;
        customer["enrollments"]
            .as_array()
            .expect("enrollments")
            .iter()
            .find(|e| e["productId"] == product.as_str())
            .cloned()
    }

    /// `webhookEvents` of this workspace with `filter`.
    pub async fn webhook_events(&self, filter: Value) -> Value {
        self.query(
            "query($f: WebhookEventFilter) { webhookEvents(filter: $f, first: 100) { totalCount
                nodes { id externalId eventType status attempts lastError receivedAt processedAt nextAttemptAt } } }",
            json!({"f": filter}),
            "webhookEvents",
        )
        .await
    }
}

/// The customer's transaction with that code.
pub fn transaction<'v>(customer: &'v Value, code: &str) -> &'v Value {
    customer["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .find(|t| t["code"] == code)
        .unwrap_or_else(|| panic!("no transaction {code} in {customer}"))
}

/// An RFC 3339 time from the API as epoch milliseconds (`None` for null).
pub fn ms(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    Some(
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
            .timestamp_millis(),
    )
}

pub fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a representable time")
}

/// How many domain events of that type were recorded (one app per test).
pub async fn domain_events(app: &TestApp, event_type: &str) -> i64 {
    app.count_where("domain_events", &format!("event_type = '{event_type}'"))
        .await
}

/// The activity types of a customer's timeline, sorted.
pub fn activity_types(customer: &Value) -> Vec<String> {
    let mut types: Vec<String> = customer["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .map(|a| a["activityType"].as_str().expect("type").to_owned())
        .collect();
    types.sort();
    types
}

pub fn sorted(types: &[&str]) -> Vec<String> {
    let mut types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
    types.sort();
    types
}

/// The timeline holds exactly one entry per domain event about a customer:
/// same customer, type, time, and a `domainEventId` naming the event.
pub async fn assert_timeline_mirrors_domain_events(app: &TestApp) {
    let events = entity::domain_event::Entity::find()
        .all(&app.db)
        .await
        .expect("domain events");
    let activities = entity::customer_activity::Entity::find()
        .all(&app.db)
        .await
        .expect("activities");
    let mut expected: BTreeMap<String, (Uuid, String, i64)> = BTreeMap::new();
    for event in events.iter() {
        if let Some(customer) = event.customer_id {
            expected.insert(
                event.id.to_string(),
                (
                    customer,
                    event.event_type.clone(),
                    event.occurred_at.timestamp_millis(),
                ),
            );
        }
    }
    let mut seen: BTreeMap<String, (Uuid, String, i64)> = BTreeMap::new();
    for activity in &activities {
        let event_id = activity.data["domainEventId"]
            .as_str()
            .unwrap_or_else(|| panic!("activity without domainEventId: {activity:?}"))
            .to_owned();
        let previous = seen.insert(
            event_id.clone(),
            (
                activity.customer_id,
                activity.activity_type.clone(),
                activity.occurred_at.timestamp_millis(),
            ),
        );
        assert!(
            previous.is_none(),
            "two activities for domain event {event_id}"
        );
    }
    assert_eq!(
        seen, expected,
        "one timeline entry per domain event about a customer"
    );
}

/// RFC 3339 in Brasília time, the way UPDATE_SUBSCRIPTION_CHARGE_DATE sends it.
fn brasilia(ms: i64) -> String {
    utc(ms)
        .with_timezone(&FixedOffset::west_opt(3 * 3600).expect("offset"))
        .to_rfc3339()
}
