//! Webhook events carry when they are next due from the moment they arrive.
//!
//! `next_attempt_at` used to be empty for a fresh event, so the applier's
//! claim asked for "no next attempt, or one already past" — an OR that no
//! single index serves in order, which PostgreSQL answered by reading every
//! due row and sorting them for each batch (28 ms a claim with 11,000
//! waiting, and the sort spilled to disk). Now a fresh or replayed event is
//! due when it arrives, a retry when its backoff ends and a claimed one
//! when its lease runs out, all in `next_attempt_at`; one partial index over
//! the events still to do, in that order, lets a claim stop at its first
//! batch. It replaces the one in arrival order, and (status, next_attempt_at),
//! which nothing else read.

use sea_orm_migration::prelude::*;

const DUE_IN_ARRIVAL_ORDER: &str = "idx_webhook_events_due_received_at";
const BY_STATUS: &str = "idx_webhook_events_status_next_attempt";
const DUE: &str = "idx_webhook_events_due_next_attempt_at";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEvents {
    Table,
    Status,
    ReceivedAt,
    NextAttemptAt,
}

fn to_do() -> SimpleExpr {
    Expr::col(WebhookEvents::Status).is_in(["received", "failed"])
}

fn index(name: &str, columns: &[WebhookEvents], rows: Option<SimpleExpr>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(WebhookEvents::Table);
    for column in columns {
        index.col(*column);
    }
    if let Some(rows) = rows {
        index.and_where(rows);
    }
    index.to_owned()
}

fn drop(name: &str) -> IndexDropStatement {
    Index::drop()
        .name(name)
        .table(WebhookEvents::Table)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::update()
                    .table(WebhookEvents::Table)
                    .value(
                        WebhookEvents::NextAttemptAt,
                        Expr::col(WebhookEvents::ReceivedAt),
                    )
                    .and_where(Expr::col(WebhookEvents::NextAttemptAt).is_null())
                    .and_where(to_do())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(DUE, &[WebhookEvents::NextAttemptAt], Some(to_do())))
            .await?;
        manager.drop_index(drop(DUE_IN_ARRIVAL_ORDER)).await?;
        manager.drop_index(drop(BY_STATUS)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                BY_STATUS,
                &[WebhookEvents::Status, WebhookEvents::NextAttemptAt],
                None,
            ))
            .await?;
        manager
            .create_index(index(
                DUE_IN_ARRIVAL_ORDER,
                &[WebhookEvents::ReceivedAt],
                Some(to_do()),
            ))
            .await?;
        manager.drop_index(drop(DUE)).await
    }
}
