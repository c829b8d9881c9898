//! The original's sound alert in its simplest form: the terminal bell, 3 times when the gateway
//! ping, VPN open or VPN close is not Good, once per target that is not Good; none when quiet.

use super::Sink;
use crate::record::{CycleReport, Test, Verdict};
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// How many beeps a cycle's records call for.
pub fn beeps_for(report: &CycleReport) -> usize {
    report
        .records
        .iter()
        .filter(|r| r.result != Verdict::Good)
        .map(|r| if r.test == Test::TargetPing { 1 } else { 3 })
        .sum()
}

pub struct BellSink<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> BellSink<W> {
    pub fn new(out: W) -> Self {
        BellSink { out }
    }
}

impl<W: Write + Send> Sink for BellSink<W> {
    fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        let n = beeps_for(report);
        if n > 0 && !report.cancelled {
            let _ = self.out.write_all("\x07".repeat(n).as_bytes());
            let _ = self.out.flush();
        }
        Ok(())
    }
}
