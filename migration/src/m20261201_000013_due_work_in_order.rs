//! Due webhook events, undispatched domain events, campaign recipients in
//! flight, sends under way and pending suggestions, indexed in the order
//! their workers take them.
//!
//! Each claim takes the oldest due rows first. With only (status,
//! next_attempt_at), (dispatched_at, next_attempt_at) and (status, wake_at)
//! to go by, a claim read every due row and sorted them to keep a batch: a
//! launch-day backlog of 20,000 postbacks, or a 100,000-recipient campaign,
//! made every claim walk all of them. A partial index over just the rows
//! still to do, in the order they are taken, lets a claim stop at the first
//! batch it can take, and costs nothing for rows already done. The runner
//! looks for lapsed send leases and expired suggestions before every batch:
//! without an index that was a scan of every message ever sent. The
//! recipients' (status, wake_at) index served the claim alone: it goes, so
//! a recipient's moves maintain one index fewer.

use sea_orm_migration::prelude::*;

const DUE_EVENTS: &str = "idx_webhook_events_due_received_at";
const PENDING_DOMAIN_EVENTS: &str = "idx_domain_events_pending_recorded_at";
const RECIPIENTS_IN_FLIGHT: &str = "idx_campaign_recipients_in_flight_wake_at";
const RECIPIENTS_BY_STATUS: &str = "idx_campaign_recipients_status_wake_at";
const SENDS_UNDER_WAY: &str = "idx_messages_sending_lease_until";
const PENDING_SUGGESTIONS: &str = "idx_dispatch_queue_pending_expires_at";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Status,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum DomainEvents {
    Table,
    DispatchedAt,
    RecordedAt,
}

#[derive(DeriveIden)]
enum CampaignRecipients {
    Table,
    Status,
    WakeAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Status,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum DispatchQueue {
    Table,
    Status,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(DUE_EVENTS)
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::ReceivedAt)
                    .and_where(Expr::col(WebhookEvents::Status).is_in(["received", "failed"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PENDING_DOMAIN_EVENTS)
                    .table(DomainEvents::Table)
                    .col(DomainEvents::RecordedAt)
                    .and_where(Expr::col(DomainEvents::DispatchedAt).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(RECIPIENTS_IN_FLIGHT)
                    .table(CampaignRecipients::Table)
                    .col(CampaignRecipients::WakeAt)
                    .and_where(Expr::col(CampaignRecipients::Status).is_in(["active", "waiting"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SENDS_UNDER_WAY)
                    .table(Messages::Table)
                    .col(Messages::LeaseUntil)
                    .and_where(Expr::col(Messages::Status).eq("sending"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PENDING_SUGGESTIONS)
                    .table(DispatchQueue::Table)
                    .col(DispatchQueue::ExpiresAt)
                    .and_where(Expr::col(DispatchQueue::Status).eq("pending"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(RECIPIENTS_BY_STATUS)
                    .table(CampaignRecipients::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(RECIPIENTS_BY_STATUS)
                    .table(CampaignRecipients::Table)
                    .col(CampaignRecipients::Status)
                    .col(CampaignRecipients::WakeAt)
                    .to_owned(),
            )
            .await?;
        for (name, table) in [
            (DUE_EVENTS, WebhookEvents::Table.into_iden()),
            (PENDING_DOMAIN_EVENTS, DomainEvents::Table.into_iden()),
            (RECIPIENTS_IN_FLIGHT, CampaignRecipients::Table.into_iden()),
            (SENDS_UNDER_WAY, Messages::Table.into_iden()),
            (PENDING_SUGGESTIONS, DispatchQueue::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
