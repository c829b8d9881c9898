//! `vpnmon vitals HOST…`: connvitals' connection vitals of each host — ping statistics, a
//! route trace, a limited port scan, `--tcp` connect checks — as plain text or one JSON object
//! per host; all hosts at once, IPv4 and IPv6. Pings go through the `Prober` that `run` chose
//! (the monitor's), traces through trippy-core (`trace.rs`), port checks in `scan.rs`.
//!
//! Imports `probe` (and the leaves); nothing but `run` imports it.

pub mod format;
pub mod monitor;
pub mod scan;
pub mod stats;
pub mod trace;

use crate::probe::{Cancelled, PingOptions, Prober};
use clap::Parser;
use futures::future::join_all;
use scan::{Scan, ScanPorts, TcpCheck};
use stats::PingSummary;
use std::ffi::OsString;
use std::net::IpAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use trace::Hop;

/// vpnmon vitals -- ping statistics, route traces and port checks of hosts (connvitals).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vpnmon vitals",
    max_term_width = 100,
    override_usage = "vpnmon vitals [OPTIONS] <HOST>...\n       vpnmon vitals [OPTIONS] --monitor [FILE]",
    after_help = "Output as connvitals': per host the host line, `min avg max std loss` (ms; loss \
as a fraction; -1 for all when every echo was lost), one `address rtt` line per hop (`*`: no \
answer), and `http https mysql` (`rtt, code, server`; `rtt, version`; `None`: closed), separated \
by tabs; with --json one object per host. Errors and warnings go to stderr as `EE:`/`WW:` lines."
)]
pub struct VitalsCli {
    /// Hosts to check (names or IPv4/IPv6 addresses).
    #[arg(value_name = "HOST", required_unless_present = "monitor")]
    pub hosts: Vec<String>,

    /// Run as connmonitor: read `DOPINGS DOTRACE DOPSCAN NUMPINGS PAYLOAD HOPS JSON SLEEP`,
    /// then one host per line, from FILE (or standard input: no FILE, or `-`); check every
    /// SLEEP ms until stopped; SIGHUP re-reads FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-",
          conflicts_with = "hosts")]
    pub monitor: Option<std::path::PathBuf>,

    /// Echo requests per host.
    #[arg(short = 'p', long = "pings", default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pings: u32,

    /// Send no echo requests.
    #[arg(short = 'P', long = "no-ping")]
    pub no_ping: bool,

    /// Trace the route to each host.
    #[arg(short = 't', long = "trace")]
    pub trace: bool,

    /// Most hops of a route trace.
    #[arg(short = 'H', long = "hops", default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u8).range(1..=64))]
    pub hops: u8,

    /// Check HTTP (80), HTTPS (443) and MySQL/MariaDB (3306).
    #[arg(short = 's', long = "port-scan")]
    pub port_scan: bool,

    /// Bytes of payload in each echo request.
    #[arg(long = "payload-size", default_value_t = 41, value_name = "BYTES",
          value_parser = clap::value_parser!(u16).range(0..=65000))]
    pub payload_size: u16,

    /// One JSON object per host instead of plain text.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Also try a TCP connection to these ports (RTT, or why not).
    #[arg(long = "tcp", value_name = "PORT[,PORT…]", value_delimiter = ',',
          value_parser = clap::value_parser!(u16).range(1..))]
    pub tcp: Vec<u16>,

    /// Tests only: the built-in fake prober (see the monitor's --debug-fake-ping).
    #[arg(long = "debug-fake-ping", hide = true)]
    pub debug_fake_ping: bool,

    /// Tests only: the system's `ping` program instead of a socket.
    #[arg(long = "debug-system-ping", hide = true)]
    pub debug_system_ping: bool,
}

pub fn parse(args: Vec<OsString>) -> Result<VitalsCli, clap::Error> {
    let rest = args.into_iter().skip(2);
    VitalsCli::try_parse_from(std::iter::once(OsString::from("vpnmon vitals")).chain(rest))
}

/// What to check on each host (the command line's, or a connmonitor input file's).
#[derive(Debug, Clone, PartialEq)]
pub struct Checks {
    /// Echo requests per host; `None`: no pings.
    pub pings: Option<u32>,
    pub payload: u16,
    /// Most hops of a trace; `None`: no trace.
    pub trace: Option<u8>,
    pub scan: Option<ScanPorts>,
    pub tcp: Vec<u16>,
    pub json: bool,
}

impl Checks {
    pub fn from_cli(cli: &VitalsCli) -> Checks {
        Checks {
            pings: (!cli.no_ping).then_some(cli.pings),
            payload: cli.payload_size,
            trace: cli.trace.then_some(cli.hops),
            scan: cli.port_scan.then(ScanPorts::default),
            tcp: cli.tcp.clone(),
            json: cli.json,
        }
    }
}

/// Everything learnt about one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostVitals {
    /// The host as given.
    pub name: String,
    pub addr: IpAddr,
    pub ping: Option<PingSummary>,
    pub trace: Option<Vec<Hop>>,
    pub scan: Option<Scan>,
    pub tcp: Vec<TcpCheck>,
}

/// A problem to print as an `EE:` line: its type and description.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: &'static str,
    pub description: String,
}

/// How long one echo reply is awaited.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(1);

/// An address as written (`[::1]` too), `localhost` as 127.0.0.1 (never asked of the
/// resolver), other names through the system's resolver unless `fake` (tests: unresolvable).
pub async fn resolve(host: &str, fake: bool) -> Result<IpAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    if fake {
        return Err(format!("Unable to resolve host ( {host} )"));
    }
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::lookup_host((host, 0u16)),
    )
    .await
    {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("Unable to resolve host ( {host} )")),
        _ => Err(format!("Unable to resolve host ( {host} )")),
    }
}

/// Checks every host at once; results in the order of `hosts` (a host that cannot be resolved
/// is a `Problem`, the others go on).
pub async fn check_all(
    hosts: &[(String, IpAddr)],
    checks: &Checks,
    prober: &dyn Prober,
    cancel: &CancellationToken,
) -> Result<(Vec<HostVitals>, Vec<Problem>), Cancelled> {
    let pings = async {
        let Some(n) = checks.pings else {
            return Ok(None);
        };
        // Every echo of every host at once, as one sweep of single echoes: each outcome is one
        // echo's RTT, so the deviation comes from the prober the monitor uses.
        let n = n as usize;
        let list: Vec<String> = hosts
            .iter()
            .flat_map(|(_, a)| std::iter::repeat_n(a.to_string(), n))
            .collect();
        let opts = PingOptions {
            count: 1,
            timeout: ECHO_TIMEOUT,
        };
        let outcomes = prober.ping_many(&list, opts, cancel).await?;
        Ok(Some(
            outcomes
                .chunks(n.max(1))
                .map(|c| {
                    let rtts: Vec<Duration> = c
                        .iter()
                        .filter(|o| o.stats.received > 0)
                        .filter_map(|o| o.stats.rtt_avg)
                        .collect();
                    PingSummary::of(n, &rtts)
                })
                .collect::<Vec<_>>(),
        ))
    };
    let traces = async {
        match checks.trace {
            None => None,
            Some(h) => Some(join_all(hosts.iter().map(|(_, a)| trace::trace(*a, h))).await),
        }
    };
    let scans = async {
        match checks.scan {
            None => None,
            Some(ports) => Some(
                join_all(
                    hosts
                        .iter()
                        .map(|(n, a)| scan::scan(n, *a, ports, scan::CHECK_TIMEOUT)),
                )
                .await,
            ),
        }
    };
    let tcps = join_all(
        hosts
            .iter()
            .map(|(_, a)| scan::tcp_checks(*a, &checks.tcp, scan::CHECK_TIMEOUT)),
    );
    let work = async { tokio::join!(pings, traces, scans, tcps) };
    let (pings, traces, scans, tcps) = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(Cancelled),
        r = work => r,
    };
    let pings = pings?;
    let mut problems = Vec::new();
    let mut traces = traces.map(|t| t.into_iter());
    let mut scans = scans.map(|s| s.into_iter());
    let mut tcps = tcps.into_iter();
    let mut out = Vec::with_capacity(hosts.len());
    for (i, (name, addr)) in hosts.iter().enumerate() {
        let trace = match traces.as_mut().and_then(|t| t.next()) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                let d = e.to_string();
                if !problems.iter().any(|p: &Problem| p.description == d) {
                    problems.push(Problem {
                        kind: "TraceError",
                        description: d,
                    });
                }
                None
            }
            None => None,
        };
        out.push(HostVitals {
            name: name.clone(),
            addr: *addr,
            ping: pings.as_ref().map(|p| p[i]),
            trace,
            scan: scans.as_mut().and_then(|s| s.next()),
            tcp: tcps.next().unwrap_or_default(),
        });
    }
    Ok((out, problems))
}

/// Where `run` writes: results, and `EE:`/`WW:` lines (red/yellow on a terminal).
pub trait Output {
    fn result(&mut self, text: &str);
    fn error(&mut self, line: &str);
    fn warning(&mut self, line: &str);
}

/// `vpnmon vitals HOST…`: resolves, checks all hosts at once, prints each host in the order
/// given. `Ok(true)` when every host was checked without an error line.
pub async fn run(
    cli: &VitalsCli,
    prober: &dyn Prober,
    cancel: &CancellationToken,
    out: &mut dyn Output,
) -> Result<bool, Cancelled> {
    let checks = Checks::from_cli(cli);
    let now = || format::ctime(chrono::Local::now());
    let resolved = join_all(
        cli.hosts
            .iter()
            .map(|h| async move { (h.clone(), resolve(h, cli.debug_fake_ping).await) }),
    )
    .await;
    let mut ok = true;
    let mut hosts = Vec::new();
    for (name, r) in resolved {
        match r {
            Ok(a) => hosts.push((name, a)),
            Err(e) => {
                ok = false;
                out.error(&format::error_line("Exception", &e, &now()));
            }
        }
    }
    let (results, problems) = check_all(&hosts, &checks, prober, cancel).await?;
    for p in &problems {
        ok = false;
        out.error(&format::error_line(p.kind, &p.description, &now()));
    }
    for v in &results {
        if checks.json {
            out.result(&format!("{}\n", format::json(v, None)));
        } else {
            out.result(&format::plain(v, None));
        }
    }
    Ok(ok)
}
