pub mod applier;
pub mod apply;
pub mod client;
pub mod events;
pub mod sync;
