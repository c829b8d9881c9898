//! The alert decision, pure: consecutive-failure counters per check and the events they call
//! for (down, reminder, recovered). No I/O here except the state file's (de)serialisation,
//! which is plain data; delivery (mail, hook) lives in its own rooms.
//!
//! A check is the gateway ping, the VPN open, or one target (address + name). A check is *down*
//! in a cycle when its verdict is Fail; Good or Warn (it answered) count as up. A check that was
//! not performed in a cycle (targets are not pinged when the VPN did not open) keeps its counter.

use crate::record::{CheckId, Record, Test, Verdict};
use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The check a record counts for; `None` for tests that are not alerted on (VPN close).
fn alerted_check(rec: &Record) -> Option<CheckId> {
    match rec.test {
        Test::VpnPing | Test::VpnOpen | Test::TargetPing | Test::TcpPort => Some(CheckId::of(rec)),
        Test::VpnClose => None,
    }
}

/// The key of a check in the state file.
fn key(check: &CheckId) -> String {
    format!("{}|{}|{}", check.test.as_str(), check.address, check.name)
}

/// What the counters remember of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    pub check: CheckId,
    /// Cycles in a row this check has failed.
    pub failures: u64,
    /// When the current run of failures began.
    pub since: Option<DateTime<Local>>,
    /// A down alert has been decided for the current run of failures.
    pub alerted: bool,
}

/// When to alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Alert once a check has failed this many cycles in a row (at least 1).
    pub after: u64,
    /// While down, remind every this many further cycles (`None`: never).
    pub repeat: Option<u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            after: 2,
            repeat: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Down,
    Reminder,
    Recovered,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Down => "down",
            EventKind::Reminder => "reminder",
            EventKind::Recovered => "recovered",
        }
    }
}

/// One thing a person should be told.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub check: CheckId,
    /// The cycle that caused the event.
    pub cycle: u64,
    /// Failures in a row (for recovered: how many there were).
    pub failures: u64,
    /// When the run of failures began.
    pub since: Option<DateTime<Local>>,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

/// The counters of all checks. Serialisable as the state file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    checks: BTreeMap<String, CheckState>,
}

impl AlertState {
    pub fn get(&self, check: &CheckId) -> Option<&CheckState> {
        self.checks.get(&key(check))
    }

    /// Feeds one cycle's records; returns the events they call for, in record order.
    pub fn observe(&mut self, policy: Policy, cycle: u64, records: &[Record]) -> Vec<Event> {
        let after = policy.after.max(1);
        let mut events = Vec::new();
        for rec in records {
            let Some(check) = alerted_check(rec) else {
                continue;
            };
            let st = self
                .checks
                .entry(key(&check))
                .or_insert_with(|| CheckState {
                    check: check.clone(),
                    failures: 0,
                    since: None,
                    alerted: false,
                });
            let event = |kind, st: &CheckState| Event {
                kind,
                check: check.clone(),
                cycle,
                failures: st.failures,
                since: st.since,
                verdict: rec.result,
                reason: rec.reason.clone(),
            };
            if rec.result == Verdict::Fail {
                if st.failures == 0 {
                    st.since = Some(rec.at);
                }
                st.failures += 1;
                if !st.alerted && st.failures >= after {
                    st.alerted = true;
                    events.push(event(EventKind::Down, st));
                } else if st.alerted {
                    if let Some(r) = policy.repeat.filter(|r| *r > 0) {
                        if st.failures > after && (st.failures - after).is_multiple_of(r) {
                            events.push(event(EventKind::Reminder, st));
                        }
                    }
                }
            } else {
                if st.alerted {
                    events.push(event(EventKind::Recovered, st));
                }
                st.failures = 0;
                st.since = None;
                st.alerted = false;
            }
        }
        events
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.checks.values().collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into())
    }

    pub fn from_json(text: &str) -> Result<AlertState, serde_json::Error> {
        let list: Vec<CheckState> = serde_json::from_str(text)?;
        Ok(AlertState {
            checks: list.into_iter().map(|c| (key(&c.check), c)).collect(),
        })
    }
}

/// The state file's text, read through the bounded, non-blocking reader (`input`): a FIFO or a
/// device (`/dev/zero`) is refused instead of blocking or filling memory, and more than
/// `input::MAX_INPUT_BYTES` is refused. Errors other than the system's carry the reason as text.
pub fn read_state_text(path: &std::path::Path) -> std::io::Result<String> {
    crate::input::read_text(path).map_err(crate::input::InputError::into_io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rec(test: Test, address: &str, result: Verdict) -> Record {
        Record {
            path: None,
            cycle: 1,
            at: Local::now(),
            test,
            result,
            address: address.into(),
            name: format!("n-{address}"),
            site: "Site".into(),
            reason: (result != Verdict::Good).then(|| "no reply".to_string()),
            ping: None,
            duration: Duration::ZERO,
        }
    }

    fn kinds(ev: &[Event]) -> Vec<(EventKind, String)> {
        ev.iter()
            .map(|e| (e.kind, e.check.address.clone()))
            .collect()
    }

    use EventKind::*;
    use Verdict::*;

    #[test]
    fn alerts_once_after_n_failures_then_recovers() {
        let mut s = AlertState::default();
        let p = Policy::default();
        let t = |v| vec![rec(Test::TargetPing, "a", v)];
        assert!(s.observe(p, 1, &t(Fail)).is_empty());
        assert_eq!(kinds(&s.observe(p, 2, &t(Fail))), [(Down, "a".into())]);
        assert!(s.observe(p, 3, &t(Fail)).is_empty());
        assert!(s.observe(p, 4, &t(Fail)).is_empty());
        let ev = s.observe(p, 5, &t(Good));
        assert_eq!(kinds(&ev), [(Recovered, "a".into())]);
        assert_eq!(ev[0].failures, 4);
        assert!(s.observe(p, 6, &t(Good)).is_empty());
        // A fresh outage starts a fresh count.
        assert!(s.observe(p, 7, &t(Fail)).is_empty());
        assert_eq!(kinds(&s.observe(p, 8, &t(Fail))), [(Down, "a".into())]);
    }

    #[test]
    fn a_short_outage_below_the_threshold_says_nothing() {
        let mut s = AlertState::default();
        let p = Policy {
            after: 3,
            repeat: None,
        };
        let t = |v| vec![rec(Test::TargetPing, "a", v)];
        for (c, v) in [(1, Fail), (2, Fail), (3, Good), (4, Fail), (5, Good)] {
            assert!(s.observe(p, c, &t(v)).is_empty(), "cycle {c}");
        }
    }

    #[test]
    fn warn_counts_as_up_and_after_1_alerts_at_once() {
        let mut s = AlertState::default();
        let p = Policy {
            after: 1,
            repeat: None,
        };
        let t = |v| vec![rec(Test::VpnPing, "gw", v)];
        assert_eq!(kinds(&s.observe(p, 1, &t(Fail))), [(Down, "gw".into())]);
        assert_eq!(
            kinds(&s.observe(p, 2, &t(Warn))),
            [(Recovered, "gw".into())]
        );
    }

    #[test]
    fn reminders_every_repeat_cycles_while_down() {
        let mut s = AlertState::default();
        let p = Policy {
            after: 2,
            repeat: Some(3),
        };
        let t = |v| vec![rec(Test::TargetPing, "a", v)];
        let got: Vec<Vec<EventKind>> = (1..=9)
            .map(|c| {
                s.observe(p, c, &t(Fail))
                    .into_iter()
                    .map(|e| e.kind)
                    .collect()
            })
            .collect();
        let want: Vec<Vec<EventKind>> = vec![
            vec![],
            vec![Down],
            vec![],
            vec![],
            vec![Reminder],
            vec![],
            vec![],
            vec![Reminder],
            vec![],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn several_checks_down_together_are_one_cycle_of_events() {
        let mut s = AlertState::default();
        let p = Policy::default();
        let cyc = |v| {
            vec![
                rec(Test::VpnPing, "gw", Good),
                rec(Test::TargetPing, "a", v),
                rec(Test::TargetPing, "b", v),
                rec(Test::TargetPing, "c", Good),
                rec(Test::VpnClose, "gw", Fail),
            ]
        };
        assert!(s.observe(p, 1, &cyc(Fail)).is_empty());
        let ev = s.observe(p, 2, &cyc(Fail));
        assert_eq!(kinds(&ev), [(Down, "a".into()), (Down, "b".into())]);
        let ev = s.observe(p, 3, &cyc(Good));
        assert_eq!(
            kinds(&ev),
            [(Recovered, "a".into()), (Recovered, "b".into())]
        );
    }

    #[test]
    fn a_check_not_performed_keeps_its_count() {
        let mut s = AlertState::default();
        let p = Policy::default();
        assert!(s
            .observe(p, 1, &[rec(Test::TargetPing, "a", Fail)])
            .is_empty());
        // Cycle 2: the gateway is down, so the target was not pinged.
        assert!(s
            .observe(p, 2, &[rec(Test::VpnPing, "gw", Fail)])
            .is_empty());
        let ev = s.observe(p, 3, &[rec(Test::TargetPing, "a", Fail)]);
        assert_eq!(kinds(&ev), [(Down, "a".into())]);
    }

    #[test]
    fn same_address_with_another_name_is_another_check() {
        let mut s = AlertState::default();
        let p = Policy::default();
        let mut r = rec(Test::TargetPing, "a", Fail);
        s.observe(p, 1, &[r.clone()]);
        r.name = "other".into();
        assert!(s.observe(p, 2, &[r]).is_empty());
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let mut s = AlertState::default();
        let p = Policy::default();
        let t = |v| vec![rec(Test::TargetPing, "a", v)];
        s.observe(p, 1, &t(Fail));
        s.observe(p, 2, &t(Fail));
        let mut back = AlertState::from_json(&s.to_json()).expect("parses");
        assert_eq!(back, s);
        // Restarted: no second down alert, and the recovery is still announced.
        assert!(back.observe(p, 1, &t(Fail)).is_empty());
        assert_eq!(
            kinds(&back.observe(p, 2, &t(Good))),
            [(Recovered, "a".into())]
        );
    }
}
