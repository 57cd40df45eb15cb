//! Automation rules: the CS flows that run themselves. Built-ins come with
//! every workspace; people add, change, deactivate and run their own.

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::automation::{self, RuleFields};
use entity::background_jobs::JobRequest;
use entity::entities::enums::RuleMode;
use entity::entities::{automation_rule, campaign, message_template, product};
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::{Value, json};
use workflow::automation::{Action, Mode, StoredRule, Trigger};

use super::background_jobs::{BackgroundJob, submit};
use super::campaigns::Campaign;
use super::catalog::Product;
use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, db, now, parse_id, tenant};
use super::templates::MessageTemplate;
use crate::error::{ApiError, ApiResult};

mod problems;
mod vocabulary;

pub use problems::RuleProblem;
use problems::problems;
pub use vocabulary::{AutomationAction, AutomationActionType, AutomationMode, AutomationTrigger};

/// A rule that turns a trigger into a suggestion or an automatic send.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AutomationRule {
    pub id: ID,
    /// Set for built-in rules (`welcome`, `access_rescue`, …).
    pub key: Option<String>,
    pub name: String,
    pub trigger: Option<AutomationTrigger>,
    /// The trigger's parameters: `hours`, `days`, `maxProgress`.
    pub params: Json<Value>,
    /// The `condition` node's rules, over the customer, the enrolment and the event.
    pub conditions: Json<Value>,
    pub actions: Vec<AutomationAction>,
    pub mode: AutomationMode,
    pub active: bool,
    pub cooldown_days: i32,
    pub expires_after_hours: i32,
    /// A scan's cron (sec min hour day month weekday), in the workspace's time zone.
    pub schedule: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub model: automation_rule::Model,
}

impl From<automation_rule::Model> for AutomationRule {
    fn from(m: automation_rule::Model) -> Self {
        AutomationRule {
            id: m.id.into(),
            key: m.builtin_key.clone(),
            name: m.name.clone(),
            trigger: AutomationTrigger::of_stored(&m.trigger),
            params: Json(m.params.clone()),
            conditions: Json(m.conditions.clone()),
            actions: m
                .actions
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(AutomationAction::from_json)
                .collect(),
            mode: m.mode.into(),
            active: m.active,
            cooldown_days: m.cooldown_days,
            expires_after_hours: m.expires_after_hours,
            schedule: m.schedule.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            model: m,
        }
    }
}

impl Prefetch for AutomationRule {}

#[ComplexObject]
impl AutomationRule {
    /// The products it is limited to (none: every monitored product).
    async fn products(&self, ctx: &Context<'_>) -> ApiResult<Vec<Product>> {
        let ids = automation::product_ids(&self.model);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(Tenant::new(self.model.workspace_id)
            .select::<product::Entity>()
            .filter(product::Column::Id.is_in(ids))
            .all(db(ctx))
            .await
            .map_err(entity::Error::from)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The mirrored WhatsApp template its message names (none until mirrored).
    async fn template(&self, ctx: &Context<'_>) -> ApiResult<Option<MessageTemplate>> {
        let Some(id) = self.model.template_id else {
            return Ok(None);
        };
        Ok(Tenant::new(self.model.workspace_id)
            .select::<message_template::Entity>()
            .filter(message_template::Column::Id.eq(id))
            .one(db(ctx))
            .await
            .map_err(entity::Error::from)?
            .map(Into::into))
    }

    /// The campaign it starts.
    async fn campaign(&self, ctx: &Context<'_>) -> ApiResult<Option<Campaign>> {
        let Some(id) = self.model.campaign_id else {
            return Ok(None);
        };
        Tenant::new(self.model.workspace_id)
            .select::<campaign::Entity>()
            .filter(campaign::Column::Id.eq(id))
            .one(db(ctx))
            .await
            .map_err(entity::Error::from)?
            .map(Campaign::try_from)
            .transpose()
    }

    /// What keeps it from working: its template not approved at Meta, its
    /// channel without credentials, its campaign not active.
    async fn problems(&self, ctx: &Context<'_>) -> ApiResult<Vec<RuleProblem>> {
        Ok(problems(db(ctx), &self.model).await?)
    }
}

#[derive(InputObject, Default)]
pub struct AutomationRuleFilter {
    pub trigger: Option<AutomationTrigger>,
    pub mode: Option<AutomationMode>,
    pub active: Option<bool>,
    /// Rules acting on this product (those limited to it and those for every product).
    pub product_id: Option<ID>,
}

/// A rule as written; on update, what is left out stays as it is.
#[derive(InputObject, Default)]
pub struct AutomationRuleInput {
    pub name: Option<String>,
    pub trigger: Option<AutomationTrigger>,
    pub mode: Option<AutomationMode>,
    pub params: Option<Json<Value>>,
    pub conditions: Option<Json<Value>>,
    pub actions: Option<Vec<AutomationAction>>,
    pub product_ids: Option<Vec<ID>>,
    pub cooldown_days: Option<i32>,
    pub expires_after_hours: Option<i32>,
    pub schedule: Option<String>,
    pub active: Option<bool>,
}

impl AutomationRuleInput {
    /// `base` changed by what the input sets.
    fn over(self, base: RuleFields) -> ApiResult<RuleFields> {
        let product_ids = match self.product_ids {
            Some(ids) => ids
                .iter()
                .map(|id| parse_id(id, "productIds"))
                .collect::<ApiResult<Vec<_>>>()?,
            None => base.product_ids,
        };
        Ok(RuleFields {
            name: self.name.unwrap_or(base.name),
            trigger: self.trigger.map_or(base.trigger, |t| t.stored().to_owned()),
            mode: self.mode.map_or(base.mode, Into::into),
            params: self.params.map_or(base.params, |p| p.0),
            conditions: self.conditions.map_or(base.conditions, |c| c.0),
            actions: self.actions.map_or(base.actions, |a| {
                Value::Array(a.iter().map(AutomationAction::to_json).collect())
            }),
            product_ids,
            cooldown_days: self.cooldown_days.unwrap_or(base.cooldown_days),
            expires_after_hours: self.expires_after_hours.unwrap_or(base.expires_after_hours),
            schedule: match self.schedule {
                Some(s) if s.trim().is_empty() => None,
                Some(s) => Some(s.trim().to_owned()),
                None => base.schedule,
            },
            active: self.active.unwrap_or(base.active),
            template_id: base.template_id,
            campaign_id: base.campaign_id,
        })
    }
}

/// Checks a rule through the workflow contract (every problem at once) and
/// that a campaign it starts is this workspace's; links the rule to that
/// campaign and to the WhatsApp template its message names, once mirrored.
async fn checked(
    ctx: &Context<'_>,
    tenant: Tenant,
    mut fields: RuleFields,
) -> ApiResult<RuleFields> {
    let mode = match fields.mode {
        RuleMode::Automatic => Mode::Automatic,
        RuleMode::SuggestOnly => Mode::SuggestOnly,
    };
    let spec = workflow::automation::parse_rule(StoredRule {
        trigger: &fields.trigger,
        mode,
        params: &fields.params,
        conditions: &fields.conditions,
        actions: &fields.actions,
        schedule: fields.schedule.as_deref(),
    })
    .map_err(|errors| {
        ApiError::invalid(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    fields.campaign_id = None;
    for action in &spec.actions {
        if let Action::StartCampaign { campaign_id } = action {
            let id = parse_id(&ID(campaign_id.clone()), "actions.campaignId")?;
            tenant
                .get::<campaign::Entity, _>(db(ctx), id)
                .await
                .map_err(|_| ApiError::invalid(format!("actions: no campaign {campaign_id}")))?;
            fields.campaign_id.get_or_insert(id);
        }
    }
    fields.template_id = match spec.message() {
        Some(message) if message.channel == workflow::Channel::Whatsapp => {
            problems::whatsapp_template(db(ctx), tenant, &message.template)
                .await?
                .map(|t| t.id)
        }
        _ => None,
    };
    Ok(fields)
}

fn new_rule() -> RuleFields {
    RuleFields {
        name: String::new(),
        trigger: String::new(),
        mode: RuleMode::SuggestOnly,
        params: json!({}),
        conditions: json!({}),
        actions: json!([]),
        product_ids: Vec::new(),
        cooldown_days: 0,
        expires_after_hours: automation::DEFAULT_EXPIRES_AFTER_HOURS,
        schedule: None,
        active: true,
        template_id: None,
        campaign_id: None,
    }
}

#[derive(Default)]
pub struct AutomationQuery;

#[Object]
impl AutomationQuery {
    /// The workspace's automation rules, built-ins included, newest first.
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn automation_rules(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<AutomationRuleFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, AutomationRule, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let filter = filter.unwrap_or_default();
        let mut select = tenant.select::<automation_rule::Entity>();
        if let Some(trigger) = filter.trigger {
            select = select.filter(automation_rule::Column::Trigger.eq(trigger.stored()));
        }
        if let Some(mode) = filter.mode {
            select = select.filter(automation_rule::Column::Mode.eq(RuleMode::from(mode)));
        }
        if let Some(active) = filter.active {
            select = select.filter(automation_rule::Column::Active.eq(active));
        }
        if let Some(id) = &filter.product_id {
            let product = parse_id(id, "filter.productId")?;
            let backend = db(ctx).get_database_backend();
            select = select.filter(automation::acts_on_product(backend, product));
        }
        paginate(
            ctx,
            select,
            automation_rule::Column::Id,
            first,
            after,
            |m| Ok((m.id, m.into())),
        )
        .await
    }

    #[graphql(guard = "Access::Read")]
    async fn automation_rule(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Option<AutomationRule>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let id = parse_id(&id, "id")?;
        Ok(tenant
            .select::<automation_rule::Entity>()
            .filter(automation_rule::Column::Id.eq(id))
            .one(db(ctx))
            .await
            .map_err(entity::Error::from)?
            .map(Into::into))
    }
}

#[derive(Default)]
pub struct AutomationMutation;

#[Object]
impl AutomationMutation {
    /// Adds a rule. AUTOMATIC is accepted only for the transactional
    /// triggers (PURCHASE_APPROVED, FIRST_ACCESS, MODULE_COMPLETED,
    /// COURSE_COMPLETED); scan triggers need a schedule.
    #[graphql(guard = "Access::Write")]
    async fn create_automation_rule(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        input: AutomationRuleInput,
    ) -> ApiResult<AutomationRule> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        if input.name.is_none() || input.trigger.is_none() || input.actions.is_none() {
            return Err(ApiError::invalid(
                "a new rule needs a name, a trigger and its actions",
            ));
        }
        let fields = checked(ctx, tenant, input.over(new_rule())?).await?;
        Ok(automation::create(db(ctx), tenant, fields, now(ctx))
            .await?
            .into())
    }

    /// Changes a rule: what the input leaves out stays. A built-in keeps its trigger.
    #[graphql(guard = "Access::Write")]
    async fn update_automation_rule(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        input: AutomationRuleInput,
    ) -> ApiResult<AutomationRule> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let id = parse_id(&id, "id")?;
        let current = tenant
            .get::<automation_rule::Entity, _>(db(ctx), id)
            .await?;
        let fields = checked(ctx, tenant, input.over(automation::fields_of(&current))?).await?;
        Ok(automation::update(db(ctx), tenant, id, fields, now(ctx))
            .await?
            .into())
    }

    /// Deletes a rule of the workspace's own; a built-in is deactivated
    /// instead (`CONFLICT`).
    #[graphql(guard = "Access::Write")]
    async fn delete_automation_rule(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<ID> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let uuid = parse_id(&id, "id")?;
        automation::delete(db(ctx), tenant, uuid).await?;
        Ok(id)
    }

    /// Runs a scan rule now, as a background job; with `dryRun` its result
    /// lists who would get an item and why, and nothing is queued.
    #[graphql(guard = "Access::Write")]
    async fn run_automation_rule(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        dry_run: Option<bool>,
    ) -> ApiResult<BackgroundJob> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let rule_id = parse_id(&id, "id")?;
        let rule = tenant
            .get::<automation_rule::Entity, _>(db(ctx), rule_id)
            .await?;
        if Trigger::parse(&rule.trigger).is_none_or(|t| !t.is_scan()) {
            return Err(ApiError::invalid(format!(
                "{} runs on its event; only scan triggers (ACCESS_MISSING, PROGRESS_STALLED, REFUND_RISK) run on demand",
                rule.trigger
            )));
        }
        let request = JobRequest::AutomationScan {
            rule_id,
            dry_run: dry_run.unwrap_or(false),
        };
        submit(ctx, tenant, &[], "automation", request).await
    }
}

fn stored(rule: &automation_rule::Model) -> StoredRule<'_> {
    StoredRule {
        trigger: &rule.trigger,
        mode: match rule.mode {
            RuleMode::Automatic => Mode::Automatic,
            RuleMode::SuggestOnly => Mode::SuggestOnly,
        },
        params: &rule.params,
        conditions: &rule.conditions,
        actions: &rule.actions,
        schedule: rule.schedule.as_deref(),
    }
}
