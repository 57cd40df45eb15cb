//! What the producer sees of the CS work: a campaign's goal (the event, for
//! which product, within how many days of the message) and, per recipient
//! who reached it, the revenue attributed (`campaign_metrics` adds that
//! revenue up); and when an enrolment's last lesson was completed, so
//! audiences can ask "no lesson for 7 days" without reading every lesson.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{add_column, drop_column};

/// The latest lesson each enrolment's customer completed in its product.
const LAST_LESSON_COMPLETED: &str = r#"
UPDATE enrollments SET last_lesson_completed_at = (
    SELECT MAX(lp.completed_at) FROM lesson_progress lp
    JOIN lessons l ON l.id = lp.lesson_id
    WHERE lp.customer_id = enrollments.customer_id
      AND l.product_id = enrollments.product_id
      AND lp.completed = TRUE
)
"#;

const CAMPAIGN_METRICS_WITH_REVENUE: &str = r#"
CREATE VIEW campaign_metrics AS
SELECT c.id AS campaign_id, c.workspace_id, c.name,
       (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS entered,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status IN ('sent', 'delivered', 'read')) AS sent,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status IN ('delivered', 'read')) AS delivered,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status = 'read') AS read,
       (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.clicked_at IS NOT NULL) AS clicked,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status = 'failed') AS failed,
       (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.converted_at IS NOT NULL) AS converted,
       (SELECT COALESCE(SUM(r.revenue), 0) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS revenue,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status = 'unknown') AS unknown
FROM campaigns c
"#;

/// `campaign_metrics` as it was before revenue was attributed.
const CAMPAIGN_METRICS_BEFORE: &str = r#"
CREATE VIEW campaign_metrics AS
SELECT c.id AS campaign_id, c.workspace_id, c.name,
       (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS entered,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status IN ('sent', 'delivered', 'read')) AS sent,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status IN ('delivered', 'read')) AS delivered,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status = 'read') AS read,
       (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.clicked_at IS NOT NULL) AS clicked,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status = 'failed') AS failed,
       (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.converted_at IS NOT NULL) AS converted,
       (SELECT COUNT(*) FROM messages m JOIN campaign_recipients r ON m.campaign_recipient_id = r.id
         WHERE r.campaign_id = c.id AND m.status = 'unknown') AS unknown
FROM campaigns c
"#;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, "campaigns", json_binary_null("goal")).await?;
        let revenue = decimal_len_null("revenue", 14, 2);
        add_column(manager, "campaign_recipients", revenue).await?;
        let last_lesson = timestamp_with_time_zone_null("last_lesson_completed_at");
        add_column(manager, "enrollments", last_lesson).await?;
        let db = manager.get_connection();
        db.execute_unprepared(LAST_LESSON_COMPLETED).await?;
        db.execute_unprepared("DROP VIEW IF EXISTS campaign_metrics")
            .await?;
        db.execute_unprepared(CAMPAIGN_METRICS_WITH_REVENUE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW IF EXISTS campaign_metrics")
            .await?;
        db.execute_unprepared(CAMPAIGN_METRICS_BEFORE).await?;
        drop_column(manager, "enrollments", "last_lesson_completed_at").await?;
        drop_column(manager, "campaign_recipients", "revenue").await?;
        drop_column(manager, "campaigns", "goal").await
    }
}
