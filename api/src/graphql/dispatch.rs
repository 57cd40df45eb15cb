//! Hybrid control: the queue of suggested messages a CS person decides on.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::dispatch_item;
use entity::entities::enums::DispatchStatus as StoredStatus;
use entity::{Tenant, dispatch};
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::Value;

use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, app, caller, db, now, parse_id, tenant};
use crate::error::ApiResult;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::DispatchStatus")]
pub enum DispatchStatus {
    Pending,
    Approved,
    Rejected,
    Sent,
    Error,
    Expired,
}

/// A suggested message (or approval gate) waiting for a person's decision.
#[derive(SimpleObject)]
pub struct DispatchItem {
    pub id: ID,
    pub customer_id: ID,
    pub campaign_recipient_id: Option<ID>,
    pub node_id: Option<String>,
    pub channel: String,
    /// What would be sent.
    pub content: Json<Value>,
    pub reason: String,
    /// The customer at suggestion time: LTV, churn risk, segment, last activity.
    pub context: Json<Value>,
    pub status: DispatchStatus,
    pub suggested_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub rejection_reason: Option<String>,
    pub edited_content: Option<Json<Value>>,
}

impl From<dispatch_item::Model> for DispatchItem {
    fn from(m: dispatch_item::Model) -> Self {
        DispatchItem {
            id: m.id.into(),
            customer_id: m.customer_id.into(),
            campaign_recipient_id: m.campaign_recipient_id.map(Into::into),
            node_id: m.node_id,
            channel: sea_orm::ActiveEnum::to_value(&m.channel),
            content: Json(m.variables),
            reason: m.reason,
            context: Json(m.context),
            status: m.status.into(),
            suggested_at: m.suggested_at,
            expires_at: m.expires_at,
            decided_at: m.decided_at,
            decided_by: m.decided_by,
            rejection_reason: m.rejection_reason,
            edited_content: m.edited_content.map(Json),
        }
    }
}

#[derive(InputObject, Default, Clone)]
pub struct DispatchFilter {
    pub status: Option<DispatchStatus>,
}

impl Prefetch for DispatchItem {}

/// The workspace's dispatch items that `filter` matches, unordered: what
/// `dispatchQueue` lists and `dispatchQueueChanged` watches.
pub(crate) fn filtered(
    tenant: Tenant,
    filter: Option<DispatchFilter>,
) -> sea_orm::Select<dispatch_item::Entity> {
    let mut select = tenant.select::<dispatch_item::Entity>();
    let Some(filter) = filter else {
        return select;
    };
    if let Some(status) = filter.status {
        select = select.filter(dispatch_item::Column::Status.eq(StoredStatus::from(status)));
    }
    select
}

#[derive(Default)]
pub struct DispatchQuery;

#[Object]
impl DispatchQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn dispatch_queue(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<DispatchFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, DispatchItem, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let select = filtered(tenant, filter);
        paginate(ctx, select, dispatch_item::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }
}

#[derive(Default)]
pub struct DispatchMutation;

#[Object]
impl DispatchMutation {
    /// Approves pending items (up to 500 at once); their recipients move on.
    #[graphql(guard = "Access::Write")]
    async fn approve_dispatches(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        ids: Vec<ID>,
    ) -> ApiResult<Vec<DispatchItem>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let ids = ids
            .iter()
            .map(|id| parse_id(id, "ids"))
            .collect::<ApiResult<Vec<_>>>()?;
        let decision = dispatch::Decision {
            status: StoredStatus::Approved,
            actor: &caller(ctx).actor(),
            reason: None,
            edited: None,
        };
        let decided = dispatch::decide(db(ctx), tenant, &ids, decision, now(ctx)).await?;
        app(ctx).work_signals.campaign_work_stored();
        app(ctx)
            .work_signals
            .workspace_changed(tenant.workspace_id());
        Ok(decided.into_iter().map(Into::into).collect())
    }

    /// Rejects pending items (up to 500 at once); their recipients take the rejected branch.
    #[graphql(guard = "Access::Write")]
    async fn reject_dispatches(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        ids: Vec<ID>,
        reason: Option<String>,
    ) -> ApiResult<Vec<DispatchItem>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let ids = ids
            .iter()
            .map(|id| parse_id(id, "ids"))
            .collect::<ApiResult<Vec<_>>>()?;
        let reason = reason.map(|r| r.chars().take(1000).collect());
        let decision = dispatch::Decision {
            status: StoredStatus::Rejected,
            actor: &caller(ctx).actor(),
            reason,
            edited: None,
        };
        let decided = dispatch::decide(db(ctx), tenant, &ids, decision, now(ctx)).await?;
        app(ctx).work_signals.campaign_work_stored();
        app(ctx)
            .work_signals
            .workspace_changed(tenant.workspace_id());
        Ok(decided.into_iter().map(Into::into).collect())
    }
}
