//! jornada's front door: the axum router, the GraphQL schema and auth.
//! The API never sends a message itself: it writes state and enqueues jobs.

pub mod auth;
pub mod error;
pub mod exports;
pub mod graphql;
pub mod http;
pub mod links;
pub mod webhooks;

pub use auth::{Caller, JwtKeys, Role};
pub use error::{ApiError, ApiResult};
pub use graphql::{JornadaSchema, SchemaDeps, build_schema, sdl};
pub use http::{AppState, router};
