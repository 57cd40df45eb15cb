use async_graphql::connection::Connection;
use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject,
};
use chrono::{DateTime, Utc};
use entity::customers::{self as people, CustomerChanges, NewCustomer, filters};
use entity::{customer, customer_activity, customer_note, segments};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::commerce::{Enrollment, Subscription, Transaction};
use super::connection::{Prefetch, Selected, Totals, cost, paginate};
use super::loaders::{
    ActivitiesOf, CustomerById, EnrollmentsOf, NotesOf, ProductById, SubscriptionsOf,
    TransactionsOf, load, prefetch,
};
use super::messages::{Message, messages_of};
use super::scope::{Access, caller, db, now, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

/// A buyer, student or lead of the workspace: the customer 360.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Customer {
    pub id: ID,
    #[graphql(skip)]
    pub uuid: Uuid,
    pub email: String,
    pub name: Option<String>,
    /// E.164, e.g. +5511987654321.
    pub phone: Option<String>,
    pub document: Option<String>,
    pub document_type: Option<String>,
    pub hotmart_ucode: Option<String>,
    pub tags: Vec<String>,
    /// lead, active, at_risk, trial or cancelled; kept current by the worker.
    pub segment: Option<String>,
    /// low (score below 25), medium (below 50) or high; null for a lead and
    /// for a customer whose access has ended. Kept current by the worker.
    pub churn_risk: Option<String>,
    /// 0–100: the sum of `churnRiskReasons`' points, at most 100.
    pub churn_risk_score: Option<i32>,
    /// What makes up the score, the heaviest first.
    pub churn_risk_reasons: Vec<ChurnRiskReason>,
    /// Approved and complete purchases minus refunds and chargebacks.
    pub ltv_total: Decimal,
    pub first_activity_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Consent and opt-out per channel.
    pub consent: Json<Value>,
    pub metadata: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<customer::Model> for Customer {
    fn from(m: customer::Model) -> Self {
        let tags = people::tags_of(&m);
        Customer {
            id: m.id.into(),
            uuid: m.id,
            email: m.email,
            name: m.name,
            phone: m.phone,
            document: m.document,
            document_type: m.document_type,
            hotmart_ucode: m.hotmart_ucode,
            tags,
            segment: m.segment,
            churn_risk: m.churn_risk,
            churn_risk_score: m.churn_risk_score,
            churn_risk_reasons: m
                .churn_risk_reasons
                .and_then(|stored| {
                    serde_json::from_value::<Vec<segments::ChurnRiskReason>>(stored).ok()
                })
                .unwrap_or_default()
                .into_iter()
                .map(ChurnRiskReason::from)
                .collect(),
            ltv_total: entity::money::amount(m.ltv_total),
            first_activity_at: m.first_activity_at,
            last_activity_at: m.last_activity_at,
            consent: Json(m.consent),
            metadata: Json(m.metadata),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Why a customer may be about to leave; see `docs/metrics.md`.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::segments::ChurnRiskCode")]
pub enum ChurnRiskCode {
    /// No access (nor any other activity) for `churn_risk.no_access_days`
    /// (14 by default): 30 points, 50 at twice as long.
    NoAccess,
    /// An unfinished course whose progress has not moved for
    /// `churn_risk.stalled_days` (21): 20 points.
    ProgressStalled,
    /// A subscription's charge is late: 50 points.
    PaymentDelayed,
    /// A purchase is under a refund request or dispute: 50 points.
    RefundRequested,
    /// The warranty of an approved purchase ends within
    /// `churn_risk.warranty_days` (3), the course below
    /// `churn_risk.low_progress_percent` (20 %): 30 points.
    LowProgressNearWarrantyEnd,
}

/// One reason of a customer's churn risk, with its points.
#[derive(SimpleObject)]
pub struct ChurnRiskReason {
    pub code: ChurnRiskCode,
    pub points: i32,
    /// When the condition began: the last access, the last move of the
    /// course, the late charge, the refund request.
    pub since: Option<DateTime<Utc>>,
    /// When the warranty ends (LOW_PROGRESS_NEAR_WARRANTY_END).
    pub deadline: Option<DateTime<Utc>>,
    /// The product the reason is about, where it is about one.
    pub product_id: Option<ID>,
}

impl From<segments::ChurnRiskReason> for ChurnRiskReason {
    fn from(r: segments::ChurnRiskReason) -> Self {
        ChurnRiskReason {
            code: r.code.into(),
            points: r.points,
            since: r.since,
            deadline: r.deadline,
            product_id: r.product_id.map(ID::from),
        }
    }
}

fn all<M, T: From<M>>(rows: Option<Vec<M>>) -> Vec<T> {
    rows.unwrap_or_default().into_iter().map(T::from).collect()
}

#[ComplexObject]
impl Customer {
    async fn transactions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Transaction>> {
        Ok(all(load(ctx, TransactionsOf(self.uuid)).await?))
    }

    async fn subscriptions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Subscription>> {
        Ok(all(load(ctx, SubscriptionsOf(self.uuid)).await?))
    }

    async fn enrollments(&self, ctx: &Context<'_>) -> ApiResult<Vec<Enrollment>> {
        Ok(all(load(ctx, EnrollmentsOf(self.uuid)).await?))
    }

    /// The timeline, newest first.
    async fn activities(&self, ctx: &Context<'_>) -> ApiResult<Vec<CustomerActivity>> {
        Ok(all(load(ctx, ActivitiesOf(self.uuid)).await?))
    }

    /// Notes left by the CS team, newest first.
    async fn notes(&self, ctx: &Context<'_>) -> ApiResult<Vec<CustomerNote>> {
        Ok(all(load(ctx, NotesOf(self.uuid)).await?))
    }

    /// What was said to the customer, newest first, with the rule or
    /// campaign each message came from.
    #[graphql(complexity = "cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Message, Totals>> {
        // Boxed: every field future of a customer is as large as this one.
        Box::pin(messages_of(ctx, self.uuid, first, after)).await
    }
}

impl Prefetch for Customer {
    async fn prefetch(ctx: &Context<'_>, node: &Selected<'_>, page: &[Self]) -> ApiResult<()> {
        let ids = || page.iter().map(|c| c.uuid);
        let transactions = node.field("transactions");
        let (products, ..) = futures::try_join!(
            prefetch(
                ctx,
                node.field("transactions"),
                ids().map(TransactionsOf),
                |rows| {
                    rows.values()
                        .flatten()
                        .filter_map(|t| t.product_id)
                        .collect::<Vec<_>>()
                }
            ),
            prefetch(
                ctx,
                node.field("subscriptions"),
                ids().map(SubscriptionsOf),
                |_| ()
            ),
            prefetch(
                ctx,
                node.field("enrollments"),
                ids().map(EnrollmentsOf),
                |_| ()
            ),
            prefetch(
                ctx,
                node.field("activities"),
                ids().map(ActivitiesOf),
                |_| ()
            ),
            prefetch(ctx, node.field("notes"), ids().map(NotesOf), |_| ()),
        )?;
        // The relations of the page's transactions: their customers are
        // the page's own.
        futures::try_join!(
            prefetch(
                ctx,
                transactions.field("customer"),
                ids().map(CustomerById),
                |_| ()
            ),
            prefetch(
                ctx,
                transactions.field("product"),
                products.into_iter().map(ProductById),
                |_| ()
            ),
        )?;
        Ok(())
    }
}

#[derive(SimpleObject)]
pub struct CustomerNote {
    pub id: ID,
    pub customer_id: ID,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<customer_note::Model> for CustomerNote {
    fn from(m: customer_note::Model) -> Self {
        CustomerNote {
            id: m.id.into(),
            customer_id: m.customer_id.into(),
            author: m.author,
            body: m.body,
            created_at: m.created_at,
        }
    }
}

/// One entry of a customer's timeline.
#[derive(SimpleObject)]
pub struct CustomerActivity {
    pub id: ID,
    pub customer_id: ID,
    pub activity_type: String,
    pub description: Option<String>,
    pub data: Json<Value>,
    pub occurred_at: DateTime<Utc>,
}

impl From<customer_activity::Model> for CustomerActivity {
    fn from(m: customer_activity::Model) -> Self {
        CustomerActivity {
            id: m.id.into(),
            customer_id: m.customer_id.into(),
            activity_type: m.activity_type,
            description: m.description,
            data: Json(m.data),
            occurred_at: m.occurred_at,
        }
    }
}

#[derive(InputObject, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerFilter {
    /// Case-insensitive substring of the e-mail or the name.
    pub search: Option<String>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    pub segment: Option<String>,
    /// low, medium or high.
    pub churn_risk: Option<String>,
    /// Customers whose churn risk score is at least this (0–100).
    pub min_churn_risk_score: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    pub email: String,
    pub name: Option<String>,
    /// Any common format; stored as E.164 with Brazil as the default country.
    pub phone: Option<String>,
    pub document: Option<String>,
    #[graphql(default)]
    pub tags: Vec<String>,
}

/// Omitted fields stay as they are; `null` clears a field.
#[derive(InputObject)]
pub struct UpdateCustomerInput {
    pub email: Option<String>,
    pub name: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub document: MaybeUndefined<String>,
    /// Replaces the whole tag list.
    pub tags: Option<Vec<String>>,
}

fn patch(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

const MAX_SEARCH_LEN: usize = 200;

/// The workspace's customers a filter matches.
pub(crate) fn filtered(
    tenant: entity::Tenant,
    backend: sea_orm::DbBackend,
    filter: Option<CustomerFilter>,
) -> ApiResult<sea_orm::Select<customer::Entity>> {
    let filter = filter.unwrap_or_default();
    let mut select = tenant.select::<customer::Entity>();
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if search.chars().count() > MAX_SEARCH_LEN {
            return Err(ApiError::invalid(format!(
                "search is at most {MAX_SEARCH_LEN} characters"
            )));
        }
        select = select.filter(filters::search(search));
    }
    if let Some(tag) = filter.tag.as_deref() {
        select = select.filter(filters::has_tag(backend, tag));
    }
    if let Some(segment) = filter.segment.as_deref() {
        select = select.filter(filters::in_segment(segment));
    }
    if let Some(level) = filter.churn_risk.as_deref() {
        if !matches!(level, "low" | "medium" | "high") {
            return Err(ApiError::invalid("churnRisk is low, medium or high"));
        }
        select = select.filter(customer::Column::ChurnRisk.eq(level));
    }
    if let Some(score) = filter.min_churn_risk_score {
        if !(0..=100).contains(&score) {
            return Err(ApiError::invalid("minChurnRiskScore is from 0 to 100"));
        }
        select = select.filter(customer::Column::ChurnRiskScore.gte(score));
    }
    Ok(select)
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<CustomerFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Customer, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let select = filtered(tenant, db(ctx).get_database_backend(), filter)?;
        paginate(ctx, select, customer::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }

    #[graphql(guard = "Access::Read")]
    async fn customer(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Customer> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let id = parse_id(&id, "id")?;
        Ok(tenant.get::<customer::Entity, _>(db(ctx), id).await?.into())
    }
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    #[graphql(guard = "Access::Write")]
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        input: CreateCustomerInput,
    ) -> ApiResult<Customer> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let new = NewCustomer {
            email: input.email,
            name: input.name,
            phone: input.phone,
            document: input.document,
            tags: input.tags,
        };
        let created = people::create(db(ctx), tenant, new, &caller(ctx).actor(), now(ctx))
            .await
            .map_err(email_taken)?;
        Ok(created.into())
    }

    #[graphql(guard = "Access::Write")]
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        input: UpdateCustomerInput,
    ) -> ApiResult<Customer> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let changes = CustomerChanges {
            email: input.email,
            name: patch(input.name),
            phone: patch(input.phone),
            document: patch(input.document),
            tags: input.tags,
        };
        let updated = people::update(db(ctx), tenant, parse_id(&id, "id")?, changes, now(ctx))
            .await
            .map_err(email_taken)?;
        Ok(updated.into())
    }

    #[graphql(guard = "Access::Write")]
    async fn add_customer_note(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        body: String,
    ) -> ApiResult<CustomerNote> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let note = people::add_note(
            db(ctx),
            tenant,
            parse_id(&id, "id")?,
            &caller(ctx).actor(),
            &body,
            now(ctx),
        )
        .await?;
        Ok(note.into())
    }

    #[graphql(guard = "Access::Write")]
    async fn add_customer_tags(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        tags: Vec<String>,
    ) -> ApiResult<Customer> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        Ok(people::change_tags(
            db(ctx),
            tenant,
            parse_id(&id, "id")?,
            tags,
            Vec::new(),
            now(ctx),
        )
        .await?
        .into())
    }

    #[graphql(guard = "Access::Write")]
    async fn remove_customer_tags(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        tags: Vec<String>,
    ) -> ApiResult<Customer> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        Ok(people::change_tags(
            db(ctx),
            tenant,
            parse_id(&id, "id")?,
            Vec::new(),
            tags,
            now(ctx),
        )
        .await?
        .into())
    }
}

/// A conflict on saving a customer is its e-mail, taken by another.
fn email_taken(error: entity::Error) -> ApiError {
    match error {
        entity::Error::Conflict(_) => {
            ApiError::Conflict("a customer with this e-mail already exists".into())
        }
        other => other.into(),
    }
}
