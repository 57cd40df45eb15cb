//! MRR movements, in ChartMogul's vocabulary, derived from a subscription's
//! history: what the subscription adds to the monthly recurring revenue
//! changes only when its history changes, or when a payment stays delayed
//! past the grace period.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::entities::subscription_change;

/// The currency of a subscription whose source never said.
pub const DEFAULT_CURRENCY: &str = "BRL";

/// The statuses in which a subscription is paid up.
const ACTIVE: &[&str] = &["ACTIVE"];
/// The statuses in which a payment is late: the subscription still counts
/// for the grace period.
const PAST_DUE: &[&str] = &["DELAYED", "OVERDUE"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MovementKind {
    New,
    Expansion,
    Contraction,
    Churned,
    Reactivated,
}

impl MovementKind {
    pub const ALL: [MovementKind; 5] = [
        MovementKind::New,
        MovementKind::Expansion,
        MovementKind::Contraction,
        MovementKind::Churned,
        MovementKind::Reactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::New => "new",
            MovementKind::Expansion => "expansion",
            MovementKind::Contraction => "contraction",
            MovementKind::Churned => "churned",
            MovementKind::Reactivated => "reactivated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        MovementKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One change of a subscription's MRR.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    pub occurred_at: DateTime<Utc>,
    pub kind: MovementKind,
    pub currency: String,
    pub mrr_delta: Decimal,
    pub subscribers_delta: i32,
}

/// A recurring amount as a month's worth, by its period in days: a period
/// of 28 days or more is that many months, to the nearest (30 → 1, 90 → 3,
/// 365 → 12); a shorter one is scaled to 30 days (7 → × 30/7). No period
/// known means monthly. Rounded to the cent.
pub fn monthly(amount: Decimal, period_days: Option<i32>) -> Decimal {
    let monthly = match period_days {
        Some(days) if days >= 28 => {
            let months = ((days + 15) / 30).max(1);
            amount / Decimal::from(months)
        }
        Some(days) if days > 0 => amount * Decimal::from(30) / Decimal::from(days),
        _ => amount,
    };
    crate::money::amount(monthly)
}

/// What a subscription adds to MRR while in one state, in its currency:
/// `None` when it adds nothing and is not an active subscriber.
type Contribution = Option<(String, Decimal)>;

fn contribution(change: &subscription_change::Model) -> Contribution {
    let counts = ACTIVE.contains(&change.status.as_str()) || is_past_due(change);
    counts.then(|| {
        let currency = change
            .currency
            .clone()
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned());
        let amount = change.recurring_amount.unwrap_or_default();
        (currency, monthly(amount, change.recurrence_period_days))
    })
}

fn is_past_due(change: &subscription_change::Model) -> bool {
    PAST_DUE.contains(&change.status.as_str())
}

/// The movements of one subscription, oldest first, from its history in any
/// order. A payment late for longer than `grace` churns the subscription at
/// the end of the grace (counted from the first late state of a run); paid
/// again, it is reactivated.
pub fn movements_of(history: &[subscription_change::Model], grace: Duration) -> Vec<Movement> {
    let mut history: Vec<&subscription_change::Model> = history.iter().collect();
    history.sort_by_key(|c| (c.effective_at, c.id));
    // The subscription's contribution from each instant on.
    let mut steps: Vec<(DateTime<Utc>, Contribution)> = Vec::new();
    let mut late_since: Option<DateTime<Utc>> = None;
    for (index, change) in history.iter().enumerate() {
        let next_at = history.get(index + 1).map(|c| c.effective_at);
        if !is_past_due(change) {
            late_since = None;
            steps.push((change.effective_at, contribution(change)));
            continue;
        }
        let lapses_at = *late_since.get_or_insert(change.effective_at) + grace;
        if change.effective_at >= lapses_at {
            steps.push((change.effective_at, None));
            continue;
        }
        steps.push((change.effective_at, contribution(change)));
        if next_at.is_none_or(|next| lapses_at < next) {
            steps.push((lapses_at, None));
        }
    }
    let mut movements = Vec::new();
    let mut current: Contribution = None;
    let mut ever_active = false;
    for (at, next) in steps {
        let movement = |kind, currency: &str, mrr_delta, subscribers_delta| Movement {
            occurred_at: at,
            kind,
            currency: currency.to_owned(),
            mrr_delta,
            subscribers_delta,
        };
        match (&current, &next) {
            (None, None) => {}
            (Some((currency, mrr)), None) => {
                movements.push(movement(MovementKind::Churned, currency, -*mrr, -1));
            }
            (None, Some((currency, mrr))) => {
                let kind = if ever_active {
                    MovementKind::Reactivated
                } else {
                    MovementKind::New
                };
                movements.push(movement(kind, currency, *mrr, 1));
            }
            (Some((was_currency, was)), Some((currency, mrr))) if was_currency != currency => {
                movements.push(movement(MovementKind::Churned, was_currency, -*was, -1));
                movements.push(movement(MovementKind::Reactivated, currency, *mrr, 1));
            }
            (Some((_, was)), Some((currency, mrr))) => {
                if mrr > was {
                    movements.push(movement(MovementKind::Expansion, currency, mrr - was, 0));
                } else if mrr < was {
                    movements.push(movement(MovementKind::Contraction, currency, mrr - was, 0));
                }
            }
        }
        ever_active |= next.is_some();
        current = next;
    }
    movements
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn change(
        day: u32,
        status: &str,
        amount: i64,
        period: Option<i32>,
    ) -> subscription_change::Model {
        let at = Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap();
        subscription_change::Model {
            id: Uuid::now_v7(),
            workspace_id: Uuid::nil(),
            subscription_id: Uuid::nil(),
            effective_at: at,
            status: status.to_owned(),
            recurring_amount: Some(Decimal::new(amount, 2)),
            currency: Some("BRL".to_owned()),
            recurrence_period_days: period,
            recorded_at: at,
        }
    }

    fn kinds(movements: &[Movement]) -> Vec<(MovementKind, String, i32)> {
        movements
            .iter()
            .map(|m| (m.kind, m.mrr_delta.to_string(), m.subscribers_delta))
            .collect()
    }

    #[test]
    fn periods_become_months() {
        let amount = Decimal::new(49900, 2);
        assert_eq!(monthly(amount, None).to_string(), "499.00");
        assert_eq!(monthly(amount, Some(30)).to_string(), "499.00");
        assert_eq!(monthly(amount, Some(365)).to_string(), "41.58");
        assert_eq!(monthly(amount, Some(360)).to_string(), "41.58");
        assert_eq!(monthly(amount, Some(90)).to_string(), "166.33");
        assert_eq!(monthly(Decimal::new(1000, 2), Some(7)).to_string(), "42.86");
    }

    #[test]
    fn a_subscription_lives_through_every_movement() {
        let grace = Duration::days(7);
        let history = [
            change(1, "ACTIVE", 4990, None),
            change(5, "ACTIVE", 9990, None),
            change(8, "ACTIVE", 7990, None),
            change(10, "CANCELLED_BY_CUSTOMER", 7990, None),
            change(20, "ACTIVE", 7990, None),
        ];
        assert_eq!(
            kinds(&movements_of(&history, grace)),
            vec![
                (MovementKind::New, "49.90".into(), 1),
                (MovementKind::Expansion, "50.00".into(), 0),
                (MovementKind::Contraction, "-20.00".into(), 0),
                (MovementKind::Churned, "-79.90".into(), -1),
                (MovementKind::Reactivated, "79.90".into(), 1),
            ]
        );
    }

    #[test]
    fn a_late_payment_churns_only_after_the_grace() {
        let grace = Duration::days(7);
        // Paid within the grace: no movement at all.
        let paid = [
            change(1, "ACTIVE", 4990, None),
            change(3, "DELAYED", 4990, None),
            change(6, "ACTIVE", 4990, None),
        ];
        assert_eq!(
            kinds(&movements_of(&paid, grace)),
            vec![(MovementKind::New, "49.90".into(), 1)]
        );
        // Late twice in a row: the grace counts from the first.
        let lapsed = [
            change(1, "ACTIVE", 4990, None),
            change(3, "DELAYED", 4990, None),
            change(8, "OVERDUE", 4990, None),
            change(12, "OVERDUE", 4990, None),
            change(20, "ACTIVE", 4990, None),
        ];
        let movements = movements_of(&lapsed, grace);
        assert_eq!(
            kinds(&movements),
            vec![
                (MovementKind::New, "49.90".into(), 1),
                (MovementKind::Churned, "-49.90".into(), -1),
                (MovementKind::Reactivated, "49.90".into(), 1),
            ]
        );
        assert_eq!(movements[1].occurred_at, lapsed[1].effective_at + grace);
    }
}
