//! Relay connections over keyset pagination: newest first, by the
//! time-ordered UUID v7 primary key.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Lookahead, OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use super::columns::Reads;
use super::scope::db;
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 100;
const CURSOR_PREFIX: &str = "jornada:";

/// Fields every connection has besides `edges`, `nodes` and `pageInfo`.
#[derive(SimpleObject)]
pub struct Totals {
    /// How many nodes match the filter, across all pages.
    pub total_count: u64,
}

/// What a query selects of the nodes of a connection, through `edges {
/// node }` and through `nodes` alike.
pub struct Selected<'a>([Lookahead<'a>; 2]);

impl<'a> Selected<'a> {
    /// The node selection of the connection field `ctx` resolves.
    pub fn nodes_of(ctx: &'a Context<'_>) -> Self {
        let connection = ctx.look_ahead();
        Selected([
            connection.field("edges").field("node"),
            connection.field("nodes"),
        ])
    }

    pub fn field(&self, name: &str) -> Selected<'a> {
        let [edges, nodes] = &self.0;
        Selected([edges.field(name), nodes.field(name)])
    }

    pub fn exists(&self) -> bool {
        self.0.iter().any(Lookahead::exists)
    }
}

/// What a node type loads for a whole page before any of its nodes
/// resolves: each relation the query selects, in one statement per
/// relation, whatever the page size and however busy the server is.
pub trait Prefetch: Sized + Sync {
    fn prefetch(
        _ctx: &Context<'_>,
        _node: &Selected<'_>,
        _page: &[Self],
    ) -> impl std::future::Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }
}

/// The query cost of a connection field: its page size times what each node costs.
pub fn cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as usize;
    1 + page * child_complexity
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

pub fn decode_cursor(cursor: &str) -> ApiResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            text.strip_prefix(CURSOR_PREFIX)
                .and_then(|id| Uuid::parse_str(id).ok())
        })
        .ok_or_else(|| ApiError::invalid("`after` is not a cursor issued by this API"))
}

/// One page of `select`, newest first, as a Relay connection. The filter is
/// counted only when the query selects `totalCount`: a list screen that
/// shows no total pays for no `COUNT(*)` over the workspace. The nodes'
/// relations are loaded for the whole page (see [`Prefetch`]).
pub async fn paginate<E, N>(
    ctx: &Context<'_>,
    select: Select<E>,
    id_column: E::Column,
    first: Option<i32>,
    after: Option<String>,
    node_of: impl Fn(E::Model) -> ApiResult<(Uuid, N)>,
) -> ApiResult<Connection<String, N, Totals>>
where
    E: Reads,
    E::Model: Sync,
    N: OutputType + Prefetch,
{
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(ApiError::invalid(format!(
            "`first` must be between 0 and {MAX_PAGE_SIZE}"
        )));
    }
    let after = after.as_deref().map(decode_cursor).transpose()?;
    let db = db(ctx);
    // The statements' futures are boxed (here and in `prefetch`): a
    // resolver's future is as large as the largest it awaits in place, and
    // async-graphql moves each field's future, per node, onto the heap.
    let total_count = if ctx.look_ahead().field("totalCount").exists() {
        Box::pin(select.clone().count(db)).await?
    } else {
        // Never shown: the query did not ask for it.
        0
    };
    let mut page = select;
    if let Some(after) = after {
        page = page.filter(id_column.lt(after));
    }
    let node = Selected::nodes_of(ctx);
    let page = page.order_by_desc(id_column).limit(first as u64 + 1);
    let rows = Box::pin(E::read(db, page, &node, &[id_column])).await?;
    let has_next = rows.len() > first as usize;
    let mut cursors = Vec::with_capacity(rows.len().min(first as usize));
    let mut nodes = Vec::with_capacity(cursors.capacity());
    for row in rows.into_iter().take(first as usize) {
        let (id, node) = node_of(row)?;
        cursors.push(encode_cursor(id));
        nodes.push(node);
    }
    Box::pin(N::prefetch(ctx, &node, &nodes)).await?;
    let mut connection =
        Connection::with_additional_fields(after.is_some(), has_next, Totals { total_count });
    connection.edges = cursors
        .into_iter()
        .zip(nodes)
        .map(|(cursor, node)| Edge::new(cursor, node))
        .collect();
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
        assert!(decode_cursor("' OR 1=1 --").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("other:123")).is_err());
    }
}
