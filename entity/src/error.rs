use sea_orm::{DbErr, SqlErr};

/// What persistence can tell its callers; api maps each variant to a stable
/// GraphQL error code and logs (never shows) the database text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("stored secret cannot be decrypted with the configured key")]
    Undecryptable,
    #[error(transparent)]
    Database(DbErr),
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Error::Conflict("a record with the same unique value already exists".into())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Error::Invalid("the record references something that does not exist".into())
            }
            _ => Error::Database(err),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
