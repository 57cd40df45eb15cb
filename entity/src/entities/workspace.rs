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

impl Related<super::setting::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Setting.def()
    }
}

impl Related<super::product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}

impl Related<super::offer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Offer.def()
    }
}

impl Related<super::module::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Module.def()
    }
}

impl Related<super::lesson::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lesson.def()
    }
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::customer_note::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerNote.def()
    }
}

impl Related<super::customer_activity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerActivity.def()
    }
}

impl Related<super::subscription::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subscription.def()
    }
}

impl Related<super::transaction::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Transaction.def()
    }
}

impl Related<super::enrollment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Enrollment.def()
    }
}

impl Related<super::lesson_progress::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LessonProgress.def()
    }
}

impl Related<super::target_group_mapping::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TargetGroupMapping.def()
    }
}

impl Related<super::campaign::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Campaign.def()
    }
}

impl Related<super::campaign_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CampaignVersion.def()
    }
}

impl Related<super::campaign_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CampaignExecution.def()
    }
}

impl Related<super::campaign_recipient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CampaignRecipient.def()
    }
}

impl Related<super::webhook_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WebhookEvent.def()
    }
}

impl Related<super::message_template::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageTemplate.def()
    }
}

impl Related<super::automation_rule::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AutomationRule.def()
    }
}

impl Related<super::dispatch_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DispatchItem.def()
    }
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl Related<super::tracked_link::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TrackedLink.def()
    }
}

impl Related<super::conversation_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ConversationTag.def()
    }
}

impl Related<super::analytics_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AnalyticsSnapshot.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
