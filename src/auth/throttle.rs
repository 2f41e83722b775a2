//! Login and registration throttling, kept in PostgreSQL so every replica shares one count.
//!
//! Each counted thing is a bucket (a row of `auth_throttle`) with a fixed window. An attempt is
//! *reserved* (the count raised, under the row's lock) before the password is hashed; a bucket at
//! its limit refuses the reservation, and the request answers 429 without hashing. So parallel
//! guesses cannot overrun a limit: 40 concurrent wrong passwords meet the row one at a time, the
//! first five get their reservation and the rest are refused. A login that succeeds gives its
//! reservation back, so only failures stay counted; a request that ends without a verdict (hashing
//! queue full, database error) gives it back too. A request cut off mid-hash keeps its
//! reservation: the safe side.
//!
//! Time is PostgreSQL's `now()`, one clock for every replica. Rows of windows that have ended are
//! deleted a few at a time after each reservation, so no cron job is needed and the table holds
//! about one window of activity.

use std::time::Duration;

use sqlx::{Connection as _, PgConnection};

use crate::config::AuthSettings;
use crate::db::{Db, timed};
use crate::error::ApiError;
use crate::extract::ClientAddr;

/// Expired rows removed per reservation: bounded work per request, and more than any request
/// creates (three rows), so the table cannot outgrow its live windows.
const CLEANUP_BATCH: i64 = 100;

/// One counter: what it counts, and the limit per window.
struct Bucket {
    scope: &'static str,
    account: String,
    address: String,
    limit: u32,
    window: Duration,
}

/// A login attempt whose place is reserved in every bucket that counts it.
#[must_use = "a reservation is settled by `succeeded`, `failed` or `release`"]
pub(crate) struct LoginAttempt {
    buckets: Vec<Bucket>,
}

impl LoginAttempt {
    /// Reserves the attempt for `account` (a normalised email) from `client`: the pair's bucket
    /// (small limit: a stranger's guesses lock out only the stranger's address), the account's
    /// bucket over all addresses (larger: distributed guessing) and the address's bucket over all
    /// accounts (larger still: one address spraying many accounts, or many people behind one
    /// NAT). In that order, always, so two reservations never wait on each other in a cycle.
    pub(crate) async fn reserve(
        db: &Db,
        settings: &AuthSettings,
        account: &str,
        client: &ClientAddr,
    ) -> Result<Self, ApiError> {
        let window = Duration::from_secs(settings.login_window_secs);
        let address = client.bucket();
        let mut buckets = vec![
            Bucket {
                scope: "login_account_address",
                account: account.to_owned(),
                address: address.clone().unwrap_or_default(),
                limit: settings.login_max_failures_per_account_address,
                window,
            },
            Bucket {
                scope: "login_account",
                account: account.to_owned(),
                address: String::new(),
                limit: settings.login_max_failures_per_account,
                window,
            },
        ];
        if let Some(address) = address {
            buckets.push(Bucket {
                scope: "login_address",
                account: String::new(),
                address,
                limit: settings.login_max_failures_per_address,
                window,
            });
        }
        reserve_all(db, &buckets).await?;
        Ok(Self { buckets })
    }

    /// The password was right: the pair's earlier failures are forgiven (the owner at their own
    /// address), and the reservation in the wider buckets is given back. Their failures stay:
    /// someone else's guesses are not undone by the owner logging in.
    pub(crate) async fn succeeded(self, db: &Db) {
        let (pair, wider) = self.buckets.split_at(1);
        let settled = db
            .run(async |conn| {
                forget(&mut *conn, &pair[0]).await?;
                give_back(&mut *conn, wider).await
            })
            .await;
        if let Err(e) = settled {
            // The login stands; the attempt only stays counted until its window ends.
            tracing::warn!(error = %e, "could not settle a successful login's throttle reservation");
        }
    }

    /// The password was wrong: the reservation stays, counted as a failure.
    pub(crate) fn failed(self) {}

    /// No verdict was reached (the request failed for another reason): nothing is counted.
    pub(crate) async fn release(self, db: &Db) {
        if let Err(e) = db
            .run(async |conn| give_back(conn, &self.buckets).await)
            .await
        {
            // The attempt then counts as a failure until its window ends: the safe side.
            tracing::warn!(error = %e, "could not give back a login throttle reservation");
        }
    }
}

/// Reserves one registration from `client`'s address. Every registration counts, successful or
/// not: each costs a password hash. Without a known address there is nothing to count by.
pub(crate) async fn reserve_registration(
    db: &Db,
    settings: &AuthSettings,
    client: &ClientAddr,
) -> Result<(), ApiError> {
    let Some(address) = client.bucket() else {
        return Ok(());
    };
    let bucket = Bucket {
        scope: "register_address",
        account: String::new(),
        address,
        limit: settings.register_max_per_address,
        window: Duration::from_secs(settings.register_window_secs),
    };
    reserve_all(db, std::slice::from_ref(&bucket)).await
}

/// Reserves one password-reset request for `email` from `client`: per email, so nobody can
/// flood a person's inbox, and per address, so one client cannot probe or spam many. Every
/// request counts, whether or not the account exists (the answer must not tell).
pub(crate) async fn reserve_password_reset(
    db: &Db,
    settings: &AuthSettings,
    email: &str,
    client: &ClientAddr,
) -> Result<(), ApiError> {
    let window = Duration::from_secs(settings.password_reset_window_secs);
    let mut buckets = vec![Bucket {
        scope: "reset_email",
        account: email.to_owned(),
        address: String::new(),
        limit: settings.password_reset_max_per_email,
        window,
    }];
    if let Some(address) = client.bucket() {
        buckets.push(Bucket {
            scope: "reset_address",
            account: String::new(),
            address,
            limit: settings.password_reset_max_per_address,
            window,
        });
    }
    reserve_all(db, &buckets).await
}

/// Takes a place in every bucket or in none: the first bucket at its limit refuses the whole
/// reservation with the time until that bucket's window ends.
async fn reserve_all(db: &Db, buckets: &[Bucket]) -> Result<(), ApiError> {
    let refused = db
        .run(async |conn| {
            let mut tx = conn.begin().await?;
            for bucket in buckets {
                if !take_place(&mut tx, bucket).await? {
                    let wait = time_left(&mut tx, bucket).await?;
                    tx.rollback().await?;
                    return Ok(Some(wait));
                }
            }
            tx.commit().await?;
            Ok(None)
        })
        .await?;
    if let Some(wait) = refused {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil() as u64,
        });
    }
    // Outside the reservation's transaction, so clean-ups of two requests never hold rows the
    // other's reservation waits for; and never the request's failure: it only bounds the table.
    // Only after a reservation that may have added rows, so a refusal costs nothing more.
    if let Err(e) = db.run(async |conn| delete_expired(conn).await).await {
        tracing::warn!(error = %e, "could not delete expired login throttle rows");
    }
    Ok(())
}

/// Raises the bucket's count unless it is at its limit; a window that has ended starts over.
/// The upsert locks the row (even when its condition refuses the update), which is what orders
/// concurrent reservations of one bucket.
async fn take_place(conn: &mut PgConnection, bucket: &Bucket) -> Result<bool, sqlx::Error> {
    let taken = timed(
        "auth_throttle_reserve",
        sqlx::query_scalar!(
            r#"INSERT INTO auth_throttle AS t (scope, account, address, attempts, window_ends)
               VALUES ($1, $2, $3, 1, now() + make_interval(secs => $4))
               ON CONFLICT (scope, account, address) DO UPDATE SET
                   attempts = CASE WHEN t.window_ends <= now() THEN 1 ELSE t.attempts + 1 END,
                   window_ends = CASE WHEN t.window_ends <= now() THEN excluded.window_ends
                                      ELSE t.window_ends END
               WHERE t.window_ends <= now() OR t.attempts < $5
               RETURNING t.attempts"#,
            bucket.scope,
            bucket.account,
            bucket.address,
            bucket.window.as_secs_f64(),
            i32::try_from(bucket.limit).unwrap_or(i32::MAX),
        )
        .fetch_optional(conn),
    )
    .await?;
    Ok(taken.is_some())
}

async fn time_left(conn: &mut PgConnection, bucket: &Bucket) -> Result<Duration, sqlx::Error> {
    let secs = sqlx::query_scalar!(
        r#"SELECT greatest(extract(epoch FROM window_ends - now()), 0)::float8 AS "secs!"
           FROM auth_throttle WHERE scope = $1 AND account = $2 AND address = $3"#,
        bucket.scope,
        bucket.account,
        bucket.address,
    )
    .fetch_optional(conn)
    .await?;
    Ok(Duration::from_secs_f64(secs.unwrap_or(1.0).max(1.0)))
}

/// Gives one reserved place back in each bucket (never below zero, never in a newer window).
/// One statement per row: a statement holding one row while waiting for another could wait in
/// a cycle with a reservation that holds the second and waits for the first.
async fn give_back(conn: &mut PgConnection, buckets: &[Bucket]) -> Result<(), sqlx::Error> {
    for bucket in buckets {
        timed(
            "auth_throttle_release",
            sqlx::query!(
                r#"UPDATE auth_throttle SET attempts = attempts - 1
                   WHERE scope = $1 AND account = $2 AND address = $3
                     AND attempts > 0 AND window_ends > now()"#,
                bucket.scope,
                bucket.account,
                bucket.address,
            )
            .execute(&mut *conn),
        )
        .await?;
    }
    Ok(())
}

async fn forget(conn: &mut PgConnection, bucket: &Bucket) -> Result<(), sqlx::Error> {
    timed(
        "auth_throttle_release",
        sqlx::query!(
            "DELETE FROM auth_throttle WHERE scope = $1 AND account = $2 AND address = $3",
            bucket.scope,
            bucket.account,
            bucket.address,
        )
        .execute(conn),
    )
    .await?;
    Ok(())
}

/// Deletes a bounded batch of rows whose window has ended; rows another request holds are
/// skipped (that request is resetting them anyway).
async fn delete_expired(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    timed(
        "auth_throttle_cleanup",
        sqlx::query!(
            r#"DELETE FROM auth_throttle WHERE ctid = ANY (ARRAY(
                   SELECT ctid FROM auth_throttle WHERE window_ends < now()
                   ORDER BY window_ends LIMIT $1 FOR UPDATE SKIP LOCKED))"#,
            CLEANUP_BATCH,
        )
        .execute(conn),
    )
    .await?;
    Ok(())
}
