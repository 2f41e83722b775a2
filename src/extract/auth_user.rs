//! The authenticated caller, for any state that can hand out the token keys, the revoked-session
//! set and the database (`FromRef`): no handler module needs another to authenticate.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts};
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;
use crate::revocations::{self, Revocations};
use crate::tokens::TokenKeys;

/// The authenticated caller. Handlers that take it answer 401 to anyone without a valid token
/// or whose session is revoked.
pub(crate) struct AuthUser {
    pub(crate) id: Uuid,
    /// The session the token names; `None` for a token of the release before sessions.
    pub(crate) session: Option<Uuid>,
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    Arc<Revocations>: FromRef<S>,
    Db: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let (scheme, token) = header.split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized);
        }
        let claims = Arc::<TokenKeys>::from_ref(state)
            .verify(token.trim())
            .ok_or(ApiError::Unauthorized)?;
        if let Some(session) = claims.sid {
            let revoked = match Arc::<Revocations>::from_ref(state).is_revoked(session) {
                Some(known) => known,
                // The listener is catching up: ask the table itself until it has.
                None => revocations::is_revoked_in_db(&Db::from_ref(state), session).await?,
            };
            if revoked {
                return Err(ApiError::Unauthorized);
            }
        }
        Ok(Self {
            id: claims.sub,
            session: claims.sid,
        })
    }
}
