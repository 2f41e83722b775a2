//! Outgoing email over SMTP, sent in the background so a slow or dead mail server never holds up
//! a request.
//!
//! Deliveries in flight are bounded ([`MAX_IN_FLIGHT`]): past that, a new one is dropped and
//! counted as failed instead of queueing without limit. Nothing about a delivery is logged but
//! its outcome: server replies can quote the recipient's address, so they stay out of the logs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::EmailSettings;

/// Deliveries that may be under way at once in one process.
const MAX_IN_FLIGHT: usize = 32;

/// What an email is for: the `kind` label of `email_deliveries_total`.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    PasswordReset,
}

impl Kind {
    pub(crate) const ALL: [Kind; 1] = [Kind::PasswordReset];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::PasswordReset => "password_reset",
        }
    }
}

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reset_url_base: String,
    send_timeout: Duration,
    in_flight: Arc<Semaphore>,
}

/// A place among the deliveries in flight, held until the delivery ends.
pub(crate) struct Slot(#[expect(dead_code, reason = "held, never read")] OwnedSemaphorePermit);

impl Mailer {
    /// `None` when no SMTP server is configured.
    pub(crate) fn new(settings: &EmailSettings) -> anyhow::Result<Option<Self>> {
        let Some(url) = settings.smtp_url() else {
            return Ok(None);
        };
        // lettre's own message could quote the URL, and with it a password.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| {
                anyhow::anyhow!(
                    "ECHODIARY__EMAIL__SMTP_URL cannot be used: it needs the smtp or smtps \
                     scheme, a host, and optionally a port, user and password"
                )
            })?
            .timeout(Some(Duration::from_secs(settings.send_timeout_secs)))
            .build();
        let from = settings
            .from
            .parse()
            .context("ECHODIARY__EMAIL__FROM is not an email address")?;
        Ok(Some(Self {
            transport,
            from,
            reset_url_base: settings.reset_url_base.clone(),
            send_timeout: Duration::from_secs(settings.send_timeout_secs),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }))
    }

    /// A place for one more delivery, or `None` (counted as a failed delivery) when
    /// [`MAX_IN_FLIGHT`] are under way.
    pub(crate) fn slot(&self, kind: Kind) -> Option<Slot> {
        let slot = self.in_flight.clone().try_acquire_owned().ok().map(Slot);
        if slot.is_none() {
            tracing::warn!(
                kind = kind.label(),
                "too many emails in flight; one dropped"
            );
            record(kind, false);
        }
        slot
    }

    /// The link a reset email carries: the client app's page with the token.
    pub(crate) fn reset_link(&self, token: &str) -> String {
        format!("{}?token={token}", self.reset_url_base)
    }

    /// Sends a password-reset email to `to`, counting and logging the outcome (never the
    /// address or the link).
    pub(crate) async fn send_password_reset(&self, to: &str, link: &str) {
        let body = format!(
            "Someone asked to reset the password of your EchoDiary account.\n\n\
             To choose a new password, open this link within 30 minutes:\n\n{link}\n\n\
             The link works once. If it was not you, ignore this email: your password stays \
             as it is.\n"
        );
        self.send(
            Kind::PasswordReset,
            to,
            "Reset your EchoDiary password",
            body,
        )
        .await;
    }

    async fn send(&self, kind: Kind, to: &str, subject: &str, body: String) {
        let message = to
            .parse::<Mailbox>()
            .map_err(|_| "invalid recipient")
            .and_then(|to| {
                Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body)
                    .map_err(|_| "cannot build the message")
            });
        let result = match message {
            // lettre's own timeout covers each socket operation; this one the whole delivery,
            // so a server that accepts and then never speaks cannot hold a slot forever.
            Ok(message) => {
                match tokio::time::timeout(self.send_timeout, self.transport.send(message)).await {
                    Err(_) => Err("timed out"),
                    Ok(sent) => sent.map_err(|e| {
                        if e.is_timeout() {
                            "timed out"
                        } else if e.is_permanent() {
                            "refused by the server (permanent)"
                        } else if e.is_transient() {
                            "refused by the server (transient)"
                        } else {
                            "connection or protocol error"
                        }
                    }),
                }
            }
            Err(why) => Err(why),
        };
        match result {
            Ok(_) => {
                tracing::info!(kind = kind.label(), "email sent");
                record(kind, true);
            }
            Err(why) => {
                tracing::warn!(kind = kind.label(), reason = why, "email not delivered");
                record(kind, false);
            }
        }
    }
}

/// Counts a delivery that failed before it reached [`Mailer`] (such as a database error while
/// preparing it).
pub(crate) fn record_failure(kind: Kind) {
    record(kind, false);
}

fn record(kind: Kind, sent: bool) {
    let outcome = if sent { "sent" } else { "failed" };
    metrics::counter!("email_deliveries_total", "kind" => kind.label(), "outcome" => outcome)
        .increment(1);
}
