//! The drawing of the full-screen view (ratatui): a status line (cycle, phase, countdown, keys),
//! a row per check (last verdict in colour, availability, RTT and its sparkline, last failure)
//! and the latest notices at the bottom. Each frame is drawn whole from the model, so a resize
//! simply draws the next frame at the new size.

use super::model::{Model, Phase, Row};
use crate::record::Verdict;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;
use std::time::Instant;

/// The columns after the check's name: address, last verdict, availability, RTT, RTT history,
/// last failure.
const ADDRESS: u16 = 16;
const LAST: u16 = 5;
const AVAIL: u16 = 7;
const RTT: u16 = 10;
/// The widest the sparkline gets.
const SPARK: u16 = 40;

fn verdict_style(v: Verdict) -> Style {
    let c = match v {
        Verdict::Good => Color::Green,
        Verdict::Warn => Color::Yellow,
        Verdict::Fail => Color::Red,
    };
    Style::default().fg(c).add_modifier(Modifier::BOLD)
}

/// `3.1 s` under a minute, `2m 05s` after.
fn elapsed(since: Instant, now: Instant) -> String {
    let d = now.saturating_duration_since(since);
    if d.as_secs() < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{}m {:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// What the running cycle is doing, in words.
pub fn phase_text(m: &Model, now: Instant) -> String {
    let t = elapsed(m.since, now);
    match m.phase {
        Phase::Starting => "starting".to_string(),
        Phase::GatewayPing => format!("gateway ping, {t}"),
        Phase::Opening => format!("opening the VPN, {t}"),
        Phase::Sweep { answered, of } => format!("sweep {answered}/{of} answered, {t}"),
        Phase::Closing => format!("closing the VPN, {t}"),
        Phase::Ending => "ending the cycle".to_string(),
        Phase::Waiting { until } => {
            let left = until.saturating_duration_since(now);
            let mut s = format!(
                "waiting: next cycle in {}",
                crate::sinks::live::countdown_text(left)
            );
            if m.pause_asked {
                s.push_str(" (pausing)");
            }
            s
        }
        Phase::Paused => "paused: no cycle starts until p or r".to_string(),
        Phase::Stopping => format!("stopping: ending the cycle, closing the VPN, {t}"),
        Phase::Done => "done".to_string(),
    }
}

fn status_line(m: &Model, now: Instant) -> Line<'static> {
    let cycle = match (m.cycle, m.of) {
        (0, _) => "vpnmon".to_string(),
        (n, Some(of)) => format!("vpnmon  cycle {n} of {of}"),
        (n, None) => format!("vpnmon  cycle {n}"),
    };
    let mut phase = phase_text(m, now);
    if m.pause_asked && !matches!(m.phase, Phase::Paused | Phase::Waiting { .. }) {
        phase.push_str(" (pause after this cycle)");
    }
    Line::from(vec![
        Span::styled(cycle, Style::default().add_modifier(Modifier::BOLD)),
        Span::raw("  │  "),
        Span::raw(phase),
    ])
}

fn keys_line(m: &Model) -> Line<'static> {
    let key = Style::default().add_modifier(Modifier::REVERSED);
    let p = if m.pause_asked {
        " resume  "
    } else {
        " pause  "
    };
    Line::from(vec![
        Span::styled(" p ", key),
        Span::raw(p),
        Span::styled(" r ", key),
        Span::raw(" run a cycle now  "),
        Span::styled(" q ", key),
        Span::raw(" quit (closes the VPN)"),
    ])
}

/// The columns of a row, left to right: the fixed ones at their width, the name, the sparkline
/// and the last failure sharing what is left (so a narrower window narrows those three).
fn columns(area: Rect) -> [Rect; 7] {
    let fixed = ADDRESS + LAST + AVAIL + RTT + 6;
    let rest = area.width.saturating_sub(fixed);
    let name = (rest * 3 / 10).clamp(14.min(rest), 32);
    let spark = (rest / 4).min(SPARK);
    Layout::horizontal([
        Constraint::Length(name),
        Constraint::Length(ADDRESS),
        Constraint::Length(LAST),
        Constraint::Length(AVAIL),
        Constraint::Length(RTT),
        Constraint::Length(spark),
        Constraint::Fill(1),
    ])
    .spacing(1)
    .areas(area)
}

fn rtt_text(row: &Row) -> String {
    match row.last_rtt {
        Some(d) if d.as_secs_f64() < 0.1 => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
        Some(d) => format!("{:.0} ms", d.as_secs_f64() * 1000.0),
        None => String::new(),
    }
}

fn failure_text(row: &Row) -> Line<'static> {
    match &row.last_failure {
        None => Line::from(""),
        Some((at, v, why)) => Line::from(vec![
            // The clock time today, the date too before.
            Span::raw(if at.date_naive() == chrono::Local::now().date_naive() {
                at.format("%H:%M:%S ").to_string()
            } else {
                at.format("%m/%d %H:%M ").to_string()
            }),
            Span::styled(v.to_string(), verdict_style(*v)),
            Span::raw(format!(" {why}")),
        ]),
    }
}

fn draw_row(f: &mut Frame, area: Rect, row: &Row) {
    let [name, addr, last, avail, rtt, spark, fail] = columns(area);
    let label = match row.test {
        crate::record::Test::TargetPing => format!("  {}", row.label()),
        _ => row.label(),
    };
    f.render_widget(Paragraph::new(crate::text::escape(&label)), name);
    f.render_widget(Paragraph::new(crate::text::escape(&row.address)), addr);
    if let Some(v) = row.last {
        f.render_widget(
            Paragraph::new(Span::styled(v.to_string(), verdict_style(v))),
            last,
        );
    } else {
        f.render_widget(Paragraph::new("…"), last);
    }
    if let Some(a) = row.availability() {
        f.render_widget(
            Paragraph::new(format!("{a:.1}%")).alignment(ratatui::layout::Alignment::Right),
            avail,
        );
    }
    f.render_widget(
        Paragraph::new(rtt_text(row)).alignment(ratatui::layout::Alignment::Right),
        rtt,
    );
    // The newest samples that fit, each bar scaled to the row's own highest RTT.
    let fit = usize::from(spark.width);
    let skip = row.rtts.len().saturating_sub(fit);
    let data: Vec<Option<u64>> = row.rtts.iter().skip(skip).copied().collect();
    if !data.is_empty() {
        f.render_widget(
            Sparkline::default()
                .data(data)
                .style(Style::default().fg(Color::Cyan))
                .absent_value_symbol("·")
                .absent_value_style(Style::default().fg(Color::Red)),
            spark,
        );
    }
    f.render_widget(Paragraph::new(failure_text(row)), fail);
}

/// Draws one frame of `m` at `now`.
pub fn draw(f: &mut Frame, m: &Model, now: Instant) {
    let notices = m.notices.len().min(4) as u16;
    let [status, keys, head, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(if notices > 0 { notices + 1 } else { 0 }),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(status_line(m, now)), status);
    f.render_widget(Paragraph::new(keys_line(m)), keys);
    let bold = Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    let [c0, c1, c2, c3, c4, c5, c6] = columns(head);
    for (area, title) in [
        (c0, "Check"),
        (c1, "Address"),
        (c2, "Last"),
        (c3, "Avail"),
        (c4, "RTT"),
        (c5, "RTT history"),
        (c6, "Last failure"),
    ] {
        f.render_widget(Paragraph::new(Span::styled(title, bold)), area);
    }
    let room = usize::from(body.height);
    let cut = m.rows.len() > room;
    let shown = if cut {
        room.saturating_sub(1)
    } else {
        m.rows.len()
    };
    for (i, row) in m.rows.iter().take(shown).enumerate() {
        let area = Rect {
            y: body.y + i as u16,
            height: 1,
            ..body
        };
        draw_row(f, area, row);
    }
    if cut {
        let area = Rect {
            y: body.y + shown as u16,
            height: 1,
            ..body
        };
        let more = m.rows.len() - shown;
        f.render_widget(
            Paragraph::new(format!("… and {more} more (a taller terminal shows them)")),
            area,
        );
    }
    if notices > 0 {
        let lines: Vec<Line> = m
            .notices
            .iter()
            .skip(m.notices.len() - usize::from(notices))
            .map(|n| Line::from(n.clone()))
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title("Notices")),
            bottom,
        );
    }
}
