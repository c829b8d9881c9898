//! The log sink: what the console says, as timestamped, levelled events for `--log-file`
//! (through `tracing`; see service::logfile). It sees only records, notices and the client's
//! already-masked diagnostics, so the password never reaches the log.

use super::{RunEnd, Sink, SinkError};
use crate::record::{CycleReport, Record, Tally, Verdict};
use chrono::{DateTime, Local};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct LogSink;

#[async_trait::async_trait]
impl Sink for LogSink {
    fn notice(&mut self, line: &str) {
        tracing::warn!("{}", crate::text::escape(line));
    }

    fn cycle_start(&mut self, cycle: u64, of: Option<u64>, _at: DateTime<Local>) {
        match of {
            Some(of) => tracing::info!("cycle {cycle} of {of} started"),
            None => tracing::info!("cycle {cycle} started"),
        }
    }

    fn record(&mut self, r: &Record) {
        let what = format!(
            "{} {} {} ({}) in {:.3} s",
            r.test,
            r.result,
            crate::text::escape(&r.name),
            crate::text::escape(&r.address),
            r.duration.as_secs_f64()
        );
        let why = r
            .reason
            .as_deref()
            .map(|w| format!(": {}", crate::text::escape(w)))
            .unwrap_or_default();
        match r.result {
            Verdict::Good => tracing::info!("{what}{why}"),
            Verdict::Warn => tracing::warn!("{what}{why}"),
            Verdict::Fail => tracing::error!("{what}{why}"),
        }
    }

    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        let t = Tally::of_targets(&report.records);
        tracing::info!(
            "cycle {} {}: targets {} good, {} warn, {} fail",
            report.cycle,
            if report.cancelled { "stopped" } else { "done" },
            t.good,
            t.warn,
            t.fail
        );
        Ok(())
    }

    fn diagnostics(&mut self, lines: &[String]) {
        for l in lines {
            tracing::warn!("client: {}", crate::text::escape(l));
        }
    }

    fn waiting(&mut self, delay: Duration, next: DateTime<Local>) {
        tracing::debug!(
            "next cycle in {:.1} s at {}",
            delay.as_secs_f64(),
            next.format("%H:%M:%S")
        );
    }

    fn sink_errors(&mut self, errors: &[SinkError]) {
        for e in errors {
            tracing::error!("{e}");
        }
    }

    fn reloaded(&mut self, ok: bool) {
        if ok {
            tracing::info!("configuration reloaded");
        }
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        tracing::info!("vpnmon ended: {end:?}");
        Ok(())
    }
}
