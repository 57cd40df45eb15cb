//! Message templates: WhatsApp templates are mirrored from Meta
//! (`syncTemplates`), never created here; only their local enrichment, the
//! product and funnel stage, is edited (`updateMessageTemplate`).

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::background_jobs::JobRequest;
use entity::enums::Channel;
use entity::message_template;
use entity::settings::WHATSAPP_TEMPLATE_KEYS;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveEnum, ColumnTrait, QueryFilter};
use serde_json::Value;

use super::background_jobs::{BackgroundJob, submit};
use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, db, now, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

const MAX_SEARCH_LEN: usize = 200;

/// A message template of a channel; WhatsApp's are mirrored from Meta.
#[derive(SimpleObject)]
pub struct MessageTemplate {
    pub id: ID,
    /// whatsapp, email, sms, push, webhook or log.
    pub channel: String,
    /// Meta's template id (WhatsApp).
    pub provider_template_id: Option<String>,
    pub name: String,
    /// e.g. `pt_BR`.
    pub language: String,
    /// AUTHENTICATION, MARKETING or UTILITY (WhatsApp).
    pub category: Option<String>,
    /// Meta's status as last seen: APPROVED, PENDING, REJECTED, PAUSED,
    /// DISABLED, ...; DELETED when Meta no longer lists it. Only APPROVED
    /// templates can be sent.
    pub status: String,
    /// Meta's components (header, body, footer, buttons) as listed.
    pub components: Json<Value>,
    pub subject: Option<String>,
    /// The body text, with its `{{1}}` placeholders.
    pub body: Option<String>,
    /// Local enrichment: the product this template belongs to.
    pub product_id: Option<ID>,
    /// Local enrichment: the funnel stage (free text, e.g. `onboarding`).
    pub funnel: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl From<message_template::Model> for MessageTemplate {
    fn from(m: message_template::Model) -> Self {
        MessageTemplate {
            id: m.id.into(),
            channel: m.channel.to_value(),
            provider_template_id: m.provider_template_id,
            name: m.name,
            language: m.language,
            category: m.category,
            status: m.status,
            components: Json(m.components),
            subject: m.subject,
            body: m.body,
            product_id: m.product_id.map(Into::into),
            funnel: m.funnel,
            last_synced_at: m.last_synced_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct MessageTemplateFilter {
    /// whatsapp, email, sms, push, webhook or log.
    pub channel: Option<String>,
    /// e.g. APPROVED (any case).
    pub status: Option<String>,
    pub product_id: Option<ID>,
    pub funnel: Option<String>,
    /// Part of the name or the body, any case.
    pub search: Option<String>,
}

pub(crate) fn parse_channel(text: &str) -> ApiResult<Channel> {
    Channel::try_from_value(&text.trim().to_ascii_lowercase()).map_err(|_| {
        ApiError::invalid("channel must be one of whatsapp, email, sms, push, webhook, log")
    })
}

/// `name` or `body` contains `text`, ignoring case.
fn search(text: &str) -> Expr {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
    let lower = |column: message_template::Column| {
        Expr::expr(Func::lower(Expr::col((message_template::Entity, column))))
    };
    lower(message_template::Column::Name)
        .like(pattern())
        .or(lower(message_template::Column::Body).like(pattern()))
}

impl Prefetch for MessageTemplate {}

#[derive(Default)]
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// The workspace's message templates, newest first.
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn message_templates(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<MessageTemplateFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, MessageTemplate, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let filter = filter.unwrap_or_default();
        let mut select = tenant.select::<message_template::Entity>();
        if let Some(channel) = filter.channel.as_deref() {
            select = select.filter(message_template::Column::Channel.eq(parse_channel(channel)?));
        }
        if let Some(status) = filter.status.as_deref().map(str::trim) {
            select =
                select.filter(message_template::Column::Status.eq(status.to_ascii_uppercase()));
        }
        if let Some(product) = &filter.product_id {
            select = select
                .filter(message_template::Column::ProductId.eq(parse_id(product, "productId")?));
        }
        if let Some(funnel) = filter.funnel.as_deref().map(str::trim) {
            select = select.filter(message_template::Column::Funnel.eq(funnel));
        }
        if let Some(text) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if text.chars().count() > MAX_SEARCH_LEN {
                return Err(ApiError::invalid(format!(
                    "search is at most {MAX_SEARCH_LEN} characters"
                )));
            }
            select = select.filter(search(text));
        }
        paginate(
            ctx,
            select,
            message_template::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }
}

#[derive(Default)]
pub struct TemplateMutation;

#[Object]
impl TemplateMutation {
    /// Queues mirroring every template of the WhatsApp Business Account
    /// from Meta (settings `whatsapp.token`, `whatsapp.waba_id`, optional
    /// `whatsapp.base_url`): local enrichment is kept and templates Meta no
    /// longer lists become DELETED. Answers at once with the job; missing
    /// settings are INVALID_INPUT naming them. The job's `result` lists the
    /// mirrored templates in Meta's order; Meta refusing the credentials
    /// fails it with INVALID_INPUT, Meta busy or unreachable with CONFLICT
    /// (ask again later).
    #[graphql(guard = "Access::Write")]
    async fn sync_templates(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
    ) -> ApiResult<BackgroundJob> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let request = JobRequest::TemplateSync;
        submit(ctx, tenant, WHATSAPP_TEMPLATE_KEYS, "WhatsApp", request).await
    }

    /// Sets a template's local enrichment: an omitted argument is kept, null
    /// clears it. The product must be this workspace's.
    #[graphql(guard = "Access::Write")]
    async fn update_message_template(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        product_id: MaybeUndefined<ID>,
        funnel: MaybeUndefined<String>,
    ) -> ApiResult<MessageTemplate> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let id = parse_id(&id, "id")?;
        let current = tenant
            .get::<message_template::Entity, _>(db(ctx), id)
            .await?;
        let product_id = match product_id {
            MaybeUndefined::Undefined => current.product_id,
            MaybeUndefined::Null => None,
            MaybeUndefined::Value(product) => Some(parse_id(&product, "productId")?),
        };
        let funnel = match funnel {
            MaybeUndefined::Undefined => current.funnel,
            MaybeUndefined::Null => None,
            MaybeUndefined::Value(funnel) => Some(funnel),
        };
        let updated =
            entity::templates::set_enrichment(db(ctx), tenant, id, product_id, funnel, now(ctx))
                .await?;
        Ok(updated.into())
    }
}
