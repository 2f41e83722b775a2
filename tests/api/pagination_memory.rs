//! Memory under hostile list requests: a crowd fetching `limit=100` pages of the largest entries
//! must not take a real `echodiary serve` process past its pod's memory, because a page stops
//! at its byte budget instead of growing with `limit` x entry size.

use std::collections::HashSet;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::PasswordHasher as _;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::process::{Service, login};
use crate::support::sqlx_connect;
use crate::support::wait::within;

const ENTRIES: usize = 120;
const CLIENTS: usize = 16;
const ROUNDS: usize = 3;
/// Well inside the pod's 128 MiB limit, and far below what the crowd would take without the
/// page's byte budget (16 pages of 100 entries of ~120 KiB of JSON: over 190 MiB). Measured: about
/// 50 MiB on a quiet machine, 55 MiB beside two CPU hogs, 68 MiB on a two-core CI machine busy
/// with builds (mimalloc hands freed pages back after a delay, so a slower crowd holds more).
const PEAK_RSS_LIMIT_KIB: u64 = 80 * 1024;

/// A `Vm...` line of the process's `/proc/<pid>/status`, in KiB.
fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("a {field} line"))
}

/// An account written straight to the table, with a hash made here (with the service's own
/// parameters), so the service hashes a password once, at the login. Registering through the
/// API would hash a second time, and the allocator may keep both 19 MiB blocks: the peak would
/// then measure the allocator's timing, not the list.
async fn account_with_entries_of_control_characters(
    service: &Service,
    email: &str,
    password: &str,
) {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .expect("hash the password")
        .to_string();
    let db = sqlx_connect(service.database_url()).await;
    sqlx::query("INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), $1, $2)")
        .bind(email)
        .bind(hash)
        .execute(&db)
        .await
        .expect("create the account");
    // 20,000 control characters each, written `\u0001` in JSON: six bytes a character. Inserted
    // in SQL: through the API they would take a minute of validation in a debug build.
    sqlx::query(
        "INSERT INTO entries (id, user_id, content, entry_date)
         SELECT gen_random_uuid(), u.id, repeat(chr(1), 20000), date '2026-01-01' - (g % 40)
           FROM users u, generate_series(1, $2) g
          WHERE u.email = $1",
    )
    .bind(email)
    .bind(i32::try_from(ENTRIES).expect("a small count"))
    .execute(&db)
    .await
    .expect("seed the entries");
    db.close().await;
}

/// Follows `next_cursor` from the first page to the last with `limit=100`; returns the ids seen.
async fn walk(client: &reqwest::Client, service: &Service, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=ENTRIES {
        // Cursors are URL-safe base64: no escaping needed.
        let query = match cursor.take() {
            Some(cursor) => format!("?limit=100&cursor={cursor}"),
            None => "?limit=100".to_owned(),
        };
        let response = client
            .get(service.url(&format!("/api/v1/entries{query}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("page JSON");
        let items = page["items"].as_array().expect("items");
        ids.extend(
            items
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("the walk did not end");
}

// Two threads, so reading one large page does not leave the other clients' answers unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_listing_the_largest_entries_keep_the_process_under_80_mib() {
    within(Duration::from_secs(240), async {
        let service = Service::start(&[]).await;
        let pid = service.proc.pid();
        let (email, password) = ("crowd@example.com", "crowd password");
        account_with_entries_of_control_characters(&service, email, password).await;
        let idle = vm_kib(pid, "VmHWM");
        // The one login's hash (~19 MiB, handed back to the OS before the login answers) counts
        // in the peak, as it would in a pod that serves logins.
        let token = login(&service, email, password).await;
        let logged_in = vm_kib(pid, "VmHWM");

        let clients = (0..CLIENTS).map(|_| async {
            // Its own connection, dropped from the pool well before the server's keep-alive
            // timeout (the header read timeout, 5 s): a request sent on a connection the server
            // is closing that instant fails, and that is not what this test is about.
            let client = reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(1))
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client");
            for _ in 0..ROUNDS {
                let ids = walk(&client, &service, &token).await;
                let distinct: HashSet<&String> = ids.iter().collect();
                assert_eq!((ids.len(), distinct.len()), (ENTRIES, ENTRIES));
            }
        });
        join_all(clients).await;

        let peak = vm_kib(pid, "VmHWM");
        println!(
            "peak RSS: {idle} KiB started, {logged_in} KiB logged in, {peak} KiB after the crowd"
        );
        assert!(
            peak < PEAK_RSS_LIMIT_KIB,
            "peak RSS {peak} KiB (started {idle} KiB, logged in {logged_in} KiB) is past \
             {PEAK_RSS_LIMIT_KIB} KiB"
        );
        service.stop().await;
    })
    .await;
}
