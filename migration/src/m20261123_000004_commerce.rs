//! Money and access: subscriptions, transactions, enrollments and lesson progress.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;
use crate::m20261123_000002_catalog::{Lessons, Offers, Products};
use crate::m20261123_000003_customers::Customers;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(pk_uuid(Subscriptions::Id))
                    .col(uuid(Subscriptions::WorkspaceId))
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
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_subscriptions_workspace_id",
                        Subscriptions::Table,
                        Subscriptions::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: a subscription is part of the customer's record.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_customer_id")
                            .from(Subscriptions::Table, Subscriptions::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE NO ACTION: billing history must not vanish with a product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_product_id")
                            .from(Subscriptions::Table, Subscriptions::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_subscriptions_workspace_subscriber_code")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::WorkspaceId)
                    .col(Subscriptions::SubscriberCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_subscriptions_workspace_status")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::WorkspaceId)
                    .col(Subscriptions::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_subscriptions_customer")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::CustomerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Transactions::Table)
                    .col(pk_uuid(Transactions::Id))
                    .col(uuid(Transactions::WorkspaceId))
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
                    .col(timestamp_with_time_zone(Transactions::CreatedAt))
                    .col(timestamp_with_time_zone(Transactions::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_transactions_workspace_id",
                        Transactions::Table,
                        Transactions::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: a transaction is part of the customer's record.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_customer_id")
                            .from(Transactions::Table, Transactions::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE NO ACTION: sales history must not vanish with a product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_product_id")
                            .from(Transactions::Table, Transactions::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::NoAction),
                    )
                    // ON DELETE SET NULL: the offer is an optional detail of the sale.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_offer_id")
                            .from(Transactions::Table, Transactions::OfferId)
                            .to(Offers::Table, Offers::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE SET NULL: the subscription is an optional link.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_subscription_id")
                            .from(Transactions::Table, Transactions::SubscriptionId)
                            .to(Subscriptions::Table, Subscriptions::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_transactions_workspace_code")
                    .table(Transactions::Table)
                    .col(Transactions::WorkspaceId)
                    .col(Transactions::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_workspace_status")
                    .table(Transactions::Table)
                    .col(Transactions::WorkspaceId)
                    .col(Transactions::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_workspace_purchased_at")
                    .table(Transactions::Table)
                    .col(Transactions::WorkspaceId)
                    .col(Transactions::PurchasedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_customer")
                    .table(Transactions::Table)
                    .col(Transactions::CustomerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_product")
                    .table(Transactions::Table)
                    .col(Transactions::ProductId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Enrollments::Table)
                    .col(pk_uuid(Enrollments::Id))
                    .col(uuid(Enrollments::WorkspaceId))
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
                    .col(timestamp_with_time_zone(Enrollments::CreatedAt))
                    .col(timestamp_with_time_zone(Enrollments::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_enrollments_workspace_id",
                        Enrollments::Table,
                        Enrollments::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: access belongs to the customer.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_enrollments_customer_id")
                            .from(Enrollments::Table, Enrollments::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE CASCADE: no access is left to a removed product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_enrollments_product_id")
                            .from(Enrollments::Table, Enrollments::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE SET NULL: the originating transaction is an optional link.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_enrollments_transaction_id")
                            .from(Enrollments::Table, Enrollments::TransactionId)
                            .to(Transactions::Table, Transactions::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_enrollments_customer_product")
                    .table(Enrollments::Table)
                    .col(Enrollments::CustomerId)
                    .col(Enrollments::ProductId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_enrollments_workspace_access_status")
                    .table(Enrollments::Table)
                    .col(Enrollments::WorkspaceId)
                    .col(Enrollments::AccessStatus)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_enrollments_product")
                    .table(Enrollments::Table)
                    .col(Enrollments::ProductId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LessonProgress::Table)
                    .col(pk_uuid(LessonProgress::Id))
                    .col(uuid(LessonProgress::WorkspaceId))
                    .col(uuid(LessonProgress::CustomerId))
                    .col(uuid(LessonProgress::LessonId))
                    .col(boolean(LessonProgress::Completed).default(false))
                    .col(timestamp_with_time_zone_null(LessonProgress::CompletedAt))
                    .col(timestamp_with_time_zone(LessonProgress::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_lesson_progress_workspace_id",
                        LessonProgress::Table,
                        LessonProgress::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: progress belongs to the customer.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lesson_progress_customer_id")
                            .from(LessonProgress::Table, LessonProgress::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE CASCADE: progress on a removed lesson is meaningless.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lesson_progress_lesson_id")
                            .from(LessonProgress::Table, LessonProgress::LessonId)
                            .to(Lessons::Table, Lessons::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_lesson_progress_customer_lesson")
                    .table(LessonProgress::Table)
                    .col(LessonProgress::CustomerId)
                    .col(LessonProgress::LessonId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lesson_progress_lesson")
                    .table(LessonProgress::Table)
                    .col(LessonProgress::LessonId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lesson_progress_workspace")
                    .table(LessonProgress::Table)
                    .col(LessonProgress::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(LessonProgress::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Enrollments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Transactions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Subscriptions {
    Table,
    Id,
    WorkspaceId,
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
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Transactions {
    Table,
    Id,
    WorkspaceId,
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
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Enrollments {
    Table,
    Id,
    WorkspaceId,
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
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum LessonProgress {
    Table,
    Id,
    WorkspaceId,
    CustomerId,
    LessonId,
    Completed,
    CompletedAt,
    UpdatedAt,
}
