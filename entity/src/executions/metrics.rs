//! An execution's metrics: counted from its recipients and their messages,
//! stored on the execution while it runs and, since deliveries, reads,
//! clicks and conversions keep coming after its last recipient is done,
//! recounted for a week after it completes.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::recipient_status;
use crate::entities::enums::{ExecutionStatus, ExecutionType, MessageStatus};
use crate::entities::{campaign_execution, campaign_recipient, message};
use crate::error::{Error, Result};

/// How long after completing an execution's stored metrics keep being recounted.
pub const SETTLING: Duration = Duration::days(7);

/// Metrics of an execution, in total and per node.
pub async fn metrics<C: ConnectionTrait>(db: &C, execution_id: Uuid) -> Result<Value> {
    // One pass over the execution's recipients for every count.
    let with_status = |statuses: &[&str]| {
        Func::sum(
            Expr::case(
                campaign_recipient::Column::Status.is_in(statuses.iter().copied()),
                1,
            )
            .finally(0),
        )
    };
    let (entered, clicked, converted, completed, in_flight): (
        i64,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
    ) = campaign_recipient::Entity::find()
        .select_only()
        .expr(campaign_recipient::Column::Id.count())
        .expr(campaign_recipient::Column::ClickedAt.count())
        .expr(campaign_recipient::Column::ConvertedAt.count())
        .expr(with_status(&[recipient_status::COMPLETED]))
        .expr(with_status(&recipient_status::IN_FLIGHT))
        .filter(campaign_recipient::Column::ExecutionId.eq(execution_id))
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or_default();
    let (completed, in_flight) = (completed.unwrap_or(0), in_flight.unwrap_or(0));
    // Added up here: only converted recipients carry revenue, and SQLite
    // would sum the decimals as floating point.
    let revenue: rust_decimal::Decimal = campaign_recipient::Entity::find()
        .select_only()
        .column(campaign_recipient::Column::Revenue)
        .filter(campaign_recipient::Column::ExecutionId.eq(execution_id))
        .filter(campaign_recipient::Column::Revenue.is_not_null())
        .into_tuple::<rust_decimal::Decimal>()
        .all(db)
        .await?
        .into_iter()
        .sum();
    let rows: Vec<(Option<String>, MessageStatus, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::NodeId)
        .column(message::Column::Status)
        .column_as(message::Column::Id.count(), "n")
        .filter(
            message::Column::CampaignRecipientId.in_subquery(
                Query::select()
                    .column(campaign_recipient::Column::Id)
                    .from(campaign_recipient::Entity)
                    .and_where(campaign_recipient::Column::ExecutionId.eq(execution_id))
                    .to_owned(),
            ),
        )
        .group_by(message::Column::NodeId)
        .group_by(message::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut total = MessageTally::default();
    let mut per_node = serde_json::Map::new();
    for (node, status, count) in rows {
        let count = count as u64;
        total.add(status, count);
        let node = node.unwrap_or_default();
        let mut tally: MessageTally = per_node
            .get(&node)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        tally.add(status, count);
        per_node.insert(node, serde_json::to_value(tally).unwrap_or_default());
    }
    Ok(json!({
        "entered": entered,
        "sent": total.sent,
        "delivered": total.delivered,
        "read": total.read,
        "clicked": clicked,
        "failed": total.failed,
        "converted": converted,
        // Money as a decimal string, like every amount jornada shows.
        "revenue": crate::money::amount(revenue).to_string(),
        "unknown": total.unknown,
        "completed": completed,
        "inFlight": in_flight,
        "nodes": per_node,
    }))
}

/// Message counts by outcome; a delivered message was also sent, a read one also delivered.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct MessageTally {
    sent: u64,
    delivered: u64,
    read: u64,
    failed: u64,
    unknown: u64,
}

impl MessageTally {
    fn add(&mut self, status: MessageStatus, count: u64) {
        match status {
            MessageStatus::Sent => self.sent += count,
            MessageStatus::Delivered => {
                self.sent += count;
                self.delivered += count;
            }
            MessageStatus::Read => {
                self.sent += count;
                self.delivered += count;
                self.read += count;
            }
            MessageStatus::Failed => self.failed += count,
            MessageStatus::Unknown => self.unknown += count,
            MessageStatus::Queued | MessageStatus::Sending => {}
        }
    }
}

/// Stores the execution's metrics, and completes it once nobody is in flight.
pub async fn refresh_execution(
    db: &DatabaseConnection,
    execution_id: Uuid,
    now: DateTime<Utc>,
) -> Result<campaign_execution::Model> {
    let metrics = metrics(db, execution_id).await?;
    let current = campaign_execution::Entity::find_by_id(execution_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("campaign execution"))?;
    let done = metrics["inFlight"] == json!(0)
        && current.status == ExecutionStatus::Running
        && current.execution_type != ExecutionType::Triggered;
    let mut model = current.into_active_model();
    model.metrics = Set(metrics);
    if done {
        model.status = Set(ExecutionStatus::Completed);
        model.completed_at = Set(Some(now));
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

/// Recounts the stored metrics of every execution still running and of
/// those completed within [`SETTLING`] of `now`, storing those that changed;
/// returns how many changed.
pub async fn recount_settling(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64> {
    use campaign_execution::Column;
    let executions = campaign_execution::Entity::find()
        .filter(
            Condition::any()
                .add(Column::Status.eq(ExecutionStatus::Running))
                .add(
                    Column::Status
                        .eq(ExecutionStatus::Completed)
                        .and(Column::CompletedAt.gte(now - SETTLING)),
                ),
        )
        .all(db)
        .await?;
    let mut changed = 0;
    for execution in executions {
        let metrics = metrics(db, execution.id).await?;
        if metrics == execution.metrics {
            continue;
        }
        campaign_execution::Entity::update_many()
            .col_expr(Column::Metrics, Expr::value(metrics))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(execution.id))
            .exec(db)
            .await?;
        changed += 1;
    }
    Ok(changed)
}
