//! Fake external services for end-to-end tests, each on loopback.

pub mod hotmart;
