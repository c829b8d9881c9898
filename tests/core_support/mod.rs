//! Helpers shared by the integration tests: the one runner for vpnmon and other programs
//! (`runner`), the AnyConnect simulator (`sim`), ICMP and root checks, and network namespaces with
//! hosts that answer, answer sometimes, or never (`netns`).
#![allow(dead_code, unused_imports)]

pub mod harness;
pub mod netns;
pub mod runner;
pub mod sim;

pub use netns::{Lab, Netns, DEAD_HOST, FLAKY_HOST, GOOD_HOST};
pub use runner::{
    run, vpnmon, vpnmon_bin, vpnmon_fake_ping, without_vpn_in_temp, Finished, Next, Running,
};
pub use sim::vpncli_sim;

/// Whether this user may open ICMP sockets (root, or `ping_group_range`): vpnmon pings the
/// gateway and the targets. Asked once per test binary.
pub fn icmp_available() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { vpnmon::probe::IcmpProber::new().is_ok() })
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Checks `f` every 10 ms until it holds; how long that took, or `None` after `within`. For
/// what has no event to wait for (a file another program writes, /proc); output lines and exits
/// are awaited through `Running`.
pub fn poll_until(
    within: std::time::Duration,
    mut f: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    let t = std::time::Instant::now();
    while t.elapsed() < within {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f().then(|| t.elapsed())
}

/// `poll_until` that fails the test, naming `what` it waited for, after `within`.
pub fn wait_until(what: &str, within: std::time::Duration, f: impl FnMut() -> bool) {
    if poll_until(within, f).is_none() {
        panic!("waited {within:?} for {what}");
    }
}
