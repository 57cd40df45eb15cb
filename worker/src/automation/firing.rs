//! One rule meeting one customer: whether it acts (monitored product, the
//! rule's products, cooldown, conditions), and what it queues: a pending
//! item for a person, or an item approved at once for an automatic rule
//! whose template may go. Event triggers and scans both come through here.

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::dispatch::rules::{self as rule_items, RuleItem};
use entity::entities::enums::{Channel, RuleMode};
use entity::entities::{
    automation_rule, customer, enrollment, message_template, module, product, transaction,
};
use entity::templates::TemplateReference;
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde_json::{Map, Value, json};
use uuid::Uuid;
use workflow::automation::{Action, Mode, ReasonFacts, RuleSpec, StoredRule, Trigger};
use workflow::{RecipientContext, TemplateRef};

use crate::campaigns::runner::CLUB_URL_SETTING;
use crate::campaigns::runner::walk::{context_for, storage_channel};

/// A stored rule read through `workflow::automation`; `None` for a rule the
/// checks refuse (a hand-edited row), which then does nothing.
pub fn spec_of(rule: &automation_rule::Model) -> Option<RuleSpec> {
    let mode = match rule.mode {
        RuleMode::Automatic => Mode::Automatic,
        RuleMode::SuggestOnly => Mode::SuggestOnly,
    };
    workflow::automation::parse_rule(StoredRule {
        trigger: &rule.trigger,
        mode,
        params: &rule.params,
        conditions: &rule.conditions,
        actions: &rule.actions,
        schedule: rule.schedule.as_deref(),
    })
    .map_err(|errors| {
        tracing::warn!(rule_id = %rule.id, problems = errors.len(), "an automation rule does not pass its checks; it does nothing");
    })
    .ok()
}

/// What a rule needs of the purchase at hand: its code, when it was
/// approved, when its warranty ends, how it is paid, and whether it renews.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Purchase {
    pub code: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub warranty_ends_at: Option<DateTime<Utc>>,
    pub billet_url: Option<String>,
    pub pix_code: Option<String>,
    pub recurrence_number: Option<i32>,
}

impl Purchase {
    /// The transaction's columns a [`Purchase`] is read from.
    pub const COLUMNS: [transaction::Column; 6] = [
        transaction::Column::Code,
        transaction::Column::ApprovedAt,
        transaction::Column::WarrantyEndsAt,
        transaction::Column::BilletUrl,
        transaction::Column::PixCode,
        transaction::Column::RecurrenceNumber,
    ];

    /// Where its buyer pays a billet or Pix still open.
    fn payment_url(&self) -> Option<String> {
        self.billet_url.clone().or_else(|| self.pix_code.clone())
    }
}

/// What a rule fires on: a customer, and the product, module and purchase at hand.
#[derive(Debug, Clone)]
pub struct Subject {
    pub customer: customer::Model,
    pub product: Option<product::Model>,
    pub module: Option<module::Model>,
    pub purchase: Option<Purchase>,
    pub enrollment: Option<enrollment::Model>,
    pub hours_since_purchase: Option<i64>,
    pub days_stalled: Option<i64>,
    pub days_to_warranty_end: Option<i64>,
}

impl Subject {
    pub fn of(customer: customer::Model) -> Self {
        Subject {
            customer,
            product: None,
            module: None,
            purchase: None,
            enrollment: None,
            hours_since_purchase: None,
            days_stalled: None,
            days_to_warranty_end: None,
        }
    }

    fn reason(&self, trigger: Trigger) -> String {
        let progress = self
            .enrollment
            .as_ref()
            .map(|e| e.progress_percent.to_string());
        workflow::automation::reason(
            trigger,
            &ReasonFacts {
                product: self.product.as_ref().map(|p| p.name.as_str()),
                module: self.module.as_ref().map(|m| m.name.as_str()),
                hours_since_purchase: self.hours_since_purchase,
                days_stalled: self.days_stalled,
                days_to_warranty_end: self.days_to_warranty_end,
                progress: progress.as_deref(),
            },
        )
    }

    /// What the person deciding sees beside the customer's LTV and risk.
    fn context(&self, now: DateTime<Utc>) -> Value {
        let mut extra = Map::new();
        if let Some(enrollment) = &self.enrollment {
            extra.insert(
                "progressPercent".into(),
                json!(enrollment.progress_percent.to_string()),
            );
            extra.insert(
                "lastAccessAt".into(),
                json!(enrollment.last_access_at.or(enrollment.first_access_at)),
            );
        }
        if let Some(module) = &self.module {
            extra.insert("moduleName".into(), json!(module.name));
        }
        if let Some(product) = &self.product {
            extra.insert("productName".into(), json!(product.name));
        }
        if let Some(approved) = self.purchase.as_ref().and_then(|p| p.approved_at) {
            extra.insert(
                "daysSincePurchase".into(),
                json!((now - approved).num_days()),
            );
        }
        entity::dispatch::customer_context(&self.customer, extra)
    }

    fn recipient_context(&self, firing: &Firing, now: DateTime<Utc>) -> RecipientContext {
        let mut ctx = context_for(
            self.customer.id,
            &self.customer,
            self.enrollment.as_ref(),
            firing.time_zone,
            firing.access_url.as_deref(),
        );
        ctx.event.transaction = self.purchase.as_ref().map(|p| p.code.clone());
        ctx.event.product_id = self.product.as_ref().map(|p| p.id.to_string());
        ctx.event.product_name = self.product.as_ref().map(|p| p.name.clone());
        ctx.event.module_name = self.module.as_ref().map(|m| m.name.clone());
        ctx.event.payment_url = self.purchase.as_ref().and_then(Purchase::payment_url);
        ctx.event.days_since_purchase = self
            .purchase
            .as_ref()
            .and_then(|p| p.approved_at)
            .map(|at| (now - at).num_days().to_string());
        ctx
    }
}

/// What meeting a customer came to.
#[derive(Debug, Clone)]
pub enum Consideration {
    /// The item to queue (pending, or approved for an automatic send).
    Item(Box<RuleItem>),
    /// An automatic rule without a message: its actions are done at once.
    Act,
    /// Nothing: why not.
    Skipped(&'static str),
}

/// One rule, read and ready to meet customers.
pub struct Firing {
    pub tenant: Tenant,
    pub rule: automation_rule::Model,
    pub spec: RuleSpec,
    /// The only products the rule acts on (none: every monitored one).
    pub products: Vec<Uuid>,
    pub time_zone: chrono_tz::Tz,
    /// Where buyers open their courses (`hotmart.club_url`).
    pub access_url: Option<String>,
    /// The template the rule's message names, as mirrored from Meta.
    pub template: Option<message_template::Model>,
    pub now: DateTime<Utc>,
}

impl Firing {
    /// Reads what every customer's firing shares: the workspace's clock and
    /// members area, the message's template.
    pub async fn prepare<C: ConnectionTrait>(
        db: &C,
        secrets: &entity::SecretKey,
        rule: &automation_rule::Model,
        spec: &RuleSpec,
        now: DateTime<Utc>,
    ) -> Result<Firing, entity::Error> {
        let tenant = Tenant::new(rule.workspace_id);
        let time_zone = entity::workspaces::clock_of(db, rule.workspace_id).await?;
        let access_url = entity::settings::reveal(db, tenant, secrets, CLUB_URL_SETTING)
            .await?
            .filter(|url| workflow::template::is_http_url(url));
        let template = match spec.message().and_then(|m| m.template.as_ref()) {
            Some(reference) => {
                let channel = storage_channel(
                    spec.message()
                        .map_or(workflow::Channel::Whatsapp, |m| m.channel),
                );
                find_template(db, tenant, channel, reference).await?
            }
            None => None,
        };
        Ok(Firing {
            tenant,
            rule: rule.clone(),
            spec: spec.clone(),
            products: entity::automation::product_ids(rule),
            time_zone,
            access_url,
            template,
            now,
        })
    }

    /// Whether the rule acts on `subject`, and what it queues. Writes nothing.
    pub fn consider(&self, subject: &Subject) -> Consideration {
        let (spec, now, only) = (&self.spec, self.now, &self.products);
        match &subject.product {
            Some(product) if !product.monitored => {
                return Consideration::Skipped("product not monitored");
            }
            Some(product) if !only.is_empty() && !only.contains(&product.id) => {
                return Consideration::Skipped("another product");
            }
            None if !only.is_empty() => return Consideration::Skipped("another product"),
            _ => {}
        }
        let ctx = subject.recipient_context(self, now);
        if let Some(conditions) = &spec.conditions
            && !conditions.evaluate(&ctx, now)
        {
            return Consideration::Skipped("conditions");
        }
        let Some(message) = spec.message() else {
            return Consideration::Act;
        };
        let mut reason_code = spec.trigger.as_str().to_owned();
        let mut reason = subject.reason(spec.trigger);
        let rendered = message.render(&ctx, &mut |url: &str| url.to_owned());
        let channel = storage_channel(rendered.channel);
        let template_approved = rendered.template.is_none()
            || self
                .template
                .as_ref()
                .is_some_and(|t| t.status.eq_ignore_ascii_case("APPROVED"));
        let mut approved = spec.mode == Mode::Automatic;
        if approved && channel == Channel::Whatsapp && !template_approved {
            // Nothing is dropped silently: a person sees why it waits.
            approved = false;
            reason_code = rule_items::TEMPLATE_NOT_APPROVED.to_owned();
            let name = template_name(&rendered.template);
            reason = format!(
                "{reason} — o modelo {name} não está aprovado na Meta; revise antes de enviar"
            );
        }
        if approved
            && let Some((key, _)) = rendered.variables.iter().find(|(_, v)| v.trim().is_empty())
        {
            // Meta refuses an empty parameter: a person fills it in.
            approved = false;
            reason_code = rule_items::VARIABLE_MISSING.to_owned();
            reason =
                format!("{reason} — falta o valor da variável {key}; complete antes de enviar");
        }
        let (name, language) = match &rendered.template {
            Some(TemplateRef::Name { name, language }) => (Some(name.clone()), language.clone()),
            Some(TemplateRef::Id(_)) => (
                self.template.as_ref().map(|t| t.name.clone()),
                self.template.as_ref().map(|t| t.language.clone()),
            ),
            None => (None, None),
        };
        let variables: Map<String, Value> = rendered
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let buttons: Map<String, Value> = rendered
            .button_variables
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let content = json!({
            "template": name,
            "language": language,
            "variables": variables,
            "buttonVariables": buttons,
            "subject": rendered.subject,
            "text": rendered.body,
        });
        Consideration::Item(Box::new(RuleItem {
            customer_id: subject.customer.id,
            product_id: subject.product.as_ref().map(|p| p.id),
            module_id: subject.module.as_ref().map(|m| m.id),
            transaction_code: subject.purchase.as_ref().map(|p| p.code.clone()),
            channel,
            template_id: self.template.as_ref().map(|t| t.id),
            content,
            reason_code,
            reason,
            context: subject.context(now),
            approved,
        }))
    }

    /// Meets each of `subjects`: queues what the rule says (never an item
    /// its cooldown or a pending one holds back) and does the actions of an
    /// automatic rule without a message; returns the items queued.
    pub async fn meet<C: ConnectionTrait>(
        &self,
        db: &C,
        subjects: &[Subject],
    ) -> Result<Vec<Uuid>, entity::Error> {
        let mut items = Vec::new();
        for subject in subjects {
            match self.consider(subject) {
                Consideration::Item(item) => items.push(*item),
                Consideration::Act => {
                    apply_actions(db, self.tenant, &self.spec, subject.customer.id, self.now)
                        .await?;
                }
                Consideration::Skipped(_) => {}
            }
        }
        rule_items::queue_many(
            db,
            self.tenant,
            &self.rule,
            self.spec.trigger.as_str(),
            items,
            self.now,
        )
        .await
    }
}

fn template_name(reference: &Option<TemplateRef>) -> String {
    match reference {
        Some(TemplateRef::Name { name, .. }) => name.clone(),
        Some(TemplateRef::Id(id)) => id.clone(),
        None => String::new(),
    }
}

/// The workspace's template a message names (by id, or by name and language).
pub async fn find_template<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    channel: Channel,
    reference: &TemplateRef,
) -> Result<Option<message_template::Model>, entity::Error> {
    let reference = match reference {
        TemplateRef::Id(id) => TemplateReference::Id(id),
        TemplateRef::Name { name, language } => TemplateReference::Name {
            name,
            language: language.as_deref(),
        },
    };
    entity::templates::find_referenced(db, tenant, channel, reference).await
}

/// Links each rule of the workspace to the mirrored WhatsApp template its
/// message names: a rule written before its template was mirrored, a
/// built-in seeded before the first sync. Returns how many links changed.
pub async fn link_templates<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
) -> Result<u64, entity::Error> {
    let mut changed = 0;
    for rule in tenant.select::<automation_rule::Entity>().all(db).await? {
        let spec = spec_of(&rule);
        let template_id = match spec.as_ref().and_then(RuleSpec::message) {
            Some(message) if message.channel == workflow::Channel::Whatsapp => {
                match &message.template {
                    Some(reference) => find_template(db, tenant, Channel::Whatsapp, reference)
                        .await?
                        .map(|t| t.id),
                    None => None,
                }
            }
            _ => None,
        };
        if template_id != rule.template_id {
            entity::automation::link_template(db, rule.id, template_id).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The rule's actions besides its message: tags, Chatwoot labels, a campaign.
pub async fn apply_actions<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    spec: &RuleSpec,
    customer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    for action in &spec.actions {
        match action {
            Action::SendMessage(_) => {}
            Action::AddTags { tags } => {
                entity::customers::change_tags_in(
                    db,
                    tenant,
                    customer_id,
                    tags.clone(),
                    Vec::new(),
                    now,
                )
                .await?;
            }
            Action::ChatwootLabels { labels } => {
                if entity::chatwoot::reachable(db, tenant, customer_id).await? {
                    entity::chatwoot::request_labels(db, tenant, customer_id, labels.clone(), now)
                        .await?;
                }
            }
            Action::StartCampaign { campaign_id } => {
                let Ok(campaign_id) = Uuid::parse_str(campaign_id) else {
                    continue;
                };
                crate::campaigns::triggers::start_for(db, tenant, campaign_id, customer_id, now)
                    .await?;
            }
        }
    }
    Ok(())
}
