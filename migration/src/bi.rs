//! Database roles for BI tools on PostgreSQL: `jornada bi grant` creates a
//! login role that may read the `bi_*` views (and no table), each view
//! holding only the rows of the workspaces granted to it; `jornada bi
//! revoke` takes workspaces back, and the role with the last of them.

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement,
};
use uuid::Uuid;

use crate::m20261207_000030_bi_views::bi_views;

/// Why a grant or a revoke was refused.
#[derive(Debug, thiserror::Error)]
pub enum BiError {
    #[error("BI roles need PostgreSQL; SQLite has no roles")]
    NotPostgres,
    #[error(
        "`{0}` is not a role name: use 1 to 63 lower-case letters, digits and _, starting with a letter"
    )]
    BadName(String),
    #[error("no workspace {0}")]
    NoWorkspace(Uuid),
    #[error("`{0}` is a role jornada did not create for BI; choose another name")]
    NotOurs(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// What a grant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// Whether the role was created now (then with `password`).
    pub created: bool,
}

fn checked(role: &str) -> Result<&str, BiError> {
    let mut chars = role.chars();
    let valid = role.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(role)
    } else {
        Err(BiError::BadName(role.to_owned()))
    }
}

fn postgres(db: &DatabaseConnection) -> Result<(), BiError> {
    if db.get_database_backend() == DbBackend::Postgres {
        Ok(())
    } else {
        Err(BiError::NotPostgres)
    }
}

async fn exists(
    db: &DatabaseConnection,
    sql: &str,
    values: Vec<sea_orm_migration::sea_orm::Value>,
) -> Result<bool, DbErr> {
    Ok(db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?
        .is_some())
}

/// Lets `role` read the BI views' rows of `workspace`, creating it as a
/// login role with `password` if it does not exist yet.
pub async fn grant(
    db: &DatabaseConnection,
    role: &str,
    workspace: Uuid,
    password: &str,
) -> Result<Granted, BiError> {
    postgres(db)?;
    let role = checked(role)?;
    if !exists(
        db,
        "SELECT 1 FROM workspaces WHERE id = $1",
        vec![workspace.into()],
    )
    .await?
    {
        return Err(BiError::NoWorkspace(workspace));
    }
    let known = exists(
        db,
        "SELECT 1 FROM pg_roles WHERE rolname = $1",
        vec![role.into()],
    )
    .await?;
    let ours = exists(
        db,
        "SELECT 1 FROM bi_grants WHERE role_name = $1",
        vec![role.into()],
    )
    .await?;
    if known && !ours {
        return Err(BiError::NotOurs(role.to_owned()));
    }
    if !known {
        let password = password.replace('\'', "''");
        db.execute_unprepared(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
        ))
        .await?;
    }
    let schema = current_schema(db).await?;
    db.execute_unprepared(&format!("GRANT USAGE ON SCHEMA {schema} TO \"{role}\""))
        .await?;
    for view in bi_views() {
        db.execute_unprepared(&format!("GRANT SELECT ON {view} TO \"{role}\""))
            .await?;
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO bi_grants (role_name, workspace_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        vec![role.into(), workspace.into()],
    ))
    .await?;
    Ok(Granted { created: !known })
}

async fn current_schema(db: &DatabaseConnection) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT quote_ident(current_schema())",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no current schema".into()))?;
    row.try_get_by_index(0)
}

/// Takes `workspace` (every workspace when `None`) back from `role`;
/// answers whether the role is gone, which it is with its last workspace.
pub async fn revoke(
    db: &DatabaseConnection,
    role: &str,
    workspace: Option<Uuid>,
) -> Result<bool, BiError> {
    postgres(db)?;
    let role = checked(role)?;
    if !exists(
        db,
        "SELECT 1 FROM bi_grants WHERE role_name = $1",
        vec![role.into()],
    )
    .await?
    {
        return Err(BiError::NotOurs(role.to_owned()));
    }
    match workspace {
        Some(workspace) => {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM bi_grants WHERE role_name = $1 AND workspace_id = $2",
                vec![role.into(), workspace.into()],
            ))
            .await?
        }
        None => {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM bi_grants WHERE role_name = $1",
                vec![role.into()],
            ))
            .await?
        }
    };
    if exists(
        db,
        "SELECT 1 FROM bi_grants WHERE role_name = $1",
        vec![role.into()],
    )
    .await?
    {
        return Ok(false);
    }
    db.execute_unprepared(&format!("DROP OWNED BY \"{role}\""))
        .await?;
    db.execute_unprepared(&format!("DROP ROLE \"{role}\""))
        .await?;
    Ok(true)
}
