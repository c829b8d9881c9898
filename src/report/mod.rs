//! `vpnmon report FILE…`: availability, Warn counts, outages and RTTs per check from datalogs of
//! any format, as a table, CSV or JSON, and optionally an SVG timeline. Rotated files given
//! together are read as one history.

pub mod format;
pub mod input;
pub mod read;
pub mod stats;
pub mod svg;

use crate::datalog::read::{from_naive, to_naive, ReadError};
use clap::{Parser, ValueEnum};
use read::{Checks, Row};
use stats::Summarizer;
use std::ffi::OsString;
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

    /// Output format (CSV and JSON times carry the UTC offset).
    #[arg(long, value_enum, default_value = "table", value_name = "FORMAT")]
    pub format: OutFormat,

    /// List the outages (runs of Fail cycles), in time order, instead of the checks.
    #[arg(long)]
    pub outages: bool,

    /// Order of the checks: avail (lowest availability first), name, or file (as first seen).
    #[arg(long, value_enum, default_value = "avail", value_name = "ORDER")]
    pub sort: SortBy,

    /// Print addresses and names in full; by default the table fits the terminal (COLUMNS, or
    /// 100 columns when not a terminal), long ones cut with `…`.
    #[arg(long)]
    pub wide: bool,

    /// Also draw a timeline (one row per check, one mark per cycle) into this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    Avail,
    Name,
    File,
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

/// The table's width: `COLUMNS` when set, else the terminal's, else 100.
fn table_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| cols as usize)
        .unwrap_or(100)
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
        // The second reading finds the same reasons in the same order.
        let reasons = checks.reasons.clone();
        let doc = svg::render(&list, &reasons, &s, &mut |each| {
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
    let shape = format::Shape {
        outages: cli.outages,
        sort: cli.sort,
        width: (!cli.wide).then(table_width),
        files: cli.files.len(),
    };
    Ok(match cli.format {
        OutFormat::Table => format::table(&list, &s, &shape),
        OutFormat::Csv => format::csv(&list, &s, &shape),
        OutFormat::Json => format::json(&list, &s, &shape),
    })
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
