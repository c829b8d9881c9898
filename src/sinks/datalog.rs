//! The datalog: one CSV row per test, `cycle,YYYY/MM/DD,HH:MM:SS,test,result,address,name`, no
//! header, appended. This module is the one place that decides the row format. A cycle's rows go
//! out in one write, flushed and synced, so a kill never leaves half a cycle or half a line.

use super::{RunEnd, Sink};
use crate::record::{CycleReport, Record};
use crate::settings::io_reason;
use anyhow::Context;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
    cfg!(windows) && matches!(e.raw_os_error(), Some(32) | Some(33))
}

/// Appends bytes to the file at a path.
type AppendFn = dyn FnMut(&Path, &[u8]) -> std::io::Result<()> + Send;

pub struct DatalogSink {
    path: PathBuf,
    /// Tries and the pause between them for a busy file (the original: 5, 15 s).
    pub tries: u32,
    pub retry_delay: Duration,
    /// Where "file busy, retrying" messages go.
    say: Box<dyn FnMut(&str) + Send>,
    /// Appends bytes to a path; replaceable so tests can make the file "busy".
    write: Box<AppendFn>,
}

impl DatalogSink {
    pub fn new(path: &Path) -> DatalogSink {
        DatalogSink {
            path: path.to_path_buf(),
            tries: 5,
            retry_delay: Duration::from_secs(15),
            say: Box::new(|s| eprintln!("{s}")),
            write: Box::new(append_once),
        }
    }

    pub fn with_messages(mut self, say: Box<dyn FnMut(&str) + Send>) -> Self {
        self.say = say;
        self
    }

    /// Appends `bytes` in one write and syncs, retrying while another program holds the file.
    pub fn append(&mut self, bytes: &[u8], cancel: &CancellationToken) -> anyhow::Result<()> {
        let mut attempt = 1;
        loop {
            match (self.write)(&self.path, bytes) {
                Ok(()) => return Ok(()),
                Err(e) if is_busy(&e) && attempt < self.tries && !cancel.is_cancelled() => {
                    (self.say)(&format!(
                        "Datalog file {} is in use by another program ({}); retrying in {} s (try {} of {})",
                        self.path.display(),
                        io_reason(&e),
                        self.retry_delay.as_secs(),
                        attempt + 1,
                        self.tries
                    ));
                    wait_or_cancel(self.retry_delay, cancel);
                    attempt += 1;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "Failed to access the vpnmon datalog file {}; check that its folder exists and is writable",
                            self.path.display()
                        )
                    })
                }
            }
        }
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

impl Sink for DatalogSink {
    fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        if report.records.is_empty() {
            return Ok(());
        }
        let bytes: String = report.records.iter().map(format_row).collect();
        // The retry loop blocks; keep it off the async workers.
        tokio::task::block_in_place(|| self.append(bytes.as_bytes(), cancel))
    }

    fn finish(&mut self, _end: RunEnd) -> anyhow::Result<()> {
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
    fn append_creates_then_appends_and_other_errors_are_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let mut s = DatalogSink::new(&p);
        let c = CancellationToken::new();
        s.append(b"a\n", &c).unwrap();
        s.append(b"b\n", &c).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
        let mut s = DatalogSink::new(dir.path());
        let e = s.append(b"x\n", &c).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("Failed to access the vpnmon datalog file"),
            "{e:#}"
        );
    }

    #[test]
    fn busy_file_is_retried_then_written_or_given_up() {
        use std::sync::{Arc, Mutex};
        for (busy_times, ok) in [(2, true), (10, false)] {
            let said = Arc::new(Mutex::new(Vec::<String>::new()));
            let s2 = said.clone();
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.csv");
            let mut left = busy_times;
            let mut s = DatalogSink::new(&p)
                .with_messages(Box::new(move |m| s2.lock().unwrap().push(m.to_string())));
            s.write = Box::new(move |path, bytes| {
                if left > 0 {
                    left -= 1;
                    Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
                } else {
                    append_once(path, bytes)
                }
            });
            s.retry_delay = Duration::from_millis(10);
            let r = s.append(b"x\n", &CancellationToken::new());
            let said = said.lock().unwrap();
            assert_eq!(r.is_ok(), ok, "{r:?}");
            if ok {
                assert_eq!(std::fs::read_to_string(&p).unwrap(), "x\n");
                assert_eq!(said.len(), 2, "{said:?}");
            } else {
                assert_eq!(said.len(), 4, "5 tries, 4 retries: {said:?}");
                let e = format!("{:#}", r.unwrap_err());
                assert!(
                    e.starts_with("Failed to access the vpnmon datalog file"),
                    "{e}"
                );
            }
            assert!(said[0].contains("is in use by another program (permission denied); retrying in 0 s (try 2 of 5)"), "{}", said[0]);
        }
    }
}
