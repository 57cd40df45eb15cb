//! Money and access: subscriptions, transactions, enrollments and lesson progress.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000002_catalog::{Lessons, Offers, Products};
use crate::m20261123_000003_customers::Customers;
use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

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

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(Subscriptions::Table)
            .col(uuid(Subscriptions::CustomerId))
            .col(uuid_null(Subscriptions::ProductId))
            .col(string_len(Subscriptions::SubscriberCode, 64))
            .col(string_len_null(Subscriptions::HotmartSubscriptionId, 64))
            .col(string_len_null(Subscriptions::PlanId, 64))
            .col(string_null(Subscriptions::PlanName))
            .col(string_len(Subscriptions::Status, 32))
            .col(timestamp_with_time_zone_null(Subscriptions::StartedAt))
            .col(timestamp_with_time_zone_null(Subscriptions::NextChargeAt))
            .col(timestamp_with_time_zone_null(Subscriptions::CancelledAt))
            .col(decimal_len_null(Subscriptions::RecurringAmount, 14, 2))
            .col(string_len_null(Subscriptions::Currency, 3))
            .col(integer_null(Subscriptions::RecurrencePeriodDays))
            .col(timestamp_with_time_zone_null(Subscriptions::LastEventAt))
            .timestamps()
            // A subscription is part of the customer's record.
            .fk_cascade(Subscriptions::CustomerId, Customers::Table)
            // Billing history must not vanish with a product.
            .fk_no_action(Subscriptions::ProductId, Products::Table)
            .to_owned(),
        tenant_table(Transactions::Table)
            .col(string_len(Transactions::Code, 64))
            .col(uuid(Transactions::CustomerId))
            .col(uuid_null(Transactions::ProductId))
            .col(uuid_null(Transactions::OfferId))
            .col(uuid_null(Transactions::SubscriptionId))
            .col(string_len(Transactions::Status, 32))
            .col(decimal_len(Transactions::Amount, 14, 2).default(0))
            .col(string_len(Transactions::Currency, 3).default("BRL"))
            .col(string_len_null(Transactions::PaymentMethod, 32))
            .col(integer_null(Transactions::Installments))
            .col(timestamp_with_time_zone_null(Transactions::PurchasedAt))
            .col(timestamp_with_time_zone_null(Transactions::ApprovedAt))
            .col(timestamp_with_time_zone_null(Transactions::RefundedAt))
            .col(timestamp_with_time_zone_null(Transactions::WarrantyEndsAt))
            .col(text_null(Transactions::BilletUrl))
            .col(text_null(Transactions::PixCode))
            .col(string_null(Transactions::Src))
            .col(string_null(Transactions::Sck))
            .col(string_null(Transactions::Xcod))
            .col(string_len_null(Transactions::CommissionType, 32))
            .col(integer_null(Transactions::RecurrenceNumber))
            .col(timestamp_with_time_zone_null(Transactions::LastEventAt))
            .timestamps()
            // A transaction is part of the customer's record.
            .fk_cascade(Transactions::CustomerId, Customers::Table)
            // Sales history must not vanish with a product.
            .fk_no_action(Transactions::ProductId, Products::Table)
            // The offer is an optional detail of the sale.
            .fk_set_null(Transactions::OfferId, Offers::Table)
            // The subscription is an optional link.
            .fk_set_null(Transactions::SubscriptionId, Subscriptions::Table)
            .to_owned(),
        tenant_table(Enrollments::Table)
            .col(uuid(Enrollments::CustomerId))
            .col(uuid(Enrollments::ProductId))
            .col(uuid_null(Enrollments::TransactionId))
            .col(string_len(Enrollments::AccessStatus, 16).default("ACTIVE"))
            .col(timestamp_with_time_zone_null(Enrollments::StartsAt))
            .col(timestamp_with_time_zone_null(Enrollments::EndsAt))
            .col(timestamp_with_time_zone_null(Enrollments::RenewsAt))
            .col(timestamp_with_time_zone_null(Enrollments::FirstAccessAt))
            .col(string_len_null(Enrollments::FirstAccessOrigin, 32))
            .col(timestamp_with_time_zone_null(Enrollments::LastAccessAt))
            .col(decimal_len(Enrollments::ProgressPercent, 5, 2).default(0))
            .timestamps()
            // Access belongs to the customer.
            .fk_cascade(Enrollments::CustomerId, Customers::Table)
            // No access is left to a removed product.
            .fk_cascade(Enrollments::ProductId, Products::Table)
            // The originating transaction is an optional link.
            .fk_set_null(Enrollments::TransactionId, Transactions::Table)
            .to_owned(),
        tenant_table(LessonProgress::Table)
            .col(uuid(LessonProgress::CustomerId))
            .col(uuid(LessonProgress::LessonId))
            .col(boolean(LessonProgress::Completed).default(false))
            .col(timestamp_with_time_zone_null(LessonProgress::CompletedAt))
            .col(timestamp_with_time_zone(LessonProgress::UpdatedAt))
            // Progress belongs to the customer.
            .fk_cascade(LessonProgress::CustomerId, Customers::Table)
            // Progress on a removed lesson is meaningless.
            .fk_cascade(LessonProgress::LessonId, Lessons::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    CustomerId,
    ProductId,
    SubscriberCode,
    HotmartSubscriptionId,
    PlanId,
    PlanName,
    Status,
    StartedAt,
    NextChargeAt,
    CancelledAt,
    RecurringAmount,
    Currency,
    RecurrencePeriodDays,
    LastEventAt,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Code,
    CustomerId,
    ProductId,
    OfferId,
    SubscriptionId,
    Status,
    Amount,
    Currency,
    PaymentMethod,
    Installments,
    PurchasedAt,
    ApprovedAt,
    RefundedAt,
    WarrantyEndsAt,
    BilletUrl,
    PixCode,
    Src,
    Sck,
    Xcod,
    CommissionType,
    RecurrenceNumber,
    LastEventAt,
}

#[derive(DeriveIden)]
enum Enrollments {
    Table,
    CustomerId,
    ProductId,
    TransactionId,
    AccessStatus,
    StartsAt,
    EndsAt,
    RenewsAt,
    FirstAccessAt,
    FirstAccessOrigin,
    LastAccessAt,
    ProgressPercent,
}

#[derive(DeriveIden)]
enum LessonProgress {
    Table,
    CustomerId,
    LessonId,
    Completed,
    CompletedAt,
    UpdatedAt,
}
