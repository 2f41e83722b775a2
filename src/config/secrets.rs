//! Secrets in the settings: read from files, never printed, and in production never one that
//! anybody could know.

use std::path::Path;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

/// The token signing key used when none is configured. Good enough for a laptop, refused in production.
pub const DEVELOPMENT_JWT_SECRET: &str = "development-only-secret-change-me-0123456789";

/// Signing keys that were ever printed in this repository (the development default, the key
/// earlier Compose files set). Anyone can read them, so anyone could sign tokens with them:
/// production refuses them forever, since copies live on in old `.env` files.
pub(super) const PUBLISHED_JWT_SECRETS: &[&str] = &[
    DEVELOPMENT_JWT_SECRET,
    // docker-compose.yml and .env.example, before the Compose stack made its own key.
    "compose-development-only-jwt-secret-not-for-real-use",
    // deploy/k8s/overlays/local, which runs the service in development mode for this reason.
    "local-k3s-development-only-jwt-secret-not-for-real-use",
];

/// Words that mark a key as a placeholder or an example from documentation, not a key someone
/// generated. Compared case-insensitively, with `_`, `.` and spaces read as `-`, so `change_me`
/// and `Change.Me` are caught too; a random key of 48 bytes spells one of these about never.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "change-me",
    "changeme",
    "replace-me",
    "example",
    "placeholder",
    "development-only",
    "dev-only",
    "not-for-real-use",
    "your-secret",
];

/// Production secrets must be at least this long (256 bits of HMAC key material).
const MIN_PRODUCTION_SECRET_LEN: usize = 32;

/// Refuses, naming the key to set and never printing it, a production token key that anybody
/// could know or guess.
pub(super) fn check_production_key(secret: &str) -> anyhow::Result<()> {
    if is_published_secret(secret) {
        bail!(
            "ECHODIARY__AUTH__JWT_SECRET (or ECHODIARY__AUTH__JWT_SECRET_FILE) holds a key \
             that is published (the development default, an old Compose key, or a \
             placeholder); anyone could sign tokens with it. Production needs a random key \
             of its own, e.g. `head -c 48 /dev/urandom | base64`"
        );
    }
    if secret.len() < MIN_PRODUCTION_SECRET_LEN {
        bail!(
            "ECHODIARY__AUTH__JWT_SECRET is shorter than {MIN_PRODUCTION_SECRET_LEN} bytes; \
             production needs a longer secret"
        );
    }
    Ok(())
}

/// Whether a signing key is one anybody can read: printed in this repository, or a placeholder.
pub fn is_published_secret(secret: &str) -> bool {
    let normalized = secret.to_ascii_lowercase().replace(['_', '.', ' '], "-");
    PUBLISHED_JWT_SECRETS.contains(&secret.trim())
        // `<a random key>`: a documentation placeholder pasted as is.
        || (secret.starts_with('<') && secret.ends_with('>'))
        || PLACEHOLDER_MARKERS
            .iter()
            .any(|marker| normalized.contains(marker))
}

pub(super) fn read_secret_file(path: &Path, key: &str) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{key}: cannot read {}", path.display()))?;
    // Files written by editors and `echo` end with a newline that is not part of the secret.
    Ok(SecretString::from(text.trim_end_matches(['\n', '\r'])))
}

pub(super) fn serialize_redacted<S: Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[redacted]")
}

pub(super) fn serialize_database_url<S: Serializer>(
    url: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        None => s.serialize_none(),
        Some(url) => s.serialize_str(&redact_url(url.expose_secret())),
    }
}

/// Masks the password of a connection string; anything unparsable is hidden whole, since it may
/// be a secret in an unexpected shape.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.query_pairs().any(|(k, _)| k == "password") {
                return "[redacted]".to_owned();
            }
            if url.password().is_none() {
                return url.to_string();
            }
            // The URL type percent-encodes brackets, so a plain placeholder goes in and the
            // readable marker replaces it afterwards.
            let _ = url.set_password(Some("REDACTED"));
            url.to_string().replacen(":REDACTED@", ":[redacted]@", 1)
        }
        Err(_) => "[redacted]".to_owned(),
    }
}
