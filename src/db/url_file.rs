//! Credentials rotation without a restart: the connection string file (`DATABASE_URL_FILE`, a
//! mounted Kubernetes Secret) is read again every few seconds, and a changed string is used for
//! every connection opened from then on, by every pool of the process.
//!
//! Connections already open stay open: PostgreSQL does not end a session when its role's password
//! changes or its login is disabled, so in-flight work never fails. They are replaced as they
//! reach the pool's `max_lifetime`, or sooner when they break. The rotation order that makes this
//! zero-failure (a second role, switch, then retire the first) is in docs/runbooks.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::connect_options;
use crate::config::DatabaseSettings;

/// Re-reads `path` every `settings.url_file_check_secs` for as long as the returned future runs,
/// and points `pools` at the new string when it changes. A file that cannot be read or parsed is
/// logged (never its content) and the pools keep what they have.
pub(crate) async fn follow_url_file(path: PathBuf, settings: DatabaseSettings, pools: Vec<PgPool>) {
    let mut current = read(&path);
    let mut ticks = tokio::time::interval(Duration::from_secs(settings.url_file_check_secs.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(fresh) = read(&path) else {
            continue;
        };
        if current
            .as_ref()
            .is_some_and(|old| old.expose_secret() == fresh.expose_secret())
        {
            continue;
        }
        let options = match connect_options(fresh.expose_secret(), &settings) {
            Ok(options) => options,
            Err(_) => {
                tracing::warn!(
                    path = %path.display(),
                    "the database URL file no longer holds a valid connection string; keeping the previous one"
                );
                continue;
            }
        };
        for pool in &pools {
            // Each pool keeps its own name in `pg_stat_activity`.
            let name = pool
                .connect_options()
                .get_application_name()
                .map(str::to_owned);
            let mut options = options.clone();
            if let Some(name) = name {
                options = options.application_name(&name);
            }
            pool.set_connect_options(options);
        }
        tracing::info!(
            path = %path.display(),
            "the database URL file changed; new connections use the new credentials"
        );
        current = Some(fresh);
    }
}

fn read(path: &PathBuf) -> Option<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(SecretString::from(text.trim_end_matches(['\n', '\r']))),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e.kind(), "cannot read the database URL file");
            None
        }
    }
}
