use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::workspace;
use sea_orm::EntityTrait;

use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, db, now, tenant};
use crate::error::{ApiError, ApiResult};

/// One producer (client) served by the platform; everything else belongs to one.
#[derive(SimpleObject)]
pub struct Workspace {
    pub id: ID,
    pub name: String,
    pub slug: String,
    /// IANA time zone used for quiet hours and `delay.until`.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<workspace::Model> for Workspace {
    fn from(m: workspace::Model) -> Self {
        Workspace {
            id: m.id.into(),
            name: m.name,
            slug: m.slug,
            time_zone: m.time_zone,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateWorkspaceInput {
    pub name: String,
    pub slug: String,
    /// Defaults to America/Sao_Paulo.
    pub time_zone: Option<String>,
}

impl Prefetch for Workspace {}

#[derive(Default)]
pub struct WorkspaceQuery;

#[Object]
impl WorkspaceQuery {
    /// Every workspace (service_role only).
    #[graphql(
        guard = "Access::Service",
        complexity = "cost(first, child_complexity)"
    )]
    async fn workspaces(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Workspace, Totals>> {
        paginate(
            ctx,
            workspace::Entity::find(),
            workspace::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }

    /// The caller's workspace, or the one a service_role caller names.
    #[graphql(guard = "Access::Read")]
    async fn workspace(&self, ctx: &Context<'_>, id: Option<ID>) -> ApiResult<Workspace> {
        let tenant = tenant(ctx, id.as_ref(), Access::Read).await?;
        workspace::Entity::find_by_id(tenant.workspace_id())
            .one(db(ctx))
            .await?
            .map(Into::into)
            .ok_or(ApiError::NotFound("workspace"))
    }
}

#[derive(Default)]
pub struct WorkspaceMutation;

#[Object]
impl WorkspaceMutation {
    /// Creates a workspace (service_role only).
    #[graphql(guard = "Access::Service")]
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkspaceInput,
    ) -> ApiResult<Workspace> {
        let created = entity::workspaces::create(
            db(ctx),
            &input.name,
            &input.slug,
            input.time_zone.as_deref(),
            now(ctx),
        )
        .await?;
        Ok(created.into())
    }
}
