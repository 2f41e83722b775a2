//! Accounts as records: the `User` shape, `GET /api/v1/users/me`, and the account SQL. What a
//! person changes about their account is in [`crate::account`].

pub(crate) mod db;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::db::Db;
use crate::error::{ApiError, Result};
use crate::extract::AuthUser;
use crate::openapi::{DatabaseBusy, Unauthenticated};
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
    OpenApiRouter::new().routes(routes!(me))
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

/// The answer when another account has the email (registration and email change).
pub(crate) fn email_taken() -> ApiError {
    ApiError::Conflict("an account with this email already exists".into())
}
