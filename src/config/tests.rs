//! The settings' rules, each pinned: defaults, overrides, refusals, redaction.

use super::secrets::PUBLISHED_JWT_SECRETS;
use super::*;

/// A key made for this run: one printed here would be a published key (see
/// tests/api/published_secrets.rs).
fn fresh_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn load(env: &[(&str, &str)]) -> anyhow::Result<Settings> {
    Settings::load_from(
        None,
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
}

#[test]
fn defaults_match_the_documented_table() {
    let settings = load(&[]).expect("defaults load");
    assert_eq!(settings.server.addr.to_string(), "0.0.0.0:8000");
    assert_eq!(settings.server.ops_addr.to_string(), "0.0.0.0:9000");
    assert_eq!(settings.database.max_connections, 10);
    assert_eq!(settings.database.acquire_timeout_ms, 2000);
    assert!(settings.database.migrate_on_start);
    assert_eq!(settings.environment, RunMode::Development);
    assert!(settings.database.url.is_none());
}

#[test]
fn the_shutdown_grace_defaults_to_0_in_development_and_5_s_in_production() {
    let production = [
        ("ECHODIARY__ENVIRONMENT", "production"),
        ("ECHODIARY__AUTH__JWT_SECRET", &fresh_key()),
    ];
    assert_eq!(load(&[]).expect("loads").server.shutdown_grace_ms, 0);
    assert_eq!(
        load(&production).expect("loads").server.shutdown_grace_ms,
        5000
    );
    let grace = ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "750");
    assert_eq!(load(&[grace]).expect("loads").server.shutdown_grace_ms, 750);
    let mut explicit = production.to_vec();
    explicit.push(grace);
    assert_eq!(
        load(&explicit).expect("loads").server.shutdown_grace_ms,
        750
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("echodiary.toml");
    std::fs::write(&file, "[server]\nshutdown_grace_ms = 1500\n").expect("write");
    let from_file = Settings::load_from(Some(&file), []).expect("loads");
    assert_eq!(from_file.server.shutdown_grace_ms, 1500);
}

#[test]
fn namespaced_environment_keys_override_defaults_and_database_url() {
    let settings = load(&[
        ("DATABASE_URL", "postgres://a@h/one"),
        ("ECHODIARY__DATABASE__URL", "postgres://a@h/two"),
        ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "25"),
        ("ECHODIARY__SERVER__ADDR", "127.0.0.1:8080"),
        ("ECHODIARY__DATABASE__MIGRATE_ON_START", "false"),
    ])
    .expect("loads");
    assert_eq!(settings.database_url().expect("set"), "postgres://a@h/two");
    assert_eq!(settings.database.max_connections, 25);
    assert_eq!(settings.server.addr.to_string(), "127.0.0.1:8080");
    assert!(!settings.database.migrate_on_start);
    let plain = load(&[("DATABASE_URL", "postgres://a@h/one")]).expect("loads");
    assert_eq!(plain.database_url().expect("set"), "postgres://a@h/one");
}

#[test]
fn header_limits_that_would_close_every_connection_are_refused_naming_the_key() {
    let err = load(&[("ECHODIARY__SERVER__HEADER_READ_TIMEOUT_MS", "0")]).expect_err("zero");
    assert!(err.to_string().contains("HEADER_READ_TIMEOUT_MS"), "{err}");
    let err = load(&[("ECHODIARY__SERVER__MAX_HEADER_BYTES", "100")]).expect_err("tiny");
    assert!(err.to_string().contains("MAX_HEADER_BYTES"), "{err}");
    let settings = load(&[("ECHODIARY__SERVER__MAX_HEADER_BYTES", "8192")]).expect("loads");
    assert_eq!(settings.server.max_header_bytes, 8192);
    assert_eq!(settings.server.header_read_timeout_ms, 5000);
}

#[test]
fn cors_origins_are_a_comma_separated_list_of_exact_origins() {
    let settings = load(&[(
        "ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS",
        "https://app.example.com, http://localhost:5173",
    )])
    .expect("loads");
    assert_eq!(
        settings.server.cors_allowed_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    assert!(
        load(&[])
            .expect("loads")
            .server
            .cors_allowed_origins
            .is_empty()
    );
    for bad in [
        "*",
        "null",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com:443",
        "app.example.com",
        "ftp://app.example.com",
    ] {
        let err = load(&[("ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS", bad)]).expect_err(bad);
        assert!(err.to_string().contains("CORS_ALLOWED_ORIGINS"), "{err}");
    }
}

#[test]
fn a_misspelled_key_is_an_error_not_silently_ignored() {
    let err = load(&[("ECHODIARY__DATABASE__MAX_CONECTIONS", "5")]).expect_err("typo");
    assert!(format!("{err:#}").contains("max_conections"), "{err:#}");
}

#[test]
fn secrets_are_read_from_files_without_the_trailing_newline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("jwt");
    let url = dir.path().join("url");
    let key = fresh_key();
    std::fs::write(&secret, format!("{key}\n")).expect("write");
    std::fs::write(&url, "postgres://u:pw@db/app\n").expect("write");
    let settings = load(&[
        (
            "ECHODIARY__AUTH__JWT_SECRET_FILE",
            secret.to_str().expect("utf-8"),
        ),
        ("DATABASE_URL_FILE", url.to_str().expect("utf-8")),
    ])
    .expect("loads");
    assert_eq!(settings.auth.jwt_secret.expose_secret(), key);
    assert_eq!(
        settings.database_url().expect("set"),
        "postgres://u:pw@db/app"
    );
}

#[test]
fn production_refuses_the_development_secret_and_names_the_key() {
    let err = load(&[("ECHODIARY__ENVIRONMENT", "production")]).expect_err("refused");
    assert!(
        err.to_string().contains("ECHODIARY__AUTH__JWT_SECRET"),
        "{err}"
    );
    let short = load(&[
        ("ECHODIARY__ENVIRONMENT", "production"),
        ("ECHODIARY__AUTH__JWT_SECRET", "too-short"),
    ])
    .expect_err("refused");
    assert!(
        short.to_string().contains("ECHODIARY__AUTH__JWT_SECRET"),
        "{short}"
    );
    load(&[
        ("ECHODIARY__ENVIRONMENT", "production"),
        ("ECHODIARY__AUTH__JWT_SECRET", &fresh_key()),
    ])
    .expect("a real secret is accepted");
}

#[test]
fn production_refuses_every_published_or_placeholder_key() {
    for published in PUBLISHED_JWT_SECRETS.iter().copied().chain([
        "Change-Me-Please-0123456789-0123456789-0123",
        "your_secret_here_0123456789_0123456789_0123",
        "<a random key of at least thirty-two bytes>",
    ]) {
        let err = load(&[
            ("ECHODIARY__ENVIRONMENT", "production"),
            ("ECHODIARY__AUTH__JWT_SECRET", published),
        ])
        .expect_err(published);
        let message = format!("{err:#}");
        assert!(message.contains("ECHODIARY__AUTH__JWT_SECRET"), "{message}");
        assert!(
            !message.contains(published),
            "the key itself is never printed"
        );
    }
    // Development mode keeps working with the default, as `cargo run` does.
    load(&[]).expect("development accepts the default");
}

#[test]
fn printing_the_settings_redacts_every_secret() {
    let key = fresh_key();
    let settings = load(&[
        (
            "DATABASE_URL",
            "postgres://app:hunter2-db@db:5432/app?sslmode=require",
        ),
        ("ECHODIARY__AUTH__JWT_SECRET", &key),
    ])
    .expect("loads");
    let printed = serde_json::to_string(&settings).expect("serializes");
    let debugged = format!("{settings:?}");
    for text in [&printed, &debugged] {
        assert!(!text.contains("hunter2-db"), "{text}");
        assert!(!text.contains(&key), "{text}");
    }
    assert!(
        printed.contains("postgres://app:[redacted]@db:5432/app"),
        "{printed}"
    );
}

#[test]
fn a_connection_string_that_is_not_a_url_is_hidden_whole() {
    assert_eq!(redact_url("host=db password=secret"), "[redacted]");
    assert_eq!(
        redact_url("postgres://db/app?user=u&password=secret"),
        "[redacted]"
    );
    assert_eq!(redact_url("postgres://u@db/app"), "postgres://u@db/app");
}

#[test]
fn token_lifetimes_default_short_and_the_earlier_name_still_works() {
    let settings = load(&[]).expect("defaults load");
    assert_eq!(settings.auth.access_token_ttl_secs, 900);
    assert_eq!(settings.auth.refresh_token_ttl_secs, 30 * 24 * 3600);
    let renamed = load(&[("ECHODIARY__AUTH__TOKEN_TTL_SECS", "600")]).expect("the old name");
    assert_eq!(renamed.auth.access_token_ttl_secs, 600);
    let inverted = load(&[
        ("ECHODIARY__AUTH__ACCESS_TOKEN_TTL_SECS", "600"),
        ("ECHODIARY__AUTH__REFRESH_TOKEN_TTL_SECS", "60"),
    ]);
    assert!(inverted.is_err());
}

#[test]
fn email_is_off_unless_a_usable_smtp_url_is_given() {
    assert!(load(&[]).expect("defaults").email.smtp_url().is_none());
    let empty = load(&[("ECHODIARY__EMAIL__SMTP_URL", "")]).expect("empty is off");
    assert!(empty.email.smtp_url().is_none());
    let on = load(&[("ECHODIARY__EMAIL__SMTP_URL", "smtp://127.0.0.1:2525")]).expect("on");
    assert_eq!(on.email.smtp_url(), Some("smtp://127.0.0.1:2525"));
    for (key, value) in [
        ("ECHODIARY__EMAIL__SMTP_URL", "http://mail.example.com"),
        ("ECHODIARY__EMAIL__FROM", "not an address"),
        (
            "ECHODIARY__EMAIL__RESET_URL_BASE",
            "ftp://app.example.com/reset",
        ),
        (
            "ECHODIARY__EMAIL__RESET_URL_BASE",
            "https://app.example.com/reset?x=1",
        ),
    ] {
        let mut env = vec![("ECHODIARY__EMAIL__SMTP_URL", "smtp://127.0.0.1:2525")];
        env.push((key, value));
        assert!(load(&env).is_err(), "{key}={value} was accepted");
    }
}

#[test]
fn the_smtp_password_never_prints() {
    let secret = fresh_key();
    let url = format!("smtps://mailer:{secret}@smtp.example.com:465");
    let settings = load(&[("ECHODIARY__EMAIL__SMTP_URL", &url)]).expect("loads");
    let printed = serde_json::to_string(&settings).expect("serializes");
    assert!(!printed.contains(&secret), "{printed}");
    assert!(printed.contains("smtp.example.com"), "{printed}");
}
