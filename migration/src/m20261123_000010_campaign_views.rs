//! Views for BI tools: `active_campaigns` (campaigns running now, with their
//! recipient counts) and `campaign_metrics` (per campaign: recipients by
//! outcome and messages by delivery status). Plain SQL both backends accept.

use sea_orm_migration::prelude::*;

const ACTIVE_CAMPAIGNS: &str = r#"
CREATE VIEW active_campaigns AS
SELECT c.id, c.workspace_id, c.name, c.status, c.started_at,
       COUNT(r.id) AS recipients,
       SUM(CASE WHEN r.status IN ('active', 'waiting') THEN 1 ELSE 0 END) AS in_flight,
       SUM(CASE WHEN r.status = 'completed' THEN 1 ELSE 0 END) AS completed
FROM campaigns c
LEFT JOIN campaign_recipients r ON r.campaign_id = c.id
WHERE c.status = 'active'
GROUP BY c.id, c.workspace_id, c.name, c.status, c.started_at
"#;

const CAMPAIGN_METRICS: &str = r#"
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
        let db = manager.get_connection();
        db.execute_unprepared(ACTIVE_CAMPAIGNS).await?;
        db.execute_unprepared(CAMPAIGN_METRICS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW IF EXISTS campaign_metrics")
            .await?;
        db.execute_unprepared("DROP VIEW IF EXISTS active_campaigns")
            .await?;
        Ok(())
    }
}
