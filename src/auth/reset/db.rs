//! Password-reset SQL. Tokens are stored as hashes ([`crate::auth::opaque`]).

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::timed;

/// Stores a new reset token for `user`, valid for `ttl`, and drops the account's expired or used
/// ones (bounded by the account's own requests, which the throttle bounds).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    user: Uuid,
    hash: &[u8],
    ttl: Duration,
) -> Result<(), sqlx::Error> {
    timed(
        "password_reset_tokens_insert",
        sqlx::query!(
            r#"INSERT INTO password_reset_tokens (token_hash, user_id, expires_at)
               VALUES ($1, $2, now() + make_interval(secs => $3))"#,
            hash,
            user,
            ttl.as_secs_f64(),
        )
        .execute(&mut *conn),
    )
    .await?;
    timed(
        "password_reset_tokens_cleanup",
        sqlx::query!(
            r#"DELETE FROM password_reset_tokens
               WHERE user_id = $1 AND (used_at IS NOT NULL OR expires_at < now())"#,
            user,
        )
        .execute(conn),
    )
    .await?;
    Ok(())
}

/// Whether `hash` is a live token (unused, unexpired), without spending it: checked before the
/// new password is hashed, so a made-up token costs no hash.
pub(crate) async fn is_live(conn: &mut PgConnection, hash: &[u8]) -> Result<bool, sqlx::Error> {
    timed(
        "password_reset_tokens_get",
        sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM password_reset_tokens
                              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now())
               AS "live!""#,
            hash,
        )
        .fetch_one(conn),
    )
    .await
}

/// Spends a live token, returning its account; `None` when it is unknown, used or expired. The
/// update's row lock makes two confirmations with one token spend it once.
pub(crate) async fn spend(
    conn: &mut PgConnection,
    hash: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    timed(
        "password_reset_tokens_spend",
        sqlx::query_scalar!(
            r#"UPDATE password_reset_tokens SET used_at = now()
               WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
               RETURNING user_id"#,
            hash,
        )
        .fetch_optional(conn),
    )
    .await
}

/// After a reset: the account's other reset links stop working, and its failed logins are
/// forgiven (whoever set the new password proved they own the mailbox).
pub(crate) async fn settle(conn: &mut PgConnection, user: Uuid) -> Result<(), sqlx::Error> {
    timed(
        "password_reset_tokens_delete",
        sqlx::query!("DELETE FROM password_reset_tokens WHERE user_id = $1", user)
            .execute(&mut *conn),
    )
    .await?;
    timed(
        "auth_throttle_release",
        sqlx::query!(
            r#"DELETE FROM auth_throttle
               WHERE scope IN ('login_account_address', 'login_account')
                 AND account = (SELECT email FROM users WHERE id = $1)"#,
            user,
        )
        .execute(conn),
    )
    .await?;
    Ok(())
}
