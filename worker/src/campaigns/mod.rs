//! The campaign runner: claims due recipients and advances each through the
//! pinned version of its campaign, one step per transaction.

pub mod goals;
pub mod metrics;
pub mod policy;
pub mod runner;
pub mod schedules;
pub mod triggers;
