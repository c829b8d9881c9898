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
const TOP: f64 = 70.0;
const ROW_H: f64 = 28.0;
const AXIS_H: f64 = 56.0;
/// Where a row's marks begin below its top, and their height.
const MARK_Y: f64 = 14.0;
const MARK_H: f64 = 11.0;
/// A row with more outages brackets only those of 2 cycles or more.
const MAX_BRACKETS: usize = 30;
/// Duration labels per row at most.
const MAX_LABELS: usize = 8;
/// Above this many rows, marks are merged per pixel column.
const MAX_SINGLE_MARKS: usize = 20_000;

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
    const STEPS: [i64; 16] = [
        60,
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
        91 * 86_400,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 8)
        .unwrap_or(365 * 86_400)
}

/// The history read again, each row handed to the function given, in the same order as when it
/// was summarized.
pub type Replay<'a> = dyn FnMut(&mut dyn FnMut(&Row)) -> Result<(), ReadError> + 'a;

/// The SVG document for a summarized history: `checks` are the checks the rows point into, and
/// `replay` reads the rows again (the marks are drawn from a second reading, so no row is kept;
/// only up to [`MAX_SINGLE_MARKS`] rows' marks are held as text).
pub fn render(
    checks: &[CheckId],
    s: &Summary,
    replay: &mut Replay<'_>,
) -> Result<String, ReadError> {
    let n = s.checks.len();
    let width = LABEL_W + PLOT_W + RIGHT;
    let height = TOP + n as f64 * ROW_H + AXIS_H;
    let (first, last) = (s.first.unwrap_or(0), s.last.unwrap_or(0));
    let pad = (((last - first) as f64) * 0.02).max(60.0);
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
            "vpnmon timeline — {} to {} — {} cycles, {} checks",
            from_naive(a).format("%Y-%m-%d %H:%M"),
            from_naive(b).format("%Y-%m-%d %H:%M"),
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
    // Grid and time axis
    let axis_y = TOP + n as f64 * ROW_H;
    let step = tick_step((t1 - t0) as i64);
    let mut tick = ((t0 as i64).div_euclid(step) + 1) * step;
    let _ = writeln!(
        o,
        r##"<g class="axis"><line x1="{LABEL_W}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#444"/>"##,
        LABEL_W + PLOT_W
    );
    let mut last_date = String::new();
    while (tick as f64) <= t1 {
        let x = x_of(tick);
        let d = from_naive(tick);
        let date = d.format("%Y-%m-%d").to_string();
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{axis_y}" stroke="#ddd"/><line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{}" stroke="#444"/>"##,
            axis_y + 5.0
        );
        if step < 86_400 {
            let _ = writeln!(
                o,
                r#"<text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"#,
                axis_y + 18.0,
                d.format("%H:%M")
            );
        }
        if step >= 86_400 || date != last_date {
            let _ = writeln!(
                o,
                r#"<text x="{x:.1}" y="{}" font-size="11" text-anchor="middle" font-weight="bold">{date}</text>"#,
                axis_y + if step < 86_400 { 33.0 } else { 18.0 }
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
    let mark_w = (PLOT_W / s.cycles.max(1) as f64 * 0.7).clamp(1.0, 10.0);
    let single = s.rows <= MAX_SINGLE_MARKS;
    // Per row: marks (single mode) or per-pixel worst verdict.
    let mut marks: Vec<String> = vec![String::new(); n];
    let cols = PLOT_W as usize + 1;
    let mut px: Vec<Vec<u8>> = if single {
        Vec::new()
    } else {
        vec![vec![0u8; cols]; n]
    };
    // A cycle's marks line up at its start time, so a column of marks is one cycle.
    let mut cycles = Cycles::default();
    replay(&mut |r: &Row| {
        let (_, start) = cycles.next(r);
        let Some(&i) = row_of.get(&r.check) else {
            return;
        };
        let x = x_of(start);
        if single {
            let y = TOP + i as f64 * ROW_H + MARK_Y;
            let _ = write!(
                marks[i],
                r#"<rect class="mark" x="{:.1}" y="{y}" width="{mark_w:.1}" height="{MARK_H}" fill="{}"><title>{} {}</title></rect>"#,
                x - mark_w / 2.0,
                colour(r.verdict),
                from_naive(r.t).format("%Y-%m-%d %H:%M:%S"),
                r.verdict.as_str()
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
    for (i, c) in s.checks.iter().enumerate() {
        let k = &checks[c.check as usize];
        let y = TOP + i as f64 * ROW_H;
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
            r##"<rect x="0" y="{y}" width="{width}" height="{ROW_H}" fill="{fill}"/><text x="8" y="{ty}" font-size="12"><tspan font-weight="bold">{}</tspan><tspan dx="6" fill="#333">{}</tspan></text><text x="{}" y="{ty}" font-size="11" text-anchor="end" fill="#555">{:.1}%</text>"##,
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
                        r#"<rect x="{}" y="{}" width="{}" height="{MARK_H}" fill="{}"/>"#,
                        LABEL_W + start as f64,
                        y + MARK_Y,
                        p - start,
                        colour(verdict)
                    );
                }
            }
            o.push('\n');
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
