//! Outputs: each sink turns records into one kind of output. Sinks never decide results.

use crate::record::{CycleReport, Record};
use chrono::{DateTime, Local};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub mod console;
pub mod datalog;
pub mod json;

/// How a run ended, for the sinks' last words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// All requested cycles ran.
    Completed { cycles: u64 },
    /// Ctrl-C or SIGTERM; `vpn_closed` is false when a close could not be confirmed (the reason
    /// was given as a notice just before).
    Stopped { cycles: u64, vpn_closed: bool },
}

/// One output of the monitor. Every method has a default, so a sink implements only what it
/// uses. Errors from `cycle_end`/`finish` are fatal to the run (the datalog cannot be written).
pub trait Sink: Send {
    /// A line for the operator that is not a record (`Running without a vpnmon targets file`).
    fn notice(&mut self, _line: &str) {}
    fn cycle_start(&mut self, _cycle: u64, _of: Option<u64>, _at: DateTime<Local>) {}
    /// Called as each test finishes, for live progress.
    fn record(&mut self, _rec: &Record) {}
    /// Called once per cycle with all its records (also a cancelled cycle's completed ones).
    fn cycle_end(
        &mut self,
        _report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    /// The client's last lines after a failed open/close (password already masked).
    fn diagnostics(&mut self, _lines: &[String]) {}
    fn waiting(&mut self, _delay: Duration, _next: DateTime<Local>) {}
    fn finish(&mut self, _end: RunEnd) -> anyhow::Result<()> {
        Ok(())
    }
}
