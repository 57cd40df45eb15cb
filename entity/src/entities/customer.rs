//! `customers`: a person known to a workspace; e-mail is stored lower-case and unique per workspace.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hotmart_ucode: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub chatwoot_contact_id: Option<String>,
    /// The Chatwoot conversation the customer last wrote in: where labels go.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub chatwoot_conversation_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(254))")]
    pub email: String,
    pub name: Option<String>,
    /// E.164.
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub phone: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub document: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(8))")]
    pub document_type: Option<String>,
    /// Array of strings; the application writes `[]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub segment: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub churn_risk: Option<String>,
    /// 0–100, the sum of `churn_risk_reasons`' points; null for a lead and
    /// for a customer whose access has ended.
    pub churn_risk_score: Option<i32>,
    /// `[{"code", "points", "since"?, "deadline"?, "productId"?}]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub churn_risk_reasons: Option<Json>,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub ltv_total: Decimal,
    pub first_activity_at: Option<DateTimeUtc>,
    pub last_activity_at: Option<DateTimeUtc>,
    /// Per channel, e.g. `{"whatsapp": {"optedOut": true, "at": "...", "source": "stop_reply"}}`; the application writes `{}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub consent: Json,
    /// Free-form object; the application writes `{}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    CustomerNote: has_many customer_note;
    CustomerActivity: has_many customer_activity;
    Subscription: has_many subscription;
    Transaction: has_many transaction;
    Enrollment: has_many enrollment;
    LessonProgress: has_many lesson_progress;
    CampaignRecipient: has_many campaign_recipient;
    DispatchItem: has_many dispatch_item;
    Message: has_many message;
    TrackedLink: has_many tracked_link;
    ConversationTag: has_many conversation_tag;
}

related! {
    workspace => Workspace,
    customer_note => CustomerNote,
    customer_activity => CustomerActivity,
    subscription => Subscription,
    transaction => Transaction,
    enrollment => Enrollment,
    lesson_progress => LessonProgress,
    campaign_recipient => CampaignRecipient,
    dispatch_item => DispatchItem,
    message => Message,
    tracked_link => TrackedLink,
    conversation_tag => ConversationTag,
}

impl ActiveModelBehavior for ActiveModel {}
