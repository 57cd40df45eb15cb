//! JWT authentication: HS256 tokens with Supabase-compatible role names.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Anon,
    Authenticated,
    ServiceRole,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "anon" => Some(Role::Anon),
            "authenticated" => Some(Role::Authenticated),
            "service_role" => Some(Role::ServiceRole),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Anon => "anon",
            Role::Authenticated => "authenticated",
            Role::ServiceRole => "service_role",
        }
    }
}

/// Who is calling, as established from the request's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    pub subject: Option<String>,
    pub workspace_id: Option<Uuid>,
    pub read_only: bool,
    /// When the token stops being valid (`exp`); `None` for anon.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Caller {
            role: Role::Anon,
            subject: None,
            workspace_id: None,
            read_only: true,
            expires_at: None,
        }
    }

    /// A label for `created_by` / `author` columns: the token subject, or the role.
    pub fn actor(&self) -> String {
        self.subject
            .clone()
            .unwrap_or_else(|| self.role.as_str().to_owned())
    }
}

/// The claims jornada reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Why a request's credentials were refused; all of these answer HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header must be `Bearer <token>`")]
    MalformedHeader,
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the token has expired")]
    Expired,
    #[error("the token names an unknown role")]
    UnknownRole,
    #[error("an authenticated token must carry a workspace_id (UUID)")]
    MissingWorkspace,
    #[error("the token carries an unknown scope")]
    UnknownScope,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error(
        "the token's header names critical extensions (`crit`), which jornada does not understand"
    )]
    CriticalHeader,
    #[error("the token lives longer than its role allows")]
    LivesTooLong,
    #[error("the token's `sub` is longer than {MAX_SUBJECT_CHARS} characters")]
    SubjectTooLong,
}

/// Longest `sub` accepted: it is written as the author of what a caller changes.
pub const MAX_SUBJECT_CHARS: usize = 256;

/// The longest a token may live, from `iat` (or, without one, from now) to
/// `exp`, by role; `None` leaves that role's tokens unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// `authenticated` (and `anon`) tokens: a person's session.
    pub authenticated: Option<chrono::Duration>,
    /// `service_role` tokens: integrations, often long-lived on purpose.
    pub service_role: Option<chrono::Duration>,
}

impl TokenLifetimes {
    /// 30 days for a person's token, no bound for a service's.
    pub const DEFAULT_AUTHENTICATED_DAYS: i64 = 30;

    /// One bound for every role when it is configured; the defaults otherwise.
    pub fn configured(max: Option<chrono::Duration>) -> Self {
        match max {
            Some(max) => TokenLifetimes {
                authenticated: Some(max),
                service_role: Some(max),
            },
            None => TokenLifetimes::default(),
        }
    }

    pub fn for_role(&self, role: Role) -> Option<chrono::Duration> {
        match role {
            Role::ServiceRole => self.service_role,
            Role::Authenticated | Role::Anon => self.authenticated,
        }
    }
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        TokenLifetimes {
            authenticated: Some(chrono::Duration::days(Self::DEFAULT_AUTHENTICATED_DAYS)),
            service_role: None,
        }
    }
}

/// The HS256 signing secret, shared by the server and `jornada token`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetimes: TokenLifetimes,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 5;

impl JwtKeys {
    /// Keys for `secret`, with the default [`TokenLifetimes`].
    pub fn new(secret: &[u8]) -> Self {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            lifetimes: TokenLifetimes::default(),
        }
    }

    pub fn with_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    pub fn lifetimes(&self) -> TokenLifetimes {
        self.lifetimes
    }

    /// Mints a token for `role`, valid for `ttl`.
    pub fn mint(
        &self,
        role: Role,
        workspace_id: Option<Uuid>,
        subject: Option<String>,
        read_only: bool,
        ttl: chrono::Duration,
    ) -> String {
        let now = chrono::Utc::now();
        let claims = Claims {
            sub: subject,
            role: role.as_str().to_owned(),
            workspace_id: workspace_id.map(|w| w.to_string()),
            exp: (now + ttl).timestamp(),
            iat: Some(now.timestamp()),
            scope: read_only.then(|| "read".to_owned()),
        };
        self.sign(&claims)
    }

    pub fn sign(&self, claims: &Claims) -> String {
        // Encoding HS256 with an in-memory key cannot fail for serializable claims.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                _ => AuthError::InvalidToken,
            },
        )?;
        // jsonwebtoken reads only the header fields it knows; RFC 7515 says a
        // `crit` jornada does not understand makes the token invalid.
        if header_is_critical(token) {
            return Err(AuthError::CriticalHeader);
        }
        let claims = data.claims;
        let now = chrono::Utc::now().timestamp();
        let leeway = LEEWAY_SECONDS as i64;
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(AuthError::NotYetValid);
        }
        let role = Role::parse(&claims.role).ok_or(AuthError::UnknownRole)?;
        if let Some(max) = self.lifetimes.for_role(role) {
            let lifetime = claims.exp.saturating_sub(claims.iat.unwrap_or(now));
            if lifetime > max.num_seconds().saturating_add(leeway) {
                return Err(AuthError::LivesTooLong);
            }
        }
        if claims
            .sub
            .as_deref()
            .is_some_and(|sub| sub.chars().count() > MAX_SUBJECT_CHARS)
        {
            return Err(AuthError::SubjectTooLong);
        }
        let workspace_id = match claims.workspace_id.as_deref() {
            None | Some("") => None,
            Some(text) => Some(Uuid::parse_str(text).map_err(|_| AuthError::MissingWorkspace)?),
        };
        if role == Role::Authenticated && workspace_id.is_none() {
            return Err(AuthError::MissingWorkspace);
        }
        let read_only = match claims.scope.as_deref() {
            None => false,
            Some("read") => true,
            Some(_) => return Err(AuthError::UnknownScope),
        };
        Ok(Caller {
            role,
            subject: claims.sub,
            workspace_id,
            read_only: read_only || role == Role::Anon,
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0),
        })
    }

    /// No `Authorization` header means anon; anything else must be a valid bearer token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(Caller::anonymous());
        };
        let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MalformedHeader)?;
        self.verify(token)
    }
}

/// Whether the (already verified) token's header carries `crit`.
fn header_is_critical(token: &str) -> bool {
    use base64::Engine;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|header| header.get("crit").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"test-secret-with-enough-length-for-hs256")
    }

    #[test]
    fn minted_tokens_verify_with_their_claims() {
        let ws = Uuid::new_v4();
        let token = keys().mint(
            Role::Authenticated,
            Some(ws),
            Some("agent@cs".into()),
            true,
            chrono::Duration::hours(1),
        );
        let caller = keys().verify(&token).expect("valid");
        assert_eq!(caller.role, Role::Authenticated);
        assert_eq!(caller.workspace_id, Some(ws));
        assert!(caller.read_only);
        assert_eq!(caller.actor(), "agent@cs");
    }

    #[test]
    fn lifetimes_bound_each_role_as_configured() {
        let service_for = |days| {
            keys().mint(
                Role::ServiceRole,
                None,
                None,
                false,
                chrono::Duration::days(days),
            )
        };
        let agent_for = |days| {
            keys().mint(
                Role::Authenticated,
                Some(Uuid::new_v4()),
                None,
                false,
                chrono::Duration::days(days),
            )
        };
        // Defaults: 30 days for a person, no bound for a service.
        assert!(keys().verify(&agent_for(30)).is_ok());
        assert_eq!(keys().verify(&agent_for(31)), Err(AuthError::LivesTooLong));
        assert!(keys().verify(&service_for(3650)).is_ok());
        // Configured: one bound for every role.
        let week =
            keys().with_lifetimes(TokenLifetimes::configured(Some(chrono::Duration::days(7))));
        assert!(week.verify(&agent_for(7)).is_ok());
        assert_eq!(week.verify(&agent_for(8)), Err(AuthError::LivesTooLong));
        assert!(week.verify(&service_for(7)).is_ok());
        assert_eq!(week.verify(&service_for(8)), Err(AuthError::LivesTooLong));
    }

    #[test]
    fn refuses_expired_foreign_and_incomplete_tokens() {
        let expired = keys().mint(
            Role::ServiceRole,
            None,
            None,
            false,
            chrono::Duration::hours(-1),
        );
        assert_eq!(keys().verify(&expired), Err(AuthError::Expired));
        let foreign = JwtKeys::new(b"another-secret").mint(
            Role::ServiceRole,
            None,
            None,
            false,
            chrono::Duration::hours(1),
        );
        assert_eq!(keys().verify(&foreign), Err(AuthError::InvalidToken));
        let no_workspace = keys().mint(
            Role::Authenticated,
            None,
            None,
            false,
            chrono::Duration::hours(1),
        );
        assert_eq!(
            keys().verify(&no_workspace),
            Err(AuthError::MissingWorkspace)
        );
        let mut claims = Claims {
            sub: None,
            role: "admin".into(),
            workspace_id: None,
            exp: chrono::Utc::now().timestamp() + 60,
            iat: None,
            scope: None,
        };
        assert_eq!(
            keys().verify(&keys().sign(&claims)),
            Err(AuthError::UnknownRole)
        );
        claims.role = "service_role".into();
        claims.scope = Some("write".into());
        assert_eq!(
            keys().verify(&keys().sign(&claims)),
            Err(AuthError::UnknownScope)
        );
    }
}
