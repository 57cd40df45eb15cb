//! Closed vocabularies stored as short strings (portable: no database enum types).
//!
//! Each variant serializes (serde) to the same string it is stored as.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Lifecycle of a campaign.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CampaignStatus {
    #[sea_orm(string_value = "draft")]
    #[serde(rename = "draft")]
    Draft,
    #[sea_orm(string_value = "active")]
    #[serde(rename = "active")]
    Active,
    #[sea_orm(string_value = "paused")]
    #[serde(rename = "paused")]
    Paused,
    #[sea_orm(string_value = "completed")]
    #[serde(rename = "completed")]
    Completed,
}

/// Access of a customer to a product (Hotmart's vocabulary).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AccessStatus {
    #[sea_orm(string_value = "ACTIVE")]
    #[serde(rename = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "CANCELLED")]
    #[serde(rename = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "BLOCKED")]
    #[serde(rename = "BLOCKED")]
    Blocked,
    #[sea_orm(string_value = "EXPIRED")]
    #[serde(rename = "EXPIRED")]
    Expired,
}

/// Processing state of a stored webhook event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WebhookEventStatus {
    #[sea_orm(string_value = "received")]
    #[serde(rename = "received")]
    Received,
    #[sea_orm(string_value = "processed")]
    #[serde(rename = "processed")]
    Processed,
    #[sea_orm(string_value = "ignored")]
    #[serde(rename = "ignored")]
    Ignored,
    #[sea_orm(string_value = "failed")]
    #[serde(rename = "failed")]
    Failed,
    #[sea_orm(string_value = "dead")]
    #[serde(rename = "dead")]
    Dead,
}

/// What started a campaign execution.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ExecutionType {
    #[sea_orm(string_value = "manual")]
    #[serde(rename = "manual")]
    Manual,
    #[sea_orm(string_value = "scheduled")]
    #[serde(rename = "scheduled")]
    Scheduled,
    #[sea_orm(string_value = "triggered")]
    #[serde(rename = "triggered")]
    Triggered,
}

/// State of a campaign execution.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ExecutionStatus {
    #[sea_orm(string_value = "running")]
    #[serde(rename = "running")]
    Running,
    #[sea_orm(string_value = "completed")]
    #[serde(rename = "completed")]
    Completed,
    #[sea_orm(string_value = "failed")]
    #[serde(rename = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    #[serde(rename = "cancelled")]
    Cancelled,
}

/// A delivery channel.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Channel {
    #[sea_orm(string_value = "whatsapp")]
    #[serde(rename = "whatsapp")]
    Whatsapp,
    #[sea_orm(string_value = "email")]
    #[serde(rename = "email")]
    Email,
    #[sea_orm(string_value = "sms")]
    #[serde(rename = "sms")]
    Sms,
    #[sea_orm(string_value = "push")]
    #[serde(rename = "push")]
    Push,
    #[sea_orm(string_value = "webhook")]
    #[serde(rename = "webhook")]
    Webhook,
    #[sea_orm(string_value = "log")]
    #[serde(rename = "log")]
    Log,
}

/// Delivery state of an outbox message.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MessageStatus {
    #[sea_orm(string_value = "queued")]
    #[serde(rename = "queued")]
    Queued,
    #[sea_orm(string_value = "sending")]
    #[serde(rename = "sending")]
    Sending,
    #[sea_orm(string_value = "sent")]
    #[serde(rename = "sent")]
    Sent,
    #[sea_orm(string_value = "delivered")]
    #[serde(rename = "delivered")]
    Delivered,
    #[sea_orm(string_value = "read")]
    #[serde(rename = "read")]
    Read,
    #[sea_orm(string_value = "failed")]
    #[serde(rename = "failed")]
    Failed,
    #[sea_orm(string_value = "unknown")]
    #[serde(rename = "unknown")]
    Unknown,
}

/// Whether a rule only suggests dispatches or sends them itself.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RuleMode {
    #[sea_orm(string_value = "SUGGEST_ONLY")]
    #[serde(rename = "SUGGEST_ONLY")]
    SuggestOnly,
    #[sea_orm(string_value = "AUTOMATIC")]
    #[serde(rename = "AUTOMATIC")]
    Automatic,
}

/// State of an item in the dispatch queue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DispatchStatus {
    #[sea_orm(string_value = "pending")]
    #[serde(rename = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    #[serde(rename = "approved")]
    Approved,
    #[sea_orm(string_value = "rejected")]
    #[serde(rename = "rejected")]
    Rejected,
    #[sea_orm(string_value = "sent")]
    #[serde(rename = "sent")]
    Sent,
    #[sea_orm(string_value = "error")]
    #[serde(rename = "error")]
    Error,
    #[sea_orm(string_value = "expired")]
    #[serde(rename = "expired")]
    Expired,
    /// Withdrawn before a decision: the purchase was paid, the product is no
    /// longer monitored.
    #[sea_orm(string_value = "cancelled")]
    #[serde(rename = "cancelled")]
    Cancelled,
}

/// What a background job does (`workflow::jobs::JobRequest`, by its tag).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum BackgroundJobKind {
    #[sea_orm(string_value = "hotmart_sync")]
    #[serde(rename = "hotmart_sync")]
    HotmartSync,
    #[sea_orm(string_value = "subscription_cancel")]
    #[serde(rename = "subscription_cancel")]
    SubscriptionCancel,
    #[sea_orm(string_value = "subscription_reactivate")]
    #[serde(rename = "subscription_reactivate")]
    SubscriptionReactivate,
    #[sea_orm(string_value = "template_sync")]
    #[serde(rename = "template_sync")]
    TemplateSync,
    #[sea_orm(string_value = "automation_scan")]
    #[serde(rename = "automation_scan")]
    AutomationScan,
    #[sea_orm(string_value = "chatwoot_labels")]
    #[serde(rename = "chatwoot_labels")]
    ChatwootLabels,
}

/// Where a background job is: queued, running, then succeeded or failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum BackgroundJobStatus {
    #[sea_orm(string_value = "queued")]
    #[serde(rename = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    #[serde(rename = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    #[serde(rename = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    #[serde(rename = "failed")]
    Failed,
}
