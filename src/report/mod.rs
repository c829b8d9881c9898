//! `vpnmon report FILE…`: availability, Warn counts, outages and RTTs per check from datalogs of
//! any format, as a table, CSV or JSON, and optionally an SVG timeline. Rotated files given
//! together are read as one history.

pub mod input;
pub mod read;
pub mod stats;
pub mod svg;

use crate::datalog::read::{from_naive, to_naive, ReadError};
use crate::datalog::schema::CsvText;
use crate::millis::{opt_ms_text, round_ms};
use crate::record::CheckId;
use clap::{Parser, ValueEnum};
use read::{Checks, Row};
use stats::{Outage, Summarizer, Summary};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

/// vpnmon report -- availability, outages and RTTs per check from vpnmon datalogs.
#[derive(Parser, Debug)]
#[command(
    name = "vpnmon report",
    max_term_width = 100,
    after_help = "FILEs may be in any datalog format (vpnmon, extended, jsonl) and may be rotated \
pieces (vpnmon_datalog.csv.2 vpnmon_datalog.csv.1 vpnmon_datalog.csv); they are read as one \
history, in time order.\nTimes are the local wall-clock times written in the datalog."
)]
pub struct ReportCli {
    /// Datalog files to read; `-` reads standard input, FILE.gz is decompressed.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Only rows at or after this time (2024-05-01, "2024-05-01 08:00[:00]", or 24h: that long
    /// before now; s, m, h, d, w).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<i64>,

    /// Only rows at or before this time (a date alone means to the end of that day; 2h: that
    /// long before now).
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<i64>,

    /// Output format.
    #[arg(long, value_enum, default_value = "table", value_name = "FORMAT")]
    pub format: OutFormat,

    /// Also draw a timeline (one row per check, one mark per cycle) into this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    Table,
    Csv,
    Json,
}

/// `24h` before now (`90s`, `30m`, `24h`, `7d`, `2w`), in the datalog's local wall-clock time.
fn relative_time(s: &str, now: chrono::NaiveDateTime) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    let back = chrono::Duration::try_seconds(n.checked_mul(secs)?)?;
    Some(to_naive(now.checked_sub_signed(back)?))
}

fn parse_time(s: &str, end_of_day: bool) -> Result<i64, String> {
    if let Some(t) = relative_time(s, chrono::Local::now().naive_local()) {
        return Ok(t);
    }
    let t = s.trim().replace('/', "-").replace('T', " ");
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(&t, f) {
            return Ok(to_naive(d));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
        let (h, m, sec) = if end_of_day { (23, 59, 59) } else { (0, 0, 0) };
        if let Some(dt) = d.and_hms_opt(h, m, sec) {
            return Ok(to_naive(dt));
        }
    }
    Err(
        "expected a date such as 2024-05-01, a time such as \"2024-05-01 08:00\", or a time \
         before now such as 24h (s, m, h, d, w)"
            .into(),
    )
}

fn parse_since(s: &str) -> Result<i64, String> {
    parse_time(s, false)
}

fn parse_until(s: &str) -> Result<i64, String> {
    parse_time(s, true)
}

/// `2022-09-07 18:20:33`
pub fn time_text(t: i64) -> String {
    from_naive(t).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `2022-09-07T18:20:33+02:00`: a datalog time (local wall-clock) with the UTC offset this
/// machine's time zone had then, for CSV and JSON, which other programs read. A time that did
/// not exist locally (in a DST gap) has no offset to give and is written without one.
pub fn offset_time_text(t: i64) -> String {
    use chrono::TimeZone;
    let naive = from_naive(t);
    match chrono::Local.from_local_datetime(&naive).earliest() {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => naive.format("%Y-%m-%dT%H:%M:%S").to_string(),
    }
}

/// A duration a person reads: `45s`, `12m 30s`, `3h 05m`, `2d 04h`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

fn pct(v: f64) -> String {
    format!("{v:.2}")
}

/// Parses `vpnmon report …` (`args` as the process got them: program name, `report`, options).
pub fn parse(args: Vec<OsString>) -> Result<ReportCli, clap::Error> {
    let rest = args.into_iter().skip(2);
    ReportCli::try_parse_from(std::iter::once(OsString::from("vpnmon report")).chain(rest))
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error(
        "cannot write the SVG file {path}: {reason}; check that its folder exists and is writable"
    )]
    Svg { path: PathBuf, reason: String },
}

/// Reads, summarizes, writes the SVG if asked, and returns the text for stdout. The files are
/// read as a stream (see [`read::stream`]): no row is kept, and with `--svg` they are read a
/// second time for the marks. Lines of a file that cannot be read are skipped and named through
/// `warn` (see [`crate::datalog::read::Skipped`]), per file in the order given.
pub fn run(cli: &ReportCli, warn: &mut dyn FnMut(&str)) -> Result<String, ReportError> {
    let (lo, hi) = (cli.since.unwrap_or(i64::MIN), cli.until.unwrap_or(i64::MAX));
    let wanted = |r: &Row| r.t >= lo && r.t <= hi;
    let inputs = input::prepare(&cli.files)?;
    let files = &inputs.files;
    let mut checks = Checks::default();
    let mut sum = Summarizer::default();
    let pass = read::stream(files, None, &mut checks, |r| {
        if wanted(r) {
            sum.add(r)
        }
    })?;
    for s in &pass.skipped {
        for line in s.warning() {
            warn(&inputs.named(&line));
        }
    }
    let s = sum.finish(&checks.list);
    let list = checks.list.clone();
    if let Some(path) = &cli.svg {
        let doc = svg::render(&list, &s, &mut |each| {
            read::stream(files, Some(&pass.bytes), &mut checks, |r| {
                if wanted(r) {
                    each(r)
                }
            })
            .map(|_| ())
        })?;
        std::fs::write(path, doc).map_err(|e| ReportError::Svg {
            path: path.clone(),
            reason: crate::error::io_reason(&e),
        })?;
    }
    Ok(match cli.format {
        OutFormat::Table => table(&list, &s, cli.files.len()),
        OutFormat::Csv => csv(&list, &s),
        OutFormat::Json => json(&list, &s),
    })
}

fn pad_table(rows: &[Vec<String>], right: &[bool]) -> String {
    let mut out = String::new();
    pad_table_by(rows.len(), |i| rows[i].clone(), right, &mut out);
    out
}

/// [`pad_table`] of rows made on demand (twice: for the widths, then for the text), so a table
/// of many rows (outages) is never held as cells.
fn pad_table_by(n: usize, row: impl Fn(usize) -> Vec<String>, right: &[bool], out: &mut String) {
    let mut w: Vec<usize> = Vec::new();
    for i in 0..n {
        let r = row(i);
        if w.len() < r.len() {
            w.resize(r.len(), 0);
        }
        for (wi, c) in w.iter_mut().zip(&r) {
            *wi = (*wi).max(c.chars().count());
        }
    }
    let mut line = String::new();
    for i in 0..n {
        line.clear();
        for (i, c) in row(i).iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w[i] - c.chars().count();
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn table(checks: &[CheckId], s: &Summary, files: usize) -> String {
    let mut out = String::new();
    let span = match (s.first, s.last) {
        (Some(a), Some(b)) => format!(", {} to {}", time_text(a), time_text(b)),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "vpnmon report: {} rows from {} file{}, {} cycles{}",
        s.rows,
        files,
        if files == 1 { "" } else { "s" },
        s.cycles,
        span
    );
    out.push('\n');
    let mut rows = vec![[
        "Check",
        "Address",
        "Name",
        "Cycles",
        "Avail%",
        "Warn",
        "Fail",
        "Outages",
        "RTT min",
        "RTT avg",
        "RTT max (ms)",
    ]
    .map(String::from)
    .to_vec()];
    for c in &s.checks {
        let k = &checks[c.check as usize];
        // For a terminal: control characters from the datalog shown escaped, never raw.
        rows.push(vec![
            k.test.as_str().to_string(),
            crate::text::escape(&k.address),
            crate::text::escape(&k.name),
            c.cycles.to_string(),
            pct(c.availability()),
            c.warn.to_string(),
            c.fail.to_string(),
            c.outages.len().to_string(),
            opt_ms_text(c.rtt_min),
            opt_ms_text(c.rtt_avg),
            opt_ms_text(c.rtt_max),
        ]);
    }
    let right = [
        false, false, false, true, true, true, true, true, true, true, true,
    ];
    out.push_str(&pad_table(&rows, &right));
    out.push('\n');
    let header = [
        "Check", "Address", "Name", "Start", "End", "Duration", "Cycles",
    ];
    let list: Vec<(&CheckId, &Outage)> = s
        .checks
        .iter()
        .flat_map(|c| c.outages.iter().map(|o| (&checks[c.check as usize], o)))
        .collect();
    let orow = |i: usize| -> Vec<String> {
        let Some(&(k, o)) = i.checked_sub(1).and_then(|i| list.get(i)) else {
            return header.map(String::from).to_vec();
        };
        vec![
            k.test.as_str().to_string(),
            crate::text::escape(&k.address),
            crate::text::escape(&k.name),
            time_text(o.start),
            if o.ongoing {
                format!("{} (ongoing)", time_text(o.end))
            } else {
                time_text(o.end)
            },
            human_duration(o.duration()),
            o.cycles.to_string(),
        ]
    };
    if list.is_empty() {
        out.push_str("Outages: none\n");
    } else {
        let _ = writeln!(out, "Outages: {}", list.len());
        pad_table_by(
            list.len() + 1,
            orow,
            &[false, false, false, false, false, true, true],
            &mut out,
        );
    }
    out
}

/// Two CSV tables separated by an empty line: the checks, then the outages.
fn csv(checks: &[CheckId], s: &Summary) -> String {
    let mut table = CsvText::new();
    table.row([
        "test",
        "address",
        "name",
        "cycles",
        "good",
        "warn",
        "fail",
        "availability_pct",
        "outages",
        "rtt_min_ms",
        "rtt_avg_ms",
        "rtt_max_ms",
    ]);
    for c in &s.checks {
        let k = &checks[c.check as usize];
        table.row([
            k.test.as_str(),
            &k.address,
            &k.name,
            &c.cycles.to_string(),
            &c.good.to_string(),
            &c.warn.to_string(),
            &c.fail.to_string(),
            &pct(c.availability()),
            &c.outages.len().to_string(),
            &opt_ms_text(c.rtt_min),
            &opt_ms_text(c.rtt_avg),
            &opt_ms_text(c.rtt_max),
        ]);
    }
    let mut outages = CsvText::new();
    outages.row([
        "test",
        "address",
        "name",
        "start",
        "end",
        "duration_s",
        "cycles",
        "ongoing",
    ]);
    for c in &s.checks {
        let k = &checks[c.check as usize];
        for o in &c.outages {
            outages.row([
                k.test.as_str(),
                &k.address,
                &k.name,
                &offset_time_text(o.start),
                &offset_time_text(o.end),
                &o.duration().to_string(),
                &o.cycles.to_string(),
                &o.ongoing.to_string(),
            ]);
        }
    }
    // An empty line between the tables (a CSV writer would write an empty record as `""`).
    table.into_string() + "\n" + &outages.into_string()
}

#[derive(serde::Serialize)]
struct JsonOutage {
    start: String,
    end: String,
    duration_s: i64,
    cycles: u64,
    ongoing: bool,
}

impl JsonOutage {
    fn of(o: &Outage) -> JsonOutage {
        JsonOutage {
            start: offset_time_text(o.start),
            end: offset_time_text(o.end),
            duration_s: o.duration(),
            cycles: o.cycles,
            ongoing: o.ongoing,
        }
    }
}

#[derive(serde::Serialize)]
struct JsonCheck<'a> {
    test: &'a str,
    address: &'a str,
    name: &'a str,
    cycles: u64,
    good: u64,
    warn: u64,
    fail: u64,
    availability_pct: f64,
    rtt_min_ms: Option<f64>,
    rtt_avg_ms: Option<f64>,
    rtt_max_ms: Option<f64>,
    outages: Vec<JsonOutage>,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    rows: usize,
    cycles: u64,
    first: Option<String>,
    last: Option<String>,
    checks: Vec<JsonCheck<'a>>,
}

fn json(checks: &[CheckId], s: &Summary) -> String {
    let r = JsonReport {
        rows: s.rows,
        cycles: s.cycles,
        first: s.first.map(offset_time_text),
        last: s.last.map(offset_time_text),
        checks: s
            .checks
            .iter()
            .map(|c| {
                let k = &checks[c.check as usize];
                JsonCheck {
                    test: k.test.as_str(),
                    address: &k.address,
                    name: &k.name,
                    cycles: c.cycles,
                    good: c.good,
                    warn: c.warn,
                    fail: c.fail,
                    availability_pct: (c.availability() * 100.0).round() / 100.0,
                    rtt_min_ms: c.rtt_min.map(round_ms),
                    rtt_avg_ms: c.rtt_avg.map(round_ms),
                    rtt_max_ms: c.rtt_max.map(round_ms),
                    outages: c.outages.iter().map(JsonOutage::of).collect(),
                }
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&r).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(750), "12m 30s");
        assert_eq!(human_duration(3 * 3600 + 300), "3h 05m");
        assert_eq!(human_duration(2 * 86_400 + 4 * 3600 + 59), "2d 04h");
    }

    #[test]
    fn since_and_until_accept_dates_and_times() {
        let a = parse_since("2024-05-01").unwrap();
        let b = parse_until("2024/05/01").unwrap();
        assert_eq!(b - a, 86_399);
        assert_eq!(parse_since("2024-05-01 08:00").unwrap() - a, 8 * 3600);
        assert_eq!(
            parse_since("2024-05-01T08:00:30").unwrap() - a,
            8 * 3600 + 30
        );
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn relative_times_count_back_from_now() {
        let now = chrono::NaiveDate::from_ymd_opt(2024, 5, 2)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let at = |d: u32, h: u32, m: u32| {
            to_naive(
                chrono::NaiveDate::from_ymd_opt(2024, 5, d)
                    .unwrap()
                    .and_hms_opt(h, m, 0)
                    .unwrap(),
            )
        };
        assert_eq!(relative_time("24h", now), Some(at(1, 12, 0)));
        assert_eq!(relative_time("90m", now), Some(at(2, 10, 30)));
        assert_eq!(relative_time("1d", now), Some(at(1, 12, 0)));
        assert_eq!(relative_time("2024-05-01", now), None);
        assert_eq!(relative_time("h", now), None);
        assert!(parse_time("2h", false).is_ok());
        assert!(parse_time("2x", false).is_err());
    }
}
