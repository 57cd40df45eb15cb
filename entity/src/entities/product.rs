//! `products`: a Hotmart product (course, membership, ...).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hotmart_product_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub ucode: Option<String>,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub cover_url: Option<String>,
    pub monitored: bool,
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
    #[sea_orm(has_many = "super::offer::Entity")]
    Offer,
    #[sea_orm(has_many = "super::module::Entity")]
    Module,
    #[sea_orm(has_many = "super::lesson::Entity")]
    Lesson,
    #[sea_orm(has_many = "super::subscription::Entity")]
    Subscription,
    #[sea_orm(has_many = "super::transaction::Entity")]
    Transaction,
    #[sea_orm(has_many = "super::enrollment::Entity")]
    Enrollment,
    #[sea_orm(has_many = "super::message_template::Entity")]
    MessageTemplate,
    #[sea_orm(has_many = "super::analytics_snapshot::Entity")]
    AnalyticsSnapshot,
}

related! {
    workspace => Workspace,
    offer => Offer,
    module => Module,
    lesson => Lesson,
    subscription => Subscription,
    transaction => Transaction,
    enrollment => Enrollment,
    message_template => MessageTemplate,
    analytics_snapshot => AnalyticsSnapshot,
}

impl ActiveModelBehavior for ActiveModel {}
