//! Rule-based segments and churn risk, recomputed by the worker from what a
//! customer bought and did. Segments are derived, never typed in.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::db::begin_write;
use crate::entities::enums::AccessStatus;
use crate::entities::{customer, enrollment, subscription, workspace};
use crate::error::Result;
use crate::tenant::Tenant;

pub const LEAD: &str = "lead";
pub const ACTIVE: &str = "active";
pub const AT_RISK: &str = "at_risk";
pub const TRIAL: &str = "trial";
pub const CANCELLED: &str = "cancelled";

/// Days without activity after which a student is at risk, and at high risk.
pub const AT_RISK_AFTER_DAYS: i64 = 14;
pub const HIGH_RISK_AFTER_DAYS: i64 = 30;

const PAGE: u64 = 500;

/// What the rules look at for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    pub enrollments: usize,
    pub active_enrollments: usize,
    /// Earliest start of an active enrollment (the inactivity clock when nothing else happened).
    pub enrolled_since: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    /// A subscription whose payment is late (DELAYED / OVERDUE).
    pub payment_late: bool,
    /// A subscription still in its trial (STARTED).
    pub in_trial: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub segment: &'static str,
    pub churn_risk: Option<&'static str>,
}

pub fn classify(signals: &Signals, now: DateTime<Utc>) -> Classification {
    if signals.enrollments == 0 {
        return Classification {
            segment: LEAD,
            churn_risk: None,
        };
    }
    if signals.active_enrollments == 0 {
        return Classification {
            segment: CANCELLED,
            churn_risk: None,
        };
    }
    let idle_days = signals
        .last_activity_at
        .or(signals.enrolled_since)
        .map(|since| (now - since).num_days())
        .unwrap_or(0);
    let churn_risk = if signals.payment_late || idle_days >= HIGH_RISK_AFTER_DAYS {
        "high"
    } else if idle_days >= AT_RISK_AFTER_DAYS {
        "medium"
    } else {
        "low"
    };
    let segment = if signals.payment_late || idle_days >= AT_RISK_AFTER_DAYS {
        AT_RISK
    } else if signals.in_trial {
        TRIAL
    } else {
        ACTIVE
    };
    Classification {
        segment,
        churn_risk: Some(churn_risk),
    }
}

/// Reclassifies every customer of one workspace; returns how many changed.
pub async fn refresh(db: &DatabaseConnection, tenant: Tenant, now: DateTime<Utc>) -> Result<u64> {
    let mut changed = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut page = tenant
            .select::<customer::Entity>()
            .order_by_asc(customer::Column::Id)
            .limit(PAGE);
        if let Some(after) = after {
            page = page.filter(customer::Column::Id.gt(after));
        }
        let customers = page.all(db).await?;
        let Some(last) = customers.last() else { break };
        after = Some(last.id);
        let signals = signals_for(db, &customers).await?;
        let txn = begin_write(db).await?;
        for current in customers {
            let wanted = classify(signals.get(&current.id).unwrap_or(&Signals::default()), now);
            let unchanged = current.segment.as_deref() == Some(wanted.segment)
                && current.churn_risk.as_deref() == wanted.churn_risk;
            if unchanged {
                continue;
            }
            let mut model: customer::ActiveModel = current.into();
            model.segment = Set(Some(wanted.segment.to_owned()));
            model.churn_risk = Set(wanted.churn_risk.map(str::to_owned));
            model.updated_at = Set(now);
            model.update(&txn).await?;
            changed += 1;
        }
        txn.commit().await?;
    }
    Ok(changed)
}

/// Reclassifies every workspace's customers.
pub async fn refresh_all(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64> {
    let mut changed = 0;
    for workspace in workspace::Entity::find().all(db).await? {
        changed += refresh(db, Tenant::new(workspace.id), now).await?;
    }
    Ok(changed)
}

async fn signals_for(
    db: &DatabaseConnection,
    customers: &[customer::Model],
) -> Result<HashMap<Uuid, Signals>> {
    let ids: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let mut signals: HashMap<Uuid, Signals> = customers
        .iter()
        .map(|c| {
            (
                c.id,
                Signals {
                    last_activity_at: c.last_activity_at,
                    ..Signals::default()
                },
            )
        })
        .collect();
    for e in enrollment::Entity::find()
        .filter(enrollment::Column::CustomerId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        let s = signals.entry(e.customer_id).or_default();
        s.enrollments += 1;
        if e.access_status == AccessStatus::Active {
            s.active_enrollments += 1;
            let since = e.starts_at.unwrap_or(e.created_at);
            s.enrolled_since = Some(s.enrolled_since.map_or(since, |current| current.min(since)));
        }
    }
    for sub in subscription::Entity::find()
        .filter(subscription::Column::CustomerId.is_in(ids))
        .all(db)
        .await?
    {
        let s = signals.entry(sub.customer_id).or_default();
        match sub.status.as_str() {
            "DELAYED" | "OVERDUE" => s.payment_late = true,
            "STARTED" => s.in_trial = true,
            _ => {}
        }
    }
    Ok(signals)
}

/// `now` minus whole days, for tests and callers that reason in days.
pub fn days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    now - Duration::days(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_purchases_activity_and_payments() {
        let now = Utc::now();
        let active = Signals {
            enrollments: 1,
            active_enrollments: 1,
            enrolled_since: Some(days_ago(now, 40)),
            last_activity_at: Some(days_ago(now, 2)),
            ..Signals::default()
        };
        assert_eq!(
            classify(&Signals::default(), now),
            Classification {
                segment: LEAD,
                churn_risk: None
            }
        );
        assert_eq!(
            classify(&active, now),
            Classification {
                segment: ACTIVE,
                churn_risk: Some("low")
            }
        );
        let idle = Signals {
            last_activity_at: Some(days_ago(now, 20)),
            ..active.clone()
        };
        assert_eq!(
            classify(&idle, now),
            Classification {
                segment: AT_RISK,
                churn_risk: Some("medium")
            }
        );
        let gone = Signals {
            last_activity_at: None,
            ..active.clone()
        };
        assert_eq!(
            classify(&gone, now),
            Classification {
                segment: AT_RISK,
                churn_risk: Some("high")
            }
        );
        let late = Signals {
            payment_late: true,
            ..active.clone()
        };
        assert_eq!(
            classify(&late, now),
            Classification {
                segment: AT_RISK,
                churn_risk: Some("high")
            }
        );
        let trial = Signals {
            in_trial: true,
            ..active.clone()
        };
        assert_eq!(classify(&trial, now).segment, TRIAL);
        let refunded = Signals {
            enrollments: 1,
            active_enrollments: 0,
            ..Signals::default()
        };
        assert_eq!(
            classify(&refunded, now),
            Classification {
                segment: CANCELLED,
                churn_risk: None
            }
        );
    }
}
