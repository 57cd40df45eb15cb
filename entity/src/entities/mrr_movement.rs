//! `mrr_movements`: each change of a subscription's monthly recurring
//! revenue (new, expansion, contraction, churned, reactivated), derived by
//! the worker from the subscription's history.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "mrr_movements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub subscription_id: Uuid,
    pub product_id: Option<Uuid>,
    /// The day of `occurred_at` in the workspace's time zone.
    pub day: Date,
    pub occurred_at: DateTimeUtc,
    /// `new`, `expansion`, `contraction`, `churned` or `reactivated`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub kind: String,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    /// How much the MRR moved (negative for contraction and churn).
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub mrr_delta: Decimal,
    /// +1 for new and reactivated, -1 for churned, else 0.
    pub subscribers_delta: i32,
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
