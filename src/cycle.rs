//! One test cycle, as the original: gateway ping → open (only if Good) → sweep the targets
//! through the tunnel → close. Returns the `Record`s; does no I/O except through the `Prober`
//! and the `VpnClient`.

use crate::probe::{PingOptions, PingOutcome, PortChecker, Prober, Tracer};
use crate::record::{Record, Test, Verdict};
use crate::settings::Site;
use crate::targets::{host_of, Target};
use crate::vpn::{Deadline, VpnClient, VpnErrorKind, CLOSE_WITHIN};
use chrono::{DateTime, Local};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a cycle is asked to do.
pub struct CycleInput<'a> {
    pub cycle: u64,
    pub site: &'a Site,
    pub targets: &'a [Target],
    pub ping: PingOptions,
    pub gateway_ping: PingOptions,
    /// `--tcp`: the ports to connect to on every target after the sweep (none: no checks).
    pub tcp_ports: &'a [u16],
    pub port_checker: Option<&'a dyn PortChecker>,
    /// `--trace-on-fail`: trace the targets that ended Fail or Warn, all at once, before the
    /// close, waiting at most the deadline for all of them (none: no traces).
    pub tracer: Option<(&'a dyn Tracer, Duration)>,
}

/// The records of a cycle; `cancelled` when Ctrl-C cut it short (the records are those done).
#[derive(Debug, Default)]
pub struct CycleOutcome {
    pub records: Vec<Record>,
    pub cancelled: bool,
    /// The client's last lines when the open failed (already password-masked).
    pub diagnostics: Vec<String>,
    /// Set when Ctrl-C cut a close short before the client confirmed it: why the tunnel may
    /// still be up. Such a close is not a test result and gets no row.
    pub close_unconfirmed: Option<String>,
}

struct Recorder<'o> {
    cycle: u64,
    site: String,
    records: Vec<Record>,
    observe: &'o mut (dyn FnMut(&[Record]) + Send),
}

impl Recorder<'_> {
    /// Observes a record and keeps it.
    fn add(&mut self, rec: Record) {
        (self.observe)(std::slice::from_ref(&rec));
        self.records.push(rec);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        test: Test,
        result: Verdict,
        address: &str,
        name: &str,
        reason: Option<String>,
        ping: Option<&PingOutcome>,
        at: DateTime<Local>,
        duration: Duration,
    ) -> Record {
        Record {
            path: None,
            cycle: self.cycle,
            at,
            test,
            result,
            address: address.to_string(),
            name: name.to_string(),
            site: self.site.clone(),
            reason,
            ping: ping.map(|p| p.stats),
            duration,
        }
    }

    /// A ping's row carries the moment its first echo was sent, so rows in targets-file order
    /// have the times their tests really began (the original pinged one after the other).
    fn ping_record(&self, test: Test, address: &str, name: &str, o: &PingOutcome) -> Record {
        self.record(
            test,
            o.verdict,
            address,
            name,
            o.reason.clone(),
            Some(o),
            DateTime::<Local>::from(o.started),
            o.duration,
        )
    }

    /// The target records of a run of outcomes (`targets[first..]`), observed together.
    fn push_targets(&mut self, targets: &[Target], first: usize, run: &[PingOutcome]) {
        let before = self.records.len();
        for (t, o) in targets[first..].iter().zip(run) {
            let rec = self.ping_record(Test::TargetPing, &t.address, &t.name, o);
            self.records.push(rec);
        }
        (self.observe)(&self.records[before..]);
    }
}

/// The host a target record was pinged at (its target's `host`, found by address and name).
fn host_of_record(r: &Record, targets: &[Target]) -> String {
    targets
        .iter()
        .find(|t| t.address == r.address && t.name == r.name)
        .map_or_else(|| r.address.clone(), |t| t.host.clone())
}

/// A `TCP port` row's address: `host:port`, an IPv6 address in brackets (`[fd00::1]:443`).
pub fn port_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Runs one cycle. `vpn` is `None` for `--vpnclient none`: then the gateway is pinged only when
/// an address is given, and the targets are pinged directly whatever its result.
pub async fn run(
    input: CycleInput<'_>,
    prober: &dyn Prober,
    mut vpn: Option<&mut (dyn VpnClient + '_)>,
    cancel: &CancellationToken,
    observe: &mut (dyn FnMut(&[Record]) + Send),
) -> CycleOutcome {
    let site = input.site;
    let mut rec = Recorder {
        cycle: input.cycle,
        site: site.vpnname.clone(),
        records: Vec::new(),
        observe,
    };
    let mut diagnostics = Vec::new();
    let done = |rec: Recorder<'_>, cancelled: bool, diagnostics: Vec<String>| CycleOutcome {
        records: rec.records,
        cancelled,
        diagnostics,
        close_unconfirmed: None,
    };

    // 1. Gateway ping.
    // The address pinged first: the site's `ping`, else its gateway.
    let ping_address = site.ping.as_deref().unwrap_or(&site.vpnurlip);
    let gateway_good: Result<(), PingOutcome> = if ping_address.is_empty() {
        Ok(())
    } else {
        let outcome = match host_of(ping_address) {
            Some(host) => match prober.ping_many(&[host], input.gateway_ping, cancel).await {
                Ok(mut v) => v.remove(0),
                Err(_) => return done(rec, true, diagnostics),
            },
            None => PingOutcome {
                verdict: Verdict::Fail,
                stats: Default::default(),
                reason: Some(format!(
                    "'{}' is not an IP address, host name or URL",
                    ping_address
                )),
                started: std::time::SystemTime::now(),
                duration: Duration::ZERO,
            },
        };
        rec.add(rec.ping_record(Test::VpnPing, ping_address, &site.vpnname, &outcome));
        (outcome.verdict == Verdict::Good)
            .then_some(())
            .ok_or(outcome)
    };

    // 2. Open, only when the gateway answered every ping.
    let mut opened = false;
    if let Some(client) = vpn.as_deref_mut() {
        if cancel.is_cancelled() {
            return done(rec, true, diagnostics);
        }
        // EpMonitoring's sites open whatever the ping gave.
        let gateway_good = if site.all_stages {
            Ok(())
        } else {
            gateway_good
        };
        if let Err(ping) = gateway_good {
            // As the original: a gateway that did not answer every ping is a failed open, with
            // the ping's time (availability counts of the `VPN open` rows depend on it).
            rec.add(rec.record(
                Test::VpnOpen,
                Verdict::Fail,
                &site.vpnurlip,
                &site.vpnname,
                Some(format!("not tried: the gateway ping was {}", ping.verdict)),
                None,
                DateTime::<Local>::from(ping.started),
                Duration::ZERO,
            ));
            return done(rec, false, diagnostics);
        }
        let at = Local::now();
        let t = Instant::now();
        let r = client.open(&site.vpnurlip, &site.credentials, cancel).await;
        match r {
            Ok(info) => {
                opened = true;
                rec.add(rec.record(
                    Test::VpnOpen,
                    Verdict::Good,
                    &site.vpnurlip,
                    &site.vpnname,
                    info.detail,
                    None,
                    at,
                    t.elapsed(),
                ));
            }
            Err(e) if e.kind == VpnErrorKind::Cancelled => {
                // The driver cleaned up; make sure, then stop. Not a result worth a row.
                let _ = client.close(Deadline::after(CLOSE_WITHIN), cancel).await;
                return done(rec, true, diagnostics);
            }
            Err(e) => {
                diagnostics = e.diagnostics.clone();
                rec.add(rec.record(
                    Test::VpnOpen,
                    Verdict::Fail,
                    &site.vpnurlip,
                    &site.vpnname,
                    Some(e.reason),
                    None,
                    at,
                    t.elapsed(),
                ));
                // A failed open must leave nothing behind; close() is safe when nothing is open.
                let _ = client.close(Deadline::after(CLOSE_WITHIN), cancel).await;
                if !site.all_stages || cancel.is_cancelled() {
                    return done(rec, cancel.is_cancelled(), diagnostics);
                }
            }
        }
    }

    // 3. Sweep the targets.
    let mut cancelled = false;
    if !input.targets.is_empty() && !cancel.is_cancelled() {
        let hosts: Vec<String> = input.targets.iter().map(|t| t.host.clone()).collect();
        // Each target's record as soon as it and those above it are done (file order), so its
        // line shows while the sweep still waits on a dead host further down. A sweep cut by
        // Ctrl-C keeps none of its records (their lines were shown): a cycle's targets are in
        // the datalog whole or not at all.
        let before = rec.records.len();
        let targets = input.targets;
        // Room for every target's record at once: grown by doubling, a sweep of 100,000 held
        // the old and the new array together for a moment (31 MB where 24 MB suffice).
        rec.records.reserve_exact(targets.len() + 1);
        let mut each = |first: usize, run: &[PingOutcome]| rec.push_targets(targets, first, run);
        if prober
            .ping_each(&hosts, input.ping, cancel, &mut each)
            .await
            .is_err()
        {
            rec.records.truncate(before);
            cancelled = true;
        }
    }
    cancelled |= cancel.is_cancelled();

    // 3b. `--tcp`: every target's ports at once, through the tunnel still open; rows in target
    // then port order. Cut by Ctrl-C: no rows, as the sweep.
    if let (Some(checker), false) = (input.port_checker, input.tcp_ports.is_empty()) {
        if !cancelled && !input.targets.is_empty() {
            let all = futures::future::join_all(
                input
                    .targets
                    .iter()
                    .map(|t| checker.check(&t.host, input.tcp_ports)),
            );
            tokio::select! {
                biased;
                _ = cancel.cancelled() => cancelled = true,
                all = all => {
                    for (t, outcomes) in input.targets.iter().zip(all) {
                        for o in outcomes {
                            let (v, reason) = match &o.connect {
                                Ok(_) => (Verdict::Good, None),
                                Err(why) => (Verdict::Fail, Some(why.clone())),
                            };
                            rec.add(rec.record(
                                Test::TcpPort,
                                v,
                                &port_address(&t.host, o.port),
                                &t.name,
                                reason,
                                None,
                                DateTime::<Local>::from(o.started),
                                *o.connect.as_ref().unwrap_or(&o.duration),
                            ));
                        }
                    }
                }
            }
        }
    }

    // 3c. `--trace-on-fail`: the route to every target that ended Fail or Warn, through the
    // tunnel still open; all at once, one deadline for all, so many dead targets still let the
    // close come promptly. A router rate-limits its "time exceeded" answers (about 6 at once,
    // then 1 a second), so with many parallel traces that router's hop may show `*`: accepted
    // (staggering would not fit the one deadline); the path says where answers stopped. A trace
    // that did not finish in time, or could not run, leaves its record without a path.
    if let Some((tracer, deadline)) = input.tracer {
        if !cancelled {
            let failed: Vec<usize> = rec
                .records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.test == Test::TargetPing && r.result != Verdict::Good)
                .map(|(i, _)| i)
                .collect();
            if !failed.is_empty() {
                let hosts: Vec<String> = failed
                    .iter()
                    .map(|&i| host_of_record(&rec.records[i], input.targets))
                    .collect();
                let traces =
                    futures::future::join_all(hosts.iter().map(|h| async move {
                        tokio::time::timeout(deadline, tracer.trace(h)).await
                    }));
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => cancelled = true,
                    all = traces => {
                        for (i, t) in failed.into_iter().zip(all) {
                            if let Ok(Ok(path)) = t {
                                rec.records[i].path = Some(path);
                                (rec.observe)(std::slice::from_ref(&rec.records[i]));
                            }
                        }
                    }
                }
            }
        }
    }

    // 4. Close, always when opened, also after a cancel.
    if opened {
        if let Some(client) = vpn {
            let at = Local::now();
            let t = Instant::now();
            let r = client.close(Deadline::after(CLOSE_WITHIN), cancel).await;
            let (v, reason) = match r {
                // What had to be tidied after the client (a resolver file it left rewritten).
                Ok(info) => (Verdict::Good, info.detail),
                Err(e) if e.kind == VpnErrorKind::Cancelled => {
                    // Cut short by Ctrl-C: not a failure of the gateway, so no row; the stop
                    // message says the close was not confirmed.
                    let mut out = done(rec, true, e.diagnostics);
                    out.close_unconfirmed = Some(e.reason);
                    return out;
                }
                Err(e) => {
                    diagnostics = e.diagnostics.clone();
                    (Verdict::Fail, Some(e.reason))
                }
            };
            rec.add(rec.record(
                Test::VpnClose,
                v,
                &site.vpnurlip,
                &site.vpnname,
                reason,
                None,
                at,
                t.elapsed(),
            ));
        }
    }
    done(rec, cancelled, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fake::TableProber;
    use crate::vpn::fake::{FakeOpen, FakeVpn};
    use crate::vpn::{Credentials, VpnError};
    use std::path::PathBuf;

    fn site() -> Site {
        Site {
            vpnname: "VPN Gateway".into(),
            vpnurlip: "gw.example".into(),
            ping: None,
            credentials: Credentials::default(),
            targets: PathBuf::from("t.csv"),
            inline_targets: None,
            all_stages: false,
            targets_explicit: false,
            client: crate::settings::ClientConfig::None,
        }
    }

    fn targets() -> Vec<Target> {
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|a| Target {
                address: a.to_string(),
                host: a.to_string(),
                name: format!("host {a}"),
            })
            .collect()
    }

    fn opts() -> PingOptions {
        PingOptions {
            count: 2,
            timeout: Duration::from_secs(1),
        }
    }

    async fn go(
        prober: &TableProber,
        vpn: Option<&mut FakeVpn>,
        cancel: &CancellationToken,
    ) -> (CycleOutcome, Vec<String>) {
        let site = site();
        let t = targets();
        let mut seen = Vec::new();
        let mut observe = |rs: &[Record]| {
            for r in rs {
                seen.push(format!("{} {} {}", r.test, r.result, r.address))
            }
        };
        let input = CycleInput {
            cycle: 7,
            site: &site,
            targets: &t,
            ping: opts(),
            gateway_ping: opts(),
            tcp_ports: &[],
            port_checker: None,
            tracer: None,
        };
        let out = run(
            input,
            prober,
            vpn.map(|v| v as &mut dyn VpnClient),
            cancel,
            &mut observe,
        )
        .await;
        (out, seen)
    }

    fn summary(o: &CycleOutcome) -> Vec<String> {
        o.records
            .iter()
            .map(|r| format!("{} {} {}", r.test, r.result, r.address))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp_ports_are_checked_per_target_before_the_close() {
        use crate::probe::PortOutcome;
        /// Port 22 answers on 10.0.0.1 only; the others are refused.
        struct Ports;
        impl PortChecker for Ports {
            fn check<'a>(
                &'a self,
                host: &'a str,
                ports: &'a [u16],
            ) -> futures::future::BoxFuture<'a, Vec<PortOutcome>> {
                Box::pin(async move {
                    ports
                        .iter()
                        .map(|&port| PortOutcome {
                            port,
                            started: std::time::SystemTime::now(),
                            duration: Duration::from_millis(2),
                            connect: if host == "10.0.0.1" && port == 22 {
                                Ok(Duration::from_millis(1))
                            } else {
                                Err("refused".into())
                            },
                        })
                        .collect()
                })
            }
        }
        let p = TableProber::new(&[("gw.example", 2), ("10.0.0.1", 2), ("10.0.0.2", 2)]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        let site = site();
        let t = targets();
        let mut seen = Vec::new();
        let mut observe = |rs: &[Record]| {
            for r in rs {
                seen.push(format!("{} {} {}", r.test, r.result, r.address))
            }
        };
        let input = CycleInput {
            cycle: 7,
            site: &site,
            targets: &t[..2],
            ping: opts(),
            gateway_ping: opts(),
            tcp_ports: &[22, 443],
            port_checker: Some(&Ports),
            tracer: None,
        };
        let cancel = CancellationToken::new();
        let out = run(input, &p, Some(&mut vpn), &cancel, &mut observe).await;
        assert_eq!(
            seen,
            [
                "VPN ping Good gw.example",
                "VPN open Good gw.example",
                "Target ping Good 10.0.0.1",
                "Target ping Good 10.0.0.2",
                "TCP port Good 10.0.0.1:22",
                "TCP port Fail 10.0.0.1:443",
                "TCP port Fail 10.0.0.2:22",
                "TCP port Fail 10.0.0.2:443",
                "VPN close Good gw.example",
            ]
        );
        let good = &out.records[4];
        assert_eq!(good.duration, Duration::from_millis(1));
        assert_eq!(out.records[5].reason.as_deref(), Some("refused"));
        assert_eq!(port_address("fd00::1", 443), "[fd00::1]:443");
    }

    /// `--trace-on-fail`: the Warn and Fail targets get their paths (observed a second time,
    /// with the path) before the close; a Good one is not traced; traces that never finish are
    /// given up at the deadline and the cycle still closes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_targets_are_traced_before_the_close_within_the_deadline() {
        use std::net::IpAddr;
        /// 10.0.0.2's route; 10.0.0.3's never ends.
        struct Routes;
        impl Tracer for Routes {
            fn trace<'a>(
                &'a self,
                host: &'a str,
            ) -> futures::future::BoxFuture<'a, Result<Vec<Option<IpAddr>>, String>> {
                Box::pin(async move {
                    if host == "10.0.0.3" {
                        std::future::pending::<()>().await;
                    }
                    Ok(vec![Some("198.18.1.1".parse().unwrap()), None])
                })
            }
        }
        // 10.0.0.2 answers 1 of 2 (Warn), 10.0.0.3 not at all (Fail).
        let p = TableProber::new(&[("gw.example", 2), ("10.0.0.1", 2), ("10.0.0.2", 1)]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        let site = site();
        let t = targets();
        let mut seen = Vec::new();
        let mut observe = |rs: &[Record]| {
            for r in rs {
                seen.push(format!(
                    "{} {} {}{}",
                    r.test,
                    r.result,
                    r.address,
                    r.path.as_deref().map_or(String::new(), |p| format!(
                        " path {}",
                        crate::record::path_text(p, " ")
                    ))
                ))
            }
        };
        let input = CycleInput {
            cycle: 7,
            site: &site,
            targets: &t,
            ping: opts(),
            gateway_ping: opts(),
            tcp_ports: &[],
            port_checker: None,
            tracer: Some((&Routes, Duration::from_millis(300))),
        };
        let cancel = CancellationToken::new();
        let began = Instant::now();
        let out = run(input, &p, Some(&mut vpn), &cancel, &mut observe).await;
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{:?}",
            began.elapsed()
        );
        assert_eq!(
            seen[2..],
            [
                "Target ping Good 10.0.0.1",
                "Target ping Warn 10.0.0.2",
                "Target ping Fail 10.0.0.3",
                "Target ping Warn 10.0.0.2 path 198.18.1.1 *",
                "VPN close Good gw.example",
            ]
        );
        assert_eq!(out.records[2].path, None);
        assert_eq!(out.records[3].path.as_ref().map(Vec::len), Some(2));
        assert_eq!(out.records[4].path, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn good_cycle_opens_sweeps_and_closes() {
        let p = TableProber::new(&[("gw.example", 2), ("10.0.0.1", 2), ("10.0.0.2", 1)]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        let log = vpn.log.clone();
        let (out, seen) = go(&p, Some(&mut vpn), &CancellationToken::new()).await;
        let want = vec![
            "VPN ping Good gw.example",
            "VPN open Good gw.example",
            "Target ping Good 10.0.0.1",
            "Target ping Warn 10.0.0.2",
            "Target ping Fail 10.0.0.3",
            "VPN close Good gw.example",
        ];
        assert_eq!(summary(&out), want);
        assert_eq!(seen, want, "observer sees each record as it happens");
        assert!(!out.cancelled);
        assert!(out.records.iter().all(|r| r.cycle == 7));
        assert_eq!(log.calls(), vec!["open gw.example ", "close"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gateway_not_good_means_a_failed_open_row_no_open_and_no_sweep() {
        let p = TableProber::new(&[("gw.example", 1)]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        let log = vpn.log.clone();
        let (out, _) = go(&p, Some(&mut vpn), &CancellationToken::new()).await;
        assert_eq!(
            summary(&out),
            vec!["VPN ping Warn gw.example", "VPN open Fail gw.example"]
        );
        // The open row carries the ping's time, as the original's did.
        assert_eq!(out.records[0].at, out.records[1].at);
        assert_eq!(
            out.records[1].reason.as_deref(),
            Some("not tried: the gateway ping was Warn")
        );
        assert!(!out.cancelled);
        assert!(log.calls().is_empty());
        assert_eq!(*p.pinged.lock().unwrap(), vec!["gw.example"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_open_means_no_target_pings() {
        let p = TableProber::new(&[("gw.example", 2), ("10.0.0.1", 2)]);
        let err = VpnError::new(VpnErrorKind::LoginFailed, "login failed")
            .with_diagnostics(vec!["Login failed.".into()]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Fail(err)]);
        let (out, _) = go(&p, Some(&mut vpn), &CancellationToken::new()).await;
        assert_eq!(
            summary(&out),
            vec!["VPN ping Good gw.example", "VPN open Fail gw.example"]
        );
        assert_eq!(out.records[1].reason.as_deref(), Some("login failed"));
        assert_eq!(out.diagnostics, vec!["Login failed."]);
        assert_eq!(
            *p.pinged.lock().unwrap(),
            vec!["gw.example"],
            "no target pinged"
        );
        assert!(!vpn.is_open());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_close_is_a_fail_record() {
        let p = TableProber::new(&[
            ("gw.example", 2),
            ("10.0.0.1", 2),
            ("10.0.0.2", 2),
            ("10.0.0.3", 2),
        ]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        vpn.close_result = Err(VpnError::new(VpnErrorKind::Timeout, "disconnect timed out"));
        let (out, _) = go(&p, Some(&mut vpn), &CancellationToken::new()).await;
        let last = out.records.last().unwrap();
        assert_eq!((last.test, last.result), (Test::VpnClose, Verdict::Fail));
        assert_eq!(last.reason.as_deref(), Some("disconnect timed out"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancel_during_open_stops_and_closes() {
        let p = TableProber::new(&[("gw.example", 2)]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Hang]);
        let log = vpn.log.clone();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c2.cancel();
        });
        let t = Instant::now();
        let (out, _) = go(&p, Some(&mut vpn), &cancel).await;
        assert!(out.cancelled);
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(summary(&out), vec!["VPN ping Good gw.example"]);
        assert_eq!(
            log.calls(),
            vec!["open gw.example ", "open cancelled", "close"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancel_during_sweep_still_closes_the_vpn() {
        let mut p = TableProber::new(&[("gw.example", 2)]);
        p.hang_on = Some("10.0.0.1".into());
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c2.cancel();
        });
        let (out, _) = go(&p, Some(&mut vpn), &cancel).await;
        assert!(out.cancelled);
        assert_eq!(
            summary(&out),
            vec![
                "VPN ping Good gw.example",
                "VPN open Good gw.example",
                "VPN close Good gw.example"
            ]
        );
        assert!(!vpn.is_open());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_close_cut_short_by_ctrl_c_is_no_fail_row() {
        let p = TableProber::new(&[
            ("gw.example", 2),
            ("10.0.0.1", 2),
            ("10.0.0.2", 2),
            ("10.0.0.3", 2),
        ]);
        let mut vpn = FakeVpn::new(vec![FakeOpen::Succeed]);
        vpn.close_result = Err(VpnError::cancelled());
        let (out, _) = go(&p, Some(&mut vpn), &CancellationToken::new()).await;
        assert!(out.cancelled);
        assert_eq!(
            out.close_unconfirmed.as_deref(),
            Some("stopped by Control-C")
        );
        assert!(
            out.records.iter().all(|r| r.test != Test::VpnClose),
            "{:?}",
            summary(&out)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_vpn_client_pings_targets_whatever_the_gateway() {
        let p = TableProber::new(&[("10.0.0.1", 2)]);
        let (out, _) = go(&p, None, &CancellationToken::new()).await;
        assert_eq!(
            summary(&out),
            vec![
                "VPN ping Fail gw.example",
                "Target ping Good 10.0.0.1",
                "Target ping Fail 10.0.0.2",
                "Target ping Fail 10.0.0.3"
            ]
        );
    }
}
