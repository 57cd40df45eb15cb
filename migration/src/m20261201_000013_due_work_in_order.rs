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

/// Each partial index: its name, table, column, and the rows it holds.
fn partial_indexes() -> Vec<(&'static str, DynIden, DynIden, SimpleExpr)> {
    vec![
        (
            DUE_EVENTS,
            WebhookEvents::Table.into_iden(),
            WebhookEvents::ReceivedAt.into_iden(),
            Expr::col(WebhookEvents::Status).is_in(["received", "failed"]),
        ),
        (
            PENDING_DOMAIN_EVENTS,
            DomainEvents::Table.into_iden(),
            DomainEvents::RecordedAt.into_iden(),
            Expr::col(DomainEvents::DispatchedAt).is_null(),
        ),
        (
            RECIPIENTS_IN_FLIGHT,
            CampaignRecipients::Table.into_iden(),
            CampaignRecipients::WakeAt.into_iden(),
            Expr::col(CampaignRecipients::Status).is_in(["active", "waiting"]),
        ),
        (
            SENDS_UNDER_WAY,
            Messages::Table.into_iden(),
            Messages::LeaseUntil.into_iden(),
            Expr::col(Messages::Status).eq("sending"),
        ),
        (
            PENDING_SUGGESTIONS,
            DispatchQueue::Table.into_iden(),
            DispatchQueue::ExpiresAt.into_iden(),
            Expr::col(DispatchQueue::Status).eq("pending"),
        ),
    ]
}

/// The index the in-flight one replaces.
fn recipients_by_status() -> IndexCreateStatement {
    Index::create()
        .name(RECIPIENTS_BY_STATUS)
        .table(CampaignRecipients::Table)
        .col(CampaignRecipients::Status)
        .col(CampaignRecipients::WakeAt)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column, rows) in partial_indexes() {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .and_where(rows)
                        .to_owned(),
                )
                .await?;
        }
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
        manager.create_index(recipients_by_status()).await?;
        for (name, table, _, _) in partial_indexes() {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
