//! Account SQL. Emails arrive already normalised (trimmed, lower case).

use sqlx::{Acquire, PgConnection, PgExecutor};
use uuid::Uuid;

use super::User;
use crate::db::timed;

pub(crate) struct NewUser<'a> {
    pub(crate) email: &'a str,
    pub(crate) password_hash: &'a str,
    pub(crate) display_name: Option<&'a str>,
}

/// Every statement that gives `users.email` a value first takes this transaction-scoped advisory
/// lock on the value (the second key is `hashtext(email)`), so two of them never race for the same
/// address.
///
/// Why not let the unique constraint decide: a violated constraint is an error, and PostgreSQL
/// logs every error with its detail, `Key (email)=(...) already exists.`, so each taken address
/// would land in the database's own log (on a managed database: in the cloud's log service).
/// Under the lock an address is checked and written by one transaction at a time, and a taken one
/// is reported by a row count instead of an error. The constraint stays, as the last word.
///
/// The first key is "user" in ASCII: two-key advisory locks of another purpose pick another one,
/// and sqlx's migration lock is a one-key lock, a separate space.
const EMAIL_LOCK_CLASS: i32 = 0x7573_6572;

/// Inserts an account; `None` when the email is taken. The lock is taken inside the statement, and
/// `ON CONFLICT` also covers a writer that does not take it.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    new: NewUser<'_>,
) -> Result<Option<User>, sqlx::Error> {
    timed(
        "users_insert",
        sqlx::query_as!(
            User,
            r#"INSERT INTO users (id, email, password_hash, display_name)
               SELECT $1::uuid, $2::text, $3::text, $4::text
                 FROM pg_advisory_xact_lock($5, hashtext($2))
               ON CONFLICT (email) DO NOTHING
               RETURNING id, email, display_name, created_at"#,
            Uuid::now_v7(),
            new.email,
            new.password_hash,
            new.display_name,
            EMAIL_LOCK_CLASS,
        )
        .fetch_optional(db),
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

/// What [`update_profile`] did.
pub(crate) enum ProfileChange {
    Updated(User),
    EmailTaken,
    /// The account is gone (deleted since the token was issued).
    NoAccount,
}

/// Changes the fields given (`display_name: Some(None)` clears it). A new email is checked and
/// written under the email lock (see [`EMAIL_LOCK_CLASS`]), in one transaction, after the lock is
/// held: under READ COMMITTED each statement sees what was committed before it started, so the
/// check sees any account that took the address while this one waited for the lock.
pub(crate) async fn update_profile(
    conn: &mut PgConnection,
    id: Uuid,
    email: Option<&str>,
    display_name: Option<Option<&str>>,
) -> Result<ProfileChange, sqlx::Error> {
    let changed =
        |user: Option<User>| user.map_or(ProfileChange::NoAccount, ProfileChange::Updated);
    let Some(email) = email else {
        return Ok(changed(update(conn, id, None, display_name).await?));
    };
    let mut tx = conn.begin().await?;
    timed(
        "users_lock_email",
        sqlx::query!(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            EMAIL_LOCK_CLASS,
            email
        )
        .execute(&mut *tx),
    )
    .await?;
    let taken = timed(
        "users_email_taken",
        sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND id <> $2) AS "taken!""#,
            email,
            id
        )
        .fetch_one(&mut *tx),
    )
    .await?;
    let change = if taken {
        ProfileChange::EmailTaken
    } else {
        changed(update(&mut *tx, id, Some(email), display_name).await?)
    };
    // Nothing was written when the address is taken; committing ends the transaction either way.
    tx.commit().await?;
    Ok(change)
}

async fn update(
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
