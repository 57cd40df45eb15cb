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
}

impl Caller {
    pub fn anonymous() -> Self {
        Caller {
            role: Role::Anon,
            subject: None,
            workspace_id: None,
            read_only: true,
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
}

/// The HS256 signing secret, shared by the server and `jornada token`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 5;

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
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
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::InvalidToken,
            },
        )?;
        let claims = data.claims;
        let role = Role::parse(&claims.role).ok_or(AuthError::UnknownRole)?;
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
