//! Lifetime value: a customer's settled purchases, summed.

use sea_orm::sea_query::{Expr, ExprTrait as _, Func, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entities::{customer, transaction};
use crate::error::Result;
use crate::tenant::Tenant;

/// The purchases a customer paid and kept: refunded and charged-back ones
/// count nothing.
pub const KEPT: [&str; 2] = ["APPROVED", "COMPLETE"];

/// LTV: what each customer paid and kept — approved and complete purchases;
/// refunded and charged-back ones count nothing. One statement for all of
/// them: the sums are taken and stored by the database, and only where
/// they moved (a printed billet or an abandoned cart leaves the customer's
/// row as it was, unwritten).
pub async fn recompute_ltv<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_ids: &[Uuid],
) -> Result<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let kept = Query::select()
        .expr(Func::coalesce([
            sea_orm::sea_query::ExprTrait::sum(Expr::col((
                transaction::Entity,
                transaction::Column::Amount,
            ))),
            Expr::val(0),
        ]))
        .from(transaction::Entity)
        .and_where(transaction::Column::WorkspaceId.eq(tenant.workspace_id()))
        .and_where(
            Expr::col((transaction::Entity, transaction::Column::CustomerId))
                .equals((customer::Entity, customer::Column::Id)),
        )
        .and_where(transaction::Column::Status.is_in(KEPT))
        .to_owned();
    let kept = || Expr::SubQuery(None, Box::new(kept.clone().into()));
    customer::Entity::update_many()
        .col_expr(customer::Column::LtvTotal, kept())
        .filter(customer::Column::WorkspaceId.eq(tenant.workspace_id()))
        .filter(Expr::col((customer::Entity, customer::Column::LtvTotal)).ne(kept()))
        .filter(customer::Column::Id.is_in(customer_ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}
