pub mod applier;
pub mod apply;
pub mod client;
pub mod sync;
