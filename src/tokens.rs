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

mod verified;

pub(crate) use verified::Verified;
use verified::VerifiedTokens;

const ISSUER: &str = "echodiary";

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
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
    /// Tokens these keys have verified: a cache tied to the keys, never outliving them.
    verified: VerifiedTokens,
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
            verified: VerifiedTokens::new(),
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

    /// What `token` says, if it carries our signature and issuer and has not expired.
    pub(crate) fn verify(&self, token: &str) -> Option<Verified> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// `now` is what a kept token's expiry is checked against; a token checked in full is
    /// checked against jsonwebtoken's own clock.
    fn verify_at(&self, token: &str, now: i64) -> Option<Verified> {
        if let Some(known) = self.verified.get(token) {
            // Valid through the second `exp` names, as jsonwebtoken's check without leeway.
            return (known.exp >= now).then_some(known);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let verified = Verified {
            sub: claims.sub,
            sid: claims.sid,
            exp: claims.exp,
        };
        self.verified.insert(token, verified);
        Some(verified)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            &SecretString::from("a test secret of no use anywhere else"),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn a_verified_token_is_refused_once_it_has_expired() {
        let keys = keys();
        let token = keys
            .issue_with_expiry(Uuid::now_v7(), Some(Uuid::now_v7()), 60)
            .expect("signing works");
        let verified = keys.verify(&token).expect("a fresh token is valid");
        assert_eq!(
            keys.verify(&token),
            Some(verified),
            "and stays so while it lives"
        );
        assert_eq!(keys.verify_at(&token, verified.exp), Some(verified));
        assert_eq!(keys.verify_at(&token, verified.exp + 1), None);
    }

    #[test]
    fn a_token_altered_after_its_original_was_verified_is_refused() {
        let keys = keys();
        let token = keys
            .issue(Uuid::now_v7(), Uuid::now_v7())
            .expect("signing works");
        assert!(keys.verify(&token).is_some());
        let (unsigned, signature) = token.rsplit_once('.').expect("a JWT has dots");
        let mut forged = signature.as_bytes().to_vec();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        let forged = format!(
            "{unsigned}.{}",
            String::from_utf8(forged).expect("still ASCII")
        );
        assert_eq!(keys.verify(&forged), None);
        let other = TokenKeys::new(
            &SecretString::from("another secret"),
            Duration::from_secs(60),
        );
        assert_eq!(
            other.verify(&token),
            None,
            "another key never sees this one's cache"
        );
    }
}
