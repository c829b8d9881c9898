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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::probe::fake::TableProber;
    use crate::vpn::fake::{FakeOpen, FakeVpn};
    use crate::vpn::VpnError;
    use clap::Parser;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Records what the monitor told the sinks, as short lines.
    #[derive(Clone, Default)]
    struct Spy(Arc<Mutex<Vec<String>>>);

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
        fn cycle_end(&mut self, rep: &CycleReport, _c: &CancellationToken) -> anyhow::Result<()> {
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
        fn finish(&mut self, end: RunEnd) -> anyhow::Result<()> {
            self.0.lock().unwrap().push(format!("finish {end:?}"));
            Ok(())
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
        let settings = crate::settings::from_cli(Cli::try_parse_from(argv).unwrap(), None).unwrap();
        let spy = Spy::default();
        let cancel = CancellationToken::new();
        let m = Monitor::new(
            settings,
            Box::new(prober),
            Some(Box::new(vpn)),
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
        assert_eq!(end, RunEnd::Completed { cycles: 2 });
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
                "finish Completed { cycles: 2 }",
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
}
