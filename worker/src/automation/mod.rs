//! Automation rules at work: the CS flows that run themselves. Event
//! triggers fire as domain events are delivered ([`events`]), scan
//! triggers on their schedules ([`scans`]); both meet customers through
//! [`firing`], which queues items for a person (or, for an automatic rule,
//! approves them at once), and [`sender`] sends what was approved.

pub mod events;
pub mod firing;
pub mod scans;
pub mod sender;
