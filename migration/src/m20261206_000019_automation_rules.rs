//! Automation rules as jornada runs them, and the queue a CS team works
//! from.
//!
//! A rule gains its parameters (hours without access, days stalled, …),
//! its list of actions, the products it is limited to, a cooldown, how
//! long its suggestions wait for a decision, and the schedule of a scan
//! trigger and how far its scans have looked. Built-in rules are found by `(workspace_id, builtin_key)`.
//!
//! A dispatch item gains what a CS person filters by and reads: a stable
//! reason code, the trigger, product, module and purchase it is about, the
//! code of a refused send, and when a deferred send is due. `subject_key`
//! names (rule, customer, product): at most one item per subject is
//! pending at a time, however often a scan runs or an event is redelivered.
//!
//! Rules act only on buyers of monitored products, and products arrive
//! monitored: the flag did nothing until now, so every product already
//! stored becomes monitored (going down leaves them so).

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, add_column, create_indexes, drop_column, drop_indexes};

const RULE_COLUMNS: &[&str] = &[
    "params",
    "actions",
    "product_ids",
    "cooldown_days",
    "expires_after_hours",
    "schedule",
    "scanned_until",
];

const ITEM_COLUMNS: &[&str] = &[
    "reason_code",
    "trigger",
    "product_id",
    "module_id",
    "transaction_code",
    "subject_key",
    "error_code",
    "send_after",
];

const INDEXES: &[TableIndex] = &[
    // Seeding finds a workspace's built-ins; each exists once.
    TableIndex::unique(
        "idx_automation_rules_builtin_key",
        "automation_rules",
        &["workspace_id", "builtin_key"],
    ),
    // One pending item per (rule, customer, product).
    TableIndex::unique(
        "idx_dispatch_queue_pending_subject",
        "dispatch_queue",
        &["subject_key"],
    )
    .partial(|| Expr::col("status").eq("pending")),
    // Cooldowns look up a subject's latest items.
    TableIndex::new(
        "idx_dispatch_queue_subject_suggested_at",
        "dispatch_queue",
        &["subject_key", "suggested_at"],
    ),
    // The sender takes approved items whose send is due.
    TableIndex::new(
        "idx_dispatch_queue_approved_send_after",
        "dispatch_queue",
        &["send_after"],
    )
    .partial(|| Expr::col("status").eq("approved")),
    // A paid purchase cancels its recovery items.
    TableIndex::new(
        "idx_dispatch_queue_transaction_code",
        "dispatch_queue",
        &["workspace_id", "transaction_code"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let rules = [
            json_binary("params").default("{}").to_owned(),
            json_binary("actions").default("[]").to_owned(),
            json_binary("product_ids").default("[]").to_owned(),
            integer("cooldown_days").default(0).to_owned(),
            integer("expires_after_hours").default(72).to_owned(),
            string_len_null("schedule", 128).to_owned(),
            timestamp_with_time_zone_null("scanned_until").to_owned(),
        ];
        for column in rules {
            add_column(manager, "automation_rules", column).await?;
        }
        let items = [
            string_len_null("reason_code", 64).to_owned(),
            string_len_null("trigger", 64).to_owned(),
            uuid_null("product_id").to_owned(),
            uuid_null("module_id").to_owned(),
            string_len_null("transaction_code", 128).to_owned(),
            string_len_null("subject_key", 255).to_owned(),
            string_len_null("error_code", 64).to_owned(),
            timestamp_with_time_zone_null("send_after").to_owned(),
        ];
        for column in items {
            add_column(manager, "dispatch_queue", column).await?;
        }
        create_indexes(manager, INDEXES).await?;
        manager
            .exec_stmt(
                Query::update()
                    .table("products")
                    .value("monitored", true)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, INDEXES).await?;
        for column in ITEM_COLUMNS.iter().rev() {
            drop_column(manager, "dispatch_queue", Alias::new(*column)).await?;
        }
        for column in RULE_COLUMNS.iter().rev() {
            drop_column(manager, "automation_rules", Alias::new(*column)).await?;
        }
        Ok(())
    }
}
