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

#[derive(DeriveMigrationName)]
pub struct Migration;

const FIRE_KEY: &str = "uq_campaign_executions_campaign_id_scheduled_for";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one ADD COLUMN per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Campaigns::Table)
                    .add_column(timestamp_with_time_zone_null(
                        Schedules::ScheduleCheckedUntil,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CampaignExecutions::Table)
                    .add_column(timestamp_with_time_zone_null(Schedules::ScheduledFor))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(FIRE_KEY)
                    .table(CampaignExecutions::Table)
                    .col(CampaignExecutions::CampaignId)
                    .col(Schedules::ScheduledFor)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(FIRE_KEY)
                    .table(CampaignExecutions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CampaignExecutions::Table)
                    .drop_column(Schedules::ScheduledFor)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Campaigns::Table)
                    .drop_column(Schedules::ScheduleCheckedUntil)
                    .to_owned(),
            )
            .await
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
