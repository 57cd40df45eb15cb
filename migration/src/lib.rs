//! Schema migrations for jornada, portable between SQLite and PostgreSQL.
//!
//! One migration per domain area, in dependency order: foreign keys are declared when a
//! table is created (SQLite cannot add them later), so a table only references tables of
//! the same or an earlier migration.

use sea_orm_migration::MigrationTrait;
pub use sea_orm_migration::MigratorTrait;

pub mod bi;
mod schema;

mod m20261123_000001_workspaces_settings;
mod m20261123_000002_catalog;
mod m20261123_000003_customers;
mod m20261123_000004_commerce;
mod m20261123_000005_campaigns;
mod m20261123_000006_events_messaging;
mod m20261123_000007_analytics;
mod m20261123_000008_foreign_key_indexes;
mod m20261123_000009_domain_events;
mod m20261123_000010_campaign_views;
mod m20261124_000011_campaign_schedules;
mod m20261201_000012_transactions_by_customer;
mod m20261201_000013_due_work_in_order;
mod m20261202_000014_webhook_events_due_at;
mod m20261203_000015_domain_events_unread_indexes;
mod m20261203_000016_webhook_events_customer_hash;
mod m20261204_000017_lists_in_order;
mod m20261205_000018_background_jobs;
mod m20261206_000019_automation_rules;
mod m20261206_000020_chatwoot;
mod m20261206_000021_journey_keys;
mod m20261206_000022_cs_reports;
mod m20261206_000023_lean_dispatch_queue;
mod m20261206_000024_enrollments_in_id_order;
mod m20261206_000025_references_kept_by_owner;
mod m20261206_000026_held_back_through_customer;
mod m20261207_000027_workspace_kept_by_its_deletion;
mod m20261207_000028_analytics_rollups;
mod m20261207_000029_snapshots_per_currency;
mod m20261207_000030_bi_views;
mod m20261207_000031_churn_risk_score;
mod m20261207_000032_cohort_rollups;
mod m20261207_000033_analytics_indexes;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_workspaces_settings::Migration),
            Box::new(m20261123_000002_catalog::Migration),
            Box::new(m20261123_000003_customers::Migration),
            Box::new(m20261123_000004_commerce::Migration),
            Box::new(m20261123_000005_campaigns::Migration),
            Box::new(m20261123_000006_events_messaging::Migration),
            Box::new(m20261123_000007_analytics::Migration),
            Box::new(m20261123_000008_foreign_key_indexes::Migration),
            Box::new(m20261123_000009_domain_events::Migration),
            Box::new(m20261123_000010_campaign_views::Migration),
            Box::new(m20261124_000011_campaign_schedules::Migration),
            Box::new(m20261201_000012_transactions_by_customer::Migration),
            Box::new(m20261201_000013_due_work_in_order::Migration),
            Box::new(m20261202_000014_webhook_events_due_at::Migration),
            Box::new(m20261203_000015_domain_events_unread_indexes::Migration),
            Box::new(m20261203_000016_webhook_events_customer_hash::Migration),
            Box::new(m20261204_000017_lists_in_order::Migration),
            Box::new(m20261205_000018_background_jobs::Migration),
            Box::new(m20261206_000019_automation_rules::Migration),
            Box::new(m20261206_000020_chatwoot::Migration),
            Box::new(m20261206_000021_journey_keys::Migration),
            Box::new(m20261206_000022_cs_reports::Migration),
            Box::new(m20261206_000023_lean_dispatch_queue::Migration),
            Box::new(m20261206_000024_enrollments_in_id_order::Migration),
            Box::new(m20261206_000025_references_kept_by_owner::Migration),
            Box::new(m20261206_000026_held_back_through_customer::Migration),
            Box::new(m20261207_000027_workspace_kept_by_its_deletion::Migration),
            Box::new(m20261207_000028_analytics_rollups::Migration),
            Box::new(m20261207_000029_snapshots_per_currency::Migration),
            Box::new(m20261207_000030_bi_views::Migration),
            Box::new(m20261207_000031_churn_risk_score::Migration),
            Box::new(m20261207_000032_cohort_rollups::Migration),
            Box::new(m20261207_000033_analytics_indexes::Migration),
        ]
    }
}
