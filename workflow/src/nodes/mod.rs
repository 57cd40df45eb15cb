//! The node types and their `data`, exactly as the React builder writes them
//! (issue 4, item 1). Parsing is read-only: [`crate::Node::data`] keeps the raw
//! JSON, unknown keys included, and is what gets stored; these types are
//! what validation and the interpreter read from it.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::condition::{Combinator, ConditionData, Operator, Rule};
use crate::events::KeyPart;
use crate::time::{IsoDuration, parse_time_of_day};
use crate::validate::code;
use spec::{FieldSpec, FieldType, NodeTypeSpec, event_names};

pub mod spec;

/// The handle name of a node with a single way out.
pub const DEFAULT_HANDLE: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    Trigger,
    Delay,
    WaitForEvent,
    Condition,
    Split,
    SendMessage,
    Approval,
    UpdateCustomer,
    Webhook,
    Exit,
}

impl NodeType {
    pub const ALL: [NodeType; 10] = [
        Self::Trigger,
        Self::Delay,
        Self::WaitForEvent,
        Self::Condition,
        Self::Split,
        Self::SendMessage,
        Self::Approval,
        Self::UpdateCustomer,
        Self::Webhook,
        Self::Exit,
    ];

    /// The React Flow `type` string.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Delay => "delay",
            Self::WaitForEvent => "waitForEvent",
            Self::Condition => "condition",
            Self::Split => "split",
            Self::SendMessage => "sendMessage",
            Self::Approval => "approval",
            Self::UpdateCustomer => "updateCustomer",
            Self::Webhook => "webhook",
            Self::Exit => "exit",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Nodes that hold a recipient until time passes or something happens;
    /// a cycle must go through one of them. An approval counts: it holds the
    /// recipient until a person decides or it expires.
    pub fn waits(self) -> bool {
        matches!(self, Self::Delay | Self::WaitForEvent | Self::Approval)
    }

    /// The out handles every node of this type has; `None` for `split`,
    /// whose handles are its branch ids.
    pub fn fixed_handles(self) -> Option<&'static [&'static str]> {
        Some(match self {
            Self::Split => return None,
            Self::Exit => &[],
            Self::Condition => &["true", "false"],
            Self::WaitForEvent => &["event", "timeout"],
            Self::Approval => &["approved", "rejected", "expired"],
            Self::Trigger
            | Self::Delay
            | Self::SendMessage
            | Self::UpdateCustomer
            | Self::Webhook => &[DEFAULT_HANDLE],
        })
    }
}

/// Why a node's `data` cannot be read; `code` is a validation code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NodeDataError {
    pub code: &'static str,
    pub message: String,
}

impl NodeDataError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: code::INVALID_DATA,
            message: message.into(),
        }
    }
}

/// A node's `data`, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeData {
    Trigger(TriggerData),
    Delay(DelayData),
    WaitForEvent(WaitForEventData),
    Condition(ConditionData),
    Split(SplitData),
    SendMessage(SendMessageData),
    Approval(ApprovalData),
    UpdateCustomer(UpdateCustomerData),
    Webhook(WebhookData),
    Exit(ExitData),
}

impl NodeData {
    /// Reads `data` for a node of type `node_type`. Success means the
    /// interpreter can run the node; what it refers to outside the node
    /// (templates, edges) is checked by [`crate::validate()`].
    pub fn parse(node_type: NodeType, data: &Value) -> Result<Self, NodeDataError> {
        let empty = Value::Object(Map::new());
        let data = match data {
            Value::Null => &empty,
            Value::Object(_) => data,
            _ => return Err(NodeDataError::invalid("data must be an object")),
        };
        Ok(match node_type {
            NodeType::Trigger => Self::Trigger(TriggerData::parse(data)?),
            NodeType::Delay => Self::Delay(DelayData::parse(data)?),
            NodeType::WaitForEvent => Self::WaitForEvent(WaitForEventData::parse(data)?),
            NodeType::Condition => Self::Condition(parse_condition(data)?),
            NodeType::Split => Self::Split(SplitData::parse(data)?),
            NodeType::SendMessage => Self::SendMessage(SendMessageData::parse(data)?),
            NodeType::Approval => Self::Approval(ApprovalData::parse(data)?),
            NodeType::UpdateCustomer => Self::UpdateCustomer(UpdateCustomerData::parse(data)?),
            NodeType::Webhook => Self::Webhook(WebhookData::parse(data)?),
            NodeType::Exit => Self::Exit(ExitData::parse(data)?),
        })
    }

    pub fn node_type(&self) -> NodeType {
        match self {
            Self::Trigger(_) => NodeType::Trigger,
            Self::Delay(_) => NodeType::Delay,
            Self::WaitForEvent(_) => NodeType::WaitForEvent,
            Self::Condition(_) => NodeType::Condition,
            Self::Split(_) => NodeType::Split,
            Self::SendMessage(_) => NodeType::SendMessage,
            Self::Approval(_) => NodeType::Approval,
            Self::UpdateCustomer(_) => NodeType::UpdateCustomer,
            Self::Webhook(_) => NodeType::Webhook,
            Self::Exit(_) => NodeType::Exit,
        }
    }

    /// The out handles of this node, each of which must be connected.
    pub fn handles(&self) -> Vec<&str> {
        match self {
            Self::Split(split) => split.branches.iter().map(|b| b.id.as_str()).collect(),
            other => other
                .node_type()
                .fixed_handles()
                .unwrap_or_default()
                .to_vec(),
        }
    }
}

/// Deserialises the raw shape, turning serde's message into an
/// `invalid_data` error.
fn shape<'de, T: Deserialize<'de>>(data: &'de Value) -> Result<T, NodeDataError> {
    T::deserialize(data).map_err(|e| NodeDataError::invalid(e.to_string()))
}

fn non_empty(what: &str, value: Option<String>) -> Result<Option<String>, NodeDataError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(NodeDataError::invalid(format!("{what} is empty"))),
        other => Ok(other),
    }
}

fn positive(what: &str, duration: IsoDuration) -> Result<IsoDuration, NodeDataError> {
    if duration.is_zero() {
        return Err(NodeDataError::invalid(format!(
            "{what} must be longer than zero"
        )));
    }
    Ok(duration)
}

// ---- trigger ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerSource {
    /// A target group, chosen in the data or when the campaign is run.
    Segment,
    /// A domain event (e.g. `purchase_approved`) starts it per customer.
    Event,
    Manual,
    /// A cron expression starts it.
    Schedule,
}

/// Whether a customer who already went through the campaign may enter again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    Never,
    Always,
    /// Again once this long has passed since the last entry.
    After(IsoDuration),
    /// `perKey`: once per key of the starting event (its purchase, else its
    /// subscription, else its product; see [`crate::events::EventKey::identity`]),
    /// so a customer who buys two products goes through twice, side by side.
    PerKey,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerData {
    pub source: TriggerSource,
    pub target_group_id: Option<String>,
    pub event: Option<String>,
    pub cron: Option<String>,
    /// `never` when absent.
    pub reentry: Reentry,
    /// `productIds`: an event trigger starts only for events about one of
    /// these jornada products (any product when empty).
    pub product_ids: Vec<Uuid>,
    /// `offerCodes`: likewise, for Hotmart offer codes.
    pub offer_codes: Vec<String>,
}

impl TriggerData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            source: TriggerSource,
            target_group_id: Option<String>,
            event: Option<String>,
            cron: Option<String>,
            reentry: Option<String>,
            #[serde(default)]
            product_ids: Vec<String>,
            #[serde(default)]
            offer_codes: Vec<String>,
        }
        let raw: Raw = shape(data)?;
        let reentry = match raw.reentry.as_deref() {
            None | Some("never") => Reentry::Never,
            Some("always") => Reentry::Always,
            Some("perKey") => Reentry::PerKey,
            Some(other) => Reentry::After(positive(
                "reentry",
                other.parse().map_err(|_| {
                    NodeDataError::invalid(format!(
                        "reentry must be never, always, perKey or an ISO-8601 duration such as P30D, not {other:?}"
                    ))
                })?,
            )?),
        };
        let product_ids = raw
            .product_ids
            .iter()
            .map(|id| {
                id.trim().parse::<Uuid>().map_err(|_| {
                    NodeDataError::invalid(format!(
                        "productIds holds jornada product ids, not {id:?}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        if raw.offer_codes.iter().any(|code| code.trim().is_empty()) {
            return Err(NodeDataError::invalid("offerCodes has an empty entry"));
        }
        let data = Self {
            source: raw.source,
            target_group_id: non_empty("targetGroupId", raw.target_group_id)?,
            event: non_empty("event", raw.event)?,
            cron: non_empty("cron", raw.cron)?,
            reentry,
            product_ids,
            offer_codes: raw
                .offer_codes
                .iter()
                .map(|c| c.trim().to_owned())
                .collect(),
        };
        match data.source {
            TriggerSource::Event if data.event.is_none() => {
                Err(NodeDataError::invalid("an event trigger needs event"))
            }
            TriggerSource::Schedule if data.cron.is_none() => {
                Err(NodeDataError::invalid("a schedule trigger needs cron"))
            }
            _ => {
                if let Some(expr) = &data.cron {
                    expr.parse::<crate::schedule::CronSchedule>()
                        .map_err(NodeDataError::invalid)?;
                }
                Ok(data)
            }
        }
    }
}

impl TriggerData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Trigger,
            "Starts the journey: for a target group, on a domain event, by hand or on a schedule.",
            serde_json::json!({"source": "manual"}),
        )
        .field(
            FieldSpec::new("source", FieldType::Choice, "What starts the journey.")
                .required()
                .allowed(["segment", "event", "manual", "schedule"]),
        )
        .field(FieldSpec::new(
            "targetGroupId",
            FieldType::Id,
            "The target group a segment or schedule trigger starts for (a segment trigger may leave it to the run).",
        ))
        .field(
            FieldSpec::new("event", FieldType::Event, "The domain event an event trigger starts on; needed when source is event.")
                .allowed(event_names()),
        )
        .field(FieldSpec::new(
            "cron",
            FieldType::Cron,
            "When a schedule trigger fires, seconds first, in the workspace's time zone (e.g. `0 0 9 * * MON`); needed when source is schedule.",
        ))
        .field(
            FieldSpec::new(
                "reentry",
                FieldType::Text,
                "Whether a customer who went through the journey may enter again: never, always, perKey (once per purchase, subscription or product of the starting event), or an ISO-8601 duration after the last entry (e.g. P30D).",
            )
            .default("never".into()),
        )
        .field(FieldSpec::new(
            "productIds",
            FieldType::TextList,
            "An event trigger starts only on events about these products (jornada product ids).",
        ))
        .field(FieldSpec::new(
            "offerCodes",
            FieldType::TextList,
            "An event trigger starts only on purchases of these Hotmart offers.",
        ))
    }
}

// ---- delay ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayData {
    /// `{"duration": "PT2H"}`
    For(IsoDuration),
    /// `{"until": "09:00"}`: the next time the workspace's clock shows it.
    Until(NaiveTime),
}

impl DelayData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            duration: Option<IsoDuration>,
            until: Option<String>,
        }
        let raw: Raw = shape(data)?;
        match (raw.duration, raw.until) {
            (Some(duration), None) => Ok(Self::For(positive("duration", duration)?)),
            (None, Some(until)) => parse_time_of_day(&until).map(Self::Until).ok_or_else(|| {
                NodeDataError::invalid(format!("until must be a time of day HH:MM, not {until:?}"))
            }),
            (Some(_), Some(_)) => Err(NodeDataError::invalid(
                "a delay has either duration or until, not both",
            )),
            (None, None) => Err(NodeDataError::invalid("a delay needs duration or until")),
        }
    }
}

impl DelayData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Delay,
            "Holds the recipient for a while, or until a time of day; one of duration or until.",
            serde_json::json!({"duration": "P1D"}),
        )
        .field(FieldSpec::new(
            "duration",
            FieldType::Duration,
            "How long to wait, e.g. PT2H or P2D.",
        ))
        .field(FieldSpec::new(
            "until",
            FieldType::TimeOfDay,
            "Wait until the workspace's clock next shows this time, e.g. 09:00.",
        ))
    }
}

// ---- waitForEvent ----

#[derive(Debug, Clone, PartialEq)]
pub struct WaitForEventData {
    pub event: String,
    pub timeout: IsoDuration,
    /// `match`: wake only on an event about the same transaction, product
    /// or subscription as the event that started the journey (any event of
    /// that name when absent).
    pub matching: Option<KeyPart>,
}

impl WaitForEventData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            event: String,
            timeout: IsoDuration,
            #[serde(rename = "match")]
            matching: Option<String>,
        }
        let raw: Raw = shape(data)?;
        let matching = match raw.matching.as_deref() {
            None => None,
            Some(name) => Some(KeyPart::parse_match(name).ok_or_else(|| {
                NodeDataError::invalid(format!(
                    "match must be transaction, product or subscription, not {name:?}"
                ))
            })?),
        };
        Ok(Self {
            event: non_empty("event", Some(raw.event))?.unwrap_or_default(),
            timeout: positive("timeout", raw.timeout)?,
            matching,
        })
    }
}

impl WaitForEventData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::WaitForEvent,
            "Holds the recipient until a domain event about them, or the timeout.",
            serde_json::json!({"event": "first_access", "timeout": "P3D"}),
        )
        .field(
            FieldSpec::new(
                "event",
                FieldType::Event,
                "The domain event that goes on by the event handle.",
            )
            .required()
            .allowed(event_names()),
        )
        .field(
            FieldSpec::new(
                "timeout",
                FieldType::Duration,
                "How long to wait before going on by the timeout handle.",
            )
            .required(),
        )
        .field(
            FieldSpec::new(
                "match",
                FieldType::Choice,
                "Wake only on an event about the same transaction, product or subscription as the event that started the journey.",
            )
            .allowed(KeyPart::MATCHABLE.iter().map(|p| p.as_str())),
        )
    }
}

// ---- condition ----

fn parse_condition(data: &Value) -> Result<ConditionData, NodeDataError> {
    #[derive(Deserialize)]
    struct Raw {
        combinator: Option<String>,
        rules: Vec<Value>,
    }
    let raw: Raw = shape(data)?;
    let combinator = match raw.combinator.as_deref() {
        None | Some("and") => Combinator::And,
        Some("or") => Combinator::Or,
        Some(other) => {
            return Err(NodeDataError::invalid(format!(
                "combinator must be and or or, not {other:?}"
            )));
        }
    };
    if raw.rules.is_empty() {
        return Err(NodeDataError::invalid(
            "a condition needs at least one rule",
        ));
    }
    let rules = raw
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| Rule::parse(i, rule))
        .collect::<Result<_, _>>()?;
    Ok(ConditionData { combinator, rules })
}

fn condition_spec() -> NodeTypeSpec {
    NodeTypeSpec::new(
        NodeType::Condition,
        "Goes on by true or false, by rules over the customer and the enrolment.",
        serde_json::json!({"combinator": "and", "rules": [{"field": "customer.tags", "op": "contains", "value": "aluna"}]}),
    )
    .field(
        FieldSpec::new("combinator", FieldType::Choice, "Whether every rule (and) or any rule (or) must hold.")
            .allowed(["and", "or"])
            .default("and".into()),
    )
    .field(
        FieldSpec::new("rules", FieldType::ObjectList, "At least one rule.")
            .required()
            .fields(vec![
                FieldSpec::new("field", FieldType::Choice, "What the rule reads.")
                    .required()
                    .allowed(crate::Variable::ALL.iter().map(|v| v.name())),
                FieldSpec::new("op", FieldType::Choice, "How it compares (which apply depends on the field's kind).")
                    .required()
                    .allowed(Operator::ALL.iter().map(|op| op.name())),
                FieldSpec::new("value", FieldType::Json, "What it compares with: a text, a number, an RFC 3339 instant or a list for in; none for exists and not_exists."),
            ]),
    )
}

// ---- split ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitBranch {
    pub id: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SplitData {
    pub branches: Vec<SplitBranch>,
}

impl SplitData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            branches: Vec<SplitBranch>,
        }
        let raw: Raw = shape(data)?;
        if raw.branches.len() < 2 {
            return Err(NodeDataError::invalid(
                "a split needs at least two branches",
            ));
        }
        let mut total = 0.0;
        for (i, branch) in raw.branches.iter().enumerate() {
            if branch.id.trim().is_empty() {
                return Err(NodeDataError::invalid(format!(
                    "branches[{i}] has an empty id"
                )));
            }
            if raw.branches[..i].iter().any(|b| b.id == branch.id) {
                return Err(NodeDataError::invalid(format!(
                    "branch id {:?} is used twice",
                    branch.id
                )));
            }
            if !(branch.weight.is_finite() && branch.weight > 0.0) {
                return Err(NodeDataError::invalid(format!(
                    "branch {:?} needs a positive weight",
                    branch.id
                )));
            }
            total += branch.weight;
        }
        if !total.is_finite() {
            return Err(NodeDataError::invalid("the branch weights are too large"));
        }
        Ok(Self {
            branches: raw.branches,
        })
    }
}

impl SplitData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Split,
            "Sends each recipient down one branch, by weight; the same recipient always takes the same branch.",
            serde_json::json!({"branches": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}]}),
        )
        .field(
            FieldSpec::new("branches", FieldType::ObjectList, "At least two branches; each is an out handle named by its id.")
                .required()
                .fields(vec![
                    FieldSpec::new("id", FieldType::Text, "The branch's handle, unique in the node.").required(),
                    FieldSpec::new("weight", FieldType::Number, "Its share, a positive number.").required(),
                ]),
        )
        .handles_from("branches", "id")
    }
}

// ---- sendMessage ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Email,
    Sms,
    Push,
    Webhook,
    Log,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
            Self::Webhook => "webhook",
            Self::Log => "log",
        }
    }
}

/// How a `sendMessage` names its template: `templateId`, or `templateName`
/// with an optional `language` (`templateId` wins when both are given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TemplateRef {
    Id(String),
    Name {
        name: String,
        language: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendMessageData {
    pub channel: Channel,
    pub template: Option<TemplateRef>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// Template parameters in the builder's order, values being templates
    /// (`{"1": "{{customer.first_name}}"}`).
    pub variables: Vec<(String, String)>,
    /// Suffixes of a WhatsApp template's dynamic URL buttons, by button
    /// index (`{"0": "{{enrollment.access_url}}"}`), in index order.
    pub button_variables: Vec<(u32, String)>,
    pub require_approval: bool,
}

impl SendMessageData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            channel: Channel,
            template_id: Option<String>,
            template_name: Option<String>,
            language: Option<String>,
            subject: Option<String>,
            body: Option<String>,
            #[serde(default)]
            variables: Map<String, Value>,
            #[serde(default)]
            button_variables: Map<String, Value>,
            #[serde(default)]
            require_approval: bool,
        }
        let raw: Raw = shape(data)?;
        let template = match (
            non_empty("templateId", raw.template_id)?,
            non_empty("templateName", raw.template_name)?,
        ) {
            (Some(id), _) => Some(TemplateRef::Id(id)),
            (None, Some(name)) => Some(TemplateRef::Name {
                name,
                language: raw.language.filter(|l| !l.trim().is_empty()),
            }),
            (None, None) => None,
        };
        let variables = raw
            .variables
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key, text)),
                other => Err(NodeDataError::invalid(format!(
                    "variables.{key} must be a string, not {other}"
                ))),
            })
            .collect::<Result<_, _>>()?;
        let mut button_variables = raw
            .button_variables
            .into_iter()
            .map(|(key, value)| {
                // Meta numbers a template's buttons from 0; it has at most 10.
                let index = key.parse::<u32>().ok().filter(|i| *i < 10).ok_or_else(|| {
                    NodeDataError::invalid(format!(
                        "buttonVariables keys are button indexes 0 to 9, not {key:?}"
                    ))
                })?;
                match value {
                    Value::String(text) => Ok((index, text)),
                    other => Err(NodeDataError::invalid(format!(
                        "buttonVariables.{key} must be a string, not {other}"
                    ))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        button_variables.sort_by_key(|(index, _)| *index);
        let has_body = raw.body.as_deref().is_some_and(|b| !b.trim().is_empty());
        match raw.channel {
            // A WhatsApp message outside the 24 h window must be a template;
            // its absence is reported as template_missing by validation.
            Channel::Whatsapp => {}
            _ if template.is_none() && !has_body => {
                return Err(NodeDataError::invalid(format!(
                    "a {} message needs a body or a template",
                    raw.channel.name()
                )));
            }
            _ => {}
        }
        Ok(Self {
            channel: raw.channel,
            template,
            subject: raw.subject,
            body: raw.body,
            variables,
            button_variables,
            require_approval: raw.require_approval,
        })
    }
}

impl SendMessageData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::SendMessage,
            "Sends a message through a channel, under the workspace's sending rules; with requireApproval it waits in the dispatch queue first.",
            serde_json::json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}}),
        )
        .field(
            FieldSpec::new("channel", FieldType::Choice, "Where the message goes.")
                .required()
                .allowed(["whatsapp", "email", "sms", "push", "webhook", "log"]),
        )
        .field(FieldSpec::new("templateId", FieldType::Id, "The message template, by id (wins over templateName)."))
        .field(FieldSpec::new("templateName", FieldType::Text, "The message template, by name; WhatsApp needs a template or an open 24 h window."))
        .field(FieldSpec::new("language", FieldType::Text, "The template's language, e.g. pt_BR."))
        .field(FieldSpec::new("subject", FieldType::Template, "An e-mail's subject."))
        .field(FieldSpec::new("body", FieldType::Template, "The text, when there is no template; other channels than WhatsApp need a body or a template."))
        .field(FieldSpec::new(
            "variables",
            FieldType::TemplateMap,
            "The template's body parameters in order, keyed 1, 2, ...: {\"1\": \"{{customer.first_name}}\"}.",
        ))
        .field(FieldSpec::new(
            "buttonVariables",
            FieldType::TemplateMap,
            "The suffixes of a WhatsApp template's URL buttons, keyed by button index 0 to 9.",
        ))
        .field(
            FieldSpec::new("requireApproval", FieldType::Boolean, "Whether a person approves the message in the dispatch queue first.")
                .default(false.into()),
        )
    }
}

// ---- approval ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalData {
    pub expires_after: IsoDuration,
}

impl ApprovalData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            expires_after: IsoDuration,
        }
        let raw: Raw = shape(data)?;
        Ok(Self {
            expires_after: positive("expiresAfter", raw.expires_after)?,
        })
    }
}

impl ApprovalData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Approval,
            "A human gate: waits in the dispatch queue until a person approves or rejects, or it expires.",
            serde_json::json!({"expiresAfter": "P3D"}),
        )
        .field(
            FieldSpec::new("expiresAfter", FieldType::Duration, "How long the item waits before going on by expired.")
                .required(),
        )
    }
}

// ---- updateCustomer ----

/// The customer fields `updateCustomer.set` may write. `metadata.<key>`
/// writes one key of the customer's metadata and takes any JSON value; the
/// others take a string, or null to clear.
pub const SETTABLE_FIELDS: [&str; 4] = ["name", "phone", "segment", "churnRisk"];

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCustomerData {
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    #[serde(default)]
    pub set: Map<String, Value>,
    #[serde(default)]
    pub chatwoot_labels: Vec<String>,
}

impl UpdateCustomerData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        let parsed: Self = shape(data)?;
        for (what, list) in [
            ("addTags", &parsed.add_tags),
            ("removeTags", &parsed.remove_tags),
            ("chatwootLabels", &parsed.chatwoot_labels),
        ] {
            if list.iter().any(|t| t.trim().is_empty()) {
                return Err(NodeDataError::invalid(format!("{what} has an empty entry")));
            }
        }
        for (key, value) in &parsed.set {
            let metadata_key = key.strip_prefix("metadata.");
            if metadata_key.is_some_and(|k| !k.is_empty()) {
                continue;
            }
            if !SETTABLE_FIELDS.contains(&key.as_str()) {
                return Err(NodeDataError::invalid(format!(
                    "set.{key}: only {} and metadata.<key> can be set",
                    SETTABLE_FIELDS.join(", ")
                )));
            }
            if !(value.is_string() || value.is_null()) {
                return Err(NodeDataError::invalid(format!(
                    "set.{key} must be a string or null"
                )));
            }
        }
        Ok(parsed)
    }
}

impl UpdateCustomerData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::UpdateCustomer,
            "Changes the customer: tags, fields, Chatwoot labels.",
            serde_json::json!({"addTags": ["engajada"]}),
        )
        .field(FieldSpec::new("addTags", FieldType::TextList, "Tags to add."))
        .field(FieldSpec::new("removeTags", FieldType::TextList, "Tags to remove."))
        .field(FieldSpec::new(
            "set",
            FieldType::Object,
            "Fields to write: name, phone, segment, churnRisk (a text, or null to clear) and metadata.<key> (any JSON).",
        ))
        .field(FieldSpec::new("chatwootLabels", FieldType::TextList, "Labels to add to the customer's Chatwoot conversation."))
    }
}

// ---- webhook ----

pub const WEBHOOK_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookData {
    /// May hold `{{variables}}`; substituted values are percent-encoded.
    pub url: String,
    /// Upper case; `POST` when absent.
    pub method: String,
    /// A string or any JSON; every string in it is a template.
    pub body: Option<Value>,
}

impl WebhookData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            url: String,
            method: Option<String>,
            body: Option<Value>,
        }
        let raw: Raw = shape(data)?;
        if !crate::template::is_http_url(raw.url.trim()) {
            return Err(NodeDataError::invalid(format!(
                "url must start with http:// or https://, not {:?}",
                raw.url
            )));
        }
        let method = raw
            .method
            .map(|m| m.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "POST".into());
        if !WEBHOOK_METHODS.contains(&method.as_str()) {
            return Err(NodeDataError::invalid(format!(
                "method must be one of {}",
                WEBHOOK_METHODS.join(", ")
            )));
        }
        Ok(Self {
            url: raw.url.trim().to_owned(),
            method,
            body: raw.body.filter(|b| !b.is_null()),
        })
    }
}

impl WebhookData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Webhook,
            "Calls an HTTP endpoint (an n8n or Kestra flow, a CRM).",
            serde_json::json!({"url": "https://hooks.example.com/jornada", "method": "POST"}),
        )
        .field(
            FieldSpec::new(
                "url",
                FieldType::Url,
                "Where to call; substituted variables are percent-encoded.",
            )
            .required(),
        )
        .field(
            FieldSpec::new("method", FieldType::Choice, "The HTTP method.")
                .allowed(WEBHOOK_METHODS)
                .default("POST".into()),
        )
        .field(FieldSpec::new(
            "body",
            FieldType::Json,
            "A text or any JSON; every string in it is a template.",
        ))
    }
}

// ---- exit ----

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitData {
    /// The conversion this exit counts, e.g. `purchase_approved`.
    pub goal: Option<String>,
}

impl ExitData {
    fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            goal: Option<String>,
        }
        let raw: Raw = shape(data)?;
        Ok(Self {
            goal: non_empty("goal", raw.goal)?,
        })
    }
}

impl ExitData {
    fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Exit,
            "Ends the journey; with a goal, reaching it counts as a conversion.",
            serde_json::json!({}),
        )
        .field(
            FieldSpec::new(
                "goal",
                FieldType::Event,
                "The domain event that counts as this journey's conversion.",
            )
            .allowed(event_names()),
        )
    }
}

#[cfg(test)]
mod tests;
