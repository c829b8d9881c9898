//! Fake `Prober`s: `RuleProber`, which the binary selects with the hidden `--debug-fake-ping` so
//! end-to-end tests run without ICMP permission, and `TableProber`, scripted for in-process tests
//! of the cycle and monitor.

use super::{Cancelled, OnEach, PingOptions, PingOutcome, Prober};
use crate::record::{PingStats, Verdict};
use futures::future::BoxFuture;
#[cfg(test)]
use std::collections::HashMap;
#[cfg(test)]
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// Answers by address, without any network traffic or name lookup:
/// - `127.0.0.0/8`, `::1` and `localhost`: every echo answered (RTT 0.1 ms);
/// - `198.19.0.0/16`: the first echo answered, the rest lost (Warn when more than one is sent);
/// - any other address: no reply, after the echo timeout (`198.18.0.0/16` is the documented
///   "dead host" range of the tests);
/// - `hang.invalid`: never answers and never times out, as a prober with a bug would (tests of
///   the stall detection: /healthz and the systemd watchdog); cancellation still ends it;
/// - any other host name: cannot be resolved.
#[derive(Debug, Default)]
pub struct RuleProber;

impl RuleProber {
    async fn ping_host(host: &str, opts: PingOptions) -> PingOutcome {
        use std::net::IpAddr;
        let rtt = Duration::from_micros(100);
        let started = SystemTime::now();
        let received = match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => opts.count,
            Ok(IpAddr::V4(v4)) if v4.octets()[..2] == [198, 19] => 1.min(opts.count),
            Ok(_) => 0,
            Err(_) if host.eq_ignore_ascii_case("localhost") => opts.count,
            Err(_) if host.eq_ignore_ascii_case("hang.invalid") => {
                return std::future::pending().await
            }
            Err(_) => {
                return PingOutcome {
                    verdict: Verdict::Fail,
                    stats: PingStats::default(),
                    reason: Some(format!("cannot resolve host name '{host}'")),
                    started,
                    duration: Duration::ZERO,
                }
            }
        };
        let waited = if received < opts.count {
            tokio::time::sleep(opts.timeout).await;
            opts.timeout
        } else {
            rtt
        };
        super::summarize(opts, vec![rtt; received as usize], &[], started, waited)
    }
}

impl Prober for RuleProber {
    fn ping_many<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>> {
        super::every_host(hosts, move |h| Self::ping_host(h, opts), cancel, None)
    }

    fn ping_each<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
        each: OnEach<'a>,
    ) -> BoxFuture<'a, Result<(), Cancelled>> {
        let all = super::every_host(hosts, move |h| Self::ping_host(h, opts), cancel, Some(each));
        Box::pin(async move { all.await.map(drop) })
    }
}

#[cfg(test)]
/// Answers from a table: host → (sent, received); unknown hosts fail. Records what it pinged.
pub struct TableProber {
    table: HashMap<String, u32>,
    pub pinged: Mutex<Vec<String>>,
    /// A host whose ping waits until cancelled (a sweep cut by Ctrl-C).
    pub hang_on: Option<String>,
}

#[cfg(test)]
impl TableProber {
    pub fn new(entries: &[(&str, u32)]) -> TableProber {
        TableProber {
            table: entries.iter().map(|(h, r)| (h.to_string(), *r)).collect(),
            pinged: Mutex::new(Vec::new()),
            hang_on: None,
        }
    }
}

#[cfg(test)]
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
                        started: SystemTime::now(),
                        duration: Duration::ZERO,
                    }
                })
                .collect())
        })
    }
}
