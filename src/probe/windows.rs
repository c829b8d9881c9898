//! Windows pings without Administrator: the ICMP API of iphlpapi (`IcmpSendEcho2`, and
//! `Icmp6SendEcho2` for IPv6), the one Windows' own `ping.exe` uses. Raw sockets, which
//! surge-ping needs there, are allowed to elevated processes only.
//!
//! Each echo is one blocking call that returns when the reply comes or its timeout passes. The
//! calls run on tokio's blocking threads, at most `MAX_IN_FLIGHT` at once (a semaphore), so a
//! thousand targets need 64 threads, not a thousand. Cancelling a sweep stops waiting for it;
//! the calls still in flight end by their own timeout.
//!
//! `unsafe` is allowed in this file only: the ICMP API has no safe wrapper crate; each block
//! says why it is sound.
#![allow(unsafe_code)]

use super::{resolve, summarize_with, Cancelled, Lookup, OnEach, PingOptions, PingOutcome, Prober};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use windows_sys::Win32::Foundation::{GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::NetworkManagement::IpHelper as ip;
use windows_sys::Win32::Networking::WinSock::{AF_INET6, SOCKADDR_IN6};

/// Echo calls (and so threads) at once. 1,000 dead hosts, two echoes each, 1 s timeout: about
/// 2,000 / 64 × 1 s ≈ 31 s.
pub const MAX_IN_FLIGHT: usize = 64;
const PAYLOAD: [u8; 16] = *b"vpnmon-echo-0123";
/// Room for one reply, its payload, an ICMP error's 8 bytes and slack (the API's rule).
const REPLY_BUF: usize = 512;

/// An ICMP handle (`IcmpCreateFile`/`Icmp6CreateFile`), closed when the last echo using it ends.
struct IcmpHandle(HANDLE);

// SAFETY: ICMP handles may be used from any thread, by several at once (the API is documented
// as thread-safe; a handle is an opaque kernel object reference).
unsafe impl Send for IcmpHandle {}
unsafe impl Sync for IcmpHandle {}

impl IcmpHandle {
    fn open(v6: bool) -> std::io::Result<IcmpHandle> {
        // SAFETY: no arguments; the result is checked.
        let h = unsafe {
            if v6 {
                ip::Icmp6CreateFile()
            } else {
                ip::IcmpCreateFile()
            }
        };
        if h == INVALID_HANDLE_VALUE || h.is_null() {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(IcmpHandle(h))
        }
    }
}

impl Drop for IcmpHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from IcmpCreateFile/Icmp6CreateFile and is closed once.
        unsafe {
            ip::IcmpCloseHandle(self.0);
        }
    }
}

/// One echo's result: its round-trip time, or why there was none (`None`: only lost, a timeout).
type Echo = Result<Duration, Option<String>>;

/// Words for an ICMP API status (IP_STATUS), `None` for a plain timeout.
fn status_words(status: u32) -> Option<String> {
    match status {
        ip::IP_REQ_TIMED_OUT => None,
        ip::IP_DEST_HOST_UNREACHABLE => Some("host unreachable".into()),
        ip::IP_DEST_NET_UNREACHABLE => Some("network unreachable".into()),
        ip::IP_DEST_PROT_UNREACHABLE | ip::IP_DEST_PORT_UNREACHABLE => {
            Some("destination unreachable".into())
        }
        ip::IP_TTL_EXPIRED_TRANSIT => Some("time to live exceeded".into()),
        ip::IP_NO_RESOURCES | ip::IP_BUF_TOO_SMALL => Some("out of resources".into()),
        s => Some(format!("ICMP error {s}")),
    }
}

/// Sends one echo to `ip` and waits for its reply (blocking, up to `timeout`).
fn echo_blocking(handle: &IcmpHandle, ip: IpAddr, timeout: Duration) -> Echo {
    let ms = timeout.as_millis().clamp(1, u32::MAX as u128) as u32;
    let mut reply = [0u64; REPLY_BUF / 8];
    let t = Instant::now();
    // SAFETY: the handle is open for this family; request and reply buffers outlive the call
    // (synchronous: no event, no APC routine); the reply size is the buffer's.
    let n = unsafe {
        match ip {
            IpAddr::V4(a) => ip::IcmpSendEcho2(
                handle.0,
                std::ptr::null_mut(),
                None,
                std::ptr::null(),
                u32::from_ne_bytes(a.octets()),
                PAYLOAD.as_ptr().cast(),
                PAYLOAD.len() as u16,
                std::ptr::null(),
                reply.as_mut_ptr().cast(),
                REPLY_BUF as u32,
                ms,
            ),
            IpAddr::V6(a) => {
                let source = SOCKADDR_IN6 {
                    sin6_family: AF_INET6,
                    ..Default::default()
                };
                let mut dest = SOCKADDR_IN6 {
                    sin6_family: AF_INET6,
                    ..Default::default()
                };
                dest.sin6_addr.u.Byte = a.octets();
                ip::Icmp6SendEcho2(
                    handle.0,
                    std::ptr::null_mut(),
                    None,
                    std::ptr::null(),
                    &source,
                    &dest,
                    PAYLOAD.as_ptr().cast(),
                    PAYLOAD.len() as u16,
                    std::ptr::null(),
                    reply.as_mut_ptr().cast(),
                    REPLY_BUF as u32,
                    ms,
                )
            }
        }
    };
    let elapsed = t.elapsed();
    if n == 0 {
        // SAFETY: no preconditions.
        let code = unsafe { GetLastError() };
        return Err(match code {
            ip::IP_REQ_TIMED_OUT => None,
            c if (ip::IP_STATUS_BASE..ip::IP_STATUS_BASE + 100).contains(&c) => status_words(c),
            c => Some(crate::error::io_reason(&std::io::Error::from_raw_os_error(
                c as i32,
            ))),
        });
    }
    // The reply structure starts the buffer (aligned by the u64 array).
    let status = match ip {
        // SAFETY: n > 0: the API wrote at least one reply structure at the buffer's start.
        IpAddr::V4(_) => unsafe { (*reply.as_ptr().cast::<ip::ICMP_ECHO_REPLY>()).Status },
        IpAddr::V6(_) => unsafe { (*reply.as_ptr().cast::<ip::ICMPV6_ECHO_REPLY_LH>()).Status },
    };
    if status == ip::IP_SUCCESS {
        // The API's own RoundTripTime is in whole milliseconds; the call's duration is the
        // same interval measured finer (the call returns as the reply arrives).
        Ok(elapsed)
    } else {
        Err(status_words(status))
    }
}

pub struct IcmpApiProber {
    lookup: Lookup,
    v4: Arc<IcmpHandle>,
    v6: OnceLock<Result<Arc<IcmpHandle>, String>>,
    in_flight: Arc<Semaphore>,
}

impl IcmpApiProber {
    /// Opens the IPv4 ICMP handle (no privilege needed).
    pub fn new() -> std::io::Result<IcmpApiProber> {
        Ok(IcmpApiProber {
            lookup: super::system_lookup,
            v4: Arc::new(IcmpHandle::open(false)?),
            v6: OnceLock::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    fn handle_for(&self, ip: IpAddr) -> Result<Arc<IcmpHandle>, String> {
        match ip {
            IpAddr::V4(_) => Ok(self.v4.clone()),
            IpAddr::V6(_) => self
                .v6
                .get_or_init(|| {
                    IcmpHandle::open(true).map(Arc::new).map_err(|e| {
                        format!(
                            "cannot open the IPv6 ICMP handle: {}",
                            crate::error::io_reason(&e)
                        )
                    })
                })
                .clone(),
        }
    }

    async fn ping_host(&self, host: &str, opts: PingOptions) -> PingOutcome {
        let start = Instant::now();
        let began = SystemTime::now();
        let fail = |reason: String| PingOutcome {
            verdict: crate::record::Verdict::Fail,
            stats: crate::record::PingStats::default(),
            reason: Some(reason),
            started: began,
            duration: start.elapsed(),
        };
        let ip = match resolve(host, self.lookup).await {
            Ok(ip) => ip,
            Err(reason) => return fail(reason),
        };
        let handle = match self.handle_for(ip) {
            Ok(h) => h,
            Err(reason) => return fail(reason),
        };
        let first_sent = Arc::new(OnceLock::new());
        let mut echoes = FuturesOrdered::new();
        for _ in 0..opts.count {
            let sem = self.in_flight.clone();
            let handle = handle.clone();
            let first_sent = first_sent.clone();
            echoes.push_back(async move {
                let Ok(_permit) = sem.acquire_owned().await else {
                    return Err(Some("the prober was closed".to_string()));
                };
                first_sent.get_or_init(SystemTime::now);
                tokio::task::spawn_blocking(move || echo_blocking(&handle, ip, opts.timeout))
                    .await
                    .unwrap_or_else(|e| Err(Some(format!("the echo's thread failed: {e}"))))
            });
        }
        let mut rtts = Vec::new();
        let mut net_error = None;
        while let Some(r) = echoes.next().await {
            match r {
                Ok(rtt) => rtts.push(rtt),
                Err(Some(w)) => net_error = net_error.or(Some(w)),
                Err(None) => {}
            }
        }
        let started = first_sent.get().copied().unwrap_or(began);
        summarize_with(opts, rtts, net_error, started, start.elapsed())
    }
}

impl Prober for IcmpApiProber {
    fn ping_many<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<PingOutcome>, Cancelled>> {
        super::every_host(hosts, move |h| self.ping_host(h, opts), cancel, None)
    }

    fn ping_each<'a>(
        &'a self,
        hosts: &'a [String],
        opts: PingOptions,
        cancel: &'a CancellationToken,
        each: OnEach<'a>,
    ) -> BoxFuture<'a, Result<(), Cancelled>> {
        let all = super::every_host(hosts, move |h| self.ping_host(h, opts), cancel, Some(each));
        Box::pin(async move { all.await.map(drop) })
    }
}
