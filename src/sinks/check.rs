//! `vpnmon --check`: the monitoring-plugins convention (Nagios, Icinga, Zabbix, Checkmk). One
//! cycle, then one status line with perfdata on stdout, and a status the exit code carries:
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
//!
//! `VPNMON OK - 3/3 targets Good, open 13.8s | open=13.8s;;;0 fail=0;1;3;0;3 rtt_10.1.1.10=21ms;;;0`
//!
//! The status: CRITICAL when the gateway ping or the VPN open failed (no target could be
//! pinged) or when the failed targets reach `--critical`; WARNING when they reach `--warning`,
//! when a target lost some echoes (Warn), or when the VPN close failed; OK otherwise.

use super::{RunEnd, Sink, SinkError};
use crate::record::{CycleReport, Record, Test, Verdict};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A threshold on failed targets: a count (`3`) or a percentage of the targets (`10%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Count(usize),
    Percent(f64),
}

impl Threshold {
    /// `3` or `10%`: a count of 1 or more, or a percentage above 0 and at most 100.
    pub fn parse(s: &str) -> Result<Threshold, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "'{s}' is not a threshold: expected a number of failed targets (1 or more) or a \
                 percentage of the targets (such as 10%)"
            )
        };
        if let Some(p) = s.strip_suffix('%') {
            match p.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(Threshold::Percent(v)),
                _ => Err(bad()),
            }
        } else {
            match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Threshold::Count(n)),
                _ => Err(bad()),
            }
        }
    }

    /// Whether `failed` of `total` targets reach the threshold.
    pub fn reached(self, failed: usize, total: usize) -> bool {
        match self {
            Threshold::Count(n) => failed >= n,
            Threshold::Percent(p) => total > 0 && failed as f64 * 100.0 >= p * total as f64,
        }
    }

    /// The threshold as a count of `total` targets, for perfdata's warn/crit fields.
    fn as_count(self, total: usize) -> usize {
        match self {
            Threshold::Count(n) => n,
            Threshold::Percent(p) => (p * total as f64 / 100.0).ceil() as usize,
        }
    }
}

/// `--warning` and `--critical`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckConfig {
    pub warning: Threshold,
    pub critical: Threshold,
}

impl Default for CheckConfig {
    /// Any failed target warns; all of them failed is critical.
    fn default() -> Self {
        CheckConfig {
            warning: Threshold::Count(1),
            critical: Threshold::Percent(100.0),
        }
    }
}

/// The monitoring-plugins status; its number is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The status line for an error that ended the check (a bad option, an unreadable file).
pub fn unknown_line(reason: &str) -> String {
    let first = reason.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    format!(
        "VPNMON UNKNOWN - {}",
        plain(first.trim_start_matches("error: "))
    )
}

/// Plugin output must not carry `|` (it starts the perfdata) nor control bytes.
fn plain(s: &str) -> String {
    crate::text::escape(s).replace('|', "/")
}

/// A perfdata label: quoted when it has anything but letters, digits and `._:-`.
fn label(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", plain(s).replace('\'', "''").replace('=', "_"))
    }
}

/// Names of up to three records, `a, b … and 4 more`.
fn names(recs: &[&Record]) -> String {
    let mut s = recs
        .iter()
        .take(3)
        .map(|r| plain(&crate::text::shown(&r.name)))
        .collect::<Vec<_>>()
        .join(", ");
    if recs.len() > 3 {
        s.push_str(&format!(" … and {} more", recs.len() - 3));
    }
    s
}

/// What a check found: its status, the words and the perfdata of its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub status: Status,
    pub text: String,
    pub perf: String,
}

impl Found {
    /// `VPNMON OK - text | perfdata`
    pub fn line(&self) -> String {
        format!(
            "VPNMON {} - {} | {}",
            self.status.word(),
            self.text,
            self.perf
        )
    }
}

/// The status line of one finished cycle.
pub fn evaluate(report: &CycleReport, cfg: &CheckConfig) -> Found {
    let recs = &report.records;
    let of = |t: Test| recs.iter().filter(move |r| r.test == t);
    let targets: Vec<&Record> = of(Test::TargetPing).collect();
    let with = |v: Verdict| targets.iter().copied().filter(|r| r.result == v).collect();
    let fails: Vec<&Record> = with(Verdict::Fail);
    let warns: Vec<&Record> = with(Verdict::Warn);
    let good = targets.len() - fails.len() - warns.len();
    let total = report.targets.max(targets.len());
    let open = of(Test::VpnOpen).next();
    let close = of(Test::VpnClose).next();
    let gateway = of(Test::VpnPing).next();

    let mut status = Status::Ok;
    let mut text = Vec::new();
    match open {
        Some(o) if o.result == Verdict::Fail => {
            status = Status::Critical;
            let why = o.reason.as_deref().map(plain).unwrap_or_default();
            text.push(format!("VPN open Fail ({why}), {total} targets not pinged"));
        }
        _ => {
            let mut t = format!("{good}/{total} targets Good");
            if !fails.is_empty() {
                t.push_str(&format!(", {} Fail ({})", fails.len(), names(&fails)));
            }
            if !warns.is_empty() {
                t.push_str(&format!(", {} Warn ({})", warns.len(), names(&warns)));
            }
            text.push(t);
            if cfg.critical.reached(fails.len(), total) {
                status = Status::Critical;
            } else if cfg.warning.reached(fails.len(), total) || !warns.is_empty() {
                status = Status::Warning;
            }
            // Without a VPN client a gateway that does not answer is the only sign of trouble
            // at the site's edge.
            if let Some(g) = gateway.filter(|g| g.result != Verdict::Good && open.is_none()) {
                status = status.max(Status::Warning);
                text.push(format!("gateway ping {}", g.result));
            }
            if let Some(o) = open {
                text.push(format!("open {:.1}s", o.duration.as_secs_f64()));
            }
            if let Some(c) = close.filter(|c| c.result == Verdict::Fail) {
                status = status.max(Status::Warning);
                let why = c.reason.as_deref().map(plain).unwrap_or_default();
                text.push(format!("VPN close Fail ({why})"));
            }
        }
    }

    let mut perf = Vec::new();
    for (name, r) in [("open", open), ("close", close)] {
        if let Some(r) = r.filter(|r| r.result == Verdict::Good) {
            perf.push(format!("{name}={:.1}s;;;0", r.duration.as_secs_f64()));
        }
    }
    let warn = cfg.warning.as_count(total);
    let crit = cfg.critical.as_count(total);
    perf.push(format!("good={good};;;0;{total}"));
    perf.push(format!("warn={};;;0;{total}", warns.len()));
    perf.push(format!("fail={};{warn};{crit};0;{total}", fails.len()));
    for r in &targets {
        if let Some(avg) = r.ping.and_then(|p| p.rtt_avg) {
            let ms = avg.as_secs_f64() * 1000.0;
            perf.push(format!(
                "{}={ms:.3}ms;;;0",
                label(&format!("rtt_{}", r.address))
            ));
        }
    }
    Found {
        status,
        text: text.join(", "),
        perf: perf.join(" "),
    }
}

/// The check's outcome, read by `run` for the exit code after the run.
#[derive(Debug, Clone, Default)]
pub struct Outcome(Arc<Mutex<Option<Status>>>);

impl Outcome {
    pub fn get(&self) -> Option<Status> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, s: Status) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }
}

/// Collects the one cycle and writes its status line at the end.
pub struct CheckSink<W: Write + Send> {
    out: W,
    cfg: CheckConfig,
    found: Option<Found>,
    outcome: Outcome,
}

impl<W: Write + Send> CheckSink<W> {
    pub fn new(out: W, cfg: CheckConfig, outcome: Outcome) -> Self {
        CheckSink {
            out,
            cfg,
            found: None,
            outcome,
        }
    }
}

#[async_trait::async_trait]
impl<W: Write + Send> Sink for CheckSink<W> {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        if !report.cancelled {
            self.found = Some(evaluate(report, &self.cfg));
        }
        Ok(())
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        let (status, line) = match (self.found.take(), end) {
            // A tunnel that would not close is worse than anything the targets said.
            (Some(mut f), end) => {
                if !end.vpn_closed() {
                    f.status = Status::Critical;
                    f.text = format!("the VPN may still be open, {}", f.text);
                }
                (f.status, f.line())
            }
            (None, RunEnd::Stopped { .. }) => (
                Status::Unknown,
                "VPNMON UNKNOWN - stopped before the check finished".to_string(),
            ),
            // `run` says what failed, as an UNKNOWN line of its own.
            (None, _) => return Ok(()),
        };
        self.outcome.set(status);
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PingStats;
    use chrono::{Local, TimeZone};
    use std::time::Duration;

    fn rec(test: Test, result: Verdict, address: &str, rtt_ms: Option<u64>) -> Record {
        Record {
            path: None,
            cycle: 1,
            at: Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap(),
            test,
            result,
            address: address.into(),
            name: format!("n{address}"),
            site: "Site".into(),
            reason: (result == Verdict::Fail).then(|| "no reply".to_string()),
            ping: rtt_ms.map(|ms| PingStats {
                sent: 2,
                received: 2,
                rtt_avg: Some(Duration::from_millis(ms)),
                ..Default::default()
            }),
            duration: Duration::from_millis(13_800),
        }
    }

    fn report(records: Vec<Record>, targets: usize) -> CycleReport {
        let at = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        CycleReport {
            cycle: 1,
            of: Some(1),
            started: at,
            finished: at,
            records: records.into(),
            targets,
            cancelled: false,
        }
    }

    #[test]
    fn thresholds_parse_as_counts_or_percentages() {
        assert_eq!(Threshold::parse("3"), Ok(Threshold::Count(3)));
        assert_eq!(Threshold::parse("10%"), Ok(Threshold::Percent(10.0)));
        for bad in ["0", "0%", "101%", "-1", "x", ""] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        assert!(Threshold::Percent(50.0).reached(2, 4));
        assert!(!Threshold::Percent(50.0).reached(1, 4));
        assert!(!Threshold::Percent(50.0).reached(0, 0));
        assert!(Threshold::Count(2).reached(2, 100));
    }

    #[test]
    fn statuses_and_perfdata() {
        let cfg = CheckConfig::default();
        let gw = rec(Test::VpnPing, Verdict::Good, "gw", Some(5));
        let open = rec(Test::VpnOpen, Verdict::Good, "gw", None);
        let close = rec(Test::VpnClose, Verdict::Good, "gw", None);
        let good = |a: &str| rec(Test::TargetPing, Verdict::Good, a, Some(21));
        let fail = |a: &str| rec(Test::TargetPing, Verdict::Fail, a, None);
        let f = evaluate(
            &report(
                vec![gw.clone(), open.clone(), good("10.1.1.10"), close.clone()],
                1,
            ),
            &cfg,
        );
        let (s, line) = (f.status, f.line());
        assert_eq!(s, Status::Ok);
        assert_eq!(
            line,
            "VPNMON OK - 1/1 targets Good, open 13.8s | open=13.8s;;;0 close=13.8s;;;0 \
             good=1;;;0;1 warn=0;;;0;1 fail=0;1;1;0;1 rtt_10.1.1.10=21.000ms;;;0"
        );
        let f = evaluate(
            &report(vec![good("a"), fail("b"), fail("c|x y")], 3),
            &CheckConfig {
                warning: Threshold::Count(1),
                critical: Threshold::Percent(50.0),
            },
        );
        let (s, line) = (f.status, f.line());
        assert_eq!(s, Status::Critical, "{line}");
        assert!(
            line.starts_with("VPNMON CRITICAL - 1/3 targets Good, 2 Fail (nb, nc/x y) | "),
            "{line}"
        );
        assert!(line.contains(" fail=2;1;2;0;3"), "{line}");
        let mut failed_open = open.clone();
        failed_open.result = Verdict::Fail;
        failed_open.reason = Some("Login failed".into());
        let f = evaluate(&report(vec![gw, failed_open], 55), &cfg);
        let (s, line) = (f.status, f.line());
        assert_eq!(s, Status::Critical);
        assert!(
            line.starts_with(
                "VPNMON CRITICAL - VPN open Fail (Login failed), 55 targets not pinged | "
            ),
            "{line}"
        );
        assert_eq!(label("rtt_fe80::1%eth0"), "'rtt_fe80::1%eth0'");
        assert_eq!(unknown_line("error: bad\n\nmore"), "VPNMON UNKNOWN - bad");
    }
}
