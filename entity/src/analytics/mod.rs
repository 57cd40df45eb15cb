//! The numbers a producer runs the business on: revenue, refunds and
//! chargebacks per day, MRR and its movements per subscription, added up
//! by the worker into tables the dashboard reads. The definitions are in
//! `docs/metrics.md`.

mod cohort_rollup;
pub mod cohorts;
/// `part ÷ whole` from 0 to 1 at four places; `None` when `whole` is 0.
pub fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0)
}

pub mod dashboard;
pub mod engagement;
pub mod history;
pub mod ltv;
pub mod movements;
pub mod periods;
mod recurring;
mod revenue;
pub mod rollups;
pub mod snapshots;

pub use cohorts::{Cohort, CohortMonth, cohorts};
pub use dashboard::{
    Dashboard, DashboardPoint, DashboardQuery, MixShare, Moved, Recurring, Revenue, dashboard,
};
pub use ltv::{LtvGroup, LtvKey, LtvRow, ltv_report};
pub use movements::{MovementKind, monthly};
pub use periods::{DayRange, Granularity};
pub use rollups::{CaughtUp, catch_up, catch_up_workspace};
