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

mod actions;
mod branching;
mod entry;
mod messages;
pub mod spec;

pub use actions::*;
pub use branching::*;
pub use entry::*;
pub use messages::*;

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

#[cfg(test)]
mod tests;
