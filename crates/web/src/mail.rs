//! Outgoing mail: each domain [`Mail`] rendered from `templates/mail/`, then delivered over SMTP
//! with `lettre` (rustls only), or — in development without SMTP — kept in the outbox shown at
//! `/dev/outbox`, so invitations and password resets work offline.
//!
//! `AMOLINK_SMTP_URL` forms:
//! - `smtp://host:port` — no TLS. Only for a relay on this machine or a development sink; in
//!   production it is refused for any host but loopback, since credentials and links would cross
//!   the network in clear.
//! - `smtp://host:587?tls=starttls` — STARTTLS, required (the server must offer it).
//! - `smtps://host:465` — TLS from the first byte.
//!
//! `user:password@` before the host authenticates (percent-encode special characters).

use crate::i18n::Translate as _;
use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use askama::Template;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    clock::Clock,
    mail::{Envelope, Mail, MailError, MailOutbox, Mailer, OutboxMail},
};
use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use crate::settings::Settings;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    None,
    StartTls,
    Tls,
}

/// A parsed `AMOLINK_SMTP_URL`.
#[derive(Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, SecretString)>,
}

impl SmtpConfig {
    /// Parses the URL; in production, plain SMTP is accepted only to a loopback relay.
    ///
    /// # Errors
    /// When the URL is malformed, names an unknown scheme or `tls` value, or is plain SMTP to a
    /// remote host in production.
    pub fn parse(raw: &SecretString, production: bool) -> anyhow::Result<Self> {
        // The message never repeats the URL: it may hold a password.
        let url = Url::parse(raw.expose_secret())
            .map_err(|_| anyhow::anyhow!("AMOLINK_SMTP_URL is not a valid URL"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .context("AMOLINK_SMTP_URL names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => tls = Some(value.into_owned()),
                other => bail!("AMOLINK_SMTP_URL: unknown parameter `{other}` (only `tls`)"),
            }
        }
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("none")) => (SmtpSecurity::None, 25),
            ("smtp", Some("starttls" | "required")) => (SmtpSecurity::StartTls, 587),
            ("smtps", None | Some("tls" | "wrapper")) => (SmtpSecurity::Tls, 465),
            (scheme, tls) => bail!(
                "AMOLINK_SMTP_URL: use smtp://host:port, smtp://host:587?tls=starttls or \
                 smtps://host:465 (got scheme `{scheme}`, tls `{}`)",
                tls.unwrap_or("")
            ),
        };
        if production && security == SmtpSecurity::None && !is_loopback(&host) {
            bail!(
                "AMOLINK_SMTP_URL: plain smtp:// is only allowed to a relay on this machine in \
                 production; use ?tls=starttls or smtps://"
            );
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
                .context("AMOLINK_SMTP_URL: credentials are not valid UTF-8")
        };
        let credentials = match url.password() {
            Some(password) => Some((
                decode(url.username())?,
                SecretString::from(decode(password)?),
            )),
            None => None,
        };
        Ok(Self {
            port: url.port().unwrap_or(default_port),
            host,
            security,
            credentials,
        })
    }

    fn transport(&self) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
        let tls_parameters = || {
            TlsParameters::new(self.host.clone())
                .map_err(|e| anyhow::anyhow!("cannot set up TLS for the SMTP server: {e}"))
        };
        let tls = match self.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(builder.build())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A message ready to send: subject and plain-text body.
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "mail/invite_subject.txt")]
struct InviteSubject<'a> {
    inviter: &'a str,
    workspace: &'a str,
}

#[derive(Template)]
#[template(path = "mail/invite.txt")]
struct InviteBody<'a> {
    inviter: &'a str,
    workspace: &'a str,
    role: &'static str,
    link: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/password_reset_subject.txt")]
struct ResetSubject;

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct ResetBody<'a> {
    link: &'a str,
    expires: String,
}

fn when(at: DateTime<Utc>) -> String {
    crate::i18n::datetime(at)
}

/// Renders a message in the current request's language (English outside a request).
///
/// # Errors
/// When a template fails to render.
pub fn render(mail: &Mail) -> Result<Rendered, askama::Error> {
    let (subject, body) = match mail {
        Mail::Invite {
            workspace,
            inviter,
            role,
            link,
            expires_at,
        } => (
            InviteSubject { inviter, workspace }.render()?,
            InviteBody {
                inviter,
                workspace,
                role: role.as_str(),
                link: link.expose_secret(),
                expires: when(*expires_at),
            }
            .render()?,
        ),
        Mail::PasswordReset { link, expires_at } => (
            ResetSubject.render()?,
            ResetBody {
                link: link.expose_secret(),
                expires: when(*expires_at),
            }
            .render()?,
        ),
    };
    Ok(Rendered {
        subject: subject.trim().to_owned(),
        body,
    })
}

/// Where mail goes.
enum Delivery {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox(Arc<dyn MailOutbox>),
    Disabled,
}

/// amolink's [`Mailer`].
pub struct WebMailer {
    delivery: Delivery,
    clock: Arc<dyn Clock>,
}

impl WebMailer {
    /// SMTP when `AMOLINK_SMTP_URL` is set; otherwise the outbox in development and nothing in
    /// production.
    ///
    /// # Errors
    /// When the SMTP URL or sender address is unusable.
    pub fn from_settings(
        settings: &Settings,
        outbox: Arc<dyn MailOutbox>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let delivery = match &settings.smtp_url {
            Some(url) => {
                let config = SmtpConfig::parse(url, settings.is_production())?;
                let from: Mailbox = settings
                    .mail_from
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .context("AMOLINK_MAIL_FROM is not a valid address")?;
                tracing::info!(host = %config.host, port = config.port, security = ?config.security, "mail goes out over SMTP");
                Delivery::Smtp {
                    transport: config.transport()?,
                    from,
                }
            }
            None if settings.is_production() => {
                tracing::warn!(
                    "AMOLINK_SMTP_URL is not set: invitation e-mails and password reset are off"
                );
                Delivery::Disabled
            }
            None => Delivery::Outbox(outbox),
        };
        Ok(Self { delivery, clock })
    }

    /// Whether mail is kept in the development outbox (so `/dev/outbox` has something to show).
    #[must_use]
    pub const fn uses_outbox(&self) -> bool {
        matches!(self.delivery, Delivery::Outbox(_))
    }
}

#[async_trait]
impl Mailer for WebMailer {
    fn available(&self) -> bool {
        !matches!(self.delivery, Delivery::Disabled)
    }

    async fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        let rendered = render(&envelope.mail).map_err(|e| MailError::Failed(e.into()))?;
        match &self.delivery {
            Delivery::Disabled => Err(MailError::Unavailable),
            Delivery::Outbox(outbox) => outbox
                .store_mail(&OutboxMail {
                    id: uuid::Uuid::new_v4(),
                    workspace: envelope.workspace,
                    to: envelope.to.to_string(),
                    subject: rendered.subject,
                    body: rendered.body,
                    created_at: self.clock.now(),
                })
                .await
                .map_err(|e| MailError::Failed(e.into())),
            Delivery::Smtp { transport, from } => {
                let to: Mailbox = envelope
                    .to
                    .as_str()
                    .parse()
                    .map_err(|e| MailError::Failed(anyhow::Error::new(e)))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(rendered.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(rendered.body)
                    .map_err(|e| MailError::Failed(anyhow::Error::new(e)))?;
                transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Failed(anyhow::Error::new(e)))?;
                tracing::info!(
                    event = "mail_sent",
                    kind = kind(&envelope.mail),
                    "mail sent"
                );
                Ok(())
            }
        }
    }
}

const fn kind(mail: &Mail) -> &'static str {
    match mail {
        Mail::Invite { .. } => "invite",
        Mail::PasswordReset { .. } => "password_reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, production: bool) -> anyhow::Result<SmtpConfig> {
        SmtpConfig::parse(&SecretString::from(raw.to_owned()), production)
    }

    #[test]
    fn the_three_documented_forms_parse() {
        let plain = parse("smtp://127.0.0.1:2525", true).expect("loopback plain");
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.security),
            ("127.0.0.1", 2525, SmtpSecurity::None)
        );
        let starttls =
            parse("smtp://user:p%40ss@mail.example.com?tls=starttls", true).expect("starttls");
        assert_eq!(starttls.port, 587);
        assert_eq!(starttls.security, SmtpSecurity::StartTls);
        let (user, password) = starttls.credentials.expect("credentials");
        assert_eq!((user.as_str(), password.expose_secret()), ("user", "p@ss"));
        let tls = parse("smtps://mail.example.com", true).expect("tls");
        assert_eq!((tls.port, tls.security), (465, SmtpSecurity::Tls));
    }

    #[test]
    fn unsafe_or_unknown_forms_are_refused_without_echoing_the_url() {
        let error = parse("smtp://user:canary-pass@mail.example.com", true)
            .expect_err("plain to a remote host in production");
        assert!(!format!("{error:#}").contains("canary-pass"));
        assert!(
            parse("smtp://mail.example.com", false).is_ok(),
            "development"
        );
        for bad in [
            "http://mail.example.com",
            "smtp://mail.example.com?tls=maybe",
            "smtp://mail.example.com?verify=no",
            "smtp://",
            "not a url",
        ] {
            assert!(parse(bad, false).is_err(), "{bad}");
        }
    }

    struct NoOutbox;

    #[async_trait]
    impl MailOutbox for NoOutbox {
        async fn store_mail(&self, _: &OutboxMail) -> Result<(), domain::StoreError> {
            Ok(())
        }

        async fn outbox(&self, _: u64) -> Result<Vec<OutboxMail>, domain::StoreError> {
            Ok(Vec::new())
        }

        async fn purge_outbox(&self, _: DateTime<Utc>) -> Result<u64, domain::StoreError> {
            Ok(0)
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        let dir = std::env::temp_dir().join(format!("amolink-mail-{}", uuid::Uuid::new_v4()));
        let dir = dir.display().to_string();
        let mut all = vec![
            ("master_keys", "k1:AAAA"),
            ("session_key", key.as_str()),
            ("data_dir", dir.as_str()),
        ];
        all.extend_from_slice(pairs);
        Settings::load(&crate::settings::Sources::from_pairs(all)).expect("settings")
    }

    /// In a runtime, as in the server: lettre's connection pool starts a task when built.
    #[tokio::test]
    async fn where_mail_goes_depends_on_the_environment_and_the_smtp_setting() {
        let clock: Arc<dyn Clock> = Arc::new(domain::clock::SystemClock);
        let production = settings(&[("env", "production"), ("public_url", "https://a.example")]);
        let mailer =
            WebMailer::from_settings(&production, Arc::new(NoOutbox), clock.clone()).expect("ok");
        assert!(!mailer.available(), "production without SMTP sends nothing");
        let development = settings(&[]);
        let mailer =
            WebMailer::from_settings(&development, Arc::new(NoOutbox), clock.clone()).expect("ok");
        assert!(
            mailer.available() && mailer.uses_outbox(),
            "development keeps an outbox"
        );
        let smtp = settings(&[
            ("smtp_url", "smtp://127.0.0.1:2525"),
            ("mail_from", "amolink <noreply@example.com>"),
        ]);
        let mailer =
            WebMailer::from_settings(&smtp, Arc::new(NoOutbox), clock.clone()).expect("ok");
        assert!(mailer.available() && !mailer.uses_outbox());
        let bad_from = settings(&[
            ("smtp_url", "smtp://127.0.0.1:2525"),
            ("mail_from", "not an address"),
        ]);
        assert!(WebMailer::from_settings(&bad_from, Arc::new(NoOutbox), clock).is_err());
    }

    #[test]
    fn messages_render_with_their_links_and_no_markup_escaping() {
        let rendered = render(&Mail::Invite {
            workspace: "Рога & копыта".into(),
            inviter: "ann@example.com".into(),
            role: domain::teams::Role::Admin,
            link: SecretString::from("http://127.0.0.1:8080/invite?token=abc".to_owned()),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
        })
        .expect("renders");
        assert_eq!(
            rendered.subject,
            "ann@example.com invited you to Рога & копыта on amolink"
        );
        assert!(rendered.body.contains("as an admin"));
        assert!(
            rendered
                .body
                .contains("http://127.0.0.1:8080/invite?token=abc")
        );
    }
}
