//! The shapes jornada's migrations repeat, in one place: a table keyed by a uuid `id`, a
//! tenant table with its `workspace_id`, the `created_at`/`updated_at` pair, foreign keys
//! named `fk_<table>_<column>`, indexes declared as data, a migration that creates tables
//! (and drops them in `down`), and adding or dropping one column.

use sea_orm_migration::{prelude::*, schema::*};

/// The table every tenant table references.
const WORKSPACES: &str = "workspaces";

/// `CREATE TABLE` for `table`, keyed by a uuid `id`.
pub fn table_with_id<T: IntoTableRef>(table: T) -> TableCreateStatement {
    Table::create().table(table).col(pk_uuid("id")).to_owned()
}

/// `CREATE TABLE` for a tenant table: uuid `id`, then `workspace_id`, whose rows go with
/// their workspace (ON DELETE CASCADE).
pub fn tenant_table<T: IntoTableRef>(table: T) -> TableCreateStatement {
    table_with_id(table)
        .col(uuid("workspace_id"))
        .fk_cascade("workspace_id", WORKSPACES)
        .to_owned()
}

/// Column shapes and foreign keys on a `CREATE TABLE`.
pub trait TableShape {
    /// `created_at` and `updated_at`, timestamps with time zone, not null.
    fn timestamps(&mut self) -> &mut Self;
    /// `column` references `parent`'s `id`; the row goes with its parent.
    fn fk_cascade<C: IntoIden, P: IntoTableRef>(&mut self, column: C, parent: P) -> &mut Self;
    /// `column` references `parent`'s `id`; the row outlives its parent, unlinked.
    fn fk_set_null<C: IntoIden, P: IntoTableRef>(&mut self, column: C, parent: P) -> &mut Self;
    /// `column` references `parent`'s `id`; the parent cannot go while the row points at it.
    fn fk_no_action<C: IntoIden, P: IntoTableRef>(&mut self, column: C, parent: P) -> &mut Self;
}

impl TableShape for TableCreateStatement {
    fn timestamps(&mut self) -> &mut Self {
        self.col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
    }

    fn fk_cascade<C: IntoIden, P: IntoTableRef>(&mut self, column: C, parent: P) -> &mut Self {
        references(self, column, parent, ForeignKeyAction::Cascade)
    }

    fn fk_set_null<C: IntoIden, P: IntoTableRef>(&mut self, column: C, parent: P) -> &mut Self {
        references(self, column, parent, ForeignKeyAction::SetNull)
    }

    fn fk_no_action<C: IntoIden, P: IntoTableRef>(&mut self, column: C, parent: P) -> &mut Self {
        references(self, column, parent, ForeignKeyAction::NoAction)
    }
}

/// Adds the foreign key `fk_<table>_<column>` from `column` to `parent`'s `id`.
fn references<C: IntoIden, P: IntoTableRef>(
    create: &mut TableCreateStatement,
    column: C,
    parent: P,
    on_delete: ForeignKeyAction,
) -> &mut TableCreateStatement {
    let table = match create.get_table_name() {
        Some(TableRef::Table(name, _)) => name.clone(),
        other => panic!("a foreign key needs the table's name, not {other:?}"),
    };
    create.foreign_key(&mut foreign_key(
        &table.1.inner(),
        column,
        parent,
        on_delete,
    ))
}

/// The foreign key `fk_<table>_<column>` from `table`'s `column` to `parent`'s `id`.
pub fn foreign_key<C: IntoIden, P: IntoTableRef>(
    table: &str,
    column: C,
    parent: P,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    let column = column.into_iden();
    ForeignKey::create()
        .name(foreign_key_name(table, &column.inner()))
        .from(Alias::new(table), column)
        .to(parent, "id")
        .on_delete(on_delete)
        .to_owned()
}

/// The name jornada gives the foreign key from `table`'s `column`.
pub fn foreign_key_name(table: &str, column: &str) -> String {
    format!("fk_{table}_{column}")
}

/// A foreign key: (table, column, parent, on delete).
pub type Reference = (&'static str, &'static str, &'static str, ForeignKeyAction);

/// Drops the foreign keys `references` (named by [`foreign_key_name`]).
pub async fn drop_foreign_keys(
    manager: &SchemaManager<'_>,
    references: &[Reference],
) -> Result<(), DbErr> {
    for (table, column, _, _) in references {
        manager
            .drop_foreign_key(
                ForeignKey::drop()
                    .name(foreign_key_name(table, column))
                    .table(Alias::new(*table))
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Creates the foreign keys `references`: undoes [`drop_foreign_keys`].
pub async fn create_foreign_keys(
    manager: &SchemaManager<'_>,
    references: &[Reference],
) -> Result<(), DbErr> {
    for (table, column, parent, action) in references {
        manager
            .create_foreign_key(foreign_key(
                table,
                Alias::new(*column),
                Alias::new(*parent),
                *action,
            ))
            .await?;
    }
    Ok(())
}

/// Creates `tables` in order, then `indexes`.
pub async fn create_tables(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: &[TableIndex],
) -> Result<(), DbErr> {
    for table in tables {
        manager.create_table(table).await?;
    }
    create_indexes(manager, indexes).await
}

/// Drops `tables`, the last one first, so children go before their parents: undoes
/// [`create_tables`]. Indexes go with their tables.
pub async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
) -> Result<(), DbErr> {
    for table in tables.iter().rev() {
        let name = table
            .get_table_name()
            .cloned()
            .ok_or_else(|| DbErr::Migration("a table to drop has no name".to_owned()))?;
        manager
            .drop_table(Table::drop().table(name).to_owned())
            .await?;
    }
    Ok(())
}

/// Declares the module's `Migration`, named after its file, for a migration that only
/// creates tables: `up` creates those `$tables()` returns, then `$indexes`; `down` drops
/// the tables, the last created first.
macro_rules! table_migration {
    ($tables:ident, $indexes:ident) => {
        #[derive(DeriveMigrationName)]
        pub struct Migration;

        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::schema::create_tables(manager, $tables(), $indexes).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::schema::drop_tables(manager, $tables()).await
            }
        }
    };
}
pub(crate) use table_migration;

/// One index: its name, table and columns in order, whether it is unique, and for a
/// partial index the rows it holds.
pub struct TableIndex {
    name: &'static str,
    table: &'static str,
    columns: &'static [&'static str],
    unique: bool,
    rows: Option<fn() -> SimpleExpr>,
}

impl TableIndex {
    /// A plain index.
    pub const fn new(
        name: &'static str,
        table: &'static str,
        columns: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            table,
            columns,
            unique: false,
            rows: None,
        }
    }

    /// A unique index.
    pub const fn unique(
        name: &'static str,
        table: &'static str,
        columns: &'static [&'static str],
    ) -> Self {
        Self {
            unique: true,
            ..Self::new(name, table, columns)
        }
    }

    /// The same index over only the rows `rows` selects.
    pub const fn partial(self, rows: fn() -> SimpleExpr) -> Self {
        Self {
            rows: Some(rows),
            ..self
        }
    }

    fn create(&self) -> IndexCreateStatement {
        let mut create = Index::create();
        create.name(self.name).table(self.table);
        for column in self.columns {
            create.col(*column);
        }
        if self.unique {
            create.unique();
        }
        if let Some(rows) = self.rows {
            create.and_where(rows());
        }
        create
    }

    fn drop(&self) -> IndexDropStatement {
        Index::drop().name(self.name).table(self.table).to_owned()
    }
}

/// Creates `indexes` in order.
pub async fn create_indexes(
    manager: &SchemaManager<'_>,
    indexes: &[TableIndex],
) -> Result<(), DbErr> {
    for index in indexes {
        manager.create_index(index.create()).await?;
    }
    Ok(())
}

/// Drops `indexes`, the last one first: undoes [`create_indexes`].
pub async fn drop_indexes(
    manager: &SchemaManager<'_>,
    indexes: &[TableIndex],
) -> Result<(), DbErr> {
    for index in indexes.iter().rev() {
        manager.drop_index(index.drop()).await?;
    }
    Ok(())
}

/// Implements `MigrationTrait` for a migration that only replaces indexes:
/// `up` drops `before` and creates `after`, `down` the reverse, in one
/// transaction on one connection on SQLite too (a pooled connection
/// elsewhere could still see an index just dropped).
macro_rules! replaces_indexes {
    ($migration:ty, $before:expr, $after:expr) => {
        #[async_trait::async_trait]
        impl MigrationTrait for $migration {
            fn use_transaction(&self) -> Option<bool> {
                Some(true)
            }

            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::schema::drop_indexes(manager, $before).await?;
                $crate::schema::create_indexes(manager, $after).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::schema::drop_indexes(manager, $after).await?;
                $crate::schema::create_indexes(manager, $before).await
            }
        }
    };
}
pub(crate) use replaces_indexes;

/// Adds `column` to `table`: one column per statement, as SQLite requires.
pub async fn add_column<T: IntoTableRef>(
    manager: &SchemaManager<'_>,
    table: T,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

/// Drops `column` from `table`: undoes [`add_column`].
pub async fn drop_column<T: IntoTableRef, C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: T,
    column: C,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}
