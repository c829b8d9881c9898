//! What the full-screen view shows, kept from the records as they come: per check the last
//! verdict, availability since start, the RTT history and the last failure; the phase of the
//! running cycle and the time of the next one. Pure state: no terminal, unit-tested.

use crate::record::{Record, Test, Verdict};
use chrono::{DateTime, Local};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many RTT samples a row keeps (its sparkline shows the newest that fit).
pub const HISTORY: usize = 120;
/// How many notices are kept for the bottom panel.
const NOTICES: usize = 50;

/// One check of one site.
#[derive(Debug, Clone)]
pub struct Row {
    pub site: String,
    pub test: Test,
    pub address: String,
    pub name: String,
    /// Its place in the targets file (targets), for the order.
    plan: usize,
    pub last: Option<Verdict>,
    /// Cycles in which it answered (Good or Warn, as `report` counts availability).
    pub answered: u32,
    pub seen: u32,
    /// RTTs in microseconds, oldest first; `None` where the check had none (no answer).
    pub rtts: VecDeque<Option<u64>>,
    pub last_rtt: Option<Duration>,
    /// When it last was not Good, its verdict then, and why.
    pub last_failure: Option<(DateTime<Local>, Verdict, String)>,
}

impl Row {
    /// Availability since start in percent; `None` before its first result.
    pub fn availability(&self) -> Option<f64> {
        (self.seen > 0).then(|| f64::from(self.answered) * 100.0 / f64::from(self.seen))
    }

    /// Words for the check column: `Lab GW gateway ping`, or a target's name.
    pub fn label(&self) -> String {
        match self.test {
            Test::VpnPing => format!("{} gateway ping", self.site),
            Test::VpnOpen => format!("{} VPN open", self.site),
            Test::VpnClose => format!("{} VPN close", self.site),
            Test::TargetPing => self.name.clone(),
            Test::TcpPort => format!("{} tcp {}", self.name, self.address),
        }
    }
}

fn rank(t: Test) -> u8 {
    match t {
        Test::VpnPing => 0,
        Test::VpnOpen => 1,
        Test::TargetPing | Test::TcpPort => 2,
        Test::VpnClose => 3,
    }
}

/// What the running cycle is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Starting,
    GatewayPing,
    Opening,
    Sweep {
        answered: usize,
        of: usize,
    },
    Closing,
    /// The cycle's tests are done; its rows are being written.
    Ending,
    Waiting {
        until: Instant,
    },
    Paused,
    /// A stop was asked for (`q`, Ctrl-C): the cycle ends and the VPN closes.
    Stopping,
    Done,
}

#[derive(Debug)]
pub struct Model {
    pub rows: Vec<Row>,
    sites: Vec<String>,
    /// Targets planned for each site's cycle (the sweep's `of`).
    planned: Vec<usize>,
    /// The site whose cycle is running.
    current: usize,
    pub has_vpn: bool,
    pub cycle: u64,
    pub of: Option<u64>,
    pub phase: Phase,
    /// When the phase began (the elapsed time shown beside it).
    pub since: Instant,
    /// The operator asked for a pause (`p`) that is not resumed yet.
    pub pause_asked: bool,
    /// When the paused wait would have ended (resuming after it starts the cycle at once).
    paused_until: Option<Instant>,
    pub notices: VecDeque<String>,
    /// The next frame is drawn on a cleared screen (whatever else wrote to the terminal, an
    /// alert's line on stderr, is wiped): at each cycle's start and on Ctrl-L.
    pub clear: bool,
}

impl Model {
    pub fn new(has_vpn: bool) -> Model {
        Model {
            rows: Vec::new(),
            sites: Vec::new(),
            planned: Vec::new(),
            current: 0,
            has_vpn,
            cycle: 0,
            of: None,
            phase: Phase::Starting,
            since: Instant::now(),
            pause_asked: false,
            paused_until: None,
            notices: VecDeque::new(),
            clear: false,
        }
    }

    fn set_phase(&mut self, p: Phase) {
        // A stop asked for stays said until the run ends.
        if self.phase == Phase::Stopping && p != Phase::Done {
            return;
        }
        if std::mem::discriminant(&self.phase) != std::mem::discriminant(&p) {
            self.since = Instant::now();
        }
        self.phase = p;
    }

    pub fn notice(&mut self, line: &str) {
        for l in line.lines() {
            self.notices.push_back(crate::text::escape(l));
        }
        while self.notices.len() > NOTICES {
            self.notices.pop_front();
        }
    }

    fn site_index(&mut self, site: &str) -> usize {
        match self.sites.iter().position(|s| s == site) {
            Some(i) => i,
            None => {
                self.sites.push(site.to_string());
                self.planned.push(0);
                self.sites.len() - 1
            }
        }
    }

    fn sort(&mut self) {
        let sites = &self.sites;
        let at = |s: &str| sites.iter().position(|x| x == s).unwrap_or(usize::MAX);
        self.rows
            .sort_by_key(|r| (at(&r.site), rank(r.test), r.plan));
    }

    fn row_mut(&mut self, site: &str, test: Test, address: &str, name: &str) -> &mut Row {
        let i = match self.rows.iter().position(|r| {
            r.site == site && r.test == test && r.address == address && r.name == name
        }) {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    site: site.to_string(),
                    test,
                    address: address.to_string(),
                    name: name.to_string(),
                    plan: usize::MAX,
                    last: None,
                    answered: 0,
                    seen: 0,
                    rtts: VecDeque::new(),
                    last_rtt: None,
                    last_failure: None,
                });
                self.sort();
                self.rows
                    .iter()
                    .position(|r| {
                        r.site == site && r.test == test && r.address == address && r.name == name
                    })
                    .expect("just added")
            }
        };
        &mut self.rows[i]
    }

    /// The next cycle of `site` tests its gateway and these targets: rows of targets no longer
    /// in the file go, new ones come in the file's order.
    pub fn planned(&mut self, site: &str, gateway: &str, targets: &[crate::targets::Target]) {
        let i = self.site_index(site);
        self.planned[i] = targets.len();
        self.row_mut(site, Test::VpnPing, gateway, site).plan = 0;
        self.rows.retain(|r| {
            r.site != site
                || r.test != Test::TargetPing
                || targets
                    .iter()
                    .any(|t| t.address == r.address && t.name == r.name)
        });
        for (n, t) in targets.iter().enumerate() {
            self.row_mut(site, Test::TargetPing, &t.address, &t.name)
                .plan = n;
        }
        self.sort();
    }

    pub fn cycle_start(&mut self, cycle: u64, of: Option<u64>) {
        self.cycle = cycle;
        self.of = of;
        self.current = 0;
        self.clear = true;
        self.set_phase(Phase::GatewayPing);
    }

    pub fn record(&mut self, r: &Record) {
        // Each site's cycle begins with its gateway ping, named after the site.
        let site = match r.test {
            Test::TargetPing => self.sites.get(self.current).cloned().unwrap_or_default(),
            _ => r.name.clone(),
        };
        if r.test == Test::VpnPing {
            self.current = self.site_index(&site);
        }
        let row = self.row_mut(&site, r.test, &r.address, &r.name);
        row.last = Some(r.result);
        row.seen += 1;
        if r.result != Verdict::Fail {
            row.answered += 1;
        }
        let rtt = r.ping.and_then(|p| p.rtt_avg);
        row.last_rtt = rtt;
        if r.ping.is_some() {
            row.rtts.push_back(rtt.map(|d| d.as_micros().max(1) as u64));
            while row.rtts.len() > HISTORY {
                row.rtts.pop_front();
            }
        }
        if r.result != Verdict::Good {
            let why = r.reason.clone().unwrap_or_else(|| r.result.to_string());
            row.last_failure = Some((r.at, r.result, crate::text::escape(&why)));
        }
        let of = self.planned.get(self.current).copied().unwrap_or(0);
        let sweep_or_close = |answered: usize, has_vpn: bool| {
            if answered >= of && has_vpn {
                Phase::Closing
            } else {
                Phase::Sweep { answered, of }
            }
        };
        let next = match (r.test, r.result) {
            (Test::VpnPing, Verdict::Good) if self.has_vpn => Phase::Opening,
            (Test::VpnPing, _) if self.has_vpn => Phase::Ending,
            (Test::VpnPing, _) | (Test::VpnOpen, Verdict::Good) => sweep_or_close(0, self.has_vpn),
            (Test::VpnOpen, _) => Phase::Closing,
            (Test::TargetPing, _) => {
                let answered = match self.phase {
                    Phase::Sweep { answered, .. } => answered + 1,
                    _ => 1,
                };
                sweep_or_close(answered, self.has_vpn)
            }
            (Test::TcpPort, _) => self.phase,
            (Test::VpnClose, _) => Phase::Ending,
        };
        // The sweep's time runs from its start: only the count changes.
        if let (Phase::Sweep { .. }, Phase::Sweep { .. }) = (self.phase, next) {
            self.phase = next;
        } else {
            self.set_phase(next);
        }
    }

    pub fn waiting(&mut self, delay: Duration) {
        // A pause asked for shows once the monitor confirms it (`paused`).
        self.set_phase(Phase::Waiting {
            until: Instant::now() + delay,
        });
    }

    /// The monitor paused or resumed the schedule.
    pub fn paused(&mut self, on: bool) {
        match (on, self.phase) {
            (true, Phase::Waiting { until }) => {
                self.paused_until = Some(until);
                self.set_phase(Phase::Paused)
            }
            (false, Phase::Paused) => {
                let until = self.paused_until.take().unwrap_or_else(Instant::now);
                self.set_phase(Phase::Waiting { until })
            }
            _ => {}
        }
        if !on {
            self.pause_asked = false;
        }
    }

    pub fn stopping(&mut self) {
        self.set_phase(Phase::Stopping);
    }

    pub fn done(&mut self) {
        self.set_phase(Phase::Done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PingStats;
    use crate::targets::Target;

    fn target(address: &str, name: &str) -> Target {
        Target {
            address: address.into(),
            host: address.into(),
            name: name.into(),
        }
    }

    fn rec(test: Test, result: Verdict, address: &str, name: &str) -> Record {
        let received = match result {
            Verdict::Good => 2,
            Verdict::Warn => 1,
            Verdict::Fail => 0,
        };
        Record {
            path: None,
            cycle: 1,
            at: Local::now(),
            test,
            result,
            address: address.into(),
            name: name.into(),
            site: "Site".into(),
            reason: (result != Verdict::Good).then(|| format!("{received} of 2 answered")),
            ping: (test != Test::VpnOpen && test != Test::VpnClose).then(|| PingStats {
                sent: 2,
                received,
                rtt_avg: (received > 0).then(|| Duration::from_millis(3)),
                ..PingStats::default()
            }),
            duration: Duration::ZERO,
        }
    }

    fn labels(m: &Model) -> Vec<String> {
        m.rows.iter().map(Row::label).collect()
    }

    /// The phases follow the records of a cycle with a VPN, and the rows keep the file's order
    /// with the gateway, open and close around the targets.
    #[test]
    fn phases_and_rows_follow_the_cycle() {
        let mut m = Model::new(true);
        m.planned(
            "Lab",
            "gw",
            &[target("10.0.0.1", "a"), target("10.0.0.2", "b")],
        );
        m.cycle_start(1, Some(3));
        assert_eq!(m.phase, Phase::GatewayPing);
        m.record(&rec(Test::VpnPing, Verdict::Good, "gw", "Lab"));
        assert_eq!(m.phase, Phase::Opening);
        m.record(&rec(Test::VpnOpen, Verdict::Good, "gw", "Lab"));
        assert_eq!(m.phase, Phase::Sweep { answered: 0, of: 2 });
        m.record(&rec(Test::TargetPing, Verdict::Fail, "10.0.0.2", "b"));
        assert_eq!(m.phase, Phase::Sweep { answered: 1, of: 2 });
        m.record(&rec(Test::TargetPing, Verdict::Warn, "10.0.0.1", "a"));
        assert_eq!(m.phase, Phase::Closing);
        m.record(&rec(Test::VpnClose, Verdict::Good, "gw", "Lab"));
        assert_eq!(m.phase, Phase::Ending);
        m.waiting(Duration::from_secs(60));
        assert!(matches!(m.phase, Phase::Waiting { .. }));
        assert_eq!(
            labels(&m),
            [
                "Lab gateway ping",
                "Lab VPN open",
                "a",
                "b",
                "Lab VPN close"
            ]
        );
        let b = &m.rows[3];
        assert_eq!(b.last, Some(Verdict::Fail));
        assert_eq!(b.availability(), Some(0.0));
        assert_eq!(b.rtts, [None]);
        assert_eq!(b.last_failure.as_ref().unwrap().2, "0 of 2 answered");
        // Warn answered: available, as `report` counts it.
        assert_eq!(m.rows[2].availability(), Some(100.0));
        assert_eq!(m.rows[2].rtts, [Some(3000)]);
        // A target taken out of the file goes; the paused wait and its resume.
        m.planned("Lab", "gw", &[target("10.0.0.2", "b")]);
        assert_eq!(
            labels(&m),
            ["Lab gateway ping", "Lab VPN open", "b", "Lab VPN close"]
        );
        m.paused(true);
        assert_eq!(m.phase, Phase::Paused);
        m.paused(false);
        assert!(matches!(m.phase, Phase::Waiting { .. }));
        // A stop asked for stays said until the end.
        m.stopping();
        m.cycle_start(2, Some(3));
        assert_eq!(m.phase, Phase::Stopping);
        m.done();
        assert_eq!(m.phase, Phase::Done);
    }

    /// Without a VPN the sweep follows the gateway ping; a failed gateway ping with a VPN skips
    /// to the end of the cycle.
    #[test]
    fn without_a_vpn_the_sweep_follows_the_gateway_ping() {
        let mut m = Model::new(false);
        m.planned("Lab", "gw", &[target("10.0.0.1", "a")]);
        m.cycle_start(1, None);
        m.record(&rec(Test::VpnPing, Verdict::Good, "gw", "Lab"));
        assert_eq!(m.phase, Phase::Sweep { answered: 0, of: 1 });
        let mut m = Model::new(true);
        m.planned("Lab", "gw", &[target("10.0.0.1", "a")]);
        m.cycle_start(1, None);
        m.record(&rec(Test::VpnPing, Verdict::Fail, "gw", "Lab"));
        assert_eq!(m.phase, Phase::Ending);
    }
}
