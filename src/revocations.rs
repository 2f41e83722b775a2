//! Which sessions are revoked, known to every replica without a query per request.
//!
//! A revocation is written to `session_revocations` and announced with `NOTIFY` in the same
//! transaction, so the announcement goes out exactly when it commits. Every replica listens on
//! one connection of its own and adds what it hears to an in-memory set, which the token check
//! reads (a hash lookup, no query). The replica that revoked adds to its own set before it
//! answers, so its next request already sees it.
//!
//! While the listener is not connected (start-up, or the connection lost), notifications may be
//! missed, so the set is not trusted: the token check asks the table instead, one indexed query,
//! until the listener is back and has reloaded the whole table. Listening starts before the
//! reload, so a revocation committed in between arrives either way. A connection that dies
//! silently (no reset, no error) is caught by a heartbeat query every [`HEARTBEAT`].
//!
//! Entries expire when the last access token they could refuse has expired (revocation time plus
//! the access-token lifetime), so the set holds at most one lifetime's revocations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::{Db, timed};
use crate::error::ApiError;

/// The `NOTIFY` channel; the payload is the revoked session ids, comma-separated.
const CHANNEL: &str = "echodiary_sessions_revoked";
/// Ids per notification: PostgreSQL caps a payload at 8,000 bytes (37 bytes per id here).
const IDS_PER_NOTIFICATION: usize = 200;
/// How long the listener waits for a notification before checking its connection still works.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);
/// Longest the heartbeat query may take before the connection counts as lost.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between attempts to reconnect the listener.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The revoked sessions this replica knows of, and whether that knowledge is complete.
pub(crate) struct Revocations {
    revoked: RwLock<HashMap<Uuid, Instant>>,
    /// True while the listener is connected and has loaded the table since connecting.
    synced: AtomicBool,
    /// How long a revocation must be remembered: the access-token lifetime.
    lifetime: Duration,
}

impl Revocations {
    pub(crate) fn new(lifetime: Duration) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            synced: AtomicBool::new(false),
            lifetime,
        }
    }

    /// `Some(revoked)` when this replica's knowledge is complete; `None` while the listener is
    /// disconnected or catching up, when only the table can say.
    pub(crate) fn is_revoked(&self, session: Uuid) -> Option<bool> {
        let known = self
            .revoked
            .read()
            .get(&session)
            .is_some_and(|until| *until > Instant::now());
        if known {
            return Some(true);
        }
        self.synced.load(Ordering::Acquire).then_some(false)
    }

    /// Remembers sessions revoked just now (by this replica, or announced by another).
    pub(crate) fn insert(&self, sessions: impl IntoIterator<Item = Uuid>) {
        let until = Instant::now() + self.lifetime;
        let mut revoked = self.revoked.write();
        for session in sessions {
            revoked.insert(session, until);
        }
    }

    fn apply(&self, payload: &str) {
        let ids = payload.split(',').filter_map(|id| Uuid::parse_str(id).ok());
        self.insert(ids);
    }

    /// Replaces the set with the table's content and trusts it from now on.
    fn reload(&self, rows: Vec<(Uuid, f64)>) {
        let now = Instant::now();
        let mut fresh: HashMap<Uuid, Instant> = rows
            .into_iter()
            .map(|(id, secs_left)| (id, now + Duration::from_secs_f64(secs_left.max(0.0))))
            .collect();
        let mut revoked = self.revoked.write();
        // What is already known stays: the reload only adds, it never un-revokes.
        for (id, until) in revoked.drain() {
            if until > now {
                fresh.entry(id).or_insert(until);
            }
        }
        *revoked = fresh;
        self.synced.store(true, Ordering::Release);
    }

    fn lost(&self) {
        self.synced.store(false, Ordering::Release);
    }

    /// Forgets revocations whose tokens have all expired.
    fn prune(&self) {
        let now = Instant::now();
        self.revoked.write().retain(|_, until| *until > now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.revoked.read().len()
    }
}

/// Records revoked sessions in the table and announces them, inside the caller's transaction:
/// both take effect when it commits. Call [`Revocations::insert`] after the commit.
pub(crate) async fn record(
    conn: &mut PgConnection,
    sessions: &[Uuid],
    lifetime: Duration,
) -> Result<(), sqlx::Error> {
    if sessions.is_empty() {
        return Ok(());
    }
    timed(
        "session_revocations_insert",
        sqlx::query!(
            r#"INSERT INTO session_revocations (session_id, expires_at)
               SELECT id, now() + make_interval(secs => $2) FROM unnest($1::uuid[]) AS t(id)
               ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at"#,
            sessions,
            lifetime.as_secs_f64(),
        )
        .execute(&mut *conn),
    )
    .await?;
    for chunk in sessions.chunks(IDS_PER_NOTIFICATION) {
        let payload = chunk
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, payload)
            .execute(&mut *conn)
            .await?;
    }
    // Bounded clean-up of revocations no token can need any more: the table stays one
    // lifetime's worth.
    timed(
        "session_revocations_cleanup",
        sqlx::query!(
            r#"DELETE FROM session_revocations WHERE session_id = ANY (ARRAY(
                   SELECT session_id FROM session_revocations WHERE expires_at < now()
                   ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))"#
        )
        .execute(&mut *conn),
    )
    .await?;
    Ok(())
}

/// The table's answer, for while the in-memory set is not trusted.
pub(crate) async fn is_revoked_in_db(db: &Db, session: Uuid) -> Result<bool, ApiError> {
    let revoked = db
        .run(async |conn| {
            timed(
                "session_revocations_get",
                sqlx::query_scalar!(
                    r#"SELECT EXISTS (SELECT 1 FROM session_revocations
                                      WHERE session_id = $1 AND expires_at > now()) AS "revoked!""#,
                    session
                )
                .fetch_one(conn),
            )
            .await
        })
        .await?;
    Ok(revoked)
}

/// Follows revocations for the life of the process: listens, reloads, and after any failure
/// reconnects and reloads again. `pool` is the listener's own (one connection), so a busy
/// request pool cannot starve it.
pub(crate) async fn follow(pool: PgPool, revocations: std::sync::Arc<Revocations>) {
    loop {
        let error = listen(&pool, &revocations).await;
        revocations.lost();
        tracing::warn!(error = %error, "session revocation listener disconnected; reconnecting");
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Returns only when the connection fails.
async fn listen(pool: &PgPool, revocations: &Revocations) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => return e,
    };
    // A lost connection is this function's to handle (by returning), not sqlx's.
    listener.eager_reconnect(false);
    if let Err(e) = listener.listen(CHANNEL).await {
        return e;
    }
    match load(&mut listener).await {
        Ok(rows) => revocations.reload(rows),
        Err(e) => return e,
    }
    tracing::info!("following session revocations");
    loop {
        match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => revocations.apply(notification.payload()),
            Ok(Ok(None)) => return sqlx::Error::Protocol("connection lost".into()),
            Ok(Err(e)) => return e,
            Err(_quiet) => {
                revocations.prune();
                let ping = sqlx::query("SELECT 1").execute(&mut listener);
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, ping).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e,
                    Err(_) => return sqlx::Error::Protocol("heartbeat timed out".into()),
                }
            }
        }
    }
}

async fn load(listener: &mut PgListener) -> Result<Vec<(Uuid, f64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT session_id, extract(epoch FROM expires_at - now())::float8 AS "secs_left!"
           FROM session_revocations WHERE expires_at > now()"#
    )
    .fetch_all(listener)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.session_id, row.secs_left))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_until_synced_then_known() {
        let set = Revocations::new(Duration::from_secs(60));
        let session = Uuid::now_v7();
        assert_eq!(set.is_revoked(session), None);
        set.reload(Vec::new());
        assert_eq!(set.is_revoked(session), Some(false));
        set.apply(&format!("{session},not-a-uuid"));
        assert_eq!(set.is_revoked(session), Some(true));
        set.lost();
        // A known revocation stays known even while the listener is away.
        assert_eq!(set.is_revoked(session), Some(true));
        assert_eq!(set.is_revoked(Uuid::now_v7()), None);
    }

    #[test]
    fn expired_revocations_are_forgotten() {
        let set = Revocations::new(Duration::ZERO);
        set.reload(vec![(Uuid::now_v7(), 0.0)]);
        set.insert([Uuid::now_v7()]);
        assert_eq!(set.is_revoked(Uuid::now_v7()), Some(false));
        set.prune();
        assert_eq!(set.len(), 0);
    }
}
