//! Settings of the outgoing mail (password-reset links).

use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::secrets::redact_url;

/// Where and as whom the service sends email. Without `smtp_url` no email is sent and the
/// password-reset routes answer 503.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp://host:port` (plain, for a local catcher), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:password@host:465` (TLS). It may hold the server's password,
    /// so it is a secret: printed with the password masked. Empty means no email.
    #[serde(serialize_with = "serialize_smtp_url")]
    pub smtp_url: Option<SecretString>,
    /// File holding the SMTP URL; wins over `smtp_url`.
    pub smtp_url_file: Option<PathBuf>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// The client app's page that takes a reset token; the email links to `<this>?token=<token>`.
    pub reset_url_base: String,
    /// Longest a delivery may take (connecting, talking to the server) before it counts as failed.
    pub send_timeout_secs: u64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_url_file: None,
            from: "EchoDiary <no-reply@echodiary.localhost>".to_owned(),
            reset_url_base: "http://localhost:8000/reset-password".to_owned(),
            send_timeout_secs: 10,
        }
    }
}

impl EmailSettings {
    /// The SMTP URL when email is configured (an empty value counts as none).
    pub fn smtp_url(&self) -> Option<&str> {
        self.smtp_url
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .filter(|url| !url.trim().is_empty())
    }

    pub(super) fn check(&self) -> anyhow::Result<()> {
        let Some(smtp_url) = self.smtp_url() else {
            return Ok(());
        };
        let url = url::Url::parse(smtp_url).map_err(|_| {
            anyhow::anyhow!("ECHODIARY__EMAIL__SMTP_URL is not a URL (smtp://host:port)")
        })?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
            bail!("ECHODIARY__EMAIL__SMTP_URL must be smtp://host[:port] or smtps://host[:port]");
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .context("ECHODIARY__EMAIL__FROM is not an email address (`Name <address>`)")?;
        let base = url::Url::parse(&self.reset_url_base)
            .context("ECHODIARY__EMAIL__RESET_URL_BASE is not a URL")?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            bail!("ECHODIARY__EMAIL__RESET_URL_BASE must be an http(s) URL without a query");
        }
        if self.send_timeout_secs == 0 {
            bail!("ECHODIARY__EMAIL__SEND_TIMEOUT_SECS must be at least 1");
        }
        Ok(())
    }
}

fn serialize_smtp_url<S: Serializer>(url: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        None => s.serialize_none(),
        Some(url) => s.serialize_str(&redact_url(url.expose_secret())),
    }
}
