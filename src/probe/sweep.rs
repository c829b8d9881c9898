//! One sweep of `IcmpProber`: every echo of every host sent and awaited by one loop that owns
//! one socket per address family, instead of a task, a timer and a reply channel per echo.
//!
//! - **Slot table.** An echo in flight is a slot indexed by its sequence number (a `u16`, so the
//!   table is 65,536 small entries whatever the list's size): the host it was sent to, its
//!   number in the sweep and the moment just before its send (the RTT counts the send, as the
//!   patched surge-ping did). A reply finds its echo by sequence and must come from that host.
//! - **Deadline queue.** Every echo waits the same timeout and echoes are sent in order, so their
//!   deadlines are in order too: a `VecDeque` whose front is the next to expire, one timer for
//!   the whole sweep.
//! - **In-flight limit.** At most `limit` echoes wait at once (see `IcmpProber::new`, derived from
//!   the socket's receive buffer): replies beyond what the buffer holds would be dropped by the
//!   kernel and read as false Fails. A list with more echoes than that is sent in waves: the
//!   next echo goes out as soon as one is answered or expires (the monitor says so).
//! - Hosts finish in any order; their outcomes are handed over in host order.

use super::{
    resolve, summarize_stats, Cancelled, Echoes, Lookup, OnEach, PingOptions, PingOutcome,
};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant, SystemTime};
use surge_ping::{AsyncSocket, Config, ICMP};
use tokio_util::sync::CancellationToken;

/// Sequence numbers are process-wide, so sweeps running at once (each with its own sockets)
/// never answer each other's raw-socket replies.
static NEXT_SEQ: AtomicU16 = AtomicU16::new(1);

/// The echo request's default payload after the 8-byte ICMP header.
pub(super) const PAYLOAD: [u8; 16] = *b"vpnmon-echo-0123";
/// Replies read in one go before the loop sends again: the replies of the first echoes make
/// room for the next ones without letting the queue of unread replies grow.
const READ_BURST: usize = 256;
/// Sends between two reads of what has arrived during a burst of sends (see `run`).
const READ_EVERY: usize = 32;
/// Hosts done during a burst of sends before their outcomes are handed over (a batch of at most
/// about this many: half a megabyte; a list of a few thousand goes over in one).
const HAND_OVER_AT: usize = 4096;

/// An ICMP socket of one family and how to read what it receives.
pub(super) struct Family {
    socket: AsyncSocket,
    /// The IP header comes before the ICMP message (raw sockets; ping sockets outside Linux).
    ip_header: bool,
    /// The identifier is ours to set and check (all but Linux ping sockets, whose kernel sets
    /// it and delivers only the socket's own replies).
    own_ident: bool,
    v6: bool,
    /// The TTL of the IP headers the sweep writes itself (`platform::net::include_ip_header`:
    /// a raw IPv4 socket on Linux, for echoes small enough never to need fragmenting); `None`
    /// where the kernel writes them.
    own_header_ttl: Option<u8>,
    /// The receive buffer in effect (bytes).
    pub(super) rcvbuf: usize,
}

impl Family {
    /// Opens an ICMP socket of the family (a ping socket where allowed, else raw) with its
    /// receive buffer raised to `want` bytes. `small`: every echo fits the 576 bytes any IPv4
    /// link carries, so a raw socket may send headers of its own (which the kernel does not
    /// fragment).
    pub(super) fn open(v6: bool, want: usize, small: bool) -> std::io::Result<Family> {
        let kind = if v6 { ICMP::V6 } else { ICMP::V4 };
        let socket = AsyncSocket::new(&Config::builder().kind(kind).build())?;
        let dgram = socket.get_type() == socket2::Type::DGRAM;
        let linux_ping_socket = dgram && cfg!(any(target_os = "linux", target_os = "android"));
        let rcvbuf = crate::platform::net::raise_rcvbuf(&socket, want);
        let raw_v4 = !v6 && socket.get_type() == socket2::Type::RAW;
        if raw_v4 {
            crate::platform::net::only_echo_replies(&socket);
        }
        let own_header_ttl = if raw_v4 && small {
            crate::platform::net::include_ip_header(&socket)
        } else {
            None
        };
        Ok(Family {
            socket,
            // An ICMPv6 socket never hands over the IPv6 header.
            ip_header: !v6 && !linux_ping_socket,
            own_ident: !linux_ping_socket,
            v6,
            own_header_ttl,
            rcvbuf,
        })
    }
}

/// An echo request: type (8 for IPv4, 128 for ICMPv6), code 0, checksum, identifier, sequence,
/// payload. The checksum is computed for IPv4 (the kernel computes ICMPv6's, and a Linux ping
/// socket its own). Written into `p`: one buffer serves all the echoes of a sweep.
///
/// With `ip` (the TTL and the destination: a socket that takes our IP headers) an IPv4 header
/// comes first: version 4, 20 bytes, identification = the sequence number (never 0, which would
/// have the kernel choose one), don't-fragment as the kernel sets it on small packets, protocol
/// ICMP; the kernel fills in the total length, the source address and the header checksum.
fn echo_request_into(
    p: &mut Vec<u8>,
    ip: Option<(u8, std::net::Ipv4Addr)>,
    v6: bool,
    ident: u16,
    seq: u16,
    payload: &[u8],
) {
    p.clear();
    if let Some((ttl, to)) = ip {
        let id = seq.max(1).to_be_bytes();
        p.extend_from_slice(&[
            0x45, 0, 0, 0, id[0], id[1], 0x40, 0, ttl, 1, 0, 0, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(&to.octets());
    }
    let icmp = p.len();
    p.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let sum = checksum(&p[icmp..]);
        p[icmp + 2..icmp + 4].copy_from_slice(&sum.to_be_bytes());
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The identifier and sequence of an echo reply, or `None` for anything else (our own
/// requests seen by a raw socket on loopback, errors, other programs' traffic, short packets).
pub(super) fn echo_reply(msg: &[u8], ip_header: bool, v6: bool) -> Option<(u16, u16)> {
    let icmp = if ip_header {
        let ihl = usize::from(msg.first()? & 0x0f) * 4;
        msg.get(ihl..)?
    } else {
        msg
    };
    let reply_type = if v6 { 129 } else { 0 };
    if icmp.len() < 8 || icmp[0] != reply_type || icmp[1] != 0 {
        return None;
    }
    Some((
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    ))
}

const FREE: u32 = u32::MAX;

/// An echo in flight, at the index of its sequence number.
#[derive(Clone, Copy)]
struct Slot {
    host: u32,
    /// The echo's number in this sweep: a deadline or a reply applies to this very echo, not to
    /// a later one that reused the sequence number.
    echo: u32,
    sent: Instant,
}

/// One host's echoes so far.
#[derive(Default)]
struct Host {
    /// Echoes not yet sent.
    unsent: u32,
    /// Echoes sent and neither answered nor expired.
    waiting: u32,
    echoes: Echoes,
    first_sent: Option<SystemTime>,
    net_error: Option<String>,
}

/// What a sweep needs from its prober.
#[derive(Clone)]
pub(super) struct SweepConfig {
    pub lookup: Lookup,
    pub ident: u16,
    pub want_rcvbuf: usize,
    pub bytes_per_reply: usize,
    pub max_limit: usize,
    /// The payload of every echo request (`vpnmon vitals --payload-size`).
    pub payload: std::sync::Arc<[u8]>,
}

/// The in-flight limit a receive buffer of `rcvbuf` bytes allows.
pub(super) fn limit_for(rcvbuf: usize, bytes_per_reply: usize, max: usize) -> usize {
    (rcvbuf / bytes_per_reply).clamp(64, max)
}

struct Sweep<'a> {
    opts: PingOptions,
    ident: u16,
    hosts: Vec<Host>,
    ips: Vec<Option<IpAddr>>,
    outcomes: Vec<Option<PingOutcome>>,
    slots: Vec<Slot>,
    deadlines: VecDeque<(Instant, u16, u32)>,
    in_flight: usize,
    limit: usize,
    echo_no: u32,
    began: SystemTime,
    start: Instant,
    out: Handover<'a>,
    handed: usize,
    /// Hosts done since the last hand-over.
    done_since_hand_over: usize,
}

/// Where finished outcomes go, in host order.
pub(super) enum Handover<'a> {
    /// To `each` (if any) as they are known, and all of them returned at the end.
    Inline(Option<OnEach<'a>>),
    /// Moved, in batches, to the async side (the sweep runs on its own thread).
    Batches(tokio::sync::mpsc::UnboundedSender<Vec<PingOutcome>>),
}

impl Sweep<'_> {
    /// Ends host `i` (all its echoes answered, expired or refused).
    fn finish(&mut self, i: usize) {
        self.done_since_hand_over += 1;
        let h = std::mem::take(&mut self.hosts[i]);
        let started = h.first_sent.unwrap_or(self.began);
        self.outcomes[i] = Some(summarize_stats(
            self.opts,
            h.echoes,
            h.net_error,
            started,
            self.start.elapsed(),
        ));
    }

    /// Ends host `i` without an echo (its name did not resolve, no socket for its family).
    fn fail(&mut self, i: usize, reason: String) {
        self.done_since_hand_over += 1;
        self.hosts[i] = Host::default();
        self.outcomes[i] = Some(PingOutcome {
            verdict: crate::record::Verdict::Fail,
            stats: crate::record::PingStats::default(),
            reason: Some(reason),
            started: self.began,
            duration: self.start.elapsed(),
        });
    }

    /// One echo of host `i` answered (`rtt`) or not (`None`).
    fn settle(&mut self, i: usize, rtt: Option<Duration>) {
        let h = &mut self.hosts[i];
        h.waiting -= 1;
        if let Some(rtt) = rtt {
            h.echoes.add(rtt);
        }
        if h.waiting == 0 && h.unsent == 0 {
            self.finish(i);
        }
    }

    fn on_packet(&mut self, fam: &Family, msg: &[u8], from: IpAddr, at: Instant) {
        let Some((ident, seq)) = echo_reply(msg, fam.ip_header, fam.v6) else {
            return;
        };
        if fam.own_ident && ident != self.ident {
            return;
        }
        let slot = self.slots[usize::from(seq)];
        if slot.host == FREE || self.ips[slot.host as usize] != Some(from) {
            return;
        }
        self.slots[usize::from(seq)].host = FREE;
        self.in_flight -= 1;
        self.settle(
            slot.host as usize,
            Some(at.saturating_duration_since(slot.sent)),
        );
    }

    /// Echoes whose deadline has passed are lost.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, seq, echo)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let slot = self.slots[usize::from(seq)];
            if slot.host != FREE && slot.echo == echo {
                self.slots[usize::from(seq)].host = FREE;
                self.in_flight -= 1;
                self.settle(slot.host as usize, None);
            }
        }
    }

    /// A free sequence number (one is always free: at most `limit` < 65,536 are in flight here,
    /// and other sweeps' numbers are skipped when the counter comes round to ours).
    fn free_seq(&self) -> u16 {
        loop {
            let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
            if self.slots[usize::from(seq)].host == FREE {
                return seq;
            }
        }
    }

    /// Outcomes known for every host up to here go on, in host order.
    fn hand_over(&mut self) {
        self.done_since_hand_over = 0;
        match &mut self.out {
            Handover::Inline(each) => {
                while let Some(Some(o)) = self.outcomes.get(self.handed) {
                    if let Some(each) = each.as_mut() {
                        each(self.handed, std::slice::from_ref(o));
                    }
                    self.handed += 1;
                }
            }
            Handover::Batches(tx) => {
                let mut batch = Vec::new();
                while let Some(Some(_)) = self.outcomes.get(self.handed) {
                    batch.extend(self.outcomes[self.handed].take());
                    self.handed += 1;
                }
                if !batch.is_empty() {
                    // The receiver gone means the caller stopped waiting: `run` sees it too.
                    let _ = tx.send(batch);
                }
            }
        }
    }
}

/// Reads what `fam` has received, up to `READ_BURST` replies, without waiting: straight from
/// the socket (`platform::net::recv_now`), so also in the middle of a burst of sends, and
/// without a future per read (a large sweep reads tens of thousands of replies).
fn read_ready(sweep: &mut Sweep<'_>, fam: &Family, buf: &mut [u8]) {
    for _ in 0..READ_BURST {
        match crate::platform::net::recv_now(&fam.socket, buf) {
            Ok((n, Some(from))) => sweep.on_packet(fam, &buf[..n], from, Instant::now()),
            Ok((_, None)) => {} // no IP source: not an echo reply
            Err(_) => return,
        }
    }
}

/// Waits for one packet on `fam` (never, without one).
async fn recv(fam: Option<&Family>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match fam {
        Some(f) => f.socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The hosts of a sweep: addresses as written, and the names to resolve (with their index).
pub(super) struct Plan {
    ips: Vec<Option<IpAddr>>,
    names: Vec<(usize, String)>,
}

impl Plan {
    pub(super) fn of(hosts: &[String]) -> Plan {
        let mut names = Vec::new();
        let ips = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                h.parse::<IpAddr>()
                    .inspect_err(|_| names.push((i, h.clone())))
                    .ok()
            })
            .collect();
        Plan { ips, names }
    }
}

/// Runs the sweep on a thread of its own, with a single-threaded runtime that owns the sockets:
/// that thread sends, reads and waits, so the many replies of a large list wake no other
/// thread (on the shared multi-threaded runtime each reply woke a worker parked on the sockets,
/// which then woke the sweep: a context switch per echo). Outcomes come back in batches, in
/// host order; the channel closes when the sweep ends. `None` when no thread can be started.
///
/// The caller joins the thread once the channel closed ([`join_quietly`]): a sweep thread still
/// ending (dropping its runtime) while the next sweep starts would make the next one take a new
/// thread stack and a new allocator arena, and over tens of thousands of cycles those add up to
/// megabytes of RSS (seen as +3 MB over 27,000 cycles); joined, each sweep reuses the last one's.
pub(super) fn on_own_thread(
    plan: Plan,
    opts: PingOptions,
    cancel: CancellationToken,
    cfg: SweepConfig,
) -> Option<(
    tokio::sync::mpsc::UnboundedReceiver<Vec<PingOutcome>>,
    std::thread::JoinHandle<()>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name("vpnmon-sweep".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return; // the channel closes: the caller says the sweep ended unexpectedly
            };
            rt.block_on(async {
                let closed = tx.clone();
                tokio::select! {
                    _ = run(plan, opts, &cancel, Handover::Batches(tx), cfg) => {}
                    // The caller stopped waiting (its future was dropped).
                    () = closed.closed() => {}
                }
            });
        })
        .ok()?;
    Some((rx, thread))
}

/// Waits, off the async workers, for a sweep's thread to be gone (see [`on_own_thread`]). Its
/// channel has closed, so only the runtime's drop is left: this is quick.
pub(super) async fn join_quietly(thread: std::thread::JoinHandle<()>) {
    // A panic on the sweep's thread was already seen as the channel closing early.
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
}

/// Pings the hosts of `plan`, each `opts.count` times; see the module's comment.
pub(super) async fn run(
    plan: Plan,
    opts: PingOptions,
    cancel: &CancellationToken,
    out: Handover<'_>,
    cfg: SweepConfig,
) -> Result<Vec<PingOutcome>, Cancelled> {
    let Plan {
        ips,
        names: mut to_resolve,
    } = plan;
    let lookup = cfg.lookup;
    let n = ips.len();
    let mut s = Sweep {
        opts,
        ident: cfg.ident,
        hosts: Vec::with_capacity(n),
        ips,
        outcomes: Vec::new(),
        slots: vec![
            Slot {
                host: FREE,
                echo: 0,
                sent: Instant::now(),
            };
            1 << 16
        ],
        deadlines: VecDeque::new(),
        in_flight: 0,
        limit: cfg.max_limit,
        echo_no: 0,
        began: SystemTime::now(),
        start: Instant::now(),
        out,
        handed: 0,
        done_since_hand_over: 0,
    };
    s.outcomes.resize_with(n, || None);
    // Names are resolved while the addresses as written are already pinged; a resolved host
    // joins the queue (`late`) in the order its answer came.
    s.hosts.resize_with(n, || Host {
        unsent: opts.count,
        ..Host::default()
    });
    if opts.count == 0 {
        // Nothing to send (the command line asks for 1 to 100): every host is done, unanswered.
        for i in 0..n {
            s.finish(i);
        }
        to_resolve.clear();
    }
    let mut names: FuturesUnordered<_> = to_resolve
        .iter()
        .map(|(i, h)| async move { (*i, resolve(h, lookup).await) })
        .collect();
    let mut late: VecDeque<usize> = VecDeque::new();
    let mut next = 0usize;
    // The IPv4 and IPv6 sockets, opened when the first host of the family is pinged.
    let mut fams: [Option<Result<Family, String>>; 2] = [None, None];
    let mut packet = Vec::with_capacity(8 + cfg.payload.len());
    let mut sent_since_read = 0;
    let mut buf4 = vec![0u8; 2048];
    let mut buf6 = vec![0u8; 2048];
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    loop {
        // Send while the limit allows: hosts whose names came back first, then in list order.
        while s.in_flight < s.limit {
            while next < n && (s.ips[next].is_none() || s.hosts[next].unsent == 0) {
                next += 1;
            }
            let i = match late.front() {
                Some(&i) => i,
                None if next < n => next,
                None => break,
            };
            if s.hosts[i].unsent == 0 {
                // Done meanwhile (its echoes sent from the list, or it failed).
                late.pop_front();
                continue;
            }
            let Some(ip) = s.ips[i] else { break };
            let k = usize::from(ip.is_ipv6());
            if fams[k].is_none() {
                let small = 20 + 8 + cfg.payload.len() <= 576;
                let opened = Family::open(k == 1, cfg.want_rcvbuf, small).map_err(|e| {
                    format!(
                        "cannot open an {}ICMP socket: {}",
                        if k == 1 { "IPv6 " } else { "" },
                        crate::error::io_reason(&e)
                    )
                });
                if let Ok(f) = &opened {
                    s.limit = s
                        .limit
                        .min(limit_for(f.rcvbuf, cfg.bytes_per_reply, cfg.max_limit));
                }
                fams[k] = Some(opened);
            }
            let fam = match &fams[k] {
                Some(Ok(f)) => f,
                Some(Err(reason)) => {
                    let reason = reason.clone();
                    s.fail(i, reason);
                    continue;
                }
                None => break,
            };
            let seq = s.free_seq();
            let own_header = match (fam.own_header_ttl, ip) {
                (Some(ttl), IpAddr::V4(to)) => Some((ttl, to)),
                _ => None,
            };
            echo_request_into(&mut packet, own_header, fam.v6, s.ident, seq, &cfg.payload);
            let target = SocketAddr::new(ip, 0);
            let h = &mut s.hosts[i];
            h.unsent -= 1;
            h.waiting += 1;
            if h.unsent == 0 && late.front() == Some(&i) {
                late.pop_front();
            }
            h.first_sent.get_or_insert_with(SystemTime::now);
            // Just before the send: the RTT counts it. Sent at once where the socket takes it
            // (nearly always: no future per echo), else when it has room.
            let sent = Instant::now();
            let r = match fam.socket.try_send_to(&packet, &target) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    fam.socket.send_to(&mut packet, &target).await
                }
                r => r,
            };
            match r {
                Ok(_) => {
                    s.echo_no = s.echo_no.wrapping_add(1);
                    s.slots[usize::from(seq)] = Slot {
                        host: i as u32,
                        echo: s.echo_no,
                        sent,
                    };
                    s.deadlines.push_back((sent + opts.timeout, seq, s.echo_no));
                    s.in_flight += 1;
                    // Replies read as the burst goes: a reply is stamped when it is read, so
                    // one left queued behind the rest of a burst of thousands read milliseconds
                    // late (loopback showed 6 ms for the first hosts of 1,000); read every
                    // `READ_EVERY` sends, the wait is a few dozen sends at most, and the queue
                    // of unread replies stays short.
                    sent_since_read += 1;
                    if sent_since_read == READ_EVERY {
                        sent_since_read = 0;
                        let buf = if k == 1 { &mut buf6 } else { &mut buf4 };
                        read_ready(&mut s, fam, buf);
                        // And what is known goes on once there is much of it: a burst that
                        // never fills the in-flight limit (replies read as it goes) would
                        // otherwise hand over all its outcomes at its end, as one batch (18 MB
                        // for 100,000 hosts) and with no line shown until then.
                        if s.done_since_hand_over >= HAND_OVER_AT {
                            s.hand_over();
                        }
                    }
                }
                // No route, unreachable: the network's words say more than a timeout.
                Err(e) => {
                    let h = &mut s.hosts[i];
                    h.net_error
                        .get_or_insert_with(|| crate::platform::net::io_words(&e));
                    s.settle(i, None);
                }
            }
        }
        s.hand_over();
        if s.handed == n {
            return Ok(s.outcomes.into_iter().flatten().collect());
        }
        if let Handover::Batches(tx) = &s.out {
            if tx.is_closed() {
                return Err(Cancelled); // nobody waits for the rest
            }
        }
        if let Some(&(deadline, _, _)) = s.deadlines.front() {
            timer
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
        }
        let v4_open = fams[0].as_ref().and_then(|r| r.as_ref().ok());
        let v6_open = fams[1].as_ref().and_then(|r| r.as_ref().ok());
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Cancelled),
            r = recv(v4_open, &mut buf4) => {
                if let (Ok((len, from)), Some(f)) = (r, v4_open) {
                    s.on_packet(f, &buf4[..len], from.ip(), Instant::now());
                    read_ready(&mut s, f, &mut buf4);
                }
            }
            r = recv(v6_open, &mut buf6) => {
                if let (Ok((len, from)), Some(f)) = (r, v6_open) {
                    s.on_packet(f, &buf6[..len], from.ip(), Instant::now());
                    read_ready(&mut s, f, &mut buf6);
                }
            }
            () = &mut timer, if !s.deadlines.is_empty() => s.expire(Instant::now()),
            Some((i, r)) = names.next(), if !names.is_empty() => match r {
                Ok(ip) => {
                    s.ips[i] = Some(ip);
                    late.push_back(i);
                }
                Err(reason) => s.fail(i, reason),
            },
        }
        // Replies that came while the timer fired, deadlines passed while replies were read.
        s.expire(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        echo_request_into(&mut p, None, v6, ident, seq, payload);
        p
    }

    /// With our own IPv4 header: the header the kernel completes, then the same ICMP message
    /// (its checksum over the ICMP part only).
    #[test]
    fn a_request_with_its_own_ip_header() {
        let mut p = Vec::new();
        let to = std::net::Ipv4Addr::new(198, 18, 0, 7);
        echo_request_into(&mut p, Some((64, to)), false, 0x1234, 0xbeef, &PAYLOAD);
        assert_eq!(p.len(), 20 + 8 + PAYLOAD.len());
        // Version and length, the sequence as identification, DF, TTL, ICMP, no source.
        assert_eq!(&p[..12], &[0x45, 0, 0, 0, 0xbe, 0xef, 0x40, 0, 64, 1, 0, 0]);
        assert_eq!(&p[12..16], &[0, 0, 0, 0]);
        assert_eq!(&p[16..20], &to.octets());
        assert_eq!(&p[20..], &echo_request(false, 0x1234, 0xbeef, &PAYLOAD)[..]);
        assert_eq!(checksum(&p[20..]), 0);
        // Sequence 0 would have the kernel choose the identification: 1 instead.
        echo_request_into(&mut p, Some((64, to)), false, 1, 0, &PAYLOAD);
        assert_eq!(&p[4..6], &[0, 1]);
    }

    #[test]
    fn requests_carry_identifier_sequence_and_a_valid_checksum() {
        let p = echo_request(false, 0x1234, 0xbeef, &PAYLOAD);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0xbe, 0xef]);
        // A packet with its checksum sums to zero.
        assert_eq!(checksum(&p), 0);
        let p6 = echo_request(true, 1, 2, &PAYLOAD);
        assert_eq!(&p6[..4], &[128, 0, 0, 0]);
    }

    #[test]
    fn only_echo_replies_are_read_with_or_without_the_ip_header() {
        let mut reply = echo_request(false, 7, 9, &PAYLOAD);
        reply[0] = 0;
        assert_eq!(echo_reply(&reply, false, false), Some((7, 9)));
        let mut with_header = vec![0x45u8];
        with_header.extend([0u8; 19]);
        with_header.extend(reply);
        assert_eq!(echo_reply(&with_header, true, false), Some((7, 9)));
        // Our own request (seen by a raw socket on loopback), an ICMPv6 reply read as IPv4, a
        // short packet: not replies.
        assert_eq!(
            echo_reply(&echo_request(false, 7, 9, &PAYLOAD), false, false),
            None
        );
        let mut r6 = echo_request(true, 7, 9, &PAYLOAD);
        r6[0] = 129;
        assert_eq!(echo_reply(&r6, false, true), Some((7, 9)));
        assert_eq!(echo_reply(&r6, false, false), None);
        assert_eq!(echo_reply(&[0, 0, 0], false, false), None);
        assert_eq!(echo_reply(&[0x4f], true, false), None);
    }

    #[test]
    fn the_limit_follows_the_receive_buffer_within_bounds() {
        assert_eq!(limit_for(212_992, 1024, 4096), 208);
        assert_eq!(limit_for(1024, 1024, 4096), 64);
        assert_eq!(limit_for(64 << 20, 1024, 4096), 4096);
    }
}
