//! Login and registration throttling as an attacker meets it: counts shared by every process on
//! the database, reservations that parallel guesses cannot overrun, lockouts that stay with the
//! attacker's address, and a hashing queue that refuses at once when full.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::support::process::Service;
use crate::support::wait::within;
use crate::support::{PASSWORD, TestApp, admin_url, assert_problem, fresh_database, sensitive};

/// Trusting `X-Forwarded-For` lets one test speak from many addresses, as clients behind the
/// cluster's proxy do.
const BEHIND_PROXY: (&str, &str) = ("ECHODIARY__SERVER__TRUST_FORWARDED_FOR", "true");

async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> Response {
    sensitive::record(email);
    sensitive::record(password);
    app.request(reqwest::Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

/// Status counts of a batch of answers, for readable assertions.
fn tally(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn throttle_attempts(app: &TestApp, scope: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT coalesce(sum(attempts), 0)::int8 FROM auth_throttle WHERE scope = $1",
    )
    .bind(scope)
    .fetch_one(&app.pool)
    .await
    .expect("throttle rows")
}

#[tokio::test]
async fn forty_concurrent_wrong_passwords_are_evaluated_at_most_the_limit_times() {
    let app = TestApp::spawn().await;
    app.register("besieged@example.com", PASSWORD).await;
    let app = &app;
    let guesses = (0..40).map(|n| async move {
        let response = app
            .login("besieged@example.com", &format!("guess number {n}"))
            .await;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&response) > 0);
        }
        status
    });
    let statuses = join_all(guesses).await;
    assert_eq!(
        tally(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        tally(&statuses, StatusCode::TOO_MANY_REQUESTS),
        35,
        "{statuses:?}"
    );
    assert_eq!(throttle_attempts(app, "login_account_address").await, 5);
    // The owner from this same address waits too: otherwise the limit would not stop guessing.
    let owner = app.login("besieged@example.com", PASSWORD).await;
    assert_problem(owner, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn a_strangers_failures_do_not_lock_the_owner_out_from_another_address() {
    let app = TestApp::spawn_with(&[BEHIND_PROXY]).await;
    app.register("owner@example.com", PASSWORD).await;
    let stranger = "198.51.100.7";
    for n in 0..5 {
        let guess = login_from(&app, stranger, "owner@example.com", &format!("guess {n}")).await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let blocked = login_from(&app, stranger, "owner@example.com", PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds = retry_after(&blocked);
    assert!(seconds > 0 && seconds <= 15 * 60, "{seconds}");

    let home = "203.0.113.9";
    let owner = login_from(&app, home, "owner@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);
    // The owner's own typo is an ordinary 401, not the stranger's lockout.
    let typo = login_from(&app, home, "owner@example.com", "typo").await;
    assert_eq!(typo.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ipv6_clients_count_per_64() {
    let app = TestApp::spawn_with(&[BEHIND_PROXY]).await;
    app.register("six@example.com", PASSWORD).await;
    // A client holding a /64 picks a new address for every guess: still one client.
    for n in 1..=5 {
        let address = format!("2001:db8:aa:bb::{n:x}");
        let guess = login_from(&app, &address, "six@example.com", "guess").await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED, "{address}");
    }
    let same_64 = login_from(&app, "2001:db8:aa:bb:1:2:3:4", "six@example.com", PASSWORD).await;
    assert_eq!(same_64.status(), StatusCode::TOO_MANY_REQUESTS);
    let next_64 = login_from(&app, "2001:db8:aa:bc::1", "six@example.com", PASSWORD).await;
    assert_eq!(next_64.status(), StatusCode::OK);
}

#[tokio::test]
async fn guesses_spread_over_many_addresses_hit_the_account_wide_limit() {
    let app = TestApp::spawn_with(&[
        BEHIND_PROXY,
        ("ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT", "6"),
    ])
    .await;
    app.register("famous@example.com", PASSWORD).await;
    for n in 0..6 {
        let address = format!("192.0.2.{n}");
        let guess = login_from(&app, &address, "famous@example.com", "guess").await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED, "{address}");
    }
    let fresh_address = login_from(&app, "192.0.2.200", "famous@example.com", "guess").await;
    assert_problem(fresh_address, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn one_address_spraying_many_accounts_hits_the_per_address_limit() {
    let app = TestApp::spawn_with(&[
        BEHIND_PROXY,
        ("ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS", "6"),
    ])
    .await;
    app.register("real@example.com", PASSWORD).await;
    let sprayer = "198.51.100.99";
    for n in 0..6 {
        let email = format!("victim{n}@example.com");
        let guess = login_from(&app, sprayer, &email, "guess").await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED, "{email}");
    }
    let limited = login_from(&app, sprayer, "real@example.com", PASSWORD).await;
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    let elsewhere = login_from(&app, "198.51.100.100", "real@example.com", PASSWORD).await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let app = TestApp::spawn_with(&[
        BEHIND_PROXY,
        ("ECHODIARY__AUTH__REGISTER_MAX_PER_ADDRESS", "2"),
    ])
    .await;
    let register_from = |address: &'static str, email: &'static str| {
        sensitive::record(email);
        app.request(reqwest::Method::POST, "/api/v1/auth/register")
            .header("x-forwarded-for", address)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
    };
    for email in ["one@example.com", "two@example.com"] {
        let created = register_from("192.0.2.10", email).await.expect("register");
        assert_eq!(created.status(), StatusCode::CREATED, "{email}");
    }
    let third = register_from("192.0.2.10", "three@example.com")
        .await
        .expect("register");
    assert!(retry_after(&third) > 0);
    assert_problem(third, StatusCode::TOO_MANY_REQUESTS).await;
    let other = register_from("192.0.2.11", "three@example.com")
        .await
        .expect("register");
    assert_eq!(other.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_at_once_and_counts_no_failure() {
    // No queue: only as many checks as there are hashing threads run, the rest are turned away.
    let app = TestApp::spawn_with(&[("ECHODIARY__AUTH__PASSWORD_HASH_QUEUE", "0")]).await;
    let logins = (0..24).map(|n| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login(&format!("crowd{n}@example.com"), "guess").await;
            let status = response.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(response.headers().contains_key("retry-after"));
                assert_problem(response, status).await;
            }
            (status, started.elapsed())
        }
    });
    let outcomes = join_all(logins).await;
    let statuses: Vec<StatusCode> = outcomes.iter().map(|(s, _)| *s).collect();
    let refused = tally(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused > 0, "{statuses:?}");
    assert_eq!(
        refused + tally(&statuses, StatusCode::UNAUTHORIZED),
        statuses.len(),
        "{statuses:?}"
    );
    // Refused without waiting for a hashing thread (the old queue waited up to 5 s).
    let slowest_refusal = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    assert!(
        slowest_refusal < Duration::from_secs(2),
        "{slowest_refusal:?}"
    );
    // Turned away before any verdict: their reservations were given back.
    let failures = throttle_attempts(&app, "login_account_address").await;
    assert_eq!(failures as usize, statuses.len() - refused);
}

#[tokio::test]
async fn rows_of_ended_windows_are_deleted_by_later_attempts() {
    let app = TestApp::spawn_with(&[("ECHODIARY__AUTH__LOGIN_WINDOW_SECS", "2")]).await;
    for n in 0..3 {
        app.login(&format!("gone{n}@example.com"), "guess").await;
    }
    // Only the first three accounts' rows: the later attempt's own may expire too on a slow run.
    let count = "SELECT count(*) FROM auth_throttle WHERE account LIKE 'gone%'";
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let expired: i64 = sqlx::query_scalar(count)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    // Each account left a pair row and an account row (a slow run may already have cleaned some).
    assert!(expired >= 2, "{expired}");
    app.login("later@example.com", "guess").await;
    let expired: i64 = sqlx::query_scalar(count)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(expired, 0);
}

#[tokio::test]
async fn failures_count_across_serve_processes_and_survive_a_restart() {
    within(Duration::from_secs(90), async {
        // The test's own database: it outlives both processes, for the one that replaces them.
        let database = fresh_database(&admin_url()).await;
        let first = Service::start_on(&database, &[]).await;
        let second = Service::start_on(&database, &[]).await;
        let (email, password) = ("shared@example.com", "the real password");
        sensitive::record(email);
        sensitive::record(password);
        let post = |service: &Service, body: serde_json::Value, path: &str| {
            service.client.post(service.url(path)).json(&body).send()
        };
        let account = json!({"email": email, "password": password});
        let created = post(&first, account.clone(), "/api/v1/auth/register").await;
        assert_eq!(created.expect("register").status(), StatusCode::CREATED);

        let wrong = json!({"email": email, "password": "wrong password"});
        // Five failures between two replicas behind one load balancer: the limit holds for both.
        for (n, service) in [&first, &second, &first, &second, &first]
            .iter()
            .enumerate()
        {
            let guess = post(service, wrong.clone(), "/api/v1/auth/login").await;
            assert_eq!(
                guess.expect("login").status(),
                StatusCode::UNAUTHORIZED,
                "{n}"
            );
        }
        for service in [&first, &second] {
            let limited = post(service, account.clone(), "/api/v1/auth/login").await;
            assert_eq!(
                limited.expect("login").status(),
                StatusCode::TOO_MANY_REQUESTS
            );
        }
        // A deploy replaces both processes; the count is in the database, not in them.
        first.stop().await;
        second.stop().await;
        let replaced = Service::start_on(&database, &[]).await;
        let limited = post(&replaced, account.clone(), "/api/v1/auth/login").await;
        assert_eq!(
            limited.expect("login").status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        replaced.stop().await;
    })
    .await;
}
