//! A real SMTP server on loopback for the mail tests: `aiosmtpd` (PyPI; `.ci/run` installs it
//! with pip) with its `Mailbox` handler, which stores every message it accepts in a Maildir the
//! test then reads. amolink talks to it exactly as to a production relay (`smtp://127.0.0.1:N`).

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub body: String,
}

/// The running server; stopped and its Maildir removed on drop.
pub struct SmtpSink {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl SmtpSink {
    /// Starts the server on a free loopback port and waits until it accepts connections.
    ///
    /// # Panics
    /// When `python3 -m aiosmtpd` cannot run (install it: `pip install aiosmtpd`).
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("amolink-smtp-{}", uuid::Uuid::new_v4()));
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (the mail tests need `pip install aiosmtpd`)");
        let mut sink = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!("aiosmtpd exited ({status}): install it with `pip install aiosmtpd`");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sink.port = port;
        sink
    }

    /// `AMOLINK_SMTP_URL` for this server.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    #[must_use]
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut out = Vec::new();
        for folder in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(folder)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read(entry.path()) else {
                    continue;
                };
                let Some(message) = mail_parser::MessageParser::default().parse(&raw) else {
                    continue;
                };
                let address = |list: Option<&mail_parser::Address<'_>>| {
                    list.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned()
                };
                out.push(ReceivedMail {
                    to: address(message.to()),
                    from: address(message.from()),
                    subject: message.subject().unwrap_or_default().to_owned(),
                    body: message
                        .body_text(0)
                        .map(|b| b.into_owned())
                        .unwrap_or_default(),
                });
            }
        }
        out
    }

    /// Waits (bounded) until `count` messages to `to` have arrived, and answers them. Mail is sent
    /// in the background after the request that caused it, so the test polls for its arrival.
    ///
    /// # Panics
    /// When they do not arrive within 20 seconds.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mail: Vec<ReceivedMail> =
                self.messages().into_iter().filter(|m| m.to == to).collect();
            if mail.len() >= count {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} message(s) to {to}, got {}",
                mail.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first `http…` link in a mail body that starts with `prefix`.
#[must_use]
pub fn link_in(body: &str, prefix: &str) -> Option<String> {
    body.split_whitespace()
        .find(|word| word.starts_with(prefix))
        .map(str::to_owned)
}
