//! Automation rules as stored: the built-in CS flows every workspace gets,
//! and the rules people add. What a rule means (its triggers, actions and
//! their checks) is `workflow::automation`; the worker fires rules, the API
//! stores what passed those checks through here.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::new_id;
use crate::entities::enums::RuleMode;
use crate::entities::{automation_rule, dispatch_item, product, workspace};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// How long a suggestion waits for a decision unless its rule says otherwise.
pub const DEFAULT_EXPIRES_AFTER_HOURS: i32 = 72;

/// A built-in CS flow, seeded for every workspace.
pub struct Builtin {
    pub key: &'static str,
    pub name: &'static str,
    pub trigger: &'static str,
    pub mode: RuleMode,
    pub params: fn() -> Value,
    /// The WhatsApp template the flow sends.
    pub template: &'static str,
    /// Template variables, in the template's order.
    pub variables: &'static [&'static str],
    pub chatwoot_labels: &'static [&'static str],
    pub schedule: Option<&'static str>,
    pub cooldown_days: i32,
}

const FIRST_NAME: &str = "{{customer.first_name}}";
const PRODUCT: &str = "{{event.productName}}";

/// The flows of the CS playbook: welcome, access rescue, stagnation,
/// achievement, sale and cart recovery, refund risk and win-back.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        key: "welcome",
        name: "Boas-vindas na compra",
        trigger: "PURCHASE_APPROVED",
        mode: RuleMode::Automatic,
        params: || json!({}),
        template: "boas_vindas",
        variables: &[FIRST_NAME, PRODUCT, "{{enrollment.access_url}}"],
        chatwoot_labels: &[],
        schedule: None,
        cooldown_days: 0,
    },
    Builtin {
        key: "access_rescue",
        name: "Resgate de acesso",
        trigger: "ACCESS_MISSING",
        mode: RuleMode::SuggestOnly,
        params: || json!({"hours": 24}),
        template: "resgate_acesso",
        variables: &[FIRST_NAME, PRODUCT, "{{enrollment.access_url}}"],
        chatwoot_labels: &[],
        schedule: Some("0 0 9 * * *"),
        cooldown_days: 7,
    },
    Builtin {
        key: "stagnation",
        name: "Retomada de estudos",
        trigger: "PROGRESS_STALLED",
        mode: RuleMode::SuggestOnly,
        params: || json!({"days": 7}),
        template: "retomada_estudos",
        variables: &[
            FIRST_NAME,
            PRODUCT,
            "{{event.moduleName}}",
            "{{enrollment.progress}}",
        ],
        chatwoot_labels: &[],
        schedule: Some("0 0 9 * * Mon"),
        cooldown_days: 7,
    },
    Builtin {
        key: "achievement",
        name: "Conquista de módulo",
        trigger: "MODULE_COMPLETED",
        mode: RuleMode::Automatic,
        params: || json!({}),
        template: "conquista_modulo",
        variables: &[FIRST_NAME, "{{event.moduleName}}", PRODUCT],
        chatwoot_labels: &["modulo-concluido"],
        schedule: None,
        cooldown_days: 0,
    },
    Builtin {
        key: "sale_recovery",
        name: "Recuperação de pagamento",
        trigger: "BILLET_PRINTED",
        mode: RuleMode::SuggestOnly,
        params: || json!({}),
        template: "recuperacao_pagamento",
        variables: &[FIRST_NAME, PRODUCT, "{{event.paymentUrl}}"],
        chatwoot_labels: &[],
        schedule: None,
        cooldown_days: 0,
    },
    Builtin {
        key: "cart_recovery",
        name: "Carrinho abandonado",
        trigger: "CART_ABANDONED",
        mode: RuleMode::SuggestOnly,
        params: || json!({}),
        template: "carrinho_abandonado",
        variables: &[FIRST_NAME, PRODUCT],
        chatwoot_labels: &[],
        schedule: None,
        cooldown_days: 3,
    },
    Builtin {
        key: "refund_risk",
        name: "Risco de reembolso",
        trigger: "REFUND_RISK",
        mode: RuleMode::SuggestOnly,
        params: || json!({"days": 2, "maxProgress": 20}),
        template: "risco_reembolso",
        variables: &[FIRST_NAME, PRODUCT, "{{enrollment.progress}}"],
        chatwoot_labels: &[],
        schedule: Some("0 0 10 * * *"),
        cooldown_days: 7,
    },
    Builtin {
        key: "winback",
        name: "Reconquista",
        trigger: "SUBSCRIPTION_CANCELLED",
        mode: RuleMode::SuggestOnly,
        params: || json!({}),
        template: "reconquista",
        variables: &[FIRST_NAME, PRODUCT],
        chatwoot_labels: &[],
        schedule: None,
        cooldown_days: 30,
    },
];

impl Builtin {
    /// The rule's actions: its WhatsApp template, then its Chatwoot labels.
    pub fn actions(&self) -> Value {
        let variables: serde_json::Map<String, Value> = self
            .variables
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1).to_string(), json!(v)))
            .collect();
        let mut actions = vec![json!({
            "type": "SEND_MESSAGE",
            "channel": "whatsapp",
            "templateName": self.template,
            "language": "pt_BR",
            "variables": variables,
        })];
        if !self.chatwoot_labels.is_empty() {
            actions.push(json!({"type": "CHATWOOT_LABELS", "labels": self.chatwoot_labels}));
        }
        Value::Array(actions)
    }

    fn row(&self, workspace_id: Uuid, now: DateTime<Utc>) -> automation_rule::ActiveModel {
        automation_rule::ActiveModel {
            id: Set(new_id()),
            workspace_id: Set(workspace_id),
            name: Set(self.name.to_owned()),
            builtin_key: Set(Some(self.key.to_owned())),
            trigger: Set(self.trigger.to_owned()),
            conditions: Set(json!({})),
            template_id: Set(None),
            campaign_id: Set(None),
            mode: Set(self.mode),
            active: Set(true),
            params: Set((self.params)()),
            actions: Set(self.actions()),
            product_ids: Set(json!([])),
            cooldown_days: Set(self.cooldown_days),
            expires_after_hours: Set(DEFAULT_EXPIRES_AFTER_HOURS),
            schedule: Set(self.schedule.map(str::to_owned)),
            scanned_until: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }
}

/// Adds the built-in rules a workspace is missing; rules already there,
/// changed or deactivated by their users, are left as they are.
pub async fn seed_builtins<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    now: DateTime<Utc>,
) -> Result<u64> {
    let rows = BUILTINS.iter().map(|b| b.row(tenant.workspace_id(), now));
    let inserted = automation_rule::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                automation_rule::Column::WorkspaceId,
                automation_rule::Column::BuiltinKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted)
}

/// Seeds the built-in rules of every workspace (run with the migrations).
pub async fn seed_every_workspace(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64> {
    let mut seeded = 0;
    for workspace in workspace::Entity::find().all(db).await? {
        seeded += seed_builtins(db, Tenant::new(workspace.id), now).await?;
    }
    Ok(seeded)
}

/// A rule as a person writes it (already checked by `workflow::automation`).
#[derive(Debug, Clone)]
pub struct RuleFields {
    pub name: String,
    pub trigger: String,
    pub mode: RuleMode,
    pub params: Value,
    pub conditions: Value,
    pub actions: Value,
    pub product_ids: Vec<Uuid>,
    pub cooldown_days: i32,
    pub expires_after_hours: i32,
    pub schedule: Option<String>,
    pub active: bool,
    /// The mirrored template its message names, once mirrored.
    pub template_id: Option<Uuid>,
    /// The campaign it starts.
    pub campaign_id: Option<Uuid>,
}

/// The rule's fields as stored, for an update to change some of them.
pub fn fields_of(rule: &automation_rule::Model) -> RuleFields {
    RuleFields {
        name: rule.name.clone(),
        trigger: rule.trigger.clone(),
        mode: rule.mode,
        params: rule.params.clone(),
        conditions: rule.conditions.clone(),
        actions: rule.actions.clone(),
        product_ids: product_ids(rule),
        cooldown_days: rule.cooldown_days,
        expires_after_hours: rule.expires_after_hours,
        schedule: rule.schedule.clone(),
        active: rule.active,
        template_id: rule.template_id,
        campaign_id: rule.campaign_id,
    }
}

/// The products a rule is limited to (none: every product).
pub fn product_ids(rule: &automation_rule::Model) -> Vec<Uuid> {
    rule.product_ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .collect()
}

async fn check_fields<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    fields: &RuleFields,
) -> Result<()> {
    let name = fields.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "name must be 1 to 200 printable characters".into(),
        ));
    }
    if !(0..=365).contains(&fields.cooldown_days) {
        return Err(Error::Invalid("cooldownDays must be 0 to 365".into()));
    }
    if !(1..=24 * 90).contains(&fields.expires_after_hours) {
        return Err(Error::Invalid(
            "expiresAfterHours must be 1 to 2160 (90 days)".into(),
        ));
    }
    if fields.product_ids.len() > 100 {
        return Err(Error::Invalid("a rule names at most 100 products".into()));
    }
    if !fields.product_ids.is_empty() {
        let found = tenant
            .select::<product::Entity>()
            .filter(product::Column::Id.is_in(fields.product_ids.iter().copied()))
            .all(db)
            .await?;
        if let Some(missing) = fields
            .product_ids
            .iter()
            .find(|id| !found.iter().any(|p| p.id == **id))
        {
            return Err(Error::Invalid(format!("products: no product {missing}")));
        }
    }
    Ok(())
}

fn product_list(ids: &[Uuid]) -> Value {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    json!(ids)
}

pub async fn create(
    db: &DatabaseConnection,
    tenant: Tenant,
    fields: RuleFields,
    now: DateTime<Utc>,
) -> Result<automation_rule::Model> {
    check_fields(db, tenant, &fields).await?;
    Ok(automation_rule::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        name: Set(fields.name.trim().to_owned()),
        builtin_key: Set(None),
        trigger: Set(fields.trigger),
        conditions: Set(fields.conditions),
        template_id: Set(fields.template_id),
        campaign_id: Set(fields.campaign_id),
        mode: Set(fields.mode),
        active: Set(fields.active),
        params: Set(fields.params),
        actions: Set(fields.actions),
        product_ids: Set(product_list(&fields.product_ids)),
        cooldown_days: Set(fields.cooldown_days),
        expires_after_hours: Set(fields.expires_after_hours),
        schedule: Set(fields.schedule),
        scanned_until: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

pub async fn update(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    fields: RuleFields,
    now: DateTime<Utc>,
) -> Result<automation_rule::Model> {
    let current = tenant.get::<automation_rule::Entity, _>(db, id).await?;
    check_fields(db, tenant, &fields).await?;
    if current.builtin_key.is_some() && fields.trigger != current.trigger {
        return Err(Error::Invalid(
            "a built-in rule keeps its trigger: create a rule of your own instead".into(),
        ));
    }
    let rescheduled = fields.schedule != current.schedule;
    let mut model: automation_rule::ActiveModel = current.into();
    model.name = Set(fields.name.trim().to_owned());
    model.trigger = Set(fields.trigger);
    model.mode = Set(fields.mode);
    model.params = Set(fields.params);
    model.conditions = Set(fields.conditions);
    model.actions = Set(fields.actions);
    model.product_ids = Set(product_list(&fields.product_ids));
    model.cooldown_days = Set(fields.cooldown_days);
    model.expires_after_hours = Set(fields.expires_after_hours);
    model.schedule = Set(fields.schedule);
    model.active = Set(fields.active);
    model.template_id = Set(fields.template_id);
    model.campaign_id = Set(fields.campaign_id);
    if rescheduled {
        // A new schedule counts from now, not from fires of the old one.
        model.scanned_until = Set(Some(now));
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

/// Links a rule to the mirrored template its message names (`None`: not
/// mirrored).
pub async fn link_template<C: ConnectionTrait>(
    db: &C,
    rule_id: Uuid,
    template_id: Option<Uuid>,
) -> Result<()> {
    automation_rule::Entity::update_many()
        .col_expr(
            automation_rule::Column::TemplateId,
            sea_orm::sea_query::Expr::value(template_id),
        )
        .filter(automation_rule::Column::Id.eq(rule_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes a rule of the workspace's own; a built-in can only be deactivated.
pub async fn delete(db: &DatabaseConnection, tenant: Tenant, id: Uuid) -> Result<()> {
    let rule = tenant.get::<automation_rule::Entity, _>(db, id).await?;
    if let Some(key) = &rule.builtin_key {
        return Err(Error::Conflict(format!(
            "`{key}` is a built-in rule: deactivate it (active: false) instead of deleting it"
        )));
    }
    // The queue keeps the rule's items, unlinked: on PostgreSQL no foreign
    // key does it (m20261206_000025).
    let txn = crate::db::begin_write(db).await?;
    dispatch_item::Entity::update_many()
        .col_expr(
            dispatch_item::Column::RuleId,
            sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
        )
        .filter(dispatch_item::Column::RuleId.eq(rule.id))
        .exec(&txn)
        .await?;
    automation_rule::Entity::delete_by_id(rule.id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Rules that act on `product`: limited to it, or to no product at all.
pub fn acts_on_product(backend: sea_orm::DbBackend, product: Uuid) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::Expr;
    match backend {
        sea_orm::DbBackend::Postgres => Expr::cust_with_values(
            r#"("automation_rules"."product_ids" @> $1::jsonb OR "automation_rules"."product_ids" = '[]'::jsonb)"#,
            [json!([product]).to_string()],
        ),
        _ => Expr::cust_with_values(
            r#"(EXISTS (SELECT 1 FROM json_each("automation_rules"."product_ids") WHERE json_each.value = ?) OR json_array_length("automation_rules"."product_ids") = 0)"#,
            [product.to_string()],
        ),
    }
}

/// The workspace's active rules with one of `triggers`, oldest first.
pub async fn active_rules<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    triggers: &[&str],
) -> Result<Vec<automation_rule::Model>> {
    Ok(tenant
        .select::<automation_rule::Entity>()
        .filter(automation_rule::Column::Active.eq(true))
        .filter(automation_rule::Column::Trigger.is_in(triggers.iter().copied()))
        .order_by_asc(automation_rule::Column::Id)
        .all(db)
        .await?)
}

/// Every active scan rule of every workspace, for the scan schedule.
pub async fn scan_rules<C: ConnectionTrait>(
    db: &C,
    triggers: &[&str],
) -> Result<Vec<automation_rule::Model>> {
    Ok(automation_rule::Entity::find()
        .filter(automation_rule::Column::Active.eq(true))
        .filter(automation_rule::Column::Trigger.is_in(triggers.iter().copied()))
        .filter(automation_rule::Column::Schedule.is_not_null())
        .order_by_asc(automation_rule::Column::Id)
        .all(db)
        .await?)
}

/// Records that a scan rule's schedule has been run up to `until`.
pub async fn scanned<C: ConnectionTrait>(
    db: &C,
    rule_id: Uuid,
    until: DateTime<Utc>,
) -> Result<()> {
    automation_rule::Entity::update_many()
        .col_expr(
            automation_rule::Column::ScannedUntil,
            sea_orm::sea_query::Expr::value(Some(until)),
        )
        .filter(automation_rule::Column::Id.eq(rule_id))
        .exec(db)
        .await?;
    Ok(())
}
