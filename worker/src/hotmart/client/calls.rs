//! The endpoints: sales history, subscriptions (list, cancel, reactivate)
//! and the Club (members, their lessons, modules and pages). Each builds its
//! query and path, goes through `call`, and decodes the answer.

use reqwest::Method;
use serde_json::json;

use super::model::push;
use super::paging::{collect_pages, decode_list, decode_page};
use super::{
    ClubLesson, ClubModule, ClubPage, ClubUser, Collected, HotmartClient, HotmartError, Page,
    PageLimits, PageRequest, Result, Sale, SalesHistoryFilter, Subscription, SubscriptionFilter,
};

const SALES_HISTORY: &str = "/payments/api/v1/sales/history";
const SUBSCRIPTIONS: &str = "/payments/api/v1/subscriptions";
const SUBSCRIPTION_CANCEL: &str = "/payments/api/v1/subscriptions/{subscriber_code}/cancel";
const SUBSCRIPTION_REACTIVATE: &str = "/payments/api/v1/subscriptions/{subscriber_code}/reactivate";
const CLUB_USERS: &str = "/club/api/v1/users";
const CLUB_USER_LESSONS: &str = "/club/api/v1/users/{user_id}/lessons";
const CLUB_MODULES: &str = "/club/api/v1/modules";
const CLUB_MODULE_PAGES: &str = "/club/api/v1/modules/{module_id}/pages";

impl HotmartClient {
    // -- Sales --------------------------------------------------------------

    pub async fn sales_history_page(
        &self,
        filter: &SalesHistoryFilter,
        page: &PageRequest,
    ) -> Result<Page<Sale>> {
        let mut query = filter.query();
        page.query(&mut query);
        let answer = self
            .call(Method::GET, SALES_HISTORY, SALES_HISTORY, &query, None)
            .await?;
        decode_page(&answer.body)
    }

    /// Every sale matching `filter`, following `next_page_token`.
    pub async fn sales_history(
        &self,
        filter: &SalesHistoryFilter,
        limits: PageLimits,
    ) -> Result<Collected<Sale>> {
        collect_pages(limits, |page| async move {
            self.sales_history_page(filter, &page).await
        })
        .await
    }

    // -- Subscriptions ------------------------------------------------------

    pub async fn subscriptions_page(
        &self,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let mut query = filter.query();
        page.query(&mut query);
        let answer = self
            .call(Method::GET, SUBSCRIPTIONS, SUBSCRIPTIONS, &query, None)
            .await?;
        decode_page(&answer.body)
    }

    /// Every subscription matching `filter`, following `next_page_token`.
    pub async fn subscriptions(
        &self,
        filter: &SubscriptionFilter,
        limits: PageLimits,
    ) -> Result<Collected<Subscription>> {
        collect_pages(limits, |page| async move {
            self.subscriptions_page(filter, &page).await
        })
        .await
    }

    /// Cancels a subscription; `send_mail` tells Hotmart to e-mail the
    /// subscriber. Any 2xx is success (the answer's body is undocumented).
    pub async fn cancel_subscription(&self, subscriber_code: &str, send_mail: bool) -> Result<()> {
        let path = format!("{SUBSCRIPTIONS}/{}/cancel", encode_segment(subscriber_code));
        let body = json!({ "send_mail": send_mail });
        self.call(Method::POST, SUBSCRIPTION_CANCEL, &path, &[], Some(&body))
            .await
            .map(drop)
    }

    /// Reactivates a cancelled subscription; `charge` bills it right away.
    /// Any 2xx is success (the answer's body is undocumented).
    pub async fn reactivate_subscription(&self, subscriber_code: &str, charge: bool) -> Result<()> {
        let path = format!(
            "{SUBSCRIPTIONS}/{}/reactivate",
            encode_segment(subscriber_code)
        );
        let body = json!({ "charge": charge });
        self.call(
            Method::POST,
            SUBSCRIPTION_REACTIVATE,
            &path,
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    // -- Club (members area) --------------------------------------------------

    /// One page of the Club's members, optionally only the one with `email`.
    pub async fn club_users_page(
        &self,
        email: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ClubUser>> {
        let mut query = self.club_query()?;
        if let Some(email) = email {
            push(&mut query, "email", email);
        }
        page.query(&mut query);
        let answer = self
            .call(Method::GET, CLUB_USERS, CLUB_USERS, &query, None)
            .await?;
        decode_page(&answer.body)
    }

    /// Every Club member, following `next_page_token`.
    pub async fn club_users(&self, limits: PageLimits) -> Result<Collected<ClubUser>> {
        collect_pages(limits, |page| async move {
            self.club_users_page(None, &page).await
        })
        .await
    }

    /// The Club member with this e-mail, if any.
    pub async fn club_user_by_email(&self, email: &str) -> Result<Option<ClubUser>> {
        let page = self
            .club_users_page(Some(email), &PageRequest::default())
            .await?;
        Ok(page.items.into_iter().find(|user| {
            user.email
                .as_deref()
                .is_none_or(|found| found.eq_ignore_ascii_case(email))
        }))
    }

    /// One member's lessons and whether each is completed. Hotmart may
    /// answer 204 or an empty body: that is an empty list.
    pub async fn club_user_lessons(&self, user_id: &str) -> Result<Vec<ClubLesson>> {
        let query = self.club_query()?;
        let path = format!("{CLUB_USERS}/{}/lessons", encode_segment(user_id));
        let answer = self
            .call(Method::GET, CLUB_USER_LESSONS, &path, &query, None)
            .await?;
        decode_list(&answer.body, "lessons")
    }

    pub async fn club_modules(&self) -> Result<Vec<ClubModule>> {
        let query = self.club_query()?;
        let answer = self
            .call(Method::GET, CLUB_MODULES, CLUB_MODULES, &query, None)
            .await?;
        decode_list(&answer.body, "modules")
    }

    pub async fn club_module_pages(&self, module_id: &str) -> Result<Vec<ClubPage>> {
        let query = self.club_query()?;
        let path = format!("{CLUB_MODULES}/{}/pages", encode_segment(module_id));
        let answer = self
            .call(Method::GET, CLUB_MODULE_PAGES, &path, &query, None)
            .await?;
        decode_list(&answer.body, "pages")
    }

    fn club_query(&self) -> Result<Vec<(String, String)>> {
        let subdomain = self
            .club_subdomain
            .as_deref()
            .ok_or(HotmartError::MissingClubSubdomain)?;
        Ok(vec![("subdomain".to_owned(), subdomain.to_owned())])
    }
}

/// Percent-encodes one path segment (ids come from Hotmart, but a path must
/// never be steerable by data).
fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("ABC-12_x"), "ABC-12_x");
        assert_eq!(encode_segment("a/../b?c"), "a%2F..%2Fb%3Fc");
    }
}
