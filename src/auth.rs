//! Registration and login: `POST /api/v1/auth/register`, `POST /api/v1/auth/login`; the
//! session routes and password resets live in the submodules.

mod opaque;
mod reset;
pub(crate) mod sessions;
mod throttle;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use validator::Validate;

use crate::error::{ApiError, Problem, Result};
use crate::extract::{ClientAddr, ValidJson, no_nul};
use crate::openapi::{BodyProblems, DatabaseBusy, Throttled};
use crate::state::AppState;
use crate::users::{self, User};
use sessions::TokenResponse;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .merge(sessions::router())
        .merge(reset::router())
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    #[validate(
        email(message = "must be an email address"),
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = "no_nul")
    )]
    #[serde(deserialize_with = "normalised_email")]
    #[schema(example = "ada@example.com", format = "email", max_length = 254)]
    email: String,
    #[validate(length(min = 8, max = 128, message = "must be 8 to 128 characters"))]
    #[schema(min_length = 8, max_length = 128, format = "password")]
    password: String,
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "no_nul")
    )]
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000]*$")]
    display_name: Option<String>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    #[validate(
        length(min = 1, max = 254, message = "must be 1 to 254 characters"),
        custom(function = "no_nul")
    )]
    #[serde(deserialize_with = "normalised_email")]
    #[schema(example = "ada@example.com", min_length = 1, max_length = 254)]
    email: String,
    // Bounded so nobody can make the server hash megabytes; wrong lengths are simply wrong passwords.
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(min_length = 1, max_length = 1024, format = "password")]
    password: String,
}

/// Emails are compared trimmed and lower-cased, so `Ada@Example.com ` and `ada@example.com` are one
/// account; normalising while parsing means validation sees what will be stored.
pub(crate) fn normalised_email<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    String::deserialize(deserializer).map(|email| email.trim().to_lowercase())
}

/// Create an account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = User, headers(("Location" = String))),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        Throttled, BodyProblems, DatabaseBusy,
    )
)]
async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    ValidJson(body): ValidJson<RegisterRequest>,
) -> Result<impl IntoResponse> {
    // Admission first: a full hashing queue answers 503 without spending the address's budget.
    let permit = state.passwords.admit()?;
    throttle::reserve_registration(&state.db, &state.settings.auth, &client).await?;
    let email = body.email;
    let password_hash = permit.hash(body.password).await?;
    let new_user = users::db::NewUser {
        email: &email,
        password_hash: &password_hash,
        display_name: body.display_name.as_deref(),
    };
    let user = state
        .db
        .run(async |conn| users::db::insert(conn, new_user).await)
        .await?
        .ok_or_else(users::email_taken)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/api/v1/users/me")],
        Json(user),
    ))
}

/// Exchange email and password for a new session's access and refresh tokens.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Access token and refresh token of a new session", body = TokenResponse),
        (status = 401, description = "Email or password wrong (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        Throttled, BodyProblems, DatabaseBusy,
    )
)]
async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Json<TokenResponse>> {
    let user_id = check_password(&state, &body.email, &client, body.password).await?;
    Ok(Json(sessions::start(&state, user_id, &headers).await?))
}

/// The account `email` names, if `password` is its password: the one way a password is checked
/// (login, and every route that asks for the current password), so each wrong one counts as a
/// failed login in the throttle and a throttled caller is refused before any hashing.
pub(crate) async fn check_password(
    state: &AppState,
    email: &str,
    client: &ClientAddr,
    password: String,
) -> Result<uuid::Uuid> {
    let attempt = throttle::LoginAttempt::reserve(&state.db, &state.settings.auth, email, client)
        .await
        .inspect_err(|e| {
            if matches!(e, ApiError::RateLimited { .. }) {
                metrics::counter!("auth_login_attempts_total", "outcome" => "rate_limited")
                    .increment(1);
            }
        })?;
    let verdict = async {
        let permit = state.passwords.admit()?;
        // The connection goes back to the pool before the (slow) hash check.
        let credentials = state
            .db
            .run(async |conn| users::db::find_credentials(conn, email).await)
            .await?;
        let (user_id, stored) = match credentials {
            Some(c) => (Some(c.id), Some(c.password_hash)),
            None => (None, None),
        };
        let verified = permit.verify(password, stored).await?;
        Ok::<_, ApiError>(user_id.filter(|_| verified))
    }
    .await;
    match verdict {
        Ok(Some(user_id)) => {
            attempt.succeeded(&state.db).await;
            metrics::counter!("auth_login_attempts_total", "outcome" => "success").increment(1);
            Ok(user_id)
        }
        Ok(None) => {
            attempt.failed();
            metrics::counter!("auth_login_attempts_total", "outcome" => "failure").increment(1);
            Err(ApiError::InvalidCredentials)
        }
        Err(e) => {
            attempt.release(&state.db).await;
            Err(e)
        }
    }
}
