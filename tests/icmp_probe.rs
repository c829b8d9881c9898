//! The probers against real ICMP on loopback: vpnmon's own socket (a ping socket or a raw
//! socket: needs the permission) and the system's `ping` programs (iputils, BusyBox). They need
//! what a machine may not give, so they run under the run-time harness: where the permission or
//! the program is missing, cargo reports them ignored with the reason (unit tests cannot be).

mod core_support;

use core_support::harness::{ignore, Ran};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use vpnmon::probe::system_ping::{find_ping, SystemPingProber};
use vpnmon::probe::{IcmpProber, PingOptions, Prober};
use vpnmon::record::Verdict;

crate::harness_main!(
    the_socket_prober_on_loopback,
    socket_rtts_count_the_send,
    the_real_ping_on_loopback,
    busybox_ping_on_loopback,
);

fn opts(count: u32, ms: u64) -> PingOptions {
    PingOptions {
        count,
        timeout: Duration::from_millis(ms),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// vpnmon's own socket prober, made and used inside one runtime (its receiver is a task there).
async fn socket_prober() -> Result<IcmpProber, core_support::harness::Ignored> {
    IcmpProber::new().map_err(|_| {
        ignore("needs an ICMP ping socket or a raw socket (net.ipv4.ping_group_range, or root)")
    })
}

/// Every 127.0.0.0/8 address answers, and the same host twice in one sweep does not collide.
fn the_socket_prober_on_loopback() -> Ran {
    let hosts: Vec<String> = vec!["127.0.0.1".into(), "127.0.0.2".into(), "127.0.0.1".into()];
    let out = block_on(async {
        let p = socket_prober().await?;
        Ok(
            p.ping_many(&hosts, opts(2, 1000), &CancellationToken::new())
                .await,
        )
    })?
    .unwrap();
    for o in &out {
        assert_eq!(o.verdict, Verdict::Good, "{o:?}");
        assert_eq!(o.stats.received, 2, "{o:?}");
    }
    Ok(())
}

/// RTTs count from just before the send (patches/surge-ping): on loopback every echo takes
/// tens of microseconds (ping shows ~0.03 ms); upstream, which took the send time after
/// `send_to` returned, read 0.000 ms for most of them (the minimum of 5 echoes was 0 in every
/// run measured), so a minimum above zero over 20 echoes each fails without the patch.
fn socket_rtts_count_the_send() -> Ran {
    let hosts: Vec<String> = vec!["127.0.0.1".into(), "::1".into()];
    let out = block_on(async {
        let p = socket_prober().await?;
        Ok(
            p.ping_many(&hosts, opts(20, 1000), &CancellationToken::new())
                .await,
        )
    })?
    .unwrap();
    for o in &out {
        if o.reason.as_deref().is_some_and(|r| r.contains("IPv6")) {
            continue; // no IPv6 on this machine
        }
        assert_eq!(o.stats.received, 20, "{o:?}");
        let min = o.stats.rtt_min.unwrap();
        assert!(min > Duration::ZERO, "an RTT of 0 on loopback: {o:?}");
        assert!(min < Duration::from_millis(100), "{o:?}");
    }
    Ok(())
}

fn loopback_through(p: SystemPingProber) {
    let hosts = vec!["127.0.0.1".to_string(), "127.0.0.2".to_string()];
    let out = block_on(p.ping_many(&hosts, opts(3, 1000), &CancellationToken::new())).unwrap();
    for o in out {
        assert_eq!(o.verdict, Verdict::Good, "{o:?}");
        assert_eq!(o.stats.received, 3);
        let min = o.stats.rtt_min.unwrap();
        assert!(
            min > Duration::ZERO && min < Duration::from_millis(100),
            "{o:?}"
        );
    }
}

/// The fallback through the real iputils `ping` (any user: it is setuid or has cap_net_raw).
fn the_real_ping_on_loopback() -> Ran {
    let program = find_ping().ok_or_else(|| ignore("needs a `ping` program (iputils-ping)"))?;
    loopback_through(SystemPingProber::new(program));
    Ok(())
}

/// BusyBox's ping (Alpine's, and many small systems') through the same fallback. BusyBox is not
/// setuid: as a normal user it pings only where ping sockets are allowed.
fn busybox_ping_on_loopback() -> Ran {
    let busybox =
        which::which("busybox").map_err(|_| ignore("needs `busybox` (Debian package busybox)"))?;
    let dir = tempfile::tempdir().unwrap();
    let ping = dir.path().join("ping");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(
            &ping,
            format!("#!/bin/sh\nexec '{}' ping \"$@\"\n", busybox.display()),
        )
        .unwrap();
        std::fs::set_permissions(&ping, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = SystemPingProber::new(ping.clone());
    let probe = block_on(p.ping_many(
        &["127.0.0.1".into()],
        opts(1, 1000),
        &CancellationToken::new(),
    ))
    .unwrap();
    if probe[0].reason.as_deref() == Some("ping is not permitted to send") {
        return Err(ignore(
            "busybox ping is not permitted to send here (no ping socket for this user, not root)",
        ));
    }
    loopback_through(SystemPingProber::new(ping));
    Ok(())
}
