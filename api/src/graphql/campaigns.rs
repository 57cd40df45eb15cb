use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::campaign;
use entity::campaigns::{self as journeys, CampaignChanges, NewCampaign};
use entity::enums::CampaignStatus as StoredStatus;
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::Value;

use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, caller, db, now, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::CampaignStatus")]
pub enum CampaignStatus {
    Draft,
    Active,
    Paused,
    Completed,
}

/// A journey drawn in the React Flow builder.
#[derive(SimpleObject)]
pub struct Campaign {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub status: CampaignStatus,
    /// The React Flow document exactly as it was saved.
    pub workflow_data: Json<Value>,
    pub created_by: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// What counts as a recipient's conversion; without a goal nobody converts.
    pub goal: Option<CampaignGoal>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A recipient converts when the domain event `event` happens to them (for
/// `productId`, when set) within `withinDays` after the campaign messaged
/// them, or after they entered if it never did. A purchase's amount is the
/// revenue attributed.
#[derive(SimpleObject)]
pub struct CampaignGoal {
    /// A domain event name, e.g. `purchase_approved`.
    pub event: String,
    pub product_id: Option<ID>,
    pub within_days: i32,
}

impl From<journeys::CampaignGoal> for CampaignGoal {
    fn from(goal: journeys::CampaignGoal) -> Self {
        CampaignGoal {
            event: goal.event,
            product_id: goal.product_id.map(Into::into),
            within_days: goal.within_days as i32,
        }
    }
}

#[derive(InputObject)]
pub struct CampaignGoalInput {
    /// A domain event name, e.g. `purchase_approved`.
    pub event: String,
    pub product_id: Option<ID>,
    /// 1 to 365.
    pub within_days: i32,
}

impl CampaignGoalInput {
    fn checked(self) -> ApiResult<journeys::CampaignGoal> {
        if workflow::DomainEventType::parse(&self.event).is_none() {
            return Err(ApiError::invalid(format!(
                "goal.event must be one of {}",
                workflow::DomainEventType::names()
            )));
        }
        let within_days = u32::try_from(self.within_days)
            .map_err(|_| ApiError::invalid("goal.withinDays must be 1 to 365"))?;
        Ok(journeys::CampaignGoal {
            event: self.event,
            product_id: self
                .product_id
                .as_ref()
                .map(|id| parse_id(id, "goal.productId"))
                .transpose()?,
            within_days,
        })
    }
}

impl TryFrom<campaign::Model> for Campaign {
    type Error = ApiError;

    fn try_from(m: campaign::Model) -> ApiResult<Self> {
        Ok(Campaign {
            id: m.id.into(),
            workflow_data: Json(journeys::workflow_document(&m)?),
            goal: journeys::CampaignGoal::of(&m).map(Into::into),
            name: m.name,
            description: m.description,
            status: m.status.into(),
            created_by: m.created_by,
            scheduled_at: m.scheduled_at,
            started_at: m.started_at,
            completed_at: m.completed_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

#[derive(InputObject, Default)]
pub struct CampaignFilter {
    pub status: Option<CampaignStatus>,
}

#[derive(InputObject)]
pub struct CreateCampaignInput {
    pub name: String,
    pub description: Option<String>,
    /// A React Flow document `{"nodes": [...], "edges": [...]}`; stored verbatim.
    pub workflow_data: Option<Json<Value>>,
    pub goal: Option<CampaignGoalInput>,
}

#[derive(InputObject)]
pub struct UpdateCampaignInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    pub workflow_data: Option<Json<Value>>,
    /// `null` removes the goal.
    pub goal: MaybeUndefined<CampaignGoalInput>,
}

/// A document must at least be a React Flow graph to be saved; whether it is
/// a valid journey is `validateWorkflow`'s question, asked before publishing.
fn checked_graph(document: Value) -> ApiResult<Value> {
    workflow::Graph::from_value(&document).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(document)
}

impl Prefetch for Campaign {}

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<CampaignFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Campaign, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let mut select = tenant.select::<campaign::Entity>();
        if let Some(status) = filter.and_then(|f| f.status) {
            select = select.filter(campaign::Column::Status.eq(StoredStatus::from(status)));
        }
        paginate(ctx, select, campaign::Column::Id, first, after, |m| {
            Ok((m.id, m.try_into()?))
        })
        .await
    }

    #[graphql(guard = "Access::Read")]
    async fn campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        tenant
            .get::<campaign::Entity, _>(db(ctx), parse_id(&id, "id")?)
            .await?
            .try_into()
    }
}

#[derive(Default)]
pub struct CampaignMutation;

#[Object]
impl CampaignMutation {
    #[graphql(guard = "Access::Write")]
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        input: CreateCampaignInput,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let new = NewCampaign {
            name: input.name,
            description: input.description,
            workflow_data: input
                .workflow_data
                .map(|Json(v)| checked_graph(v))
                .transpose()?,
            created_by: Some(caller(ctx).actor()),
            goal: input.goal.map(CampaignGoalInput::checked).transpose()?,
        };
        journeys::create(db(ctx), tenant, new, now(ctx))
            .await?
            .try_into()
    }

    /// Edits a campaign. Executions already running keep the version they started with.
    #[graphql(guard = "Access::Write")]
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        input: UpdateCampaignInput,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let changes = CampaignChanges {
            name: input.name,
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            workflow_data: input
                .workflow_data
                .map(|Json(v)| checked_graph(v))
                .transpose()?,
            goal: match input.goal {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(goal) => Some(Some(goal.checked()?)),
            },
        };
        journeys::update(db(ctx), tenant, parse_id(&id, "id")?, changes, now(ctx))
            .await?
            .try_into()
    }

    /// Deletes a campaign that is not active, returning it as it was.
    #[graphql(guard = "Access::Write")]
    async fn delete_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        journeys::delete(db(ctx), tenant, parse_id(&id, "id")?)
            .await?
            .try_into()
    }
}
