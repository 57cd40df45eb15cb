//! The tag report behind the word cloud: per Chatwoot label, how often it
//! was put on conversations in a period, on how many customers, and how
//! often in the period of the same length just before.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entities::{conversation_tag, enrollment, transaction};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// One label's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    pub label: String,
    /// Tags put on in the period.
    pub count: i64,
    /// Distinct customers those tags are on.
    pub customers: i64,
    /// Tags put on in the period of the same length just before.
    pub previous_count: i64,
}

/// Per label put on in `[from, to)` or in the period of the same length
/// just before, most used first (then by label). With `product`, only the
/// tags of customers enrolled in it or with a purchase of it count.
pub async fn tag_report<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    product: Option<Uuid>,
) -> Result<Vec<TagCount>> {
    if to <= from {
        return Err(Error::Invalid("to must be after from".into()));
    }
    let previous_from = from - (to - from);
    let mut labels: BTreeMap<String, TagCount> = BTreeMap::new();
    for (label, count, customers) in counts(db, tenant, from, to, product).await? {
        labels.insert(
            label.clone(),
            TagCount {
                label,
                count,
                customers,
                previous_count: 0,
            },
        );
    }
    for (label, count, _) in counts(db, tenant, previous_from, from, product).await? {
        labels
            .entry(label.clone())
            .or_insert(TagCount {
                label,
                count: 0,
                customers: 0,
                previous_count: 0,
            })
            .previous_count = count;
    }
    let mut report: Vec<TagCount> = labels.into_values().collect();
    report.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.previous_count.cmp(&a.previous_count))
            .then(a.label.cmp(&b.label))
    });
    Ok(report)
}

/// (label, tags, distinct customers) of the tags put on in `[from, to)`.
async fn counts<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    product: Option<Uuid>,
) -> Result<Vec<(String, i64, i64)>> {
    let mut select = tenant
        .select::<conversation_tag::Entity>()
        .filter(conversation_tag::Column::TaggedAt.gte(from))
        .filter(conversation_tag::Column::TaggedAt.lt(to));
    if let Some(product) = product {
        let enrolled = Query::select()
            .column(enrollment::Column::CustomerId)
            .from(enrollment::Entity)
            .and_where(enrollment::Column::WorkspaceId.eq(tenant.workspace_id()))
            .and_where(enrollment::Column::ProductId.eq(product))
            .to_owned();
        let bought = Query::select()
            .column(transaction::Column::CustomerId)
            .from(transaction::Entity)
            .and_where(transaction::Column::WorkspaceId.eq(tenant.workspace_id()))
            .and_where(transaction::Column::ProductId.eq(product))
            .to_owned();
        select = select.filter(
            Condition::any()
                .add(conversation_tag::Column::CustomerId.in_subquery(enrolled))
                .add(conversation_tag::Column::CustomerId.in_subquery(bought)),
        );
    }
    Ok(select
        .select_only()
        .column(conversation_tag::Column::Label)
        .column_as(Expr::col(conversation_tag::Column::Id).count(), "count")
        .column_as(
            Expr::col(conversation_tag::Column::CustomerId).count_distinct(),
            "customers",
        )
        .group_by(conversation_tag::Column::Label)
        .into_tuple::<(String, i64, i64)>()
        .all(db)
        .await?)
}
