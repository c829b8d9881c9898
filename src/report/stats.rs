//! Per-check statistics of a history read in time order, one row at a time: cycles seen, availability, Warn count, outages, RTT.
//!
//! A cycle is identified by the (cycle number, time) sequence, not by its number alone: vpnmon
//! restarts at cycle 1 when it is restarted, so a new cycle begins whenever the cycle number
//! changes from one row to the next, or a check shows up a second time within the same number.

use super::read::Row;
use crate::record::{CheckId, Verdict};

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
    /// The start times (of their first rows) of the cycle of the first Fail and of the cycle of
    /// the row that ended it, where the timeline draws the outage.
    pub first_cycle_start: i64,
    pub end_cycle_start: i64,
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
    /// The mean of the cycles' RTT standard deviations, and of their losses in percent (where
    /// the rows carry them: extended and jsonl datalogs written since issue 14).
    pub rtt_std: Option<f64>,
    pub loss_pct: Option<f64>,
    rtt_sum: f64,
    rtt_n: u64,
    /// The time a `VPN open` or `VPN close` took where it did not fail, in ms (EpMonitoring's
    /// stage 2 for the open): the lowest, the average and the highest.
    pub time_min: Option<f64>,
    pub time_avg: Option<f64>,
    pub time_max: Option<f64>,
    time_sum: f64,
    time_n: u64,
    std_sum: f64,
    std_n: u64,
    loss_sum: f64,
    loss_n: u64,
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

    fn add(&mut self, r: &Row, cycle_start: i64) {
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
                    o.end_cycle_start = cycle_start;
                }
                None => {
                    self.open = Some(Outage {
                        start: r.t,
                        end: r.t,
                        cycles: 1,
                        ongoing: true,
                        first_cycle_start: cycle_start,
                        end_cycle_start: cycle_start,
                    })
                }
            }
        } else if let Some(mut o) = self.open.take() {
            o.end = r.t;
            o.end_cycle_start = cycle_start;
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
        if !r.time.is_nan() {
            let v = r.time as f64;
            self.time_min = Some(self.time_min.map_or(v, |m| m.min(v)));
            self.time_max = Some(self.time_max.map_or(v, |m| m.max(v)));
            self.time_sum += v;
            self.time_n += 1;
        }
        if !r.rtt_std.is_nan() {
            self.std_sum += r.rtt_std as f64;
            self.std_n += 1;
        }
        if !r.loss_pct.is_nan() {
            self.loss_sum += r.loss_pct as f64;
            self.loss_n += 1;
        }
    }

    fn close(&mut self) {
        if let Some(o) = self.open.take() {
            self.outages.push(o);
        }
        if self.rtt_n > 0 {
            self.rtt_avg = Some(self.rtt_sum / self.rtt_n as f64);
        }
        if self.time_n > 0 {
            self.time_avg = Some(self.time_sum / self.time_n as f64);
        }
        if self.std_n > 0 {
            self.rtt_std = Some(self.std_sum / self.std_n as f64);
        }
        if self.loss_n > 0 {
            self.loss_pct = Some(self.loss_sum / self.loss_n as f64);
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
    /// The earliest and the latest time of a row.
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// Per check, in display order: gateway ping, VPN open, VPN close, then targets as first seen.
    pub checks: Vec<CheckStats>,
}

/// Tells the cycles of a stream of rows apart (see the module note), one row at a time.
#[derive(Debug, Default)]
pub struct Cycles {
    /// The cycle each check was last seen in, to notice a restart that reused a number.
    seen_in: Vec<u32>,
    /// The current cycle: its index (from 0, in stream order), number and first row's time.
    cycle: u32,
    number: Option<u64>,
    start: i64,
}

impl Cycles {
    /// The index of the row's cycle and that cycle's start time (its first row's).
    pub fn next(&mut self, r: &Row) -> (u32, i64) {
        let c = r.check as usize;
        if self.seen_in.len() <= c {
            self.seen_in.resize(c + 1, u32::MAX);
        }
        match self.number {
            None => self.start = r.t,
            Some(p) if p != r.cycle || self.seen_in[c] == self.cycle => {
                self.cycle += 1;
                self.start = r.t;
            }
            Some(_) => {}
        }
        self.number = Some(r.cycle);
        self.seen_in[c] = self.cycle;
        (self.cycle, self.start)
    }

    /// How many cycles so far.
    pub fn count(&self) -> u64 {
        if self.number.is_none() {
            0
        } else {
            self.cycle as u64 + 1
        }
    }
}

/// Adds up the rows of a history in time order (see [`super::read::stream`]), one at a time:
/// memory grows with the checks and outages, not with the rows.
#[derive(Debug, Default)]
pub struct Summarizer {
    per: Vec<CheckStats>,
    cycles: Cycles,
    rows: usize,
    first: Option<i64>,
    last: Option<i64>,
}

impl Summarizer {
    pub fn add(&mut self, r: &Row) {
        let (_, start) = self.cycles.next(r);
        let c = r.check as usize;
        while self.per.len() <= c {
            let check = self.per.len() as u32;
            self.per.push(CheckStats {
                check,
                ..Default::default()
            });
        }
        self.per[c].add(r, start);
        self.rows += 1;
        self.first = Some(self.first.map_or(r.t, |f| f.min(r.t)));
        self.last = Some(self.last.map_or(r.t, |l| l.max(r.t)));
    }

    /// The summary; `checks` are the checks the rows' indices point into.
    pub fn finish(self, checks: &[CheckId]) -> Summary {
        let mut per = self.per;
        for s in per.iter_mut() {
            s.close();
        }
        per.retain(|s| s.cycles > 0);
        per.sort_by_key(|s| {
            let rank = match checks[s.check as usize].test {
                crate::record::Test::VpnPing => 0,
                crate::record::Test::VpnOpen => 1,
                crate::record::Test::VpnClose => 2,
                crate::record::Test::TargetPing => 3,
                crate::record::Test::TcpPort => 4,
            };
            (rank, s.check)
        });
        Summary {
            rows: self.rows,
            cycles: self.cycles.count(),
            first: self.first,
            last: self.last,
            checks: per,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summarize(text: &str) -> Summary {
        let (checks, rows, _) = super::super::read::tests::read_texts(&[text]).unwrap();
        let mut s = Summarizer::default();
        for r in &rows {
            s.add(r);
        }
        s.finish(&checks.list)
    }

    #[test]
    fn a_restart_that_reuses_cycle_numbers_counts_as_new_cycles() {
        let s = summarize(
            "1,2024/01/01,10:00:00,VPN ping,Good,g,G\n\
             2,2024/01/01,10:30:00,VPN ping,Good,g,G\n\
             1,2024/01/01,11:00:00,VPN ping,Good,g,G\n\
             1,2024/01/01,11:30:00,VPN ping,Good,g,G\n",
        );
        assert_eq!(s.cycles, 4);
        assert_eq!(s.checks[0].cycles, 4);
    }

    #[test]
    fn outages_are_runs_of_fail_ended_by_the_recovery() {
        let s = summarize(
            "1,2024/01/01,10:00:00,VPN ping,Good,g,G\n\
             2,2024/01/01,10:30:00,VPN ping,Fail,g,G\n\
             3,2024/01/01,11:00:00,VPN ping,Fail,g,G\n\
             4,2024/01/01,11:30:00,VPN ping,Warn,g,G\n\
             5,2024/01/01,12:00:00,VPN ping,Fail,g,G\n",
        );
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
