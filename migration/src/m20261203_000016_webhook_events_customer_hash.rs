//! Webhook events carry a hash of the customer they are about, so appliers
//! running side by side can split the queue by customer.
//!
//! Three appliers on PostgreSQL each take the oldest due events no other
//! holds. Taken that way, two batches often held events of the same
//! customers (a launch day's buyers come back: billet, then payment, then
//! first access), and each waited on the other's customer rows: the
//! webhooks bench spent most of its customer upserts waiting, the appliers
//! in effect taking turns. With the hash stored at arrival, applier k of n
//! takes only events whose `customer_hash % n = k` (events naming no
//! customer by e-mail, and those stored before this column, go to the
//! first), so side-by-side batches never share a customer. It needs no
//! index: a pick reads the due index in order and passes over the other
//! appliers' rows.

use sea_orm_migration::prelude::*;

use crate::schema::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let hash = ColumnDef::new("customer_hash").integer().null().to_owned();
        add_column(manager, "webhook_events", hash).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "webhook_events", "customer_hash").await
    }
}
