//! Snapshots (insta) of what people read: `vpnmon --help`, `vpnmon report --help`, every report
//! format, and the console lines of scripted cycles under a fixed clock. The .snap files are in
//! tests/snapshots/; a change of output fails `cargo test` until the new snapshot is reviewed
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test` and a look at the diff).

mod core_support;

use chrono::{DateTime, Local, TimeZone};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use vpnmon::record::{CycleReport, Record};
use vpnmon::sinks::console::ConsoleSink;
use vpnmon::sinks::{RunEnd, Sink, SinkError};

/// The binary's stdout for `args`, which must succeed without a word on stderr.
fn stdout_of(args: &[&str]) -> String {
    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    // Help text is wrapped to the terminal; with none, clap takes COLUMNS (else 100).
    // CSV and JSON times carry the zone's UTC offset: one zone for every machine.
    c.env("COLUMNS", "100").env("TZ", "UTC").args(args);
    let out = core_support::run(c, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

#[test]
fn help() {
    insta::assert_snapshot!(stdout_of(&["--help"]));
}

#[test]
fn report_help() {
    insta::assert_snapshot!(stdout_of(&["report", "--help"]));
}

/// The original's datalog (every check always Good) and one with a Warn, a Fail and an open
/// that failed (tests/data/outages-datalog.csv), in each report format.
#[test]
fn report_formats() {
    for (name, file) in [
        ("original", "tests/data/vpnmon-original-datalog.csv"),
        ("outages", "tests/data/outages-datalog.csv"),
    ] {
        for format in ["table", "csv", "json"] {
            insta::assert_snapshot!(
                format!("report_{name}_{format}"),
                stdout_of(&["report", "--format", format, file])
            );
        }
    }
}

/// An extended datalog with the RTTs' deviation and the loss (issue 14,
/// tests/data/spread-extended.csv): the report's `RTT std` and `Loss%` columns (the averages
/// over the cycles), in each format.
#[test]
fn report_of_deviation_and_loss() {
    for format in ["table", "csv", "json"] {
        insta::assert_snapshot!(
            format!("report_spread_{format}"),
            stdout_of(&[
                "report",
                "--format",
                format,
                "tests/data/spread-extended.csv"
            ])
        );
    }
}

/// `stdout_of` with the table's width given by COLUMNS.
fn stdout_cols(columns: &str, args: &[&str]) -> String {
    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.env("COLUMNS", columns).env("TZ", "UTC").args(args);
    let out = core_support::run(c, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

/// The table at 80 and 100 columns, whole with --wide, in each --sort order; the outage list
/// as a table, CSV and JSON; the short run with RTTs (the RTT column).
#[test]
fn report_table_widths_sorts_and_outage_lists() {
    let original = "tests/data/vpnmon-original-datalog.csv";
    let outages = "tests/data/outages-datalog.csv";
    let short = "tests/data/short-run-extended.csv";
    insta::assert_snapshot!(
        "report_original_table_80",
        stdout_cols("80", &["report", original])
    );
    insta::assert_snapshot!(
        "report_original_table_wide",
        stdout_cols("80", &["report", "--wide", original])
    );
    for sort in ["avail", "name", "file"] {
        insta::assert_snapshot!(
            format!("report_outages_table_sort_{sort}"),
            stdout_cols("100", &["report", "--sort", sort, outages])
        );
    }
    for format in ["table", "csv", "json"] {
        insta::assert_snapshot!(
            format!("report_outages_list_{format}"),
            stdout_cols("100", &["report", "--outages", "--format", format, outages])
        );
    }
    insta::assert_snapshot!(
        "report_short_run_table_80",
        stdout_cols("80", &["report", short])
    );
}

/// The SVG's structure (elements, classes, texts and tooltips; no coordinates) for a short run
/// with RTTs and reasons.
#[test]
fn report_svg_short_run_structure() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("t.svg");
    let svg_arg = svg.to_str().unwrap();
    stdout_of(&[
        "report",
        "--svg",
        svg_arg,
        "tests/data/short-run-extended.csv",
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut outline = String::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        let depth = n.ancestors().filter(|a| a.is_element()).count() - 1;
        let own: String = n
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect::<String>()
            .trim()
            .to_string();
        let class = n
            .attribute("class")
            .map(|c| format!(".{c}"))
            .unwrap_or_default();
        let fill = n
            .attribute("fill")
            .map(|c| format!(" fill={c}"))
            .unwrap_or_default();
        outline.push_str(&format!(
            "{}{}{class}{fill}{}\n",
            "  ".repeat(depth),
            n.tag_name().name(),
            if own.is_empty() {
                String::new()
            } else {
                format!(" {own:?}")
            }
        ));
    }
    insta::assert_snapshot!(outline);
}

#[test]
fn report_svg_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("t.svg");
    let svg_arg = svg.to_str().unwrap();
    stdout_of(&["report", "--svg", svg_arg, "tests/data/outages-datalog.csv"]);
    insta::assert_snapshot!(std::fs::read_to_string(&svg).unwrap());
}

// ---- The console under a fixed clock -----------------------------------------------------------

/// A clock that reads 2022/09/07 18:20:33 first and one second later at each reading.
#[derive(Clone)]
struct FixedClock(Arc<Mutex<DateTime<Local>>>);

impl FixedClock {
    fn new() -> FixedClock {
        let start = Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 33).unwrap();
        FixedClock(Arc::new(Mutex::new(start)))
    }

    fn read(&self) -> DateTime<Local> {
        let mut t = self.0.lock().unwrap();
        let now = *t;
        *t += chrono::Duration::seconds(1);
        now
    }
}

/// Hands the console sink every event with its times from the fixed clock instead of the wall
/// clock (the sink itself reads no clock). Stops the run (as Ctrl-C) at the first wait when
/// asked to.
struct Clocked<S> {
    inner: S,
    clock: FixedClock,
    /// When the cycle under way started, by the fixed clock.
    started: Option<DateTime<Local>>,
    stop_at_wait: Option<CancellationToken>,
}

#[async_trait::async_trait]
impl<S: Sink> Sink for Clocked<S> {
    fn notice(&mut self, line: &str) {
        self.inner.notice(line);
    }
    fn cycle_start(&mut self, cycle: u64, of: Option<u64>, _at: DateTime<Local>) {
        let at = self.clock.read();
        self.started = Some(at);
        self.inner.cycle_start(cycle, of, at);
    }
    fn record(&mut self, rec: &Record) {
        let mut r = rec.clone();
        r.at = self.clock.read();
        self.inner.record(&r);
    }
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        let mut r = report.clone();
        r.finished = self.clock.read();
        r.started = self.started.unwrap_or(r.finished);
        self.inner.cycle_end(&r, cancel).await
    }
    fn diagnostics(&mut self, lines: &[String]) {
        self.inner.diagnostics(lines);
    }
    fn waiting(&mut self, delay: Duration, _next: DateTime<Local>) {
        let next = self.clock.read() + chrono::Duration::from_std(delay).unwrap();
        self.inner.waiting(delay, next);
        if let Some(c) = &self.stop_at_wait {
            c.cancel();
        }
    }
    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        self.inner.finish(end).await
    }
}

/// A `Write` whose bytes the test reads after the run.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the monitor in-process with the rule-based fake prober and the console sink under the
/// fixed clock; returns how it ended and the console's text. The targets are
/// tests/data/scripted-targets.csv (named relative to the package, where cargo runs tests): one
/// that answers (loopback), one that answers one echo of two (198.19.x, Warn), one that never
/// answers (198.18.x, Fail), and a bad line (said once).
fn console_of(site: &[&str], schedule: &[&str], stop_at_wait: bool) -> (RunEnd, String) {
    let mut argv: Vec<std::ffi::OsString> =
        vec!["vpnmon".into(), "--params".into(), "/dev/null".into()];
    argv.extend(
        ["--targets", "tests/data/scripted-targets.csv"]
            .iter()
            .chain(site)
            .chain(schedule)
            .map(Into::into),
    );
    argv.extend(["--datalog", "/dev/null", "--quiet"].iter().map(Into::into));
    let settings = vpnmon::settings::load(argv, &mut Vec::new()).unwrap();
    let vpns = settings
        .sites
        .iter()
        .map(|s| vpnmon::run::driver_for(s).unwrap())
        .collect();
    let text = Shared::default();
    let cancel = CancellationToken::new();
    let console = Clocked {
        inner: ConsoleSink::new(text.clone()),
        clock: FixedClock::new(),
        started: None,
        stop_at_wait: stop_at_wait.then(|| cancel.clone()),
    };
    let mut monitor = vpnmon::monitor::Monitor::new(
        settings,
        Box::new(vpnmon::probe::fake::RuleProber),
        vpns,
        vec![Box::new(console)],
        cancel,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let end = rt.block_on(monitor.run()).unwrap();
    let text = String::from_utf8(text.0.lock().unwrap().clone()).unwrap();
    (end, text)
}

/// Two cycles without a VPN client, with a gateway that answers.
#[test]
fn console_of_two_scripted_cycles() {
    let (end, text) = console_of(
        &[
            "--vpnclient",
            "none",
            "--vpnurlip",
            "127.0.0.1",
            "--vpnname",
            "Lab GW",
        ],
        &["--cycles", "2", "--delay", "0", "--timeout", "0.2"],
        false,
    );
    assert_eq!(
        end,
        RunEnd::Completed {
            cycles: 2,
            vpn_closed: true
        }
    );
    insta::assert_snapshot!(text);
}

/// Run until stopped, with a gateway that never answers: the first wait is cut by Ctrl-C.
#[test]
fn console_of_a_run_stopped_during_the_wait() {
    let (end, text) = console_of(
        &["--vpnclient", "none", "--vpnurlip", "198.18.0.1"],
        &["--cycles", "-1", "--delay", "1800", "--timeout", "0.2"],
        true,
    );
    assert_eq!(
        end,
        RunEnd::Stopped {
            cycles: 1,
            vpn_closed: true
        }
    );
    insta::assert_snapshot!(text);
}
