//! The campaign engine's pure core: no I/O, no async, no database.
//!
//! - [`graph`]: the React Flow document (`campaigns.workflow_data`), read
//!   without rewriting it; unknown fields round-trip.
//! - [`nodes`]: the node types and their `data` formats, the contract with
//!   the React builder, described field by field by [`node_types`];
//!   [`condition`] holds the condition rules.
//! - [`validate()`]: structured errors `{nodeId, edgeId?, code, message}`.
//! - [`step`] / [`CompiledGraph::step`]: (graph, node, recipient, input,
//!   now) → [`Transition`].
//! - [`template`]: `{{customer.first_name}}` and `{{link:..}}` rendering.
//! - [`split`]: the deterministic A/B assignment.
//! - [`schedule`]: cron fires of schedule triggers.
//! - [`events`]: the catalogue of domain events triggers and waits name.
//! - [`automation`]: automation rules: triggers, actions, their checks.

pub mod automation;
pub mod condition;
pub mod context;
pub mod decimal;
pub mod events;
pub mod graph;
pub mod interpret;
pub mod nodes;
pub mod schedule;
pub mod split;
pub mod template;
pub mod time;
pub mod validate;

pub use context::{CustomerFields, EnrollmentFields, EventFields, RecipientContext, Variable};
pub use events::{DomainEventType, EventKey, KeyPart};
pub use graph::{Edge, Graph, GraphShapeError, Node};
pub use interpret::{
    CompiledGraph, OutboundMessage, RenderedMessage, StepError, StepInput, Transition,
    WebhookRequest, step,
};
pub use nodes::spec::{FieldSpec, FieldType, HandleSpec, NodeTypeSpec, node_types};
pub use nodes::{Channel, NodeData, NodeDataError, NodeType, TemplateRef, UpdateCustomerData};
pub use template::{Rendered, TrackedLink, render};
pub use validate::{
    ProductLookup, TemplateCatalog, TemplateEntry, TemplateLookup, TemplateStatus,
    ValidationContext, ValidationError, validate,
};
