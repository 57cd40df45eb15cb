//! `analytics_rollups`: how far the worker has added up each workspace's
//! transactions and subscription histories, and in which time zone.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "analytics_rollups")]
pub struct Model {
    /// The workspace's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The time zone the stored days are in; another one means adding
    /// everything up again.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub time_zone: String,
    /// Transactions updated up to then are in `revenue_days`.
    pub revenue_until: Option<DateTimeUtc>,
    /// Subscription changes recorded up to then are in `mrr_movements`.
    pub movements_until: Option<DateTimeUtc>,
    /// The grace the movements were derived with; another one means
    /// deriving them all again.
    pub past_due_grace_days: i32,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by Id, on delete Cascade;
}

related! {
    workspace => Workspace,
}

impl ActiveModelBehavior for ActiveModel {}
