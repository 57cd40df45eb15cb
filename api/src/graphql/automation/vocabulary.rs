//! The words of a rule as the API speaks them: its trigger, its mode and
//! its actions, and how they map to and from what is stored.

use async_graphql::{Enum, ID, InputObject, Json, SimpleObject};
use serde_json::{Map, Value, json};
use workflow::automation::Trigger;

/// What sets a rule off: an event, or a scan on the rule's schedule.
// `remote`: the compiler holds these to the workflow contract's triggers.
#[derive(Enum, Copy, Clone, Eq, PartialEq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "workflow::automation::Trigger")]
pub enum AutomationTrigger {
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
    /// Scan: approved purchase at least `params.hours` ago, no first access.
    AccessMissing,
    /// Scan: no lesson completed for at least `params.days`.
    ProgressStalled,
    /// Scan: warranty ends within `params.days`, progress below `params.maxProgress` %.
    RefundRisk,
}

impl AutomationTrigger {
    pub fn of_stored(name: &str) -> Option<Self> {
        Trigger::parse(name).map(Into::into)
    }

    pub fn stored(self) -> &'static str {
        Trigger::from(self).as_str()
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::RuleMode")]
pub enum AutomationMode {
    /// Writes a dispatch item a person approves, edits or rejects.
    SuggestOnly,
    /// Sends at once (transactional triggers only).
    Automatic,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AutomationActionType {
    SendMessage,
    StartCampaign,
    AddTags,
    ChatwootLabels,
}

/// One thing a rule does.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "AutomationActionInput")]
pub struct AutomationAction {
    #[graphql(name = "type")]
    pub action_type: AutomationActionType,
    /// SEND_MESSAGE: whatsapp, email, sms or push.
    pub channel: Option<String>,
    pub template_name: Option<String>,
    pub language: Option<String>,
    /// SEND_MESSAGE: the template's variables (`{"1": "{{customer.first_name}}"}`).
    pub variables: Option<Json<Value>>,
    /// SEND_MESSAGE without a template: the text (e-mail, SMS, push).
    pub body: Option<String>,
    pub subject: Option<String>,
    pub campaign_id: Option<ID>,
    pub tags: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
}

impl AutomationAction {
    pub(super) fn to_json(&self) -> Value {
        let mut object = Map::new();
        let kind = match self.action_type {
            AutomationActionType::SendMessage => "SEND_MESSAGE",
            AutomationActionType::StartCampaign => "START_CAMPAIGN",
            AutomationActionType::AddTags => "ADD_TAGS",
            AutomationActionType::ChatwootLabels => "CHATWOOT_LABELS",
        };
        object.insert("type".into(), json!(kind));
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                object.insert(key.into(), value);
            }
        };
        put("channel", self.channel.clone().map(Value::from));
        put("templateName", self.template_name.clone().map(Value::from));
        put("language", self.language.clone().map(Value::from));
        put("variables", self.variables.clone().map(|v| v.0));
        put("body", self.body.clone().map(Value::from));
        put("subject", self.subject.clone().map(Value::from));
        put("campaignId", self.campaign_id.clone().map(|id| json!(id.0)));
        put("tags", self.tags.clone().map(|t| json!(t)));
        put("labels", self.labels.clone().map(|l| json!(l)));
        Value::Object(object)
    }

    pub(super) fn from_json(raw: &Value) -> Option<Self> {
        let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
        let words = |key: &str| {
            raw.get(key).and_then(Value::as_array).map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        };
        Some(AutomationAction {
            action_type: match raw.get("type")?.as_str()? {
                "SEND_MESSAGE" => AutomationActionType::SendMessage,
                "START_CAMPAIGN" => AutomationActionType::StartCampaign,
                "ADD_TAGS" => AutomationActionType::AddTags,
                "CHATWOOT_LABELS" => AutomationActionType::ChatwootLabels,
                _ => return None,
            },
            channel: text("channel"),
            template_name: text("templateName"),
            language: text("language"),
            variables: raw.get("variables").cloned().map(Json),
            body: text("body"),
            subject: text("subject"),
            campaign_id: text("campaignId").map(ID),
            tags: words("tags"),
            labels: words("labels"),
        })
    }
}
