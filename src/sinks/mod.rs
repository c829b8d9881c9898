//! Outputs: each sink turns records into one kind of output. Sinks never decide results.

use crate::record::{CycleReport, Record};
use chrono::{DateTime, Local};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub mod check;
pub mod console;
pub mod datalog;
pub mod json;
pub mod live;
pub mod log;
pub mod service;

/// What the operator's lines are: the original's console lines, JSON lines (`--json`), or one
/// monitoring-plugin status line (`--check`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Output {
    #[default]
    Console,
    /// Records as JSON lines on stdout; everything for people goes to stderr.
    Json,
    /// One cycle, one status line with perfdata on stdout, the exit code 0-3; everything else
    /// goes to stderr.
    Check(check::CheckConfig),
    /// The full-screen live view on the terminal (`--tui`); everything else goes to stderr.
    Tui,
}

/// When the console colours its verdicts (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether the console shows a spinner and countdown under its lines (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressWhen {
    /// On a terminal whose TERM is not `dumb`.
    #[default]
    Auto,
    /// On any terminal (never when stdout is not a terminal).
    Always,
    Never,
}

/// How the console presents itself on a terminal (`--verbose`, `--color`, `--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TerminalConfig {
    /// The lines naming failed targets also when stdout is not a terminal.
    pub verbose: bool,
    pub color: ColorWhen,
    pub progress: ProgressWhen,
    /// Tests only (`--debug-tui-panic`): the full-screen view panics at its first wait.
    pub debug_tui_panic: bool,
}

/// Which site of a cycle begins (`Sink::site_start`).
#[derive(Debug, Clone, Copy)]
pub struct SiteHeader<'a> {
    pub name: &'a str,
    /// Empty for a site without a VPN client.
    pub gateway: &'a str,
    pub index: usize,
    pub of: usize,
}

/// How a run ended, for the sinks' last words. `vpn_closed` is false when the last close failed
/// or could not be confirmed (the reason was given as a notice just before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// All requested cycles ran.
    Completed { cycles: u64, vpn_closed: bool },
    /// Ctrl-C or SIGTERM.
    Stopped { cycles: u64, vpn_closed: bool },
    /// A fatal error ended the run (said by `run` after the sinks finished).
    Failed { cycles: u64, vpn_closed: bool },
}

impl RunEnd {
    pub fn vpn_closed(self) -> bool {
        match self {
            RunEnd::Completed { vpn_closed, .. }
            | RunEnd::Stopped { vpn_closed, .. }
            | RunEnd::Failed { vpn_closed, .. } => vpn_closed,
        }
    }
}

/// Why a sink could not do its part. Only the datalog's are fatal today.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Datalog(#[from] crate::datalog::DatalogError),
}

/// One output of the monitor. Every method has a default, so a sink implements only what it
/// uses. The monitor calls every sink for every event, also after another sink failed; errors
/// from `cycle_end`/`finish` end the run (after `finish` has reached every sink).
#[async_trait::async_trait]
pub trait Sink: Send {
    /// A line for the operator that is not a record (`Running without a vpnmon targets file`).
    fn notice(&mut self, _line: &str) {}
    fn cycle_start(&mut self, _cycle: u64, _of: Option<u64>, _at: DateTime<Local>) {}
    /// A run with several sites begins site `index` (from 1) of `of` in this cycle; `gateway`
    /// is empty for a site without a VPN. Not called when the run has one site.
    fn site_start(&mut self, _at: DateTime<Local>, _site: &SiteHeader<'_>) {}
    /// Called as each test finishes, for live progress.
    fn record(&mut self, _rec: &Record) {}
    /// Records known at once (a burst of a sweep's replies), in order: `record` for each
    /// unless the sink does better with them together (the console writes them at once).
    fn records(&mut self, recs: &[Record]) {
        for r in recs {
            self.record(r);
        }
    }
    /// `--trace-on-fail`: a target's record again, now with its `path`, once traced (before
    /// the close; `cycle_end` has the records with their paths).
    fn traced(&mut self, _rec: &Record) {}
    /// Called once per cycle with all its records (also a cancelled cycle's completed ones).
    /// May wait (a busy datalog is retried); `cancel` shortens the wait.
    async fn cycle_end(
        &mut self,
        _report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        Ok(())
    }
    /// The client's last lines after a failed open/close (password already masked).
    fn diagnostics(&mut self, _lines: &[String]) {}
    fn waiting(&mut self, _delay: Duration, _next: DateTime<Local>) {}
    /// What the next cycle of a site will test (after its targets were read): outputs that
    /// keep per-check state drop the checks no longer there.
    fn planned(&mut self, _site: &str, _gateway: &str, _targets: &[crate::targets::Target]) {}
    /// Sinks failed in this cycle (every sink hears it before the run ends).
    fn sink_errors(&mut self, _errors: &[SinkError]) {}
    /// The operator paused (`true`) or resumed the schedule (`--tui`'s `p`), during a wait.
    fn paused(&mut self, _on: bool) {}
    /// A reload (SIGHUP) was applied (`true`) or refused, the running configuration kept.
    fn reloaded(&mut self, _ok: bool) {}
    /// The last call of a run. May wait (mail and hook still under way).
    async fn finish(&mut self, _end: RunEnd) -> Result<(), SinkError> {
        Ok(())
    }
}
