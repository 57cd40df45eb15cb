//! Hotmart in the background: the [`applier`] takes batches of stored
//! postbacks and applies each through its [`effects`] on the domain; the
//! [`client`] speaks Hotmart's API, and [`sync`] uses it to repair what a
//! missed webhook left out (and to cancel or reactivate subscriptions).

pub mod applier;
pub mod client;
pub mod effects;
pub mod sync;
