//! Validating, publishing and running campaigns, and what their runs did.

use std::collections::HashSet;

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::entities::enums::Channel as StoredChannel;
use entity::executions as runs;
use entity::{
    campaign, campaign_execution, campaign_recipient, message_template, target_group_mapping,
};
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;
use workflow::{
    Graph, NodeData, TemplateCatalog, TemplateEntry, TemplateStatus, ValidationContext,
    ValidationError,
};

use super::campaigns::Campaign;
use super::connection::{Prefetch, Selected, Totals, cost, paginate};
use super::customers::Customer;
use super::loaders::{CustomerById, load, prefetch};
use super::scope::{Access, app, caller, db, now, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

/// One problem of a campaign graph, placed on a node (or edge) for the builder.
#[derive(SimpleObject)]
pub struct WorkflowError {
    pub node_id: Option<String>,
    pub edge_id: Option<String>,
    /// Stable: missing_trigger, dangling_edge, unconnected_handle, template_not_approved, ...
    pub code: String,
    pub message: String,
}

impl From<ValidationError> for WorkflowError {
    fn from(e: ValidationError) -> Self {
        WorkflowError {
            node_id: e.node_id,
            edge_id: e.edge_id,
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::ExecutionStatus")]
pub enum ExecutionStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::ExecutionType")]
pub enum ExecutionType {
    Manual,
    Scheduled,
    Triggered,
}

/// One run of a published campaign version.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CampaignExecution {
    pub id: ID,
    #[graphql(skip)]
    pub uuid: Uuid,
    pub campaign_id: ID,
    pub version_id: ID,
    pub target_group_id: Option<ID>,
    pub execution_type: ExecutionType,
    pub status: ExecutionStatus,
    pub execution_data: Json<Value>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<campaign_execution::Model> for CampaignExecution {
    fn from(m: campaign_execution::Model) -> Self {
        CampaignExecution {
            id: m.id.into(),
            uuid: m.id,
            campaign_id: m.campaign_id.into(),
            version_id: m.version_id.into(),
            target_group_id: m.target_group_id.map(Into::into),
            execution_type: m.execution_type.into(),
            status: m.status.into(),
            execution_data: Json(m.execution_data),
            started_at: m.started_at,
            completed_at: m.completed_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct RecipientFilter {
    /// active, waiting, completed, failed, unknown, cancelled.
    pub status: Option<String>,
}

#[ComplexObject]
impl CampaignExecution {
    /// entered, sent, delivered, read, clicked, failed, converted, unknown,
    /// and the same per node under `nodes`.
    async fn metrics(&self, ctx: &Context<'_>) -> ApiResult<Json<Value>> {
        Ok(Json(runs::metrics(db(ctx), self.uuid).await?))
    }

    #[graphql(complexity = "cost(first, child_complexity)")]
    async fn recipients(
        &self,
        ctx: &Context<'_>,
        filter: Option<RecipientFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, CampaignRecipient, Totals>> {
        let mut select = campaign_recipient::Entity::find()
            .filter(campaign_recipient::Column::ExecutionId.eq(self.uuid));
        if let Some(status) = filter.and_then(|f| f.status) {
            select = select.filter(campaign_recipient::Column::Status.eq(status.to_lowercase()));
        }
        paginate(
            ctx,
            select,
            campaign_recipient::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }
}

use sea_orm::EntityTrait;

/// A customer's journey through one execution.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CampaignRecipient {
    pub id: ID,
    #[graphql(skip)]
    pub customer_uuid: Uuid,
    pub status: String,
    pub current_node_id: Option<String>,
    pub wake_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// What the event that started this journey was about: `event`,
    /// `transaction`, `productId`, `productName`, `offerCode`,
    /// `subscriberCode` (those it named); null unless an event started it.
    pub entry_key: Option<Json<Value>>,
}

impl From<campaign_recipient::Model> for CampaignRecipient {
    fn from(m: campaign_recipient::Model) -> Self {
        CampaignRecipient {
            id: m.id.into(),
            customer_uuid: m.customer_id,
            status: m.status,
            current_node_id: m.current_node_id,
            wake_at: m.wake_at,
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            opened_at: m.opened_at,
            clicked_at: m.clicked_at,
            converted_at: m.converted_at,
            error: m.error,
            entry_key: m.entry_key.map(Json),
        }
    }
}

impl Prefetch for CampaignRecipient {
    async fn prefetch(ctx: &Context<'_>, node: &Selected<'_>, page: &[Self]) -> ApiResult<()> {
        prefetch(
            ctx,
            node.field("customer"),
            page.iter().map(|r| CustomerById(r.customer_uuid)),
            |_| (),
        )
        .await
    }
}

#[ComplexObject]
impl CampaignRecipient {
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Customer> {
        load(ctx, CustomerById(self.customer_uuid))
            .await?
            .map(Into::into)
            .ok_or(ApiError::NotFound("customer"))
    }
}

fn workflow_channel(channel: StoredChannel) -> workflow::Channel {
    match channel {
        StoredChannel::Whatsapp => workflow::Channel::Whatsapp,
        StoredChannel::Email => workflow::Channel::Email,
        StoredChannel::Sms => workflow::Channel::Sms,
        StoredChannel::Push => workflow::Channel::Push,
        StoredChannel::Webhook => workflow::Channel::Webhook,
        StoredChannel::Log => workflow::Channel::Log,
    }
}

/// The workspace's templates, as validation reads them.
async fn template_catalog(
    db: &DatabaseConnection,
    tenant: entity::Tenant,
) -> ApiResult<TemplateCatalog> {
    let entries = tenant
        .select::<message_template::Entity>()
        .all(db)
        .await?
        .into_iter()
        .map(|t| TemplateEntry {
            dynamic_url_buttons: TemplateEntry::dynamic_url_buttons_of(&t.components),
            body_parameters: TemplateEntry::body_parameters_of(&t.components),
            id: t.id.to_string(),
            provider_id: t.provider_template_id,
            channel: workflow_channel(t.channel),
            name: t.name,
            language: t.language,
            status: TemplateStatus::parse(&t.status),
        })
        .collect();
    Ok(TemplateCatalog::new(entries))
}

async fn problems(
    db: &DatabaseConnection,
    tenant: entity::Tenant,
    document: &Value,
) -> ApiResult<Vec<ValidationError>> {
    let graph = Graph::from_value(document).map_err(|e| ApiError::invalid(e.to_string()))?;
    let catalog = template_catalog(db, tenant).await?;
    // The products a trigger filters on, those of them the workspace has.
    let named = match graph.trigger().map(|t| t.typed_data()) {
        Some(Ok(NodeData::Trigger(trigger))) => trigger.product_ids,
        _ => Vec::new(),
    };
    let products: HashSet<Uuid> = entity::catalog::product_names(db, tenant, &named)
        .await?
        .into_keys()
        .collect();
    Ok(workflow::validate(
        &graph,
        &ValidationContext::new(&catalog).with_products(&products),
    ))
}

impl Prefetch for CampaignExecution {}

#[derive(Default)]
pub struct ExecutionQuery;

#[Object]
impl ExecutionQuery {
    /// Every problem of a React Flow document, by node; empty means publishable.
    #[graphql(guard = "Access::Read")]
    async fn validate_workflow(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        workflow_data: Json<Value>,
    ) -> ApiResult<Vec<WorkflowError>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        Ok(problems(db(ctx), tenant, &workflow_data.0)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn campaign_executions(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        campaign_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, CampaignExecution, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let campaign_id = parse_id(&campaign_id, "campaignId")?;
        tenant
            .get::<campaign::Entity, _>(db(ctx), campaign_id)
            .await?;
        let select = tenant
            .select::<campaign_execution::Entity>()
            .filter(campaign_execution::Column::CampaignId.eq(campaign_id));
        paginate(
            ctx,
            select,
            campaign_execution::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }

    #[graphql(guard = "Access::Read")]
    async fn campaign_execution(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<CampaignExecution> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        Ok(tenant
            .get::<campaign_execution::Entity, _>(db(ctx), parse_id(&id, "id")?)
            .await?
            .into())
    }

    /// Every execution's metrics added up, in total and per node.
    #[graphql(guard = "Access::Read")]
    async fn campaign_metrics(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        campaign_id: ID,
    ) -> ApiResult<Json<Value>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let campaign_id = parse_id(&campaign_id, "campaignId")?;
        tenant
            .get::<campaign::Entity, _>(db(ctx), campaign_id)
            .await?;
        Ok(Json(campaign_metrics(db(ctx), tenant, campaign_id).await?))
    }
}

/// A campaign's executions' metrics added up: what `campaignMetrics` returns
/// and `campaignMetricsChanged` sends.
pub(crate) async fn campaign_metrics(
    db: &DatabaseConnection,
    tenant: Tenant,
    campaign_id: Uuid,
) -> ApiResult<Value> {
    let executions = tenant
        .select::<campaign_execution::Entity>()
        .filter(campaign_execution::Column::CampaignId.eq(campaign_id))
        .all(db)
        .await?;
    let mut total = json!({});
    for execution in executions {
        add_metrics(&mut total, &runs::metrics(db, execution.id).await?);
    }
    Ok(total)
}

/// Adds every number of `more` into `total`, recursively; amounts (decimal
/// strings) add up as decimals.
fn add_metrics(total: &mut Value, more: &Value) {
    match (total, more) {
        (Value::Object(total), Value::Object(more)) => {
            for (key, value) in more {
                add_metrics(total.entry(key.clone()).or_insert(json!(0)), value);
            }
        }
        (total @ Value::Number(_), Value::Number(more)) => {
            *total = json!(total.as_u64().unwrap_or(0) + more.as_u64().unwrap_or(0));
        }
        (Value::String(sum), Value::String(more)) => {
            if let (Ok(a), Ok(b)) = (
                sum.parse::<rust_decimal::Decimal>(),
                more.parse::<rust_decimal::Decimal>(),
            ) {
                *sum = entity::money::amount(a + b).to_string();
            }
        }
        (total, more) => {
            if total.as_u64() == Some(0) {
                *total = more.clone();
            }
        }
    }
}

#[derive(Default)]
pub struct ExecutionMutation;

#[Object]
impl ExecutionMutation {
    /// Validates the campaign's graph, snapshots it as a new version and makes
    /// the campaign active. Problems come back as INVALID_INPUT; ask
    /// `validateWorkflow` for them by node.
    #[graphql(guard = "Access::Write")]
    async fn publish_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let id = parse_id(&id, "id")?;
        let current = tenant.get::<campaign::Entity, _>(db(ctx), id).await?;
        let document = entity::campaigns::workflow_document(&current)?;
        let found = problems(db(ctx), tenant, &document).await?;
        if !found.is_empty() {
            let summary: Vec<String> = found
                .iter()
                .take(5)
                .map(|p| format!("{} ({})", p.code, p.node_id.as_deref().unwrap_or("graph")))
                .collect();
            return Err(ApiError::invalid(format!(
                "the campaign has {} problem(s): {}",
                found.len(),
                summary.join(", ")
            )));
        }
        let (campaign, _) =
            runs::publish(db(ctx), tenant, id, &caller(ctx).actor(), now(ctx)).await?;
        campaign.try_into()
    }

    /// Stops sends at once; recipients stay where they are.
    #[graphql(guard = "Access::Write")]
    async fn pause_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        runs::set_running(db(ctx), tenant, parse_id(&id, "id")?, false, now(ctx))
            .await?
            .try_into()
    }

    /// Picks up where pausing left off; nothing already sent is sent again.
    #[graphql(guard = "Access::Write")]
    async fn resume_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Campaign> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let resumed =
            runs::set_running(db(ctx), tenant, parse_id(&id, "id")?, true, now(ctx)).await?;
        app(ctx).work_signals.campaign_work_stored();
        resumed.try_into()
    }

    /// Runs the published campaign over a target group's customers.
    #[graphql(guard = "Access::Write")]
    async fn run_campaign(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        target_group_id: ID,
    ) -> ApiResult<CampaignExecution> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let campaign_id = parse_id(&id, "id")?;
        let group = tenant
            .get::<target_group_mapping::Entity, _>(
                db(ctx),
                parse_id(&target_group_id, "targetGroupId")?,
            )
            .await?;
        let version = runs::latest_version(db(ctx), tenant, campaign_id)
            .await?
            .ok_or_else(|| ApiError::Conflict("publish the campaign before running it".into()))?;
        let document: Value = serde_json::from_str(&version.workflow_data)
            .map_err(|e| ApiError::Internal(std::sync::Arc::new(e)))?;
        let graph = Graph::from_value(&document).map_err(|e| ApiError::invalid(e.to_string()))?;
        let entry = graph
            .trigger()
            .map(|n| n.id.clone())
            .ok_or_else(|| ApiError::invalid("the campaign has no trigger"))?;
        let run = runs::Run {
            execution_type: entity::enums::ExecutionType::Manual,
            start_node: &entry,
            scheduled_for: None,
        };
        let (execution, _) =
            runs::start(db(ctx), tenant, campaign_id, Some(&group), run, now(ctx)).await?;
        app(ctx).work_signals.campaign_work_stored();
        Ok(execution.into())
    }
}
