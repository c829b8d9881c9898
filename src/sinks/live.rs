//! The live line under the console's lines on a terminal (`--progress`): a spinner with the
//! elapsed time while the VPN opens and while the sweep waits on slow hosts, and a countdown to
//! the next cycle under the original's waiting line. Drawn by `indicatif`, which draws nothing
//! when stdout is not a terminal; the console's own lines are written with the live line
//! lifted (`suspend`), so they are never torn.

use crate::record::{Record, Test, Verdict};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::time::Duration;

/// How often the live line is redrawn.
const TICK: Duration = Duration::from_millis(100);

pub struct Live {
    bar: Option<ProgressBar>,
    /// Some site drives a VPN client: after a good gateway ping the VPN opens.
    has_vpn: bool,
    done: usize,
}

/// `3.1 s` under a minute, `2m 05s` after.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// `14:32`, or `1:02:03` from an hour on.
pub fn countdown_text(left: Duration) -> String {
    let s = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

impl Live {
    pub fn new(has_vpn: bool) -> Live {
        Live {
            bar: None,
            has_vpn,
            done: 0,
        }
    }

    /// A bar drawn on stdout from its first frame (never on indicatif's default, stderr).
    /// Unbuffered, as the console's lines are: a clear must reach the terminal before the line
    /// that follows it.
    fn new_bar(len: Option<u64>) -> ProgressBar {
        ProgressBar::with_draw_target(len, ProgressDrawTarget::term(console::Term::stdout(), 20))
    }

    fn start(&mut self, bar: ProgressBar) {
        self.clear();
        bar.enable_steady_tick(TICK);
        self.bar = Some(bar);
    }

    /// A spinner: `⠋ opening the VPN, 3.1 s`.
    fn spin(&mut self, msg: String) {
        match &self.bar {
            Some(b) if b.length().is_none() => {
                b.set_message(msg);
                b.reset_elapsed();
            }
            _ => {
                let bar = Self::new_bar(None);
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}, {secs}")
                        .expect("a valid template")
                        .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = w.write_str(&seconds(s.elapsed()));
                        }),
                );
                bar.set_message(msg);
                self.start(bar);
            }
        }
    }

    /// A cycle began: its gateway is pinged first.
    pub fn cycle_started(&mut self) {
        self.done = 0;
        self.spin("pinging".to_string());
    }

    /// A test finished: the spinner says what is under way now.
    pub fn after(&mut self, r: &Record) {
        match (r.test, r.result) {
            (Test::VpnPing, Verdict::Good) if self.has_vpn => {
                self.spin("opening the VPN".to_string())
            }
            (Test::VpnPing, _) | (Test::VpnOpen, Verdict::Good) => {
                self.spin("pinging the targets".to_string())
            }
            (Test::VpnOpen, _) => self.spin("closing the VPN".to_string()),
            (Test::TargetPing, _) => {
                self.done += 1;
                if let Some(b) = &self.bar {
                    // The sweep's time keeps running: only the count changes.
                    b.set_message(format!("{} answered or timed out", self.done));
                }
            }
            (Test::TcpPort, _) => self.spin("checking TCP ports".to_string()),
            (Test::VpnClose, _) => self.clear(),
        }
    }

    /// The countdown under the waiting line: `next cycle in 14:32`, in place.
    pub fn countdown(&mut self, delay: Duration) {
        if delay.is_zero() {
            self.clear();
            return;
        }
        let bar = Self::new_bar(Some(delay.as_millis() as u64));
        bar.set_style(
            ProgressStyle::with_template("next cycle in {left}")
                .expect("a valid template")
                .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let total = Duration::from_millis(s.len().unwrap_or(0));
                    let _ = write!(w, "{}", countdown_text(total.saturating_sub(s.elapsed())));
                }),
        );
        self.start(bar);
    }

    /// Takes the live line away (before the cycle's closing lines, at the end of the run).
    pub fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// Runs `f` (which writes lines) with the live line lifted, then draws it again below them.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_person_says_them() {
        assert_eq!(seconds(Duration::from_millis(3140)), "3.1 s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m 05s");
        assert_eq!(countdown_text(Duration::from_secs(14 * 60 + 32)), "14:32");
        // A part of a second left still shows as a second, and 0 only at the end.
        assert_eq!(countdown_text(Duration::from_millis(500)), "00:01");
        assert_eq!(countdown_text(Duration::ZERO), "00:00");
        assert_eq!(countdown_text(Duration::from_secs(3723)), "1:02:03");
    }
}
