//! Route traces with `trippy-core`, the engine of the trippy tracer: one round of ICMP probes
//! with rising TTLs, each hop the address that answered and its RTT, `*` for a hop that did not
//! answer. Raw sockets where allowed (root, `cap_net_raw`), else the unprivileged ICMP sockets
//! the OS allows (Linux `ping_group_range`, macOS); neither: the pings' permission message.
//!
//! trippy's tracer is synchronous: each trace runs on tokio's blocking pool, so all hosts are
//! traced at once.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use trippy_core::{Builder, PrivilegeMode, ProbeStatus, Round};

/// One hop of a route: who answered (`None`: nobody, printed `*`) and its RTT in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub addr: Option<IpAddr>,
    pub rtt_ms: f64,
}

impl Hop {
    pub const LOST: Hop = Hop {
        addr: None,
        rtt_ms: -1.0,
    };
}

/// The hops of two routes are the same addresses in the same order (RTTs aside).
pub fn same_route(a: &[Hop], b: &[Hop]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.addr == y.addr)
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Tracing needs raw ICMP sockets here (pings may still work through ping sockets).
    #[error(
        "cannot trace the route: permission denied for raw ICMP sockets (needed for traces \
         here): give vpnmon raw sockets with `sudo setcap cap_net_raw+ep {exe}`, or run it as root",
        exe = exe()
    )]
    PermissionDenied,
    #[error("cannot trace the route to {addr}: {reason}")]
    Failed { addr: IpAddr, reason: String },
}

fn exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/path/to/vpnmon".into())
}

/// How long one round may wait for the hops' answers.
pub const ROUND_TIME: Duration = Duration::from_secs(2);
/// Unanswered hops kept after the last one that answered, when the target never did.
const TRAILING_LOST: usize = 2;

/// A trace identifier per tracer: raw-socket tracers running at once tell their replies apart.
static NEXT_ID: AtomicU16 = AtomicU16::new(0x7600);

/// The monitor's `--trace-on-fail` traces (the cycle gets them as a [`crate::probe::Tracer`]):
/// one round of [`trace`], at most `max_hops` hops; a name is looked up first.
pub struct RouteTracer {
    pub max_hops: u8,
}

impl crate::probe::Tracer for RouteTracer {
    fn trace<'a>(
        &'a self,
        host: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Option<IpAddr>>, String>> {
        Box::pin(async move {
            let addr = match host.parse::<IpAddr>() {
                Ok(a) => a,
                Err(_) => tokio::net::lookup_host((host, 0))
                    .await
                    .map_err(|e| e.to_string())?
                    .next()
                    .map(|a| a.ip())
                    .ok_or_else(|| format!("'{host}' has no address"))?,
            };
            trace(addr, self.max_hops)
                .await
                .map(|hops| hops.into_iter().map(|h| h.addr).collect())
                .map_err(|e| e.to_string())
        })
    }
}

/// Traces the route to `addr`, at most `max_hops` hops.
pub async fn trace(addr: IpAddr, max_hops: u8) -> Result<Vec<Hop>, TraceError> {
    tokio::task::spawn_blocking(move || trace_blocking(addr, max_hops))
        .await
        .unwrap_or_else(|e| {
            Err(TraceError::Failed {
                addr,
                reason: e.to_string(),
            })
        })
}

fn trace_blocking(addr: IpAddr, max_hops: u8) -> Result<Vec<Hop>, TraceError> {
    // Raw sockets first; refused, the unprivileged mode where the OS has one (trippy supports
    // it on macOS; on Linux it fails even where ping sockets are allowed): any failure there
    // means tracing is not permitted for this user.
    match trace_in(addr, max_hops, PrivilegeMode::Privileged) {
        Err(e) if is_denied(&e) => {
            trace_in(addr, max_hops, PrivilegeMode::Unprivileged).map_err(|e| {
                if is_denied(&e) || cfg!(not(target_os = "macos")) {
                    TraceError::PermissionDenied
                } else {
                    failed(addr, &e)
                }
            })
        }
        r => r.map_err(|e| failed(addr, &e)),
    }
}

fn trace_in(
    addr: IpAddr,
    max_hops: u8,
    mode: PrivilegeMode,
) -> Result<Vec<Hop>, trippy_core::Error> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let tracer = Builder::new(addr)
        .privilege_mode(mode)
        .trace_identifier(id)
        .max_ttl(max_hops.max(1))
        .max_rounds(Some(1))
        .min_round_duration(Duration::from_millis(50))
        .max_round_duration(ROUND_TIME)
        .build()?;
    let hops = Mutex::new(None);
    tracer.run_with(|round| {
        if let Ok(mut h) = hops.lock() {
            *h = Some(hops_of(addr, round));
        }
    })?;
    Ok(hops.into_inner().ok().flatten().unwrap_or_default())
}

fn failed(addr: IpAddr, e: &trippy_core::Error) -> TraceError {
    TraceError::Failed {
        addr,
        reason: e.to_string(),
    }
}

/// trippy reports a refused socket as an I/O error somewhere in its chain.
fn is_denied(e: &trippy_core::Error) -> bool {
    let text = e.to_string().to_lowercase();
    text.contains("permission denied") || text.contains("operation not permitted")
}

/// The hops of one round: each probe's TTL and who answered it (a probe still awaited: `*`).
fn hops_of(target: IpAddr, round: &Round<'_>) -> Vec<Hop> {
    route_of(
        target,
        round.probes.iter().filter_map(|p| match p {
            ProbeStatus::Complete(c) => Some((
                c.ttl.0,
                Hop {
                    addr: Some(c.host),
                    rtt_ms: c
                        .received
                        .duration_since(c.sent)
                        .unwrap_or_default()
                        .as_secs_f64()
                        * 1000.0,
                },
            )),
            ProbeStatus::Awaited(a) => Some((a.ttl.0, Hop::LOST)),
            _ => None,
        }),
    )
}

/// The route in TTL order, up to the target's answer; when the target did not answer, up to the
/// last hop that did and `TRAILING_LOST` stars after it. An answer beats a lost probe of the
/// same TTL.
fn route_of(target: IpAddr, probes: impl Iterator<Item = (u8, Hop)>) -> Vec<Hop> {
    let mut by_ttl: Vec<Hop> = Vec::new();
    for (ttl, hop) in probes {
        let i = usize::from(ttl.max(1)) - 1;
        if by_ttl.len() <= i {
            by_ttl.resize(i + 1, Hop::LOST);
        }
        if by_ttl[i].addr.is_none() {
            by_ttl[i] = hop;
        }
    }
    if let Some(end) = by_ttl.iter().position(|h| h.addr == Some(target)) {
        by_ttl.truncate(end + 1);
    } else {
        let last = by_ttl.iter().rposition(|h| h.addr.is_some());
        by_ttl.truncate(last.map_or(0, |l| l + 1) + TRAILING_LOST);
    }
    by_ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_compare_by_addresses_only() {
        let h = |a: &str, rtt| Hop {
            addr: Some(a.parse().unwrap()),
            rtt_ms: rtt,
        };
        let a = vec![h("198.18.1.1", 1.0), Hop::LOST, h("198.18.3.2", 2.0)];
        let b = vec![h("198.18.1.1", 9.0), Hop::LOST, h("198.18.3.2", 0.5)];
        assert!(same_route(&a, &b));
        let c = vec![
            h("198.18.1.1", 1.0),
            h("198.18.2.1", 1.0),
            h("198.18.3.2", 2.0),
        ];
        assert!(!same_route(&a, &c));
        assert!(!same_route(&a, &a[..2]));
    }

    fn hop(a: &str) -> Hop {
        Hop {
            addr: Some(a.parse().unwrap()),
            rtt_ms: 1.0,
        }
    }

    fn addrs(route: &[Hop]) -> Vec<String> {
        route
            .iter()
            .map(|h| h.addr.map_or("*".into(), |a| a.to_string()))
            .collect()
    }

    #[test]
    fn a_route_ends_at_the_target_in_ttl_order() {
        let target: IpAddr = "198.18.3.2".parse().unwrap();
        // Probes come in any order; those past the target's TTL are dropped.
        let probes = vec![
            (3, hop("198.18.3.2")),
            (1, hop("198.18.1.1")),
            (2, Hop::LOST),
            (4, hop("198.18.3.2")),
            (5, Hop::LOST),
        ];
        assert_eq!(
            addrs(&route_of(target, probes.into_iter())),
            ["198.18.1.1", "*", "198.18.3.2"]
        );
    }

    #[test]
    fn an_unreached_target_ends_two_stars_after_the_last_answer() {
        let target: IpAddr = "198.18.9.9".parse().unwrap();
        let probes = (1..=30).map(|ttl| match ttl {
            1 => (1, hop("198.18.1.1")),
            2 => (2, hop("198.18.9.1")),
            t => (t, Hop::LOST),
        });
        assert_eq!(
            addrs(&route_of(target, probes)),
            ["198.18.1.1", "198.18.9.1", "*", "*"]
        );
        // Nobody answered at all: two stars.
        let none = (1..=30).map(|t| (t, Hop::LOST));
        assert_eq!(addrs(&route_of(target, none)), ["*", "*"]);
        // A probe missing from the round (never sent) is a star too, not a shorter route.
        let gap = vec![(1, hop("198.18.1.1")), (3, hop("198.18.9.9"))];
        assert_eq!(
            addrs(&route_of(target, gap.into_iter())),
            ["198.18.1.1", "*", "198.18.9.9"]
        );
    }
}
