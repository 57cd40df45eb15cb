pub mod entities;
pub use entities::*;

pub mod campaigns;
pub mod catalog;
pub mod customers;
pub mod db;
pub mod money;
pub mod error;
pub mod secrets;
pub mod segments;
pub mod settings;
pub mod target_groups;
pub mod tenant;
pub mod workspaces;

pub use error::{Error, Result};
pub use secrets::SecretKey;
pub use tenant::{Tenant, TenantOwned};
