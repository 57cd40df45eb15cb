//! `subscription_changes`: a subscription's history, one row per change of
//! its status or price, as of the moment the change took effect.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "subscription_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub subscription_id: Uuid,
    /// When the subscription took this state (the event's time).
    pub effective_at: DateTimeUtc,
    /// Hotmart's subscription status from then on.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub status: String,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub recurring_amount: Option<Decimal>,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: Option<String>,
    pub recurrence_period_days: Option<i32>,
    /// When jornada learned of it, by its clock: what the worker's catching
    /// up follows.
    pub recorded_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Subscription: belongs_to subscription by SubscriptionId, on delete Cascade;
}

related! {
    workspace => Workspace,
    subscription => Subscription,
}

impl ActiveModelBehavior for ActiveModel {}
