//! The numbers a producer runs the business on: revenue, refunds and
//! chargebacks per day, MRR and its movements per subscription, added up
//! by the worker into tables the dashboard reads. The definitions are in
//! `docs/metrics.md`.

pub mod cohorts;
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
