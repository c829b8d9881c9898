//! ICMP echo to many hosts at once → one `PingOutcome` per host. Never prints.
//!
//! `IcmpProber` sweeps with one loop owning one socket (surge-ping's) per address family
//! (`sweep.rs`). Each echo request gets a process-wide unique sequence number, because on Linux
//! ICMP datagram sockets the kernel owns the identifier and replies are matched on (host,
//! sequence) only. The number of echoes in flight is bounded by what the socket's receive
//! buffer can hold, so a sweep of 100,000 hosts gives no false timeouts from replies dropped in
//! the socket queue.

use crate::record::{PingStats, Verdict};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};
use surge_ping::SurgeError;
use tokio_util::sync::CancellationToken;

pub mod fake;
pub mod ping_output;
mod sweep;
pub mod system_ping;
#[cfg(windows)]
pub mod windows;

/// The OS's own unprivileged echo API where there is one (Windows: `IcmpSendEcho2`, no
/// Administrator needed), preferred to sockets; `None` elsewhere or when it cannot be opened.
pub fn os_prober() -> Option<Box<dyn Prober>> {
    #[cfg(windows)]
    if let Ok(p) = windows::IcmpApiProber::new() {
        return Some(Box::new(p));
    }
    None
}

/// How echo tests are run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PingOptions {
    pub count: u32,
    pub timeout: Duration,
}

/// Echo requests per target when not set.
pub const DEFAULT_PINGS: u32 = 2;
/// Seconds to wait for each echo reply when not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// The original pinged the gateway twice, whatever else was set.
pub const GATEWAY_PINGS: u32 = 2;

/// The probe's resolved configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeConfig {
    /// For each target.
    pub target: PingOptions,
    /// For the VPN gateway.
    pub gateway: PingOptions,
    /// Use the built-in fake prober instead of ICMP (hidden `--debug-fake-ping`, for tests).
    pub fake: bool,
    /// Use the system's `ping` program even where a socket is allowed (hidden
    /// `--debug-system-ping`, for tests).
    pub system_ping: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            target: PingOptions {
                count: DEFAULT_PINGS,
                timeout: DEFAULT_TIMEOUT,
            },
            gateway: PingOptions {
                count: GATEWAY_PINGS,
                timeout: DEFAULT_TIMEOUT,
            },
            fake: false,
            system_ping: false,
        }
    }
}

/// The result of pinging one host.
#[derive(Debug, Clone, PartialEq)]
pub struct PingOutcome {
    pub verdict: Verdict,
    pub stats: PingStats,
    /// Why it was not Good (`no reply to 2 echo requests`, `cannot resolve host name`, …).
    pub reason: Option<String>,
    /// When the first echo request was sent (when the test began, if none was sent): the time a
    /// row carries.
    pub started: SystemTime,
    pub duration: Duration,
}

/// The sweep was stopped by Ctrl-C/SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// Something that pings hosts. `IcmpProber` is the real one; tests use scripted fakes.
pub trait Prober: Send + Sync {
    /// Pings every host concurrently, each `opts.count` times; outcomes in the order of `hosts`.
    fn ping_many<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>>;

    /// As `ping_many`, and hands the outcomes to `each` as soon as they and all those before
    /// them are known, in runs (the index of the run's first, then the run): results come in
    /// file order while the sweep still waits on slower hosts further down, and the outcomes
    /// known at once go on together (one console write for a burst of replies, not one per
    /// host). The outcomes are not returned as well (the caller keeps what it needs of them).
    /// The default hands them all over at the end.
    fn ping_each<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
        each: OnEach<'a>,
    ) -> BoxFuture<'a, Result<(), Cancelled>> {
        Box::pin(async move {
            let all = self.ping_many(hosts, opts, cancel).await?;
            each(0, &all);
            Ok(())
        })
    }

    /// How many echoes this prober keeps in flight at most (`None`: no limit of its own). A
    /// sweep of more echoes goes out in waves, which the monitor says.
    fn in_flight_limit(&self) -> Option<usize> {
        None
    }
}

/// One `--tcp` connect check: when it began, how long it took, and the connect time or why
/// there was none (`refused`, `timeout`, a network error in words).
#[derive(Debug, Clone, PartialEq)]
pub struct PortOutcome {
    pub port: u16,
    pub started: SystemTime,
    pub duration: Duration,
    pub connect: Result<Duration, String>,
}

/// `--tcp`'s connect checks, as the cycle gets them: `vitals::scan` implements it and `run`
/// hands it over (the cycle does not import `vitals`).
pub trait PortChecker: Send + Sync {
    /// Connects to every port of `host` at once; outcomes in the order of `ports`.
    fn check<'a>(&'a self, host: &'a str, ports: &'a [u16]) -> BoxFuture<'a, Vec<PortOutcome>>;
}

/// `--trace-on-fail`'s route traces, as the cycle gets them: `vitals::trace` implements it and
/// `run` hands it over. The hops in order, `None` for one that did not answer.
pub trait Tracer: Send + Sync {
    fn trace<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Vec<Option<IpAddr>>, String>>;
}

/// What `ping_each` hands the outcomes to: the index of the first of a run, and the run.
pub type OnEach<'a> = &'a mut (dyn FnMut(usize, &[PingOutcome]) + Send);

/// The body of `ping_many` and `ping_each` for a prober whose per-host pings end by themselves:
/// `ping_one` for every host at once, the outcomes in host order, each handed to `each` (when
/// given) as soon as it and those before it are known, until all are done or `cancel` fires.
pub fn every_host<'a, Fut>(
    hosts: &'a [String],
    ping_one: impl FnMut(&'a String) -> Fut,
    cancel: &'a CancellationToken,
    each: Option<OnEach<'a>>,
) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>>
where
    Fut: std::future::Future<Output = PingOutcome> + Send + 'a,
{
    let all: FuturesOrdered<Fut> = hosts.iter().map(ping_one).collect();
    Box::pin(async move {
        match each {
            Some(each) => in_order(all, cancel, each).await,
            None => in_order(all, cancel, &mut |_, _| {}).await,
        }
    })
}

/// Drives per-host pings in host order (`FuturesOrdered` yields an outcome once those before it
/// are done), handing each to `each`, until all are done or `cancel` fires.
async fn in_order<F>(
    all: FuturesOrdered<F>,
    cancel: &CancellationToken,
    each: &mut (dyn FnMut(usize, &[PingOutcome]) + Send),
) -> Result<Vec<PingOutcome>, Cancelled>
where
    F: std::future::Future<Output = PingOutcome>,
{
    let mut all = std::pin::pin!(all);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Cancelled),
            next = all.next() => match next {
                Some(o) => {
                    each(out.len(), std::slice::from_ref(&o));
                    out.push(o);
                }
                None => return Ok(out),
            },
        }
    }
}

/// Why ICMP cannot be used at all on this machine.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The system refused the socket for lack of permission: say how to grant it.
    #[error(
        "cannot open an ICMP socket (permission denied): {hint}",
        hint = crate::platform::net::ICMP_PERMISSION_HINT
    )]
    PermissionDenied(#[source] std::io::Error),
    /// Neither socket is allowed and there is no `ping` program to fall back to.
    #[error(
        "cannot open an ICMP socket (permission denied) and no `ping` program was found \
         (PATH, /bin, /usr/bin, /sbin, /usr/sbin) to use instead: install one (Debian: \
         `apt-get install iputils-ping`), or {hint}",
        hint = crate::platform::net::ICMP_PERMISSION_HINT
    )]
    NoPingProgram(#[source] std::io::Error),
    #[error("cannot open an ICMP socket: {}", crate::error::io_reason(.0))]
    Socket(#[source] std::io::Error),
}

/// Receive buffer asked for (bytes): 4 MiB, forced past `rmem_max` where allowed (as root,
/// `SO_RCVBUFFORCE`), else as much of it as `rmem_max` gives (the kernel reports twice what it
/// grants, for its bookkeeping). 4 MiB held 2,000 replies in flight in our measurements.
const WANT_RCVBUF: usize = 4 << 20;
/// Bytes of receive buffer one queued reply costs, with headroom: the default 208 KiB buffer
/// began dropping at ~500 replies in flight (~430 bytes each), so 1 KiB is over twice that (a
/// raw socket on loopback also queues our own requests).
const BYTES_PER_REPLY: usize = 1024;
/// The most echoes in flight at once whatever the buffer: 4,096 replies arrive within a few
/// milliseconds even on loopback, and a tunnel's queue (a tun device's 500 packets) is the
/// next limit; more in flight would only make replies wait unread.
const MAX_IN_FLIGHT: usize = 4096;

/// How a host name becomes addresses: the machine's resolver, or a stand-in in tests (which
/// must never ask the machine's resolver).
type Lookup = fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;

fn system_lookup(host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
    Box::pin(async move {
        Ok(tokio::net::lookup_host((host.as_str(), 0))
            .await?
            .map(|a| a.ip())
            .collect())
    })
}

/// Pings through vpnmon's own ICMP sockets (a ping socket where the OS allows it, else raw).
/// Each sweep opens its own sockets (see `sweep`), so sweeps at once never read each other's
/// replies.
pub struct IcmpProber {
    lookup: Lookup,
    /// How many echoes may wait for replies at once (for reports and the benchmark): what the
    /// socket's receive buffer holds, see `WANT_RCVBUF` and `BYTES_PER_REPLY`.
    pub max_in_flight: usize,
    ident: u16,
    /// The echo payload (`vpnmon vitals --payload-size`); `PAYLOAD` by default.
    payload: Vec<u8>,
}

impl IcmpProber {
    /// Opens an IPv4 ICMP socket (datagram if the OS allows it, else raw) to see that one can
    /// be opened and how large its receive buffer gets. Fails with one message that says what
    /// to do when neither is permitted.
    pub fn new() -> Result<IcmpProber, ProbeError> {
        let v4 = sweep::Family::open(false, WANT_RCVBUF, false).map_err(permission_hint)?;
        let max_in_flight = sweep::limit_for(v4.rcvbuf, BYTES_PER_REPLY, MAX_IN_FLIGHT);
        Ok(IcmpProber {
            lookup: system_lookup,
            max_in_flight,
            ident: std::process::id() as u16,
            payload: sweep::PAYLOAD.to_vec(),
        })
    }

    /// Echo requests carry `size` bytes of payload (`vpnmon vitals --payload-size`).
    pub fn with_payload(mut self, size: usize) -> IcmpProber {
        self.payload = sweep::PAYLOAD.iter().copied().cycle().take(size).collect();
        self
    }

    fn sweep<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
        each: Option<OnEach<'a>>,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>> {
        let cfg = sweep::SweepConfig {
            lookup: self.lookup,
            ident: self.ident,
            want_rcvbuf: WANT_RCVBUF,
            bytes_per_reply: BYTES_PER_REPLY,
            max_limit: self.max_in_flight,
            payload: self.payload.as_slice().into(),
        };
        Box::pin(async move {
            let Some((mut batches, thread)) =
                sweep::on_own_thread(sweep::Plan::of(hosts), opts, cancel.clone(), cfg.clone())
            else {
                // No thread to be had: the sweep runs here, on the shared runtime.
                let out = sweep::Handover::Inline(each);
                return sweep::run(sweep::Plan::of(hosts), opts, cancel, out, cfg).await;
            };
            let mut each = each;
            // Outcomes handed to `each` are not kept as well: for 100,000 hosts they would be
            // 12 MB held only to be dropped by the caller.
            let mut all: Vec<PingOutcome> = Vec::new();
            if each.is_none() {
                all.reserve_exact(hosts.len());
            }
            let mut done = 0;
            loop {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Err(Cancelled),
                    batch = batches.recv() => match batch {
                        Some(batch) => {
                            done += batch.len();
                            match each.as_mut() {
                                Some(each) => each(done - batch.len(), &batch),
                                None => all.extend(batch),
                            }
                        }
                        None => break,
                    },
                }
            }
            sweep::join_quietly(thread).await;
            if cancel.is_cancelled() {
                return Err(Cancelled);
            }
            // The sweep's thread ended before every host was done (a bug): the rest say so
            // rather than the cycle passing for stopped.
            let began = SystemTime::now();
            while done < hosts.len() {
                let o = PingOutcome {
                    verdict: Verdict::Fail,
                    stats: PingStats::default(),
                    reason: Some("the sweep ended unexpectedly".into()),
                    started: began,
                    duration: Duration::ZERO,
                };
                match each.as_mut() {
                    Some(each) => each(done, std::slice::from_ref(&o)),
                    None => all.push(o),
                }
                done += 1;
            }
            Ok(all)
        })
    }
}

impl Prober for IcmpProber {
    fn ping_many<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>> {
        self.sweep(hosts, opts, cancel, None)
    }

    fn ping_each<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
        each: OnEach<'a>,
    ) -> BoxFuture<'a, Result<(), Cancelled>> {
        let sweep = self.sweep(hosts, opts, cancel, Some(each));
        Box::pin(async move { sweep.await.map(drop) })
    }

    fn in_flight_limit(&self) -> Option<usize> {
        Some(self.max_in_flight)
    }
}

/// Turns the echoes of one host into a verdict, statistics and a reason.
fn summarize(
    opts: PingOptions,
    rtts: Vec<Duration>,
    errors: &[SurgeError],
    started: SystemTime,
    duration: Duration,
) -> PingOutcome {
    // A network error (no route, unreachable) says more than a timeout.
    let io = errors.iter().find_map(|e| match e {
        SurgeError::IOError(io) => Some(crate::platform::net::io_words(io)),
        _ => None,
    });
    summarize_with(opts, rtts, io, started, duration)
}

/// `summarize` with the network error already in words (`None`: the echoes were only lost).
fn summarize_with(
    opts: PingOptions,
    rtts: Vec<Duration>,
    net_error: Option<String>,
    started: SystemTime,
    duration: Duration,
) -> PingOutcome {
    let mut echoes = Echoes::default();
    for rtt in rtts {
        echoes.add(rtt);
    }
    summarize_stats(opts, echoes, net_error, started, duration)
}

/// The answered echoes of one host, summed as they come (no list kept): the deviation by
/// Welford's running mean and sum of squared differences (stable, one pass).
#[derive(Debug, Clone, Copy, Default)]
struct Echoes {
    received: u32,
    min: Option<Duration>,
    max: Option<Duration>,
    sum: Duration,
    mean_s: f64,
    m2: f64,
}

impl Echoes {
    fn add(&mut self, rtt: Duration) {
        self.received += 1;
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.max = Some(self.max.map_or(rtt, |m| m.max(rtt)));
        self.sum += rtt;
        let x = rtt.as_secs_f64();
        let d = x - self.mean_s;
        self.mean_s += d / f64::from(self.received);
        self.m2 += d * (x - self.mean_s);
    }

    /// The population standard deviation (`ping`'s `mdev`); `None` with no echo answered.
    fn std(&self) -> Option<Duration> {
        (self.received > 0)
            .then(|| Duration::from_secs_f64((self.m2 / f64::from(self.received)).max(0.0).sqrt()))
    }
}

/// `summarize_with` from the echoes' sums.
fn summarize_stats(
    opts: PingOptions,
    echoes: Echoes,
    net_error: Option<String>,
    started: SystemTime,
    duration: Duration,
) -> PingOutcome {
    let received = echoes.received;
    let stats = PingStats {
        sent: opts.count,
        received,
        rtt_min: echoes.min,
        rtt_max: echoes.max,
        rtt_avg: (received > 0).then(|| echoes.sum / received),
        rtt_std: echoes.std(),
    };
    let verdict = Verdict::from_counts(opts.count, received);
    let reason = match verdict {
        Verdict::Good => None,
        _ => {
            let io = net_error;
            let lost = opts.count - received;
            Some(match (io, verdict) {
                (Some(w), _) => w,
                (None, Verdict::Fail) => format!(
                    "no reply to {} echo request{} within {}",
                    opts.count,
                    if opts.count == 1 { "" } else { "s" },
                    seconds(opts.timeout)
                ),
                _ => format!("{lost} of {} echo requests unanswered", opts.count),
            })
        }
    };
    PingOutcome {
        verdict,
        stats,
        reason,
        started,
        duration,
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// An IP address as written, or the first address of a host name (IPv4 preferred: a VPN tunnel
/// usually carries IPv4 only).
async fn resolve(host: &str, lookup: Lookup) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    match tokio::time::timeout(Duration::from_secs(10), lookup(host.to_string())).await {
        Ok(Ok(addrs)) => addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("host name '{host}' has no address")),
        Ok(Err(_)) => Err(format!("cannot resolve host name '{host}'")),
        Err(_) => Err(format!("resolving host name '{host}' timed out")),
    }
}

fn permission_hint(e: std::io::Error) -> ProbeError {
    let denied = matches!(e.kind(), std::io::ErrorKind::PermissionDenied)
        || e.raw_os_error() == Some(1)
        || e.raw_os_error() == Some(13);
    if denied {
        ProbeError::PermissionDenied(e)
    } else {
        ProbeError::Socket(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(count: u32) -> PingOptions {
        PingOptions {
            count,
            timeout: Duration::from_millis(1500),
        }
    }

    #[test]
    fn verdicts_and_reasons() {
        let ms = Duration::from_millis;
        let o = summarize(opts(2), vec![ms(1), ms(3)], &[], SystemTime::now(), ms(3));
        assert_eq!(o.verdict, Verdict::Good);
        assert_eq!(o.stats.rtt_avg, Some(ms(2)));
        // Population deviation of 1 and 3 ms: 1 ms, as `ping`'s mdev.
        assert_eq!(o.stats.rtt_std, Some(ms(1)));
        assert_eq!(o.stats.loss_pct(), Some(0.0));
        assert_eq!(o.reason, None);
        let o = summarize(opts(4), vec![ms(1)], &[], SystemTime::now(), ms(3));
        assert_eq!(o.verdict, Verdict::Warn);
        assert_eq!(o.stats.rtt_std, Some(Duration::ZERO));
        assert_eq!(o.stats.loss_pct(), Some(75.0));
        assert_eq!(o.reason.as_deref(), Some("3 of 4 echo requests unanswered"));
        let o = summarize(opts(2), vec![], &[], SystemTime::now(), ms(3));
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(
            o.reason.as_deref(),
            Some("no reply to 2 echo requests within 1.5 s")
        );
        // A network error's words (platform::net::io_words, whose mapping is tested in the
        // platform files) beat the timeout text.
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let o = summarize(
            opts(2),
            vec![],
            &[SurgeError::IOError(io())],
            SystemTime::now(),
            ms(3),
        );
        assert_eq!(o.reason, Some(crate::platform::net::io_words(&io())));
        assert_eq!(o.reason.as_deref(), Some("connection refused"));
    }

    #[test]
    fn socket_errors_say_what_to_do_and_keep_their_cause() {
        use std::error::Error;
        let e = permission_hint(std::io::Error::from_raw_os_error(1));
        assert_eq!(
            e.to_string(),
            format!(
                "cannot open an ICMP socket (permission denied): {}",
                crate::platform::net::ICMP_PERMISSION_HINT
            )
        );
        assert!(e.source().is_some());
        let e = ProbeError::NoPingProgram(std::io::Error::from_raw_os_error(1));
        assert!(
            e.to_string().starts_with(
                "cannot open an ICMP socket (permission denied) and no `ping` program was found \
                 (PATH, /bin, /usr/bin, /sbin, /usr/sbin) to use instead: install one"
            ),
            "{e}"
        );
        assert!(e
            .to_string()
            .ends_with(crate::platform::net::ICMP_PERMISSION_HINT));
        let e = permission_hint(std::io::Error::other("no buffer space"));
        assert_eq!(e.to_string(), "cannot open an ICMP socket: no buffer space");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("no buffer space")
        );
    }

    /// A resolver that knows no name (tests never ask the machine's resolver).
    fn no_names(host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no such host {host}"),
            ))
        })
    }

    #[tokio::test]
    async fn names_are_resolved_through_the_lookup_ipv4_first() {
        fn both(_: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            Box::pin(async { Ok(vec!["::1".parse().unwrap(), "127.0.0.3".parse().unwrap()]) })
        }
        fn none(_: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        assert_eq!(resolve("gw", both).await, Ok("127.0.0.3".parse().unwrap()));
        assert_eq!(
            resolve("gw", none).await,
            Err("host name 'gw' has no address".to_string())
        );
        assert_eq!(
            resolve("bad", no_names).await,
            Err("cannot resolve host name 'bad'".to_string())
        );
        // An address as written is never looked up.
        assert_eq!(
            resolve("127.0.0.9", no_names).await,
            Ok("127.0.0.9".parse().unwrap())
        );
    }

    // Real ICMP on loopback (the socket prober, the RTT from before the send): tests/icmp_probe.rs,
    // under the run-time harness that reports them ignored where ICMP is not allowed.
}
