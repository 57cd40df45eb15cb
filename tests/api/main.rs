//! End-to-end tests: each spawns the real app on a random port against a
//! fresh database, on SQLite and (when JORNADA_TEST_POSTGRES_URL is set)
//! PostgreSQL.

mod helpers;

mod customers;
mod cli;
mod campaigns;
mod settings;
mod commerce;
mod hostile;
mod http;
mod roles;
mod auth;
mod isolation;
