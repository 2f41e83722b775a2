//! Sessions: `POST /api/v1/auth/refresh`, `POST /api/v1/auth/logout`,
//! `GET /api/v1/users/me/sessions`, `DELETE /api/v1/users/me/sessions/{id}`, and the token pair
//! login answers.
//!
//! A session is one signed-in device. Its access tokens are short-lived JWTs naming it; its
//! refresh token is opaque, single-use, and replaced by every refresh. Presenting a spent
//! refresh token again means two parties hold it (the client and a thief, in some order), so the
//! whole session is revoked.

pub(crate) mod db;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::opaque;
use crate::error::{ApiError, Problem, Result};
use crate::extract::AuthUser;
use crate::extract::{PathId, ValidJson};
use crate::openapi::{BodyProblems, DatabaseBusy, Unauthenticated};
use crate::state::AppState;
use db::{Refresh, Which};

/// Longest `User-Agent` kept with a session: enough to tell devices apart.
const USER_AGENT_CHARS: usize = 200;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

/// What login and refresh answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Opaque and single-use: `POST /api/v1/auth/refresh` exchanges it for a new pair.
    refresh_token: String,
    /// Seconds until the refresh token expires.
    refresh_expires_in: u64,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    #[validate(length(min = 1, max = 128, message = "must be 1 to 128 characters"))]
    #[schema(min_length = 1, max_length = 128)]
    refresh_token: String,
}

/// One signed-in device.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionView {
    id: Uuid,
    created_at: DateTime<Utc>,
    /// The login or the latest refresh (access tokens are checked without touching the session).
    last_used_at: DateTime<Utc>,
    #[schema(required = true)]
    user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    current: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SessionList {
    items: Vec<SessionView>,
}

/// Starts a session for `user` (whose password was just checked) and answers its tokens.
pub(crate) async fn start(
    state: &AppState,
    user: Uuid,
    headers: &HeaderMap,
) -> Result<TokenResponse> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_CHARS).collect::<String>());
    let (refresh_token, refresh_hash) = opaque::generate()?;
    let ttl = state.settings.auth.refresh_token_ttl();
    let session = state
        .db
        .run(async |conn| db::create(conn, user, user_agent.as_deref(), &refresh_hash, ttl).await)
        .await?;
    tokens(state, user, session, refresh_token)
}

fn tokens(
    state: &AppState,
    user: Uuid,
    session: Uuid,
    refresh_token: String,
) -> Result<TokenResponse> {
    let auth = &state.settings.auth;
    Ok(TokenResponse {
        access_token: state.tokens.issue(user, session)?,
        token_type: "bearer",
        expires_in: auth.access_token_ttl_secs,
        refresh_token,
        refresh_expires_in: auth.refresh_token_ttl_secs,
    })
}

/// Revokes sessions of `user` in the caller's transaction. Call [`announced`] once it commits.
pub(crate) async fn revoke_in(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    user: Uuid,
    which: Which,
) -> Result<Vec<Uuid>, sqlx::Error> {
    db::revoke(conn, user, which, state.settings.auth.access_token_ttl()).await
}

/// After the revoking transaction committed: this replica refuses the sessions' tokens from now
/// on (the others hear it from PostgreSQL), and the metric counts them.
pub(crate) fn announced(state: &AppState, revoked: &[Uuid], reason: &'static str) {
    state.revocations.insert(revoked.iter().copied());
    metrics::counter!("auth_sessions_revoked_total", "reason" => reason)
        .increment(revoked.len() as u64);
}

/// Exchange a refresh token for a new access token and refresh token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the refresh token sent is spent", body = TokenResponse),
        (status = 401, description = "Unknown, expired, spent or revoked refresh token (a spent one also revokes its session)", body = Problem, content_type = "application/problem+json"),
        BodyProblems, DatabaseBusy,
    )
)]
async fn refresh(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<Json<TokenResponse>> {
    let old_hash = opaque::hash(&body.refresh_token);
    let (new_token, new_hash) = opaque::generate()?;
    let auth = &state.settings.auth;
    let (refresh_ttl, access_ttl) = (auth.refresh_token_ttl(), auth.access_token_ttl());
    let outcome = state
        .db
        .run(async |conn| db::refresh(conn, &old_hash, &new_hash, refresh_ttl, access_ttl).await)
        .await?;
    let rejected = || {
        metrics::counter!("auth_token_refreshes_total", "outcome" => "rejected").increment(1);
        ApiError::InvalidRefreshToken
    };
    match outcome {
        Refresh::Rotated { session, user } => {
            metrics::counter!("auth_token_refreshes_total", "outcome" => "success").increment(1);
            Ok(Json(tokens(&state, user, session, new_token)?))
        }
        Refresh::Reused { session } => {
            announced(&state, &[session], "refresh_reuse");
            tracing::warn!(%session, "a spent refresh token was presented again; session revoked");
            Err(rejected())
        }
        Refresh::Rejected => Err(rejected()),
    }
}

/// End the caller's session: its access and refresh tokens stop working on every replica.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        Unauthenticated, DatabaseBusy,
    )
)]
async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode> {
    // A token of the release before sessions names none: there is nothing to end, and it
    // expires by itself.
    if let Some(session) = user.session {
        let revoked = revoke(&state, user.id, Which::One(session)).await?;
        announced(&state, &revoked, "logout");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's signed-in devices.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/sessions",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions, newest first", body = SessionList),
        Unauthenticated, DatabaseBusy,
    )
)]
async fn list_sessions(State(state): State<AppState>, user: AuthUser) -> Result<Json<SessionList>> {
    let rows = state
        .db
        .run(async |conn| db::list(conn, user.id).await)
        .await?;
    let items = rows
        .into_iter()
        .map(|row| SessionView {
            current: Some(row.id) == user.session,
            id: row.id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            user_agent: row.user_agent,
        })
        .collect();
    Ok(Json(SessionList { items }))
}

/// Sign out one of the caller's devices.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/sessions/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 404, description = "No such session of the caller's (someone else's looks the same)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        Unauthenticated, DatabaseBusy,
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<StatusCode> {
    let revoked = revoke(&state, user.id, Which::One(id)).await?;
    if revoked.is_empty() {
        return Err(ApiError::NotFound);
    }
    announced(&state, &revoked, "user_request");
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(state: &AppState, user: Uuid, which: Which) -> Result<Vec<Uuid>> {
    let revoked = state
        .db
        .run(async |conn| {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let revoked = revoke_in(&mut tx, state, user, which).await?;
            tx.commit().await?;
            Ok(revoked)
        })
        .await?;
    Ok(revoked)
}
