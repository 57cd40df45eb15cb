//! Rule-based segments and churn risk, recomputed from what a customer
//! bought and did: by the worker every hour (risk grows with time), and for
//! a customer as soon as an event about them is applied. Segments are
//! derived, never typed in.

mod churn_risk;

pub use churn_risk::*;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::db::begin_write;
use crate::entities::enums::AccessStatus;
use crate::entities::{customer, enrollment, subscription, transaction, workspace};
use crate::error::Result;
use crate::secrets::SecretKey;
use crate::tenant::Tenant;

pub const LEAD: &str = "lead";
pub const ACTIVE: &str = "active";
pub const AT_RISK: &str = "at_risk";
pub const TRIAL: &str = "trial";
pub const CANCELLED: &str = "cancelled";

const PAGE: u64 = 500;

/// What the rules look at for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    pub enrollments: usize,
    pub active_enrollments: usize,
    /// Earliest start of an active enrollment (the inactivity clock when nothing else happened).
    pub enrolled_since: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    /// A subscription still in its trial (STARTED).
    pub in_trial: bool,
    /// The courses the customer has access to.
    pub courses: Vec<Course>,
    /// Subscriptions whose charge is late (DELAYED / OVERDUE), since when.
    pub late_payments: Vec<Dated>,
    /// Purchases under a refund request (PROTESTED), since when.
    pub refund_requests: Vec<Dated>,
    /// Approved purchases whose warranty has not ended, ending when.
    pub warranties: Vec<Dated>,
}

/// A course the customer has access to, and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    pub product_id: Uuid,
    pub progress: Decimal,
    /// The last lesson completed, or the start of access when none was.
    pub moved_at: DateTime<Utc>,
}

/// Something about a product, at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dated {
    pub product_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub segment: &'static str,
    pub churn_risk: Option<ChurnRisk>,
}

pub fn classify(signals: &Signals, rules: &ChurnRules, now: DateTime<Utc>) -> Classification {
    if signals.enrollments == 0 {
        return Classification {
            segment: LEAD,
            churn_risk: None,
        };
    }
    let Some(risk) = assess(signals, rules, now) else {
        return Classification {
            segment: CANCELLED,
            churn_risk: None,
        };
    };
    let segment = if risk.score >= MEDIUM_FROM {
        AT_RISK
    } else if signals.in_trial {
        TRIAL
    } else {
        ACTIVE
    };
    Classification {
        segment,
        churn_risk: Some(risk),
    }
}

/// Reclassifies every customer of one workspace; returns how many changed.
pub async fn refresh(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    tenant: Tenant,
    now: DateTime<Utc>,
) -> Result<u64> {
    let rules = ChurnRules::of(db, secrets, tenant).await?;
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
        let signals = signals_for(db, &customers, &rules, now).await?;
        let txn = begin_write(db).await?;
        changed += write_changed(&txn, customers, &signals, &rules, now).await?;
        txn.commit().await?;
    }
    Ok(changed)
}

/// Reclassifies every workspace's customers.
pub async fn refresh_all(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut changed = 0;
    for workspace in workspace::Entity::find().all(db).await? {
        changed += refresh(db, secrets, Tenant::new(workspace.id), now).await?;
    }
    Ok(changed)
}

/// Reclassifies the workspace's `customers` inside `db` (the transaction
/// applying what happened to them); returns how many changed.
pub async fn reclassify<C: ConnectionTrait>(
    db: &C,
    secrets: &SecretKey,
    tenant: Tenant,
    customers: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64> {
    if customers.is_empty() {
        return Ok(0);
    }
    let rules = ChurnRules::of(db, secrets, tenant).await?;
    let customers = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Id.is_in(customers.iter().copied()))
        .order_by_asc(customer::Column::Id)
        .all(db)
        .await?;
    let signals = signals_for(db, &customers, &rules, now).await?;
    write_changed(db, customers, &signals, &rules, now).await
}

async fn write_changed<C: ConnectionTrait>(
    db: &C,
    customers: Vec<customer::Model>,
    signals: &HashMap<Uuid, Signals>,
    rules: &ChurnRules,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut changed = 0;
    for current in customers {
        let wanted = classify(
            signals.get(&current.id).unwrap_or(&Signals::default()),
            rules,
            now,
        );
        let level = wanted.churn_risk.as_ref().map(ChurnRisk::level);
        let score = wanted.churn_risk.as_ref().map(|r| r.score);
        let reasons = wanted
            .churn_risk
            .as_ref()
            .map(|r| serde_json::json!(r.reasons));
        let unchanged = current.segment.as_deref() == Some(wanted.segment)
            && current.churn_risk.as_deref() == level
            && current.churn_risk_score == score
            && current.churn_risk_reasons == reasons;
        if unchanged {
            continue;
        }
        let mut model: customer::ActiveModel = current.into();
        model.segment = Set(Some(wanted.segment.to_owned()));
        model.churn_risk = Set(level.map(str::to_owned));
        model.churn_risk_score = Set(score);
        model.churn_risk_reasons = Set(reasons);
        model.updated_at = Set(now);
        model.update(db).await?;
        changed += 1;
    }
    Ok(changed)
}

/// What a customer's purchases say about their risk.
#[derive(Debug, Clone, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "transaction::Entity")]
struct RiskyPurchase {
    customer_id: Uuid,
    product_id: Option<Uuid>,
    status: String,
    warranty_ends_at: Option<DateTime<Utc>>,
    last_event_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

async fn signals_for<C: ConnectionTrait>(
    db: &C,
    customers: &[customer::Model],
    rules: &ChurnRules,
    now: DateTime<Utc>,
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
            s.courses.push(Course {
                product_id: e.product_id,
                progress: e.progress_percent,
                moved_at: e.last_lesson_completed_at.unwrap_or(since),
            });
        }
    }
    for sub in subscription::Entity::find()
        .filter(subscription::Column::CustomerId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        let s = signals.entry(sub.customer_id).or_default();
        match sub.status.as_str() {
            "DELAYED" | "OVERDUE" => s.late_payments.push(Dated {
                product_id: sub.product_id,
                at: sub.last_event_at.unwrap_or(sub.updated_at),
            }),
            "STARTED" => s.in_trial = true,
            _ => {}
        }
    }
    let warranty_ending = Condition::all()
        .add(transaction::Column::Status.eq("APPROVED"))
        .add(transaction::Column::WarrantyEndsAt.gt(now))
        .add(transaction::Column::WarrantyEndsAt.lte(now + rules.warranty_window()));
    for purchase in transaction::Entity::find()
        .filter(transaction::Column::CustomerId.is_in(ids))
        .filter(
            Condition::any()
                .add(transaction::Column::Status.eq("PROTESTED"))
                .add(warranty_ending),
        )
        .into_partial_model::<RiskyPurchase>()
        .all(db)
        .await?
    {
        let s = signals.entry(purchase.customer_id).or_default();
        match (purchase.status.as_str(), purchase.warranty_ends_at) {
            ("PROTESTED", _) => s.refund_requests.push(Dated {
                product_id: purchase.product_id,
                at: purchase.last_event_at.unwrap_or(purchase.updated_at),
            }),
            (_, Some(ends)) => s.warranties.push(Dated {
                product_id: purchase.product_id,
                at: ends,
            }),
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

    fn risk(segment: &'static str, reasons: Vec<ChurnRiskReason>) -> Classification {
        Classification {
            segment,
            churn_risk: Some(ChurnRisk {
                score: reasons.iter().map(|r| r.points).sum::<i32>().min(100),
                reasons,
            }),
        }
    }

    fn reason(code: ChurnRiskCode, points: i32, since: DateTime<Utc>) -> ChurnRiskReason {
        ChurnRiskReason {
            code,
            points,
            since: Some(since),
            deadline: None,
            product_id: None,
        }
    }

    #[test]
    fn segments_and_risk_follow_purchases_activity_and_payments() {
        let now = Utc::now();
        let rules = ChurnRules::default();
        let course = Uuid::now_v7();
        let active = Signals {
            enrollments: 1,
            active_enrollments: 1,
            enrolled_since: Some(days_ago(now, 40)),
            last_activity_at: Some(days_ago(now, 2)),
            courses: vec![Course {
                product_id: course,
                progress: Decimal::from(35),
                moved_at: days_ago(now, 3),
            }],
            ..Signals::default()
        };
        let classify = |signals: &Signals| classify(signals, &rules, now);
        assert_eq!(
            classify(&Signals::default()),
            Classification {
                segment: LEAD,
                churn_risk: None
            }
        );
        assert_eq!(classify(&active), risk(ACTIVE, vec![]));
        assert_eq!(classify(&active).churn_risk.unwrap().level(), "low");

        // 20 idle days: past 14, not yet 28.
        let idle = Signals {
            last_activity_at: Some(days_ago(now, 20)),
            ..active.clone()
        };
        assert_eq!(
            classify(&idle),
            risk(
                AT_RISK,
                vec![reason(ChurnRiskCode::NoAccess, 30, days_ago(now, 20))]
            )
        );
        assert_eq!(classify(&idle).churn_risk.unwrap().level(), "medium");

        // Nothing since enrolling 40 days ago, the course never moved: 50 + 20.
        let gone = Signals {
            last_activity_at: None,
            courses: vec![Course {
                product_id: course,
                progress: Decimal::ZERO,
                moved_at: days_ago(now, 40),
            }],
            ..active.clone()
        };
        let mut stalled = reason(ChurnRiskCode::ProgressStalled, 20, days_ago(now, 40));
        stalled.product_id = Some(course);
        assert_eq!(
            classify(&gone),
            risk(
                AT_RISK,
                vec![
                    reason(ChurnRiskCode::NoAccess, 50, days_ago(now, 40)),
                    stalled
                ]
            )
        );
        assert_eq!(classify(&gone).churn_risk.unwrap().level(), "high");

        // A finished course does not stall.
        let finished = Signals {
            courses: vec![Course {
                product_id: course,
                progress: Decimal::from(100),
                moved_at: days_ago(now, 60),
            }],
            ..active.clone()
        };
        assert_eq!(classify(&finished), risk(ACTIVE, vec![]));

        let late = Signals {
            late_payments: vec![Dated {
                product_id: Some(course),
                at: days_ago(now, 1),
            }],
            ..active.clone()
        };
        let mut delayed = reason(ChurnRiskCode::PaymentDelayed, 50, days_ago(now, 1));
        delayed.product_id = Some(course);
        assert_eq!(classify(&late), risk(AT_RISK, vec![delayed]));

        let trial = Signals {
            in_trial: true,
            ..active.clone()
        };
        assert_eq!(classify(&trial).segment, TRIAL);

        let refunded = Signals {
            enrollments: 1,
            active_enrollments: 0,
            ..Signals::default()
        };
        assert_eq!(
            classify(&refunded),
            Classification {
                segment: CANCELLED,
                churn_risk: None
            }
        );
        // A refund asked for blocks access, yet the customer may still be kept.
        let asking = Signals {
            refund_requests: vec![Dated {
                product_id: Some(course),
                at: days_ago(now, 2),
            }],
            ..refunded.clone()
        };
        let mut requested = reason(ChurnRiskCode::RefundRequested, 50, days_ago(now, 2));
        requested.product_id = Some(course);
        assert_eq!(classify(&asking), risk(AT_RISK, vec![requested]));
    }

    #[test]
    fn low_progress_counts_only_close_to_the_warranty_end() {
        let now = Utc::now();
        let rules = ChurnRules::default();
        let product = Uuid::now_v7();
        let with = |progress: i64, warranty_in: Duration| Signals {
            enrollments: 1,
            active_enrollments: 1,
            enrolled_since: Some(days_ago(now, 5)),
            last_activity_at: Some(days_ago(now, 1)),
            courses: vec![Course {
                product_id: product,
                progress: Decimal::from(progress),
                moved_at: days_ago(now, 1),
            }],
            warranties: vec![Dated {
                product_id: Some(product),
                at: now + warranty_in,
            }],
            ..Signals::default()
        };
        let near = assess(&with(10, Duration::days(2)), &rules, now).unwrap();
        assert_eq!(near.score, 30);
        assert_eq!(
            near.reasons,
            vec![ChurnRiskReason {
                code: ChurnRiskCode::LowProgressNearWarrantyEnd,
                points: 30,
                since: None,
                deadline: Some(now + Duration::days(2)),
                product_id: Some(product),
            }]
        );
        assert_eq!(near.level(), "medium");
        for (progress, warranty_in, why) in [
            (20, Duration::days(2), "20 % is not below 20 %"),
            (
                10,
                Duration::days(4),
                "the warranty ends in more than 3 days",
            ),
            (10, Duration::hours(-1), "the warranty has ended"),
        ] {
            assert_eq!(
                assess(&with(progress, warranty_in), &rules, now)
                    .unwrap()
                    .score,
                0,
                "{why}"
            );
        }
    }

    #[test]
    fn the_score_stops_at_100_and_reasons_come_heaviest_first() {
        let now = Utc::now();
        let rules = ChurnRules {
            no_access_days: 7,
            ..ChurnRules::default()
        };
        let everything = Signals {
            enrollments: 1,
            active_enrollments: 1,
            enrolled_since: Some(days_ago(now, 30)),
            last_activity_at: Some(days_ago(now, 10)),
            late_payments: vec![Dated {
                product_id: None,
                at: days_ago(now, 3),
            }],
            refund_requests: vec![Dated {
                product_id: None,
                at: days_ago(now, 1),
            }],
            ..Signals::default()
        };
        let risk = assess(&everything, &rules, now).unwrap();
        assert_eq!(risk.score, 100, "50 + 50 + 30 stops at 100");
        let codes: Vec<_> = risk.reasons.iter().map(|r| (r.code, r.points)).collect();
        assert_eq!(
            codes,
            vec![
                (ChurnRiskCode::PaymentDelayed, 50),
                (ChurnRiskCode::RefundRequested, 50),
                (ChurnRiskCode::NoAccess, 30),
            ],
            "10 idle days against a workspace's 7"
        );
    }

    #[test]
    fn reasons_are_stored_by_their_codes() {
        let now = "2026-12-07T10:00:00Z".parse().unwrap();
        let stored = serde_json::to_value(vec![reason(ChurnRiskCode::NoAccess, 30, now)]).unwrap();
        assert_eq!(
            stored,
            serde_json::json!([{"code": "NO_ACCESS", "points": 30, "since": "2026-12-07T10:00:00Z"}])
        );
    }
}
