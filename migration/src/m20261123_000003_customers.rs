//! People: customers, their notes and their activity timeline.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(pk_uuid(Customers::Id))
                    .col(uuid(Customers::WorkspaceId))
                    .col(string_len_null(Customers::HotmartUcode, 64))
                    .col(string_len_null(Customers::ChatwootContactId, 64))
                    .col(string_len(Customers::Email, 254))
                    .col(string_null(Customers::Name))
                    .col(string_len_null(Customers::Phone, 20))
                    .col(string_len_null(Customers::Document, 32))
                    .col(string_len_null(Customers::DocumentType, 8))
                    .col(json_binary(Customers::Tags))
                    .col(string_len_null(Customers::Segment, 32))
                    .col(string_len_null(Customers::ChurnRisk, 16))
                    .col(decimal_len(Customers::LtvTotal, 14, 2).default(0))
                    .col(timestamp_with_time_zone_null(Customers::FirstActivityAt))
                    .col(timestamp_with_time_zone_null(Customers::LastActivityAt))
                    .col(json_binary(Customers::Consent))
                    .col(json_binary(Customers::Metadata))
                    .col(timestamp_with_time_zone(Customers::CreatedAt))
                    .col(timestamp_with_time_zone(Customers::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_customers_workspace_id",
                        Customers::Table,
                        Customers::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_customers_workspace_email")
                    .table(Customers::Table)
                    .col(Customers::WorkspaceId)
                    .col(Customers::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customers_workspace_segment")
                    .table(Customers::Table)
                    .col(Customers::WorkspaceId)
                    .col(Customers::Segment)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customers_workspace_phone")
                    .table(Customers::Table)
                    .col(Customers::WorkspaceId)
                    .col(Customers::Phone)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customers_workspace_created_at")
                    .table(Customers::Table)
                    .col(Customers::WorkspaceId)
                    .col(Customers::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerNotes::Table)
                    .col(pk_uuid(CustomerNotes::Id))
                    .col(uuid(CustomerNotes::WorkspaceId))
                    .col(uuid(CustomerNotes::CustomerId))
                    .col(string_len(CustomerNotes::Author, 128))
                    .col(text(CustomerNotes::Body))
                    .col(timestamp_with_time_zone(CustomerNotes::CreatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_customer_notes_workspace_id",
                        CustomerNotes::Table,
                        CustomerNotes::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: notes belong to the customer.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_notes_customer_id")
                            .from(CustomerNotes::Table, CustomerNotes::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_notes_customer_created_at")
                    .table(CustomerNotes::Table)
                    .col(CustomerNotes::CustomerId)
                    .col(CustomerNotes::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_notes_workspace")
                    .table(CustomerNotes::Table)
                    .col(CustomerNotes::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerActivities::Table)
                    .col(pk_uuid(CustomerActivities::Id))
                    .col(uuid(CustomerActivities::WorkspaceId))
                    .col(uuid(CustomerActivities::CustomerId))
                    .col(string_len(CustomerActivities::ActivityType, 64))
                    .col(text_null(CustomerActivities::Description))
                    .col(json_binary(CustomerActivities::Data))
                    .col(timestamp_with_time_zone(CustomerActivities::OccurredAt))
                    .col(timestamp_with_time_zone(CustomerActivities::CreatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_customer_activities_workspace_id",
                        CustomerActivities::Table,
                        CustomerActivities::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: the timeline belongs to the customer.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_activities_customer_id")
                            .from(CustomerActivities::Table, CustomerActivities::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_activities_customer_occurred_at")
                    .table(CustomerActivities::Table)
                    .col(CustomerActivities::CustomerId)
                    .col(CustomerActivities::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_activities_workspace")
                    .table(CustomerActivities::Table)
                    .col(CustomerActivities::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(CustomerActivities::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CustomerNotes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Customers::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Customers {
    Table,
    Id,
    WorkspaceId,
    HotmartUcode,
    ChatwootContactId,
    Email,
    Name,
    Phone,
    Document,
    DocumentType,
    Tags,
    Segment,
    ChurnRisk,
    LtvTotal,
    FirstActivityAt,
    LastActivityAt,
    Consent,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum CustomerNotes {
    Table,
    Id,
    WorkspaceId,
    CustomerId,
    Author,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum CustomerActivities {
    Table,
    Id,
    WorkspaceId,
    CustomerId,
    ActivityType,
    Description,
    Data,
    OccurredAt,
    CreatedAt,
}
