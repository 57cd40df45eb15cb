//! Every GraphQL list read in its order, and customer search by index on
//! PostgreSQL.
//!
//! A connection pages newest first by its time-ordered id within its
//! parent (a workspace, a campaign, an execution): `WHERE workspace_id = ?
//! AND id < ? ORDER BY id DESC LIMIT n`. With an index on (parent, id) each
//! page reads its own rows and no others; without it SQLite sorted a whole
//! workspace's customers for every page.
//!
//! On PostgreSQL, `customers(filter: {search})` matches a substring of the
//! lower-cased e-mail or name. Trigram indexes on both expressions let it
//! (and the `totalCount` a search screen shows) read the matching rows
//! instead of every customer of the workspace. They need the `pg_trgm`
//! extension, part of PostgreSQL's contrib and trusted, so a database
//! owner may create it; where it cannot be created, search keeps working by
//! scanning.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::schema::{TableIndex, create_indexes, drop_indexes};

const LIST_ORDER_INDEXES: &[TableIndex] = &[
    TableIndex::new(
        "idx_customers_workspace_id",
        "customers",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_transactions_workspace_id",
        "transactions",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_products_workspace_id",
        "products",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_campaigns_workspace_id",
        "campaigns",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_campaign_executions_campaign_id",
        "campaign_executions",
        &["campaign_id", "id"],
    ),
    TableIndex::new(
        "idx_campaign_recipients_execution_id",
        "campaign_recipients",
        &["execution_id", "id"],
    ),
    TableIndex::new(
        "idx_webhook_events_workspace_id",
        "webhook_events",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_dispatch_queue_workspace_id",
        "dispatch_queue",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_message_templates_workspace_id",
        "message_templates",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_target_group_mappings_workspace_id",
        "target_group_mappings",
        &["workspace_id", "id"],
    ),
    TableIndex::new(
        "idx_settings_workspace_id",
        "settings",
        &["workspace_id", "id"],
    ),
];

/// Creates the trigram indexes when `pg_trgm` is (or can be made) available.
const SEARCH_UP: &str = r#"
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm is unavailable (%): customer search scans', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS idx_customers_email_trigram
            ON customers USING gin (lower(email) gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS idx_customers_name_trigram
            ON customers USING gin (lower(name) gin_trgm_ops);
    END IF;
END
$$;
"#;

const SEARCH_DOWN: &str = r#"
DROP INDEX IF EXISTS idx_customers_name_trigram;
DROP INDEX IF EXISTS idx_customers_email_trigram;
"#;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, LIST_ORDER_INDEXES).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(SEARCH_UP)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(SEARCH_DOWN)
                .await?;
        }
        drop_indexes(manager, LIST_ORDER_INDEXES).await
    }
}
