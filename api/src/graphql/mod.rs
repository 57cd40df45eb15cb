//! The GraphQL schema: one module per domain area, merged here.

pub mod analytics;
pub mod automation;
pub mod background_jobs;
pub mod campaigns;
pub mod catalog;
pub mod chatwoot;
pub mod columns;
pub mod commerce;
pub mod connection;
pub mod customers;
pub mod dispatch;
pub mod executions;
pub mod hotmart;
pub mod limits;
pub mod loaders;
pub mod messages;
pub mod node_types;
pub mod reports;
pub mod scope;
pub mod settings;
pub mod subscriptions;
pub mod target_groups;
pub mod templates;
pub mod workspaces;

use async_graphql::{MergedObject, Schema};
use sea_orm::DatabaseConnection;

#[derive(MergedObject, Default)]
pub struct Query(
    workspaces::WorkspaceQuery,
    customers::CustomerQuery,
    catalog::CatalogQuery,
    commerce::CommerceQuery,
    campaigns::CampaignQuery,
    target_groups::TargetGroupQuery,
    settings::SettingQuery,
    hotmart::HotmartQuery,
    executions::ExecutionQuery,
    dispatch::DispatchQuery,
    automation::AutomationQuery,
    templates::TemplateQuery,
    background_jobs::BackgroundJobQuery,
    chatwoot::ChatwootQuery,
    reports::ReportQuery,
    analytics::AnalyticsQuery,
    analytics::CohortQuery,
    node_types::NodeTypeQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    workspaces::WorkspaceMutation,
    customers::CustomerMutation,
    catalog::CatalogMutation,
    campaigns::CampaignMutation,
    target_groups::TargetGroupMutation,
    settings::SettingMutation,
    hotmart::HotmartMutation,
    executions::ExecutionMutation,
    dispatch::DispatchMutation,
    automation::AutomationMutation,
    templates::TemplateMutation,
);

pub type JornadaSchema = Schema<Query, Mutation, subscriptions::LiveUpdates>;

/// Limits that keep one request from costing more than a page of work.
pub const MAX_DEPTH: usize = 10;
pub const MAX_COMPLEXITY: usize = 5_000;
pub const MAX_RECURSIVE_DEPTH: usize = 32;
pub const MAX_DIRECTIVES: usize = 20;

/// What the schema needs to run queries; `SchemaDeps::default()` (no
/// database) is enough to print the SDL.
#[derive(Clone)]
pub struct SchemaDeps {
    pub db: DatabaseConnection,
    pub secrets: entity::SecretKey,
    /// Wakes an in-process worker when a mutation queues work.
    pub work_signals: entity::WorkSignals,
    /// Where resolvers read the time.
    pub clock: entity::Clock,
}

impl Default for SchemaDeps {
    fn default() -> Self {
        SchemaDeps {
            db: DatabaseConnection::default(),
            secrets: entity::SecretKey::parse(&"00".repeat(32))
                .expect("a constant 32-byte key parses"),
            work_signals: entity::WorkSignals::default(),
            clock: entity::Clock::system(),
        }
    }
}

/// The one schema builder: used by the server, the tests and `jornada schema`.
pub fn build_schema(deps: SchemaDeps) -> JornadaSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::LiveUpdates,
    )
    .data(deps)
    // The depth in fields (`MAX_DEPTH`) is checked before, by
    // `limits::check_document`, where introspection counts one level.
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
    .limit_directives(MAX_DIRECTIVES)
    .finish()
}

/// The SDL as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema(SchemaDeps::default()).sdl()
}
