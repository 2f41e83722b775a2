//! Forgotten passwords: `POST /api/v1/auth/password-reset` sends a link by email,
//! `POST /api/v1/auth/password-reset/confirm` sets the new password.
//!
//! The request answers 202 before anything depends on whether the account exists: the lookup,
//! the token and the email happen in the background, so the answer and its timing are the same
//! either way, and a slow mail server delays nobody. Tokens are single-use, valid for
//! [`TOKEN_TTL`], and stored only as hashes.

mod db;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use validator::Validate;

use super::sessions::{self, db::Which};
use super::{opaque, throttle};
use crate::email::{self, Kind, Mailer};
use crate::error::{ApiError, Problem, Result};
use crate::extract::ClientAddr;
use crate::extract::{ValidJson, no_nul};
use crate::openapi::{BodyProblems, Throttled};
use crate::state::AppState;
use crate::users;

/// How long a reset link works.
const TOKEN_TTL: Duration = Duration::from_secs(30 * 60);

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    #[validate(
        email(message = "must be an email address"),
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = "no_nul")
    )]
    #[serde(deserialize_with = "super::normalised_email")]
    #[schema(example = "ada@example.com", format = "email", max_length = 254)]
    email: String,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetConfirmation {
    /// The token from the emailed link.
    #[validate(length(min = 1, max = 128, message = "must be 1 to 128 characters"))]
    #[schema(min_length = 1, max_length = 128)]
    token: String,
    #[validate(length(min = 8, max = 128, message = "must be 8 to 128 characters"))]
    #[schema(min_length = 8, max_length = 128, format = "password")]
    new_password: String,
}

fn mailer(state: &AppState) -> Result<&Mailer> {
    state.mailer.as_ref().ok_or(ApiError::NotConfigured(
        "password reset by email is not set up on this server (no SMTP server configured)",
    ))
}

/// Email a password-reset link, if an account has this address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Accepted: if an account has this email, a link is on its way (the same answer either way)"),
        (status = 503, description = "No SMTP server configured, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
        Throttled, BodyProblems,
    )
)]
async fn request_reset(
    State(state): State<AppState>,
    client: ClientAddr,
    ValidJson(body): ValidJson<ResetRequest>,
) -> Result<StatusCode> {
    let mailer = mailer(&state)?;
    throttle::reserve_password_reset(&state.db, &state.settings.auth, &body.email, &client).await?;
    if let Some(slot) = mailer.slot(Kind::PasswordReset) {
        let state = state.clone();
        tokio::spawn(async move {
            send_link(&state, &body.email).await;
            drop(slot);
        });
    }
    Ok(StatusCode::ACCEPTED)
}

/// The background half of a reset request: nothing to do for an unknown address; otherwise a
/// new token and the email.
async fn send_link(state: &AppState, email: &str) {
    let Some(mailer) = state.mailer.as_ref() else {
        return;
    };
    let prepared = async {
        let Some(account) = state
            .db
            .run(async |conn| users::db::find_credentials(conn, email).await)
            .await?
        else {
            return Ok(None);
        };
        let (token, hash) = opaque::generate()?;
        state
            .db
            .run(async |conn| db::insert(conn, account.id, &hash, TOKEN_TTL).await)
            .await?;
        Ok::<_, ApiError>(Some(token))
    };
    match prepared.await {
        Ok(Some(token)) => {
            mailer
                .send_password_reset(email, &mailer.reset_link(&token))
                .await
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not prepare a password reset email");
            email::record_failure(Kind::PasswordReset);
        }
    }
}

/// Set a new password with the token from a reset email; signs out every session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset/confirm",
    tag = "auth",
    request_body = ResetConfirmation,
    responses(
        (status = 204, description = "The password is changed and every session of the account is revoked"),
        (status = 400, description = "The token is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No SMTP server configured, the hashing queue is full, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
async fn confirm_reset(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<ResetConfirmation>,
) -> Result<StatusCode> {
    mailer(&state)?;
    let invalid = || {
        ApiError::BadRequest(
            "the reset token is unknown, used or expired; ask for a new one".into(),
        )
    };
    let hash = opaque::hash(&body.token);
    let permit = state.passwords.admit()?;
    if !state
        .db
        .run(async |conn| db::is_live(conn, &hash).await)
        .await?
    {
        return Err(invalid());
    }
    let password_hash = permit.hash(body.new_password).await?;
    let reset = state
        .db
        .run(async |conn| {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let Some(user) = db::spend(&mut tx, &hash).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            users::db::set_password(&mut *tx, user, &password_hash).await?;
            db::settle(&mut tx, user).await?;
            let revoked = sessions::revoke_in(&mut tx, &state, user, Which::AllBut(None)).await?;
            tx.commit().await?;
            Ok(Some(revoked))
        })
        .await?;
    let revoked = reset.ok_or_else(invalid)?;
    sessions::announced(&state, &revoked, "password_reset");
    Ok(StatusCode::NO_CONTENT)
}
