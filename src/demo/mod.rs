//! `jornada demo`: a believable Portuguese-language workspace, "Escola Demo",
//! filled through jornada's real paths. Its six months of Hotmart postbacks
//! go through the webhook receiver and are applied by the worker; templates
//! are mirrored and members areas synced by the real clients, from a local
//! sandbox that speaks Meta's and Hotmart's wire formats; the built-in
//! rules, the CS team's decisions and a campaign run as they would have.
//!
//! A filled workspace is left as it is (the fill is deterministic, so there
//! is nothing to add); `--reset` deletes it and fills it again; a fill that
//! was interrupted is started over.

mod campaign;
mod catalog;
mod customers;
mod front_door;
mod history;
mod postbacks;
mod replay;
mod sandbox;
mod templates;

use anyhow::Context;
use entity::Tenant;
use entity::entities::{setting, workspace};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

pub use replay::{CS_TEAM, HOTTOK};

/// The demo workspace's slug and name.
pub const SLUG: &str = "demo";
pub const WORKSPACE_NAME: &str = "Escola Demo";
/// How many buyers `jornada demo` fills the school with.
pub const DEFAULT_CUSTOMERS: u16 = 800;
/// How many days of history `jornada demo` lives again: six months.
pub const HISTORY_DAYS: i64 = 182;
/// The setting a finished fill leaves, with its size and time.
const FILLED_MARKER: &str = "demo.filled";

/// What the demo needs: the database and the keys the app runs with.
pub struct Demo {
    pub db: DatabaseConnection,
    pub secrets: entity::SecretKey,
    pub jwt: api::JwtKeys,
    /// Where tracked links point (`Config::public_url`).
    pub public_url: String,
    /// Buyers drawn for the school.
    pub customers: usize,
    /// Where the school's history ends (now, for the command): the same
    /// end, length and size give the same workspace.
    pub until: chrono::DateTime<chrono::Utc>,
    /// How many days of history lead up to `until` ([`HISTORY_DAYS`] for
    /// the command).
    pub days: i64,
}

/// What a run found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The workspace was filled now.
    Filled,
    /// It was already filled; nothing changed.
    AlreadyFilled,
}

/// Fills the demo workspace unless it already is; with `reset`, deletes it
/// first. Returns the workspace's id and what happened.
pub async fn run(demo: &Demo, reset: bool) -> anyhow::Result<(Uuid, Outcome)> {
    if let Some(existing) = find(&demo.db).await? {
        let filled = is_filled(&demo.db, existing.id).await?;
        if filled && !reset {
            return Ok((existing.id, Outcome::AlreadyFilled));
        }
        if !filled {
            tracing::warn!("demo: the workspace's last fill did not finish; starting over");
        }
        entity::workspaces::delete(&demo.db, existing.id)
            .await
            .context("deleting the demo workspace")?;
        tracing::info!("demo: workspace deleted");
    }
    let id = replay::fill(demo).await?;
    let marker = format!(
        "{} customers, filled {}",
        demo.customers,
        chrono::Utc::now().to_rfc3339()
    );
    entity::settings::set(
        &demo.db,
        Tenant::new(id),
        &demo.secrets,
        FILLED_MARKER,
        &marker,
        Some("Set by `jornada demo` when its fill finished".into()),
        chrono::Utc::now(),
    )
    .await
    .context("marking the demo workspace filled")?;
    Ok((id, Outcome::Filled))
}

/// The demo workspace, if there is one.
pub async fn find(db: &DatabaseConnection) -> anyhow::Result<Option<workspace::Model>> {
    Ok(entity::workspaces::find_by_slug_or_id(db, SLUG).await?)
}

async fn is_filled(db: &DatabaseConnection, workspace_id: Uuid) -> anyhow::Result<bool> {
    let marker = setting::Entity::find()
        .filter(setting::Column::WorkspaceId.eq(workspace_id))
        .filter(setting::Column::Key.eq(FILLED_MARKER))
        .one(db)
        .await?;
    Ok(marker.is_some())
}

/// What the workspace holds, as its GraphQL API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub customers: i64,
    pub purchases: i64,
    pub refunds: i64,
    pub pending_items: i64,
}

/// Counts what a user of the workspace sees, through GraphQL.
pub async fn summary(demo: &Demo, workspace_id: Uuid) -> anyhow::Result<Summary> {
    let token = demo.jwt.mint(
        api::Role::Authenticated,
        Some(workspace_id),
        Some(CS_TEAM.into()),
        true,
        chrono::Duration::minutes(5),
    );
    let door = front_door::FrontDoor {
        router: crate::api_router(
            demo.db.clone(),
            demo.jwt.clone(),
            demo.secrets.clone(),
            entity::WorkSignals::default(),
            entity::Clock::system(),
        ),
        bearer: format!("Bearer {token}"),
        slug: SLUG.to_owned(),
        hottok: String::new(),
        app_secret: String::new(),
    };
    let data = door
        .graphql(
            "{ customers(first: 1) { totalCount }
               purchases: transactions(first: 1) { totalCount }
               refunds: transactions(first: 1, filter: {status: \"REFUNDED\"}) { totalCount }
               dispatchQueue(first: 1, filter: {status: PENDING}) { totalCount } }",
            serde_json::json!({}),
        )
        .await?;
    let count = |field: &str| data[field]["totalCount"].as_i64().unwrap_or(0);
    Ok(Summary {
        customers: count("customers"),
        purchases: count("purchases"),
        refunds: count("refunds"),
        pending_items: count("dispatchQueue"),
    })
}
