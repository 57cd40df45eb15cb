use async_graphql::connection::Connection;
use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject,
};
use chrono::{DateTime, Utc};
use entity::customers::{self as people, CustomerChanges, NewCustomer, filters};
use entity::{customer, customer_activity, customer_note};
use rust_decimal::Decimal;
use sea_orm::QueryFilter;
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
    /// low, medium or high; kept current by the worker.
    pub churn_risk: Option<String>,
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
        messages_of(ctx, self.uuid, first, after).await
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
