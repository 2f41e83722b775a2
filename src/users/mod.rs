//! Accounts: the `User` shape, `GET` and `PATCH /api/v1/users/me`, and the account SQL; password
//! change and account deletion in [`account`], the export in [`export`].

mod account;
pub(crate) mod db;
mod export;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use crate::auth;
use crate::db::Db;
use crate::error::{ApiError, Problem, Result, ResultExt};
use crate::extract::{AuthUser, ClientAddr};
use crate::extract::{ValidJson, no_nul, non_null, present};
use crate::openapi::{BodyProblems, DatabaseBusy, Throttled, Unauthenticated};
use crate::state::AppState;

/// An account as clients see it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct User {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    #[schema(required = true)]
    pub(crate) display_name: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .merge(account::router())
        .merge(export::router())
}

/// Body of `PATCH /api/v1/users/me`: only the fields present change.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileUpdate {
    /// `null` clears it.
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "no_nul")
    )]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = "^[^\\u0000]*$")]
    display_name: Option<Option<String>>,
    /// A new sign-in email; needs `current_password`.
    #[validate(
        email(message = "must be an email address"),
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = "no_nul")
    )]
    #[serde(default, deserialize_with = "normalised_email")]
    #[schema(
        nullable = false,
        example = "ada@example.com",
        format = "email",
        max_length = 254
    )]
    email: Option<String>,
    /// Required when `email` changes; a wrong one counts as a failed login.
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[serde(default, deserialize_with = "non_null")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 1024,
        format = "password"
    )]
    current_password: Option<String>,
}

fn normalised_email<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    auth::normalised_email(d).map(Some)
}

/// The account the access token belongs to.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = User),
        Unauthenticated, DatabaseBusy,
    )
)]
async fn me(user: AuthUser, State(pool): State<Db>) -> Result<Json<User>> {
    // A valid token for an account that no longer exists is as good as no token.
    let found = pool
        .run(async |conn| db::find_by_id(conn, user.id).await)
        .await?;
    found.map(Json).ok_or(ApiError::Unauthorized)
}

/// Change the display name or the sign-in email.
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "The updated account", body = User),
        (status = 401, description = "Missing or invalid token, or `current_password` missing or wrong for an email change", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account has this email", body = Problem, content_type = "application/problem+json"),
        Throttled, BodyProblems, DatabaseBusy,
    )
)]
async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientAddr,
    ValidJson(body): ValidJson<ProfileUpdate>,
) -> Result<Json<User>> {
    let current = state
        .db
        .run(async |conn| db::find_by_id(conn, user.id).await)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let new_email = body.email.filter(|email| *email != current.email);
    if new_email.is_some() {
        let password = body.current_password.ok_or(ApiError::InvalidCredentials)?;
        auth::check_password(&state, &current.email, &client, password).await?;
    }
    let display_name = body.display_name.as_ref().map(Option::as_deref);
    let change = state
        .db
        .run(async |conn| {
            db::update_profile(conn, user.id, new_email.as_deref(), display_name).await
        })
        .await
        // Registration racing the change past the advisory lock: the unique index decides.
        .on_constraint("users_email_key", email_taken)?;
    match change {
        db::ProfileChange::Updated(user) => Ok(Json(user)),
        db::ProfileChange::EmailTaken => Err(email_taken()),
        db::ProfileChange::NoAccount => Err(ApiError::Unauthorized),
    }
}

/// The answer when another account has the email (registration and email change).
pub(crate) fn email_taken() -> ApiError {
    ApiError::Conflict("an account with this email already exists".into())
}
