//! The SVG timeline: one row per check, one mark per cycle coloured Good/Warn/Fail, outages
//! bracketed and labelled with their duration, a time axis with dates. Large histories are drawn
//! per pixel column (the worst verdict of the cycles in it wins) so the file stays small.

use super::human_duration;
use super::read::Row;
use super::stats::{Cycles, Summary};
use crate::datalog::read::from_naive;
use crate::datalog::read::ReadError;
use crate::record::CheckId;
use crate::record::Verdict;
use std::fmt::Write as _;

const LABEL_W: f64 = 380.0;
const PLOT_W: f64 = 830.0;
const RIGHT: f64 = 30.0;
/// The plot's top: below the title, the legend and the top time axis.
const TOP: f64 = 96.0;
/// A row's height without RTT, and with the RTT band below its marks.
const ROW_H: f64 = 28.0;
const ROW_H_RTT: f64 = 48.0;
const AXIS_H: f64 = 56.0;
/// Where a row's marks begin below its top, and their height.
const MARK_Y: f64 = 14.0;
const MARK_H: f64 = 11.0;
/// Where a row's RTT band begins below its top, and its height.
const BAND_Y: f64 = 29.0;
const BAND_H: f64 = 15.0;
/// The RTT band's resolution: one bucket per this many pixels.
const BUCKET_PX: f64 = 3.0;
/// A row with more outages brackets only those of 2 cycles or more.
const MAX_BRACKETS: usize = 30;
/// Duration labels per row at most.
const MAX_LABELS: usize = 8;
/// Above this many rows, marks are merged per pixel column.
const MAX_SINGLE_MARKS: usize = 20_000;

pub const BAND: &str = "#9ecae1";
pub const BAND_LINE: &str = "#08519c";
pub const GOOD: &str = "#2e9d44";
pub const WARN: &str = "#f0a500";
pub const FAIL: &str = "#d62728";

fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Good => GOOD,
        Verdict::Warn => WARN,
        Verdict::Fail => FAIL,
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c if (c as u32) < 0x20 => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Tick step (seconds) giving at most ~8 ticks over `span`.
fn tick_step(span: i64) -> i64 {
    const STEPS: [i64; 22] = [
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        2 * 3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        2 * 86_400,
        7 * 86_400,
        14 * 86_400,
        30 * 86_400,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 8)
        .unwrap_or(365 * 86_400)
}

/// The title's span: `2022-09-07 18:20:33 to 18:21:46 (1m 13s)` within a day, with both dates
/// otherwise; seconds only for a span under an hour.
fn span_text(a: i64, b: i64) -> String {
    let (fa, fb) = (from_naive(a), from_naive(b));
    let time = if b - a < 3600 { "%H:%M:%S" } else { "%H:%M" };
    let end = if fa.date() == fb.date() {
        fb.format(time).to_string()
    } else {
        fb.format(&format!("%Y-%m-%d {time}")).to_string()
    };
    format!(
        "{} to {end} ({})",
        fa.format(&format!("%Y-%m-%d {time}")),
        human_duration(b - a)
    )
}

/// `RTT 0.4/0.6/0.8 ms` (min/avg/max) of a row, or nothing when it has none.
fn rtt_text(r: &Row) -> String {
    let v = |x: f32| {
        if x.is_nan() {
            "-".to_string()
        } else {
            crate::millis::opt_ms_text(Some(x as f64))
        }
    };
    if r.rtt_min.is_nan() && r.rtt_avg.is_nan() && r.rtt_max.is_nan() {
        String::new()
    } else {
        format!(
            " — RTT {}/{}/{} ms",
            v(r.rtt_min),
            v(r.rtt_avg),
            v(r.rtt_max)
        )
    }
}

/// The RTTs of one row of the timeline per bucket of [`BUCKET_PX`] pixels: the lowest minimum,
/// the highest maximum, and the sum and count of the averages.
#[derive(Clone, Copy)]
struct Bucket {
    lo: f32,
    hi: f32,
    sum: f32,
    n: u32,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            lo: f32::INFINITY,
            hi: f32::NEG_INFINITY,
            sum: 0.0,
            n: 0,
        }
    }
}

impl Bucket {
    fn add(&mut self, r: &Row) {
        let avg = if r.rtt_avg.is_nan() {
            if r.rtt_min.is_nan() {
                r.rtt_max
            } else {
                r.rtt_min
            }
        } else {
            r.rtt_avg
        };
        if avg.is_nan() {
            return;
        }
        let lo = if r.rtt_min.is_nan() { avg } else { r.rtt_min };
        let hi = if r.rtt_max.is_nan() { avg } else { r.rtt_max };
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
        self.sum += avg;
        self.n += 1;
    }
}

/// The y axis top of an RTT band: `max` rounded up to 1, 2 or 5 times a power of ten.
fn nice_max(max: f32) -> f32 {
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let p = 10f32.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&v| v >= max)
        .unwrap_or(10.0 * p)
}

/// The history read again, each row handed to the function given, in the same order as when it
/// was summarized.
pub type Replay<'a> = dyn FnMut(&mut dyn FnMut(&Row)) -> Result<(), ReadError> + 'a;

/// The SVG document for a summarized history: `checks` are the checks the rows point into,
/// `reasons` the reasons they point into, and `replay` reads the rows again (the marks are drawn
/// from a second reading, so no row is kept; only up to [`MAX_SINGLE_MARKS`] rows' marks are
/// held as text, and the RTT per row and bucket).
pub fn render(
    checks: &[CheckId],
    reasons: &[String],
    s: &Summary,
    replay: &mut Replay<'_>,
) -> Result<String, ReadError> {
    let n = s.checks.len();
    let has_rtt = s
        .checks
        .iter()
        .any(|c| c.rtt_avg.is_some() || c.rtt_max.is_some() || c.rtt_min.is_some());
    let row_h = if has_rtt { ROW_H_RTT } else { ROW_H };
    let width = LABEL_W + PLOT_W + RIGHT;
    let height = TOP + n as f64 * row_h + AXIS_H;
    let (first, last) = (s.first.unwrap_or(0), s.last.unwrap_or(0));
    // The history's own span, a little wider (a run of a minute fills the plot too).
    let span = last - first;
    let pad = if span == 0 {
        30.0
    } else {
        (span as f64 * 0.02).max(1.0)
    };
    let (t0, t1) = (first as f64 - pad, last as f64 + pad);
    let x_of = |t: i64| LABEL_W + (t as f64 - t0) / (t1 - t0) * PLOT_W;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>"#
    );
    let title = match (s.first, s.last) {
        (Some(a), Some(b)) => format!(
            "vpnmon timeline — {} — {} cycles, {} checks",
            span_text(a, b),
            s.cycles,
            n
        ),
        _ => "vpnmon timeline — no rows".to_string(),
    };
    let _ = writeln!(
        o,
        r#"<text x="10" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    // Legend
    let mut lx = 10.0;
    for (label, c) in [
        ("Good", GOOD),
        ("Warn (some echoes lost)", WARN),
        ("Fail", FAIL),
    ] {
        let _ = writeln!(
            o,
            r#"<rect x="{lx}" y="36" width="12" height="12" fill="{c}"/><text x="{}" y="46" font-size="12">{}</text>"#,
            lx + 16.0,
            esc(label)
        );
        lx += 30.0 + label.len() as f64 * 7.0;
    }
    let _ = writeln!(
        o,
        r#"<text x="{lx}" y="46" font-size="12" fill="{FAIL}">⊓ outage (consecutive Fail cycles), labelled with its duration</text>"#
    );
    if has_rtt {
        let _ = writeln!(
            o,
            r#"<rect x="{}" y="36" width="12" height="12" fill="{BAND}"/><line x1="{}" y1="42" x2="{}" y2="42" stroke="{BAND_LINE}" stroke-width="1.5"/><text x="{}" y="46" font-size="12">RTT: band min–max, line average</text>"#,
            lx + 440.0,
            lx + 440.0,
            lx + 452.0,
            lx + 456.0
        );
    }
    // Grid and the time axis, at the top and at the bottom.
    let axis_y = TOP + n as f64 * row_h;
    let step = tick_step((t1 - t0) as i64);
    let mut tick = ((t0 as i64).div_euclid(step) + 1) * step;
    let _ = writeln!(
        o,
        r##"<g class="axis"><line x1="{LABEL_W}" y1="{TOP}" x2="{}" y2="{TOP}" stroke="#444"/><line x1="{LABEL_W}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#444"/>"##,
        LABEL_W + PLOT_W,
        LABEL_W + PLOT_W
    );
    let time_format = if step < 60 { "%H:%M:%S" } else { "%H:%M" };
    let mut last_date = String::new();
    while (tick as f64) <= t1 {
        let x = x_of(tick);
        let d = from_naive(tick);
        let date = d.format("%Y-%m-%d").to_string();
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{axis_y}" stroke="#ddd"/><line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{}" stroke="#444"/><line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{TOP}" stroke="#444"/>"##,
            axis_y + 5.0,
            TOP - 5.0
        );
        if step < 86_400 {
            let _ = writeln!(
                o,
                r#"<text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{t}</text><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{t}</text>"#,
                axis_y + 18.0,
                TOP - 8.0,
                t = d.format(time_format)
            );
        }
        if step >= 86_400 || date != last_date {
            let (below, above) = if step < 86_400 {
                (33.0, 22.0)
            } else {
                (18.0, 8.0)
            };
            let _ = writeln!(
                o,
                r#"<text x="{x:.1}" y="{}" font-size="11" text-anchor="middle" font-weight="bold">{date}</text><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle" font-weight="bold">{date}</text>"#,
                axis_y + below,
                TOP - above
            );
            last_date = date;
        }
        tick += step;
    }
    let _ = writeln!(o, "</g>");
    // Rows
    let row_of: std::collections::HashMap<u32, usize> = s
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.check, i))
        .collect();
    let mark_w = (PLOT_W / s.cycles.max(1) as f64 * 0.7).clamp(1.0, 12.0);
    let single = s.rows <= MAX_SINGLE_MARKS;
    // Per row: marks (single mode) or per-pixel worst verdict.
    let mut marks: Vec<String> = vec![String::new(); n];
    let cols = PLOT_W as usize + 1;
    let mut px: Vec<Vec<u8>> = if single {
        Vec::new()
    } else {
        vec![vec![0u8; cols]; n]
    };
    let buckets = (PLOT_W / BUCKET_PX).ceil() as usize + 1;
    let mut rtt: Vec<Vec<Bucket>> = if has_rtt {
        vec![vec![Bucket::default(); buckets]; n]
    } else {
        Vec::new()
    };
    // A cycle's marks line up at its start time, so a column of marks is one cycle.
    let mut cycles = Cycles::default();
    replay(&mut |r: &Row| {
        let (_, start) = cycles.next(r);
        let Some(&i) = row_of.get(&r.check) else {
            return;
        };
        let x = x_of(start);
        if has_rtt {
            let b = (((x - LABEL_W) / BUCKET_PX).max(0.0) as usize).min(buckets - 1);
            rtt[i][b].add(r);
        }
        if single {
            let y = TOP + i as f64 * row_h + MARK_Y;
            let reason = reasons.get(r.reason as usize).map_or("", String::as_str);
            let _ = write!(
                marks[i],
                r#"<rect class="mark" x="{:.1}" y="{y}" width="{mark_w:.1}" height="{MARK_H}" fill="{}"><title>{} {}{}{}</title></rect>"#,
                x - mark_w / 2.0,
                colour(r.verdict),
                from_naive(r.t).format("%Y-%m-%d %H:%M:%S"),
                r.verdict.as_str(),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", esc(reason))
                },
                rtt_text(r)
            );
        } else {
            let v = r.verdict as u8 + 1;
            let a = ((x - mark_w / 2.0 - LABEL_W).floor().max(0.0)) as usize;
            let b = ((x + mark_w / 2.0 - LABEL_W).ceil() as usize).min(cols - 1);
            for p in &mut px[i][a..=b.max(a)] {
                *p = (*p).max(v);
            }
        }
    })?;
    // The RTT band joins buckets up to 2.5 cycles apart (the average cycle's width).
    let join = (2.5 * PLOT_W / s.cycles.max(1) as f64).max(2.0 * BUCKET_PX);
    let t_of_px = |p: usize| (t0 + p as f64 / PLOT_W * (t1 - t0)) as i64;
    for (i, c) in s.checks.iter().enumerate() {
        let k = &checks[c.check as usize];
        let y = TOP + i as f64 * row_h;
        let fill = if i % 2 == 0 { "#f4f4f4" } else { "#ffffff" };
        let (head, tail) = match k.test {
            crate::record::Test::TargetPing => (k.address.clone(), k.name.clone()),
            t => (t.as_str().to_string(), k.address.clone()),
        };
        let tail = truncate(&tail, 43usize.saturating_sub(head.chars().count()).max(4));
        let _ = writeln!(
            o,
            r#"<g class="check" data-test="{}" data-address="{}" data-name="{}"><title>{} {} {}</title>"#,
            esc(k.test.as_str()),
            esc(&k.address),
            esc(&k.name),
            esc(k.test.as_str()),
            esc(&k.address),
            esc(&k.name)
        );
        let _ = writeln!(
            o,
            r##"<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="{fill}"/><text x="8" y="{ty}" font-size="12"><tspan font-weight="bold">{}</tspan><tspan dx="6" fill="#333">{}</tspan></text><text x="{}" y="{ty}" font-size="11" text-anchor="end" fill="#555">{:.1}%</text>"##,
            esc(&head),
            esc(&tail),
            LABEL_W - 8.0,
            c.availability(),
            ty = y + MARK_Y + 9.5,
        );
        if single {
            o.push_str(&marks[i]);
            o.push('\n');
        } else {
            let row = &px[i];
            let mut p = 0;
            while p < row.len() {
                let v = row[p];
                let start = p;
                while p < row.len() && row[p] == v {
                    p += 1;
                }
                if v > 0 {
                    let verdict = [Verdict::Good, Verdict::Warn, Verdict::Fail][(v - 1) as usize];
                    let _ = write!(
                        o,
                        r#"<rect x="{}" y="{}" width="{}" height="{MARK_H}" fill="{}"><title>{} to {}: {}{}</title></rect>"#,
                        LABEL_W + start as f64,
                        y + MARK_Y,
                        p - start,
                        colour(verdict),
                        from_naive(t_of_px(start)).format("%Y-%m-%d %H:%M"),
                        from_naive(t_of_px(p)).format("%Y-%m-%d %H:%M"),
                        verdict.as_str(),
                        if verdict == Verdict::Good {
                            ""
                        } else {
                            " at worst"
                        }
                    );
                }
            }
            o.push('\n');
        }
        if has_rtt {
            band(
                &mut o,
                &rtt[i],
                y,
                c.rtt_max.is_some() || c.rtt_avg.is_some(),
                join,
                mark_w,
            );
        }
        // Outages: a bracket over the failed span and its duration. A row with many outages
        // brackets only those of 2 cycles or more (the red marks show the rest), and labels go
        // to the longest first where they fit without overlapping, at most MAX_LABELS a row.
        let dense = c.outages.len() > MAX_BRACKETS;
        let mut shown: Vec<(f64, f64, &super::stats::Outage)> = Vec::new();
        for out in &c.outages {
            if dense && out.cycles < 2 {
                continue;
            }
            // From the first failed cycle's mark to the recovering cycle's (or the last Fail's).
            let (xa, xb) = (
                x_of(out.first_cycle_start) - mark_w / 2.0,
                x_of(out.end_cycle_start) + mark_w / 2.0,
            );
            let _ = write!(
                o,
                r#"<path class="outage" d="M{xa:.1},{} V{} H{xb:.1} V{}" fill="none" stroke="{FAIL}" stroke-width="1.2"/>"#,
                y + MARK_Y - 1.0,
                y + MARK_Y - 3.5,
                y + MARK_Y - 1.0
            );
            shown.push((xa, xb, out));
        }
        shown.sort_by_key(|(_, _, out)| std::cmp::Reverse(out.duration()));
        let mut taken: Vec<(f64, f64)> = Vec::new();
        for (xa, xb, out) in shown {
            if taken.len() >= MAX_LABELS {
                break;
            }
            let text = if out.ongoing {
                format!("{}+", human_duration(out.duration()))
            } else {
                human_duration(out.duration())
            };
            let tw = text.chars().count() as f64 * 5.6;
            let tx =
                ((xa + xb) / 2.0).clamp(LABEL_W + tw / 2.0, LABEL_W + PLOT_W + RIGHT - tw / 2.0);
            let (a, b) = (tx - tw / 2.0 - 3.0, tx + tw / 2.0 + 3.0);
            if taken.iter().any(|&(ta, tb)| a < tb && ta < b) {
                continue;
            }
            taken.push((a, b));
            let _ = write!(
                o,
                r#"<text x="{tx:.1}" y="{}" font-size="9" text-anchor="middle" fill="{FAIL}">{}</text>"#,
                y + MARK_Y - 5.0,
                esc(&text)
            );
        }
        let _ = writeln!(o, "</g>");
    }
    let _ = writeln!(o, "</svg>");
    Ok(o)
}

/// A row's RTT band (smokeping-style): an area from the lowest minimum to the highest maximum
/// per bucket and a line through the averages, joined across buckets no further apart than
/// `join` pixels (a few cycles: a gap of Fail cycles, which have no RTT, breaks it), scaled to
/// the row's own maximum, which the label column names. A lone bucket is drawn `lone` wide.
fn band(o: &mut String, b: &[Bucket], y: f64, any: bool, join: f64, lone: f64) {
    let top = y + BAND_Y;
    let bottom = top + BAND_H;
    if !any || b.iter().all(|k| k.n == 0) {
        let _ = writeln!(
            o,
            r##"<text x="8" y="{}" font-size="9" fill="#777">RTT: none</text>"##,
            bottom - 3.0
        );
        return;
    }
    let max = nice_max(b.iter().filter(|k| k.n > 0).fold(0f32, |m, k| m.max(k.hi)));
    let y_of = |v: f32| bottom - (v / max).clamp(0.0, 1.0) as f64 * BAND_H;
    let _ = writeln!(
        o,
        r##"<text x="8" y="{}" font-size="9" fill="#555">RTT 0–{} ms</text><line x1="{LABEL_W}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#ccc"/>"##,
        bottom - 3.0,
        crate::millis::opt_ms_text(Some(max as f64)),
        LABEL_W + PLOT_W
    );
    // (x, y of max, y of min, y of average) per filled bucket, cut into joined segments.
    let pts: Vec<(f64, f64, f64, f64)> = b
        .iter()
        .enumerate()
        .filter(|(_, k)| k.n > 0)
        .map(|(j, k)| {
            let (hi, lo) = (y_of(k.hi), y_of(k.lo));
            (
                LABEL_W + (j as f64 + 0.5) * BUCKET_PX,
                hi,
                lo.max(hi + 0.8),
                y_of(k.sum / k.n as f32),
            )
        })
        .collect();
    let mut area = String::new();
    let mut line = String::new();
    let mut start = 0;
    while start < pts.len() {
        let mut end = start + 1;
        while end < pts.len() && pts[end].0 - pts[end - 1].0 <= join {
            end += 1;
        }
        let seg = &pts[start..end];
        if seg.len() == 1 {
            let (x, hi, lo, avg) = seg[0];
            let (xa, xb) = (x - lone / 2.0, x + lone / 2.0);
            let _ = write!(area, "M{xa:.1},{hi:.1}H{xb:.1}V{lo:.1}H{xa:.1}Z");
            let _ = write!(line, "M{xa:.1},{avg:.1}H{xb:.1}");
        } else {
            for (i, &(x, hi, _, avg)) in seg.iter().enumerate() {
                let c = if i == 0 { 'M' } else { 'L' };
                let _ = write!(area, "{c}{x:.1},{hi:.1}");
                let _ = write!(line, "{c}{x:.1},{avg:.1}");
            }
            for &(x, _, lo, _) in seg.iter().rev() {
                let _ = write!(area, "L{x:.1},{lo:.1}");
            }
            area.push('Z');
        }
        start = end;
    }
    let _ = writeln!(
        o,
        r#"<path class="rtt-band" d="{area}" fill="{BAND}"/><path class="rtt-avg" d="{line}" fill="none" stroke="{BAND_LINE}" stroke-width="1"/>"#
    );
}
