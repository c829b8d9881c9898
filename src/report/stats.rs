//! Per-check statistics of a sorted history: cycles seen, availability, Warn count, outages, RTT.
//!
//! A cycle is identified by the (cycle number, time) sequence, not by its number alone: vpnmon
//! restarts at cycle 1 when it is restarted, so a new cycle begins whenever the cycle number
//! changes from one row to the next, or a check shows up a second time within the same number.

use super::read::{History, Row};
use crate::record::Verdict;

/// A run of consecutive Fail cycles of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Time of the first Fail (naive seconds).
    pub start: i64,
    /// Time of the first non-Fail row after it, or of the last Fail when still failing.
    pub end: i64,
    /// How many cycles failed.
    pub cycles: u64,
    /// Still failing at the end of the history.
    pub ongoing: bool,
    /// The cycles (indices in time order) of the first Fail and of the row that ended it.
    pub first_cycle: u32,
    pub end_cycle: u32,
}

impl Outage {
    pub fn duration(&self) -> i64 {
        self.end - self.start
    }
}

#[derive(Debug, Clone, Default)]
pub struct CheckStats {
    pub check: u32,
    pub cycles: u64,
    pub good: u64,
    pub warn: u64,
    pub fail: u64,
    pub outages: Vec<Outage>,
    pub rtt_min: Option<f64>,
    pub rtt_avg: Option<f64>,
    pub rtt_max: Option<f64>,
    rtt_sum: f64,
    rtt_n: u64,
    open: Option<Outage>,
}

impl CheckStats {
    /// Share of cycles in which the check answered (Good or Warn), in percent.
    pub fn availability(&self) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            (self.good + self.warn) as f64 * 100.0 / self.cycles as f64
        }
    }

    fn add(&mut self, r: &Row, cycle: u32) {
        self.cycles += 1;
        match r.verdict {
            Verdict::Good => self.good += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Fail => self.fail += 1,
        }
        if r.verdict == Verdict::Fail {
            match &mut self.open {
                Some(o) => {
                    o.cycles += 1;
                    o.end = r.t;
                    o.end_cycle = cycle;
                }
                None => {
                    self.open = Some(Outage {
                        start: r.t,
                        end: r.t,
                        cycles: 1,
                        ongoing: true,
                        first_cycle: cycle,
                        end_cycle: cycle,
                    })
                }
            }
        } else if let Some(mut o) = self.open.take() {
            o.end = r.t;
            o.end_cycle = cycle;
            o.ongoing = false;
            self.outages.push(o);
        }
        if !r.rtt_min.is_nan() {
            let v = r.rtt_min as f64;
            self.rtt_min = Some(self.rtt_min.map_or(v, |m| m.min(v)));
        }
        if !r.rtt_max.is_nan() {
            let v = r.rtt_max as f64;
            self.rtt_max = Some(self.rtt_max.map_or(v, |m| m.max(v)));
        }
        if !r.rtt_avg.is_nan() {
            self.rtt_sum += r.rtt_avg as f64;
            self.rtt_n += 1;
        }
    }

    fn close(&mut self) {
        if let Some(o) = self.open.take() {
            self.outages.push(o);
        }
        if self.rtt_n > 0 {
            self.rtt_avg = Some(self.rtt_sum / self.rtt_n as f64);
        }
    }
}

/// The whole report's numbers.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Rows considered (after --since/--until).
    pub rows: usize,
    /// Distinct cycles (see the module note).
    pub cycles: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// Per check, in display order: gateway ping, VPN open, VPN close, then targets as first seen.
    pub checks: Vec<CheckStats>,
    /// The cycle (0-based, in time order) of every row of `History::rows`, for the timeline.
    pub row_cycle: Vec<u32>,
    /// The time of each cycle's first row.
    pub cycle_start: Vec<i64>,
}

/// Keeps only rows with `since <= t <= until`.
pub fn filter(h: &mut History, since: Option<i64>, until: Option<i64>) {
    if since.is_none() && until.is_none() {
        return;
    }
    let lo = since.unwrap_or(i64::MIN);
    let hi = until.unwrap_or(i64::MAX);
    h.rows.retain(|r| r.t >= lo && r.t <= hi);
}

/// Statistics of a history whose rows are sorted (see `History::sort`).
pub fn summarize(h: &History) -> Summary {
    let n = h.checks.len();
    let mut per: Vec<CheckStats> = (0..n)
        .map(|i| CheckStats {
            check: i as u32,
            ..Default::default()
        })
        .collect();
    // The cycle each check was last seen in, to notice a restart that reused a number.
    let mut seen_in: Vec<u32> = vec![u32::MAX; n];
    let mut cycle: u32 = 0;
    let mut prev_number: Option<u64> = None;
    let mut row_cycle = Vec::with_capacity(h.rows.len());
    let mut cycle_start = Vec::new();
    for r in &h.rows {
        let c = r.check as usize;
        let new = match prev_number {
            None => false,
            Some(p) => p != r.cycle || seen_in[c] == cycle,
        };
        if new {
            cycle += 1;
        }
        prev_number = Some(r.cycle);
        seen_in[c] = cycle;
        row_cycle.push(cycle);
        per[c].add(r, cycle);
        if new || cycle_start.is_empty() {
            cycle_start.push(r.t);
        }
    }
    for s in per.iter_mut() {
        s.close();
    }
    per.retain(|s| s.cycles > 0);
    per.sort_by_key(|s| {
        let test = h.checks[s.check as usize].test;
        let rank = match test {
            crate::record::Test::VpnPing => 0,
            crate::record::Test::VpnOpen => 1,
            crate::record::Test::VpnClose => 2,
            crate::record::Test::TargetPing => 3,
        };
        (rank, s.check)
    });
    Summary {
        rows: h.rows.len(),
        cycles: if h.rows.is_empty() {
            0
        } else {
            cycle as u64 + 1
        },
        first: h.rows.first().map(|r| r.t),
        last: h.rows.last().map(|r| r.t),
        checks: per,
        row_cycle,
        cycle_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn hist(text: &str) -> History {
        let mut h = History::new();
        h.read_str(Path::new("t"), text).unwrap();
        h.sort();
        h
    }

    #[test]
    fn a_restart_that_reuses_cycle_numbers_counts_as_new_cycles() {
        let h = hist(
            "1,2024/01/01,10:00:00,VPN ping,Good,g,G\n\
             2,2024/01/01,10:30:00,VPN ping,Good,g,G\n\
             1,2024/01/01,11:00:00,VPN ping,Good,g,G\n\
             1,2024/01/01,11:30:00,VPN ping,Good,g,G\n",
        );
        let s = summarize(&h);
        assert_eq!(s.cycles, 4);
        assert_eq!(s.checks[0].cycles, 4);
    }

    #[test]
    fn outages_are_runs_of_fail_ended_by_the_recovery() {
        let h = hist(
            "1,2024/01/01,10:00:00,VPN ping,Good,g,G\n\
             2,2024/01/01,10:30:00,VPN ping,Fail,g,G\n\
             3,2024/01/01,11:00:00,VPN ping,Fail,g,G\n\
             4,2024/01/01,11:30:00,VPN ping,Warn,g,G\n\
             5,2024/01/01,12:00:00,VPN ping,Fail,g,G\n",
        );
        let s = summarize(&h);
        let c = &s.checks[0];
        assert_eq!((c.good, c.warn, c.fail), (1, 1, 3));
        assert_eq!(c.availability(), 40.0);
        assert_eq!(c.outages.len(), 2);
        assert_eq!(c.outages[0].duration(), 3600);
        assert_eq!(c.outages[0].cycles, 2);
        assert!(!c.outages[0].ongoing);
        assert!(c.outages[1].ongoing);
        assert_eq!(c.outages[1].duration(), 0);
    }
}
