//! CSV exports for spreadsheets and BI tools: `GET /exports/{name}.csv`
//! with the bearer token, the same roles and workspace as GraphQL (a
//! read-only token suffices), the matching list's filters as query
//! parameters. Rows stream from the database as they are read, so an
//! export of a million rows holds no more than a few chunks in memory.

pub mod csv;
mod record;

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use entity::{
    campaign_recipient, conversation_tag, customer, dispatch_item, enrollment, message,
    subscription, transaction, webhook_event,
};
use futures::{SinkExt, TryStreamExt};
use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Select,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::graphql::commerce::TransactionFilter;
use crate::graphql::customers::CustomerFilter;
use crate::graphql::dispatch::DispatchFilter;
use crate::graphql::hotmart::WebhookEventFilter;
use crate::graphql::scope::{Access, tenant_of};
use crate::http::{AppState, error_response};
use csv::CsvOptions;
use record::RecordWriter;

/// Bytes gathered before a chunk goes out.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of a slow reader, at most.
const CHUNKS_AHEAD: usize = 4;
const BOM: &[u8] = "\u{feff}".as_bytes();

/// The exports, by the name in their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Export {
    Customers,
    Transactions,
    Subscriptions,
    Enrollments,
    DispatchItems,
    Messages,
    ConversationTags,
    WebhookEvents,
    CampaignRecipients,
}

impl Export {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "customers" => Export::Customers,
            "transactions" => Export::Transactions,
            "subscriptions" => Export::Subscriptions,
            "enrollments" => Export::Enrollments,
            "dispatch-items" => Export::DispatchItems,
            "messages" => Export::Messages,
            "conversation-tags" => Export::ConversationTags,
            "webhook-events" => Export::WebhookEvents,
            "campaign-recipients" => Export::CampaignRecipients,
            _ => return None,
        })
    }
}

/// Each export's columns, in order, named as the table names them.
const CUSTOMERS: &[&str] = &[
    "id",
    "email",
    "name",
    "phone",
    "document",
    "document_type",
    "hotmart_ucode",
    "tags",
    "segment",
    "churn_risk",
    "churn_risk_score",
    "churn_risk_reasons",
    "ltv_total",
    "first_activity_at",
    "last_activity_at",
    "consent",
    "metadata",
    "created_at",
    "updated_at",
];
const TRANSACTIONS: &[&str] = &[
    "id",
    "code",
    "customer_id",
    "product_id",
    "offer_id",
    "subscription_id",
    "status",
    "amount",
    "currency",
    "payment_method",
    "installments",
    "purchased_at",
    "approved_at",
    "refunded_at",
    "warranty_ends_at",
    "billet_url",
    "pix_code",
    "src",
    "sck",
    "xcod",
    "commission_type",
    "recurrence_number",
    "created_at",
    "updated_at",
];
const SUBSCRIPTIONS: &[&str] = &[
    "id",
    "customer_id",
    "product_id",
    "subscriber_code",
    "hotmart_subscription_id",
    "plan_id",
    "plan_name",
    "status",
    "started_at",
    "next_charge_at",
    "cancelled_at",
    "recurring_amount",
    "currency",
    "recurrence_period_days",
    "created_at",
    "updated_at",
];
const ENROLLMENTS: &[&str] = &[
    "id",
    "customer_id",
    "product_id",
    "transaction_id",
    "access_status",
    "starts_at",
    "ends_at",
    "renews_at",
    "first_access_at",
    "first_access_origin",
    "last_access_at",
    "last_lesson_completed_at",
    "progress_percent",
    "created_at",
    "updated_at",
];
const DISPATCH_ITEMS: &[&str] = &[
    "id",
    "rule_id",
    "customer_id",
    "template_id",
    "campaign_recipient_id",
    "channel",
    "status",
    "reason",
    "reason_code",
    "trigger",
    "product_id",
    "module_id",
    "transaction_code",
    "suggested_at",
    "expires_at",
    "decided_at",
    "decided_by",
    "rejection_reason",
    "error_code",
    "variables",
    "edited_content",
    "created_at",
    "updated_at",
];
const MESSAGES: &[&str] = &[
    "id",
    "customer_id",
    "channel",
    "template_id",
    "status",
    "provider_message_id",
    "error",
    "campaign_recipient_id",
    "dispatch_item_id",
    "node_id",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "content",
    "created_at",
    "updated_at",
];
const CONVERSATION_TAGS: &[&str] = &[
    "id",
    "chatwoot_conversation_id",
    "customer_id",
    "label",
    "tagged_at",
    "removed_at",
    "created_at",
];
const WEBHOOK_EVENTS: &[&str] = &[
    "id",
    "source",
    "external_id",
    "event_type",
    "status",
    "attempts",
    "last_error",
    "received_at",
    "processed_at",
    "next_attempt_at",
];
const CAMPAIGN_RECIPIENTS: &[&str] = &[
    "id",
    "campaign_id",
    "execution_id",
    "customer_id",
    "channel",
    "status",
    "current_node_id",
    "sent_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "converted_at",
    "revenue",
    "error",
    "created_at",
    "updated_at",
];

/// Columns kept as decimals with two places, on either backend.
const DECIMALS: &[&str] = &[
    "ltv_total",
    "amount",
    "recurring_amount",
    "progress_percent",
    "revenue",
];

/// `subscriptions.csv`'s filters (GraphQL lists a customer's subscriptions only).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscriptionFilter {
    status: Option<String>,
    product_id: Option<Uuid>,
    customer_id: Option<Uuid>,
}

/// `enrollments.csv`'s filters.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnrollmentFilter {
    product_id: Option<Uuid>,
    customer_id: Option<Uuid>,
    /// ACTIVE, CANCELLED, BLOCKED or EXPIRED.
    access_status: Option<String>,
}

/// `messages.csv`'s filters; `from` and `to` bound when the message was made.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageFilter {
    customer_id: Option<Uuid>,
    channel: Option<String>,
    status: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// `conversation-tags.csv`'s filters; `from` and `to` bound when the label was put on.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConversationTagFilter {
    label: Option<String>,
    customer_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// `campaign-recipients.csv`'s filters.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecipientFilter {
    campaign_id: Option<Uuid>,
    execution_id: Option<Uuid>,
    /// active, waiting, completed, failed, unknown, cancelled.
    status: Option<String>,
}

/// The query string as text parameters, each named once.
fn parameters(query: Option<&str>) -> ApiResult<HashMap<String, String>> {
    let mut parameters = HashMap::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if value.contains('\0') {
            return Err(ApiError::invalid(format!("`{name}` holds a NUL character")));
        }
        if parameters
            .insert(name.to_string(), value.to_string())
            .is_some()
        {
            return Err(ApiError::invalid(format!(
                "`{name}` is given more than once"
            )));
        }
    }
    Ok(parameters)
}

/// The filters of the parameters left once the export's own are taken.
fn filter<F: DeserializeOwned>(parameters: HashMap<String, String>) -> ApiResult<Option<F>> {
    if parameters.is_empty() {
        return Ok(None);
    }
    let object = parameters
        .into_iter()
        .map(|(name, value)| (name, serde_json::Value::String(value)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object))
        .map(Some)
        .map_err(|e| ApiError::invalid(format!("bad filter: {e}")))
}

fn api_error(err: ApiError) -> Response {
    let status = match err {
        ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::InvalidInput(_) => StatusCode::BAD_REQUEST,
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::Internal(ref cause) => {
            tracing::error!(error = %cause, "export failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error_response(status, err.code(), &err.message())
}

/// `GET /exports/{name}.csv`.
pub async fn export(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(export) = file.strip_suffix(".csv").and_then(Export::named) else {
        return error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such export");
    };
    match respond(&state, export, &file, query.as_deref(), &headers).await {
        Ok(response) => response,
        Err(err) => api_error(err),
    }
}

async fn respond(
    state: &AppState,
    export: Export,
    file: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let caller = state
        .jwt
        .authenticate(headers)
        .map_err(|_| ApiError::Unauthenticated)?;
    let mut parameters = parameters(query)?;
    let options = CsvOptions::parse(
        parameters.remove("delimiter").as_deref(),
        parameters.remove("bom").as_deref(),
    )
    .map_err(ApiError::invalid)?;
    let workspace_id = parameters.remove("workspaceId");
    let tenant = tenant_of(
        &state.db,
        &caller,
        workspace_id.as_deref(),
        Access::Read,
        None,
    )
    .await?;
    let db = state.db.clone();
    let backend = db.get_database_backend();
    let body = match export {
        Export::Customers => {
            let select = crate::graphql::customers::filtered(
                tenant,
                backend,
                filter::<CustomerFilter>(parameters)?,
            )?;
            rows(db, select, customer::Column::Id, CUSTOMERS, options)
        }
        Export::Transactions => {
            let filter = filter::<TransactionFilter>(parameters)?;
            let select = crate::graphql::commerce::transactions_filtered(tenant, filter)?;
            rows(db, select, transaction::Column::Id, TRANSACTIONS, options)
        }
        Export::Subscriptions => {
            let filter = filter::<SubscriptionFilter>(parameters)?.unwrap_or_default();
            let mut select = tenant.select::<subscription::Entity>();
            if let Some(status) = filter.status {
                select = select.filter(subscription::Column::Status.eq(status.to_uppercase()));
            }
            if let Some(id) = filter.product_id {
                select = select.filter(subscription::Column::ProductId.eq(id));
            }
            if let Some(id) = filter.customer_id {
                select = select.filter(subscription::Column::CustomerId.eq(id));
            }
            rows(db, select, subscription::Column::Id, SUBSCRIPTIONS, options)
        }
        Export::Enrollments => {
            let filter = filter::<EnrollmentFilter>(parameters)?.unwrap_or_default();
            let mut select = tenant.select::<enrollment::Entity>();
            if let Some(id) = filter.product_id {
                select = select.filter(enrollment::Column::ProductId.eq(id));
            }
            if let Some(id) = filter.customer_id {
                select = select.filter(enrollment::Column::CustomerId.eq(id));
            }
            if let Some(status) = filter.access_status {
                let status = entity::enums::AccessStatus::try_from_value(&status.to_uppercase())
                    .map_err(|_| {
                        ApiError::invalid(
                            "accessStatus must be ACTIVE, CANCELLED, BLOCKED or EXPIRED",
                        )
                    })?;
                select = select.filter(enrollment::Column::AccessStatus.eq(status));
            }
            rows(db, select, enrollment::Column::Id, ENROLLMENTS, options)
        }
        Export::DispatchItems => {
            let select =
                crate::graphql::dispatch::filtered(tenant, filter::<DispatchFilter>(parameters)?)?;
            rows(
                db,
                select,
                dispatch_item::Column::Id,
                DISPATCH_ITEMS,
                options,
            )
        }
        Export::Messages => {
            let filter = filter::<MessageFilter>(parameters)?.unwrap_or_default();
            let mut select = tenant.select::<message::Entity>();
            if let Some(id) = filter.customer_id {
                select = select.filter(message::Column::CustomerId.eq(id));
            }
            if let Some(channel) = filter.channel {
                let channel = crate::graphql::templates::parse_channel(&channel)?;
                select = select.filter(message::Column::Channel.eq(channel));
            }
            if let Some(status) = filter.status {
                let status = entity::enums::MessageStatus::try_from_value(&status.to_lowercase())
                    .map_err(|_| ApiError::invalid("status is not a message status"))?;
                select = select.filter(message::Column::Status.eq(status));
            }
            if let Some(from) = filter.from {
                select = select.filter(message::Column::CreatedAt.gte(from));
            }
            if let Some(to) = filter.to {
                select = select.filter(message::Column::CreatedAt.lt(to));
            }
            rows(db, select, message::Column::Id, MESSAGES, options)
        }
        Export::ConversationTags => {
            let filter = filter::<ConversationTagFilter>(parameters)?.unwrap_or_default();
            let mut select = tenant.select::<conversation_tag::Entity>();
            if let Some(label) = filter.label {
                select = select.filter(conversation_tag::Column::Label.eq(label));
            }
            if let Some(id) = filter.customer_id {
                select = select.filter(conversation_tag::Column::CustomerId.eq(id));
            }
            if let Some(from) = filter.from {
                select = select.filter(conversation_tag::Column::TaggedAt.gte(from));
            }
            if let Some(to) = filter.to {
                select = select.filter(conversation_tag::Column::TaggedAt.lt(to));
            }
            rows(
                db,
                select,
                conversation_tag::Column::Id,
                CONVERSATION_TAGS,
                options,
            )
        }
        Export::WebhookEvents => {
            let select = crate::graphql::hotmart::webhook_events_filtered(
                tenant,
                filter::<WebhookEventFilter>(parameters)?,
            );
            rows(
                db,
                select,
                webhook_event::Column::Id,
                WEBHOOK_EVENTS,
                options,
            )
        }
        Export::CampaignRecipients => {
            let filter = filter::<RecipientFilter>(parameters)?.unwrap_or_default();
            let mut select = tenant.select::<campaign_recipient::Entity>();
            if let Some(id) = filter.campaign_id {
                select = select.filter(campaign_recipient::Column::CampaignId.eq(id));
            }
            if let Some(id) = filter.execution_id {
                select = select.filter(campaign_recipient::Column::ExecutionId.eq(id));
            }
            if let Some(status) = filter.status {
                select =
                    select.filter(campaign_recipient::Column::Status.eq(status.to_lowercase()));
            }
            rows(
                db,
                select,
                campaign_recipient::Column::Id,
                CAMPAIGN_RECIPIENTS,
                options,
            )
        }
    };
    let disposition = format!("attachment; filename=\"{file}\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// The rows of `select`, oldest first, as a CSV body written while it is
/// read: a task reads the rows and hands chunks over a short channel, so a
/// slow reader holds the task back rather than piling rows up.
fn rows<E>(
    db: DatabaseConnection,
    select: Select<E>,
    id: E::Column,
    columns: &'static [&'static str],
    options: CsvOptions,
) -> Body
where
    E: EntityTrait,
    E::Model: serde::Serialize + Send + Sync + 'static,
{
    let (mut chunks, body) =
        futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    tokio::spawn(async move {
        let written = async {
            let mut out = Vec::with_capacity(CHUNK * 2);
            if options.bom {
                out.extend_from_slice(BOM);
            }
            csv::push_record(&mut out, columns.iter().copied(), options);
            let mut record = RecordWriter::new(columns, DECIMALS);
            let mut rows = select.order_by_asc(id).stream(&db).await?;
            while let Some(row) = rows.try_next().await? {
                record.push(&mut out, &row, options)?;
                if out.len() >= CHUNK {
                    let chunk =
                        Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(CHUNK * 2)));
                    if chunks.send(Ok(chunk)).await.is_err() {
                        // The reader went away.
                        return Ok(());
                    }
                }
            }
            if !out.is_empty() {
                let _ = chunks.send(Ok(Bytes::from(out))).await;
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
        .await;
        if let Err(err) = written {
            tracing::error!(error = %err, "an export stopped half-way");
            let _ = chunks
                .send(Err(std::io::Error::other("the export stopped half-way")))
                .await;
        }
    });
    Body::from_stream(body)
}
