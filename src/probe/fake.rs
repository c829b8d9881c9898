//! A scripted `Prober` for in-process tests of the cycle and monitor.

use super::{Cancelled, PingOutcome, Prober};
use crate::record::{PingStats, Verdict};
use crate::settings::PingOptions;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Answers from a table: host → (sent, received); unknown hosts fail. Records what it pinged.
pub struct TableProber {
    table: HashMap<String, u32>,
    pub pinged: Mutex<Vec<String>>,
    /// A host whose ping waits until cancelled (a sweep cut by Ctrl-C).
    pub hang_on: Option<String>,
}

impl TableProber {
    pub fn new(entries: &[(&str, u32)]) -> TableProber {
        TableProber {
            table: entries.iter().map(|(h, r)| (h.to_string(), *r)).collect(),
            pinged: Mutex::new(Vec::new()),
            hang_on: None,
        }
    }
}

impl Prober for TableProber {
    fn ping_many<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>> {
        Box::pin(async move {
            self.pinged.lock().unwrap().extend(hosts.iter().cloned());
            if let Some(h) = &self.hang_on {
                if hosts.contains(h) {
                    cancel.cancelled().await;
                    return Err(Cancelled);
                }
            }
            Ok(hosts
                .iter()
                .map(|h| {
                    let received = self.table.get(h).copied().unwrap_or(0).min(opts.count);
                    let verdict = Verdict::from_counts(opts.count, received);
                    PingOutcome {
                        verdict,
                        stats: PingStats {
                            sent: opts.count,
                            received,
                            ..Default::default()
                        },
                        reason: (verdict != Verdict::Good).then(|| "lost".to_string()),
                        duration: Duration::ZERO,
                    }
                })
                .collect())
        })
    }
}
