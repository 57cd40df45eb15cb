//! End-to-end tests: each spawns the real app on a random port against a
//! fresh database, on SQLite and (when JORNADA_TEST_POSTGRES_URL is set)
//! PostgreSQL.

mod helpers;

mod customers;
