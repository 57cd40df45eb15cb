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

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id",
        on_delete = "Cascade"
    )]
    Workspace,
    #[sea_orm(has_many = "super::customer_note::Entity")]
    CustomerNote,
    #[sea_orm(has_many = "super::customer_activity::Entity")]
    CustomerActivity,
    #[sea_orm(has_many = "super::subscription::Entity")]
    Subscription,
    #[sea_orm(has_many = "super::transaction::Entity")]
    Transaction,
    #[sea_orm(has_many = "super::enrollment::Entity")]
    Enrollment,
    #[sea_orm(has_many = "super::lesson_progress::Entity")]
    LessonProgress,
    #[sea_orm(has_many = "super::campaign_recipient::Entity")]
    CampaignRecipient,
    #[sea_orm(has_many = "super::dispatch_item::Entity")]
    DispatchItem,
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
    #[sea_orm(has_many = "super::tracked_link::Entity")]
    TrackedLink,
    #[sea_orm(has_many = "super::conversation_tag::Entity")]
    ConversationTag,
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
