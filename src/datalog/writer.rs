//! Writing a cycle's rows: one write, flushed and synced, so a kill never leaves half a cycle or
//! half a line. The file side runs on a thread of its own that owns the file operations; the
//! async monitor hands it a cycle and awaits the answer together with the stop token. A file held
//! by another program (a spreadsheet) is retried `tries` times `retry_delay` apart; a stop ends
//! that wait at once with one last try, and the error says which rows were lost.

use super::rotate::{self, Clock, RenameFn, Rotation, SystemClock};
use super::schema::{rows, EXTENDED_HEADER};
use super::{DatalogConfig, DatalogFormat};
use crate::error::io_reason;
use crate::record::Record;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Tries for a busy file and the pause between them (the original's: 5, 15 s).
pub const TRIES: u32 = 5;
pub const RETRY_DELAY: Duration = Duration::from_secs(15);

/// Appends bytes to the file at a path.
pub type AppendFn = dyn FnMut(&Path, &[u8]) -> std::io::Result<()> + Send;
/// Where the "file busy, retrying" messages go.
pub type SayFn = dyn FnMut(&str) + Send;

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
    /// The writer thread could not be started or ended unexpectedly.
    #[error("The vpnmon datalog writer for {path} is not running ({reason}); {lost}")]
    Writer {
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

impl Lost {
    /// The rows of one cycle's records (not empty).
    fn of(records: &[Record]) -> Lost {
        Lost {
            cycle: records.first().map_or(0, |r| r.cycle),
            rows: records.len(),
        }
    }
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

/// Whether a failed write is worth retrying: the file is held by another program (a spreadsheet
/// on Windows holds it with a sharing violation; elsewhere it shows as permission denied).
pub fn is_busy(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        return true;
    }
    crate::platform::is_sharing_violation(e)
}

fn append_once(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// The file side: the path, format and rotation, and the file operations. Lives on the writer
/// thread once the first cycle is written.
struct FileWriter {
    path: PathBuf,
    format: DatalogFormat,
    rotation: Rotation,
    clock: Box<dyn Clock>,
    tries: u32,
    retry_delay: Duration,
    say: Box<SayFn>,
    /// Replaceable so tests can make the file "busy".
    append: Box<AppendFn>,
    /// Replaceable so tests can make a rename "busy".
    rename: Box<RenameFn>,
}

impl FileWriter {
    /// The file the next cycle goes to (today's file when rotating daily).
    fn current_path(&self) -> PathBuf {
        if self.rotation.daily {
            rotate::daily_path(&self.path, self.clock.now())
        } else {
            self.path.clone()
        }
    }

    /// Writes one cycle's rows, retrying a busy file. `cancel` says whether the run was
    /// stopped; `stop` ends the pause between tries at once when it is (a message, or the
    /// caller gone), for one last try.
    fn write_cycle(
        &mut self,
        records: &[Record],
        cancel: &CancellationToken,
        stop: &mpsc::Receiver<()>,
    ) -> Result<(), DatalogError> {
        let text = rows(self.format, records);
        let lost = Lost::of(records);
        let path = self.current_path();
        let mut attempt = 1;
        let mut stopped = false;
        loop {
            let e = match self.try_once(&path, &text) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let (path, reason) = (path.clone(), io_reason(&e));
            if !is_busy(&e) {
                return Err(DatalogError::Access { path, reason, lost });
            }
            if stopped || cancel.is_cancelled() {
                return Err(DatalogError::BusyWhenStopped { path, reason, lost });
            }
            if attempt >= self.tries {
                return Err(DatalogError::Busy {
                    path,
                    reason,
                    tries: self.tries,
                    lost,
                });
            }
            (self.say)(&format!(
                "Datalog file {} is in use by another program ({}); retrying in {} s (try {} of {})",
                path.display(),
                reason,
                self.retry_delay.as_secs(),
                attempt + 1,
                self.tries
            ));
            if !matches!(
                stop.recv_timeout(self.retry_delay),
                Err(mpsc::RecvTimeoutError::Timeout)
            ) {
                stopped = true;
            }
            attempt += 1;
        }
    }

    /// One try: finishes a rotation left half done (by a busy file or a kill), rotates first if
    /// the rows would not fit, adds the extended header to a new file, then appends everything
    /// in one write.
    fn try_once(&mut self, p: &Path, text: &str) -> std::io::Result<()> {
        let Rotation { max_size, keep, .. } = self.rotation;
        rotate::finish_rotation(p, keep, self.rename.as_mut())?;
        let mut len = match std::fs::metadata(p) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if let Some(max) = max_size {
            if len > 0 && len + text.len() as u64 > max {
                rotate::rotate_files(p, keep, self.rename.as_mut())?;
                len = 0;
            }
        }
        if len == 0 && self.format == DatalogFormat::Extended {
            let mut b = String::with_capacity(EXTENDED_HEADER.len() + text.len());
            b.push_str(EXTENDED_HEADER);
            b.push_str(text);
            (self.append)(p, b.as_bytes())
        } else {
            (self.append)(p, text.as_bytes())
        }
    }
}

/// One cycle for the writer thread.
struct Job {
    records: Vec<Record>,
    cancel: CancellationToken,
    stop: mpsc::Receiver<()>,
    reply: oneshot::Sender<Result<(), DatalogError>>,
}

/// The datalog writer: configured here, then (from the first cycle on) a thread that owns the
/// file operations. Dropping it ends the thread once its cycle is written.
pub struct DatalogWriter {
    path: PathBuf,
    /// The file side while it is being configured, before the first write moves it to its
    /// thread.
    file: Option<Box<FileWriter>>,
    /// The thread's job queue, once started.
    jobs: Option<mpsc::Sender<Job>>,
}

impl DatalogWriter {
    pub fn new(path: &Path) -> DatalogWriter {
        DatalogWriter {
            path: path.to_path_buf(),
            file: Some(Box::new(FileWriter {
                path: path.to_path_buf(),
                format: DatalogFormat::Vpnmon,
                rotation: Rotation::default(),
                clock: Box::new(SystemClock),
                tries: TRIES,
                retry_delay: RETRY_DELAY,
                say: Box::new(|s| eprintln!("{s}")),
                append: Box::new(append_once),
                rename: Box::new(|from, to| std::fs::rename(from, to)),
            })),
            jobs: None,
        }
    }

    /// The writer the settings ask for (`--datalog-format`, `--datalog-max-size`, …).
    pub fn from_config(cfg: &DatalogConfig) -> DatalogWriter {
        DatalogWriter::new(&cfg.path)
            .with_format(cfg.format)
            .with_rotation(cfg.rotation)
    }

    /// Changes the file side's configuration; only before the first write.
    fn configure(mut self, f: impl FnOnce(&mut FileWriter)) -> Self {
        if let Some(file) = self.file.as_deref_mut() {
            f(file);
        }
        self
    }

    pub fn with_format(self, format: DatalogFormat) -> Self {
        self.configure(|f| f.format = format)
    }

    pub fn with_rotation(self, rotation: Rotation) -> Self {
        self.configure(|f| f.rotation = rotation)
    }

    pub fn with_clock(self, clock: Box<dyn Clock>) -> Self {
        self.configure(|f| f.clock = clock)
    }

    /// Where the "file busy, retrying" messages go (standard error by default).
    pub fn with_messages(self, say: Box<SayFn>) -> Self {
        self.configure(|f| f.say = say)
    }

    /// Tries for a busy file and the pause between them (default [`TRIES`], [`RETRY_DELAY`]).
    pub fn with_retries(self, tries: u32, retry_delay: Duration) -> Self {
        self.configure(|f| {
            f.tries = tries;
            f.retry_delay = retry_delay;
        })
    }

    #[cfg(test)]
    pub(crate) fn with_append(self, append: Box<AppendFn>) -> Self {
        self.configure(|f| f.append = append)
    }

    #[cfg(test)]
    pub(crate) fn with_rename(self, rename: Box<RenameFn>) -> Self {
        self.configure(|f| f.rename = rename)
    }

    /// The writer thread's queue, started on first use.
    fn jobs(&mut self) -> Result<&mpsc::Sender<Job>, String> {
        if self.jobs.is_none() {
            let Some(mut file) = self.file.take() else {
                return Err("it could not be started".into());
            };
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("vpnmon-datalog".into())
                .spawn(move || {
                    for job in rx {
                        let r = file.write_cycle(&job.records, &job.cancel, &job.stop);
                        let _ = job.reply.send(r);
                    }
                })
                .map_err(|e| format!("it could not be started: {}", io_reason(&e)))?;
            self.jobs = Some(tx);
        }
        self.jobs
            .as_ref()
            .ok_or_else(|| "it could not be started".to_string())
    }

    /// Writes one cycle's rows (nothing for no records). Waits while the file is busy; a stop
    /// (`cancel`) ends the waiting at once with one last try. The error says which rows were
    /// lost.
    pub async fn write(
        &mut self,
        records: &[Record],
        cancel: &CancellationToken,
    ) -> Result<(), DatalogError> {
        if records.is_empty() {
            return Ok(());
        }
        let lost = Lost::of(records);
        let gone = |path: &Path, reason: &str| DatalogError::Writer {
            path: path.to_path_buf(),
            reason: reason.to_string(),
            lost,
        };
        let (stop_tx, stop_rx) = mpsc::channel();
        let (reply_tx, mut reply) = oneshot::channel();
        let job = Job {
            records: records.to_vec(),
            cancel: cancel.clone(),
            stop: stop_rx,
            reply: reply_tx,
        };
        let sent = match self.jobs() {
            Ok(jobs) => jobs.send(job).is_ok(),
            Err(reason) => return Err(gone(&self.path, &reason)),
        };
        if !sent {
            return Err(gone(&self.path, "it ended unexpectedly"));
        }
        let answer = tokio::select! {
            biased;
            r = &mut reply => r,
            () = cancel.cancelled() => {
                // Ends the writer's pause between tries at once: one last try, then its answer.
                let _ = stop_tx.send(());
                reply.await
            }
        };
        answer.unwrap_or_else(|_| Err(gone(&self.path, "it ended unexpectedly")))
    }

    /// [`DatalogWriter::write`] for callers outside an async runtime (tools, tests); it blocks
    /// the calling thread, so the monitor awaits `write` instead.
    pub fn write_cycle(
        &mut self,
        records: &[Record],
        cancel: &CancellationToken,
    ) -> Result<(), DatalogError> {
        futures::executor::block_on(self.write(records, cancel))
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::datalog::rotate::{rotated_path, rotating_path};
    use crate::datalog::schema::tests::rec;
    use crate::datalog::schema::{format_record, format_row, JsonRecord};
    use crate::record::{Test, Verdict};
    use chrono::{DateTime, Local, TimeZone};

    #[test]
    fn write_creates_then_appends_and_other_errors_name_the_lost_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let mut s = DatalogWriter::new(&p);
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
        let mut s = DatalogWriter::new(dir.path());
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
            let mut s = DatalogWriter::new(&p)
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
        let mut s = DatalogWriter::new(&p).with_rotation(Rotation {
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
        let mut s = DatalogWriter::new(&p)
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

    /// An error as a busy file gives it (what a spreadsheet holding the file looks like).
    fn busy() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::PermissionDenied)
    }

    type Said = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    fn collecting(s: DatalogWriter) -> (DatalogWriter, Said) {
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
            let (mut s, said) = collecting(DatalogWriter::new(&p));
            s = s.with_append(Box::new(move |path, bytes| {
                if left > 0 {
                    left -= 1;
                    Err(busy())
                } else {
                    append_once(path, bytes)
                }
            }));
            s = s.with_retries(TRIES, Duration::from_millis(10));
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
            let mut s = DatalogWriter::new(&p).with_messages(Box::new(move |_| c2.cancel()));
            let calls = Arc::new(AtomicU32::new(0));
            let calls2 = calls.clone();
            s = s.with_append(Box::new(move |path, bytes| {
                let n = calls2.fetch_add(1, Ordering::SeqCst) + 1;
                if free_on_last_try && n == 2 {
                    append_once(path, bytes)
                } else {
                    Err(busy())
                }
            }));
            // Far longer than the test may take: only the stop can end the wait.
            s = s.with_retries(TRIES, Duration::from_secs(600));
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
        let (mut s, said) = collecting(DatalogWriter::new(&p));
        let mut tries = 0;
        s = s.with_append(Box::new(move |_, _| {
            tries += 1;
            assert_eq!(tries, 1);
            Err(busy())
        }));
        let cancel = CancellationToken::new();
        cancel.cancel();
        let e = s
            .write_cycle(&cycle_records(5, 0, at), &cancel)
            .unwrap_err();
        assert!(matches!(e, DatalogError::BusyWhenStopped { .. }), "{e:?}");
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
        s: &mut DatalogWriter,
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
        let mut base = DatalogWriter::new(&base_p).with_rotation(rotation);
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
                let (mut s, said) = collecting(DatalogWriter::new(&p).with_rotation(rotation));
                s = s.with_retries(TRIES, Duration::ZERO);
                s = s.with_rename(Box::new(move |from, to| {
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
                }));
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
        let (mut s, _said) = collecting(DatalogWriter::new(&p).with_rotation(Rotation {
            max_size: Some(300),
            keep,
            daily: false,
        }));
        s = s.with_retries(TRIES, Duration::ZERO);
        // The final rename (`.rotating` → `.1`) is busy through every try of cycle 12.
        s = s.with_rename(Box::new(move |from, to| {
            if *b2.lock().unwrap() && from == rp {
                return Err(busy());
            }
            std::fs::rename(from, to)
        }));
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
        let mut s = DatalogWriter::new(&p).with_rotation(Rotation {
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
