//! The original's console lines, each prefixed by the cycle number (right-aligned to 3), the
//! date and the time. Extra facts (RTT, a Fail's reason, durations) follow at the end of a line.
//!
//! On a terminal (or with `--verbose`) a few lines say more than the original's: which targets
//! failed, and how many were not pinged after a failed open. Verdicts are coloured when the
//! colour choice allows (decided by `run`, written through `anstream`). Piped output stays the
//! original's lines.

use super::{RunEnd, Sink, SinkError};
use crate::millis::{console_ms, push_console_ms};
use crate::platform::{StopCause, StopSignal};
use crate::record::{CycleReport, Record, Tally, Test, Verdict};
use chrono::{DateTime, Local};
use std::io::Write;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct ConsoleSink<W: Write + Send> {
    out: W,
    cycle: u64,
    /// The time of the last prefixed line: the completed line follows the last cycle at once.
    last: Option<DateTime<Local>>,
    opts: ConsoleOptions,
    /// The spinner and countdown under the lines (`--progress`, on a terminal).
    live: Option<super::live::Live>,
    /// The second the last prefix was formatted for, and its text: a sweep's lines share a
    /// few seconds, so each is formatted once rather than per line.
    stamp: Option<(i64, chrono::FixedOffset)>,
    stamp_text: String,
    /// The line being written, reused from line to line.
    buf: String,
}

/// What the console says beyond the original's lines, and how.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// The lines naming failed targets and the targets not pinged after a failed open (on a
    /// terminal, or `--verbose`).
    pub detail: bool,
    /// Verdicts in colour (Good green, Warn yellow, Fail red).
    pub color: bool,
    /// Some site drives a VPN client: the stop lines say whether the VPN was closed.
    pub has_vpn: bool,
    /// Which signal stopped the run, for the stop line.
    pub stop: StopCause,
    /// A spinner while tests run and a countdown during the wait, under the lines (drawn only
    /// on a terminal).
    pub live: bool,
}

impl Default for ConsoleOptions {
    /// The original's lines exactly.
    fn default() -> Self {
        ConsoleOptions {
            detail: false,
            color: false,
            has_vpn: true,
            stop: StopCause::default(),
            live: false,
        }
    }
}

/// How many names the failure line lists before `… and N more`.
const NAMES_SHOWN: usize = 5;

impl<W: Write + Send> ConsoleSink<W> {
    /// The original's lines, no colour.
    pub fn new(out: W) -> Self {
        Self::with_options(out, ConsoleOptions::default())
    }

    pub fn with_options(out: W, opts: ConsoleOptions) -> Self {
        let live = opts.live.then(|| super::live::Live::new(opts.has_vpn));
        ConsoleSink {
            out,
            cycle: 0,
            last: None,
            opts,
            live,
            stamp: None,
            stamp_text: String::new(),
            buf: String::new(),
        }
    }

    /// Writes `text` (whole lines) with the live line lifted while it is written.
    fn emit(&mut self, text: &str) {
        let out = &mut self.out;
        let mut write = || {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.live {
            Some(l) => l.suspend(write),
            None => write(),
        }
    }

    /// Writes `text` as a line with the prefix (`prefixed`'s).
    fn line(&mut self, at: DateTime<Local>, text: &str) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.push_prefix(&mut buf, at);
        buf.push_str(text);
        buf.push('\n');
        self.emit(&buf);
        self.buf = buf;
    }

    /// Appends a line's prefix (`prefixed`'s, with the space after it) to `buf`.
    fn push_prefix(&mut self, buf: &mut String, at: DateTime<Local>) {
        use std::fmt::Write as _;
        self.last = Some(at);
        let key = (at.timestamp(), *at.offset());
        if self.stamp != Some(key) {
            self.stamp_text.clear();
            let _ = write!(self.stamp_text, "{}", at.format(STAMP_FORMAT));
            self.stamp = Some(key);
        }
        let _ = write!(buf, "{:>3} {} ", self.cycle, self.stamp_text);
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Standard output as the console writes it: through anstream, which keeps the styles, strips
/// them (colour off) or turns them into console calls (old Windows consoles), except that while
/// it strips, text with nothing to strip (printable ASCII and newlines: nearly every line) goes
/// straight to stdout. Stripping reads every byte through a state machine, a measurable part of
/// a large sweep's CPU; for such text its output is the text itself.
pub struct ConsoleOut {
    stream: anstream::AutoStream<std::io::Stdout>,
    stripping: bool,
}

impl ConsoleOut {
    pub fn new(stream: anstream::AutoStream<std::io::Stdout>) -> ConsoleOut {
        let stripping = stream.current_choice() == anstream::ColorChoice::Never;
        ConsoleOut { stream, stripping }
    }
}

impl Write for ConsoleOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.stripping && buf.iter().all(|&b| b == b'\n' || (b' '..0x7f).contains(&b)) {
            // `&Stdout` writes too (through the same lock as the stream's own writes).
            let mut raw: &std::io::Stdout = self.stream.as_inner();
            return raw.write(buf);
        }
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// The date and time of a line's prefix.
const STAMP_FORMAT: &str = "%Y/%m/%d %H:%M:%S";

/// `  1 2022/09/07 18:20:33 text`
pub fn prefixed(cycle: u64, at: DateTime<Local>, text: &str) -> String {
    format!("{cycle:>3} {} {text}", at.format(STAMP_FORMAT))
}

/// The header of a site in a run with several: `-- Site 2 of 3 ------- East  (vpn.example.org)`,
/// in the layout of the original's `-- VPN ping -----------` lines.
pub fn site_line(site: &super::SiteHeader<'_>) -> String {
    let label = format!("-- Site {} of {} ", site.index, site.of);
    let where_ = if site.gateway.is_empty() {
        "no VPN".to_string()
    } else {
        crate::text::shown(site.gateway)
    };
    format!(
        "{label:-<23} {}  ({where_})",
        crate::text::escape(site.name)
    )
}

fn of_text(of: Option<u64>) -> String {
    of.map_or_else(|| "Infinite".to_string(), |n| n.to_string())
}

/// A verdict word, coloured when `color` (Good green, Warn yellow, Fail red).
pub fn verdict_word(v: Verdict, color: bool) -> String {
    if !color {
        return v.as_str().to_string();
    }
    let style = anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(match v {
        Verdict::Good => anstyle::AnsiColor::Green,
        Verdict::Warn => anstyle::AnsiColor::Yellow,
        Verdict::Fail => anstyle::AnsiColor::Red,
    })));
    format!("{style}{}{style:#}", v.as_str())
}

/// The test column of a record's line, 24 characters wide as the original.
/// The console's line for a traced path: `(path: 198.18.1.1 → 198.18.9.1 → * → *)`.
pub fn path_line(path: &[Option<std::net::IpAddr>]) -> String {
    format!("(path: {})", crate::record::path_text(path, " → "))
}

pub fn record_line(r: &Record) -> String {
    record_line_styled(r, false)
}

/// `record_line` with the verdict coloured when `color`.
pub fn record_line_styled(r: &Record, color: bool) -> String {
    let mut s = String::with_capacity(96);
    push_record_line(&mut s, r, color);
    s
}

/// `record_line_styled`, appended to `s` (a burst of records is written as one buffer).
fn push_record_line(s: &mut String, r: &Record, color: bool) {
    use std::fmt::Write as _;
    match r.test {
        Test::VpnPing => s.push_str("-- VPN ping ----------- "),
        Test::VpnOpen => s.push_str("-- VPN open() --------- "),
        Test::VpnClose => s.push_str("-- VPN close() -------- "),
        Test::TargetPing => {
            let _ = write!(s, "-- ping {:<15} ", r.address);
        }
        Test::TcpPort => {
            let _ = write!(s, "-- tcp  {:<15} ", r.address);
        }
    }
    if color {
        s.push_str(&verdict_word(r.result, color));
    } else {
        s.push_str(r.result.as_str());
    }
    s.push(' ');
    // Names come from files: escaped and cut for the terminal (the datalog keeps them whole).
    crate::text::push_shown(s, &r.name);
    push_extras(s, r);
}

/// `Fail: a (10.0.0.1), b (10.0.0.2) … and 3 more;  Warn: c (10.0.0.3)`: the targets that were
/// not Good, in file order; `None` when all were.
pub fn failures_line(records: &[Record], color: bool) -> Option<String> {
    let mut parts = Vec::new();
    for v in [Verdict::Fail, Verdict::Warn] {
        let hits: Vec<&Record> = records
            .iter()
            .filter(|r| r.test == Test::TargetPing && r.result == v)
            .collect();
        if hits.is_empty() {
            continue;
        }
        let names: Vec<String> = hits
            .iter()
            .take(NAMES_SHOWN)
            .map(|r| {
                format!(
                    "{} ({})",
                    crate::text::shown(&r.name),
                    crate::text::shown(&r.address)
                )
            })
            .collect();
        let more = hits.len().saturating_sub(NAMES_SHOWN);
        let mut list = names.join(", ");
        if more > 0 {
            list.push_str(&format!(" … and {more} more"));
        }
        parts.push(format!("{}: {list}", verdict_word(v, color)));
    }
    (!parts.is_empty()).then(|| parts.join(";  "))
}

/// After a failed open: `VPN open Fail — 55 targets not pinged`; `None` for any other cycle.
pub fn open_failed_line(report: &CycleReport, color: bool) -> Option<String> {
    let failed_open = report
        .records
        .iter()
        .any(|r| r.test == Test::VpnOpen && r.result == Verdict::Fail);
    let pinged = report.records.iter().any(|r| r.test == Test::TargetPing);
    (failed_open && !pinged).then(|| {
        let n = report.targets;
        format!(
            "VPN open {} — {n} target{} not pinged",
            verdict_word(Verdict::Fail, color),
            if n == 1 { "" } else { "s" }
        )
    })
}

/// A line's extra facts, `  (…)` after the name: the reason (escaped: it may quote the
/// network or a client), then the RTT or the duration, joined by `, `. Nothing when none.
fn push_extras(s: &mut String, r: &Record) {
    // A ping's RTT (nearly every line) is written in place; the rarer facts as text.
    let rtt = match (&r.ping, r.result) {
        (Some(p), v) if v != Verdict::Fail => p.rtt_avg,
        _ => None,
    };
    let fact = match (&r.ping, r.test) {
        (Some(_), _) => None,
        // A step not tried (the open after a bad gateway ping) took no time worth saying.
        (None, Test::VpnOpen | Test::VpnClose) if !r.duration.is_zero() => {
            Some(format!("{:.1} s", r.duration.as_secs_f64()))
        }
        // A connect's time, as a ping's RTT.
        (None, Test::TcpPort) if r.result == Verdict::Good => {
            Some(format!("connect {}", console_ms(r.duration)))
        }
        _ => None,
    };
    let has_fact = rtt.is_some() || fact.is_some();
    if r.reason.as_deref().unwrap_or_default().is_empty() && !has_fact {
        return;
    }
    s.push_str("  (");
    if let Some(reason) = &r.reason {
        crate::text::push_escape(s, reason);
        if has_fact {
            s.push_str(", ");
        }
    }
    if let Some(avg) = rtt {
        s.push_str("rtt ");
        push_console_ms(s, avg);
    } else if let Some(fact) = fact {
        s.push_str(&fact);
    }
    s.push(')');
}

#[async_trait::async_trait]
impl<W: Write + Send> Sink for ConsoleSink<W> {
    fn notice(&mut self, line: &str) {
        self.emit(&format!("{line}\n"));
    }

    fn cycle_start(&mut self, cycle: u64, of: Option<u64>, at: DateTime<Local>) {
        self.cycle = cycle;
        if let Some(l) = self.live.as_mut() {
            l.clear();
        }
        self.line(
            at,
            &format!("Start vpnmon test cycle {cycle} of {}", of_text(of)),
        );
        if let Some(l) = self.live.as_mut() {
            l.cycle_started();
        }
    }

    fn site_start(&mut self, at: DateTime<Local>, site: &super::SiteHeader<'_>) {
        if let Some(l) = self.live.as_mut() {
            l.clear();
        }
        self.line(at, &site_line(site));
    }

    fn record(&mut self, r: &Record) {
        self.records(std::slice::from_ref(r));
    }

    /// The lines of a burst of records in one write (one system call for a burst of a sweep's
    /// replies, rather than one per target).
    fn records(&mut self, recs: &[Record]) {
        let color = self.opts.color;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for r in recs {
            self.push_prefix(&mut buf, r.at);
            push_record_line(&mut buf, r, color);
            buf.push('\n');
        }
        self.emit(&buf);
        self.buf = buf;
        if let Some(l) = self.live.as_mut() {
            for r in recs {
                l.after(r);
            }
        }
    }

    fn traced(&mut self, r: &Record) {
        if let Some(path) = &r.path {
            self.line(Local::now(), &path_line(path));
        }
    }

    fn diagnostics(&mut self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let mut text = String::from("---- Start diagnostic information ----\n");
        for l in lines {
            // The client's own words: no raw control bytes to the terminal.
            text.push_str(&crate::text::escape(l));
            text.push('\n');
        }
        // Two spaces each side, as the original wrote it (its start line has one).
        text.push_str("----  End diagnostic information  ----\n");
        self.emit(&text);
    }

    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        if let Some(l) = self.live.as_mut() {
            l.clear();
        }
        if report.cancelled {
            return Ok(());
        }
        let t = Tally::of_targets(&report.records);
        let took = (report.finished - report.started)
            .to_std()
            .unwrap_or_default();
        self.line(
            report.finished,
            &format!(
                "End vpnmon test cycle {} of {}  (took {:.2} s)",
                report.cycle,
                of_text(report.of),
                took.as_secs_f64()
            ),
        );
        let color = self.opts.color;
        let open_failed = self
            .opts
            .detail
            .then(|| open_failed_line(report, color))
            .flatten();
        match open_failed {
            Some(text) => self.line(
                report.finished,
                &format!("vpnmon test cycle ping results:  {text}"),
            ),
            None => self.line(
                report.finished,
                &format!(
                    "vpnmon test cycle ping results:  Good: {},  Warn: {},  Fail: {}",
                    t.good, t.warn, t.fail
                ),
            ),
        }
        if self.opts.detail {
            if let Some(text) = failures_line(&report.records, color) {
                self.line(report.finished, &text);
            }
        }
        Ok(())
    }

    fn waiting(&mut self, delay: Duration, next: DateTime<Local>) {
        // The line carries the time of its event (the monitor's now, `next - delay`) like every
        // other line: the sink reads no clock of its own.
        let now = next - chrono::Duration::from_std(delay).unwrap_or_default();
        let text = if delay.is_zero() {
            "Waiting to run next test cycle.".to_string()
        } else {
            format!(
                "Waiting to run next test cycle.  (next at {})",
                next.format("%H:%M:%S")
            )
        };
        self.line(now, &text);
        // The original followed the waiting line with an empty line.
        self.emit("\n");
        // Below them, on a terminal, the time left, counted down in place.
        if let Some(l) = self.live.as_mut() {
            l.countdown(delay);
        }
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        if let Some(l) = self.live.as_mut() {
            l.clear();
        }
        match end {
            RunEnd::Completed { cycles, .. } => {
                // Prefixed like every other line, with the original's words ("1 vpnmon test
                // cycles completed." too), at the end of the last cycle, which it follows at once.
                let at = self.last.unwrap_or_else(Local::now);
                self.line(at, &format!("{cycles} vpnmon test cycles completed."));
            }
            RunEnd::Stopped { vpn_closed, .. } => {
                // The original's words for Ctrl-C; another signal is named as it is.
                let by = self.opts.stop.get().unwrap_or(StopSignal::Interrupt);
                let _ = writeln!(self.out, "---- vpnmon stopped with {} ----", by.words());
                // Without a VPN client there is no connection to speak of.
                if !self.opts.has_vpn {
                } else if vpn_closed {
                    let _ = writeln!(self.out, "VPN connection closed");
                } else {
                    let _ = writeln!(self.out, "VPN connection may still be open (see above)");
                }
                let _ = writeln!(self.out, "Datalog file closed");
            }
            // `run` says what failed, after every sink finished.
            RunEnd::Failed { .. } => {}
        }
        let _ = self.out.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PingStats;
    use chrono::TimeZone;

    fn rec(test: Test, result: Verdict, address: &str, name: &str) -> Record {
        Record {
            path: None,
            cycle: 1,
            at: Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap(),
            test,
            result,
            address: address.into(),
            name: name.into(),
            site: "Site".into(),
            reason: None,
            ping: None,
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn a_site_header_lines_up_with_the_vpn_lines() {
        let at = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        let h = crate::sinks::SiteHeader {
            name: "East",
            gateway: "vpn-east.example.org",
            index: 2,
            of: 3,
        };
        assert_eq!(
            prefixed(1, at, &site_line(&h)),
            "  1 2022/09/07 18:20:33 -- Site 2 of 3 -------- East  (vpn-east.example.org)"
        );
        let vpn = prefixed(1, at, "-- VPN ping ----------- Good East");
        assert_eq!(vpn.find("Good"), Some(48), "{vpn}");
        assert_eq!(
            prefixed(1, at, &site_line(&h)).find("East"),
            Some(48),
            "the name where the verdicts are"
        );
        let none = crate::sinks::SiteHeader {
            gateway: "",
            name: "L\u{1b}ab",
            ..h
        };
        assert!(
            site_line(&none).ends_with("L\\eab  (no VPN)"),
            "{}",
            site_line(&none)
        );
    }

    #[test]
    fn lines_keep_the_original_layout() {
        let at = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        assert_eq!(
            prefixed(1, at, "Start vpnmon test cycle 1 of 200"),
            "  1 2022/09/07 18:20:33 Start vpnmon test cycle 1 of 200"
        );
        let mut r = rec(
            Test::VpnPing,
            Verdict::Good,
            "vpn.example.org",
            "VPN Gateway",
        );
        r.ping = Some(PingStats {
            sent: 2,
            received: 2,
            ..Default::default()
        });
        assert_eq!(record_line(&r), "-- VPN ping ----------- Good VPN Gateway");
        let r = rec(
            Test::VpnOpen,
            Verdict::Good,
            "vpn.example.org",
            "VPN Gateway",
        );
        assert_eq!(
            record_line(&r),
            "-- VPN open() --------- Good VPN Gateway  (1.5 s)"
        );
        let mut r = rec(Test::TargetPing, Verdict::Good, "10.1.1.10", "G7-VM-SYS");
        r.ping = Some(PingStats {
            sent: 2,
            received: 2,
            rtt_avg: Some(Duration::from_micros(250)),
            ..Default::default()
        });
        assert_eq!(
            record_line(&r),
            "-- ping 10.1.1.10       Good G7-VM-SYS  (rtt 0.25 ms)"
        );
        let mut r = rec(Test::TargetPing, Verdict::Fail, "10.1.1.11", "G8");
        r.reason = Some("no reply to 2 echo requests within 1 s".into());
        r.ping = Some(PingStats {
            sent: 2,
            ..Default::default()
        });
        assert_eq!(
            record_line(&r),
            "-- ping 10.1.1.11       Fail G8  (no reply to 2 echo requests within 1 s)"
        );
        let r = rec(
            Test::VpnClose,
            Verdict::Good,
            "vpn.example.org",
            "VPN Gateway",
        );
        assert!(record_line(&r).starts_with("-- VPN close() -------- Good VPN Gateway"));
    }

    #[test]
    fn cycle_summary_and_end() {
        let mut s = ConsoleSink::new(Vec::new());
        let at = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        s.cycle_start(12, None, at);
        let report = CycleReport {
            cycle: 12,
            of: None,
            started: at,
            finished: at,
            records: vec![
                rec(Test::TargetPing, Verdict::Good, "a", "a"),
                rec(Test::TargetPing, Verdict::Warn, "b", "b"),
                rec(Test::VpnClose, Verdict::Fail, "c", "c"),
            ]
            .into(),
            targets: 0,
            cancelled: false,
        };
        futures::executor::block_on(s.cycle_end(&report, &CancellationToken::new())).unwrap();
        futures::executor::block_on(s.finish(RunEnd::Completed {
            cycles: 12,
            vpn_closed: true,
        }))
        .unwrap();
        let text = String::from_utf8(s.into_inner()).unwrap();
        assert_eq!(
            text,
            " 12 2022/09/07 18:20:33 Start vpnmon test cycle 12 of Infinite\n\
             \x2012 2022/09/07 18:20:33 End vpnmon test cycle 12 of Infinite  (took 0.00 s)\n\
             \x2012 2022/09/07 18:20:33 vpnmon test cycle ping results:  Good: 1,  Warn: 1,  Fail: 0\n\
             \x2012 2022/09/07 18:20:33 12 vpnmon test cycles completed.\n"
        );
    }

    #[test]
    fn waiting_line_then_one_empty_line_and_the_original_diagnostic_block() {
        let mut s = ConsoleSink::new(Vec::new());
        let at = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        s.cycle_start(1, Some(2), at);
        s.diagnostics(&["Login failed.".to_string()]);
        s.waiting(Duration::from_secs(60), at + chrono::Duration::seconds(60));
        let text = String::from_utf8(s.into_inner()).unwrap();
        assert_eq!(
            text,
            "  1 2022/09/07 18:20:33 Start vpnmon test cycle 1 of 2\n\
             ---- Start diagnostic information ----\n\
             Login failed.\n\
             ----  End diagnostic information  ----\n\
             \x20 1 2022/09/07 18:20:33 Waiting to run next test cycle.  (next at 18:21:33)\n\
             \n"
        );
    }

    #[test]
    fn the_failure_line_names_targets_in_file_order_and_cuts_after_five() {
        let mut recs: Vec<Record> = (1..=8)
            .map(|i| {
                rec(
                    Test::TargetPing,
                    Verdict::Fail,
                    &format!("10.0.0.{i}"),
                    &format!("t{i}"),
                )
            })
            .collect();
        recs.push(rec(Test::TargetPing, Verdict::Warn, "10.0.1.1", "w"));
        recs.push(rec(Test::TargetPing, Verdict::Good, "10.0.2.1", "g"));
        // A failed close is not a target.
        recs.push(rec(Test::VpnClose, Verdict::Fail, "gw", "GW"));
        assert_eq!(
            failures_line(&recs, false).unwrap(),
            "Fail: t1 (10.0.0.1), t2 (10.0.0.2), t3 (10.0.0.3), t4 (10.0.0.4), t5 (10.0.0.5) \
             … and 3 more;  Warn: w (10.0.1.1)"
        );
        assert_eq!(
            failures_line(&recs[8..], true).unwrap(),
            "\x1b[33mWarn\x1b[0m: w (10.0.1.1)"
        );
        assert_eq!(failures_line(&recs[9..], false), None);
    }

    #[test]
    fn a_failed_open_counts_the_targets_not_pinged() {
        let at = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        let mut report = CycleReport {
            cycle: 1,
            of: None,
            started: at,
            finished: at,
            records: vec![
                rec(Test::VpnPing, Verdict::Good, "gw", "GW"),
                rec(Test::VpnOpen, Verdict::Fail, "gw", "GW"),
            ]
            .into(),
            targets: 55,
            cancelled: false,
        };
        assert_eq!(
            open_failed_line(&report, false).unwrap(),
            "VPN open Fail — 55 targets not pinged"
        );
        report.targets = 1;
        assert_eq!(
            open_failed_line(&report, false).unwrap(),
            "VPN open Fail — 1 target not pinged"
        );
        std::sync::Arc::make_mut(&mut report.records)[1].result = Verdict::Good;
        assert_eq!(open_failed_line(&report, false), None);
    }

    fn stop_lines(has_vpn: bool, sig: Option<StopSignal>, vpn_closed: bool) -> String {
        let stop = StopCause::default();
        if let Some(sig) = sig {
            stop.set(sig);
        }
        let opts = ConsoleOptions {
            has_vpn,
            stop,
            ..ConsoleOptions::default()
        };
        let mut s = ConsoleSink::with_options(Vec::new(), opts);
        futures::executor::block_on(s.finish(RunEnd::Stopped {
            cycles: 1,
            vpn_closed,
        }))
        .unwrap();
        String::from_utf8(s.into_inner()).unwrap()
    }

    #[test]
    fn stop_lines_name_the_signal_and_a_vpn_only_when_there_is_one() {
        assert_eq!(
            stop_lines(true, Some(StopSignal::Interrupt), true),
            "---- vpnmon stopped with Control-C ----\nVPN connection closed\nDatalog file closed\n"
        );
        assert_eq!(
            stop_lines(true, Some(StopSignal::Terminate), false),
            "---- vpnmon stopped with SIGTERM ----\n\
             VPN connection may still be open (see above)\nDatalog file closed\n"
        );
        assert_eq!(
            stop_lines(false, Some(StopSignal::Terminate), true),
            "---- vpnmon stopped with SIGTERM ----\nDatalog file closed\n"
        );
    }
}
