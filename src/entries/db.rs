//! Entry SQL. Every statement is scoped by `user_id`, so another person's entry is simply absent.

use chrono::NaiveDate;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{Entry, EntryPatch, Mood};
use crate::db::timed;

pub(crate) struct NewEntryRow<'a> {
    pub(crate) title: Option<&'a str>,
    pub(crate) content: &'a str,
    pub(crate) mood: Option<Mood>,
    pub(crate) tags: &'a [String],
    pub(crate) entry_date: NaiveDate,
}

pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    user: Uuid,
    new: NewEntryRow<'_>,
) -> Result<Entry, sqlx::Error> {
    timed(
        "entries_create",
        sqlx::query_as!(
            Entry,
            r#"INSERT INTO entries (id, user_id, title, content, mood, tags, entry_date)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING id, title, content, mood AS "mood: Mood", tags, entry_date,
                         created_at, updated_at, version"#,
            Uuid::now_v7(),
            user,
            new.title,
            new.content,
            new.mood as Option<Mood>,
            new.tags,
            new.entry_date,
        )
        .fetch_one(db),
    )
    .await
}

pub(crate) async fn get(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Entry>, sqlx::Error> {
    timed(
        "entries_get",
        sqlx::query_as!(
            Entry,
            r#"SELECT id, title, content, mood AS "mood: Mood", tags, entry_date,
                      created_at, updated_at, version
               FROM entries WHERE id = $1 AND user_id = $2"#,
            id,
            user,
        )
        .fetch_optional(db),
    )
    .await
}

/// Applies the fields present in `patch` and bumps the version; with `expected_version`, only
/// if the stored version still matches. `None` means absent, not the caller's, or stale.
pub(crate) async fn update(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
    patch: &EntryPatch,
    expected_version: Option<i32>,
) -> Result<Option<Entry>, sqlx::Error> {
    timed(
        "entries_update",
        sqlx::query_as!(
            Entry,
            r#"UPDATE entries SET
                   content = COALESCE($3, content),
                   title = CASE WHEN $4 THEN $5 ELSE title END,
                   mood = CASE WHEN $6 THEN $7 ELSE mood END,
                   tags = COALESCE($8, tags),
                   entry_date = COALESCE($9, entry_date),
                   version = version + 1,
                   updated_at = now()
               WHERE id = $1 AND user_id = $2 AND ($10::int IS NULL OR version = $10)
               RETURNING id, title, content, mood AS "mood: Mood", tags, entry_date,
                         created_at, updated_at, version"#,
            id,
            user,
            patch.content.as_deref(),
            patch.title.is_some(),
            patch.title.clone().flatten(),
            patch.mood.is_some(),
            patch.mood.flatten() as Option<Mood>,
            patch.tags.as_deref(),
            patch.entry_date,
            expected_version,
        )
        .fetch_optional(db),
    )
    .await
}

/// Deletes the entry; false when there was none of the caller's to delete.
pub(crate) async fn delete(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = timed(
        "entries_delete",
        sqlx::query!(
            "DELETE FROM entries WHERE id = $1 AND user_id = $2",
            id,
            user
        )
        .execute(db),
    )
    .await?;
    Ok(done.rows_affected() == 1)
}
