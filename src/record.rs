//! The one currency between a cycle and its outputs: a `Record` per test performed.
//! Formatting lives in the sinks; this room only says what happened.

use chrono::{DateTime, Local};
use std::fmt;
use std::time::Duration;

/// Which test a record is about. The names are the datalog's public vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Test {
    #[serde(rename = "VPN ping")]
    VpnPing,
    #[serde(rename = "VPN open")]
    VpnOpen,
    #[serde(rename = "Target ping")]
    TargetPing,
    #[serde(rename = "VPN close")]
    VpnClose,
    /// A `--tcp` connect check of one port of a target (issue 14). Only the extended and jsonl
    /// formats, `--json` and the console have it; the original's datalog keeps its four tests.
    #[serde(rename = "TCP port")]
    TcpPort,
}

impl Test {
    pub const ALL: [Test; 5] = [
        Test::VpnPing,
        Test::VpnOpen,
        Test::TargetPing,
        Test::VpnClose,
        Test::TcpPort,
    ];

    /// The tests the original's datalog format knows (`--tcp` rows are not written there).
    pub fn in_original_format(self) -> bool {
        self != Test::TcpPort
    }

    /// The name written in the datalog's `test` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Test::VpnPing => "VPN ping",
            Test::VpnOpen => "VPN open",
            Test::TargetPing => "Target ping",
            Test::VpnClose => "VPN close",
            Test::TcpPort => "TCP port",
        }
    }

    pub fn parse(s: &str) -> Option<Test> {
        Test::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Good = every echo answered (or the step succeeded), Warn = some, Fail = none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Good,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Good => "Good",
            Verdict::Warn => "Warn",
            Verdict::Fail => "Fail",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "Good" => Some(Verdict::Good),
            "Warn" => Some(Verdict::Warn),
            "Fail" => Some(Verdict::Fail),
            _ => None,
        }
    }

    /// The verdict of `received` answers out of `sent` echo requests.
    pub fn from_counts(sent: u32, received: u32) -> Verdict {
        if sent > 0 && received >= sent {
            Verdict::Good
        } else if received > 0 {
            Verdict::Warn
        } else {
            Verdict::Fail
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check is: the test and the address and name it was about. The alerts count failures
/// per check (their state file stores it as `{"test", "address", "name"}`); the report groups
/// rows by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CheckId {
    pub test: Test,
    pub address: String,
    pub name: String,
    /// The site (empty where unknown: the original datalog format, state files from before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub site: String,
}

impl CheckId {
    /// The check a record is about.
    pub fn of(rec: &Record) -> CheckId {
        CheckId {
            test: rec.test,
            address: rec.address.clone(),
            name: rec.name.clone(),
            site: rec.site.clone(),
        }
    }

    /// Words for a person: `target web (127.0.0.2)`, `gateway ping of Site (gw.example)`.
    pub fn describe(&self) -> String {
        match self.test {
            Test::VpnPing => format!("gateway ping of {} ({})", self.name, self.address),
            Test::VpnOpen => format!("VPN open of {} ({})", self.name, self.address),
            _ => format!("target {} ({})", self.name, self.address),
        }
    }
}

/// Echo statistics of one ping test.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PingStats {
    pub sent: u32,
    pub received: u32,
    pub rtt_min: Option<Duration>,
    pub rtt_avg: Option<Duration>,
    pub rtt_max: Option<Duration>,
    /// The population standard deviation of the answered echoes' RTTs (what `ping` prints as
    /// `mdev`); `None` without an answer.
    pub rtt_std: Option<Duration>,
}

impl PingStats {
    /// The echoes lost, in percent of those sent (`None` when none was sent).
    pub fn loss_pct(&self) -> Option<f64> {
        (self.sent > 0).then(|| {
            let lost = self.sent.saturating_sub(self.received);
            f64::from(lost) * 100.0 / f64::from(self.sent)
        })
    }
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The test cycle, from 1.
    pub cycle: u64,
    /// When the test started (local time, as the original's datalog).
    pub at: DateTime<Local>,
    pub test: Test,
    pub result: Verdict,
    /// The address as the user wrote it (gateway URL/IP or target address).
    pub address: String,
    /// The human name (VPN name or target name).
    pub name: String,
    /// The site the test belongs to (its VPN name: `--vpnname`, or a config file's site name).
    pub site: String,
    /// Why a test was not Good, in words a person understands.
    pub reason: Option<String>,
    /// Echo statistics, for ping tests.
    pub ping: Option<PingStats>,
    /// How long the test took.
    pub duration: Duration,
    /// `--trace-on-fail`: the route traced to a target that ended Fail or Warn, hop by hop
    /// (`None`: a hop that did not answer, shown `*`); `None` when not traced.
    pub path: Option<Vec<Option<std::net::IpAddr>>>,
}

/// A traced path as words: `198.18.1.1 → 198.18.9.1 → * → *` (`sep` between the hops).
pub fn path_text(path: &[Option<std::net::IpAddr>], sep: &str) -> String {
    path.iter()
        .map(|h| h.map_or("*".to_string(), |a| a.to_string()))
        .collect::<Vec<_>>()
        .join(sep)
}

impl Record {
    pub fn is_good(&self) -> bool {
        self.result == Verdict::Good
    }
}

/// Counts of target-ping verdicts, as the original's summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub good: usize,
    pub warn: usize,
    pub fail: usize,
}

impl Tally {
    pub fn of_targets(records: &[Record]) -> Tally {
        let mut t = Tally::default();
        for r in records.iter().filter(|r| r.test == Test::TargetPing) {
            match r.result {
                Verdict::Good => t.good += 1,
                Verdict::Warn => t.warn += 1,
                Verdict::Fail => t.fail += 1,
            }
        }
        t
    }
}

/// What a finished (or stopped) cycle hands to the sinks.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub cycle: u64,
    /// `None` runs until stopped.
    pub of: Option<u64>,
    pub started: DateTime<Local>,
    pub finished: DateTime<Local>,
    /// Shared with the sinks that keep them beyond the call (the datalog's writer thread), so a
    /// large sweep's records exist once.
    pub records: std::sync::Arc<Vec<Record>>,
    /// How many targets the cycle meant to ping (all sites): a failed open says how many were
    /// not pinged.
    pub targets: usize,
    /// True when Ctrl-C/SIGTERM cut the cycle short; the records are those completed.
    pub cancelled: bool,
}
