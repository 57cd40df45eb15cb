pub mod entities;
pub use entities::*;

pub mod audiences;
pub mod campaigns;
pub mod catalog;
pub mod commerce;
pub mod customers;
pub mod db;
pub mod dispatch;
pub mod domain_events;
pub mod error;
pub mod executions;
pub mod links;
pub mod money;
pub mod outbox;
pub mod secrets;
pub mod segments;
pub mod settings;
pub mod target_groups;
pub mod templates;
pub mod tenant;
pub mod webhook_events;
pub mod whatsapp;
pub mod workspaces;

pub use error::{Error, Result};
pub use secrets::SecretKey;
pub use tenant::{Tenant, TenantOwned};
