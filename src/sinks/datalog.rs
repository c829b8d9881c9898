//! The datalog: one CSV row per test, `cycle,YYYY/MM/DD,HH:MM:SS,test,result,address,name`, no
//! header, appended. This module is the one place that decides the row format. A cycle's rows go
//! out in one write, flushed and synced, so a kill never leaves half a cycle or half a line.
//!
//! Besides the original format (`vpnmon`, the default, byte-identical), `extended` adds a header
//! line and timing/echo columns, and `jsonl` writes one JSON object per record. Rotation (by size,
//! keeping N old files, and/or one file per local day) happens only before a cycle's write, so a
//! cycle's rows always land in one file and no row is lost or written twice.

use super::{RunEnd, Sink, SinkError};
use crate::error::io_reason;
use crate::record::{CycleReport, Record};
use chrono::{DateTime, Local};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The datalog's row format (`--datalog-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DatalogFormat {
    /// The original's 7 columns, no header (the default; downstream scripts rely on it).
    #[default]
    Vpnmon,
    /// A header line, the original columns, then timings, echo counts, RTTs and the reason.
    Extended,
    /// One JSON object per record, ISO 8601 timestamps with the UTC offset.
    Jsonl,
}

/// When to start a new datalog file besides the size limit (`--datalog-rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RotateEvery {
    /// One file per local day, the date in its name (`vpnmon_datalog-2026-11-22.csv`).
    Daily,
}

/// The extended format's header line.
pub const EXTENDED_HEADER: &str = "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason\n";

/// Milliseconds with up to 3 decimals, trailing zeros dropped (`12.5`, `0.042`, `1500`).
pub fn ms_text(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64() * 1000.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// An extended row: the original's columns, then
/// `duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason` (empty where unknown).
pub fn format_extended_row(r: &Record) -> String {
    let mut line = format_row(r);
    line.pop();
    let p = r.ping;
    let opt = |d: Option<Duration>| d.map(ms_text).unwrap_or_default();
    let fields = [
        ms_text(r.duration),
        p.map(|p| p.sent.to_string()).unwrap_or_default(),
        p.map(|p| p.received.to_string()).unwrap_or_default(),
        opt(p.and_then(|p| p.rtt_min)),
        opt(p.and_then(|p| p.rtt_avg)),
        opt(p.and_then(|p| p.rtt_max)),
        r.reason.clone().unwrap_or_default(),
    ];
    for f in fields {
        line.push(',');
        line.push_str(&quote(&f));
    }
    line.push('\n');
    line
}

/// The JSON object of a record (the `jsonl` datalog format and `--json` on stdout share it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JsonRecord {
    pub cycle: u64,
    /// ISO 8601 with the UTC offset, seconds precision: `2022-09-07T18:20:47+02:00`.
    pub time: String,
    pub test: String,
    pub result: String,
    pub address: String,
    pub name: String,
    pub duration_ms: Option<f64>,
    pub sent: Option<u32>,
    pub received: Option<u32>,
    pub rtt_min_ms: Option<f64>,
    pub rtt_avg_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    pub reason: Option<String>,
}

fn ms_f64(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl JsonRecord {
    pub fn of(r: &Record) -> JsonRecord {
        let p = r.ping;
        JsonRecord {
            cycle: r.cycle,
            time: r.at.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            test: r.test.as_str().to_string(),
            result: r.result.as_str().to_string(),
            address: r.address.clone(),
            name: r.name.clone(),
            duration_ms: Some(ms_f64(r.duration)),
            sent: p.map(|p| p.sent),
            received: p.map(|p| p.received),
            rtt_min_ms: p.and_then(|p| p.rtt_min).map(ms_f64),
            rtt_avg_ms: p.and_then(|p| p.rtt_avg).map(ms_f64),
            rtt_max_ms: p.and_then(|p| p.rtt_max).map(ms_f64),
            reason: r.reason.clone(),
        }
    }
}

/// One JSON line (with its newline) for a record.
pub fn format_json_row(r: &Record) -> String {
    // Serializing plain strings and numbers cannot fail.
    let mut s = serde_json::to_string(&JsonRecord::of(r)).unwrap_or_default();
    s.push('\n');
    s
}

/// A record's row in `format`.
pub fn format_record(format: DatalogFormat, r: &Record) -> String {
    match format {
        DatalogFormat::Vpnmon => format_row(r),
        DatalogFormat::Extended => format_extended_row(r),
        DatalogFormat::Jsonl => format_json_row(r),
    }
}

/// Parses a size such as `10MB`, `512KB`, `1GB`, `5000` (bytes); K/M/G are powers of 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("expected a size such as 10MB, 512KB or 1GB, not `{s}`");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(bad()),
    }
}

/// Where "now" comes from, so rotation can be tested under a fake clock.
pub trait Clock: Send {
    fn now(&self) -> DateTime<Local>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Local> {
        Local::now()
    }
}

/// When the datalog starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Start a new file when the next cycle's rows would make the file larger than this.
    pub max_size: Option<u64>,
    /// How many rotated files (`.1` newest … `.N` oldest) to keep.
    pub keep: u32,
    /// One file per local day.
    pub daily: bool,
}

/// Default for `--datalog-keep`.
pub const DEFAULT_KEEP: u32 = 5;
/// Default for `--datalog`.
pub const DEFAULT_DATALOG: &str = "vpnmon_datalog.csv";

/// The datalog's resolved configuration (built by `settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatalogConfig {
    pub path: PathBuf,
    pub format: DatalogFormat,
    pub rotation: Rotation,
}

impl Default for DatalogConfig {
    fn default() -> Self {
        DatalogConfig {
            path: PathBuf::from(DEFAULT_DATALOG),
            format: DatalogFormat::default(),
            rotation: Rotation {
                max_size: None,
                keep: DEFAULT_KEEP,
                daily: false,
            },
        }
    }
}

/// The file of day `at` for a daily datalog: the date before the extension
/// (`vpnmon_datalog.csv` → `vpnmon_datalog-2026-11-22.csv`).
pub fn daily_path(base: &Path, at: DateTime<Local>) -> PathBuf {
    let date = at.format("%Y-%m-%d");
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}-{date}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{date}"),
    };
    base.with_file_name(name)
}

/// The `n`th rotated file of `path` (`vpnmon_datalog.csv.1`).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Where the live file waits during a size rotation (`vpnmon_datalog.csv.rotating`).
pub fn rotating_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".rotating");
    PathBuf::from(s)
}

/// Renames a file; replaceable so tests can make a rename "busy".
type RenameFn = dyn FnMut(&Path, &Path) -> std::io::Result<()> + Send;

/// Moves the live file `path` aside to `path.1` (older ones shift to `.2`, … dropping what falls
/// beyond `keep`). Safe to repeat after any step failed (a file held busy by another program):
/// the live file is first renamed to `path.rotating`, which either happens or changes nothing;
/// then [`finish_rotation`] frees `.1` and moves it there.
fn rotate_files(path: &Path, keep: u32, rename: &mut RenameFn) -> std::io::Result<()> {
    if keep == 0 {
        return remove_if_exists(path);
    }
    rename(path, &rotating_path(path))?;
    finish_rotation(path, keep, rename)
}

/// Completes a rotation whose live file already waits as `path.rotating` (moved aside by
/// [`rotate_files`] in this try, an earlier busy try, or a run that was killed meanwhile).
/// Nothing to do when there is no `.rotating`.
fn finish_rotation(path: &Path, keep: u32, rename: &mut RenameFn) -> std::io::Result<()> {
    let rotating = rotating_path(path);
    if !rotating.exists() {
        return Ok(());
    }
    if keep == 0 {
        return remove_if_exists(&rotating);
    }
    // Shift only up to the first free slot, so a repeated try (after a shift step failed) finds
    // the gap it left and deletes nothing more; only when `.1` … `.keep` all exist is `.keep`
    // dropped.
    let gap = match (1..=keep).find(|&i| !rotated_path(path, i).exists()) {
        Some(i) => i,
        None => {
            remove_if_exists(&rotated_path(path, keep))?;
            keep
        }
    };
    for i in (1..gap).rev() {
        rename(&rotated_path(path, i), &rotated_path(path, i + 1))?;
    }
    rename(&rotating, &rotated_path(path, 1))
}

fn remove_if_exists(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The original's row, CSV-quoted only where a field holds a comma, quote or line break.
pub fn format_row(r: &Record) -> String {
    let fields = [
        r.cycle.to_string(),
        r.at.format("%Y/%m/%d").to_string(),
        r.at.format("%H:%M:%S").to_string(),
        r.test.as_str().to_string(),
        r.result.as_str().to_string(),
        r.address.clone(),
        r.name.clone(),
    ];
    let mut line = fields
        .iter()
        .map(|f| quote(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// CSV quoting as Python's csv module does by default (QUOTE_MINIMAL).
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Whether a failed write is worth retrying: the file is held by another program (a spreadsheet
/// on Windows holds it with a sharing violation; elsewhere it shows as permission denied).
pub fn is_busy(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        return true;
    }
    crate::platform::is_sharing_violation(e)
}

/// Appends bytes to the file at a path.
type AppendFn = dyn FnMut(&Path, &[u8]) -> std::io::Result<()> + Send;

/// Why a cycle's rows did not reach the datalog. Each says which rows were lost.
#[derive(Debug, thiserror::Error)]
pub enum DatalogError {
    #[error("Failed to access the vpnmon datalog file {path} ({reason}); {lost}; check that its folder exists and is writable")]
    Access {
        path: PathBuf,
        reason: String,
        lost: Lost,
    },
    #[error("The vpnmon datalog file {path} was still in use by another program ({reason}) after {tries} tries; {lost}; close the program that holds it")]
    Busy {
        path: PathBuf,
        reason: String,
        tries: u32,
        lost: Lost,
    },
    #[error("vpnmon was stopped while the datalog file {path} was in use by another program ({reason}); {lost}")]
    BusyWhenStopped {
        path: PathBuf,
        reason: String,
        lost: Lost,
    },
}

/// The rows a failed write lost: `the 4 rows of cycle 7 were not written`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub cycle: u64,
    pub rows: usize,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, were) = if self.rows == 1 {
            ("", "was")
        } else {
            ("s", "were")
        };
        write!(
            f,
            "the {} row{s} of cycle {} {were} not written",
            self.rows, self.cycle
        )
    }
}

pub struct DatalogSink {
    path: PathBuf,
    format: DatalogFormat,
    rotation: Rotation,
    clock: Box<dyn Clock>,
    /// Tries and the pause between them for a busy file (the original: 5, 15 s).
    pub tries: u32,
    pub retry_delay: Duration,
    /// Where "file busy, retrying" messages go.
    say: Box<dyn FnMut(&str) + Send>,
    /// Appends bytes to a path; replaceable so tests can make the file "busy".
    write: Box<AppendFn>,
    /// Renames files while rotating; replaceable so tests can make a rename "busy".
    rename: Box<RenameFn>,
}

impl DatalogSink {
    pub fn new(path: &Path) -> DatalogSink {
        DatalogSink {
            path: path.to_path_buf(),
            format: DatalogFormat::Vpnmon,
            rotation: Rotation::default(),
            clock: Box::new(SystemClock),
            tries: 5,
            retry_delay: Duration::from_secs(15),
            say: Box::new(|s| eprintln!("{s}")),
            write: Box::new(append_once),
            rename: Box::new(|from, to| std::fs::rename(from, to)),
        }
    }

    /// The sink the settings ask for (`--datalog-format`, `--datalog-max-size`, …).
    pub fn from_config(cfg: &DatalogConfig) -> DatalogSink {
        DatalogSink::new(&cfg.path)
            .with_format(cfg.format)
            .with_rotation(cfg.rotation)
    }

    pub fn with_format(mut self, format: DatalogFormat) -> Self {
        self.format = format;
        self
    }

    pub fn with_rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The file the next cycle goes to (today's file when rotating daily).
    pub fn current_path(&self) -> PathBuf {
        if self.rotation.daily {
            daily_path(&self.path, self.clock.now())
        } else {
            self.path.clone()
        }
    }

    /// Writes one cycle's rows: finishes a rotation left half done (by a busy file or a kill),
    /// rotates first if the rows would not fit, adds the extended header to a new file, then
    /// appends everything in one write. A busy file is retried (`tries`, `retry_delay`); a stop
    /// (`cancel`) ends the waiting with one last try. The error says which rows were lost.
    pub fn write_cycle(
        &mut self,
        records: &[Record],
        cancel: &CancellationToken,
    ) -> Result<(), DatalogError> {
        if records.is_empty() {
            return Ok(());
        }
        let rows: String = records
            .iter()
            .map(|r| format_record(self.format, r))
            .collect();
        let lost = Lost {
            cycle: records[0].cycle,
            rows: records.len(),
        };
        let path = self.current_path();
        let (rotation, format) = (self.rotation, self.format);
        let DatalogSink {
            write,
            rename,
            say,
            tries,
            retry_delay,
            ..
        } = self;
        let op = |p: &Path| {
            finish_rotation(p, rotation.keep, rename.as_mut())?;
            let mut len = match std::fs::metadata(p) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            if let Some(max) = rotation.max_size {
                if len > 0 && len + rows.len() as u64 > max {
                    rotate_files(p, rotation.keep, rename.as_mut())?;
                    len = 0;
                }
            }
            if len == 0 && format == DatalogFormat::Extended {
                let mut b = String::with_capacity(EXTENDED_HEADER.len() + rows.len());
                b.push_str(EXTENDED_HEADER);
                b.push_str(&rows);
                write(p, b.as_bytes())
            } else {
                write(p, rows.as_bytes())
            }
        };
        retrying(&path, *tries, *retry_delay, say.as_mut(), cancel, lost, op)
    }

    pub fn with_messages(mut self, say: Box<dyn FnMut(&str) + Send>) -> Self {
        self.say = say;
        self
    }
}

/// Runs `op` on `path`, retrying while another program holds the file; a stop ends the waiting
/// with one last try.
fn retrying(
    path: &Path,
    tries: u32,
    retry_delay: Duration,
    say: &mut (dyn FnMut(&str) + Send),
    cancel: &CancellationToken,
    lost: Lost,
    mut op: impl FnMut(&Path) -> std::io::Result<()>,
) -> Result<(), DatalogError> {
    let mut attempt = 1;
    loop {
        let e = match op(path) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let (path, reason) = (path.to_path_buf(), io_reason(&e));
        if !is_busy(&e) {
            return Err(DatalogError::Access { path, reason, lost });
        }
        if cancel.is_cancelled() {
            return Err(DatalogError::BusyWhenStopped { path, reason, lost });
        }
        if attempt >= tries {
            return Err(DatalogError::Busy {
                path,
                reason,
                tries,
                lost,
            });
        }
        say(&format!(
            "Datalog file {} is in use by another program ({}); retrying in {} s (try {} of {})",
            path.display(),
            reason,
            retry_delay.as_secs(),
            attempt + 1,
            tries
        ));
        wait_or_cancel(retry_delay, cancel);
        attempt += 1;
    }
}

fn wait_or_cancel(d: Duration, cancel: &CancellationToken) {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end && !cancel.is_cancelled() {
        std::thread::sleep(Duration::from_millis(50).min(d));
    }
}

fn append_once(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

#[async_trait::async_trait]
impl Sink for DatalogSink {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        if report.records.is_empty() {
            return Ok(());
        }
        // The retry loop blocks; keep it off the async workers.
        tokio::task::block_in_place(|| self.write_cycle(&report.records, cancel))?;
        Ok(())
    }

    async fn finish(&mut self, _end: RunEnd) -> Result<(), SinkError> {
        // Every cycle's rows were synced when written; nothing is held open between cycles.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Test, Verdict};
    use chrono::{Local, TimeZone};

    fn rec(test: Test, result: Verdict, address: &str, name: &str) -> Record {
        Record {
            cycle: 1,
            at: Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 47).unwrap(),
            test,
            result,
            address: address.into(),
            name: name.into(),
            reason: Some("not in the row".into()),
            ping: None,
            duration: Duration::ZERO,
        }
    }

    /// Every row of a real datalog of the original, rebuilt from its fields, comes out
    /// byte-identical.
    #[test]
    fn rows_match_the_original_bytes() {
        let fixture = include_str!("../../tests/data/vpnmon-original-datalog.csv");
        let mut rebuilt = String::new();
        for line in fixture.lines() {
            let f: Vec<&str> = line.splitn(7, ',').collect();
            let at = chrono::NaiveDateTime::parse_from_str(
                &format!("{} {}", f[1], f[2]),
                "%Y/%m/%d %H:%M:%S",
            )
            .unwrap();
            let mut r = rec(
                Test::parse(f[3]).unwrap(),
                Verdict::parse(f[4]).unwrap(),
                f[5],
                f[6],
            );
            r.cycle = f[0].parse().unwrap();
            r.at = Local.from_local_datetime(&at).single().unwrap();
            rebuilt.push_str(&format_row(&r));
        }
        assert_eq!(fixture.lines().count(), 114);
        assert_eq!(rebuilt, fixture);
    }

    #[test]
    fn quoting_only_where_needed() {
        let r = rec(
            Test::TargetPing,
            Verdict::Fail,
            "10.0.0.1",
            "Rack 1, \"left\"",
        );
        assert_eq!(
            format_row(&r),
            "1,2022/09/07,18:20:47,Target ping,Fail,10.0.0.1,\"Rack 1, \"\"left\"\"\"\n"
        );
    }

    #[test]
    fn write_creates_then_appends_and_other_errors_name_the_lost_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let mut s = DatalogSink::new(&p);
        let c = CancellationToken::new();
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        s.write_cycle(&cycle_records(1, 1, at), &c).unwrap();
        s.write_cycle(&cycle_records(2, 1, at), &c).unwrap();
        let rows: String = [cycle_records(1, 1, at), cycle_records(2, 1, at)]
            .iter()
            .flatten()
            .map(format_row)
            .collect();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
        let mut s = DatalogSink::new(dir.path());
        let e = s.write_cycle(&cycle_records(7, 3, at), &c).unwrap_err();
        assert!(matches!(e, DatalogError::Access { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.starts_with("Failed to access the vpnmon datalog file")
                && e.contains("; the 4 rows of cycle 7 were not written;"),
            "{e}"
        );
        let e = s.write_cycle(&cycle_records(8, 0, at), &c).unwrap_err();
        assert!(
            e.to_string()
                .contains("the 1 row of cycle 8 was not written"),
            "{e}"
        );
    }

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct FakeClock(std::sync::Arc<std::sync::Mutex<DateTime<Local>>>);

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Local> {
            *self.0.lock().unwrap()
        }
    }

    impl FakeClock {
        fn at(t: DateTime<Local>) -> FakeClock {
            FakeClock(std::sync::Arc::new(std::sync::Mutex::new(t)))
        }
        fn set(&self, t: DateTime<Local>) {
            *self.0.lock().unwrap() = t;
        }
    }

    /// The records of cycle `c`: a gateway ping and `n` targets, stamped `at`.
    fn cycle_records(c: u64, n: usize, at: DateTime<Local>) -> Vec<Record> {
        let mut v = vec![Record {
            cycle: c,
            at,
            ..rec(Test::VpnPing, Verdict::Good, "gw.example", "VPN Gateway")
        }];
        for i in 0..n {
            v.push(Record {
                cycle: c,
                at,
                ..rec(
                    Test::TargetPing,
                    if (c as usize + i) % 7 == 0 {
                        Verdict::Fail
                    } else {
                        Verdict::Good
                    },
                    &format!("10.0.0.{i}"),
                    &format!("Host {i}"),
                )
            });
        }
        v
    }

    /// All files in `dir`, each file's rows grouped by cycle number.
    fn rows_in(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
        out.sort();
        out
    }

    fn assert_whole_cycles(text: &str, format: DatalogFormat) {
        // Each file holds whole cycles: every cycle number's rows are contiguous and complete.
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for l in text.lines() {
            if l.starts_with("cycle,") {
                continue;
            }
            let c = match format {
                DatalogFormat::Jsonl => serde_json::from_str::<JsonRecord>(l)
                    .unwrap()
                    .cycle
                    .to_string(),
                _ => l.split(',').next().unwrap().to_string(),
            };
            *counts.entry(c).or_default() += 1;
        }
        assert!(counts.values().all(|&n| n == 4), "{counts:?}");
    }

    #[test]
    fn size_rotation_keeps_whole_cycles_and_loses_or_duplicates_nothing() {
        for format in [
            DatalogFormat::Vpnmon,
            DatalogFormat::Extended,
            DatalogFormat::Jsonl,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("vpnmon_datalog.csv");
            let clock = FakeClock::at(Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap());
            let max = 1000;
            let mut s = DatalogSink::new(&p)
                .with_format(format)
                .with_rotation(Rotation {
                    max_size: Some(max),
                    keep: 100,
                    daily: false,
                })
                .with_clock(Box::new(clock.clone()));
            let c = CancellationToken::new();
            let mut expected = String::new();
            for cycle in 1..=40u64 {
                let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
                    + chrono::Duration::minutes(30 * cycle as i64);
                clock.set(at);
                let recs = cycle_records(cycle, 3, at);
                expected.extend(recs.iter().map(|r| format_record(format, r)));
                s.write_cycle(&recs, &c).unwrap();
            }
            let files = rows_in(dir.path());
            assert!(
                files.len() > 3,
                "{format:?}: expected several files, got {}",
                files.len()
            );
            // Oldest first: .N … .1, then the current file.
            let mut ordered: Vec<&(String, String)> = files.iter().collect();
            let rank = |name: &str| -> i64 {
                name.rsplit('.')
                    .next()
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            ordered.sort_by_key(|(n, _)| -rank(n));
            let mut joined = String::new();
            for (name, text) in &ordered {
                assert!(text.len() as u64 <= max, "{name} is {} bytes", text.len());
                assert_whole_cycles(text, format);
                if format == DatalogFormat::Extended {
                    assert!(text.starts_with(EXTENDED_HEADER), "{name} lacks the header");
                    joined.push_str(&text[EXTENDED_HEADER.len()..]);
                } else {
                    joined.push_str(text);
                }
            }
            assert_eq!(joined, expected, "{format:?}");
        }
    }

    #[test]
    fn size_rotation_drops_only_beyond_keep() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let mut s = DatalogSink::new(&p).with_rotation(Rotation {
            max_size: Some(300),
            keep: 2,
            daily: false,
        });
        let c = CancellationToken::new();
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for cycle in 1..=20 {
            s.write_cycle(&cycle_records(cycle, 3, at), &c).unwrap();
        }
        let names: Vec<String> = rows_in(dir.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["d.csv", "d.csv.1", "d.csv.2"]);
        // The newest rows are in d.csv, the ones before in .1, then .2, contiguous.
        let last = std::fs::read_to_string(&p).unwrap();
        let one = std::fs::read_to_string(rotated_path(&p, 1)).unwrap();
        let two = std::fs::read_to_string(rotated_path(&p, 2)).unwrap();
        let first_cycle = |t: &str| t.split(',').next().unwrap().parse::<u64>().unwrap();
        let last_cycle = |t: &str| {
            t.lines()
                .last()
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(last_cycle(&last), 20);
        assert_eq!(last_cycle(&one) + 1, first_cycle(&last));
        assert_eq!(last_cycle(&two) + 1, first_cycle(&one));
    }

    #[test]
    fn daily_rotation_puts_each_cycle_in_its_days_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vpnmon_datalog.csv");
        let start = Local.with_ymd_and_hms(2024, 3, 1, 20, 0, 0).unwrap();
        let clock = FakeClock::at(start);
        let mut s = DatalogSink::new(&p)
            .with_rotation(Rotation {
                max_size: None,
                keep: 5,
                daily: true,
            })
            .with_clock(Box::new(clock.clone()));
        let c = CancellationToken::new();
        let mut per_day: std::collections::BTreeMap<String, String> = Default::default();
        // Every 50 minutes for three days; the rows are stamped 20 minutes before the write, so
        // a cycle that starts before midnight and ends after it goes whole into the new day.
        for cycle in 1..=90u64 {
            let end = start + chrono::Duration::minutes(50 * cycle as i64);
            clock.set(end);
            let recs = cycle_records(cycle, 3, end - chrono::Duration::minutes(20));
            per_day
                .entry(format!("vpnmon_datalog-{}.csv", end.format("%Y-%m-%d")))
                .or_default()
                .extend(recs.iter().map(format_row));
            s.write_cycle(&recs, &c).unwrap();
        }
        let files: std::collections::BTreeMap<String, String> =
            rows_in(dir.path()).into_iter().collect();
        assert_eq!(files, per_day);
        assert_eq!(files.len(), 4);
        for text in files.values() {
            assert_whole_cycles(text, DatalogFormat::Vpnmon);
        }
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size(" 1 GB"), Ok(1 << 30));
        assert_eq!(parse_size("5000"), Ok(5000));
        assert!(parse_size("10 parsecs").unwrap_err().contains("10MB"));
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn extended_and_json_rows() {
        let mut r = rec(Test::TargetPing, Verdict::Warn, "10.0.0.1", "Rack, A");
        r.duration = Duration::from_micros(1_002_500);
        r.reason = Some("1 of 2 echo replies".into());
        r.ping = Some(crate::record::PingStats {
            sent: 2,
            received: 1,
            rtt_min: Some(Duration::from_micros(1500)),
            rtt_avg: Some(Duration::from_micros(1500)),
            rtt_max: Some(Duration::from_micros(1500)),
        });
        assert_eq!(
            format_extended_row(&r),
            "1,2022/09/07,18:20:47,Target ping,Warn,10.0.0.1,\"Rack, A\",1002.5,2,1,1.5,1.5,1.5,1 of 2 echo replies\n"
        );
        let j = format_json_row(&r);
        let offset = r.at.format("%:z").to_string();
        assert!(
            j.starts_with(&format!("{{\"cycle\":1,\"time\":\"2022-09-07T18:20:47{offset}\",\"test\":\"Target ping\",\"result\":\"Warn\"")),
            "{j}"
        );
        let back: JsonRecord = serde_json::from_str(&j).unwrap();
        assert_eq!(back, JsonRecord::of(&r));
        // The default format stays the original's.
        assert_eq!(format_record(DatalogFormat::Vpnmon, &r), format_row(&r));
    }

    /// An error as a busy file gives it (what a spreadsheet holding the file looks like).
    fn busy() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::PermissionDenied)
    }

    type Said = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    fn collecting(s: DatalogSink) -> (DatalogSink, Said) {
        let said = Said::default();
        let s2 = said.clone();
        let s = s.with_messages(Box::new(move |m| s2.lock().unwrap().push(m.to_string())));
        (s, said)
    }

    #[test]
    fn busy_file_is_retried_then_written_or_given_up() {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for (busy_times, ok) in [(2, true), (10, false)] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.csv");
            let mut left = busy_times;
            let (mut s, said) = collecting(DatalogSink::new(&p));
            s.write = Box::new(move |path, bytes| {
                if left > 0 {
                    left -= 1;
                    Err(busy())
                } else {
                    append_once(path, bytes)
                }
            });
            s.retry_delay = Duration::from_millis(10);
            let recs = cycle_records(3, 3, at);
            let r = s.write_cycle(&recs, &CancellationToken::new());
            let said = said.lock().unwrap();
            assert_eq!(r.is_ok(), ok, "{r:?}");
            if ok {
                let rows: String = recs.iter().map(format_row).collect();
                assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
                assert_eq!(said.len(), 2, "{said:?}");
            } else {
                assert_eq!(said.len(), 4, "5 tries, 4 retries: {said:?}");
                let e = r.unwrap_err().to_string();
                assert!(
                    e.starts_with("The vpnmon datalog file")
                        && e.contains("was still in use by another program (permission denied) after 5 tries; the 4 rows of cycle 3 were not written;"),
                    "{e}"
                );
                assert!(!p.exists());
            }
            assert!(said[0].contains("is in use by another program (permission denied); retrying in 0 s (try 2 of 5)"), "{}", said[0]);
        }
    }

    /// A stop (Ctrl-C) during the wait for a busy file ends the wait at once with one last try;
    /// if the file is still busy, the error says which rows were lost.
    #[test]
    fn a_stop_while_busy_ends_the_wait_with_one_last_try() {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::Arc;
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for free_on_last_try in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.csv");
            let cancel = CancellationToken::new();
            let c2 = cancel.clone();
            let mut s = DatalogSink::new(&p).with_messages(Box::new(move |_| c2.cancel()));
            let calls = Arc::new(AtomicU32::new(0));
            let calls2 = calls.clone();
            s.write = Box::new(move |path, bytes| {
                let n = calls2.fetch_add(1, Ordering::SeqCst) + 1;
                if free_on_last_try && n == 2 {
                    append_once(path, bytes)
                } else {
                    Err(busy())
                }
            });
            // Far longer than the test may take: only the stop can end the wait.
            s.retry_delay = Duration::from_secs(600);
            let recs = cycle_records(12, 2, at);
            let started = std::time::Instant::now();
            let r = s.write_cycle(&recs, &cancel);
            assert!(started.elapsed() < Duration::from_secs(30));
            assert_eq!(
                calls.load(Ordering::SeqCst),
                2,
                "the first try and one last"
            );
            if free_on_last_try {
                r.unwrap();
                let rows: String = recs.iter().map(format_row).collect();
                assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
            } else {
                let e = r.unwrap_err();
                assert!(matches!(e, DatalogError::BusyWhenStopped { .. }), "{e:?}");
                assert_eq!(
                    e.to_string(),
                    format!("vpnmon was stopped while the datalog file {} was in use by another program (permission denied); the 3 rows of cycle 12 were not written", p.display())
                );
            }
        }
        // Already stopped before the write (the cycle was cut short by Ctrl-C): one try only.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let (mut s, said) = collecting(DatalogSink::new(&p));
        let mut tries = 0;
        s.write = Box::new(move |_, _| {
            tries += 1;
            assert_eq!(tries, 1);
            Err(busy())
        });
        let cancel = CancellationToken::new();
        cancel.cancel();
        let e = s
            .write_cycle(&cycle_records(5, 0, at), &cancel)
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("the 1 row of cycle 5 was not written"),
            "{e}"
        );
        assert!(said.lock().unwrap().is_empty());
    }

    /// Writes cycles 1..=`cycles` (3 targets each) to `p` with a size limit of 300 bytes,
    /// calling `before(cycle)` before each; returns the rows of the cycles that were written,
    /// oldest first, and the cycles that failed.
    fn rotate_run(
        s: &mut DatalogSink,
        cycles: u64,
        mut before: impl FnMut(u64),
    ) -> (String, Vec<u64>) {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        let c = CancellationToken::new();
        let (mut written, mut failed) = (String::new(), Vec::new());
        for cycle in 1..=cycles {
            before(cycle);
            let recs = cycle_records(cycle, 3, at);
            match s.write_cycle(&recs, &c) {
                Ok(()) => written.extend(recs.iter().map(format_row)),
                Err(DatalogError::Busy { .. }) => failed.push(cycle),
                Err(e) => panic!("{e}"),
            }
        }
        (written, failed)
    }

    /// The datalog's files joined oldest first (`.N` … `.1`, the live file).
    fn joined(p: &Path, keep: u32) -> String {
        let mut out = String::new();
        for i in (1..=keep).rev() {
            out.push_str(&std::fs::read_to_string(rotated_path(p, i)).unwrap_or_default());
        }
        out + &std::fs::read_to_string(p).unwrap_or_default()
    }

    /// A rename made busy (a spreadsheet holding the live file, or an old rotated one) any
    /// number of times below the tries: the files come out exactly as with no busy rename at
    /// all, so no rotated file and no row is lost or written twice.
    #[test]
    fn busy_renames_while_rotating_lose_no_file_and_no_row() {
        use std::sync::{Arc, Mutex};
        let rotation = Rotation {
            max_size: Some(300),
            keep: 3,
            daily: false,
        };
        let base_dir = tempfile::tempdir().unwrap();
        let base_p = base_dir.path().join("d.csv");
        let mut base = DatalogSink::new(&base_p).with_rotation(rotation);
        let (base_rows, failed) = rotate_run(&mut base, 30, |_| {});
        assert!(failed.is_empty());
        let baseline = rows_in(base_dir.path());
        assert_eq!(baseline.len(), 4, "{baseline:?}");
        assert!(base_rows.ends_with(&joined(&base_p, 3)));
        for victim in ["live", "rotating", "shift .1", "shift .2"] {
            for busy_n in [1u32, 2, 4] {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("d.csv");
                let left = Arc::new(Mutex::new(0u32));
                let hits = Arc::new(Mutex::new(0u32));
                let (l2, h2, p2) = (left.clone(), hits.clone(), p.clone());
                let (mut s, said) = collecting(DatalogSink::new(&p).with_rotation(rotation));
                s.retry_delay = Duration::ZERO;
                s.rename = Box::new(move |from, to| {
                    let target = match victim {
                        "live" => p2.clone(),
                        "rotating" => rotating_path(&p2),
                        "shift .1" => rotated_path(&p2, 1),
                        _ => rotated_path(&p2, 2),
                    };
                    let mut left = l2.lock().unwrap();
                    if from == target && *left > 0 {
                        *left -= 1;
                        *h2.lock().unwrap() += 1;
                        return Err(busy());
                    }
                    std::fs::rename(from, to)
                });
                // Busy from cycle 10 on, when all of .1 … .3 exist.
                let (rows, failed) = rotate_run(&mut s, 30, |c| {
                    if c >= 10 {
                        *left.lock().unwrap() = busy_n;
                    }
                });
                let what = format!("{victim} busy {busy_n} times");
                assert!(failed.is_empty(), "{what}: {failed:?}");
                assert!(*hits.lock().unwrap() >= busy_n * 3, "{what}: never busy");
                assert!(!said.lock().unwrap().is_empty(), "{what}");
                assert_eq!(rows, base_rows, "{what}");
                assert_eq!(rows_in(dir.path()), baseline, "{what}");
            }
        }
    }

    /// A rotation given up while busy (or cut by a kill) leaves `.rotating`; the next write
    /// finishes it first, so that file lands in `.1` in order and nothing is lost.
    #[test]
    fn a_rotation_left_half_done_is_finished_by_the_next_write() {
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let keep = 100;
        let busy_cycles = Arc::new(Mutex::new(false));
        let b2 = busy_cycles.clone();
        let rp = rotating_path(&p);
        let (mut s, _said) = collecting(DatalogSink::new(&p).with_rotation(Rotation {
            max_size: Some(300),
            keep,
            daily: false,
        }));
        s.retry_delay = Duration::ZERO;
        // The final rename (`.rotating` → `.1`) is busy through every try of cycle 12.
        s.rename = Box::new(move |from, to| {
            if *b2.lock().unwrap() && from == rp {
                return Err(busy());
            }
            std::fs::rename(from, to)
        });
        let (rows, failed) = rotate_run(&mut s, 30, |c| {
            *busy_cycles.lock().unwrap() = c == 12;
            if c == 13 {
                // What the failed cycle left behind.
                assert!(rotating_path(&p).exists());
            }
        });
        assert_eq!(failed, [12]);
        assert!(!rotating_path(&p).exists());
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        let expected: String = (1..=30u64)
            .filter(|&c| c != 12)
            .flat_map(|c| cycle_records(c, 3, at))
            .map(|r| format_row(&r))
            .collect();
        assert_eq!(rows, expected);
        assert_eq!(joined(&p, keep), expected);
        for (name, text) in rows_in(dir.path()) {
            assert!(text.len() <= 300, "{name}");
            assert_whole_cycles(&text, DatalogFormat::Vpnmon);
        }

        // Left by a kill between the first rename and the shift: finished on the next write.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(rotated_path(&p, 1), "old\n").unwrap();
        std::fs::write(rotating_path(&p), "newer\n").unwrap();
        let mut s = DatalogSink::new(&p).with_rotation(Rotation {
            max_size: Some(10_000),
            keep: 5,
            daily: false,
        });
        let recs = cycle_records(1, 0, at);
        s.write_cycle(&recs, &CancellationToken::new()).unwrap();
        assert_eq!(
            rows_in(dir.path()),
            [
                ("d.csv".to_string(), format_row(&recs[0])),
                ("d.csv.1".to_string(), "newer\n".to_string()),
                ("d.csv.2".to_string(), "old\n".to_string()),
            ]
        );
    }
}
