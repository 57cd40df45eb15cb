//! Plain indexes declared as data: a migration that only adds indexes lists
//! them and creates (or drops) them with these.

use sea_orm_migration::prelude::*;

/// One index: its name, its table and its columns, in order.
pub struct PlainIndex {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

pub async fn create_all(manager: &SchemaManager<'_>, indexes: &[PlainIndex]) -> Result<(), DbErr> {
    for index in indexes {
        let mut create = Index::create();
        create.name(index.name).table(Alias::new(index.table));
        for column in index.columns {
            create.col(Alias::new(*column));
        }
        manager.create_index(create).await?;
    }
    Ok(())
}

pub async fn drop_all(manager: &SchemaManager<'_>, indexes: &[PlainIndex]) -> Result<(), DbErr> {
    for index in indexes.iter().rev() {
        manager
            .drop_index(
                Index::drop()
                    .name(index.name)
                    .table(Alias::new(index.table))
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
