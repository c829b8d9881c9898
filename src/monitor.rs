//! The loop: cycle count, targets re-read each cycle, the delay, cancellation, and fan-out of
//! records to the sinks. Knows no vendor.

use crate::cycle::{self, CycleInput};
use crate::probe::Prober;
use crate::record::{CycleReport, Record};
use crate::settings::{Settings, Site};
use crate::sinks::{RunEnd, Sink};
use crate::targets::{self, Target};
use crate::vpn::VpnClient;
use anyhow::Context;
use chrono::Local;
use tokio_util::sync::CancellationToken;

pub struct Monitor {
    pub settings: Settings,
    pub sites: Vec<Site>,
    pub prober: Box<dyn Prober>,
    pub vpn: Option<Box<dyn VpnClient>>,
    pub sinks: Vec<Box<dyn Sink>>,
    pub cancel: CancellationToken,
    /// False once the last close failed or could not be confirmed: the exit status says so.
    pub vpn_closed: bool,
    /// Why a close cut short by Ctrl-C was not confirmed (retried once more at the end).
    close_unconfirmed: Option<String>,
}

/// What the monitor remembers of a site's targets file between cycles, so a file that becomes
/// unreadable mid-run keeps the last good list and repeated warnings are not printed each cycle.
#[derive(Default)]
struct TargetsState {
    last: Option<Vec<Target>>,
    last_notes: Vec<String>,
}

impl Monitor {
    pub fn new(
        settings: Settings,
        prober: Box<dyn Prober>,
        vpn: Option<Box<dyn VpnClient>>,
        sinks: Vec<Box<dyn Sink>>,
        cancel: CancellationToken,
    ) -> Monitor {
        let sites = vec![settings.site.clone()];
        Monitor {
            settings,
            sites,
            prober,
            vpn,
            sinks,
            cancel,
            vpn_closed: true,
            close_unconfirmed: None,
        }
    }

    fn notice(&mut self, line: &str) {
        for s in self.sinks.iter_mut() {
            s.notice(line);
        }
    }

    /// Reads a site's targets; notes are shown only when they change.
    fn load_targets(
        &mut self,
        site: &Site,
        state: &mut TargetsState,
    ) -> anyhow::Result<Vec<Target>> {
        let (targets, notes) = match targets::read(&site.targets) {
            Ok(list) => {
                let mut notes = list.warnings.clone();
                if !list.found {
                    notes.insert(0, "Running without a vpnmon targets file".to_string());
                }
                (list.targets, notes)
            }
            Err(e) => match &state.last {
                // A file being saved by an editor can be briefly unreadable: keep the last list.
                Some(last) => (
                    last.clone(),
                    vec![format!(
                        "Cannot read the vpnmon targets file {} ({}); using its previous {} targets",
                        site.targets.display(),
                        crate::settings::io_reason(&e),
                        last.len()
                    )],
                ),
                None => {
                    return Err(e).with_context(|| {
                        format!("Failed to read the vpnmon targets file {}; check its path and permissions", site.targets.display())
                    })
                }
            },
        };
        if notes != state.last_notes {
            for n in &notes {
                self.notice(n);
            }
            state.last_notes = notes;
        }
        state.last = Some(targets.clone());
        Ok(targets)
    }

    /// Runs the cycles. Returns how the run ended; an error is fatal (exit 1), and by then no
    /// tunnel is left open.
    pub async fn run(&mut self) -> anyhow::Result<RunEnd> {
        let total = self.settings.cycles;
        let mut states: Vec<TargetsState> =
            self.sites.iter().map(|_| TargetsState::default()).collect();
        let mut n: u64 = 0;
        loop {
            if self.cancel.is_cancelled() {
                return self.end(RunEnd::Stopped {
                    cycles: n,
                    vpn_closed: true,
                });
            }
            n += 1;
            // Targets are re-read every cycle so edits apply without a restart.
            let sites = self.sites.clone();
            let mut site_targets = Vec::with_capacity(sites.len());
            for (site, state) in sites.iter().zip(states.iter_mut()) {
                site_targets.push(self.load_targets(site, state)?);
            }
            let started = Local::now();
            for s in self.sinks.iter_mut() {
                s.cycle_start(n, total, started);
            }
            let mut records: Vec<Record> = Vec::new();
            let mut cancelled = false;
            for (site, targets) in sites.iter().zip(site_targets.iter()) {
                let input = CycleInput {
                    cycle: n,
                    site,
                    targets,
                    ping: self.settings.ping,
                    gateway_ping: self.settings.gateway_ping,
                };
                let sinks = &mut self.sinks;
                let mut observe = |r: &Record| {
                    for s in sinks.iter_mut() {
                        s.record(r);
                    }
                };
                let out = cycle::run(
                    input,
                    self.prober.as_ref(),
                    self.vpn.as_deref_mut(),
                    &self.cancel,
                    &mut observe,
                )
                .await;
                if !out.diagnostics.is_empty() {
                    for s in self.sinks.iter_mut() {
                        s.diagnostics(&out.diagnostics);
                    }
                }
                records.extend(out.records);
                cancelled |= out.cancelled;
                if let Some(reason) = out.close_unconfirmed {
                    // Retried by the guard close in `end()`; said only if that fails too.
                    self.close_unconfirmed = Some(reason);
                }
                if cancelled {
                    break;
                }
            }
            let report = CycleReport {
                cycle: n,
                of: total,
                started,
                finished: Local::now(),
                records,
                cancelled,
            };
            for s in self.sinks.iter_mut() {
                s.cycle_end(&report, &self.cancel)?;
            }
            if cancelled {
                return self.end(RunEnd::Stopped {
                    cycles: n - 1,
                    vpn_closed: true,
                });
            }
            if total == Some(n) {
                return self.end(RunEnd::Completed { cycles: n });
            }
            let delay = self.settings.delay;
            let next = Local::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            for s in self.sinks.iter_mut() {
                s.waiting(delay, next);
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return self.end(RunEnd::Stopped { cycles: n, vpn_closed: true }),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn end(&mut self, end: RunEnd) -> anyhow::Result<RunEnd> {
        // The cycle closes what it opened; this is the last guard for a tunnel left behind, and
        // the retry of a close that Ctrl-C cut short (drivers bound it by their grace periods).
        if let Some(v) = self.vpn.as_deref_mut() {
            match tokio::task::block_in_place(|| v.close()) {
                Ok(()) => self.vpn_closed = true,
                Err(e) => {
                    self.vpn_closed = false;
                    let earlier = self
                        .close_unconfirmed
                        .take()
                        .map(|r| format!(" (first attempt: {r})"))
                        .unwrap_or_default();
                    let line =
                        format!("VPN close() failed: {e}{earlier}; the tunnel may still be up");
                    self.notice(&line);
                }
            }
        }
        let end = match end {
            RunEnd::Stopped { cycles, .. } => RunEnd::Stopped {
                cycles,
                vpn_closed: self.vpn_closed,
            },
            other => other,
        };
        for s in self.sinks.iter_mut() {
            s.finish(end)?;
        }
        Ok(end)
    }
}
