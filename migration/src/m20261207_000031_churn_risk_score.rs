//! A customer's churn risk as a score from 0 to 100 with the reasons that
//! make it up, beside the low/medium/high label derived from it. On
//! PostgreSQL, `bi_customers` shows both.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, add_column, create_indexes, drop_column, drop_indexes};

const INDEXES: &[TableIndex] = &[TableIndex::new(
    "idx_customers_workspace_churn_risk_score",
    "customers",
    &["workspace_id", "churn_risk_score"],
)];

const BI_CUSTOMERS_BEFORE: &str = "SELECT id, workspace_id, email, name, phone, segment, \
     churn_risk, ltv_total, tags, first_activity_at, last_activity_at, created_at, updated_at \
     FROM customers";

/// A view replaced in place may only gain columns at its end.
const BI_CUSTOMERS_AFTER: &str = "SELECT id, workspace_id, email, name, phone, segment, \
     churn_risk, ltv_total, tags, first_activity_at, last_activity_at, created_at, updated_at, \
     churn_risk_score, churn_risk_reasons FROM customers";

/// Makes `bi_customers` select `select`: in place where it only gains
/// columns; made again, with its grants given back to the BI roles, where
/// it loses some.
async fn bi_customers(
    manager: &SchemaManager<'_>,
    select: &str,
    in_place: bool,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    let granted = crate::m20261207_000030_bi_views::GRANTED;
    let view = format!("bi_customers AS {select} WHERE {granted}");
    if in_place {
        db.execute_unprepared(&format!("CREATE OR REPLACE VIEW {view}"))
            .await?;
        return Ok(());
    }
    db.execute_unprepared("DROP VIEW IF EXISTS bi_customers")
        .await?;
    db.execute_unprepared(&format!("CREATE VIEW {view}"))
        .await?;
    db.execute_unprepared(
        "DO $$ DECLARE r text; BEGIN \
         FOR r IN SELECT DISTINCT role_name FROM bi_grants LOOP \
         EXECUTE format('GRANT SELECT ON bi_customers TO %I', r); \
         END LOOP; END $$",
    )
    .await?;
    Ok(())
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, "customers", integer_null("churn_risk_score")).await?;
        add_column(manager, "customers", json_binary_null("churn_risk_reasons")).await?;
        create_indexes(manager, INDEXES).await?;
        bi_customers(manager, BI_CUSTOMERS_AFTER, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        bi_customers(manager, BI_CUSTOMERS_BEFORE, false).await?;
        drop_indexes(manager, INDEXES).await?;
        drop_column(manager, "customers", "churn_risk_reasons").await?;
        drop_column(manager, "customers", "churn_risk_score").await
    }
}
