use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{enrollment, subscription, transaction};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::catalog::Product;
use super::connection::{Prefetch, Selected, Totals, cost, paginate};
use super::customers::Customer;
use super::loaders::{CustomerById, ProductById, load, prefetch};
use super::scope::{Access, db, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

/// A Hotmart purchase (one charge of a subscription, or a one-off sale).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Transaction {
    pub id: ID,
    /// Hotmart's transaction code, e.g. HP16015479281022.
    pub code: String,
    #[graphql(skip)]
    pub customer_uuid: Uuid,
    #[graphql(skip)]
    pub product_uuid: Option<Uuid>,
    pub customer_id: ID,
    pub product_id: Option<ID>,
    pub offer_id: Option<ID>,
    pub subscription_id: Option<ID>,
    /// A Hotmart purchase status: APPROVED, COMPLETE, REFUNDED, CHARGEBACK, ...
    pub status: String,
    pub amount: Decimal,
    pub currency: String,
    pub payment_method: Option<String>,
    pub installments: Option<i32>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub warranty_ends_at: Option<DateTime<Utc>>,
    pub billet_url: Option<String>,
    pub pix_code: Option<String>,
    pub src: Option<String>,
    pub sck: Option<String>,
    pub xcod: Option<String>,
    pub commission_type: Option<String>,
    pub recurrence_number: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<transaction::Model> for Transaction {
    fn from(m: transaction::Model) -> Self {
        Transaction {
            id: m.id.into(),
            code: m.code,
            customer_uuid: m.customer_id,
            product_uuid: m.product_id,
            customer_id: m.customer_id.into(),
            product_id: m.product_id.map(Into::into),
            offer_id: m.offer_id.map(Into::into),
            subscription_id: m.subscription_id.map(Into::into),
            status: m.status,
            amount: entity::money::amount(m.amount),
            currency: m.currency,
            payment_method: m.payment_method,
            installments: m.installments,
            purchased_at: m.purchased_at,
            approved_at: m.approved_at,
            refunded_at: m.refunded_at,
            warranty_ends_at: m.warranty_ends_at,
            billet_url: m.billet_url,
            pix_code: m.pix_code,
            src: m.src,
            sck: m.sck,
            xcod: m.xcod,
            commission_type: m.commission_type,
            recurrence_number: m.recurrence_number,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[ComplexObject]
impl Transaction {
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Customer> {
        load(ctx, CustomerById(self.customer_uuid))
            .await?
            .map(Into::into)
            .ok_or(ApiError::NotFound("customer"))
    }

    async fn product(&self, ctx: &Context<'_>) -> ApiResult<Option<Product>> {
        match self.product_uuid {
            Some(id) => Ok(load(ctx, ProductById(id)).await?.map(Into::into)),
            None => Ok(None),
        }
    }
}

impl Prefetch for Transaction {
    async fn prefetch(ctx: &Context<'_>, node: &Selected<'_>, page: &[Self]) -> ApiResult<()> {
        futures::try_join!(
            prefetch(
                ctx,
                node.field("customer"),
                page.iter().map(|t| CustomerById(t.customer_uuid)),
                |_| ()
            ),
            prefetch(
                ctx,
                node.field("product"),
                page.iter().filter_map(|t| t.product_uuid.map(ProductById)),
                |_| ()
            ),
        )?;
        Ok(())
    }
}

#[derive(SimpleObject)]
pub struct Subscription {
    pub id: ID,
    pub customer_id: ID,
    pub product_id: Option<ID>,
    pub subscriber_code: String,
    pub plan_id: Option<String>,
    pub plan_name: Option<String>,
    /// A Hotmart subscription status: ACTIVE, DELAYED, CANCELLED_BY_CUSTOMER, ...
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub next_charge_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub recurring_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub recurrence_period_days: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<subscription::Model> for Subscription {
    fn from(m: subscription::Model) -> Self {
        Subscription {
            id: m.id.into(),
            customer_id: m.customer_id.into(),
            product_id: m.product_id.map(Into::into),
            subscriber_code: m.subscriber_code,
            plan_id: m.plan_id,
            plan_name: m.plan_name,
            status: m.status,
            started_at: m.started_at,
            next_charge_at: m.next_charge_at,
            cancelled_at: m.cancelled_at,
            recurring_amount: m.recurring_amount.map(entity::money::amount),
            currency: m.currency,
            recurrence_period_days: m.recurrence_period_days,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::AccessStatus")]
pub enum AccessStatus {
    Active,
    Cancelled,
    Blocked,
    Expired,
}

/// A customer's access to a product's members area.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Enrollment {
    pub id: ID,
    #[graphql(skip)]
    pub workspace_uuid: Uuid,
    #[graphql(skip)]
    pub customer_uuid: Uuid,
    #[graphql(skip)]
    pub product_uuid: Uuid,
    pub customer_id: ID,
    pub product_id: ID,
    pub transaction_id: Option<ID>,
    pub access_status: AccessStatus,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub renews_at: Option<DateTime<Utc>>,
    pub first_access_at: Option<DateTime<Utc>>,
    /// hotmart_email, whatsapp_link, ...: what brought the first access.
    pub first_access_origin: Option<String>,
    /// The latest access to the members area (a first access or a module
    /// completed).
    pub last_access_at: Option<DateTime<Utc>>,
    pub last_lesson_completed_at: Option<DateTime<Utc>>,
    /// Course progress in percent.
    pub progress: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<enrollment::Model> for Enrollment {
    fn from(m: enrollment::Model) -> Self {
        Enrollment {
            id: m.id.into(),
            workspace_uuid: m.workspace_id,
            customer_uuid: m.customer_id,
            product_uuid: m.product_id,
            customer_id: m.customer_id.into(),
            product_id: m.product_id.into(),
            transaction_id: m.transaction_id.map(Into::into),
            access_status: m.access_status.into(),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            renews_at: m.renews_at,
            first_access_at: m.first_access_at,
            first_access_origin: m.first_access_origin,
            last_access_at: m.last_access_at,
            last_lesson_completed_at: m.last_lesson_completed_at,
            progress: entity::money::at_scale(m.progress_percent, 2),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// How far the customer got in one module of the course.
#[derive(SimpleObject)]
pub struct ModuleProgress {
    pub module_id: ID,
    pub name: String,
    /// Lessons of the module (extra lessons not counted).
    pub lessons_total: i64,
    pub lessons_completed: i64,
    pub last_completed_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Enrollment {
    /// The course's modules in order, with the lessons completed of each.
    async fn modules(&self, ctx: &Context<'_>) -> ApiResult<Vec<ModuleProgress>> {
        let tenant = entity::Tenant::new(self.workspace_uuid);
        let modules = entity::enrollments::module_progress(
            db(ctx),
            tenant,
            self.customer_uuid,
            self.product_uuid,
        )
        .await?;
        Ok(modules
            .into_iter()
            .map(|m| ModuleProgress {
                module_id: m.module_id.into(),
                name: m.name,
                lessons_total: m.lessons_total as i64,
                lessons_completed: m.lessons_completed as i64,
                last_completed_at: m.last_completed_at,
            })
            .collect())
    }
}

#[derive(InputObject, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionFilter {
    pub status: Option<String>,
    pub product_id: Option<ID>,
    pub customer_id: Option<ID>,
    /// Purchased at or after.
    pub from: Option<DateTime<Utc>>,
    /// Purchased before.
    pub to: Option<DateTime<Utc>>,
}

/// The workspace's transactions a filter matches.
pub(crate) fn transactions_filtered(
    tenant: entity::Tenant,
    filter: Option<TransactionFilter>,
) -> ApiResult<sea_orm::Select<transaction::Entity>> {
    let filter = filter.unwrap_or_default();
    let mut select = tenant.select::<transaction::Entity>();
    if let Some(status) = filter.status {
        select = select.filter(transaction::Column::Status.eq(status.to_uppercase()));
    }
    if let Some(id) = &filter.product_id {
        select = select.filter(transaction::Column::ProductId.eq(parse_id(id, "productId")?));
    }
    if let Some(id) = &filter.customer_id {
        select = select.filter(transaction::Column::CustomerId.eq(parse_id(id, "customerId")?));
    }
    if let Some(from) = filter.from {
        select = select.filter(transaction::Column::PurchasedAt.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(transaction::Column::PurchasedAt.lt(to));
    }
    Ok(select)
}

#[derive(Default)]
pub struct CommerceQuery;

#[Object]
impl CommerceQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<TransactionFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Transaction, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let select = transactions_filtered(tenant, filter)?;
        paginate(ctx, select, transaction::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }
}
