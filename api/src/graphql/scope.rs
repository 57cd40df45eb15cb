//! Who may do what, and in which workspace.
//!
//! Every operation carries a guard; every tenant-owned read or write goes
//! through the [`Tenant`] handle this module hands out, so a query that forgets
//! the workspace cannot be written by accident.

use async_graphql::{Context, Guard, ID};
use entity::Tenant;
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};

/// The schema-wide dependencies, available to every resolver.
pub fn app<'a>(ctx: &'a Context<'_>) -> &'a super::SchemaDeps {
    ctx.data_unchecked::<super::SchemaDeps>()
}

pub fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    &app(ctx).db
}

/// The time by the app's clock.
pub fn now(ctx: &Context<'_>) -> chrono::DateTime<chrono::Utc> {
    app(ctx).clock.now()
}

static ANONYMOUS: std::sync::LazyLock<Caller> = std::sync::LazyLock::new(Caller::anonymous);

pub fn caller<'a>(ctx: &'a Context<'_>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

/// What an operation needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated or service caller, read-only tokens included.
    Read,
    /// Authenticated or service callers whose token may change data.
    Write,
    /// service_role only (platform administration).
    Service,
}

impl Access {
    pub fn check(self, caller: &Caller) -> ApiResult<()> {
        if caller.role == Role::Anon {
            return Err(ApiError::Unauthenticated);
        }
        if self == Access::Service && caller.role != Role::ServiceRole {
            return Err(ApiError::Forbidden("this operation needs the service_role"));
        }
        if self != Access::Read && caller.read_only {
            return Err(ApiError::Forbidden("a read-only token cannot change data"));
        }
        Ok(())
    }
}

impl Guard for Access {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Access::check(*self, caller(ctx)).map_err(Into::into)
    }
}

/// Parses an `ID` argument; a malformed one is invalid input.
pub fn parse_id(id: &ID, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::invalid(format!("{what} is not a valid ID")))
}

/// The workspaces a request has found to exist, so a service_role request
/// naming one in every field looks it up once. Made per request.
#[derive(Default)]
pub struct KnownWorkspaces(std::sync::Mutex<std::collections::HashSet<Uuid>>);

impl KnownWorkspaces {
    fn contains(&self, id: Uuid) -> bool {
        self.0.lock().is_ok_and(|known| known.contains(&id))
    }

    fn insert(&self, id: Uuid) {
        if let Ok(mut known) = self.0.lock() {
            known.insert(id);
        }
    }
}

/// The workspace an operation acts in: an authenticated caller's comes from
/// its token (naming another one behaves as not found); a service_role caller
/// names it with `workspaceId`, which must exist.
pub async fn tenant(
    ctx: &Context<'_>,
    workspace_id: Option<&ID>,
    access: Access,
) -> ApiResult<Tenant> {
    tenant_of(
        db(ctx),
        caller(ctx),
        workspace_id.map(|id| id.as_str()),
        access,
        ctx.data_opt::<KnownWorkspaces>(),
    )
    .await
}

/// [`tenant`] for a caller met outside GraphQL (an export's bearer token):
/// `known` remembers the workspaces found to exist, where there is a request
/// to remember them for.
pub async fn tenant_of(
    db: &DatabaseConnection,
    caller: &Caller,
    workspace_id: Option<&str>,
    access: Access,
    known: Option<&KnownWorkspaces>,
) -> ApiResult<Tenant> {
    access.check(caller)?;
    let named = workspace_id
        .map(|id| parse_id(&ID::from(id), "workspaceId"))
        .transpose()?;
    match caller.role {
        Role::Anon => Err(ApiError::Unauthenticated),
        Role::Authenticated => {
            let own = caller.workspace_id.ok_or(ApiError::Unauthenticated)?;
            match named {
                Some(id) if id != own => Err(ApiError::NotFound("workspace")),
                _ => Ok(Tenant::new(own)),
            }
        }
        Role::ServiceRole => {
            let id = named.or(caller.workspace_id).ok_or_else(|| {
                ApiError::invalid("workspaceId is required for service_role calls")
            })?;
            if !known.is_some_and(|k| k.contains(id)) {
                entity::workspace::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .ok_or(ApiError::NotFound("workspace"))?;
                if let Some(known) = known {
                    known.insert(id);
                }
            }
            Ok(Tenant::new(id))
        }
    }
}
