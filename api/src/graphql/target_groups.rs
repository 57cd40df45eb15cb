use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::target_group_mapping;
use entity::target_groups::{self, TargetGroupChanges, TargetGroupDraft};
use serde_json::Value;

use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, db, now, parse_id, tenant};
use crate::error::ApiResult;

/// A named audience: customers drawn from an allowlisted relation by a filter.
#[derive(SimpleObject)]
pub struct TargetGroupMapping {
    pub id: ID,
    pub crm_name: String,
    /// One of: customers, enrollments, transactions, subscriptions.
    pub source: String,
    /// `{"combinator": "and", "rules": [{"field", "op", "value"}]}`, or null for all.
    pub filter: Option<Json<Value>>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<target_group_mapping::Model> for TargetGroupMapping {
    fn from(m: target_group_mapping::Model) -> Self {
        TargetGroupMapping {
            id: m.id.into(),
            crm_name: m.crm_name,
            source: m.source,
            filter: m.filter.map(Json),
            description: m.description,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateTargetGroupMappingInput {
    pub crm_name: String,
    pub source: String,
    pub filter: Option<Json<Value>>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateTargetGroupMappingInput {
    pub crm_name: Option<String>,
    pub source: Option<String>,
    pub filter: MaybeUndefined<Json<Value>>,
    pub description: MaybeUndefined<String>,
}

impl Prefetch for TargetGroupMapping {}

#[derive(Default)]
pub struct TargetGroupQuery;

#[Object]
impl TargetGroupQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn target_group_mappings(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, TargetGroupMapping, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let select = tenant.select::<target_group_mapping::Entity>();
        paginate(
            ctx,
            select,
            target_group_mapping::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }

    #[graphql(guard = "Access::Read")]
    async fn target_group_mapping(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<TargetGroupMapping> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        Ok(tenant
            .get::<target_group_mapping::Entity, _>(db(ctx), parse_id(&id, "id")?)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct TargetGroupMutation;

#[Object]
impl TargetGroupMutation {
    #[graphql(guard = "Access::Write")]
    async fn create_target_group_mapping(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        input: CreateTargetGroupMappingInput,
    ) -> ApiResult<TargetGroupMapping> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let draft = TargetGroupDraft {
            crm_name: input.crm_name,
            source: input.source,
            filter: input.filter.map(|Json(v)| v),
            description: input.description,
        };
        Ok(target_groups::create(db(ctx), tenant, draft, now(ctx))
            .await?
            .into())
    }

    #[graphql(guard = "Access::Write")]
    async fn update_target_group_mapping(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        input: UpdateTargetGroupMappingInput,
    ) -> ApiResult<TargetGroupMapping> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let changes = TargetGroupChanges {
            crm_name: input.crm_name,
            source: input.source,
            filter: match input.filter {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(Json(v)) => Some(Some(v)),
            },
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
        };
        Ok(
            target_groups::update(db(ctx), tenant, parse_id(&id, "id")?, changes, now(ctx))
                .await?
                .into(),
        )
    }

    /// Deletes a target group, returning it as it was.
    #[graphql(guard = "Access::Write")]
    async fn delete_target_group_mapping(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<TargetGroupMapping> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        Ok(target_groups::delete(db(ctx), tenant, parse_id(&id, "id")?)
            .await?
            .into())
    }
}
