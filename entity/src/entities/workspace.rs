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

relations! {
    Setting: has_many setting;
    Product: has_many product;
    Offer: has_many offer;
    Module: has_many module;
    Lesson: has_many lesson;
    Customer: has_many customer;
    CustomerNote: has_many customer_note;
    CustomerActivity: has_many customer_activity;
    Subscription: has_many subscription;
    Transaction: has_many transaction;
    Enrollment: has_many enrollment;
    LessonProgress: has_many lesson_progress;
    TargetGroupMapping: has_many target_group_mapping;
    Campaign: has_many campaign;
    CampaignVersion: has_many campaign_version;
    CampaignExecution: has_many campaign_execution;
    CampaignRecipient: has_many campaign_recipient;
    WebhookEvent: has_many webhook_event;
    MessageTemplate: has_many message_template;
    AutomationRule: has_many automation_rule;
    DispatchItem: has_many dispatch_item;
    Message: has_many message;
    TrackedLink: has_many tracked_link;
    ConversationTag: has_many conversation_tag;
    AnalyticsSnapshot: has_many analytics_snapshot;
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
