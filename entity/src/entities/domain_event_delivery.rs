//! `domain_event_deliveries`: which consumer has handled which domain event,
//! so a redelivered event is recognised and skipped.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "domain_event_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub domain_event_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub consumer: String,
    pub delivered_at: DateTimeUtc,
}

relations! {
    DomainEvent: belongs_to domain_event by DomainEventId, on delete Cascade;
}

related! {
    domain_event => DomainEvent,
}

impl ActiveModelBehavior for ActiveModel {}
