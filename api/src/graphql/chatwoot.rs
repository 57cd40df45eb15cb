//! Chatwoot: the tag report behind the word cloud of what customers talk
//! to the CS team about.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::chatwoot::{self, TagCount as Counted};

use super::scope::{Access, db, parse_id, tenant};
use crate::error::ApiResult;

/// One Chatwoot label's use in a period.
#[derive(SimpleObject)]
pub struct TagCount {
    pub label: String,
    /// Times the label was put on a conversation in the period.
    pub count: i64,
    /// Distinct customers of those conversations.
    pub customers: i64,
    /// Times it was put on in the period of the same length just before.
    pub previous_count: i64,
}

impl From<Counted> for TagCount {
    fn from(c: Counted) -> Self {
        TagCount {
            label: c.label,
            count: c.count,
            customers: c.customers,
            previous_count: c.previous_count,
        }
    }
}

#[derive(Default)]
pub struct ChatwootQuery;

#[Object]
impl ChatwootQuery {
    /// Per label put on Chatwoot conversations in `[from, to)` or in the
    /// period of the same length just before it: most used first. With
    /// `productId`, only customers enrolled in that product or with a
    /// purchase of it count.
    #[graphql(guard = "Access::Read")]
    async fn tag_report(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        product_id: Option<ID>,
    ) -> ApiResult<Vec<TagCount>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let product = product_id
            .as_ref()
            .map(|id| parse_id(id, "productId"))
            .transpose()?;
        Ok(chatwoot::tag_report(db(ctx), tenant, from, to, product)
            .await?
            .into_iter()
            .map(TagCount::from)
            .collect())
    }
}
