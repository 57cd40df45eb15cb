//! Chatwoot's labels API and the job that puts labels on a customer's
//! conversation.
//!
//! `POST .../conversations/{id}/labels` replaces the conversation's whole
//! label set (CONTRACTS.md section 4), so the job reads the labels first,
//! adds its own and writes the union: the labels a CS agent put on stay.
//! Chatwoot echoes the write back as a `conversation_updated` delivery;
//! the tags the job records make that echo change nothing.

use std::fmt;
use std::time::Duration;

use entity::Tenant;
use entity::background_jobs::{JobErrorCode, MAX_ATTEMPTS, Outcome};
use entity::chatwoot::{self, ACCOUNT_ID_SETTING, API_ACCESS_TOKEN_SETTING, BASE_URL_SETTING};
use entity::entities::{background_job, customer};
use entity::webhook_events::backoff;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Worker;
use crate::background_jobs::JobEnd;
use crate::channels::{HttpOptions, http_url, retry_after_header};

/// Where the workspace's Chatwoot is and how to call it.
#[derive(Clone)]
pub struct ChatwootConfig {
    pub base_url: reqwest::Url,
    pub api_access_token: String,
    pub account_id: String,
}

impl fmt::Debug for ChatwootConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatwootConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_access_token", &"[redacted]")
            .field("account_id", &self.account_id)
            .finish()
    }
}

/// Why labels could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("{0}")]
    NotConfigured(String),
    #[error("the customer no longer exists")]
    CustomerGone,
    #[error(
        "no Chatwoot conversation of the customer is known yet (one is learnt from Chatwoot's webhook)"
    )]
    NoConversation,
    #[error("Chatwoot has no conversation {0} in the account")]
    ConversationNotFound(String),
    #[error("Chatwoot refused chatwoot.api_access_token (HTTP {0}): set a valid token")]
    Refused(u16),
    /// Chatwoot is busy, failing or did not answer: asking again later may succeed.
    #[error("{reason}")]
    Busy {
        reason: String,
        retry_after: Option<Duration>,
    },
    #[error("Chatwoot answered unexpectedly: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Entity(#[from] entity::Error),
}

impl ChatwootConfig {
    /// The workspace's `chatwoot.base_url`, `chatwoot.api_access_token` and
    /// `chatwoot.account_id`.
    pub async fn from_settings(worker: &Worker, tenant: Tenant) -> Result<Self, LabelsError> {
        let mut values = Vec::new();
        for key in [
            BASE_URL_SETTING,
            API_ACCESS_TOKEN_SETTING,
            ACCOUNT_ID_SETTING,
        ] {
            let value = entity::settings::reveal(&worker.db, tenant, &worker.secrets, key)
                .await?
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| LabelsError::NotConfigured(format!("{key} is not set")))?;
            values.push(value);
        }
        let [base_url, api_access_token, account_id]: [String; 3] =
            values.try_into().expect("three settings read");
        let base_url = http_url(&base_url).ok_or_else(|| {
            LabelsError::NotConfigured(format!("{BASE_URL_SETTING} is not an http(s) URL"))
        })?;
        Ok(Self {
            base_url,
            api_access_token,
            account_id,
        })
    }
}

/// A client of one account's conversation labels.
pub struct LabelsClient {
    http: reqwest::Client,
    config: ChatwootConfig,
}

impl LabelsClient {
    pub fn new(config: ChatwootConfig, options: HttpOptions) -> Result<Self, LabelsError> {
        let http = options
            .client()
            .map_err(|e| LabelsError::NotConfigured(e.reason().to_owned()))?;
        Ok(Self { http, config })
    }

    /// `{base}/api/v1/accounts/{account}/conversations/{conversation}/labels`.
    fn url(&self, conversation_id: &str) -> Result<reqwest::Url, LabelsError> {
        let mut url = self.config.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| {
                LabelsError::NotConfigured(format!("{BASE_URL_SETTING} cannot take a path"))
            })?
            .pop_if_empty()
            .extend([
                "api",
                "v1",
                "accounts",
                &self.config.account_id,
                "conversations",
                conversation_id,
                "labels",
            ]);
        Ok(url)
    }

    /// The conversation's labels.
    pub async fn labels(&self, conversation_id: &str) -> Result<Vec<String>, LabelsError> {
        let request = self.http.get(self.url(conversation_id)?);
        self.call(request, conversation_id).await
    }

    /// Replaces the conversation's labels with `labels`; returns the labels
    /// Chatwoot kept (it may drop labels the account does not define).
    pub async fn replace_labels(
        &self,
        conversation_id: &str,
        labels: &[String],
    ) -> Result<Vec<String>, LabelsError> {
        let request = self
            .http
            .post(self.url(conversation_id)?)
            .json(&json!({ "labels": labels }));
        self.call(request, conversation_id).await
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        conversation_id: &str,
    ) -> Result<Vec<String>, LabelsError> {
        let response = request
            .header("api_access_token", &self.config.api_access_token)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        match status {
            s if s.is_success() => {
                let body: Value = response
                    .json()
                    .await
                    .map_err(|_| LabelsError::Unexpected("the labels answer is not JSON".into()))?;
                labels_of(&body)
                    .ok_or_else(|| LabelsError::Unexpected("the answer has no label list".into()))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(LabelsError::Refused(status.as_u16()))
            }
            StatusCode::NOT_FOUND => Err(LabelsError::ConversationNotFound(
                conversation_id.to_owned(),
            )),
            s if s == StatusCode::TOO_MANY_REQUESTS
                || s == StatusCode::REQUEST_TIMEOUT
                || s.is_server_error() =>
            {
                Err(LabelsError::Busy {
                    reason: format!("Chatwoot answered HTTP {}", s.as_u16()),
                    retry_after,
                })
            }
            s => Err(LabelsError::Unexpected(format!("HTTP {}", s.as_u16()))),
        }
    }
}

/// `{"payload": [..]}` (or a bare list), lower-cased as Chatwoot keeps labels.
fn labels_of(body: &Value) -> Option<Vec<String>> {
    let list = body.get("payload").unwrap_or(body).as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .filter_map(chatwoot::normalize_label)
            .collect(),
    )
}

fn transport_error(error: reqwest::Error) -> LabelsError {
    let reason = if error.is_timeout() {
        "Chatwoot did not answer in time".to_owned()
    } else if error.is_connect() {
        "could not connect to Chatwoot".to_owned()
    } else {
        format!("calling Chatwoot failed: {}", error.without_url())
    };
    LabelsError::Busy {
        reason,
        retry_after: None,
    }
}

/// What writing a customer's labels did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelsWritten {
    pub conversation_id: String,
    /// The conversation's labels afterwards.
    pub labels: Vec<String>,
    /// The labels this write put on (those it asked for that were not there).
    pub added: Vec<String>,
}

/// Puts `labels` on the customer's Chatwoot conversation, keeping those it
/// has, and records the ones it added as tags.
pub async fn put_labels(
    worker: &Worker,
    tenant: Tenant,
    customer_id: Uuid,
    labels: &[String],
) -> Result<LabelsWritten, LabelsError> {
    let customer = match tenant
        .get::<customer::Entity, _>(&worker.db, customer_id)
        .await
    {
        Ok(customer) => customer,
        Err(entity::Error::NotFound(_)) => return Err(LabelsError::CustomerGone),
        Err(other) => return Err(other.into()),
    };
    let conversation_id = customer
        .chatwoot_conversation_id
        .ok_or(LabelsError::NoConversation)?;
    let client = LabelsClient::new(
        ChatwootConfig::from_settings(worker, tenant).await?,
        HttpOptions::default(),
    )?;
    let current = client.labels(&conversation_id).await?;
    let missing: Vec<String> = labels
        .iter()
        .filter(|label| !current.contains(label))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(LabelsWritten {
            conversation_id,
            labels: current,
            added: Vec::new(),
        });
    }
    let union: Vec<String> = current.iter().chain(&missing).cloned().collect();
    let written = client.replace_labels(&conversation_id, &union).await?;
    let added: Vec<String> = missing
        .into_iter()
        .filter(|label| written.contains(label))
        .collect();
    let txn = entity::db::begin_write(&worker.db)
        .await
        .map_err(entity::Error::from)?;
    chatwoot::record_labels_put(
        &txn,
        tenant,
        &conversation_id,
        Some(customer_id),
        &added,
        worker.clock.now(),
    )
    .await?;
    txn.commit().await.map_err(entity::Error::from)?;
    Ok(LabelsWritten {
        conversation_id,
        labels: written,
        added,
    })
}

/// Runs a labels job (`job` as started): a busy Chatwoot is asked again
/// after a growing pause, up to [`MAX_ATTEMPTS`] runs; what cannot succeed
/// fails at once with its code.
pub async fn run(
    worker: &Worker,
    tenant: Tenant,
    job: &background_job::Model,
    customer_id: Uuid,
    labels: &[String],
) -> JobEnd {
    let failed =
        |code: JobErrorCode, message: String| JobEnd::Finished(Outcome::Failed { code, message });
    match put_labels(worker, tenant, customer_id, labels).await {
        Ok(written) => JobEnd::Finished(Outcome::Succeeded(json!({
            "conversationId": written.conversation_id,
            "labels": written.labels,
            "added": written.added,
        }))),
        Err(LabelsError::Busy {
            reason,
            retry_after,
        }) if job.attempts < MAX_ATTEMPTS => {
            let pause = retry_after
                .and_then(|after| chrono::Duration::from_std(after).ok())
                .map_or(backoff(job.attempts), |after| {
                    Ord::max(after, backoff(job.attempts))
                });
            JobEnd::RetryAt {
                at: worker.clock.now() + pause,
                reason,
            }
        }
        Err(LabelsError::Busy { reason, .. }) => failed(
            JobErrorCode::Conflict,
            format!("{reason} after {} attempts; try again later", job.attempts),
        ),
        Err(err @ (LabelsError::NotConfigured(_) | LabelsError::Refused(_))) => {
            failed(JobErrorCode::InvalidInput, err.to_string())
        }
        Err(
            err @ (LabelsError::CustomerGone
            | LabelsError::NoConversation
            | LabelsError::ConversationNotFound(_)),
        ) => failed(JobErrorCode::NotFound, err.to_string()),
        Err(err @ LabelsError::Unexpected(_)) => failed(JobErrorCode::Conflict, err.to_string()),
        Err(LabelsError::Entity(err)) => {
            tracing::error!(job_id = %job.id, error = %err, "a chatwoot labels job failed on jornada's side");
            failed(JobErrorCode::Internal, "internal error".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_lists_are_read_leniently() {
        assert_eq!(
            labels_of(&json!({"payload": ["VIP", "novo"]})),
            Some(vec!["vip".to_owned(), "novo".to_owned()])
        );
        assert_eq!(labels_of(&json!(["a"])), Some(vec!["a".to_owned()]));
        assert_eq!(labels_of(&json!({"error": "x"})), None);
    }

    #[test]
    fn the_token_never_prints() {
        let config = ChatwootConfig {
            base_url: reqwest::Url::parse("https://chat.example.com").unwrap(),
            api_access_token: "tok-secret".into(),
            account_id: "3".into(),
        };
        assert!(!format!("{config:?}").contains("tok-secret"));
    }
}
