//! End-to-end tests: each spawns the real app on a random port against a
//! fresh database, on SQLite and (when JORNADA_TEST_POSTGRES_URL is set)
//! PostgreSQL.

mod helpers;

mod analytics;
mod auth;
mod automation;
mod background_jobs;
mod campaign_reliability;
mod campaign_runs;
mod campaign_schedules;
mod campaigns;
mod channels;
mod chatwoot;
mod cli;
mod commerce;
mod cors;
mod cs_reports;
mod customers;
mod deep_input;
mod demo;
mod exports;
mod fakes;
mod graphql_get;
mod hostile;
mod hotmart_client;
mod hotmart_events;
mod hotmart_resilience;
mod hotmart_sync;
mod hotmart_webhooks;
mod http;
mod introspection;
mod isolation;
mod journey_keys;
mod journeys;
mod lists;
mod live;
mod node_types;
mod nul_characters;
mod processes;
mod readme;
mod roles;
mod settings;
mod slow_clients;
mod templates;
mod whatsapp_webhooks;
