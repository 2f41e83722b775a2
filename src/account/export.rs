//! `GET /api/v1/users/me/export`: the whole account as one JSON document, `{user, entries}`.
//!
//! Streamed: the body is produced one page of entries at a time as the client reads it (hyper
//! asks for the next chunk only when the previous one is written), so memory stays flat for any
//! number of entries and a slow client holds no database connection. A failure after the first
//! byte cannot change the status any more: the connection is cut, so the client sees a
//! truncated (invalid) document, never a complete-looking partial one.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::db::Db;
use crate::entries::{self, ExportPosition};
use crate::error::{ApiError, Result};
use crate::extract::AuthUser;
use crate::openapi::{DatabaseBusy, Unauthenticated};
use crate::state::AppState;
use crate::users::{User, db};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// The export document (for the OpenAPI description; the body is written piece by piece).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Export {
    user: User,
    /// Every entry, newest `entry_date` first.
    entries: Vec<entries::model::Entry>,
}

/// Where the body is: the entries from a position on, then the closing bracket.
enum Part {
    Entries(ExportPosition),
    Close,
    Done,
}

/// Download the whole account: the profile and every entry, as one JSON document.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/export",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account and every entry; streamed, as an attachment", body = Export,
         headers(("Content-Disposition" = String, description = "`attachment; filename=\"echodiary-export.json\"`"))),
        Unauthenticated, DatabaseBusy,
    )
)]
async fn export(State(db): State<Db>, user: AuthUser) -> Result<Response> {
    let profile = db
        .run(async |conn| db::find_by_id(conn, user.id).await)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let mut head = br#"{"user":"#.to_vec();
    serde_json::to_writer(&mut head, &profile).map_err(|e| ApiError::Internal(e.into()))?;
    head.extend_from_slice(br#","entries":["#);
    let rest = stream::try_unfold(Part::Entries(ExportPosition::start()), move |part| {
        next_part(db.clone(), user.id, part)
    });
    let body = stream::once(async { Ok::<_, ApiError>(Bytes::from(head)) })
        .chain(rest)
        .inspect_err(|e| tracing::error!(error = %e, "account export cut short"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                r#"attachment; filename="echodiary-export.json""#,
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

async fn next_part(db: Db, user: Uuid, part: Part) -> Result<Option<(Bytes, Part)>> {
    Ok(match part {
        Part::Entries(position) => {
            let (json, next) = entries::export_page(&db, user, position).await?;
            let after = next.map_or(Part::Close, Part::Entries);
            Some((Bytes::from(json), after))
        }
        Part::Close => Some((Bytes::from_static(b"]}"), Part::Done)),
        Part::Done => None,
    })
}
