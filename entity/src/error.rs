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
    /// The job queue (apalis storage) refused or failed.
    #[error("the job queue failed: {0}")]
    Queue(String),
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
            _ if value_does_not_fit(&err) => {
                Error::Invalid("a value is too long or too large for where it is stored".into())
            }
            _ => Error::Database(err),
        }
    }
}

/// PostgreSQL's "string data right truncation", "numeric value out of range"
/// and "invalid text representation": the data, not the database, is wrong,
/// so retrying cannot help.
fn value_does_not_fit(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db_err) = &**e else {
        return false;
    };
    matches!(db_err.code().as_deref(), Some("22001" | "22003" | "22P02"))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
