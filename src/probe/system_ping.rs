//! The fallback prober: the system's `ping` program (setuid or file-capability on every Unix
//! distribution), one child per host, run concurrently under an in-flight cap, its output read
//! by `ping_output`. Used only when neither an ICMP ping socket nor a raw socket is allowed.
//!
//! Host names are resolved here, as `IcmpProber` does, so `ping` only ever gets an IP address
//! literal as its last argument (never a shell, never a string that could be an option) and the
//! reasons and the IPv4-first choice are the socket prober's. Children run with `LC_ALL=C` in a
//! process group of their own (a terminal's Ctrl-C reaches vpnmon only), and are ended by pid
//! and reaped when the sweep is cancelled or a child outlives its deadline.

use super::ping_output::{self, PingReport};
use super::{resolve, Cancelled, Lookup, PingOptions, PingOutcome, Prober};
use crate::record::{PingStats, Verdict};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Time between the echoes of one host: the smallest interval every iputils release allows an
/// unprivileged user (older ones refuse less with "cannot flood"); BusyBox accepts it too.
pub const ECHO_INTERVAL: Duration = Duration::from_millis(200);
/// Echoes in flight at once. The socket prober's cap comes from its receive buffer; here each
/// echo in flight is part of a child process with two pipes, so the cap also bounds processes
/// (128 with two echoes each) and file descriptors well under the usual limit of 1024.
pub const MAX_IN_FLIGHT: usize = 256;
/// How long a child may run past its last echo's timeout before it is ended.
const GRACE: Duration = Duration::from_millis(500);
/// Output kept per stream: a run of a few echoes prints well under 1 KiB.
const MAX_OUTPUT: u64 = 64 * 1024;

/// Where `ping` is looked for after PATH (a service's PATH may lack the sbin directories).
const PING_DIRS: [&str; 4] = ["/bin", "/usr/bin", "/sbin", "/usr/sbin"];

/// The system's `ping` program: on PATH, else in the usual directories.
pub fn find_ping() -> Option<PathBuf> {
    which::which("ping").ok().or_else(|| {
        PING_DIRS
            .iter()
            .map(|d| Path::new(d).join("ping"))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

pub struct SystemPingProber {
    program: PathBuf,
    lookup: Lookup,
    in_flight: Arc<Semaphore>,
}

impl SystemPingProber {
    pub fn new(program: PathBuf) -> SystemPingProber {
        SystemPingProber {
            program,
            lookup: super::system_lookup,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// The program in use (for the start-up notice).
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// One host; `None` when the sweep was cancelled (its child, if any, ended and reaped).
    async fn ping_host(
        &self,
        host: &str,
        opts: PingOptions,
        cancel: &CancellationToken,
    ) -> Option<PingOutcome> {
        let start = Instant::now();
        let began = SystemTime::now();
        let fail = |reason: String, sent: u32, started: SystemTime| PingOutcome {
            verdict: Verdict::Fail,
            stats: PingStats {
                sent,
                ..PingStats::default()
            },
            reason: Some(reason),
            started,
            duration: start.elapsed(),
        };
        let ip = tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            r = resolve(host, self.lookup) => match r {
                Ok(ip) => ip,
                Err(reason) => return Some(fail(reason, 0, began)),
            },
        };
        if opts.count == 0 {
            return Some(super::summarize_with(
                opts,
                Vec::new(),
                None,
                began,
                start.elapsed(),
            ));
        }
        let want = opts.count.min(MAX_IN_FLIGHT as u32);
        let _permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            p = self.in_flight.clone().acquire_many_owned(want) => p.ok()?,
        };
        // The first echo goes out as the child starts, after its turn under the cap.
        let started = SystemTime::now();
        let run = match self.run_ping(ip, opts, cancel).await {
            Ok(Some(run)) => run,
            Ok(None) => return None,
            Err(e) => {
                return Some(fail(
                    format!(
                        "cannot run {}: {}",
                        self.program.display(),
                        crate::error::io_reason(&e)
                    ),
                    0,
                    started,
                ))
            }
        };
        Some(outcome(opts, &run, started, start.elapsed()))
    }

    /// Runs `ping` for `ip` to its end, or ends it at its deadline; `Ok(None)` if cancelled.
    async fn run_ping(
        &self,
        ip: IpAddr,
        opts: PingOptions,
        cancel: &CancellationToken,
    ) -> std::io::Result<Option<Run>> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(ping_args(ip, opts))
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn()?;
        let (mut out, mut err) = (String::new(), String::new());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let deadline = deadline(opts);
        let ended = {
            let reading = async {
                tokio::join!(read_lines(stdout, &mut out), read_lines(stderr, &mut err));
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => End::Cancelled,
                _ = tokio::time::sleep(deadline) => End::Deadline,
                _ = reading => End::Exited,
            }
        };
        // Ended by pid and reaped in every case: never left running or as a zombie.
        let status = match ended {
            End::Exited => tokio::time::timeout(GRACE, child.wait()).await.ok(),
            _ => None,
        };
        let status = match status {
            Some(s) => Some(s?),
            None => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                None
            }
        };
        if ended == End::Cancelled {
            return Ok(None);
        }
        Ok(Some(Run {
            report: ping_output::parse(&out, &err),
            status: status.and_then(|s| s.code()),
            timed_out: ended == End::Deadline || status.is_none(),
            first_line: out.lines().chain(err.lines()).next().map(str::to_string),
            stderr_line: err.lines().next().map(str::to_string),
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exited,
    Deadline,
    Cancelled,
}

/// One finished (or ended) run of `ping`.
#[derive(Debug)]
struct Run {
    report: PingReport,
    status: Option<i32>,
    /// Ended by vpnmon at its deadline (or killed by a signal).
    timed_out: bool,
    first_line: Option<String>,
    stderr_line: Option<String>,
}

/// Reads lines into `into` until the end or `MAX_OUTPUT` bytes (the rest is drained unread so
/// the child never blocks on a full pipe). Lines read stay in `into` if this is cancelled.
async fn read_lines(stream: Option<impl AsyncRead + Unpin>, into: &mut String) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream.take(MAX_OUTPUT));
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => into.push_str(&String::from_utf8_lossy(&line)),
        }
    }
    let mut rest = reader.into_inner().into_inner();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
}

/// `-n -c COUNT -i 0.2 -W SECONDS ADDRESS`: understood alike by iputils and BusyBox. The wait is
/// whole seconds (BusyBox takes no fraction); replies slower than the timeout are dropped when
/// the outcome is made, as the socket prober would have stopped waiting for them.
fn ping_args(ip: IpAddr, opts: PingOptions) -> Vec<String> {
    vec![
        "-n".into(),
        "-c".into(),
        opts.count.to_string(),
        "-i".into(),
        format!("{}", ECHO_INTERVAL.as_secs_f64()),
        "-W".into(),
        wait_seconds(opts.timeout).to_string(),
        // An IpAddr's text is digits, dots, colons and hex: it cannot start with '-'.
        ip.to_string(),
    ]
}

fn wait_seconds(timeout: Duration) -> u64 {
    timeout.as_secs_f64().ceil().max(1.0) as u64
}

/// When a child is ended: after its last echo's wait, plus a grace.
fn deadline(opts: PingOptions) -> Duration {
    ECHO_INTERVAL * opts.count.saturating_sub(1)
        + Duration::from_secs(wait_seconds(opts.timeout))
        + GRACE
}

/// Turns one run into the socket prober's outcome: the same verdicts, RTTs and reasons.
fn outcome(opts: PingOptions, run: &Run, started: SystemTime, duration: Duration) -> PingOutcome {
    let r = &run.report;
    let rtts: Vec<Duration> = r
        .replies
        .iter()
        .map(|x| x.rtt)
        .filter(|rtt| *rtt <= opts.timeout)
        .take(opts.count as usize)
        .collect();
    let understood = !r.replies.is_empty() || r.transmitted.is_some() || r.error.is_some();
    let reason = if understood || run.timed_out {
        r.error.clone()
    } else {
        // Neither a reply, a summary nor a known error: say what the program said.
        let said = run
            .stderr_line
            .as_ref()
            .or(run.first_line.as_ref())
            .map(|l| crate::text::escape(l.trim()))
            .map(|l| l.chars().take(200).collect::<String>());
        Some(match (run.status, said) {
            (Some(c), Some(s)) => format!("ping exited with status {c}: {s}"),
            (Some(c), None) => format!("ping exited with status {c} without a result"),
            (None, Some(s)) => format!("ping ended without a result: {s}"),
            (None, None) => "ping ended without a result".to_string(),
        })
    };
    if rtts.is_empty() && run.timed_out && !understood {
        // A child that printed nothing before its deadline: a hung program, said as such.
        return super::summarize_with(
            opts,
            rtts,
            Some(format!(
                "ping gave no result within {}",
                super::seconds(deadline(opts))
            )),
            started,
            duration,
        );
    }
    super::summarize_with(opts, rtts, reason, started, duration)
}

impl Prober for SystemPingProber {
    fn ping_many<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>> {
        Box::pin(async move {
            let all: FuturesOrdered<_> = hosts
                .iter()
                .map(|h| self.ping_host(h, opts, cancel))
                .collect();
            // Every host's future runs to its end (a cancelled one ends and reaps its child
            // first), so no child outlives the sweep.
            let outcomes: Vec<Option<PingOutcome>> = all.collect().await;
            if cancel.is_cancelled() {
                return Err(Cancelled);
            }
            outcomes.into_iter().map(|o| o.ok_or(Cancelled)).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(count: u32, ms: u64) -> PingOptions {
        PingOptions {
            count,
            timeout: Duration::from_millis(ms),
        }
    }

    fn run(out: &str, err: &str, status: Option<i32>, timed_out: bool) -> Run {
        Run {
            report: ping_output::parse(out, err),
            status,
            timed_out,
            first_line: out.lines().chain(err.lines()).next().map(str::to_string),
            stderr_line: err.lines().next().map(str::to_string),
        }
    }

    fn fixture(name: &str) -> Run {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ping");
        let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
        let rc = read("rc").trim().parse().unwrap();
        run(&read("out"), &read("err"), Some(rc), false)
    }

    #[test]
    fn arguments_end_with_the_address_and_never_an_option() {
        let a = ping_args("::1".parse().unwrap(), opts(3, 1500));
        assert_eq!(a, ["-n", "-c", "3", "-i", "0.2", "-W", "2", "::1"]);
        let a = ping_args("127.0.0.1".parse().unwrap(), opts(1, 200));
        assert_eq!(a.last().unwrap(), "127.0.0.1");
        assert_eq!(a[6], "1");
        assert_eq!(deadline(opts(3, 1500)), Duration::from_millis(2900));
    }

    #[test]
    fn fixtures_give_the_socket_probers_verdicts() {
        let now = SystemTime::now();
        let d = Duration::ZERO;
        let o = outcome(opts(3, 1000), &fixture("iputils-ok-v4"), now, d);
        assert_eq!(o.verdict, Verdict::Good);
        assert_eq!(o.stats.received, 3);
        assert_eq!(o.stats.rtt_min, Some(Duration::from_micros(35)));
        assert_eq!(o.stats.rtt_max, Some(Duration::from_micros(87)));
        assert_eq!(o.reason, None);
        let o = outcome(opts(4, 1000), &fixture("busybox-partial"), now, d);
        assert_eq!(o.verdict, Verdict::Warn);
        assert_eq!(o.reason.as_deref(), Some("2 of 4 echo requests unanswered"));
        let o = outcome(opts(2, 1000), &fixture("iputils-dead"), now, d);
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(
            o.reason.as_deref(),
            Some("no reply to 2 echo requests within 1 s")
        );
        let o = outcome(opts(2, 1000), &fixture("busybox-net-unreachable"), now, d);
        assert_eq!(
            (o.verdict, o.reason.as_deref()),
            (Verdict::Fail, Some("network unreachable"))
        );
        let o = outcome(opts(4, 1000), &fixture("iputils-host-unreachable"), now, d);
        assert_eq!(o.reason.as_deref(), Some("destination host unreachable"));
    }

    #[test]
    fn replies_slower_than_the_timeout_are_lost() {
        let out = "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=150 ms\n\
                   64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=2500 ms\n";
        let o = outcome(
            opts(2, 1000),
            &run(out, "", Some(0), false),
            SystemTime::now(),
            Duration::ZERO,
        );
        assert_eq!(o.verdict, Verdict::Warn);
        assert_eq!(o.stats.rtt_max, Some(Duration::from_millis(150)));
    }

    #[test]
    fn unexpected_output_and_hangs_are_clear_fails() {
        let now = SystemTime::now();
        let d = Duration::ZERO;
        let o = outcome(
            opts(2, 1000),
            &run("", "ping: invalid option -- 'W'\nUsage: …", Some(2), false),
            now,
            d,
        );
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(
            o.reason.as_deref(),
            Some("ping exited with status 2: ping: invalid option -- 'W'")
        );
        let o = outcome(opts(2, 1000), &run("", "", Some(0), false), now, d);
        assert_eq!(
            o.reason.as_deref(),
            Some("ping exited with status 0 without a result")
        );
        let o = outcome(opts(2, 1000), &run("", "", None, true), now, d);
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(
            o.reason.as_deref(),
            Some("ping gave no result within 1.7 s")
        );
        // A control character in what the program said never reaches the terminal raw.
        let o = outcome(
            opts(1, 1000),
            &run("\u{1b}[2Jboom", "", Some(1), false),
            now,
            d,
        );
        assert!(!o.reason.unwrap().contains('\u{1b}'));
    }

    /// A stand-in for `ping`: a shell script in a temporary folder.
    #[cfg(unix)]
    fn stand_in(body: &str) -> (tempfile::TempDir, SystemPingProber) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ping");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, SystemPingProber::new(path))
    }

    fn pid_alive(pid: &str) -> bool {
        Path::new("/proc").join(pid.trim()).exists()
    }

    /// A `ping` that never ends is ended at its deadline and reaped; the host fails, saying so.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_hung_ping_is_ended_at_its_deadline() {
        let (dir, p) = stand_in("echo $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 30");
        let t = Instant::now();
        let hosts = vec!["127.0.0.1".to_string()];
        let out = p
            .ping_many(&hosts, opts(1, 200), &CancellationToken::new())
            .await
            .unwrap();
        let took = t.elapsed();
        assert_eq!(out[0].verdict, Verdict::Fail);
        assert_eq!(
            out[0].reason.as_deref(),
            Some("ping gave no result within 1.5 s")
        );
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
            "{took:?}"
        );
        let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
        assert!(!pid_alive(&pid), "the hung ping {pid} still exists");
    }

    /// A cancelled sweep ends its children at once (and reaps them) and says Cancelled.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn cancelling_ends_the_children() {
        let (dir, p) = stand_in("echo $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 30");
        let cancel = CancellationToken::new();
        let hosts = vec!["127.0.0.1".to_string()];
        let pid_file = dir.path().join("pid");
        let watcher = {
            let cancel = cancel.clone();
            let pid_file = pid_file.clone();
            tokio::spawn(async move {
                // The child has started once it wrote its pid (no other event to await).
                while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                cancel.cancel();
            })
        };
        let t = Instant::now();
        let r = p.ping_many(&hosts, opts(2, 5000), &cancel).await;
        assert_eq!(r, Err(Cancelled));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        watcher.await.unwrap();
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        assert!(!pid_alive(&pid), "the cancelled ping {pid} still exists");
    }

    /// The address is the last argument, after the options, and nothing reaches a shell.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_program_gets_the_address_as_its_last_argument() {
        let (_dir, mut p) = stand_in("for a; do last=$a; done; echo \"last: $last\" >&2; exit 3");
        // Tests never ask the machine's resolver.
        fn no_names(host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            Box::pin(async move { Err(std::io::Error::other(format!("no host {host}"))) })
        }
        p.lookup = no_names;
        let hosts = vec!["::1".to_string(), "-c".to_string(), "$(reboot)".to_string()];
        let out = p
            .ping_many(&hosts, opts(2, 1000), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(
            out[0].reason.as_deref(),
            Some("ping exited with status 3: last: ::1")
        );
        // Host names that are not addresses are resolved first (here: by no resolver) and never
        // given to the program.
        p_lookup_check(&out[1], "-c");
        p_lookup_check(&out[2], "$(reboot)");
    }

    fn p_lookup_check(o: &PingOutcome, host: &str) {
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(o.stats.sent, 0, "{o:?}");
        assert!(o.reason.as_deref().unwrap().contains(host), "{o:?}");
    }

    // The real iputils and BusyBox programs on loopback: tests/icmp_probe.rs (run-time harness).
}
