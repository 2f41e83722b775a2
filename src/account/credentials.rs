//! `POST /api/v1/users/me/password` and `DELETE /api/v1/users/me`: the two account changes that
//! need the current password and end sessions.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use crate::auth;
use crate::auth::sessions::{self, db::Which};
use crate::error::{ApiError, Problem, Result};
use crate::extract::ValidJson;
use crate::extract::{AuthUser, ClientAddr};
use crate::openapi::{BodyProblems, DatabaseBusy, Throttled};
use crate::state::AppState;
use crate::users::db;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(delete_account))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(min_length = 1, max_length = 1024, format = "password")]
    current_password: String,
    #[validate(length(min = 8, max = 128, message = "must be 8 to 128 characters"))]
    #[schema(min_length = 8, max_length = 128, format = "password")]
    new_password: String,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountDeletion {
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(min_length = 1, max_length = 1024, format = "password")]
    password: String,
}

/// The caller's email, or 401 when the account is gone.
async fn email_of(state: &AppState, user: Uuid) -> Result<String> {
    let found = state
        .db
        .run(async |conn| db::find_by_id(conn, user).await)
        .await?;
    found.map(|u| u.email).ok_or(ApiError::Unauthorized)
}

/// Change the password; every other session of the account is signed out.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/password",
    tag = "users",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every session but the caller's is revoked"),
        (status = 401, description = "Missing or invalid token, or the current password is wrong (counts as a failed login)", body = Problem, content_type = "application/problem+json"),
        Throttled, BodyProblems, DatabaseBusy,
    )
)]
async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientAddr,
    ValidJson(body): ValidJson<PasswordChange>,
) -> Result<StatusCode> {
    let email = email_of(&state, user.id).await?;
    auth::check_password(&state, &email, &client, body.current_password).await?;
    let password_hash = state.passwords.admit()?.hash(body.new_password).await?;
    let revoked = state
        .db
        .run(async |conn| {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            db::set_password(&mut *tx, user.id, &password_hash).await?;
            let keep = Which::AllBut(user.session);
            let revoked = sessions::revoke_in(&mut tx, &state, user.id, keep).await?;
            tx.commit().await?;
            Ok(revoked)
        })
        .await?;
    sessions::announced(&state, &revoked, "password_change");
    Ok(StatusCode::NO_CONTENT)
}

/// Erase the account and every entry; every session is signed out and the email is free again.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = AccountDeletion,
    responses(
        (status = 204, description = "The account, its entries and its sessions are gone"),
        (status = 401, description = "Missing or invalid token, or the password is wrong (counts as a failed login)", body = Problem, content_type = "application/problem+json"),
        Throttled, BodyProblems, DatabaseBusy,
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientAddr,
    ValidJson(body): ValidJson<AccountDeletion>,
) -> Result<StatusCode> {
    let email = email_of(&state, user.id).await?;
    auth::check_password(&state, &email, &client, body.password).await?;
    let revoked = state
        .db
        .run(async |conn| {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let revoked =
                sessions::revoke_in(&mut tx, &state, user.id, Which::AllBut(None)).await?;
            let deleted = db::delete(&mut tx, user.id).await?;
            tx.commit().await?;
            Ok(deleted.then_some(revoked))
        })
        .await?;
    let revoked = revoked.ok_or(ApiError::Unauthorized)?;
    sessions::announced(&state, &revoked, "account_deleted");
    Ok(StatusCode::NO_CONTENT)
}
