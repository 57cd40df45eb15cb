//! Fake external services for end-to-end tests, each on loopback.

pub mod chatwoot;
pub mod hotmart;
pub mod meta;
pub mod sink;
pub mod smtp;
