//! The datalog as a sink: the monitor hands each cycle's records to [`crate::datalog`]'s writer
//! and awaits it together with the stop token; at the end, rows still kept in memory (the file
//! was busy or full) get one last try. Formats, rotation, the journal and the busy-file retry
//! live in `crate::datalog`.

use super::{RunEnd, Sink, SinkError};
use crate::datalog::DatalogWriter;
use crate::record::CycleReport;
use tokio_util::sync::CancellationToken;

/// The datalog sink is the datalog writer (`DatalogSink::from_config`).
pub type DatalogSink = DatalogWriter;

#[async_trait::async_trait]
impl Sink for DatalogWriter {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        self.write(&report.records, cancel).await?;
        Ok(())
    }

    async fn finish(&mut self, _end: RunEnd) -> Result<(), SinkError> {
        // Every written cycle was synced; rows kept in memory get one last try, and the error
        // says exactly which were lost.
        self.flush_held().await?;
        Ok(())
    }
}

/// One site's datalog when the path holds `{site}`: the writer of that site's file, given only
/// that site's records.
pub struct SiteDatalog {
    site: String,
    writer: DatalogWriter,
}

impl SiteDatalog {
    pub fn new(site: &str, cfg: &crate::datalog::DatalogConfig) -> SiteDatalog {
        let mut cfg = cfg.clone();
        cfg.path = crate::datalog::site_path(&cfg.path, site);
        SiteDatalog {
            site: site.to_string(),
            writer: DatalogWriter::from_config(&cfg),
        }
    }
}

#[async_trait::async_trait]
impl Sink for SiteDatalog {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        let mine: Vec<_> = report
            .records
            .iter()
            .filter(|r| r.site == self.site)
            .cloned()
            .collect();
        self.writer
            .write(&std::sync::Arc::new(mine), cancel)
            .await?;
        Ok(())
    }

    async fn finish(&mut self, _end: RunEnd) -> Result<(), SinkError> {
        self.writer.flush_held().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datalog::DatalogError;
    use crate::record::{Record, Test, Verdict};
    use chrono::{Local, TimeZone};
    use std::time::Duration;

    fn report(cycle: u64) -> CycleReport {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        CycleReport {
            cycle,
            of: None,
            started: at,
            finished: at,
            records: vec![Record {
                path: None,
                cycle,
                at,
                test: Test::VpnPing,
                result: Verdict::Good,
                address: "gw.example".into(),
                name: "VPN Gateway".into(),
                site: "Site".into(),
                reason: None,
                ping: None,
                duration: Duration::ZERO,
            }]
            .into(),
            targets: 0,
            cancelled: false,
        }
    }

    /// On the async runtime (one worker thread, as nothing may block it): a stop while the
    /// sink waits out a busy file's 600 s pause ends the wait at once, with one last try; the
    /// rows are kept, and the last try at the end says they were lost.
    #[tokio::test(flavor = "current_thread")]
    async fn a_stop_ends_the_busy_wait_without_blocking_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let t2 = tries.clone();
        let (said_tx, mut said) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut sink = DatalogSink::new(&dir.path().join("d.csv"))
            .with_retries(5, Duration::from_secs(600))
            .with_messages(Box::new(move |m| {
                let _ = said_tx.send(m.to_string());
            }))
            .with_append(Box::new(move |_, _| {
                t2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(std::io::Error::from(std::io::ErrorKind::WouldBlock))
            }));
        // The stop comes from a task on the same one-thread runtime, once the sink says it is
        // waiting: it runs only because the waiting sink leaves the runtime free.
        let stopper = tokio::spawn(async move {
            let m = said.recv().await.unwrap();
            c2.cancel();
            (m, said)
        });
        let started = std::time::Instant::now();
        sink.cycle_end(&report(4), &cancel).await.unwrap();
        let (m, mut said) = stopper.await.unwrap();
        assert!(m.contains("retrying in 600 s (try 2 of 5)"), "{m}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
        let kept = said.recv().await.unwrap();
        assert!(
            kept.contains("the 1 row of cycle 4 was not written; no row of this run is in the datalog; 1 cycle (1 row) kept in memory"),
            "{kept}"
        );
        let e = sink
            .finish(RunEnd::Stopped {
                cycles: 4,
                vpn_closed: true,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e, SinkError::Datalog(DatalogError::NotWritten { .. })),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("the 1 row of cycle 4 was not written"),
            "{e}"
        );
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    /// A writer thread that dies (a bug) is an error naming the lost rows, not a hang.
    #[tokio::test(flavor = "current_thread")]
    async fn a_dead_writer_thread_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = DatalogSink::new(&dir.path().join("d.csv"))
            .with_append(Box::new(|_, _| panic!("a bug in the writer")));
        let cancel = CancellationToken::new();
        let e = sink.cycle_end(&report(2), &cancel).await.unwrap_err();
        assert!(
            matches!(e, SinkError::Datalog(DatalogError::Writer { .. })),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .ends_with("the 1 row of cycle 2 was not written"),
            "{e}"
        );
        // The next cycle says so too.
        let e = sink.cycle_end(&report(3), &cancel).await.unwrap_err();
        assert!(e.to_string().contains("is not running"), "{e}");
    }
}
