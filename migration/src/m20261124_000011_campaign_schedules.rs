//! Schedule-triggered campaigns: how far each campaign's cron has been
//! considered, and which fire an execution belongs to.
//!
//! A fire is started by the worker that moves `schedule_checked_until` past
//! it (a conditional UPDATE, in the same transaction that creates the
//! execution); the unique (campaign, scheduled_for) key backs that up, so a
//! fire is started once however many workers tick. Manual and triggered
//! executions keep `scheduled_for` NULL, which unique keys never compare equal.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000005_campaigns::{CampaignExecutions, Campaigns};
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
        let checked_until = timestamp_with_time_zone_null(Schedules::ScheduleCheckedUntil);
        add_column(manager, Campaigns::Table, checked_until).await?;
        let fire = timestamp_with_time_zone_null(Schedules::ScheduledFor);
        add_column(manager, CampaignExecutions::Table, fire).await?;
        create_indexes(manager, FIRE_KEY).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, FIRE_KEY).await?;
        drop_column(manager, CampaignExecutions::Table, Schedules::ScheduledFor).await?;
        drop_column(manager, Campaigns::Table, Schedules::ScheduleCheckedUntil).await
    }
}

/// The columns this migration adds.
#[derive(DeriveIden)]
enum Schedules {
    /// On `campaigns`: fires at or before this instant were started or skipped.
    ScheduleCheckedUntil,
    /// On `campaign_executions`: the cron fire this execution was started for.
    ScheduledFor,
}
