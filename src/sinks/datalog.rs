//! The datalog as a sink: the monitor hands each cycle's records to [`crate::datalog`]'s writer
//! and awaits it together with the stop token. Formats, rotation and the busy-file retry live in
//! `crate::datalog`.

use super::{RunEnd, Sink, SinkError};
use crate::datalog::DatalogWriter;
use crate::record::CycleReport;
use tokio_util::sync::CancellationToken;

/// The datalog sink is the datalog writer (`DatalogSink::from_config`).
pub type DatalogSink = DatalogWriter;

#[async_trait::async_trait]
impl Sink for DatalogWriter {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        self.write(&report.records, cancel).await?;
        Ok(())
    }

    async fn finish(&mut self, _end: RunEnd) -> Result<(), SinkError> {
        // Every cycle's rows were synced when written; nothing is held open between cycles.
        Ok(())
    }
}
