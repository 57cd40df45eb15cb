//! Views a BI tool (Metabase, Power BI, Looker Studio) reads on PostgreSQL,
//! each holding only the rows of the workspaces granted to the database
//! role reading it: `bi_grants` says which role sees which workspace, and
//! `jornada bi grant` creates a login role that may read these views and
//! nothing else. A view reads its tables with its owner's rights, so the
//! role needs no grant on any table; `current_user` inside it is the role.
//!
//! SQLite has no roles: nothing here applies to it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The rows a BI role sees: those of the workspaces granted to it.
pub(crate) const GRANTED: &str =
    "workspace_id IN (SELECT g.workspace_id FROM bi_grants g WHERE g.role_name = current_user)";

/// Each view: its name and what it selects (before the workspace filter).
const VIEWS: &[(&str, &str)] = &[
    (
        "bi_customers",
        "SELECT id, workspace_id, email, name, phone, segment, churn_risk, ltv_total, tags, \
         first_activity_at, last_activity_at, created_at, updated_at FROM customers",
    ),
    (
        "bi_transactions",
        "SELECT id, workspace_id, code, customer_id, product_id, offer_id, subscription_id, status, \
         amount, currency, payment_method, installments, purchased_at, approved_at, refunded_at, \
         warranty_ends_at, src, sck, xcod, recurrence_number, created_at, updated_at FROM transactions",
    ),
    (
        "bi_subscriptions",
        "SELECT id, workspace_id, customer_id, product_id, subscriber_code, plan_id, plan_name, \
         status, started_at, next_charge_at, cancelled_at, recurring_amount, currency, \
         recurrence_period_days, created_at, updated_at FROM subscriptions",
    ),
    (
        "bi_enrollments",
        "SELECT id, workspace_id, customer_id, product_id, transaction_id, access_status, starts_at, \
         ends_at, first_access_at, first_access_origin, last_access_at, last_lesson_completed_at, \
         progress_percent, created_at, updated_at FROM enrollments",
    ),
    (
        "bi_messages",
        "SELECT id, workspace_id, customer_id, channel, template_id, status, campaign_recipient_id, \
         dispatch_item_id, sent_at, delivered_at, read_at, failed_at, created_at FROM messages",
    ),
    (
        "bi_campaign_metrics",
        "SELECT campaign_id, workspace_id, name, entered, sent, delivered, read, clicked, failed, \
         converted, revenue, unknown FROM campaign_metrics",
    ),
    (
        "bi_daily_revenue",
        "SELECT workspace_id, day, product_id, currency, SUM(sales) AS sales, SUM(gross) AS gross, \
         SUM(refunds_count) AS refunds_count, SUM(refunds) AS refunds, \
         SUM(chargebacks_count) AS chargebacks_count, SUM(chargebacks) AS chargebacks, \
         SUM(gross) - SUM(refunds) - SUM(chargebacks) AS net FROM revenue_days \
         GROUP BY workspace_id, day, product_id, currency",
    ),
];

const GRANTS_TABLE: &str = "CREATE TABLE bi_grants (\
     role_name text NOT NULL, \
     workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE, \
     granted_at timestamptz NOT NULL DEFAULT now(), \
     PRIMARY KEY (role_name, workspace_id))";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(GRANTS_TABLE).await?;
        for (name, select) in VIEWS {
            // A grouped view filters the groups; the others their rows.
            let filtered = if select.contains("GROUP BY") {
                format!("SELECT * FROM ({select}) AS v WHERE {GRANTED}")
            } else {
                format!("{select} WHERE {GRANTED}")
            };
            db.execute_unprepared(&format!("CREATE VIEW {name} AS {filtered}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, _) in VIEWS.iter().rev() {
            db.execute_unprepared(&format!("DROP VIEW IF EXISTS {name}"))
                .await?;
        }
        db.execute_unprepared("DROP TABLE IF EXISTS bi_grants")
            .await?;
        Ok(())
    }
}

/// The views' names, for granting and revoking them.
pub fn bi_views() -> impl Iterator<Item = &'static str> {
    VIEWS.iter().map(|(name, _)| *name)
}
