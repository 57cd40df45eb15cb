//! Money and access: subscriptions, transactions, enrollments and lesson progress.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("subscriptions")
            .col(uuid("customer_id"))
            .col(uuid_null("product_id"))
            .col(string_len("subscriber_code", 64))
            .col(string_len_null("hotmart_subscription_id", 64))
            .col(string_len_null("plan_id", 64))
            .col(string_null("plan_name"))
            .col(string_len("status", 32))
            .col(timestamp_with_time_zone_null("started_at"))
            .col(timestamp_with_time_zone_null("next_charge_at"))
            .col(timestamp_with_time_zone_null("cancelled_at"))
            .col(decimal_len_null("recurring_amount", 14, 2))
            .col(string_len_null("currency", 3))
            .col(integer_null("recurrence_period_days"))
            .col(timestamp_with_time_zone_null("last_event_at"))
            .timestamps()
            // A subscription is part of the customer's record.
            .fk_cascade("customer_id", "customers")
            // Billing history must not vanish with a product.
            .fk_no_action("product_id", "products")
            .to_owned(),
        tenant_table("transactions")
            .col(string_len("code", 64))
            .col(uuid("customer_id"))
            .col(uuid_null("product_id"))
            .col(uuid_null("offer_id"))
            .col(uuid_null("subscription_id"))
            .col(string_len("status", 32))
            .col(decimal_len("amount", 14, 2).default(0))
            .col(string_len("currency", 3).default("BRL"))
            .col(string_len_null("payment_method", 32))
            .col(integer_null("installments"))
            .col(timestamp_with_time_zone_null("purchased_at"))
            .col(timestamp_with_time_zone_null("approved_at"))
            .col(timestamp_with_time_zone_null("refunded_at"))
            .col(timestamp_with_time_zone_null("warranty_ends_at"))
            .col(text_null("billet_url"))
            .col(text_null("pix_code"))
            .col(string_null("src"))
            .col(string_null("sck"))
            .col(string_null("xcod"))
            .col(string_len_null("commission_type", 32))
            .col(integer_null("recurrence_number"))
            .col(timestamp_with_time_zone_null("last_event_at"))
            .timestamps()
            // A transaction is part of the customer's record.
            .fk_cascade("customer_id", "customers")
            // Sales history must not vanish with a product.
            .fk_no_action("product_id", "products")
            // The offer is an optional detail of the sale.
            .fk_set_null("offer_id", "offers")
            // The subscription is an optional link.
            .fk_set_null("subscription_id", "subscriptions")
            .to_owned(),
        tenant_table("enrollments")
            .col(uuid("customer_id"))
            .col(uuid("product_id"))
            .col(uuid_null("transaction_id"))
            .col(string_len("access_status", 16).default("ACTIVE"))
            .col(timestamp_with_time_zone_null("starts_at"))
            .col(timestamp_with_time_zone_null("ends_at"))
            .col(timestamp_with_time_zone_null("renews_at"))
            .col(timestamp_with_time_zone_null("first_access_at"))
            .col(string_len_null("first_access_origin", 32))
            .col(timestamp_with_time_zone_null("last_access_at"))
            .col(decimal_len("progress_percent", 5, 2).default(0))
            .timestamps()
            // Access belongs to the customer.
            .fk_cascade("customer_id", "customers")
            // No access is left to a removed product.
            .fk_cascade("product_id", "products")
            // The originating transaction is an optional link.
            .fk_set_null("transaction_id", "transactions")
            .to_owned(),
        tenant_table("lesson_progress")
            .col(uuid("customer_id"))
            .col(uuid("lesson_id"))
            .col(boolean("completed").default(false))
            .col(timestamp_with_time_zone_null("completed_at"))
            .col(timestamp_with_time_zone("updated_at"))
            // Progress belongs to the customer.
            .fk_cascade("customer_id", "customers")
            // Progress on a removed lesson is meaningless.
            .fk_cascade("lesson_id", "lessons")
            .to_owned(),
    ]
}

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_subscriptions_workspace_subscriber_code",
        "subscriptions",
        &["workspace_id", "subscriber_code"],
    ),
    TableIndex::new(
        "idx_subscriptions_workspace_status",
        "subscriptions",
        &["workspace_id", "status"],
    ),
    TableIndex::new(
        "idx_subscriptions_customer",
        "subscriptions",
        &["customer_id"],
    ),
    TableIndex::unique(
        "uq_transactions_workspace_code",
        "transactions",
        &["workspace_id", "code"],
    ),
    TableIndex::new(
        "idx_transactions_workspace_status",
        "transactions",
        &["workspace_id", "status"],
    ),
    TableIndex::new(
        "idx_transactions_workspace_purchased_at",
        "transactions",
        &["workspace_id", "purchased_at"],
    ),
    TableIndex::new(
        "idx_transactions_customer",
        "transactions",
        &["customer_id"],
    ),
    TableIndex::new("idx_transactions_product", "transactions", &["product_id"]),
    TableIndex::unique(
        "uq_enrollments_customer_product",
        "enrollments",
        &["customer_id", "product_id"],
    ),
    TableIndex::new(
        "idx_enrollments_workspace_access_status",
        "enrollments",
        &["workspace_id", "access_status"],
    ),
    TableIndex::new("idx_enrollments_product", "enrollments", &["product_id"]),
    TableIndex::unique(
        "uq_lesson_progress_customer_lesson",
        "lesson_progress",
        &["customer_id", "lesson_id"],
    ),
    TableIndex::new(
        "idx_lesson_progress_lesson",
        "lesson_progress",
        &["lesson_id"],
    ),
    TableIndex::new(
        "idx_lesson_progress_workspace",
        "lesson_progress",
        &["workspace_id"],
    ),
];
