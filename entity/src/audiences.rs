//! Resolving a target group to the customers it names. Each allowlisted
//! source maps its filter fields to typed columns; rule values are bound as
//! parameters of the column's type, never spliced into SQL.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use crate::customers::filters;
use crate::entities::enums::AccessStatus;
use crate::entities::{customer, enrollment, subscription, target_group_mapping, transaction};
use crate::error::{Error, Result};
use crate::target_groups::{
    MAX_RELATIVE_DAYS, RELATIVE_DATE_OPS, UPCOMING_FIELDS, relative_days, source, validate_filter,
};
use crate::tenant::Tenant;

/// How a field's values are read from a rule.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Number,
    Time,
    Id,
    Access,
    Tags,
}

fn invalid(field: &str, why: &str) -> Error {
    Error::Invalid(format!("filter: `{field}` {why}"))
}

fn typed(field: &str, kind: Kind, value: &Value) -> Result<sea_orm::Value> {
    Ok(match kind {
        Kind::Text | Kind::Tags => match value {
            Value::String(s) => s.clone().into(),
            Value::Number(n) => n.to_string().into(),
            Value::Bool(b) => b.to_string().into(),
            _ => return Err(invalid(field, "takes text")),
        },
        Kind::Number => {
            let text = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err(invalid(field, "takes a number")),
            };
            text.parse::<Decimal>()
                .map_err(|_| invalid(field, "takes a number"))?
                .into()
        }
        Kind::Time => {
            let text = value
                .as_str()
                .ok_or_else(|| invalid(field, "takes an RFC 3339 date"))?;
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| invalid(field, "takes an RFC 3339 date"))?
                .with_timezone(&Utc)
                .into()
        }
        Kind::Id => Uuid::parse_str(value.as_str().unwrap_or_default())
            .map_err(|_| invalid(field, "takes an ID"))?
            .into(),
        Kind::Access => {
            let text = value.as_str().unwrap_or_default().to_uppercase();
            let status = match text.as_str() {
                "ACTIVE" => AccessStatus::Active,
                "CANCELLED" => AccessStatus::Cancelled,
                "BLOCKED" => AccessStatus::Blocked,
                "EXPIRED" => AccessStatus::Expired,
                _ => {
                    return Err(invalid(
                        field,
                        "takes ACTIVE, CANCELLED, BLOCKED or EXPIRED",
                    ));
                }
            };
            sea_orm::sea_query::Value::String(Some(sea_orm::ActiveEnum::to_value(&status)))
        }
    })
}

/// A relative-date rule as a condition on `column`, at `now`.
fn relative_date_condition(
    field: &str,
    column: SimpleExpr,
    op: &str,
    value: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<SimpleExpr> {
    let days = value.and_then(relative_days).ok_or_else(|| {
        invalid(
            field,
            &format!("`{op}` needs a whole number of days from 0 to {MAX_RELATIVE_DAYS}"),
        )
    })?;
    let span = chrono::Duration::days(i64::from(days));
    Ok(match op {
        "olderThanDays" => column.lte(now - span),
        _ if UPCOMING_FIELDS.contains(&field) => {
            column.clone().gte(now).and(column.lte(now + span))
        }
        _ => column.clone().lte(now).and(column.gte(now - span)),
    })
}

/// One rule `{field, op, value}` as a condition on `column`.
fn rule_condition(
    backend: DbBackend,
    field: &str,
    column: SimpleExpr,
    kind: Kind,
    op: &str,
    value: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<SimpleExpr> {
    if RELATIVE_DATE_OPS.contains(&op) {
        if !matches!(kind, Kind::Time) {
            return Err(invalid(
                field,
                &format!("is not a date: `{op}` does not apply"),
            ));
        }
        return relative_date_condition(field, column, op, value, now);
    }
    let one = |v: Option<&Value>| typed(field, kind, v.unwrap_or(&Value::Null));
    if let Kind::Tags = kind {
        let tag = one(value)?;
        let sea_orm::Value::String(Some(tag)) = tag else {
            return Err(invalid(field, "takes text"));
        };
        return match op {
            "contains" | "eq" => Ok(filters::has_tag(backend, &tag)),
            "not_contains" | "neq" => Ok(filters::has_tag(backend, &tag).not()),
            _ => Err(invalid(field, "supports contains and not_contains")),
        };
    }
    Ok(match op {
        "eq" => column.eq(one(value)?),
        "neq" => column.clone().ne(one(value)?).or(column.is_null()),
        "gt" => column.gt(one(value)?),
        "gte" => column.gte(one(value)?),
        "lt" => column.lt(one(value)?),
        "lte" => column.lte(one(value)?),
        "exists" => column.is_not_null(),
        "not_exists" => column.is_null(),
        "in" => {
            let items = value
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(field, "`in` takes a list"))?;
            let values = items
                .iter()
                .map(|v| typed(field, kind, v))
                .collect::<Result<Vec<_>>>()?;
            column.is_in(values)
        }
        "contains" | "not_contains" => {
            let sea_orm::Value::String(Some(text)) =
                typed(field, Kind::Text, value.unwrap_or(&Value::Null))?
            else {
                return Err(invalid(field, "takes text"));
            };
            let escaped = text
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let like = Expr::expr(sea_orm::sea_query::Func::lower(column))
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\'));
            if op == "contains" { like } else { like.not() }
        }
        _ => return Err(invalid(field, "has an unknown op")),
    })
}

/// The column and kind behind a filter field of a source.
fn column_of(source: &str, field: &str) -> Option<(SimpleExpr, Kind)> {
    use Kind::*;
    let col = |c: SimpleExpr, k: Kind| Some((c, k));
    match (source, field) {
        ("customers", "email") => col(Expr::col((customer::Entity, customer::Column::Email)), Text),
        ("customers", "name") => col(Expr::col((customer::Entity, customer::Column::Name)), Text),
        ("customers", "phone") => col(Expr::col((customer::Entity, customer::Column::Phone)), Text),
        ("customers", "tags") => col(Expr::col((customer::Entity, customer::Column::Tags)), Tags),
        ("customers", "segment") => col(
            Expr::col((customer::Entity, customer::Column::Segment)),
            Text,
        ),
        ("customers", "churnRisk") => col(
            Expr::col((customer::Entity, customer::Column::ChurnRisk)),
            Text,
        ),
        ("customers", "ltvTotal") => col(
            Expr::col((customer::Entity, customer::Column::LtvTotal)),
            Number,
        ),
        ("customers", "createdAt") => col(
            Expr::col((customer::Entity, customer::Column::CreatedAt)),
            Time,
        ),
        ("customers", "lastActivityAt") => col(
            Expr::col((customer::Entity, customer::Column::LastActivityAt)),
            Time,
        ),
        ("enrollments", "productId") => col(
            Expr::col((enrollment::Entity, enrollment::Column::ProductId)),
            Id,
        ),
        ("enrollments", "accessStatus") => col(
            Expr::col((enrollment::Entity, enrollment::Column::AccessStatus)),
            Access,
        ),
        ("enrollments", "firstAccessAt") => col(
            Expr::col((enrollment::Entity, enrollment::Column::FirstAccessAt)),
            Time,
        ),
        ("enrollments", "lastAccessAt") => col(
            Expr::col((enrollment::Entity, enrollment::Column::LastAccessAt)),
            Time,
        ),
        ("enrollments", "lastLessonCompletedAt") => col(
            Expr::col((
                enrollment::Entity,
                enrollment::Column::LastLessonCompletedAt,
            )),
            Time,
        ),
        ("enrollments", "progress") => col(
            Expr::col((enrollment::Entity, enrollment::Column::ProgressPercent)),
            Number,
        ),
        ("enrollments", "startsAt") => col(
            Expr::col((enrollment::Entity, enrollment::Column::StartsAt)),
            Time,
        ),
        ("enrollments", "endsAt") => col(
            Expr::col((enrollment::Entity, enrollment::Column::EndsAt)),
            Time,
        ),
        ("transactions", "productId") => col(
            Expr::col((transaction::Entity, transaction::Column::ProductId)),
            Id,
        ),
        ("transactions", "offerId") => col(
            Expr::col((transaction::Entity, transaction::Column::OfferId)),
            Id,
        ),
        ("transactions", "status") => col(
            Expr::col((transaction::Entity, transaction::Column::Status)),
            Text,
        ),
        ("transactions", "amount") => col(
            Expr::col((transaction::Entity, transaction::Column::Amount)),
            Number,
        ),
        ("transactions", "paymentMethod") => col(
            Expr::col((transaction::Entity, transaction::Column::PaymentMethod)),
            Text,
        ),
        ("transactions", "purchasedAt") => col(
            Expr::col((transaction::Entity, transaction::Column::PurchasedAt)),
            Time,
        ),
        ("transactions", "approvedAt") => col(
            Expr::col((transaction::Entity, transaction::Column::ApprovedAt)),
            Time,
        ),
        ("transactions", "warrantyEndsAt") => col(
            Expr::col((transaction::Entity, transaction::Column::WarrantyEndsAt)),
            Time,
        ),
        ("subscriptions", "productId") => col(
            Expr::col((subscription::Entity, subscription::Column::ProductId)),
            Id,
        ),
        ("subscriptions", "status") => col(
            Expr::col((subscription::Entity, subscription::Column::Status)),
            Text,
        ),
        ("subscriptions", "planName") => col(
            Expr::col((subscription::Entity, subscription::Column::PlanName)),
            Text,
        ),
        ("subscriptions", "nextChargeAt") => col(
            Expr::col((subscription::Entity, subscription::Column::NextChargeAt)),
            Time,
        ),
        ("subscriptions", "cancelledAt") => col(
            Expr::col((subscription::Entity, subscription::Column::CancelledAt)),
            Time,
        ),
        _ => None,
    }
}

/// The filter as one condition on its source's rows.
fn filter_condition(
    backend: DbBackend,
    source_name: &str,
    filter: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<Condition> {
    let Some(filter) = filter.filter(|f| !f.is_null()) else {
        return Ok(Condition::all());
    };
    let mut condition = match filter.get("combinator").and_then(Value::as_str) {
        Some("or") => Condition::any(),
        _ => Condition::all(),
    };
    for rule in filter
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = rule
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let op = rule.get("op").and_then(Value::as_str).unwrap_or_default();
        let (column, kind) = column_of(source_name, field)
            .ok_or_else(|| invalid(field, "is not a field of this source"))?;
        condition = condition.add(rule_condition(
            backend,
            field,
            column,
            kind,
            op,
            rule.get("value"),
            now,
        )?);
    }
    Ok(condition)
}

/// Customers of the workspace that a target group names, in id order,
/// `limit` at a time after `after` (for fan-out in batches).
pub async fn customers_page<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    group: &target_group_mapping::Model,
    after: Option<Uuid>,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    page_of(
        db,
        tenant,
        &group.source,
        group.filter.as_ref(),
        after,
        limit,
        now,
    )
    .await
}

/// The audience of a run: a target group's customers, or with no group
/// every customer of the workspace (what a `customers` group without a
/// filter names), in id order, `limit` at a time after `after`. Relative
/// dates count from `now`.
pub async fn audience_page<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    group: Option<&target_group_mapping::Model>,
    after: Option<Uuid>,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    match group {
        Some(group) => customers_page(db, tenant, group, after, limit, now).await,
        None => page_of(db, tenant, "customers", None, after, limit, now).await,
    }
}

async fn page_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    source_name: &str,
    filter: Option<&Value>,
    after: Option<Uuid>,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let source_def = source(source_name)?;
    if let Some(filter) = filter {
        validate_filter(source_def, filter)?;
    }
    let backend = db.get_database_backend();
    let condition = filter_condition(backend, source_def.name, filter, now)?;
    let mut customers = tenant
        .select::<customer::Entity>()
        .select_only()
        .column(customer::Column::Id);
    customers = match source_def.name {
        "customers" => customers.filter(condition),
        "enrollments" => customers.filter(
            customer::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(enrollment::Column::CustomerId)
                    .from(enrollment::Entity)
                    .and_where(enrollment::Column::WorkspaceId.eq(tenant.workspace_id()))
                    .cond_where(condition)
                    .to_owned(),
            ),
        ),
        "transactions" => customers.filter(
            customer::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(transaction::Column::CustomerId)
                    .from(transaction::Entity)
                    .and_where(transaction::Column::WorkspaceId.eq(tenant.workspace_id()))
                    .cond_where(condition)
                    .to_owned(),
            ),
        ),
        "subscriptions" => customers.filter(
            customer::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(subscription::Column::CustomerId)
                    .from(subscription::Entity)
                    .and_where(subscription::Column::WorkspaceId.eq(tenant.workspace_id()))
                    .cond_where(condition)
                    .to_owned(),
            ),
        ),
        other => {
            return Err(Error::Invalid(format!(
                "source `{other}` cannot be resolved"
            )));
        }
    };
    if let Some(after) = after {
        customers = customers.filter(customer::Column::Id.gt(after));
    }
    Ok(customers
        .order_by_asc(customer::Column::Id)
        .limit(limit)
        .into_tuple::<Uuid>()
        .all(db)
        .await?)
}

/// Every customer a target group names (for tests and small groups).
pub async fn all_customers<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    group: &target_group_mapping::Model,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = customers_page(db, tenant, group, after, 1000, now).await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        after = Some(last);
        all.extend(page);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowlisted_field_has_a_column() {
        for source in crate::target_groups::TARGET_SOURCES {
            for field in source.fields {
                assert!(
                    column_of(source.name, field).is_some(),
                    "{}.{field}",
                    source.name
                );
            }
        }
    }

    #[test]
    fn rule_values_are_typed_or_refused() {
        assert!(typed("ltvTotal", Kind::Number, &Value::from("abc")).is_err());
        assert!(typed("createdAt", Kind::Time, &Value::from("yesterday")).is_err());
        assert!(typed("productId", Kind::Id, &Value::from("1; DROP TABLE x")).is_err());
        assert!(typed("accessStatus", Kind::Access, &Value::from("active")).is_ok());
        assert!(typed("ltvTotal", Kind::Number, &Value::from(100)).is_ok());
    }
}
