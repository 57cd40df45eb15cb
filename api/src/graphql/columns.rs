//! Reading the columns a query selects, and no others.
//!
//! A list screen that shows four fields of a customer should not make the
//! database send, and the server decode, all nineteen columns (JSON
//! included) of fifty customers and of their hundred and fifty purchases.
//! An entity that [`Reads`] sparsely selects its primary key, the columns
//! the keys of its relations need, and each column whose camel-cased name
//! is a field the query selects (plus the columns its relation fields stand
//! on); the model's other fields keep their defaults, which no resolver
//! reads because the query did not ask for them.

use std::future::Future;

use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IdenStatic, Iterable,
    ModelTrait, PrimaryKeyToColumn, QueryResult, QuerySelect, QueryTrait, Select,
};

use super::connection::Selected;

/// How the rows of an entity are read for a page or a relation.
pub trait Reads: EntityTrait {
    /// The rows of `select`, with at least the columns `node` needs and
    /// `keys`. Every column, unless the entity reads sparsely.
    fn read<'a>(
        db: &'a DatabaseConnection,
        select: Select<Self>,
        node: &Selected<'_>,
        keys: &[Self::Column],
    ) -> impl Future<Output = Result<Vec<Self::Model>, DbErr>> + Send + 'a {
        let _ = (node, keys);
        async move { select.all(db).await }
    }
}

/// An entity whose GraphQL node can be built from some of its columns.
pub trait Sparse: EntityTrait<Model: Default> {
    /// Fields of the node that stand on a column not named after them
    /// (`customer` on `customer_id`).
    const FIELD_COLUMNS: &'static [(&'static str, Self::Column)] = &[];
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The columns `node` needs of `E`, `keys` and the primary key included.
pub fn needed<E: Sparse>(node: &Selected<'_>, keys: &[E::Column]) -> Vec<E::Column> {
    let primary: Vec<&str> = E::PrimaryKey::iter()
        .map(|key| key.into_column().as_str())
        .collect();
    let keys: Vec<&str> = keys.iter().map(IdenStatic::as_str).collect();
    E::Column::iter()
        .filter(|column| {
            let name = column.as_str();
            primary.contains(&name)
                || keys.contains(&name)
                || node.field(&camel_case(name)).exists()
                || E::FIELD_COLUMNS
                    .iter()
                    .any(|(field, on)| on.as_str() == name && node.field(field).exists())
        })
        .collect()
}

/// Reads `columns` of the rows of `select` into models whose other fields
/// are their defaults.
pub async fn read_columns<E: Sparse>(
    db: &DatabaseConnection,
    select: Select<E>,
    columns: Vec<E::Column>,
) -> Result<Vec<E::Model>, DbErr> {
    let statement = select
        .select_only()
        .columns(columns.iter().copied())
        .build(db.get_database_backend());
    let rows = db.query_all_raw(statement).await?;
    let mut models = Vec::with_capacity(rows.len());
    for row in &rows {
        models.push(model_of::<E>(row, &columns)?);
    }
    Ok(models)
}

fn model_of<E: Sparse>(row: &QueryResult, columns: &[E::Column]) -> Result<E::Model, DbErr> {
    let mut model = E::Model::default();
    for (index, column) in columns.iter().enumerate() {
        model.try_set(
            *column,
            value_at(row, index, column.def().get_column_type())?,
        )?;
    }
    Ok(model)
}

/// The value at `index`, read as the column type asks.
fn value_at(row: &QueryResult, index: usize, column_type: &ColumnType) -> Result<Value, DbErr> {
    Ok(match column_type {
        ColumnType::Uuid => Value::Uuid(row.try_get_by_index(index)?),
        ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => {
            Value::String(row.try_get_by_index(index)?)
        }
        ColumnType::Decimal(_) => Value::Decimal(row.try_get_by_index(index)?),
        ColumnType::TimestampWithTimeZone => Value::ChronoDateTimeUtc(row.try_get_by_index(index)?),
        ColumnType::Json | ColumnType::JsonBinary => Value::Json(
            row.try_get_by_index::<Option<serde_json::Value>>(index)?
                .map(Box::new),
        ),
        ColumnType::Integer => Value::Int(row.try_get_by_index(index)?),
        ColumnType::BigInteger => Value::BigInt(row.try_get_by_index(index)?),
        ColumnType::Boolean => Value::Bool(row.try_get_by_index(index)?),
        other => {
            return Err(DbErr::Type(format!(
                "a sparse read does not know the column type {other:?}"
            )));
        }
    })
}

/// Entities read sparsely, with the fields that stand on a column not
/// named after them.
macro_rules! reads_sparsely {
    ($($module:ident $({ $($field:literal => $column:ident),* $(,)? })?),* $(,)?) => {$(
        impl Reads for entity::$module::Entity {
            fn read<'a>(
                db: &'a DatabaseConnection,
                select: Select<Self>,
                node: &Selected<'_>,
                keys: &[Self::Column],
            ) -> impl Future<Output = Result<Vec<Self::Model>, DbErr>> + Send + 'a {
                read_columns(db, select, needed::<Self>(node, keys))
            }
        }

        impl Sparse for entity::$module::Entity {
            $(const FIELD_COLUMNS: &'static [(&'static str, entity::$module::Column)] =
                &[$(($field, entity::$module::Column::$column)),*];)?
        }
    )*};
}

reads_sparsely!(
    customer,
    transaction {
        "customer" => CustomerId,
        "product" => ProductId,
    },
    product,
    subscription,
    customer_activity,
    customer_note,
    offer,
    lesson,
    setting,
    target_group_mapping,
    workspace,
);

/// Entities read whole: their nodes are built from columns beyond the
/// fields' own (a campaign's document, an item's rendered content), or hold
/// enumerations, which a sparse read does not decode.
macro_rules! reads_whole {
    ($($module:ident),* $(,)?) => {$(
        impl Reads for entity::$module::Entity {}
    )*};
}

reads_whole!(
    automation_rule,
    message,
    background_job,
    enrollment,
    campaign,
    campaign_execution,
    campaign_recipient,
    dispatch_item,
    message_template,
    webhook_event,
);

#[cfg(test)]
mod tests {
    use super::camel_case;

    #[test]
    fn column_names_become_field_names() {
        assert_eq!(camel_case("ltv_total"), "ltvTotal");
        assert_eq!(camel_case("email"), "email");
        assert_eq!(camel_case("first_activity_at"), "firstActivityAt");
    }
}
