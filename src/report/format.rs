//! The report's text for stdout: the table a person reads (fitted to the terminal's width,
//! worst checks first), and CSV and JSON for other programs. Each shows either the checks or,
//! with `--outages`, the outage list.

use super::stats::{CheckStats, Outage, Summary};
use super::{human_duration, offset_time_text, time_text, SortBy};
use crate::datalog::schema::CsvText;
use crate::millis::{opt_ms_text, round_ms};
use crate::record::{CheckId, Test};
use crate::text::{fit, width};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// What to show and how.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The outage list instead of the checks.
    pub outages: bool,
    pub sort: SortBy,
    /// The table's width in columns; `None`: names are never cut (`--wide`).
    pub width: Option<usize>,
    /// How many files were read (the table's first line says).
    pub files: usize,
}

fn pct(v: f64) -> String {
    format!("{v:.2}")
}

fn rank(t: Test) -> u8 {
    match t {
        Test::VpnPing => 0,
        Test::VpnOpen => 1,
        Test::VpnClose => 2,
        Test::TargetPing => 3,
        Test::TcpPort => 4,
    }
}

/// The checks in the order `--sort` asks for. `avail`: lowest availability first, then the most
/// Warn, then the gateway checks before the targets, then by name and address; `name`: by name,
/// then address; `file`: in the order they first appear (gateway checks first).
pub fn sorted<'a>(checks: &[CheckId], s: &'a Summary, by: SortBy) -> Vec<&'a CheckStats> {
    let mut v: Vec<&CheckStats> = s.checks.iter().collect();
    // Grouped by site first, the sites in the order they first appear.
    let mut site_order: Vec<&str> = Vec::new();
    for k in checks {
        if !site_order.contains(&k.site.as_str()) {
            site_order.push(&k.site);
        }
    }
    let site_rank = |c: &CheckStats| {
        let site = checks[c.check as usize].site.as_str();
        site_order.iter().position(|s| *s == site).unwrap_or(0)
    };
    let key = |c: &CheckStats| {
        let k = &checks[c.check as usize];
        (
            site_rank(c),
            k.name.clone(),
            k.address.clone(),
            rank(k.test),
        )
    };
    match by {
        SortBy::File => v.sort_by_key(|c| site_rank(c)),
        SortBy::Name => v.sort_by_key(|c| key(c)),
        SortBy::Avail => v.sort_by(|a, b| {
            site_rank(a)
                .cmp(&site_rank(b))
                .then(
                    a.availability()
                        .partial_cmp(&b.availability())
                        .unwrap_or(Ordering::Equal),
                )
                .then(b.warn.cmp(&a.warn))
                .then(rank(checks[a.check as usize].test).cmp(&rank(checks[b.check as usize].test)))
                .then_with(|| key(a).cmp(&key(b)))
        }),
    }
    v
}

/// The datalogs name more than one site: the outputs show a site column.
fn several_sites(checks: &[CheckId]) -> bool {
    checks.iter().any(|k| k.site != checks[0].site)
}

/// The datalogs carry sites (extended or jsonl rows written since sites exist).
fn has_sites(checks: &[CheckId]) -> bool {
    checks.iter().any(|k| !k.site.is_empty())
}

/// Every outage with its check, in time order (ties in the checks' order).
fn outage_list<'a>(checks: &'a [CheckId], s: &'a Summary) -> Vec<(&'a CheckId, &'a Outage)> {
    let mut list: Vec<(&CheckId, &Outage)> = s
        .checks
        .iter()
        .flat_map(|c| c.outages.iter().map(|o| (&checks[c.check as usize], o)))
        .collect();
    list.sort_by_key(|(_, o)| o.start);
    list
}

/// One column of a table: its header, whether it is right-aligned, and whether it may be cut
/// (the names) to fit the width.
struct Col {
    head: &'static str,
    right: bool,
    cut: bool,
}

const fn col(head: &'static str, right: bool, cut: bool) -> Col {
    Col { head, right, cut }
}

const GAP: usize = 2;
/// A cut column keeps at least this many columns (`…` included).
const MIN_CUT: usize = 8;
/// The address column is cut only below this width (an IPv4 address is at most 15).
const ADDRESS_KEEP: usize = 15;

/// The widths of `cols` for `rows` within `limit` (or their natural widths without one). The
/// cut columns (address, then name) share what the others leave: the address keeps up to half
/// of it (at least [`ADDRESS_KEEP`]), the name the rest.
/// Rows are made on demand (`row(i)` for `i < n`, once here and once in [`render`]), so a long
/// table (an outage list of 100,000 lines) is never held as cells.
fn widths(
    cols: &[Col],
    n: usize,
    row: &dyn Fn(usize) -> Vec<String>,
    limit: Option<usize>,
) -> Vec<usize> {
    let mut w: Vec<usize> = cols.iter().map(|c| width(c.head)).collect();
    for i in 0..n {
        for (wi, cell) in w.iter_mut().zip(&row(i)) {
            *wi = (*wi).max(width(cell));
        }
    }
    let Some(limit) = limit else { return w };
    let cut: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].cut).collect();
    let fixed: usize = (0..cols.len())
        .filter(|i| !cols[*i].cut)
        .map(|i| w[i])
        .sum::<usize>()
        + GAP * cols.len().saturating_sub(1);
    let room = limit.saturating_sub(fixed);
    let natural: usize = cut.iter().map(|&i| w[i]).sum();
    if natural <= room {
        return w;
    }
    // Two cut columns (address, name): the address gets up to half, the name the rest; one
    // cut column gets all the room.
    let mut left = room;
    for (n, &i) in cut.iter().enumerate() {
        let last = n + 1 == cut.len();
        let share = if last {
            left
        } else {
            let rest_natural: usize = cut[n + 1..].iter().map(|&j| w[j]).sum();
            let half = (left / 2).max(ADDRESS_KEEP);
            // Give back what the later columns do not need.
            half.max(left.saturating_sub(rest_natural))
        };
        let take = w[i].min(share).max(MIN_CUT.min(w[i]));
        w[i] = take;
        left = left.saturating_sub(take);
    }
    w
}

/// The rows (cells already escaped) as a padded table under `cols`' headers, cut to `w`.
fn render(
    cols: &[Col],
    n: usize,
    row: &dyn Fn(usize) -> Vec<String>,
    w: &[usize],
    out: &mut String,
) {
    let head: Vec<String> = cols.iter().map(|c| c.head.to_string()).collect();
    let mut line = String::new();
    for r in std::iter::once(head).chain((0..n).map(row)) {
        line.clear();
        for (i, cell) in r.iter().enumerate() {
            if i > 0 {
                line.push_str(&" ".repeat(GAP));
            }
            let cell = if cols[i].cut {
                fit(cell, w[i])
            } else {
                cell.clone()
            };
            let pad = " ".repeat(w[i].saturating_sub(width(&cell)));
            if cols[i].right {
                line.push_str(&pad);
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `12.3/15.0/40.1` (ms, to a tenth), or empty when the check has no RTT. A `VPN open` or
/// `VPN close` shows the time the client took instead (it has no RTT; the footer says so).
fn rtt_cell(c: &CheckStats) -> String {
    let v = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
    match (c.rtt_min, c.rtt_avg, c.rtt_max) {
        (None, None, None) => match (c.time_min, c.time_avg, c.time_max) {
            (None, None, None) => String::new(),
            (a, b, m) => format!("{}/{}/{}", v(a), v(b), v(m)),
        },
        (a, b, m) => format!("{}/{}/{}", v(a), v(b), v(m)),
    }
}

/// Whether any check has open/close times (extended and jsonl datalogs).
fn has_times(list: &[&CheckStats]) -> bool {
    list.iter().any(|c| c.time_avg.is_some())
}

/// Whether any check carries the deviation or the loss (datalogs written since issue 14): only
/// then do the table and the CSV show their columns, so older reports stay as they were.
fn with_spread(list: &[&CheckStats]) -> bool {
    list.iter()
        .any(|c| c.rtt_std.is_some() || c.loss_pct.is_some())
}

/// An outage's end: its time alone when it ended on the day it began.
fn end_text(start: i64, end: i64) -> String {
    let (a, b) = (time_text(start), time_text(end));
    match (a.split_once(' '), b.split_once(' ')) {
        (Some((da, _)), Some((db, tb))) if da == db => tb.to_string(),
        _ => b,
    }
}

pub fn table(checks: &[CheckId], s: &Summary, shape: &Shape) -> String {
    let mut out = String::new();
    let head = format!(
        "vpnmon report: {} rows from {} file{}, {} cycles",
        s.rows,
        shape.files,
        if shape.files == 1 { "" } else { "s" },
        s.cycles,
    );
    match (s.first, s.last) {
        (Some(a), Some(b)) => {
            let span = format!("{} to {}", time_text(a), end_text(a, b));
            let line = format!("{head}, {span}");
            // On its own line when the width asks for it.
            if shape.width.is_some_and(|w| width(&line) > w) {
                let _ = writeln!(out, "{head}\n{span}");
            } else {
                let _ = writeln!(out, "{line}");
            }
        }
        _ => {
            let _ = writeln!(out, "{head}");
        }
    }
    out.push('\n');
    // For a terminal: control characters from the datalog shown escaped, never raw.
    let with_site = several_sites(checks);
    let names = |k: &CheckId| {
        let mut v = Vec::with_capacity(4);
        if with_site {
            v.push(crate::text::escape(&k.site));
        }
        v.extend([
            k.test.as_str().to_string(),
            crate::text::escape(&k.address),
            crate::text::escape(&k.name),
        ]);
        v
    };
    let site_col = || with_site.then(|| col("Site", false, true));
    let outages = outage_list(checks, s);
    if shape.outages {
        if outages.is_empty() {
            out.push_str("Outages: none\n");
            return out;
        }
        let _ = writeln!(out, "Outages: {}, in time order", outages.len());
        let mut cols: Vec<Col> = site_col().into_iter().collect();
        cols.extend([
            col("Check", false, false),
            col("Address", false, true),
            col("Name", false, true),
            col("Start", false, false),
            col("End", false, false),
            col("Duration", true, false),
            col("Cycles", true, false),
        ]);
        let row = |i: usize| {
            let (k, o) = outages[i];
            let mut r = names(k);
            r.extend([
                time_text(o.start),
                if o.ongoing {
                    "(ongoing)".to_string()
                } else {
                    end_text(o.start, o.end)
                },
                human_duration(o.duration()),
                o.cycles.to_string(),
            ]);
            r
        };
        let w = widths(&cols, outages.len(), &row, shape.width);
        render(&cols, outages.len(), &row, &w, &mut out);
        return out;
    }
    let list = sorted(checks, s, shape.sort);
    let with_times = has_times(&list);
    let with_rtt = with_times
        || list
            .iter()
            .any(|c| c.rtt_avg.is_some() || c.rtt_max.is_some());
    let mut cols: Vec<Col> = site_col().into_iter().collect();
    cols.extend([
        col("Check", false, false),
        col("Address", false, true),
        col("Name", false, true),
        col("Cycles", true, false),
        col("Avail%", true, false),
        col("Warn", true, false),
        col("Fail", true, false),
        col("Outages", true, false),
    ]);
    if with_rtt {
        cols.push(col("RTT min/avg/max", true, false));
    }
    let spread = with_spread(&list);
    if spread {
        cols.push(col("RTT std", true, false));
        cols.push(col("Loss%", true, false));
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let mut r = names(&checks[c.check as usize]);
            r.extend([
                c.cycles.to_string(),
                pct(c.availability()),
                c.warn.to_string(),
                c.fail.to_string(),
                c.outages.len().to_string(),
            ]);
            if with_rtt {
                r.push(rtt_cell(c));
            }
            if spread {
                r.push(c.rtt_std.map_or(String::new(), |x| format!("{x:.1}")));
                r.push(c.loss_pct.map_or(String::new(), pct));
            }
            r
        })
        .collect();
    let row = |i: usize| rows[i].clone();
    let w = widths(&cols, rows.len(), &row, shape.width);
    render(&cols, rows.len(), &row, &w, &mut out);
    out.push('\n');
    if with_rtt {
        out.push_str("RTT in ms: the lowest minimum, the average, the highest maximum.\n");
    }
    if spread {
        out.push_str(
            "RTT std in ms and Loss%: the averages of the cycles' standard deviations and losses.\n",
        );
    }
    if with_times {
        out.push_str(
            "VPN open and close: the client's time in ms instead (failures not counted).\n",
        );
    }
    if outages.is_empty() {
        out.push_str("Outages: none\n");
    } else {
        let _ = writeln!(out, "Outages: {} (--outages lists them)", outages.len());
    }
    out
}

/// One CSV table: a row per check, or with `--outages` a row per outage.
pub fn csv(checks: &[CheckId], s: &Summary, shape: &Shape) -> String {
    let mut table = CsvText::new();
    if shape.outages {
        table.row(
            [
                "test",
                "address",
                "name",
                "start",
                "end",
                "duration_s",
                "cycles",
                "ongoing",
            ]
            .into_iter()
            .chain(has_sites(checks).then_some("site")),
        );
        for (k, o) in outage_list(checks, s) {
            table.row(
                [
                    k.test.as_str(),
                    &k.address,
                    &k.name,
                    &offset_time_text(o.start),
                    &offset_time_text(o.end),
                    &o.duration().to_string(),
                    &o.cycles.to_string(),
                    &o.ongoing.to_string(),
                ]
                .into_iter()
                .chain(has_sites(checks).then_some(k.site.as_str())),
            );
        }
        return table.into_string();
    }
    let list = sorted(checks, s, shape.sort);
    let with_times = has_times(&list);
    let spread = with_spread(&list);
    table.row(
        [
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
        ]
        .into_iter()
        .chain(spread.then_some("rtt_std_ms"))
        .chain(spread.then_some("loss_pct"))
        .chain(
            with_times
                .then_some(["time_min_ms", "time_avg_ms", "time_max_ms"])
                .into_iter()
                .flatten(),
        )
        .chain(has_sites(checks).then_some("site")),
    );
    for c in list {
        let k = &checks[c.check as usize];
        table.row(
            [
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
            ]
            .into_iter()
            .map(str::to_string)
            .chain(spread.then(|| opt_ms_text(c.rtt_std)))
            .chain(spread.then(|| opt_ms_text(c.loss_pct)))
            .chain(
                with_times
                    .then(|| [c.time_min, c.time_avg, c.time_max].map(opt_ms_text))
                    .into_iter()
                    .flatten(),
            )
            .chain(has_sites(checks).then(|| k.site.clone())),
        );
    }
    table.into_string()
}

#[derive(serde::Serialize)]
struct JsonOutage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a str>,
    start: String,
    end: String,
    duration_s: i64,
    cycles: u64,
    ongoing: bool,
}

impl JsonOutage<'_> {
    fn of<'a>(o: &Outage, k: Option<&'a CheckId>) -> JsonOutage<'a> {
        JsonOutage {
            test: k.map(|k| k.test.as_str()),
            address: k.map(|k| k.address.as_str()),
            name: k.map(|k| k.name.as_str()),
            site: k.map(|k| k.site.as_str()).filter(|s| !s.is_empty()),
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
    #[serde(skip_serializing_if = "str::is_empty")]
    site: &'a str,
    cycles: u64,
    good: u64,
    warn: u64,
    fail: u64,
    availability_pct: f64,
    rtt_min_ms: Option<f64>,
    rtt_avg_ms: Option<f64>,
    rtt_max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_std_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss_pct: Option<f64>,
    /// `VPN open` and `VPN close`: the client's time where it did not fail (extended, jsonl).
    #[serde(skip_serializing_if = "Option::is_none")]
    time_min_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_avg_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_max_ms: Option<f64>,
    outages: Vec<JsonOutage<'a>>,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    rows: usize,
    cycles: u64,
    first: Option<String>,
    last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Vec<JsonCheck<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outages: Option<Vec<JsonOutage<'a>>>,
}

/// The checks with their outages, or with `--outages` the outage list (each naming its check).
pub fn json(checks: &[CheckId], s: &Summary, shape: &Shape) -> String {
    let mut r = JsonReport {
        rows: s.rows,
        cycles: s.cycles,
        first: s.first.map(offset_time_text),
        last: s.last.map(offset_time_text),
        checks: None,
        outages: None,
    };
    if shape.outages {
        r.outages = Some(
            outage_list(checks, s)
                .into_iter()
                .map(|(k, o)| JsonOutage::of(o, Some(k)))
                .collect(),
        );
    } else {
        r.checks = Some(
            sorted(checks, s, shape.sort)
                .into_iter()
                .map(|c| {
                    let k = &checks[c.check as usize];
                    JsonCheck {
                        test: k.test.as_str(),
                        address: &k.address,
                        name: &k.name,
                        site: &k.site,
                        cycles: c.cycles,
                        good: c.good,
                        warn: c.warn,
                        fail: c.fail,
                        availability_pct: (c.availability() * 100.0).round() / 100.0,
                        rtt_min_ms: c.rtt_min.map(round_ms),
                        rtt_avg_ms: c.rtt_avg.map(round_ms),
                        rtt_max_ms: c.rtt_max.map(round_ms),
                        rtt_std_ms: c.rtt_std.map(round_ms),
                        loss_pct: c.loss_pct.map(round_ms),
                        time_min_ms: c.time_min.map(round_ms),
                        time_avg_ms: c.time_avg.map(round_ms),
                        time_max_ms: c.time_max.map(round_ms),
                        outages: c.outages.iter().map(|o| JsonOutage::of(o, None)).collect(),
                    }
                })
                .collect(),
        );
    }
    let mut s = serde_json::to_string_pretty(&r).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_columns_share_the_room_left() {
        let cols = [
            col("Check", false, false),
            col("Address", false, true),
            col("Name", false, true),
            col("N", true, false),
        ];
        let rows = vec![vec![
            "Target ping".to_string(),
            "secure.sniatechcenter.org".to_string(),
            "Pure Storage FlashArray//X20R3 Purity 5.3.14".to_string(),
            "2".to_string(),
        ]];
        let of = |rows: &Vec<Vec<String>>, limit| {
            let row = |i: usize| rows[i].clone();
            widths(&cols, rows.len(), &row, limit)
        };
        let natural = of(&rows, None);
        assert_eq!(natural, [11, 25, 44, 1]);
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * (w.len() - 1);
        assert_eq!(of(&rows, Some(200)), natural);
        let w = of(&rows, Some(60));
        assert_eq!(total(&w), 60, "{w:?}");
        assert_eq!(w[1], ADDRESS_KEEP.max((60 - 11 - 1 - 6) / 2));
        // A short address gives its room to the name.
        let rows2 = vec![vec![
            "Target ping".into(),
            "10.1.1.1".into(),
            "x".repeat(80),
            "2".into(),
        ]];
        let w = of(&rows2, Some(60));
        assert_eq!(w[1], 8);
        assert_eq!(total(&w), 60, "{w:?}");
    }
}
