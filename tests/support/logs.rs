//! Every log line the suite's servers write is kept in memory, so tests can prove that no secret
//! ever reaches the logs (`TEST_LOG=1` also echoes them to stderr).

use std::{
    io,
    sync::{Mutex, OnceLock},
};

use tracing_subscriber::{EnvFilter, fmt::MakeWriter, prelude::*};

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT: OnceLock<()> = OnceLock::new();

#[derive(Clone, Copy)]
struct Capture;

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        BUFFER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            io::Write::write_all(&mut io::stderr(), buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Installs the capturing subscriber once per test process, at `debug` level so that even
/// verbose lines are checked. The tests' own tools stay quiet: the HTML parser (`html5ever`,
/// which traces the text it tokenises — a page showing a new key would put it in the capture)
/// and the WebDriver client are not amolink.
pub(crate) fn init() {
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new(
                "debug,sqlx=warn,sea_orm=warn,hyper=warn,h2=warn,rustls=warn,reqwest=warn,\
                 html5ever=warn,markup5ever=warn,selectors=warn,scraper=warn,fantoccini=warn",
            ))
            .with(tracing_subscriber::fmt::layer().json().with_writer(Capture))
            .try_init();
    });
}

/// Everything logged so far by every server in this test process.
#[must_use]
pub fn captured_logs() -> String {
    String::from_utf8_lossy(
        &BUFFER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}
