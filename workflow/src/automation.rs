//! Automation rules, the contract: what may trigger a rule, what it does,
//! and the checks a rule passes before it is stored. Pure, like the rest of
//! this crate: the worker fires rules, the API stores them, both read them
//! through here.
//!
//! A rule's `conditions` are the `condition` node's data and its
//! `SEND_MESSAGE` action is the `sendMessage` node's data, read by the same
//! code as a campaign's.

use serde_json::{Map, Value, json};

use crate::condition::ConditionData;
use crate::events::DomainEventType;
use crate::interpret::OutboundMessage;
use crate::nodes::{NodeData, NodeType};
use crate::schedule::CronSchedule;

/// What sets a rule off: an event about a customer, or a scan of the
/// workspace on the rule's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    PurchaseApproved,
    FirstAccess,
    ModuleCompleted,
    /// Progress reached 100 %.
    CourseCompleted,
    /// A billet or Pix waits for payment.
    BilletPrinted,
    CartAbandoned,
    SubscriptionCancelled,
    PaymentDelayed,
    /// Scan: an approved purchase at least `params.hours` ago, no first access.
    AccessMissing,
    /// Scan: no lesson completed for at least `params.days`.
    ProgressStalled,
    /// Scan: the warranty ends within `params.days`, progress below `params.maxProgress` %.
    RefundRisk,
}

impl Trigger {
    pub const ALL: [Trigger; 11] = [
        Self::PurchaseApproved,
        Self::FirstAccess,
        Self::ModuleCompleted,
        Self::CourseCompleted,
        Self::BilletPrinted,
        Self::CartAbandoned,
        Self::SubscriptionCancelled,
        Self::PaymentDelayed,
        Self::AccessMissing,
        Self::ProgressStalled,
        Self::RefundRisk,
    ];

    /// The stored and GraphQL name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PurchaseApproved => "PURCHASE_APPROVED",
            Self::FirstAccess => "FIRST_ACCESS",
            Self::ModuleCompleted => "MODULE_COMPLETED",
            Self::CourseCompleted => "COURSE_COMPLETED",
            Self::BilletPrinted => "BILLET_PRINTED",
            Self::CartAbandoned => "CART_ABANDONED",
            Self::SubscriptionCancelled => "SUBSCRIPTION_CANCELLED",
            Self::PaymentDelayed => "PAYMENT_DELAYED",
            Self::AccessMissing => "ACCESS_MISSING",
            Self::ProgressStalled => "PROGRESS_STALLED",
            Self::RefundRisk => "REFUND_RISK",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The domain event an event trigger reacts to; `None` for a scan trigger.
    pub const fn event(self) -> Option<DomainEventType> {
        Some(match self {
            Self::PurchaseApproved => DomainEventType::PurchaseApproved,
            Self::FirstAccess => DomainEventType::FirstAccess,
            Self::ModuleCompleted => DomainEventType::ModuleCompleted,
            Self::CourseCompleted => DomainEventType::CourseCompleted,
            Self::BilletPrinted => DomainEventType::BilletPrinted,
            Self::CartAbandoned => DomainEventType::CartAbandoned,
            Self::SubscriptionCancelled => DomainEventType::SubscriptionCancelled,
            Self::PaymentDelayed => DomainEventType::PaymentDelayed,
            Self::AccessMissing | Self::ProgressStalled | Self::RefundRisk => return None,
        })
    }

    /// The event trigger that reacts to `event`.
    pub fn for_event(event: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.event().is_some_and(|e| e.as_str() == event))
    }

    pub const fn is_scan(self) -> bool {
        self.event().is_none()
    }

    /// Transactional triggers may send on their own (`AUTOMATIC`); every
    /// other trigger only suggests.
    pub const fn is_transactional(self) -> bool {
        matches!(
            self,
            Self::PurchaseApproved
                | Self::FirstAccess
                | Self::ModuleCompleted
                | Self::CourseCompleted
        )
    }

    /// The parameters a scan trigger needs, and their defaults.
    fn params(self) -> &'static [(&'static str, u32)] {
        match self {
            Self::AccessMissing => &[("hours", 24)],
            Self::ProgressStalled => &[("days", 7)],
            Self::RefundRisk => &[("days", 2), ("maxProgress", 20)],
            _ => &[],
        }
    }
}

/// How a rule acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Automatic,
    SuggestOnly,
}

/// One thing a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The `sendMessage` node's data: channel, template, variables.
    SendMessage(Box<OutboundMessage>),
    StartCampaign {
        campaign_id: String,
    },
    AddTags {
        tags: Vec<String>,
    },
    ChatwootLabels {
        labels: Vec<String>,
    },
}

/// A rule as the worker runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub trigger: Trigger,
    pub mode: Mode,
    /// The scan parameters, defaults filled in.
    pub params: Map<String, Value>,
    pub conditions: Option<ConditionData>,
    pub actions: Vec<Action>,
    pub schedule: Option<String>,
}

impl RuleSpec {
    /// The rule's message, if it sends one.
    pub fn message(&self) -> Option<&OutboundMessage> {
        self.actions.iter().find_map(|a| match a {
            Action::SendMessage(message) => Some(&**message),
            _ => None,
        })
    }

    /// A whole-number parameter (validated when the rule was stored).
    pub fn param(&self, name: &str) -> i64 {
        self.params.get(name).and_then(Value::as_i64).unwrap_or(0)
    }
}

/// What is wrong with a rule, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The input field: `trigger`, `mode`, `params.hours`, `actions[0]`, …
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn error(field: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        field: field.into(),
        message: message.into(),
    }
}

/// A rule as stored: the parts the API takes and the worker reads.
#[derive(Debug, Clone, Copy)]
pub struct StoredRule<'a> {
    pub trigger: &'a str,
    pub mode: Mode,
    pub params: &'a Value,
    pub conditions: &'a Value,
    pub actions: &'a Value,
    pub schedule: Option<&'a str>,
}

/// Reads and checks a rule; every problem is reported, not just the first.
pub fn parse_rule(rule: StoredRule<'_>) -> Result<RuleSpec, Vec<RuleError>> {
    let mut errors = Vec::new();
    let trigger = Trigger::parse(rule.trigger);
    if trigger.is_none() {
        errors.push(error(
            "trigger",
            format!("unknown trigger {:?}", rule.trigger),
        ));
    }
    if let Some(trigger) = trigger
        && rule.mode == Mode::Automatic
        && !trigger.is_transactional()
    {
        errors.push(error(
            "mode",
            format!(
                "AUTOMATIC is only for transactional triggers (PURCHASE_APPROVED, FIRST_ACCESS, MODULE_COMPLETED, COURSE_COMPLETED); {} may only SUGGEST_ONLY",
                trigger.as_str()
            ),
        ));
    }
    let params = read_params(trigger, rule.params, &mut errors);
    let conditions = match rule.conditions {
        Value::Null => None,
        Value::Object(o) if o.is_empty() => None,
        other => match NodeData::parse(NodeType::Condition, other) {
            Ok(NodeData::Condition(c)) if c.rules.is_empty() => None,
            Ok(NodeData::Condition(c)) => Some(c),
            Ok(_) => None,
            Err(e) => {
                errors.push(error("conditions", e.message));
                None
            }
        },
    };
    let actions = read_actions(rule.actions, &mut errors);
    if actions
        .iter()
        .filter(|a| matches!(a, Action::SendMessage(_)))
        .count()
        > 1
    {
        errors.push(error("actions", "a rule sends at most one message"));
    }
    if rule.mode == Mode::SuggestOnly
        && !actions.iter().any(|a| matches!(a, Action::SendMessage(_)))
    {
        errors.push(error(
            "actions",
            "a SUGGEST_ONLY rule suggests a message: it needs a SEND_MESSAGE action",
        ));
    }
    if actions.is_empty() && errors.iter().all(|e| e.field != "actions") {
        errors.push(error("actions", "a rule needs at least one action"));
    }
    let schedule = rule
        .schedule
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    match (trigger, &schedule) {
        (Some(t), None) if t.is_scan() => errors.push(error(
            "schedule",
            format!(
                "{} is a scan: it needs a schedule (cron, e.g. \"0 0 9 * * *\")",
                t.as_str()
            ),
        )),
        (Some(t), Some(_)) if !t.is_scan() => errors.push(error(
            "schedule",
            format!("{} runs on its event: it takes no schedule", t.as_str()),
        )),
        (_, Some(cron)) => {
            if let Err(e) = cron.parse::<CronSchedule>() {
                errors.push(error("schedule", e));
            }
        }
        _ => {}
    }
    match trigger {
        Some(trigger) if errors.is_empty() => Ok(RuleSpec {
            trigger,
            mode: rule.mode,
            params,
            conditions,
            actions,
            schedule,
        }),
        _ => Err(errors),
    }
}

fn read_params(
    trigger: Option<Trigger>,
    raw: &Value,
    errors: &mut Vec<RuleError>,
) -> Map<String, Value> {
    let empty = Map::new();
    let given = match raw {
        Value::Null => &empty,
        Value::Object(o) => o,
        _ => {
            errors.push(error("params", "params must be an object"));
            return Map::new();
        }
    };
    let known = trigger.map(Trigger::params).unwrap_or_default();
    let mut params = Map::new();
    for name in given.keys() {
        if !known.iter().any(|(k, _)| k == name) {
            errors.push(error(
                format!("params.{name}"),
                match trigger {
                    Some(t) => format!("{} takes no parameter {name:?}", t.as_str()),
                    None => format!("unknown parameter {name:?}"),
                },
            ));
        }
    }
    for (name, default) in known {
        match given.get(*name) {
            None | Some(Value::Null) => {
                params.insert((*name).into(), json!(default));
            }
            Some(value) => match value.as_u64().filter(|n| (1..=3650).contains(n)) {
                Some(n) if *name != "maxProgress" || n <= 100 => {
                    params.insert((*name).into(), json!(n));
                }
                _ => errors.push(error(
                    format!("params.{name}"),
                    if *name == "maxProgress" {
                        "must be a whole percentage from 1 to 100".to_owned()
                    } else {
                        "must be a whole number from 1 to 3650".to_owned()
                    },
                )),
            },
        }
    }
    params
}

fn read_actions(raw: &Value, errors: &mut Vec<RuleError>) -> Vec<Action> {
    let Some(list) = raw.as_array() else {
        errors.push(error("actions", "actions must be a list"));
        return Vec::new();
    };
    let mut actions = Vec::with_capacity(list.len());
    for (index, raw) in list.iter().enumerate() {
        let field = format!("actions[{index}]");
        let Some(kind) = raw.get("type").and_then(Value::as_str) else {
            errors.push(error(field, "each action needs a type"));
            continue;
        };
        let words = |name: &str| -> Option<Vec<String>> {
            let list = raw.get(name)?.as_array()?;
            let words: Vec<String> = list
                .iter()
                .filter_map(Value::as_str)
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty() && w.chars().count() <= 128)
                .collect();
            (words.len() == list.len() && !words.is_empty() && words.len() <= 20).then_some(words)
        };
        match kind {
            "SEND_MESSAGE" => {
                let mut data = raw.as_object().cloned().unwrap_or_default();
                data.remove("type");
                match NodeData::parse(NodeType::SendMessage, &Value::Object(data)) {
                    Ok(NodeData::SendMessage(m)) => {
                        if m.channel == crate::Channel::Webhook {
                            errors.push(error(field, "a rule sends no webhook messages"));
                            continue;
                        }
                        actions.push(Action::SendMessage(Box::new(OutboundMessage {
                            channel: m.channel,
                            template: m.template,
                            subject: m.subject,
                            body: m.body,
                            variables: m.variables,
                            button_variables: m.button_variables,
                            require_approval: false,
                        })))
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(error(field, e.message)),
                }
            }
            "START_CAMPAIGN" => match raw.get("campaignId").and_then(Value::as_str) {
                Some(id) if !id.trim().is_empty() => actions.push(Action::StartCampaign {
                    campaign_id: id.trim().to_owned(),
                }),
                _ => errors.push(error(field, "START_CAMPAIGN needs a campaignId")),
            },
            "ADD_TAGS" => match words("tags") {
                Some(tags) => actions.push(Action::AddTags { tags }),
                None => errors.push(error(
                    field,
                    "ADD_TAGS needs 1 to 20 tags of 1 to 128 characters",
                )),
            },
            "CHATWOOT_LABELS" => match words("labels") {
                Some(labels) => actions.push(Action::ChatwootLabels { labels }),
                None => errors.push(error(
                    field,
                    "CHATWOOT_LABELS needs 1 to 20 labels of 1 to 128 characters",
                )),
            },
            other => errors.push(error(
                field,
                format!(
                    "unknown action type {other:?} (SEND_MESSAGE, START_CAMPAIGN, ADD_TAGS, CHATWOOT_LABELS)"
                ),
            )),
        }
    }
    actions
}

/// What a reason sentence is about.
#[derive(Debug, Clone, Default)]
pub struct ReasonFacts<'a> {
    pub product: Option<&'a str>,
    pub module: Option<&'a str>,
    /// Whole hours since the purchase was approved.
    pub hours_since_purchase: Option<i64>,
    /// Whole days without a completed lesson.
    pub days_stalled: Option<i64>,
    /// Whole days until the warranty ends.
    pub days_to_warranty_end: Option<i64>,
    /// Percent of the course completed.
    pub progress: Option<&'a str>,
}

/// Why an item was suggested, in the words of the CS person reading the
/// queue (Portuguese, as the producers and their teams speak).
pub fn reason(trigger: Trigger, facts: &ReasonFacts<'_>) -> String {
    let product = facts.product.unwrap_or("o curso");
    let progress = facts
        .progress
        .map(trim_decimal)
        .unwrap_or_else(|| "0".into());
    match trigger {
        Trigger::PurchaseApproved => format!("Compra aprovada de {product}: boas-vindas"),
        Trigger::FirstAccess => format!("Primeiro acesso a {product}"),
        Trigger::ModuleCompleted => match facts.module {
            Some(module) => format!("Concluiu o módulo {module} de {product}"),
            None => format!("Concluiu um módulo de {product}"),
        },
        Trigger::CourseCompleted => format!("Concluiu {product}"),
        Trigger::BilletPrinted => {
            format!("Gerou boleto ou Pix de {product} e ainda não pagou")
        }
        Trigger::CartAbandoned => format!("Abandonou o carrinho de {product}"),
        Trigger::SubscriptionCancelled => format!("Cancelou a assinatura de {product}"),
        Trigger::PaymentDelayed => format!("Pagamento da assinatura de {product} em atraso"),
        Trigger::AccessMissing => {
            let hours = facts.hours_since_purchase.unwrap_or(0);
            let ago = if hours >= 48 {
                plural(hours / 24, "dia", "dias")
            } else {
                plural(hours, "hora", "horas")
            };
            format!("Comprou {product} há {ago} e ainda não acessou o curso")
        }
        Trigger::ProgressStalled => {
            let days = plural(facts.days_stalled.unwrap_or(0), "dia", "dias");
            match facts.module {
                Some(module) => format!(
                    "Sem concluir aulas há {days}, parado no módulo {module} ({progress} % de {product})"
                ),
                None => format!("Sem concluir aulas há {days} ({progress} % de {product})"),
            }
        }
        Trigger::RefundRisk => {
            let days = facts.days_to_warranty_end.unwrap_or(0);
            let when = match days {
                0 => "hoje".to_owned(),
                _ => format!("em {}", plural(days, "dia", "dias")),
            };
            format!("A garantia de {product} termina {when} e o progresso é de {progress} %")
        }
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `"42.50"` → `"42,5"`: a percentage as a Brazilian reads it.
fn trim_decimal(text: &str) -> String {
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    trimmed.replace('.', ",")
}

#[cfg(test)]
mod tests;
