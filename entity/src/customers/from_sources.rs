//! Customers as sources describe them (Hotmart webhooks, the API sync):
//! found by e-mail or created, what was unknown filled in, in the caller's
//! transaction, without duplicates however many appliers run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{normalize_email, normalize_phone};
use crate::db::{LockForChange, new_id};
use crate::entities::customer;
use crate::error::{Error, Result};
use crate::facts::{earlier, fit_opt, later};
use crate::tenant::Tenant;

impl PersonFacts {
    fn fitted(&self) -> Self {
        PersonFacts {
            email: self.email.clone(),
            name: fit_opt(&self.name, 200),
            phone: self.phone.clone(),
            document: fit_opt(&self.document, 32),
            document_type: fit_opt(&self.document_type, 8),
            hotmart_ucode: fit_opt(&self.hotmart_ucode, 64),
        }
    }
}

/// Who bought or studied, as a source describes them.
#[derive(Debug, Clone, Default)]
pub struct PersonFacts {
    pub email: String,
    pub name: Option<String>,
    /// As the source gives it; normalised to E.164 here, dropped if unusable.
    pub phone: Option<String>,
    pub document: Option<String>,
    pub document_type: Option<String>,
    pub hotmart_ucode: Option<String>,
}

/// A person as one source event describes them: who, when they were seen,
/// and what that event's purchase keeps (its amount when the batch leaves it
/// approved or complete, else zero).
#[derive(Debug, Clone, Default)]
pub struct Sighting {
    pub person: PersonFacts,
    pub seen_at: Option<DateTime<Utc>>,
    pub kept: Decimal,
}

/// Finds or creates the customer, fills what was unknown, and moves their
/// activity window to include `seen_at`. The row stays locked until commit.
pub async fn upsert_customer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    facts: &PersonFacts,
    seen_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let sighting = Sighting {
        person: facts.clone(),
        seen_at,
        kept: Decimal::ZERO,
    };
    let mut found = upsert_customers(db, tenant, &[sighting], now).await?;
    found.pop().ok_or(Error::NotFound("customer"))
}

/// What a batch says about one e-mail address, merged in the batch's order
/// the way applying its facts one by one would.
struct PersonMerge {
    name: Option<String>,
    phone: Option<String>,
    document: Option<String>,
    document_type: Option<String>,
    hotmart_ucode: Option<String>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    kept: Decimal,
}

/// The customer each person is, in order: created when new; otherwise what
/// was unknown is filled (a name, a phone, a document, the Hotmart ucode)
/// and the activity window widened to include when they were seen. The rows
/// stay locked until commit.
///
/// A new customer's lifetime value starts at what the batch's purchases keep
/// ([`Sighting::kept`]), so the recount that follows finds it already right
/// and leaves the row as written: a first purchase writes its buyer once.
/// An existing customer's value is the recount's alone.
///
/// The whole batch costs two statements: one `INSERT .. ON CONFLICT DO
/// UPDATE` that rewrites only the rows it changes, in e-mail order (so two
/// appliers lock shared customers in the same order), and one read back.
pub async fn upsert_customers<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    people: &[Sighting],
    now: DateTime<Utc>,
) -> Result<Vec<customer::Model>> {
    let mut emails = Vec::with_capacity(people.len());
    let mut merged: std::collections::BTreeMap<String, PersonMerge> = Default::default();
    for Sighting {
        person: facts,
        seen_at,
        kept,
    } in people
    {
        let facts = facts.fitted();
        let email = normalize_email(&facts.email)?;
        let phone = facts.phone.as_deref().and_then(|p| normalize_phone(p).ok());
        let name = facts
            .name
            .as_ref()
            .map(|n| n.trim().chars().take(200).collect::<String>())
            .filter(|n| !n.is_empty());
        let entry = merged.entry(email.clone()).or_insert(PersonMerge {
            name: None,
            phone: None,
            document: None,
            document_type: None,
            hotmart_ucode: None,
            first_seen: *seen_at,
            last_seen: *seen_at,
            kept: Decimal::ZERO,
        });
        entry.name = entry.name.take().or(name);
        entry.phone = entry.phone.take().or(phone);
        if entry.document.is_none() && facts.document.is_some() {
            entry.document = facts.document.clone();
            entry.document_type = facts.document_type.clone();
        }
        entry.hotmart_ucode = entry.hotmart_ucode.take().or(facts.hotmart_ucode);
        entry.first_seen = earlier(entry.first_seen, *seen_at);
        entry.last_seen = later(entry.last_seen, *seen_at);
        entry.kept += *kept;
        emails.push(email);
    }
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let rows = merged.iter().map(|(email, person)| customer::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        hotmart_ucode: Set(person.hotmart_ucode.clone()),
        chatwoot_contact_id: Set(None),
        chatwoot_conversation_id: Set(None),
        email: Set(email.clone()),
        name: Set(person.name.clone()),
        phone: Set(person.phone.clone()),
        document: Set(person.document.clone()),
        document_type: Set(person.document_type.clone()),
        tags: Set(json!([])),
        segment: Set(Some(crate::segments::LEAD.to_owned())),
        churn_risk: Set(None),
        churn_risk_score: Set(None),
        churn_risk_reasons: Set(None),
        ltv_total: Set(person.kept),
        first_activity_at: Set(person.first_seen),
        last_activity_at: Set(person.last_seen),
        consent: Set(json!({})),
        metadata: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    });
    // `customers.x` is the stored row, `excluded.x` the incoming one; both
    // backends read them the same way inside an upsert.
    let fill = |column: &str| format!("COALESCE(customers.{column}, excluded.{column})");
    let fills =
        |column: &str| format!("(customers.{column} IS NULL AND excluded.{column} IS NOT NULL)");
    let widen = |column: &str, op: &str| {
        format!(
            "CASE WHEN customers.{column} IS NULL OR excluded.{column} {op} customers.{column} \
             THEN excluded.{column} ELSE customers.{column} END"
        )
    };
    let widens = |column: &str, op: &str| {
        format!(
            "(excluded.{column} {op} customers.{column} OR {})",
            fills(column)
        )
    };
    let changed = [
        fills("name"),
        fills("phone"),
        fills("document"),
        fills("hotmart_ucode"),
        widens("first_activity_at", "<"),
        widens("last_activity_at", ">"),
    ]
    .join(" OR ");
    let conflict = OnConflict::columns([customer::Column::WorkspaceId, customer::Column::Email])
        .values([
            (customer::Column::Name, Expr::cust(fill("name"))),
            (customer::Column::Phone, Expr::cust(fill("phone"))),
            (
                customer::Column::DocumentType,
                Expr::cust(
                    "CASE WHEN customers.document IS NULL THEN excluded.document_type \
                     ELSE customers.document_type END",
                ),
            ),
            (customer::Column::Document, Expr::cust(fill("document"))),
            (
                customer::Column::HotmartUcode,
                Expr::cust(fill("hotmart_ucode")),
            ),
            (
                customer::Column::FirstActivityAt,
                Expr::cust(widen("first_activity_at", "<")),
            ),
            (
                customer::Column::LastActivityAt,
                Expr::cust(widen("last_activity_at", ">")),
            ),
            (
                customer::Column::UpdatedAt,
                Expr::cust("excluded.updated_at"),
            ),
        ])
        .action_and_where(Expr::cust(changed))
        .to_owned();
    customer::Entity::insert_many(rows)
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await?;
    let stored: HashMap<String, customer::Model> = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Email.is_in(merged.keys().cloned()))
        .lock_for_change()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.email.clone(), c))
        .collect();
    emails
        .iter()
        .map(|email| {
            stored
                .get(email)
                .cloned()
                .ok_or(Error::NotFound("customer"))
        })
        .collect()
}
