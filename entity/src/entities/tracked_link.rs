//! `tracked_links`: a short link whose clicks are counted.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tracked_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(32))", unique)]
    pub code: String,
    pub message_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub target_url: String,
    pub click_count: i32,
    pub first_clicked_at: Option<DateTimeUtc>,
    pub last_clicked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Message: belongs_to message by MessageId, on delete SetNull;
    Customer: belongs_to customer by CustomerId, on delete SetNull;
}

related! {
    workspace => Workspace,
    message => Message,
    customer => Customer,
}

impl ActiveModelBehavior for ActiveModel {}
