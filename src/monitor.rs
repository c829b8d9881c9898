//! The loop: cycle count, targets re-read each cycle, the delay, cancellation, and fan-out of
//! records to the sinks. Knows no vendor.

use crate::cycle::{self, CycleInput};
use crate::probe::Prober;
use crate::record::{CycleReport, Record};
use crate::settings::{Settings, Site};
use crate::sinks::{RunEnd, Sink, SinkError};
use crate::targets::{self, Target};
use crate::vpn::{Deadline, VpnClient, CLOSE_WITHIN};
use chrono::Local;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What ended a run early. The run's `end()` (guard close, the sinks' last words) has run by
/// the time the caller sees one.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// Worded as vpnmon always did: the advice, then the system's reason as it words it; a file
    /// that is read but is not text vpnmon takes (its encoding, not a regular file, too large)
    /// gets that reason alone, which carries its own advice.
    #[error("{}", targets_message(path, source))]
    Targets {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One or more sinks failed (every sink was still called).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Sinks(Vec<SinkError>),
}

fn targets_message(path: &std::path::Path, source: &std::io::Error) -> String {
    if source.kind() == std::io::ErrorKind::InvalidData {
        format!(
            "Failed to read the vpnmon targets file {}: {source}",
            path.display()
        )
    } else {
        format!(
            "Failed to read the vpnmon targets file {}; check its path and permissions: {source}",
            path.display()
        )
    }
}

/// A configuration read again on SIGHUP, with the drivers for its sites (built by the
/// composition root, which alone knows the vendors).
pub struct Reloaded {
    pub settings: Settings,
    pub vpns: Vec<Option<Box<dyn VpnClient>>>,
}

/// Reads the configuration again; `Err` says why it was not taken.
pub type Reloader = Box<dyn FnMut() -> Result<Reloaded, String> + Send>;

/// A site with the driver that opens its VPN (`None` without a VPN client).
pub struct SiteRun {
    pub site: Site,
    pub vpn: Option<Box<dyn VpnClient>>,
}

pub struct Monitor {
    pub settings: Settings,
    pub sites: Vec<SiteRun>,
    pub prober: Box<dyn Prober>,
    /// `--tcp`'s connect checks (set by `run` with [`Monitor::with_port_checker`]).
    pub port_checker: Option<Box<dyn crate::probe::PortChecker>>,
    /// `--trace-on-fail`'s traces (set by `run` with [`Monitor::with_tracer`]).
    pub tracer: Option<Box<dyn crate::probe::Tracer>>,
    pub sinks: Vec<Box<dyn Sink>>,
    pub cancel: CancellationToken,
    /// False once the last close failed or could not be confirmed: the exit status says so.
    pub vpn_closed: bool,
    /// Why a close cut short by Ctrl-C was not confirmed (retried once more at the end).
    close_unconfirmed: Option<String>,
    /// SIGHUP requests and what answers them (`reload_with`).
    reload: Option<(tokio::sync::mpsc::UnboundedReceiver<()>, Reloader)>,
    /// The operator's pause / resume / run-now requests (`--tui`), heard during the wait.
    control: Option<crate::control::ControlReceiver>,
    /// Paused by the operator: the wait does not end by itself.
    paused: bool,
}

/// What the monitor remembers of a site's targets file between cycles, so a file that becomes
/// unreadable mid-run keeps the last good list and repeated warnings are not printed each cycle.
#[derive(Default)]
struct TargetsState {
    /// Shared with the cycle and the sinks: a cycle re-reads the file but copies no list.
    last: Option<Arc<[Target]>>,
    last_notes: Vec<String>,
    /// The file was there at the last read.
    was_found: bool,
    /// The bytes `last` was parsed from (an unchanged file is not parsed again), and the notes
    /// that read gave (its skipped lines, said again only when they change).
    bytes: Option<Vec<u8>>,
    file_notes: Vec<String>,
}

impl Monitor {
    /// `vpns` holds one driver slot per site of `settings`, in order.
    /// The monitor with `--tcp`'s connect checks done by `checker`.
    pub fn with_port_checker(mut self, checker: Box<dyn crate::probe::PortChecker>) -> Monitor {
        self.port_checker = Some(checker);
        self
    }

    /// The monitor with `--trace-on-fail`'s traces done by `tracer`.
    pub fn with_tracer(mut self, tracer: Box<dyn crate::probe::Tracer>) -> Monitor {
        self.tracer = Some(tracer);
        self
    }

    pub fn new(
        settings: Settings,
        prober: Box<dyn Prober>,
        vpns: Vec<Option<Box<dyn VpnClient>>>,
        sinks: Vec<Box<dyn Sink>>,
        cancel: CancellationToken,
    ) -> Monitor {
        assert_eq!(vpns.len(), settings.sites.len(), "one driver slot per site");
        let sites = settings
            .sites
            .iter()
            .cloned()
            .zip(vpns)
            .map(|(site, vpn)| SiteRun { site, vpn })
            .collect();
        Monitor {
            settings,
            sites,
            prober,
            port_checker: None,
            tracer: None,
            sinks,
            cancel,
            vpn_closed: true,
            close_unconfirmed: None,
            reload: None,
            control: None,
            paused: false,
        }
    }

    /// Reload on each message of `requests` (SIGHUP) between cycles, with `reloader`.
    pub fn reload_with(
        &mut self,
        requests: tokio::sync::mpsc::UnboundedReceiver<()>,
        reloader: Reloader,
    ) {
        self.reload = Some((requests, reloader));
    }

    /// Listens to the operator's pause / resume / run-now requests during the waits.
    pub fn control_with(&mut self, requests: crate::control::ControlReceiver) {
        self.control = Some(requests);
    }

    /// Pauses or resumes, telling the sinks when it changes.
    fn set_paused(&mut self, on: bool) {
        if self.paused != on {
            self.paused = on;
            for s in self.sinks.iter_mut() {
                s.paused(on);
            }
        }
    }

    /// Applies a reload: the sites (VPN, credentials, targets file), the schedule and the pings
    /// change; the datalog, alerts, outputs and service options stay as started (the log and
    /// the counters go on). A reload that fails keeps everything and says why.
    async fn apply_reload(&mut self, states: &mut Vec<TargetsState>) {
        let Some((_, reloader)) = self.reload.as_mut() else {
            return;
        };
        crate::service::notify::reloading();
        let mut outcome = reloader();
        // The new drivers pass the start-up check (client present, options consistent) first.
        if let Ok(r) = outcome.as_mut() {
            for v in r.vpns.iter_mut().flatten() {
                if let Err(e) = v.check().await {
                    outcome = Err(e.to_string());
                    break;
                }
            }
        }
        match outcome {
            Ok(Reloaded { settings, vpns }) => {
                let keep = &self.settings;
                let mut not_applied = Vec::new();
                if settings.datalog != keep.datalog {
                    not_applied.push("datalog");
                }
                if settings.service != keep.service {
                    not_applied.push("service");
                }
                if settings.output != keep.output {
                    not_applied.push("output");
                }
                let mut next = settings;
                next.datalog = keep.datalog.clone();
                next.alerts = keep.alerts.clone();
                next.output = keep.output;
                next.service = keep.service.clone();
                let same_sites = next.sites.len() == self.sites.len();
                self.sites = next
                    .sites
                    .iter()
                    .cloned()
                    .zip(vpns)
                    .map(|(site, vpn)| SiteRun { site, vpn })
                    .collect();
                if !same_sites {
                    *states = self.sites.iter().map(|_| TargetsState::default()).collect();
                }
                self.settings = next;
                let mut line = "Reloaded the configuration (SIGHUP)".to_string();
                if !not_applied.is_empty() {
                    line.push_str(&format!(
                        "; the changed {} options apply at the next start",
                        not_applied.join(", ")
                    ));
                }
                // The state first (the metrics' gauge), then the words: whoever reads the line
                // finds the gauge already set.
                for s in self.sinks.iter_mut() {
                    s.reloaded(true);
                }
                self.notice(&line);
            }
            Err(why) => {
                for s in self.sinks.iter_mut() {
                    s.reloaded(false);
                }
                self.notice(&format!(
                    "Reload (SIGHUP) failed, keeping the running configuration: {why}"
                ));
            }
        }
        crate::service::notify::ready();
    }

    /// Whether a reload was asked for and not yet applied (without waiting).
    fn reload_pending(&mut self) -> bool {
        let mut any = false;
        if let Some((rx, _)) = self.reload.as_mut() {
            while rx.try_recv().is_ok() {
                any = true;
            }
        }
        any
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
    ) -> Result<Arc<[Target]>, MonitorError> {
        // Targets written in the config file, or none named there: no file to read.
        if site.inline_targets.is_some() || site.targets.as_os_str().is_empty() {
            let list: Arc<[Target]> = site.inline_targets.clone().unwrap_or_default().into();
            if state.last.is_none() && list.is_empty() {
                let note = format!(
                    "No targets for {}: only the gateway is tested",
                    site.vpnname
                );
                self.notice(&note);
            }
            state.last = Some(list.clone());
            return Ok(list);
        }
        let read = match targets::read_changed(&site.targets, state.bytes.as_deref()) {
            Ok(targets::Reread::Unchanged) => Ok(None),
            Ok(targets::Reread::Read(list, bytes)) => {
                state.bytes = bytes;
                Ok(Some(list))
            }
            Err(e) => {
                state.bytes = None;
                Err(e)
            }
        };
        let (targets, mut notes): (Arc<[Target]>, Vec<String>) = match read {
            Ok(None) => (
                state.last.clone().unwrap_or_default(),
                state.file_notes.clone(),
            ),
            // A targets file named by the user that disappears mid-run (it was there at start-up)
            // is an accident, not "no targets": keep the last list, as for an unreadable file.
            Ok(Some(list)) if !list.found && site.targets_explicit && state.was_found => {
                let last = state.last.clone().unwrap_or_default();
                let note = format!(
                    "The vpnmon targets file {} is gone; using its previous {} targets",
                    crate::text::shown_path(&site.targets),
                    last.len()
                );
                (last, vec![note])
            }
            Ok(Some(list)) => {
                state.was_found = list.found;
                let mut notes = list.warnings.clone();
                if !list.found {
                    notes.insert(0, "Running without a vpnmon targets file".to_string());
                } else if list.targets.is_empty() {
                    notes.push(format!(
                        "No targets in {}: only the gateway is tested",
                        crate::text::shown_path(&site.targets)
                    ));
                }
                (list.targets.into(), notes)
            }
            Err(e) => match &state.last {
                // A file being saved by an editor can be briefly unreadable: keep the last list.
                Some(last) => (
                    last.clone(),
                    vec![format!(
                        "Cannot read the vpnmon targets file {} ({}); using its previous {} targets",
                        site.targets.display(),
                        crate::error::io_reason(&e),
                        last.len()
                    )],
                ),
                None => {
                    return Err(MonitorError::Targets {
                        path: site.targets.clone(),
                        source: e,
                    })
                }
            },
        };
        state.file_notes.clone_from(&notes);
        if let Some(wave) = self.waves_note(targets.len()) {
            notes.push(wave);
        }
        if notes != state.last_notes {
            for n in &notes {
                self.notice(n);
            }
            state.last_notes = notes;
        }
        state.last = Some(targets.clone());
        Ok(targets)
    }

    /// Says that a sweep of `n` targets is sent in waves, when it has more echoes than the
    /// prober keeps in flight (its socket's receive buffer could not hold all their replies).
    fn waves_note(&self, n: usize) -> Option<String> {
        let limit = self.prober.in_flight_limit()?;
        let echoes = n.saturating_mul(self.settings.probe.target.count as usize);
        (echoes > limit).then(|| {
            format!(
                "Pinging {n} targets in waves: {echoes} echo requests, at most {limit} in flight \
                 at once (what the ICMP socket's receive buffer holds)"
            )
        })
    }

    /// Runs the cycles, then always `end()`: the guard close and the sinks' last words, also
    /// after an error. Returns how the run ended; an error is fatal (exit 1), and is returned
    /// only after `end()` ran.
    pub async fn run(&mut self) -> Result<RunEnd, MonitorError> {
        let mut done: u64 = 0;
        let outcome = self.cycles(&mut done).await;
        let end = match &outcome {
            Ok(end) => *end,
            Err(_) => RunEnd::Failed {
                cycles: done,
                vpn_closed: true,
            },
        };
        let (end, finish_errors) = self.end(end).await;
        match outcome {
            // What failed in the cycles and what failed while finishing are both said.
            Err(MonitorError::Sinks(mut errors)) => {
                errors.extend(finish_errors);
                Err(MonitorError::Sinks(errors))
            }
            Err(e) => Err(e),
            Ok(_) if !finish_errors.is_empty() => Err(MonitorError::Sinks(finish_errors)),
            Ok(_) => Ok(end),
        }
    }

    /// The loop. `done` counts the cycles that ran to completion.
    async fn cycles(&mut self, done: &mut u64) -> Result<RunEnd, MonitorError> {
        let total = self.settings.schedule.cycles;
        let mut states: Vec<TargetsState> =
            self.sites.iter().map(|_| TargetsState::default()).collect();
        let mut n: u64 = 0;
        // --interval: when the current cycle was due to start (fixed rate).
        let mut slot: Option<tokio::time::Instant> = None;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(RunEnd::Stopped {
                    cycles: n,
                    vpn_closed: true,
                });
            }
            n += 1;
            // Targets are re-read every cycle so edits apply without a restart.
            let sites: Vec<Site> = self.sites.iter().map(|s| s.site.clone()).collect();
            let mut site_targets = Vec::with_capacity(sites.len());
            for (site, state) in sites.iter().zip(states.iter_mut()) {
                let targets = self.load_targets(site, state)?;
                for s in self.sinks.iter_mut() {
                    s.planned(&site.vpnname, &site.vpnurlip, &targets);
                }
                site_targets.push(targets);
            }
            let began = tokio::time::Instant::now();
            let due_at = *slot.get_or_insert(began);
            let started = Local::now();
            for s in self.sinks.iter_mut() {
                s.cycle_start(n, total, started);
            }
            let mut records: Vec<Record> = Vec::new();
            let mut cancelled = false;
            let several = site_targets.len() > 1;
            for (i, targets) in site_targets.iter().enumerate() {
                if several {
                    let site = &self.sites[i].site;
                    let header = crate::sinks::SiteHeader {
                        name: &site.vpnname,
                        gateway: &site.vpnurlip,
                        index: i + 1,
                        of: site_targets.len(),
                    };
                    let at = Local::now();
                    for s in self.sinks.iter_mut() {
                        s.site_start(at, &header);
                    }
                }
                let SiteRun { site, vpn } = &mut self.sites[i];
                let input = CycleInput {
                    cycle: n,
                    site,
                    targets,
                    ping: self.settings.probe.target,
                    gateway_ping: self.settings.probe.gateway,
                    tcp_ports: &self.settings.tcp_ports,
                    port_checker: self.port_checker.as_deref(),
                    tracer: self
                        .tracer
                        .as_deref()
                        .map(|t| (t, self.settings.trace_deadline)),
                };
                let sinks = &mut self.sinks;
                // A record comes a second time once `--trace-on-fail` traced it (with its path).
                let mut observe = |rs: &[Record]| {
                    for s in sinks.iter_mut() {
                        if rs.iter().all(|r| r.path.is_none()) {
                            s.records(rs);
                            continue;
                        }
                        for r in rs {
                            if r.path.is_some() {
                                s.traced(r);
                            } else {
                                s.record(r);
                            }
                        }
                    }
                };
                let out = cycle::run(
                    input,
                    self.prober.as_ref(),
                    vpn.as_deref_mut(),
                    &self.cancel,
                    &mut observe,
                )
                .await;
                if !out.diagnostics.is_empty() {
                    for s in self.sinks.iter_mut() {
                        s.diagnostics(&out.diagnostics);
                    }
                }
                if records.is_empty() {
                    // The first site's records are moved, not copied (100,000 targets' records
                    // are 24 MB).
                    records = out.records;
                } else {
                    records.extend(out.records);
                }
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
                records: records.into(),
                targets: site_targets.iter().map(|t| t.len()).sum(),
                cancelled,
            };
            // Every sink sees the cycle, also when one before it failed (a full disk must not
            // silence the alert mail).
            let mut errors = Vec::new();
            for s in self.sinks.iter_mut() {
                if let Err(e) = s.cycle_end(&report, &self.cancel).await {
                    errors.push(e);
                }
            }
            if !errors.is_empty() {
                for s in self.sinks.iter_mut() {
                    s.sink_errors(&errors);
                }
                return Err(MonitorError::Sinks(errors));
            }
            if cancelled {
                return Ok(RunEnd::Stopped {
                    cycles: n - 1,
                    vpn_closed: true,
                });
            }
            *done = n;
            if total == Some(n) {
                return Ok(RunEnd::Completed {
                    cycles: n,
                    vpn_closed: true,
                });
            }
            // A reload asked for during the cycle applies now, before the wait.
            if self.reload_pending() {
                self.apply_reload(&mut states).await;
            }
            let now = tokio::time::Instant::now();
            let until = match self.settings.schedule.interval {
                Some(every) => {
                    let due = due_at + every;
                    if due <= now {
                        self.notice(&format!(
                            "Cycle {n} took {:.1} s, longer than the {} s interval: the next one starts now",
                            (now - began).as_secs_f64(),
                            every.as_secs_f64()
                        ));
                        now
                    } else {
                        due
                    }
                }
                None => now + self.settings.schedule.delay,
            };
            slot = Some(until);
            let mut until = until;
            let delay = until - now;
            let next = Local::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            for s in self.sinks.iter_mut() {
                s.waiting(delay, next);
            }
            loop {
                let hup = async {
                    match self.reload.as_mut() {
                        Some((rx, _)) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let control = async {
                    match self.control.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let paused = self.paused;
                tokio::select! {
                    _ = self.cancel.cancelled() => return Ok(RunEnd::Stopped { cycles: n, vpn_closed: true }),
                    _ = tokio::time::sleep_until(until), if !paused => break,
                    Some(c) = control => match c {
                        crate::control::Control::Pause => self.set_paused(true),
                        crate::control::Control::Resume => self.set_paused(false),
                        crate::control::Control::RunNow => {
                            self.set_paused(false);
                            break;
                        }
                    },
                    Some(()) = hup => {
                        self.reload_pending();
                        self.apply_reload(&mut states).await;
                        // The wait follows the schedule as reloaded (a shorter delay now).
                        let sched = self.settings.schedule;
                        let again = match sched.interval {
                            Some(every) => due_at + every,
                            None => now + sched.delay,
                        };
                        if again != until {
                            until = again.max(tokio::time::Instant::now());
                            slot = Some(until);
                            let delay = until.saturating_duration_since(tokio::time::Instant::now());
                            let next = Local::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                            for s in self.sinks.iter_mut() {
                                s.waiting(delay, next);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The guard close of every site's driver, then every sink's `finish`. Returns the end with
    /// `vpn_closed` filled in, and the sinks' errors.
    async fn end(&mut self, end: RunEnd) -> (RunEnd, Vec<SinkError>) {
        // The cycle closes what it opened; this is the last guard for a tunnel left behind, and
        // the retry of a close that Ctrl-C cut short (drivers bound it by their grace periods).
        let mut failures = Vec::new();
        for sr in self.sites.iter_mut() {
            if let Some(v) = sr.vpn.as_deref_mut() {
                if let Err(e) = v.close(Deadline::after(CLOSE_WITHIN), &self.cancel).await {
                    failures.push(e);
                }
            }
        }
        self.vpn_closed = failures.is_empty();
        for e in failures {
            let earlier = self
                .close_unconfirmed
                .take()
                .map(|r| format!(" (first attempt: {r})"))
                .unwrap_or_default();
            let line = format!("VPN close() failed: {e}{earlier}; the tunnel may still be up");
            self.notice(&line);
        }
        let closed = self.vpn_closed;
        let end = match end {
            RunEnd::Completed { cycles, .. } => RunEnd::Completed {
                cycles,
                vpn_closed: closed,
            },
            RunEnd::Stopped { cycles, .. } => RunEnd::Stopped {
                cycles,
                vpn_closed: closed,
            },
            RunEnd::Failed { cycles, .. } => RunEnd::Failed {
                cycles,
                vpn_closed: closed,
            },
        };
        let mut errors = Vec::new();
        for s in self.sinks.iter_mut() {
            if let Err(e) = s.finish(end).await {
                errors.push(e);
            }
        }
        (end, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fake::TableProber;
    use crate::vpn::fake::{FakeOpen, FakeVpn};
    use crate::vpn::VpnError;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Records what the monitor told the sinks, as short lines.
    #[derive(Clone, Default)]
    struct Spy(Arc<Mutex<Vec<String>>>);

    #[async_trait::async_trait]
    impl Sink for Spy {
        fn notice(&mut self, line: &str) {
            self.0.lock().unwrap().push(format!("notice {line}"));
        }
        fn cycle_start(&mut self, cycle: u64, of: Option<u64>, _at: chrono::DateTime<Local>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("start {cycle} of {of:?}"));
        }
        fn record(&mut self, r: &Record) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", r.test, r.result));
        }
        async fn cycle_end(
            &mut self,
            rep: &CycleReport,
            _c: &CancellationToken,
        ) -> Result<(), SinkError> {
            let n = rep.records.len();
            self.0.lock().unwrap().push(format!(
                "end {} rows {n} cancelled {}",
                rep.cycle, rep.cancelled
            ));
            Ok(())
        }
        fn waiting(&mut self, _d: Duration, _n: chrono::DateTime<Local>) {
            self.0.lock().unwrap().push("waiting".into());
        }
        async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(format!("finish {end:?}"));
            Ok(())
        }
        fn paused(&mut self, on: bool) {
            self.0.lock().unwrap().push(format!("paused {on}"));
        }
    }

    fn monitor(
        args: &[&str],
        vpn: FakeVpn,
        prober: TableProber,
    ) -> (Monitor, Spy, CancellationToken) {
        let dir = std::env::temp_dir().join(format!("vpnmon-monitor-test-{}", std::process::id()));
        let mut argv = vec!["vpnmon", "--vpnurlip", "gw.example", "--targets"];
        let t = dir.join("none.csv");
        let t = t.to_str().unwrap().to_string();
        argv.push(&t);
        argv.extend_from_slice(args);
        let settings = crate::settings::from_command_line(argv).unwrap();
        let spy = Spy::default();
        let cancel = CancellationToken::new();
        let m = Monitor::new(
            settings,
            Box::new(prober),
            vec![Some(Box::new(vpn) as Box<dyn VpnClient>)],
            vec![Box::new(spy.clone())],
            cancel.clone(),
        );
        (m, spy, cancel)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_the_requested_cycles_then_completes() {
        let (mut m, spy, _) = monitor(
            &["--cycles", "2", "--delay", "0"],
            FakeVpn::new(vec![FakeOpen::Succeed]),
            TableProber::new(&[("gw.example", 2)]),
        );
        let end = m.run().await.unwrap();
        assert_eq!(
            end,
            RunEnd::Completed {
                cycles: 2,
                vpn_closed: true
            }
        );
        let seen = spy.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                "notice Running without a vpnmon targets file",
                "start 1 of Some(2)",
                "VPN ping Good",
                "VPN open Good",
                "VPN close Good",
                "end 1 rows 3 cancelled false",
                "waiting",
                "start 2 of Some(2)",
                "VPN ping Good",
                "VPN open Good",
                "VPN close Good",
                "end 2 rows 3 cancelled false",
                "finish Completed { cycles: 2, vpn_closed: true }",
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_during_the_delay_ends_at_once() {
        let (mut m, spy, cancel) = monitor(
            &["--cycles", "-1", "--delay", "3600"],
            FakeVpn::new(vec![FakeOpen::Succeed]),
            TableProber::new(&[("gw.example", 2)]),
        );
        let c = cancel.clone();
        let s2 = spy.clone();
        tokio::spawn(async move {
            while !s2.0.lock().unwrap().iter().any(|l| l == "waiting") {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            c.cancel();
        });
        let t = std::time::Instant::now();
        let end = tokio::time::timeout(Duration::from_secs(5), m.run())
            .await
            .unwrap()
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(
            end,
            RunEnd::Stopped {
                cycles: 1,
                vpn_closed: true
            }
        );
    }

    /// `--tui`'s keys: a pause asked for during a cycle holds the next one (a delay of 0 does
    /// not end a paused wait), a resume lets it run; run-now ends an hour's wait at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pause_holds_the_wait_and_run_now_ends_it() {
        let (mut m, spy, _) = monitor(
            &["--cycles", "3", "--delay", "0"],
            FakeVpn::new(vec![FakeOpen::Succeed; 3]),
            TableProber::new(&[("gw.example", 2)]),
        );
        let (tx, rx) = crate::control::channel();
        m.control_with(rx);
        tx.send(crate::control::Control::Pause).unwrap();
        let s2 = spy.clone();
        let driver = tokio::spawn(async move {
            let seen = |l: &str| s2.0.lock().unwrap().iter().any(|x| x == l);
            while !seen("paused true") {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Paused: the delay of 0 has long passed, and no cycle starts.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!seen("start 2 of Some(3)"));
            tx.send(crate::control::Control::Resume).unwrap();
            while !seen("start 2 of Some(3)") {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tx
        });
        let (end, tx) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(10), m.run()),
            driver
        );
        // The driver's own checks (no cycle while paused) must have held.
        drop(tx.expect("no cycle started while paused"));
        assert_eq!(
            end.unwrap().unwrap(),
            RunEnd::Completed {
                cycles: 3,
                vpn_closed: true
            }
        );
        let seen = spy.0.lock().unwrap().clone();
        let at = |l: &str| seen.iter().position(|x| x == l).unwrap();
        assert!(at("paused true") < at("paused false"));
        assert!(at("paused false") < at("start 2 of Some(3)"));

        // Run-now ends an hour's wait.
        let (mut m, _, _) = monitor(
            &["--cycles", "2", "--delay", "3600"],
            FakeVpn::new(vec![FakeOpen::Succeed; 2]),
            TableProber::new(&[("gw.example", 2)]),
        );
        let (tx, rx) = crate::control::channel();
        m.control_with(rx);
        tx.send(crate::control::Control::RunNow).unwrap();
        let end = tokio::time::timeout(Duration::from_secs(10), m.run())
            .await
            .expect("run-now ended the hour's wait")
            .unwrap();
        assert_eq!(
            end,
            RunEnd::Completed {
                cycles: 2,
                vpn_closed: true
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_close_cut_short_is_retried_and_reported_when_it_fails_again() {
        for (second, closed) in [
            (Ok(()), true),
            (
                Err(VpnError::new(
                    crate::vpn::VpnErrorKind::Timeout,
                    "no answer",
                )),
                false,
            ),
        ] {
            let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
            vpn.close_results = [Err(VpnError::cancelled()), second].into_iter().collect();
            let log = vpn.log.clone();
            let (mut m, spy, _) = monitor(
                &["--cycles", "3", "--delay", "0"],
                vpn,
                TableProber::new(&[("gw.example", 2)]),
            );
            let end = m.run().await.unwrap();
            assert_eq!(
                end,
                RunEnd::Stopped {
                    cycles: 0,
                    vpn_closed: closed
                }
            );
            assert_eq!(m.vpn_closed, closed);
            assert_eq!(log.calls().iter().filter(|c| *c == "close").count(), 2);
            let seen = spy.0.lock().unwrap().clone();
            assert!(
                seen.contains(&"end 1 rows 2 cancelled true".to_string()),
                "{seen:?}"
            );
            let notice = seen.iter().any(|l| {
                l.starts_with(
                    "notice VPN close() failed: no answer (first attempt: stopped by Control-C)",
                )
            });
            assert_eq!(notice, !closed, "{seen:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reload_between_cycles_applies_or_keeps_the_running_configuration() {
        // A reload asked for during cycle 1 applies before the wait: the hour's delay becomes 0.
        let (mut m, spy, _) = monitor(
            &["--cycles", "2", "--delay", "3600"],
            FakeVpn::new(vec![FakeOpen::Succeed, FakeOpen::Succeed]),
            TableProber::new(&[("gw.example", 2)]),
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send(()).unwrap();
        m.reload_with(
            rx,
            Box::new(|| {
                let argv = [
                    "vpnmon",
                    "--vpnurlip",
                    "gw.example",
                    "--cycles",
                    "2",
                    "--delay",
                    "0",
                ];
                let settings =
                    crate::settings::from_command_line(argv).map_err(|e| e.to_string())?;
                let vpn: Box<dyn VpnClient> = Box::new(FakeVpn::new(vec![FakeOpen::Succeed]));
                Ok(Reloaded {
                    settings,
                    vpns: vec![Some(vpn)],
                })
            }),
        );
        let end = tokio::time::timeout(Duration::from_secs(10), m.run())
            .await
            .expect("the reloaded delay of 0 ran cycle 2 at once")
            .unwrap();
        assert_eq!(
            end,
            RunEnd::Completed {
                cycles: 2,
                vpn_closed: true
            }
        );
        let seen = spy.0.lock().unwrap().clone();
        let at = seen
            .iter()
            .position(|l| l == "notice Reloaded the configuration (SIGHUP)")
            .expect("the reload said");
        assert_eq!(seen[at - 1], "end 1 rows 3 cancelled false", "{seen:?}");

        // A reload that fails keeps the running configuration (the hour's delay) and says why.
        let (mut m, spy, cancel) = monitor(
            &["--cycles", "2", "--delay", "3600"],
            FakeVpn::new(vec![FakeOpen::Succeed]),
            TableProber::new(&[("gw.example", 2)]),
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send(()).unwrap();
        m.reload_with(rx, Box::new(|| Err("p.csv:3: bad value for delay".into())));
        let s2 = spy.clone();
        tokio::spawn(async move {
            while !s2.0.lock().unwrap().iter().any(|l| l == "waiting") {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cancel.cancel();
        });
        let end = tokio::time::timeout(Duration::from_secs(10), m.run())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            end,
            RunEnd::Stopped {
                cycles: 1,
                vpn_closed: true
            }
        );
        let seen = spy.0.lock().unwrap().clone();
        assert!(
            seen.contains(&"notice Reload (SIGHUP) failed, keeping the running configuration: p.csv:3: bad value for delay".to_string()),
            "{seen:?}"
        );
        assert_eq!(m.settings.schedule.delay, Duration::from_secs(3600));
    }

    /// A sink that fails every cycle's write, as a full disk would.
    struct FailingSink;

    #[async_trait::async_trait]
    impl Sink for FailingSink {
        async fn cycle_end(
            &mut self,
            rep: &CycleReport,
            _c: &CancellationToken,
        ) -> Result<(), SinkError> {
            Err(crate::datalog::DatalogError::NotWritten {
                path: "full.csv".into(),
                reason: "no space left on device".into(),
                lost: crate::datalog::Lost::of(&rep.records),
                ends: crate::datalog::Ends(None),
            }
            .into())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_sink_neither_silences_the_others_nor_skips_the_end() {
        let vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        let log = vpn.log.clone();
        let (mut m, spy, _) = monitor(
            &["--cycles", "3", "--delay", "0"],
            vpn,
            TableProber::new(&[("gw.example", 2)]),
        );
        // The failing sink comes first, as the datalog does in `run::sinks_for`.
        m.sinks.insert(0, Box::new(FailingSink));
        let err = m.run().await.unwrap_err();
        assert!(
            matches!(&err, MonitorError::Sinks(v) if v.len() == 1),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("the 3 rows of cycle 1 were not written"),
            "{err}"
        );
        let seen = spy.0.lock().unwrap().clone();
        // The other sink still got the cycle, and the run's end, after the failure.
        assert_eq!(
            seen[seen.len() - 2..],
            [
                "end 1 rows 3 cancelled false".to_string(),
                "finish Failed { cycles: 0, vpn_closed: true }".to_string(),
            ],
            "{seen:?}"
        );
        // One close in the cycle, one guard close in end().
        assert_eq!(log.calls().iter().filter(|c| *c == "close").count(), 2);
    }
}
