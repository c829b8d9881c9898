//! Running as a service: the Prometheus endpoint (`http`, `metrics`), liveness for /healthz and
//! the systemd watchdog (`Liveness`), systemd's notify protocol (`notify`) and the log file
//! (`logfile`). Fed by `sinks::service` from the records; knows no vendor and no settings.

pub mod http;
pub mod logfile;
pub mod metrics;
pub mod notify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const DEFAULT_LOG_MAX_SIZE: u64 = 5 << 20;
pub const DEFAULT_LOG_KEEP: u32 = 10;

/// The log file of vpnmon's own diagnostics (EpMonitoring keeps 5 MB x 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub path: PathBuf,
    pub max_size: u64,
    pub keep: u32,
}

/// What the service options ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConfig {
    pub metrics_listen: Option<SocketAddr>,
    pub log: Option<LogConfig>,
    /// How long past the slowest single test the loop may go without a sign of progress before
    /// it counts as stalled; `None` is the default minute (a hidden option shortens it for tests).
    pub stall_margin: Option<Duration>,
}

/// Whether the loop is alive: each sign of progress (a cycle start, a record, the start of a
/// wait) moves the deadline by which the next one is due. /healthz and the systemd watchdog
/// read it, so a hung loop shows in both (a timer alone would keep pinging for a hung loop).
#[derive(Clone)]
pub struct Liveness(Arc<Mutex<Option<Instant>>>);

impl Default for Liveness {
    fn default() -> Self {
        Liveness::new()
    }
}

impl Liveness {
    pub fn new() -> Liveness {
        Liveness(Arc::new(Mutex::new(None)))
    }

    /// The next sign of progress is due within `within` from now.
    pub fn due_within(&self, within: Duration) {
        let at = Instant::now().checked_add(within);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Alive: no deadline yet (starting) or a deadline not passed.
    pub fn alive(&self) -> bool {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(at) => Instant::now() <= at,
            None => true,
        }
    }
}
