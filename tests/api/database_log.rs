//! PostgreSQL's own log holds no email address: a taken address at registration or at an email
//! change is found without raising a unique violation, whose logged detail would name it (and on
//! a managed database that log is shipped to the cloud's log service).

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::postgres::private_cluster;
use crate::support::wait::within;
use crate::support::{PASSWORD, TestApp, TestUser, fresh_database};

async fn change_email(app: &TestApp, user: &TestUser, email: &str) -> StatusCode {
    crate::support::sensitive::record(email);
    app.as_user(user, Method::PATCH, "/api/v1/users/me")
        .json(&json!({"email": email, "current_password": PASSWORD}))
        .send()
        .await
        .expect("PATCH /api/v1/users/me")
        .status()
}

#[tokio::test]
async fn taken_emails_at_registration_and_email_change_never_reach_postgresqls_log() {
    within(Duration::from_secs(120), async {
        // A cluster of its own: its log then holds only what this test caused.
        let cluster = private_cluster().await;
        let database = fresh_database(&cluster.url("postgres")).await;
        let app = TestApp::spawn_on(
            &database,
            &[("ECHODIARY__AUTH__REGISTER_MAX_PER_ADDRESS", "1000")],
            true,
        )
        .await;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let address = |name: &str| format!("{name}-{tag}@example.com");

        // Registering a taken address, in any case.
        let taken = address("taken");
        assert_eq!(app.register(&taken, PASSWORD).await.status(), 201);
        for again in [taken.clone(), taken.to_uppercase()] {
            assert_eq!(app.register(&again, PASSWORD).await.status(), 409);
        }

        // Many registrations of one address at once: exactly one wins, the rest are told 409.
        let crowded = address("crowded");
        let statuses = join_all((0..8).map(|_| app.register(&crowded, PASSWORD))).await;
        let statuses: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            7,
            "{statuses:?}"
        );

        // Changing to a taken address.
        let (first, second) = (app.user().await, app.user().await);
        assert_eq!(change_email(&app, &first, &taken).await, 409);
        assert_eq!(change_email(&app, &first, &second.email).await, 409);

        // Two accounts moving to one new address while it is also being registered: one wins.
        let contested = address("contested");
        let (moved_first, moved_second, registered) = tokio::join!(
            change_email(&app, &first, &contested),
            change_email(&app, &second, &contested),
            app.register(&contested, PASSWORD),
        );
        let outcomes = [moved_first, moved_second, registered.status()];
        let winners = outcomes.iter().filter(|s| s.is_success()).count();
        let refused = outcomes.iter().filter(|s| **s == 409).count();
        assert_eq!((winners, refused), (1, 2), "{outcomes:?}");

        let log = cluster.server_log();
        assert!(log.contains("ready to accept connections"), "{log}");
        for email in [&taken, &crowded, &contested, &first.email, &second.email] {
            assert!(
                !log.contains(email.as_str()),
                "{email} in PostgreSQL's log:\n{log}"
            );
        }
        assert!(!log.contains("@example.com"), "{log}");
        assert!(!log.contains("users_email_key"), "{log}");
    })
    .await;
}
