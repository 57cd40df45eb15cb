//! Schedule-triggered campaigns: how far each campaign's cron has been
//! considered, and which fire an execution belongs to.
//!
//! A fire is started by the worker that moves `schedule_checked_until` past
//! it (a conditional UPDATE, in the same transaction that creates the
//! execution); the unique (campaign, scheduled_for) key backs that up, so a
//! fire is started once however many workers tick. Manual and triggered
//! executions keep `scheduled_for` NULL, which unique keys never compare equal.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, add_column, create_indexes, drop_column, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

const FIRE_KEY: &[TableIndex] = &[TableIndex::unique(
    "uq_campaign_executions_campaign_id_scheduled_for",
    "campaign_executions",
    &["campaign_id", "scheduled_for"],
)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let checked_until = timestamp_with_time_zone_null("schedule_checked_until");
        add_column(manager, "campaigns", checked_until).await?;
        let fire = timestamp_with_time_zone_null("scheduled_for");
        add_column(manager, "campaign_executions", fire).await?;
        create_indexes(manager, FIRE_KEY).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, FIRE_KEY).await?;
        drop_column(manager, "campaign_executions", "scheduled_for").await?;
        drop_column(manager, "campaigns", "schedule_checked_until").await
    }
}
