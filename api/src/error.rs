//! The one error type of the API. Every error reaching a client carries a
//! stable `extensions.code`; internal causes are logged, never shown.

//!
//! `ApiError` deliberately does not implement `Display`: async-graphql turns
//! any `Display` type into an error without a code, so resolvers return
//! `ApiResult` and a database error can never reach a client as text.

#[derive(Debug, Clone)]
pub enum ApiError {
    Unauthenticated,
    Forbidden(&'static str),
    NotFound(&'static str),
    InvalidInput(String),
    Conflict(String),
    Internal(std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::InvalidInput(_) => "INVALID_INPUT",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "authentication required".into(),
            ApiError::Forbidden(why) => (*why).into(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::InvalidInput(message) | ApiError::Conflict(message) => message.clone(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidInput(message.into())
    }
}

impl From<entity::Error> for ApiError {
    fn from(err: entity::Error) -> Self {
        match err {
            entity::Error::Invalid(message) => ApiError::InvalidInput(message),
            entity::Error::NotFound(what) => ApiError::NotFound(what),
            entity::Error::Conflict(message) => ApiError::Conflict(message),
            other => ApiError::Internal(std::sync::Arc::new(other)),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        entity::Error::from(err).into()
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        if let ApiError::Internal(cause) = &err {
            tracing::error!(error = %cause, "request failed");
        }
        let code = err.code();
        async_graphql::ErrorExtensions::extend_with(
            async_graphql::Error::new(err.message()),
            |_, e| e.set("code", code),
        )
    }
}
