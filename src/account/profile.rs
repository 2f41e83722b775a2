//! `PATCH /api/v1/users/me`: the display name, and the sign-in email (which needs the password).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use validator::Validate;

use crate::auth;
use crate::error::{ApiError, Problem, Result, ResultExt};
use crate::extract::{AuthUser, ClientAddr, ValidJson, no_nul, non_null, present};
use crate::openapi::{BodyProblems, DatabaseBusy, Throttled};
use crate::state::AppState;
use crate::users::{User, db, email_taken};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_me))
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
