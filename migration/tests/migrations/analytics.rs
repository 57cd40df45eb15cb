//! The business figures' tables: a subscription's history, its MRR
//! movements, a day's revenue, a customer's cohort and a cohort's day, and a
//! workspace's catching up.

use entity::entities::{
    analytics_rollup, cohort_day, cohort_member, customer, mrr_movement, product, revenue_day,
    subscription, subscription_change, workspace,
};
use sea_orm_migration::sea_orm::{ActiveModelTrait, EntityTrait};
use uuid::Uuid;

use super::{at, money};

/// Inserts one row of each figures' table and reads it back unchanged.
pub async fn insert_figures(
    db: &sea_orm_migration::sea_orm::DatabaseConnection,
    ws: &workspace::Model,
    customer: &customer::Model,
    subscription: &subscription::Model,
    product: &product::Model,
) {
    round_trip!(
        db,
        subscription_change::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            subscription_id: subscription.id,
            effective_at: at(50),
            status: "DELAYED".to_owned(),
            recurring_amount: Some(money(4990)),
            currency: Some("BRL".to_owned()),
            recurrence_period_days: Some(30),
            recorded_at: at(51),
        }
    );
    round_trip!(
        db,
        mrr_movement::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            subscription_id: subscription.id,
            product_id: Some(product.id),
            day: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date"),
            occurred_at: at(50),
            kind: "contraction".to_owned(),
            currency: "BRL".to_owned(),
            mrr_delta: money(-2000),
            subscribers_delta: 0,
        }
    );
    round_trip!(
        db,
        revenue_day::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            day: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date"),
            product_id: None,
            currency: "USD".to_owned(),
            payment_method: Some("PIX".to_owned()),
            installments: Some(1),
            sales: 3,
            gross: money(14_970),
            refunds_count: 1,
            refunds: money(4_990),
            chargebacks_count: 0,
            chargebacks: money(0),
        }
    );
    round_trip!(
        db,
        cohort_member::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            product_id: Some(product.id),
            currency: "BRL".to_owned(),
            first_approved_at: at(40),
            cohort_month: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date"),
        }
    );
    round_trip!(
        db,
        cohort_day::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            day: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date"),
            product_id: None,
            currency: "BRL".to_owned(),
            cohort_month: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).expect("a date"),
            net: money(-4_990),
        }
    );
    round_trip!(
        db,
        analytics_rollup::Model {
            id: ws.id,
            time_zone: "America/Sao_Paulo".to_owned(),
            revenue_until: Some(at(60)),
            movements_until: None,
            past_due_grace_days: 7,
            updated_at: at(60),
        }
    );
}
