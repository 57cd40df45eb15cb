//! The migrations and the `entity` crate describe the same schema, on both backends.
//!
//! Each backend gets a fresh database (see `common`): SQLite always, PostgreSQL when
//! `JORNADA_TEST_POSTGRES_URL` is set (required under `CI`).

mod common;

use std::fmt::Debug;

use chrono::{DateTime, Duration, Utc};
use entity::entities::enums::{
    AccessStatus, CampaignStatus, Channel, DispatchStatus, ExecutionStatus, ExecutionType,
    MessageStatus, RuleMode, WebhookEventStatus,
};
use entity::entities::{
    analytics_snapshot, automation_rule, campaign, campaign_execution, campaign_recipient,
    campaign_version, conversation_tag, customer, customer_activity, customer_note, dispatch_item,
    enrollment, lesson, lesson_progress, message, message_template, module, offer, product,
    setting, subscription, target_group_mapping, tracked_link, transaction, webhook_event,
    workspace,
};
use migration::{Migrator, MigratorTrait};
use sea_orm_migration::SchemaManager;
use sea_orm_migration::sea_orm::prelude::Decimal;
use sea_orm_migration::sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, ModelTrait, SqlErr, Statement,
};
use serde_json::json;
use uuid::Uuid;

/// Every table the migrations create, parents first.
const TABLES: [&str; 32] = [
    "workspaces",
    "settings",
    "products",
    "offers",
    "modules",
    "lessons",
    "customers",
    "customer_notes",
    "customer_activities",
    "subscriptions",
    "transactions",
    "enrollments",
    "lesson_progress",
    "target_group_mappings",
    "campaigns",
    "campaign_versions",
    "campaign_executions",
    "campaign_recipients",
    "webhook_events",
    "message_templates",
    "automation_rules",
    "dispatch_queue",
    "messages",
    "tracked_links",
    "conversation_tags",
    "analytics_snapshots",
    "subscription_changes",
    "mrr_movements",
    "revenue_days",
    "analytics_rollups",
    "cohort_members",
    "cohort_days",
];

/// The migrator's own bookkeeping table, which survives a full rollback.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

#[tokio::test]
async fn sqlite_schema_matches_entities() {
    common::on_sqlite(|db| async move { scenario(&db).await }).await;
}

#[tokio::test]
async fn postgres_schema_matches_entities() {
    common::on_postgres(|db| async move { scenario(&db).await }).await;
}

async fn scenario(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("migrate up");
    for table in TABLES {
        assert!(has_table(db, table).await, "table {table} missing after up");
    }

    let rows = insert_every_entity(db).await;
    server_defaults_apply(db, &rows).await;
    unique_constraints_hold(db, &rows).await;
    foreign_keys_hold(db, &rows).await;
    deleting_the_workspace_removes_its_data(db, &rows).await;

    Migrator::down(db, None).await.expect("migrate down");
    let left = user_tables(db).await;
    assert_eq!(
        left,
        vec![MIGRATIONS_TABLE.to_owned()],
        "tables left after down"
    );

    Migrator::up(db, None).await.expect("migrate up again");
    for table in TABLES {
        assert!(
            has_table(db, table).await,
            "table {table} missing after re-up"
        );
    }
}

/// Inserts `$model` through its ActiveModel, reads it back by id and checks it is equal.
macro_rules! round_trip {
    ($db:expr, $module:ident :: Model $fields:tt) => {{
        let model = $module::Model $fields;
        $module::ActiveModel::from(model.clone())
            .reset_all()
            .insert($db)
            .await
            .unwrap_or_else(|e| panic!("insert {}: {e}", stringify!($module)));
        let stored = $module::Entity::find_by_id(model.id)
            .one($db)
            .await
            .unwrap_or_else(|e| panic!("read back {}: {e}", stringify!($module)))
            .unwrap_or_else(|| panic!("{} row not found", stringify!($module)));
        assert_eq!(stored, model, "{} round trip", stringify!($module));
        stored
    }};
}

/// The rows inserted by [`insert_every_entity`], for the constraint checks.
#[path = "migrations/analytics.rs"]
mod analytics;

struct Rows {
    workspace: workspace::Model,
    product: product::Model,
    customer: customer::Model,
    enrollment: enrollment::Model,
    webhook_event: webhook_event::Model,
    campaign_recipient: campaign_recipient::Model,
    message: message::Model,
}

/// A fixed instant with microseconds, the finest precision PostgreSQL keeps.
fn at(offset_minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_795_435_200_123_456).expect("valid instant")
        + Duration::minutes(offset_minutes)
}

fn money(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

async fn insert_every_entity(db: &DatabaseConnection) -> Rows {
    let ws = round_trip!(
        db,
        workspace::Model {
            id: Uuid::now_v7(),
            name: "Escola Exemplo".to_owned(),
            slug: "escola-exemplo".to_owned(),
            time_zone: "America/Sao_Paulo".to_owned(),
            created_at: at(0),
            updated_at: at(1),
        }
    );
    round_trip!(
        db,
        setting::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            key: "hotmart.hottok".to_owned(),
            value_encrypted: "bm9uY2U6Y2lwaGVydGV4dA==".to_owned(),
            description: Some("Hotmart webhook token".to_owned()),
            active: true,
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let product = round_trip!(
        db,
        product::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            hotmart_product_id: Some("1234567".to_owned()),
            ucode: Some("a1b2c3d4-ucode".to_owned()),
            name: "Curso de Confeitaria".to_owned(),
            description: Some("Do zero ao bolo de casamento".to_owned()),
            cover_url: Some("https://cdn.example.com/cover.png".to_owned()),
            monitored: true,
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let offer = round_trip!(
        db,
        offer::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            product_id: product.id,
            hotmart_offer_code: "k2j3h4".to_owned(),
            name: Some("Black Friday".to_owned()),
            price: Some(money(49_790)),
            currency: "BRL".to_owned(),
            active: false,
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let module = round_trip!(
        db,
        module::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            product_id: product.id,
            hotmart_module_id: Some("mod-1".to_owned()),
            name: "Massas".to_owned(),
            position: 1,
            is_extra: false,
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let lesson = round_trip!(
        db,
        lesson::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            product_id: product.id,
            module_id: Some(module.id),
            hotmart_page_id: "page-42".to_owned(),
            page_name: "Pão de ló".to_owned(),
            module_name: Some("Massas".to_owned()),
            is_extra: true,
            position: 3,
            release_after_days: Some(7),
            release_at: Some(at(10_080)),
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let customer = round_trip!(
        db,
        customer::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            hotmart_ucode: Some("ucode-99".to_owned()),
            chatwoot_contact_id: Some("321".to_owned()),
            chatwoot_conversation_id: Some("5150".to_owned()),
            email: "maria@example.com".to_owned(),
            name: Some("Maria Souza".to_owned()),
            phone: Some("+5511987654321".to_owned()),
            document: Some("12345678909".to_owned()),
            document_type: Some("CPF".to_owned()),
            tags: json!(["vip", "black-friday"]),
            segment: Some("champions".to_owned()),
            churn_risk: Some("low".to_owned()),
            churn_risk_score: Some(12),
            churn_risk_reasons: Some(json!([{"code": "PROGRESS_STALLED", "points": 12}])),
            ltv_total: money(123_456_789_012),
            first_activity_at: Some(at(-60)),
            last_activity_at: Some(at(60)),
            consent: json!({
                "whatsapp": {"optedOut": true, "at": "2026-11-23T12:00:00Z", "source": "stop_reply"}
            }),
            metadata: json!({"utm_source": "instagram", "score": 7.5, "nested": {"ok": null}}),
            created_at: at(0),
            updated_at: at(5),
        }
    );
    round_trip!(
        db,
        customer_note::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            author: "suporte@escola.example".to_owned(),
            body: "Pediu segunda via do boleto.\nRetornar amanhã.".to_owned(),
            created_at: at(2),
        }
    );
    round_trip!(
        db,
        customer_activity::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            activity_type: "purchase_approved".to_owned(),
            description: Some("Compra aprovada".to_owned()),
            data: json!({"transaction": "HP17715690036014", "amount": "497.90"}),
            occurred_at: at(3),
            created_at: at(3),
        }
    );
    let subscription = round_trip!(
        db,
        subscription::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            product_id: Some(product.id),
            subscriber_code: "SUB123".to_owned(),
            hotmart_subscription_id: Some("998877".to_owned()),
            plan_id: Some("plan-1".to_owned()),
            plan_name: Some("Mensal".to_owned()),
            status: "ACTIVE".to_owned(),
            started_at: Some(at(0)),
            next_charge_at: Some(at(43_200)),
            cancelled_at: None,
            recurring_amount: Some(money(9_990)),
            currency: Some("BRL".to_owned()),
            recurrence_period_days: Some(30),
            last_event_at: Some(at(1)),
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let transaction = round_trip!(
        db,
        transaction::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            code: "HP17715690036014".to_owned(),
            customer_id: customer.id,
            product_id: Some(product.id),
            offer_id: Some(offer.id),
            subscription_id: Some(subscription.id),
            status: "APPROVED".to_owned(),
            amount: money(49_790),
            currency: "BRL".to_owned(),
            payment_method: Some("CREDIT_CARD".to_owned()),
            installments: Some(12),
            purchased_at: Some(at(0)),
            approved_at: Some(at(1)),
            refunded_at: None,
            warranty_ends_at: Some(at(10_080)),
            billet_url: Some("https://billet.example.com/123".to_owned()),
            pix_code: Some("00020126580014br.gov.bcb.pix".to_owned()),
            src: Some("instagram".to_owned()),
            sck: Some("bio".to_owned()),
            xcod: Some("abc".to_owned()),
            commission_type: Some("PRODUCER".to_owned()),
            recurrence_number: Some(1),
            last_event_at: Some(at(1)),
            created_at: at(0),
            updated_at: at(1),
        }
    );
    let enrollment = round_trip!(
        db,
        enrollment::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            product_id: product.id,
            transaction_id: Some(transaction.id),
            access_status: AccessStatus::Blocked,
            starts_at: Some(at(0)),
            ends_at: Some(at(525_600)),
            renews_at: Some(at(43_200)),
            first_access_at: Some(at(30)),
            first_access_origin: Some("whatsapp_link".to_owned()),
            last_access_at: Some(at(90)),
            last_lesson_completed_at: None,
            progress_percent: money(4_250),
            created_at: at(0),
            updated_at: at(0),
        }
    );
    round_trip!(
        db,
        lesson_progress::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            lesson_id: lesson.id,
            completed: true,
            completed_at: Some(at(95)),
            updated_at: at(95),
        }
    );
    let target_group = round_trip!(
        db,
        target_group_mapping::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            crm_name: "Alunos inativos".to_owned(),
            source: "customers".to_owned(),
            filter: Some(json!({"segment": "at_risk", "inactiveDays": 30})),
            description: Some("Sem acesso há 30 dias".to_owned()),
            created_at: at(0),
            updated_at: at(0),
        }
    );

    // Kept verbatim: keys out of alphabetical order and odd spacing must survive.
    let workflow = r#"{"nodes": [{"id":"start","type":"trigger","position":{"y":10,"x":20}}],"edges":[],"viewport":{"zoom":1,"y":0,"x":0}}"#;
    let campaign = round_trip!(
        db,
        campaign::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            name: "Reativação".to_owned(),
            description: Some("Traz de volta quem parou".to_owned()),
            status: CampaignStatus::Active,
            workflow_data: workflow.to_owned(),
            created_by: Some("ana@escola.example".to_owned()),
            scheduled_at: Some(at(100)),
            started_at: Some(at(101)),
            completed_at: None,
            schedule_checked_until: Some(at(101)),
            goal: Some(json!({"event": "purchase_approved", "withinDays": 7})),
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let version = round_trip!(
        db,
        campaign_version::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            campaign_id: campaign.id,
            version: 1,
            workflow_data: workflow.to_owned(),
            published_by: Some("ana@escola.example".to_owned()),
            published_at: at(100),
        }
    );
    let execution = round_trip!(
        db,
        campaign_execution::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            campaign_id: campaign.id,
            version_id: version.id,
            target_group_id: Some(target_group.id),
            execution_type: ExecutionType::Scheduled,
            status: ExecutionStatus::Running,
            execution_data: json!({"batch": 1}),
            metrics: json!({"sent": 0, "delivered": 0}),
            started_at: at(101),
            completed_at: None,
            scheduled_for: Some(at(100)),
            created_at: at(101),
            updated_at: at(101),
        }
    );
    let campaign_recipient = round_trip!(
        db,
        campaign_recipient::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            campaign_id: campaign.id,
            execution_id: execution.id,
            customer_id: customer.id,
            channel: Some(Channel::Whatsapp),
            status: "sent".to_owned(),
            current_node_id: Some("wait-1".to_owned()),
            wake_at: Some(at(1_540)),
            state: json!({"visited": ["start", "wait-1"]}),
            sent_at: Some(at(102)),
            delivered_at: Some(at(103)),
            opened_at: Some(at(104)),
            clicked_at: Some(at(105)),
            converted_at: Some(at(106)),
            revenue: Some(money(29_700)),
            error: Some("none yet".to_owned()),
            entry_key: Some(json!({"event": "billet_printed", "transaction": "HP1"})),
            reentry_key: "transaction:HP1".to_owned(),
            created_at: at(101),
            updated_at: at(106),
        }
    );
    let webhook_event = round_trip!(
        db,
        webhook_event::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            source: "hotmart".to_owned(),
            external_id: "0b5f1c62-hotmart-event-id".to_owned(),
            event_type: "PURCHASE_APPROVED".to_owned(),
            payload: r#"{ "event" : "PURCHASE_APPROVED", "data": {} }"#.to_owned(),
            status: WebhookEventStatus::Failed,
            attempts: 3,
            last_error: Some("timeout".to_owned()),
            received_at: at(0),
            processed_at: Some(at(1)),
            next_attempt_at: Some(at(16)),
            customer_hash: Some(entity::customers::customer_hash("ana@exemplo.com")),
        }
    );
    let template = round_trip!(
        db,
        message_template::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            channel: Channel::Whatsapp,
            provider_template_id: Some("1122334455".to_owned()),
            name: "boas_vindas".to_owned(),
            language: "pt_BR".to_owned(),
            category: Some("UTILITY".to_owned()),
            components: json!([{"type": "BODY", "text": "Olá {{1}}!"}]),
            subject: Some("Bem-vinda".to_owned()),
            body: Some("Olá {{1}}!".to_owned()),
            product_id: Some(product.id),
            funnel: Some("onboarding".to_owned()),
            status: "APPROVED".to_owned(),
            last_synced_at: Some(at(-5)),
            created_at: at(-10),
            updated_at: at(-5),
        }
    );
    let rule = round_trip!(
        db,
        automation_rule::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            name: "Boas-vindas".to_owned(),
            builtin_key: Some("welcome".to_owned()),
            trigger: "purchase_approved".to_owned(),
            conditions: json!({"productIds": [product.id]}),
            template_id: Some(template.id),
            campaign_id: Some(campaign.id),
            mode: RuleMode::SuggestOnly,
            active: true,
            params: json!({"hours": 24}),
            actions: json!([{"type": "ADD_TAGS", "tags": ["vip"]}]),
            product_ids: json!([product.id]),
            cooldown_days: 7,
            expires_after_hours: 48,
            schedule: Some("0 0 9 * * *".to_owned()),
            scanned_until: Some(at(0)),
            created_at: at(0),
            updated_at: at(0),
        }
    );
    let dispatch_item = round_trip!(
        db,
        dispatch_item::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            rule_id: Some(rule.id),
            customer_id: customer.id,
            template_id: Some(template.id),
            campaign_recipient_id: Some(campaign_recipient.id),
            node_id: Some("send-1".to_owned()),
            channel: Channel::Email,
            variables: json!({"1": "Maria"}),
            reason: "Compra aprovada há 5 minutos".to_owned(),
            context: json!({"transaction": transaction.code}),
            status: DispatchStatus::Approved,
            suggested_at: at(5),
            expires_at: Some(at(1_445)),
            decided_at: Some(at(6)),
            decided_by: Some("ana@escola.example".to_owned()),
            rejection_reason: None,
            edited_content: Some(json!({"body": "Olá Maria!"})),
            reason_code: Some("ACCESS_MISSING".to_owned()),
            trigger: Some("ACCESS_MISSING".to_owned()),
            product_id: Some(product.id),
            module_id: None,
            transaction_code: Some(transaction.code.clone()),
            subject_key: Some(format!("{}:{}:{}", rule.id, customer.id, product.id)),
            error_code: None,
            send_after: Some(at(6)),
            created_at: at(5),
            updated_at: at(6),
        }
    );
    let message = round_trip!(
        db,
        message::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            customer_id: customer.id,
            channel: Channel::Whatsapp,
            template_id: Some(template.id),
            content: json!({"template": "boas_vindas", "variables": ["Maria"]}),
            idempotency_key: format!("dispatch:{}", dispatch_item.id),
            status: MessageStatus::Delivered,
            provider_message_id: Some("wamid.HBgLNTUxMTk4NzY1NDMyMRUCABEYEjQ".to_owned()),
            error: None,
            campaign_recipient_id: Some(campaign_recipient.id),
            dispatch_item_id: Some(dispatch_item.id),
            node_id: Some("send-1".to_owned()),
            lease_until: Some(at(7)),
            sent_at: Some(at(7)),
            delivered_at: Some(at(8)),
            read_at: Some(at(9)),
            failed_at: None,
            created_at: at(6),
            updated_at: at(9),
        }
    );
    round_trip!(
        db,
        tracked_link::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            code: "xY7kQ2".to_owned(),
            message_id: Some(message.id),
            customer_id: Some(customer.id),
            target_url: "https://escola.example/aula/42?utm_source=whatsapp".to_owned(),
            click_count: 2,
            first_clicked_at: Some(at(10)),
            last_clicked_at: Some(at(11)),
            created_at: at(6),
        }
    );
    round_trip!(
        db,
        conversation_tag::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            chatwoot_conversation_id: "5150".to_owned(),
            customer_id: Some(customer.id),
            label: "duvida_pagamento".to_owned(),
            tagged_at: at(20),
            removed_at: Some(at(30)),
            created_at: at(20),
        }
    );
    round_trip!(
        db,
        analytics_snapshot::Model {
            id: Uuid::now_v7(),
            workspace_id: ws.id,
            product_id: Some(product.id),
            granularity: "month".to_owned(),
            period_start: at(0),
            period_end: at(43_200),
            mrr: money(1_234_567),
            arr: money(14_814_804),
            active_subscriptions: 123,
            churned_subscriptions: 4,
            churn_rate: Decimal::new(325, 4),
            revenue: money(99_999_999_999),
            refunds: money(0),
            new_customers: 17,
            created_at: at(43_201),
            currency: "BRL".to_owned(),
        }
    );
    analytics::insert_figures(db, &ws, &customer, &subscription, &product).await;

    Rows {
        workspace: ws,
        product,
        customer,
        enrollment,
        webhook_event,
        campaign_recipient,
        message,
    }
}

/// Columns with a database default get it when the insert leaves them out.
async fn server_defaults_apply(db: &DatabaseConnection, rows: &Rows) {
    let ws = workspace::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("Defaults".to_owned()),
        slug: Set("defaults".to_owned()),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert workspace relying on defaults");
    assert_eq!(ws.time_zone, "America/Sao_Paulo");

    let offer = offer::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(rows.workspace.id),
        product_id: Set(rows.product.id),
        hotmart_offer_code: Set("defaults".to_owned()),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert offer relying on defaults");
    assert_eq!((offer.currency.as_str(), offer.active), ("BRL", true));
    assert_eq!(offer.price, None);

    ws.delete(db).await.expect("delete defaults workspace");
}

/// Inserts a copy of `$row` under a new id, with the `$field`s changed, and expects the
/// unique key `$key` to refuse it.
macro_rules! copy_refused {
    ($db:expr, $module:ident, $row:expr, $key:literal $(, $field:ident: $value:expr)*) => {
        expect_sql_err(
            $module::ActiveModel::from($module::Model {
                id: Uuid::now_v7(),
                $($field: $value,)*
                ..$row.clone()
            })
            .reset_all()
            .insert($db)
            .await,
            $key,
            is_unique_violation,
        )
    };
}

async fn unique_constraints_hold(db: &DatabaseConnection, rows: &Rows) {
    copy_refused!(
        db,
        customer,
        rows.customer,
        "customers (workspace_id, email)"
    );
    copy_refused!(
        db,
        webhook_event,
        rows.webhook_event,
        "webhook_events (workspace_id, source, external_id)"
    );
    copy_refused!(db, message, rows.message, "messages (idempotency_key)",
        campaign_recipient_id: None, dispatch_item_id: None);
    copy_refused!(
        db,
        campaign_recipient,
        rows.campaign_recipient,
        "campaign_recipients (execution_id, customer_id, reentry_key)"
    );
    // The same customer under another key is another recipient of the execution.
    let other_key = campaign_recipient::ActiveModel::from(campaign_recipient::Model {
        id: Uuid::now_v7(),
        reentry_key: "transaction:HP2".to_owned(),
        ..rows.campaign_recipient.clone()
    })
    .reset_all()
    .insert(db)
    .await
    .expect("a second key of the same customer");
    other_key.delete(db).await.expect("delete it again");
    copy_refused!(db, enrollment, rows.enrollment, "enrollments (customer_id, product_id)",
        transaction_id: None);
}

async fn foreign_keys_hold(db: &DatabaseConnection, rows: &Rows) {
    let orphan = product::Model {
        id: Uuid::now_v7(),
        workspace_id: Uuid::now_v7(),
        hotmart_product_id: Some("orphan-product".to_owned()),
        ..rows.product.clone()
    };
    expect_sql_err(
        product::ActiveModel::from(orphan)
            .reset_all()
            .insert(db)
            .await,
        "products.workspace_id -> workspaces",
        is_foreign_key_violation,
    );

    // Sales history keeps its product: the product cannot go while transactions point at it.
    expect_sql_err(
        product::Entity::delete_by_id(rows.product.id)
            .exec(db)
            .await,
        "transactions.product_id -> products (no action)",
        is_foreign_key_violation,
    );
    assert!(
        product::Entity::find_by_id(rows.product.id)
            .one(db)
            .await
            .expect("read product")
            .is_some(),
        "the refused delete left the product in place"
    );
}

/// Deleting a workspace empties the tenant: its customers, the rows PostgreSQL no longer
/// ties to the workspace by a foreign key, then the workspace, whose references cascade to
/// every other tenant table; the no-action references (products, campaign versions) do not
/// get in the way.
async fn deleting_the_workspace_removes_its_data(db: &DatabaseConnection, rows: &Rows) {
    assert!(
        entity::workspaces::delete(db, rows.workspace.id)
            .await
            .expect("delete workspace with all its data")
    );
    for table in TABLES {
        let count = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM \"{table}\""),
            ))
            .await
            .expect("count rows")
            .expect("a count row")
            .try_get::<i64>("", "n")
            .expect("count is an integer");
        assert_eq!(
            count, 0,
            "{table} still has rows after the workspace delete"
        );
    }
}

fn is_unique_violation(e: &SqlErr) -> bool {
    matches!(e, SqlErr::UniqueConstraintViolation(_))
}

fn is_foreign_key_violation(e: &SqlErr) -> bool {
    matches!(e, SqlErr::ForeignKeyConstraintViolation(_))
}

fn expect_sql_err<T: Debug>(result: Result<T, DbErr>, what: &str, expected: fn(&SqlErr) -> bool) {
    match result {
        Ok(value) => panic!("{what}: the database accepted {value:?}"),
        Err(e) => match e.sql_err() {
            Some(sql_err) if expected(&sql_err) => {}
            other => panic!("{what}: unexpected error {e} (classified as {other:?})"),
        },
    }
}

async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    SchemaManager::new(db)
        .has_table(table)
        .await
        .unwrap_or_else(|e| panic!("look up table {table}: {e}"))
}

/// All user tables of the database, whatever created them.
async fn user_tables(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        DbBackend::Postgres => {
            "SELECT tablename AS name FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() ORDER BY tablename"
        }
        other => panic!("unsupported backend {other:?}"),
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("list tables")
        .iter()
        .map(|row| row.try_get::<String>("", "name").expect("table name"))
        .collect()
}
