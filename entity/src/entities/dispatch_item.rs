//! `dispatch_queue`: a dispatch waiting for (or past) a human decision.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::{Channel, DispatchStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dispatch_queue")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub rule_id: Option<Uuid>,
    pub customer_id: Uuid,
    pub template_id: Option<Uuid>,
    pub campaign_recipient_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub node_id: Option<String>,
    pub channel: Channel,
    #[sea_orm(column_type = "JsonBinary")]
    pub variables: Json,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub context: Json,
    pub status: DispatchStatus,
    pub suggested_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub decided_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub decided_by: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub rejection_reason: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub edited_content: Option<Json>,
    /// Why it was suggested, as a stable code (`ACCESS_MISSING`, `TEMPLATE_NOT_APPROVED`, …).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub reason_code: Option<String>,
    /// The rule trigger that suggested it.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub trigger: Option<String>,
    pub product_id: Option<Uuid>,
    pub module_id: Option<Uuid>,
    /// The purchase it is about (a billet waiting for payment).
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub transaction_code: Option<String>,
    /// `rule:customer:product`: one pending item per subject.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub subject_key: Option<String>,
    /// Why an approved send was refused or failed, as a stable code.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub error_code: Option<String>,
    /// An approved item is sent from then on (a send deferred by quiet hours or the cap).
    pub send_after: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    AutomationRule: belongs_to automation_rule by RuleId, on delete SetNull;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    MessageTemplate: belongs_to message_template by TemplateId, on delete SetNull;
    CampaignRecipient: belongs_to campaign_recipient by CampaignRecipientId, on delete Cascade;
    Message: has_many message;
}

related! {
    workspace => Workspace,
    automation_rule => AutomationRule,
    customer => Customer,
    message_template => MessageTemplate,
    campaign_recipient => CampaignRecipient,
    message => Message,
}

impl ActiveModelBehavior for ActiveModel {}
