//! Real `amolink serve` processes: what production runs, with its own runtime, allocator and
//! memory accounting, so latencies and RSS are the server's and not the benchmark driver's.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::storage::ScratchDir;

/// The keys every instance of one scenario shares (several instances on one database must open
/// each other's ciphertexts).
#[derive(Clone)]
pub struct Keys {
    pub master_keys: String,
    pub session_key: String,
}

impl Keys {
    pub fn random() -> Self {
        Self {
            master_keys: format!("b1:{}", STANDARD.encode(rand::random::<[u8; 32]>())),
            session_key: STANDARD.encode([rand::random::<[u8; 32]>(), rand::random()].concat()),
        }
    }
}

/// How to start one instance.
pub struct Config<'a> {
    pub database_url: &'a str,
    pub keys: &'a Keys,
    /// Where outgoing amoCRM requests go (the simulator); an unroutable origin when unused.
    pub amocrm_base_url: &'a str,
    /// `AMOLINK_PUBLIC_URL`; `None` means this instance's own address.
    pub public_url: Option<&'a str>,
    /// Runs the token keeper, every `keeper_interval_ms`.
    pub keeper: bool,
    pub keeper_interval_ms: u64,
    /// Further `AMOLINK_*` variables.
    pub extra: &'a [(&'a str, &'a str)],
}

impl<'a> Config<'a> {
    /// An instance with the keeper off and amoCRM unreachable: for page and endpoint latency.
    pub fn web_only(database_url: &'a str, keys: &'a Keys) -> Self {
        Self {
            database_url,
            keys,
            amocrm_base_url: "http://127.0.0.1:9",
            public_url: None,
            keeper: false,
            keeper_interval_ms: 5000,
            extra: &[],
        }
    }
}

/// A running `amolink serve`; killed when dropped, so an error anywhere never leaves one behind.
pub struct Instance {
    child: Child,
    pub base_url: String,
    dir: ScratchDir,
}

/// The `amolink` binary: `AMOLINK_BIN`, or the one built next to this benchmark.
fn binary() -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("AMOLINK_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("the benchmark binary has no directory")?
        .join("amolink");
    if !path.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p web`",
            path.display()
        );
    }
    Ok(path)
}

/// A port that was free a moment ago. The instance's address must be known before it starts
/// (its public URL names it), and its log level is too quiet to announce a random port.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Instance {
    /// Starts an instance and waits until `/healthz` answers.
    pub async fn start(config: &Config<'_>) -> anyhow::Result<Self> {
        let dir = ScratchDir::new("instance")?;
        let port = free_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path.join("amolink.log"))?;
        let mut command = Command::new(binary()?);
        command
            .arg("serve")
            // The working directory holds no `amolink.toml`, so only these variables count.
            .current_dir(&dir.path)
            .env_remove("AMOLINK_CONFIG")
            .env("AMOLINK_BIND", format!("127.0.0.1:{port}"))
            .env("AMOLINK_PUBLIC_URL", config.public_url.unwrap_or(&base_url))
            .env("AMOLINK_DATABASE_URL", config.database_url)
            .env("AMOLINK_MASTER_KEYS", &config.keys.master_keys)
            .env("AMOLINK_SESSION_KEY", &config.keys.session_key)
            .env("AMOLINK_AMOCRM_BASE_URL", config.amocrm_base_url)
            .env("AMOLINK_DATA_DIR", &dir.path)
            .env("AMOLINK_DEMO", "false")
            .env("AMOLINK_KEEPER", config.keeper.to_string())
            .env(
                "AMOLINK_KEEPER_INTERVAL_MS",
                config.keeper_interval_ms.to_string(),
            )
            .env("AMOLINK_WEBHOOK_WORKER", "false")
            .env("AMOLINK_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in config.extra {
            command.env(key, value);
        }
        let child = command.spawn().context("starting amolink")?;
        let mut instance = Self {
            child,
            base_url,
            dir,
        };
        instance.wait_until_healthy().await?;
        Ok(instance)
    }

    async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/healthz", self.base_url);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("amolink exited at start ({status}): {}", self.log_tail());
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("amolink did not answer within 60 s: {}", self.log_tail())
    }

    /// The end of the instance's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path.join("amolink.log")).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory now and at its peak.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.pid())
    }

    /// `amolink_token_refreshes_total` from `/metrics`.
    pub async fn refreshes_total(&self, client: &reqwest::Client) -> anyhow::Result<u64> {
        let text = client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|line| line.strip_prefix("amolink_token_refreshes_total "))
            .and_then(|value| value.trim().parse().ok())
            .context("amolink_token_refreshes_total missing from /metrics")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) a process has used so far: `/proc/<pid>/stat`, in clock ticks of
/// 1/100 s (`USER_HZ`, fixed on Linux).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("malformed /proc/<pid>/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(index)
            .context("short /proc/<pid>/stat")?
            .parse()?)
    };
    // utime and stime are fields 14 and 15; the slice starts at field 3 (state).
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    /// `VmHWM`: the highest RSS since the process started.
    pub peak_kib: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/status`.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse::<u64>().ok())
                .with_context(|| format!("{name} missing from /proc/{pid}/status"))
        };
        Ok(Self {
            rss_kib: kib("VmRSS:")?,
            peak_kib: kib("VmHWM:")?,
        })
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
