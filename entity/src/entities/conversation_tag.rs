//! `conversation_tags`: a label put on a Chatwoot conversation, for BI.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "conversation_tags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub chatwoot_conversation_id: String,
    pub customer_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub label: String,
    pub tagged_at: DateTimeUtc,
    pub removed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete SetNull;
}

related! {
    workspace => Workspace,
    customer => Customer,
}

impl ActiveModelBehavior for ActiveModel {}
