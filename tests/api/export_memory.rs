//! Memory while an account of 10,000 entries is exported from a real `echodiary serve` process:
//! the document (about 25 MB) is streamed a page at a time, so the process's resident memory
//! stays flat instead of growing with the diary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::process::{Service, account};
use crate::support::sqlx_connect;
use crate::support::wait::within;

const ENTRIES: i32 = 10_000;
/// Characters of each entry's content: 10,000 of them make a 25 MB document, which a buffered
/// answer could not hide under this limit.
const CONTENT_CHARS: i32 = 2_500;
/// Growth of resident memory allowed while exporting: a page (about 1 MiB of JSON) and the
/// buffers around it, with room for the allocator.
const GROWTH_LIMIT_KIB: u64 = 12 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_ten_thousand_entries_keeps_memory_flat() {
    within(Duration::from_secs(240), async {
        let service = Service::start(&[]).await;
        let pid = service.proc.pid();
        let token = account(&service, "prolific@example.com", "a prolific password").await;
        let db = sqlx_connect(service.database_url()).await;
        // Written in SQL: 10,000 requests would test the entry route, not the export.
        sqlx::query(
            "INSERT INTO entries (id, user_id, content, tags, entry_date)
             SELECT gen_random_uuid(), u.id, repeat('x', $2) || g, ARRAY['tag' || (g % 7)],
                    date '2026-01-01' - (g % 400)
               FROM users u, generate_series(1, $3) g WHERE u.email = $1",
        )
        .bind("prolific@example.com")
        .bind(CONTENT_CHARS)
        .bind(ENTRIES)
        .execute(&db)
        .await
        .expect("seed the entries");
        db.close().await;

        let before = rss_kib(pid);
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let response = service
            .client
            .get(service.url("/api/v1/users/me/export"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("export");
        assert_eq!(response.status(), StatusCode::OK);
        let mut response = response;
        let mut document = Vec::new();
        while let Some(chunk) = response.chunk().await.expect("a chunk of the export") {
            document.extend_from_slice(&chunk);
        }
        done.store(true, Ordering::Relaxed);
        sampler.await.expect("sampler");
        let peak = peak.load(Ordering::Relaxed);

        let document: Value = serde_json::from_slice(&document).expect("one JSON document");
        let entries = document["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), ENTRIES as usize);
        let mut ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ENTRIES as usize, "every entry exactly once");
        println!("RSS: {before} KiB before the export, {peak} KiB at its peak");
        assert!(
            peak - before < GROWTH_LIMIT_KIB,
            "RSS grew by {} KiB while exporting (from {before} KiB)",
            peak - before
        );
        service.stop().await;
    })
    .await;
}
