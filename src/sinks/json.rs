//! `--json`: the records as JSON lines on stdout instead of the console lines, for piping. The
//! objects are those of the `jsonl` datalog format; operator lines (notices, client diagnostics)
//! go to the second writer (stderr) so stdout stays pure JSON lines.

use super::Sink;
use crate::datalog::format_json_row;
use crate::record::{CycleReport, Record, Test, Verdict};
use std::io::Write;

pub struct JsonSink<W: Write + Send, E: Write + Send> {
    out: W,
    err: E,
    /// `--trace-on-fail`: a Fail or Warn target's line waits for its path (written when traced,
    /// or at the cycle's end without one), so each record is one line with its `path`.
    defer_failed: bool,
    waiting: Vec<Record>,
}

impl<W: Write + Send, E: Write + Send> JsonSink<W, E> {
    pub fn new(out: W, err: E) -> Self {
        JsonSink {
            out,
            err,
            defer_failed: false,
            waiting: Vec::new(),
        }
    }

    /// With `--trace-on-fail`: Fail and Warn targets' lines wait for their paths.
    pub fn deferring_failed(mut self, on: bool) -> Self {
        self.defer_failed = on;
        self
    }

    fn write(&mut self, r: &Record) {
        let _ = self.out.write_all(format_json_row(r).as_bytes());
        let _ = self.out.flush();
    }

    pub fn into_inner(self) -> (W, E) {
        (self.out, self.err)
    }
}

#[async_trait::async_trait]
impl<W: Write + Send, E: Write + Send> Sink for JsonSink<W, E> {
    fn notice(&mut self, line: &str) {
        let _ = writeln!(self.err, "{line}");
        let _ = self.err.flush();
    }

    fn record(&mut self, r: &Record) {
        self.records(std::slice::from_ref(r));
    }

    /// A burst's lines in one write.
    fn records(&mut self, recs: &[Record]) {
        let mut text = String::new();
        for r in recs {
            if self.defer_failed && r.test == Test::TargetPing && r.result != Verdict::Good {
                self.waiting.push(r.clone());
            } else {
                text.push_str(&format_json_row(r));
            }
        }
        if !text.is_empty() {
            let _ = self.out.write_all(text.as_bytes());
            let _ = self.out.flush();
        }
    }

    fn traced(&mut self, r: &Record) {
        let same = |w: &Record| w.address == r.address && w.name == r.name && w.site == r.site;
        if let Some(i) = self.waiting.iter().position(same) {
            self.waiting.remove(i);
        }
        self.write(r);
    }

    async fn cycle_end(
        &mut self,
        _report: &CycleReport,
        _cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<(), super::SinkError> {
        // Not traced in time (or the trace could not run): written without a path.
        for r in std::mem::take(&mut self.waiting) {
            self.write(&r);
        }
        Ok(())
    }

    fn diagnostics(&mut self, lines: &[String]) {
        for l in lines {
            let _ = writeln!(self.err, "{l}");
        }
        let _ = self.err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datalog::JsonRecord;
    use crate::record::{PingStats, Test, Verdict};
    use chrono::{Local, TimeZone};
    use std::time::Duration;

    #[test]
    fn one_json_object_per_record_and_notices_apart() {
        let mut s = JsonSink::new(Vec::new(), Vec::new());
        s.notice("Running without a vpnmon targets file");
        let r = Record {
            path: None,
            cycle: 3,
            at: Local.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
            test: Test::TargetPing,
            result: Verdict::Warn,
            address: "10.0.0.1".into(),
            name: "Rack \"A\"".into(),
            site: "Site".into(),
            reason: Some("1 of 2 echo replies".into()),
            ping: Some(PingStats {
                sent: 2,
                received: 1,
                rtt_min: Some(Duration::from_micros(1500)),
                rtt_avg: Some(Duration::from_micros(1500)),
                rtt_max: Some(Duration::from_micros(1500)),
                rtt_std: Some(Duration::ZERO),
            }),
            duration: Duration::from_millis(1002),
        };
        s.record(&r);
        let (out, err) = s.into_inner();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 1);
        let j: JsonRecord = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(j.cycle, 3);
        assert_eq!(j.name, "Rack \"A\"");
        assert_eq!(j.received, Some(1));
        assert_eq!(j.rtt_avg_ms, Some(1.5));
        assert_eq!(j.duration_ms, Some(1002.0));
        let parsed = chrono::DateTime::parse_from_rfc3339(&j.time).unwrap();
        assert_eq!(parsed, r.at);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "Running without a vpnmon targets file\n"
        );
    }
}
