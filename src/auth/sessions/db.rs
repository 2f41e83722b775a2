//! Session SQL: creating, refreshing, listing and revoking sessions.
//!
//! Revoking deletes the session (its refresh tokens go with it) and records the revocation for
//! the replicas ([`crate::revocations::record`]), in one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::db::timed;
use crate::revocations;

/// Expired sessions removed per login: bounded work, more than one login creates.
const CLEANUP_BATCH: i64 = 100;

pub(crate) struct SessionRow {
    pub(crate) id: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: DateTime<Utc>,
    pub(crate) user_agent: Option<String>,
}

/// What presenting a refresh token led to.
pub(crate) enum Refresh {
    /// The token was live: it is spent now, and `new_hash` is the session's next one.
    Rotated { session: Uuid, user: Uuid },
    /// The token was spent already: someone holds a copy. The session is revoked.
    Reused { session: Uuid },
    /// Unknown, or its session has ended.
    Rejected,
}

/// Creates a session for `user` with its first refresh token.
pub(crate) async fn create(
    conn: &mut PgConnection,
    user: Uuid,
    user_agent: Option<&str>,
    refresh_hash: &[u8],
    refresh_ttl: Duration,
) -> Result<Uuid, sqlx::Error> {
    let session = Uuid::now_v7();
    let mut tx = conn.begin().await?;
    timed(
        "sessions_insert",
        sqlx::query!(
            r#"INSERT INTO sessions (id, user_id, expires_at, user_agent)
               VALUES ($1, $2, now() + make_interval(secs => $3), $4)"#,
            session,
            user,
            refresh_ttl.as_secs_f64(),
            user_agent,
        )
        .execute(&mut *tx),
    )
    .await?;
    insert_refresh_token(&mut tx, session, refresh_hash).await?;
    tx.commit().await?;
    // Outside the transaction, and bounded: sessions nobody refreshed in time.
    timed(
        "sessions_cleanup",
        sqlx::query!(
            r#"DELETE FROM sessions WHERE id = ANY (ARRAY(
                   SELECT id FROM sessions WHERE expires_at < now()
                   ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))"#,
            CLEANUP_BATCH,
        )
        .execute(&mut *conn),
    )
    .await?;
    Ok(session)
}

async fn insert_refresh_token(
    conn: &mut PgConnection,
    session: Uuid,
    hash: &[u8],
) -> Result<(), sqlx::Error> {
    timed(
        "refresh_tokens_insert",
        sqlx::query!(
            "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
            hash,
            session,
        )
        .execute(conn),
    )
    .await?;
    Ok(())
}

/// Spends the refresh token `old_hash` and gives its session `new_hash`; a spent token revokes
/// its session instead. The token's and the session's rows are locked first, so of two requests
/// with one token exactly one rotates and the other is seen as reuse.
pub(crate) async fn refresh(
    conn: &mut PgConnection,
    old_hash: &[u8],
    new_hash: &[u8],
    refresh_ttl: Duration,
    access_ttl: Duration,
) -> Result<Refresh, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let found = timed(
        "refresh_tokens_get",
        sqlx::query!(
            r#"SELECT r.session_id, r.spent, s.user_id, s.expires_at > now() AS "live!"
               FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
               WHERE r.token_hash = $1
               FOR UPDATE OF r, s"#,
            old_hash,
        )
        .fetch_optional(&mut *tx),
    )
    .await?;
    let outcome = match found {
        None => Refresh::Rejected,
        Some(row) if row.spent => {
            delete_and_record(&mut tx, &[row.session_id], access_ttl).await?;
            Refresh::Reused {
                session: row.session_id,
            }
        }
        Some(row) if !row.live => Refresh::Rejected,
        Some(row) => {
            timed(
                "refresh_tokens_spend",
                sqlx::query!(
                    "UPDATE refresh_tokens SET spent = true WHERE token_hash = $1",
                    old_hash
                )
                .execute(&mut *tx),
            )
            .await?;
            insert_refresh_token(&mut tx, row.session_id, new_hash).await?;
            timed(
                "sessions_touch",
                sqlx::query!(
                    r#"UPDATE sessions SET last_used_at = now(),
                           expires_at = now() + make_interval(secs => $2)
                       WHERE id = $1"#,
                    row.session_id,
                    refresh_ttl.as_secs_f64(),
                )
                .execute(&mut *tx),
            )
            .await?;
            Refresh::Rotated {
                session: row.session_id,
                user: row.user_id,
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The live sessions of `user`, newest first.
pub(crate) async fn list(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    timed(
        "sessions_list",
        sqlx::query_as!(
            SessionRow,
            r#"SELECT id, created_at, last_used_at, user_agent FROM sessions
               WHERE user_id = $1 AND expires_at > now()
               ORDER BY created_at DESC"#,
            user,
        )
        .fetch_all(conn),
    )
    .await
}

/// Which of an account's sessions to revoke.
#[derive(Clone, Copy)]
pub(crate) enum Which {
    /// This one, if it is the account's.
    One(Uuid),
    /// All of them but this one (`None`: all).
    AllBut(Option<Uuid>),
}

/// Revokes sessions of `user` inside the caller's transaction; returns the revoked ids (empty
/// when there was nothing to revoke, such as another account's session).
pub(crate) async fn revoke(
    conn: &mut PgConnection,
    user: Uuid,
    which: Which,
    access_ttl: Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (only, except) = match which {
        Which::One(id) => (Some(id), None),
        Which::AllBut(keep) => (None, keep),
    };
    let ids = timed(
        "sessions_revoke",
        sqlx::query_scalar!(
            r#"SELECT id FROM sessions
               WHERE user_id = $1 AND ($2::uuid IS NULL OR id = $2)
                 AND ($3::uuid IS NULL OR id <> $3)
               FOR UPDATE"#,
            user,
            only,
            except,
        )
        .fetch_all(&mut *conn),
    )
    .await?;
    delete_and_record(conn, &ids, access_ttl).await?;
    Ok(ids)
}

async fn delete_and_record(
    conn: &mut PgConnection,
    ids: &[Uuid],
    access_ttl: Duration,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    timed(
        "sessions_delete",
        sqlx::query!("DELETE FROM sessions WHERE id = ANY($1)", ids).execute(&mut *conn),
    )
    .await?;
    revocations::record(conn, ids, access_ttl).await
}
