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

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Offer: has_many offer;
    Module: has_many module;
    Lesson: has_many lesson;
    Subscription: has_many subscription;
    Transaction: has_many transaction;
    Enrollment: has_many enrollment;
    MessageTemplate: has_many message_template;
    AnalyticsSnapshot: has_many analytics_snapshot;
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
