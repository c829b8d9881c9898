//! The service sink: turns records into the Prometheus families, keeps the liveness deadline
//! that /healthz and the systemd watchdog read, and tells systemd the last cycle's summary
//! (STATUS=). Decides nothing: a record's verdict is taken as it is.

use super::{RunEnd, Sink, SinkError};
use crate::record::{CycleReport, Record, Tally, Test, Verdict};
use crate::service::metrics::{CheckLabels, Metrics};
use crate::service::{notify, Liveness};
use crate::targets::Target;
use chrono::{DateTime, Local};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct ServiceSink {
    metrics: Option<Metrics>,
    live: Liveness,
    /// The longest a cycle may go without a record before the loop counts as stalled (the
    /// slowest test: a VPN open or close with its timeout), plus a margin.
    stall_after: Duration,
    /// Results in a row that were not Good, per check.
    failures: HashMap<CheckLabels, u64>,
    /// The checks with series, per site.
    known: HashSet<CheckLabels>,
    site: String,
}

impl ServiceSink {
    pub fn new(
        metrics: Option<Metrics>,
        live: Liveness,
        stall_after: Duration,
        site: &str,
    ) -> ServiceSink {
        ServiceSink {
            metrics,
            live,
            stall_after,
            failures: HashMap::new(),
            known: HashSet::new(),
            site: site.to_string(),
        }
    }

    fn labels(&self, r: &Record) -> CheckLabels {
        CheckLabels {
            site: self.site.clone(),
            test: r.test.as_str().to_string(),
            address: r.address.clone(),
            name: r.name.clone(),
        }
    }
}

fn unix_seconds(t: DateTime<Local>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

#[async_trait::async_trait]
impl Sink for ServiceSink {
    fn planned(&mut self, site: &str, gateway: &str, targets: &[Target]) {
        self.site = site.to_string();
        if self.metrics.is_none() {
            return; // no series to forget
        }
        let mut keep: HashSet<(Test, &str, &str)> = targets
            .iter()
            .map(|t| (Test::TargetPing, t.address.as_str(), t.name.as_str()))
            .collect();
        for test in [Test::VpnPing, Test::VpnOpen, Test::VpnClose] {
            keep.insert((test, gateway, site));
        }
        let gone: Vec<CheckLabels> = self
            .known
            .iter()
            .filter(|c| {
                let test = Test::parse(&c.test).unwrap_or(Test::TargetPing);
                c.site != site || !keep.contains(&(test, c.address.as_str(), c.name.as_str()))
            })
            .cloned()
            .collect();
        let any_gone = !gone.is_empty();
        for c in gone {
            if let Some(m) = &self.metrics {
                m.forget(&c);
            }
            self.failures.remove(&c);
            self.known.remove(&c);
        }
        if let (true, Some(m)) = (any_gone, &self.metrics) {
            m.changed();
        }
    }

    fn cycle_start(&mut self, _cycle: u64, _of: Option<u64>, at: DateTime<Local>) {
        self.live.due_within(self.stall_after);
        if let Some(m) = &self.metrics {
            m.cycle_start.set(unix_seconds(at));
            m.changed();
        }
    }

    fn records(&mut self, recs: &[Record]) {
        self.live.due_within(self.stall_after);
        if self.metrics.is_some() {
            for r in recs {
                self.record(r);
            }
        }
    }

    fn record(&mut self, r: &Record) {
        self.live.due_within(self.stall_after);
        // The failure counts and known checks feed only the metrics: without them a record
        // costs no labels (four strings) and no map entry.
        if self.metrics.is_none() {
            return;
        }
        let c = self.labels(r);
        let fails = self.failures.entry(c.clone()).or_insert(0);
        *fails = if r.result == Verdict::Good {
            0
        } else {
            *fails + 1
        };
        let fails = *fails;
        let Some(m) = &self.metrics else {
            return;
        };
        m.success
            .get_or_create(&c)
            .set(i64::from(r.result == Verdict::Good));
        m.set_verdict(&c, r.result.as_str());
        m.duration.get_or_create(&c).set(r.duration.as_secs_f64());
        m.consecutive_failures.get_or_create(&c).set(fails as i64);
        m.last_result.get_or_create(&c).set(unix_seconds(r.at));
        if let Some(p) = r.ping {
            if p.sent > 0 {
                let lost = p.sent.saturating_sub(p.received);
                m.loss
                    .get_or_create(&c)
                    .set(f64::from(lost) / f64::from(p.sent));
            }
            match p.rtt_avg {
                Some(rtt) => {
                    m.rtt.get_or_create(&c).set(rtt.as_secs_f64());
                }
                // No answer, no round-trip time: the series goes rather than showing an old one.
                None => {
                    m.rtt.remove(&c);
                }
            }
        }
        self.known.insert(c);
        // Coalesced: a sweep's burst of records is a few encodings, not one each.
        m.changed();
    }

    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        if let Some(m) = &self.metrics {
            if !report.cancelled {
                m.cycles.inc();
                m.cycle_end.set(unix_seconds(report.finished));
                let took = (report.finished - report.started)
                    .to_std()
                    .unwrap_or_default();
                m.cycle_duration.set(took.as_secs_f64());
            }
            m.changed();
            // The cycle's results are in the page before the cycle is said to be over, so a
            // scrape after the cycle's end sees them; a stop does not wait for it.
            tokio::select! {
                () = m.settled() => {}
                () = cancel.cancelled() => {}
            }
        }
        let t = Tally::of_targets(&report.records);
        let bad: Vec<String> = report
            .records
            .iter()
            .filter(|r| r.test != Test::TargetPing && r.result != Verdict::Good)
            .map(|r| format!("{} {}", r.test, r.result))
            .collect();
        let mut line = format!(
            "cycle {} at {}: {} good, {} warn, {} fail",
            report.cycle,
            report.started.format("%Y-%m-%d %H:%M:%S"),
            t.good,
            t.warn,
            t.fail
        );
        if !bad.is_empty() {
            line.push_str(&format!(" ({})", bad.join(", ")));
        }
        notify::status(&line);
        Ok(())
    }

    fn sink_errors(&mut self, errors: &[SinkError]) {
        if let Some(m) = &self.metrics {
            for e in errors {
                match e {
                    SinkError::Datalog(_) => {
                        m.datalog_errors.inc();
                    }
                }
            }
            m.changed();
        }
    }

    fn reloaded(&mut self, ok: bool) {
        if let Some(m) = &self.metrics {
            m.reload_success.set(i64::from(ok));
            if ok {
                m.reload_time.set(unix_seconds(Local::now()));
            }
            m.changed();
        }
    }

    fn waiting(&mut self, delay: Duration, _next: DateTime<Local>) {
        self.live.due_within(delay + self.stall_after);
    }

    async fn finish(&mut self, _end: RunEnd) -> Result<(), SinkError> {
        notify::stopping();
        Ok(())
    }
}
