//! Pagination and list answers: which page to ask for, the page and list
//! shapes Hotmart answers with, and the walk that collects every page.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::push;
use super::{HotmartError, Result, lenient};

/// Hotmart's page size limit for `max_results`.
pub const MAX_RESULTS_LIMIT: u32 = 500;

/// Which page to ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, clamped to 1..=500; Hotmart's default when `None`.
    pub max_results: Option<u32>,
    /// `next_page_token` of the previous page; `None` for the first page.
    pub page_token: Option<String>,
}

impl PageRequest {
    pub fn first(max_results: u32) -> Self {
        Self {
            max_results: Some(max_results),
            page_token: None,
        }
    }

    pub(super) fn query(&self, query: &mut Vec<(String, String)>) {
        if let Some(max) = self.max_results {
            push(query, "max_results", max.clamp(1, MAX_RESULTS_LIMIT));
        }
        if let Some(token) = &self.page_token {
            push(query, "page_token", token);
        }
    }
}

/// How far a collect-all helper goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Page size, clamped to 1..=500.
    pub max_results: u32,
    /// Pages fetched at most; beyond, the result is marked incomplete.
    pub max_pages: usize,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self {
            max_results: MAX_RESULTS_LIMIT,
            max_pages: 200,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageInfo {
    #[serde(default, deserialize_with = "lenient::u64")]
    pub total_results: Option<u64>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub next_page_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub prev_page_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub results_per_page: Option<u64>,
}

/// One page of a list endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page_info: Option<PageInfo>,
}

impl<T> Page<T> {
    /// The token for the next page; `None` on the last page.
    pub fn next_page_token(&self) -> Option<&str> {
        self.page_info
            .as_ref()
            .and_then(|info| info.next_page_token.as_deref())
            .filter(|token| !token.is_empty())
    }
}

/// Every item a collect-all helper gathered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collected<T> {
    pub items: Vec<T>,
    pub pages: usize,
    /// False when the page cap stopped the walk before the last page.
    pub complete: bool,
}

/// Walks pages until `next_page_token` is absent or the cap is reached.
pub(super) async fn collect_pages<T, F, Fut>(
    limits: PageLimits,
    mut fetch: F,
) -> Result<Collected<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut collected = Collected {
        items: Vec::new(),
        pages: 0,
        complete: false,
    };
    let mut request = PageRequest::first(limits.max_results);
    while collected.pages < limits.max_pages {
        let page = fetch(request.clone()).await?;
        collected.pages += 1;
        let next = page.next_page_token().map(str::to_owned);
        collected.items.extend(page.items);
        match next {
            None => {
                collected.complete = true;
                break;
            }
            Some(next) if request.page_token.as_deref() == Some(next.as_str()) => {
                return Err(HotmartError::Decode(
                    "pagination did not advance (same next_page_token twice)".into(),
                ));
            }
            Some(next) => request.page_token = Some(next),
        }
    }
    if !collected.complete {
        tracing::warn!(
            pages = collected.pages,
            "Hotmart pagination stopped at the page cap"
        );
    }
    Ok(collected)
}

/// A paged answer: `{"items", "page_info"}`, a bare array, or nothing.
pub(super) fn decode_page<T: DeserializeOwned>(body: &[u8]) -> Result<Page<T>> {
    #[derive(Deserialize)]
    #[serde(bound(deserialize = "T: DeserializeOwned"))]
    struct Wire<T> {
        #[serde(default = "Vec::new", deserialize_with = "lenient::list")]
        items: Vec<T>,
        #[serde(default, deserialize_with = "lenient::nested")]
        page_info: Option<PageInfo>,
    }
    let value = parse_body(body)?;
    if value.is_null() {
        return Ok(Page {
            items: Vec::new(),
            page_info: None,
        });
    }
    if value.is_array() {
        let items = serde_json::from_value(value).map_err(decode_error)?;
        return Ok(Page {
            items,
            page_info: None,
        });
    }
    let wire: Wire<T> = serde_json::from_value(value).map_err(decode_error)?;
    Ok(Page {
        items: wire.items,
        page_info: wire.page_info,
    })
}

/// An unpaged list: a bare array, `{key: [...]}`, `{"items": [...]}`, or
/// nothing (204 or an empty body).
pub(super) fn decode_list<T: DeserializeOwned>(body: &[u8], key: &str) -> Result<Vec<T>> {
    let value = match parse_body(body)? {
        Value::Object(mut object) => object
            .remove(key)
            .or_else(|| object.remove("items"))
            .unwrap_or(Value::Null),
        value => value,
    };
    match value {
        Value::Null => Ok(Vec::new()),
        value @ Value::Array(_) => serde_json::from_value(value).map_err(decode_error),
        _ => Err(HotmartError::Decode(format!("expected a list of {key}"))),
    }
}

fn parse_body(body: &[u8]) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(decode_error)
}

fn decode_error(error: serde_json::Error) -> HotmartError {
    HotmartError::Decode(error.to_string())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;
    use crate::hotmart::client::{ClubLesson, ClubModule, Sale};

    #[test]
    fn sales_items_decode_leniently() {
        let body = br#"{"items":[{"product":{"id":3526906,"name":"Curso"},
            "buyer":{"email":"maria@example.com","ucode":"u1"},
            "purchase":{"transaction":"HP123","order_date":1700000000000,
            "approved_date":"2023-11-14T22:13:20Z","status":"APPROVED",
            "recurrency_number":"2","price":{"value":197.9,"currency_code":"BRL"},
            "payment":{"type":"CREDIT_CARD","installments_number":12},
            "offer":"not-an-object","unknown":{"x":1}}}],
            "page_info":{"total_results":1,"results_per_page":50}}"#;
        let page: Page<Sale> = decode_page(body).unwrap();
        assert_eq!(page.next_page_token(), None);
        let sale = &page.items[0];
        assert_eq!(
            sale.product.as_ref().unwrap().id.as_deref(),
            Some("3526906")
        );
        let purchase = sale.purchase.as_ref().unwrap();
        assert_eq!(purchase.recurrency_number, Some(2));
        assert_eq!(purchase.order_date, purchase.approved_date);
        assert_eq!(
            purchase.price.as_ref().unwrap().value,
            Some(Decimal::from_str("197.9").unwrap())
        );
        assert_eq!(
            purchase.payment.as_ref().unwrap().payment_type.as_deref(),
            Some("CREDIT_CARD")
        );
        assert_eq!(purchase.offer, None);
    }

    #[test]
    fn lists_accept_every_shape() {
        assert!(
            decode_list::<ClubLesson>(b"", "lessons")
                .unwrap()
                .is_empty()
        );
        assert!(
            decode_list::<ClubLesson>(br#"{"lessons":[]}"#, "lessons")
                .unwrap()
                .is_empty()
        );
        let modules: Vec<ClubModule> =
            decode_list(br#"[{"id":"m1","name":"Boas-vindas"}]"#, "modules").unwrap();
        assert_eq!(modules[0].module_id.as_deref(), Some("m1"));
    }
}
