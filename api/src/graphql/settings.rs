use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::setting;
use entity::settings::{self as config, MASK};

use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, app, db, now, tenant};
use crate::error::ApiResult;

/// A workspace setting. Values are encrypted at rest and write-only: reads
/// always show a mask.
#[derive(SimpleObject)]
pub struct Setting {
    pub id: ID,
    pub key: String,
    /// Always masked; the stored value never leaves the server.
    pub value: String,
    pub description: Option<String>,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<setting::Model> for Setting {
    fn from(m: setting::Model) -> Self {
        Setting {
            id: m.id.into(),
            key: m.key,
            value: MASK.to_owned(),
            description: m.description,
            active: m.active,
            updated_at: m.updated_at,
        }
    }
}

impl Prefetch for Setting {}

#[derive(Default)]
pub struct SettingQuery;

#[Object]
impl SettingQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn settings(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Setting, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        paginate(
            ctx,
            tenant.select::<setting::Entity>(),
            setting::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }
}

#[derive(Default)]
pub struct SettingMutation;

#[Object]
impl SettingMutation {
    /// Creates or replaces a setting such as `hotmart.hottok`.
    #[graphql(guard = "Access::Write")]
    async fn set_setting(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        key: String,
        value: String,
        description: Option<String>,
    ) -> ApiResult<Setting> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        Ok(config::set(
            db(ctx),
            tenant,
            &app(ctx).secrets,
            &key,
            &value,
            description,
            now(ctx),
        )
        .await?
        .into())
    }

    /// Removes a setting, returning it (masked) as it was.
    #[graphql(guard = "Access::Write")]
    async fn delete_setting(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        key: String,
    ) -> ApiResult<Setting> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        Ok(config::delete(db(ctx), tenant, &key).await?.into())
    }
}
