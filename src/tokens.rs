//! Signed, short-lived access tokens (HS256 JWTs); [`crate::extract::AuthUser`] requires one.
//!
//! A token names its session (`sid`). Checking one costs no database round trip, which keeps
//! every authenticated request on one query: the signature and expiry are checked here, and the
//! session against the in-memory set of revoked sessions every replica keeps (see
//! [`crate::revocations`]). Tokens without `sid` come from the release before sessions: they
//! stay valid until they expire (at most that release's lifetime), so a rolling deploy logs
//! nobody out.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

const ISSUER: &str = "echodiary";

#[derive(Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) sub: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<Uuid>,
    iss: String,
    iat: i64,
    exp: i64,
}

/// Signing and verification keys derived from the configured secret.
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub(crate) fn new(secret: &SecretString, ttl: Duration) -> Self {
        let secret = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        // One issuer and one verifier share a clock: no leeway, an expired token is expired.
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for `user`'s `session` that expires after the configured lifetime.
    pub(crate) fn issue(&self, user: Uuid, session: Uuid) -> Result<String, ApiError> {
        self.issue_with_expiry(user, Some(session), self.ttl.as_secs() as i64)
    }

    /// Any lifetime (negative: already expired), with or without a session.
    pub(crate) fn issue_with_expiry(
        &self,
        user: Uuid,
        session: Option<Uuid>,
        ttl_secs: i64,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing a token: {e}")))
    }

    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}
