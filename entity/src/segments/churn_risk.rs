//! Churn risk: a score from 0 to 100 made of the reasons a student may be
//! about to leave, each worth its points. The rules read what the segment
//! job already gathers ([`Signals`]); their thresholds are workspace
//! settings (`churn_risk.*`), with the defaults below.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Signals;
use crate::error::Result;
use crate::secrets::SecretKey;
use crate::settings::{reveal_all, whole_number_in};
use crate::tenant::Tenant;

/// Points of each reason; a score is their sum, at most 100.
pub const NO_ACCESS_POINTS: i32 = 30;
/// No access for twice the workspace's `churn_risk.no_access_days`.
pub const LONG_NO_ACCESS_POINTS: i32 = 50;
pub const PROGRESS_STALLED_POINTS: i32 = 20;
pub const PAYMENT_DELAYED_POINTS: i32 = 50;
pub const REFUND_REQUESTED_POINTS: i32 = 50;
pub const LOW_PROGRESS_NEAR_WARRANTY_END_POINTS: i32 = 30;
/// A score from which the risk is `high`, and from which it is `medium`.
pub const HIGH_FROM: i32 = 50;
pub const MEDIUM_FROM: i32 = 25;

/// Why a customer is at risk; stored and served by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChurnRiskCode {
    /// No access to the members area (nor any other activity) for
    /// `churn_risk.no_access_days`; more points at twice as long.
    NoAccess,
    /// An unfinished course whose progress has not moved for
    /// `churn_risk.stalled_days`.
    ProgressStalled,
    /// A subscription whose charge is late (DELAYED / OVERDUE).
    PaymentDelayed,
    /// A purchase under a refund request or dispute (PROTESTED).
    RefundRequested,
    /// An approved purchase whose warranty ends within
    /// `churn_risk.warranty_days`, with the course below
    /// `churn_risk.low_progress_percent`.
    LowProgressNearWarrantyEnd,
}

/// One reason and its points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChurnRiskReason {
    pub code: ChurnRiskCode,
    pub points: i32,
    /// When the condition began: the last access, the last move of the
    /// course, the late charge, the refund request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// When the warranty ends (LOW_PROGRESS_NEAR_WARRANTY_END).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// The product the reason is about, where it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Uuid>,
}

/// A customer's churn risk: the score and what makes it up, the heaviest
/// reason first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnRisk {
    pub score: i32,
    pub reasons: Vec<ChurnRiskReason>,
}

impl ChurnRisk {
    /// `low`, `medium` or `high`: the label segments and filters use.
    pub fn level(&self) -> &'static str {
        if self.score >= HIGH_FROM {
            "high"
        } else if self.score >= MEDIUM_FROM {
            "medium"
        } else {
            "low"
        }
    }
}

/// The thresholds of the rules, per workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnRules {
    pub no_access_days: i64,
    pub stalled_days: i64,
    pub warranty_days: i64,
    pub low_progress_percent: i64,
}

pub const NO_ACCESS_DAYS_SETTING: &str = "churn_risk.no_access_days";
pub const STALLED_DAYS_SETTING: &str = "churn_risk.stalled_days";
pub const WARRANTY_DAYS_SETTING: &str = "churn_risk.warranty_days";
pub const LOW_PROGRESS_SETTING: &str = "churn_risk.low_progress_percent";

impl Default for ChurnRules {
    fn default() -> Self {
        ChurnRules {
            no_access_days: 14,
            stalled_days: 21,
            warranty_days: 3,
            low_progress_percent: 20,
        }
    }
}

impl ChurnRules {
    /// The workspace's rules: its `churn_risk.*` settings over the
    /// defaults, read in one query (the rules run with every applied batch).
    pub async fn of<C: sea_orm::ConnectionTrait>(
        db: &C,
        secrets: &SecretKey,
        tenant: Tenant,
    ) -> Result<Self> {
        let set = reveal_all(
            db,
            tenant,
            secrets,
            &[
                NO_ACCESS_DAYS_SETTING,
                STALLED_DAYS_SETTING,
                WARRANTY_DAYS_SETTING,
                LOW_PROGRESS_SETTING,
            ],
        )
        .await?;
        let default = ChurnRules::default();
        let number = |key: &str, default: i64, range| {
            i64::from(whole_number_in(
                set.get(key).map(String::as_str),
                tenant,
                key,
                default as i32,
                range,
            ))
        };
        Ok(ChurnRules {
            no_access_days: number(NO_ACCESS_DAYS_SETTING, default.no_access_days, 1..=365),
            stalled_days: number(STALLED_DAYS_SETTING, default.stalled_days, 1..=365),
            warranty_days: number(WARRANTY_DAYS_SETTING, default.warranty_days, 0..=60),
            low_progress_percent: number(
                LOW_PROGRESS_SETTING,
                default.low_progress_percent,
                0..=100,
            ),
        })
    }

    /// How far ahead a warranty's end is looked for.
    pub fn warranty_window(&self) -> Duration {
        Duration::days(self.warranty_days)
    }
}

/// The churn risk of a customer with access (or with a refund request
/// pending); `None` for a lead and for a customer whose access has ended.
pub fn assess(signals: &Signals, rules: &ChurnRules, now: DateTime<Utc>) -> Option<ChurnRisk> {
    let refund_requested = signals.refund_requests.first();
    if signals.active_enrollments == 0 && refund_requested.is_none() {
        return None;
    }
    let mut reasons = Vec::new();
    if signals.active_enrollments > 0
        && let Some(since) = signals.last_activity_at.or(signals.enrolled_since)
    {
        let idle_days = (now - since).num_days();
        let points = if idle_days >= 2 * rules.no_access_days {
            LONG_NO_ACCESS_POINTS
        } else if idle_days >= rules.no_access_days {
            NO_ACCESS_POINTS
        } else {
            0
        };
        if points > 0 {
            reasons.push(ChurnRiskReason {
                code: ChurnRiskCode::NoAccess,
                points,
                since: Some(since),
                deadline: None,
                product_id: None,
            });
        }
    }
    // The course stalled the longest speaks for all of them.
    let stalled = signals
        .courses
        .iter()
        .filter(|c| c.progress < Decimal::from(100))
        .filter(|c| (now - c.moved_at).num_days() >= rules.stalled_days)
        .min_by_key(|c| c.moved_at);
    if let Some(course) = stalled {
        reasons.push(ChurnRiskReason {
            code: ChurnRiskCode::ProgressStalled,
            points: PROGRESS_STALLED_POINTS,
            since: Some(course.moved_at),
            deadline: None,
            product_id: Some(course.product_id),
        });
    }
    if let Some(late) = signals.late_payments.iter().min_by_key(|l| l.at) {
        reasons.push(ChurnRiskReason {
            code: ChurnRiskCode::PaymentDelayed,
            points: PAYMENT_DELAYED_POINTS,
            since: Some(late.at),
            deadline: None,
            product_id: late.product_id,
        });
    }
    if let Some(request) = signals.refund_requests.iter().min_by_key(|r| r.at) {
        reasons.push(ChurnRiskReason {
            code: ChurnRiskCode::RefundRequested,
            points: REFUND_REQUESTED_POINTS,
            since: Some(request.at),
            deadline: None,
            product_id: request.product_id,
        });
    }
    let progress_of = |product: Option<Uuid>| {
        signals
            .courses
            .iter()
            .find(|c| Some(c.product_id) == product)
            .map(|c| c.progress)
    };
    let warranty_ending = signals
        .warranties
        .iter()
        .filter(|w| w.at > now && w.at <= now + rules.warranty_window())
        .filter(|w| {
            progress_of(w.product_id).is_some_and(|p| p < Decimal::from(rules.low_progress_percent))
        })
        .min_by_key(|w| w.at);
    if let Some(warranty) = warranty_ending {
        reasons.push(ChurnRiskReason {
            code: ChurnRiskCode::LowProgressNearWarrantyEnd,
            points: LOW_PROGRESS_NEAR_WARRANTY_END_POINTS,
            since: None,
            deadline: Some(warranty.at),
            product_id: warranty.product_id,
        });
    }
    reasons.sort_by(|a, b| b.points.cmp(&a.points).then(a.code.cmp(&b.code)));
    Some(ChurnRisk {
        score: reasons.iter().map(|r| r.points).sum::<i32>().min(100),
        reasons,
    })
}
