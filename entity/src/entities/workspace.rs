//! `workspaces`: one tenant, i.e. one Hotmart seller's account.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub slug: String,
    pub time_zone: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::setting::Entity")]
    Setting,
    #[sea_orm(has_many = "super::product::Entity")]
    Product,
    #[sea_orm(has_many = "super::offer::Entity")]
    Offer,
    #[sea_orm(has_many = "super::module::Entity")]
    Module,
    #[sea_orm(has_many = "super::lesson::Entity")]
    Lesson,
    #[sea_orm(has_many = "super::customer::Entity")]
    Customer,
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
    #[sea_orm(has_many = "super::target_group_mapping::Entity")]
    TargetGroupMapping,
    #[sea_orm(has_many = "super::campaign::Entity")]
    Campaign,
    #[sea_orm(has_many = "super::campaign_version::Entity")]
    CampaignVersion,
    #[sea_orm(has_many = "super::campaign_execution::Entity")]
    CampaignExecution,
    #[sea_orm(has_many = "super::campaign_recipient::Entity")]
    CampaignRecipient,
    #[sea_orm(has_many = "super::webhook_event::Entity")]
    WebhookEvent,
    #[sea_orm(has_many = "super::message_template::Entity")]
    MessageTemplate,
    #[sea_orm(has_many = "super::automation_rule::Entity")]
    AutomationRule,
    #[sea_orm(has_many = "super::dispatch_item::Entity")]
    DispatchItem,
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
    #[sea_orm(has_many = "super::tracked_link::Entity")]
    TrackedLink,
    #[sea_orm(has_many = "super::conversation_tag::Entity")]
    ConversationTag,
    #[sea_orm(has_many = "super::analytics_snapshot::Entity")]
    AnalyticsSnapshot,
}

related! {
    setting => Setting,
    product => Product,
    offer => Offer,
    module => Module,
    lesson => Lesson,
    customer => Customer,
    customer_note => CustomerNote,
    customer_activity => CustomerActivity,
    subscription => Subscription,
    transaction => Transaction,
    enrollment => Enrollment,
    lesson_progress => LessonProgress,
    target_group_mapping => TargetGroupMapping,
    campaign => Campaign,
    campaign_version => CampaignVersion,
    campaign_execution => CampaignExecution,
    campaign_recipient => CampaignRecipient,
    webhook_event => WebhookEvent,
    message_template => MessageTemplate,
    automation_rule => AutomationRule,
    dispatch_item => DispatchItem,
    message => Message,
    tracked_link => TrackedLink,
    conversation_tag => ConversationTag,
    analytics_snapshot => AnalyticsSnapshot,
}

impl ActiveModelBehavior for ActiveModel {}
