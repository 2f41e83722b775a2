//! Account SQL. Emails arrive already normalised (trimmed, lower case).

use sqlx::PgExecutor;
use uuid::Uuid;

use super::User;
use crate::db::timed;

pub(crate) struct NewUser<'a> {
    pub(crate) email: &'a str,
    pub(crate) password_hash: &'a str,
    pub(crate) display_name: Option<&'a str>,
}

/// Inserts an account; a taken email surfaces as the `users_email_key` violation (409).
pub(crate) async fn insert(db: impl PgExecutor<'_>, new: NewUser<'_>) -> Result<User, sqlx::Error> {
    timed(
        "users_insert",
        sqlx::query_as!(
            User,
            r#"INSERT INTO users (id, email, password_hash, display_name)
               VALUES ($1, $2, $3, $4)
               RETURNING id, email, display_name, created_at"#,
            Uuid::now_v7(),
            new.email,
            new.password_hash,
            new.display_name,
        )
        .fetch_one(db),
    )
    .await
}

pub(crate) async fn find_by_id(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    timed(
        "users_get",
        sqlx::query_as!(
            User,
            "SELECT id, email, display_name, created_at FROM users WHERE id = $1",
            id
        )
        .fetch_optional(db),
    )
    .await
}

/// Whether the account exists: asked only after a lookup came back empty, to tell a token whose
/// account is gone (401) from a plain miss (404).
pub(crate) async fn exists(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    timed(
        "users_exists",
        sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS "exists!""#,
            id
        )
        .fetch_one(db),
    )
    .await
}

pub(crate) struct Credentials {
    pub(crate) id: Uuid,
    pub(crate) password_hash: String,
}

pub(crate) async fn find_credentials(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    timed(
        "users_get_credentials",
        sqlx::query_as!(
            Credentials,
            "SELECT id, password_hash FROM users WHERE email = $1",
            email
        )
        .fetch_optional(db),
    )
    .await
}

pub(crate) async fn set_password(
    db: impl PgExecutor<'_>,
    id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    timed(
        "users_set_password",
        sqlx::query!(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            id,
            password_hash
        )
        .execute(db),
    )
    .await?;
    Ok(())
}

/// Changes the fields given (`display_name: Some(None)` clears it); a taken email surfaces as the
/// `users_email_key` violation (409). `None` when the account is gone.
pub(crate) async fn update_profile(
    db: impl PgExecutor<'_>,
    id: Uuid,
    email: Option<&str>,
    display_name: Option<Option<&str>>,
) -> Result<Option<User>, sqlx::Error> {
    timed(
        "users_update",
        sqlx::query_as!(
            User,
            r#"UPDATE users SET
                   email = COALESCE($2, email),
                   display_name = CASE WHEN $3 THEN $4 ELSE display_name END
               WHERE id = $1
               RETURNING id, email, display_name, created_at"#,
            id,
            email,
            display_name.is_some(),
            display_name.flatten(),
        )
        .fetch_optional(db),
    )
    .await
}

/// Erases the account; its entries, sessions, refresh and reset tokens go with it (foreign keys
/// cascade), and its throttle rows are deleted here. Run inside the caller's transaction, after
/// its sessions' revocations are recorded.
pub(crate) async fn delete(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let email = timed(
        "users_delete",
        sqlx::query_scalar!("DELETE FROM users WHERE id = $1 RETURNING email", id)
            .fetch_optional(&mut *conn),
    )
    .await?;
    let Some(email) = email else {
        return Ok(false);
    };
    timed(
        "auth_throttle_delete_account",
        sqlx::query!(
            r#"DELETE FROM auth_throttle
               WHERE scope IN ('login_account_address', 'login_account', 'reset_email')
                 AND account = $1"#,
            email,
        )
        .execute(conn),
    )
    .await?;
    Ok(true)
}
