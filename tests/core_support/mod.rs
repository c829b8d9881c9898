//! Helpers shared by the integration tests: the one runner for vpnmon and other programs
//! (`runner`), the AnyConnect simulator (`sim`), ICMP and root checks, and network namespaces with
//! hosts that answer, answer sometimes, or never (`netns`).
#![allow(dead_code, unused_imports)]

pub mod harness;
pub mod netns;
pub mod runner;
pub mod sim;
pub mod smtp;

pub use netns::{Lab, Netns, DEAD_HOST, FLAKY_HOST, GOOD_HOST};
pub use runner::{
    run, vpnmon, vpnmon_bin, vpnmon_fake_ping, without_vpn_in_temp, Finished, Next, Running,
};
pub use sim::{startct_sim, vpncli_sim};

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

/// The one-line warning vpnmon prints on stderr when `-pass` is given on a machine with other
/// accounts (the password is visible in `ps`).
pub const PASS_WARNING: &str = "Warning: the -pass password is visible to other users of this machine in the process list (ps); use --password-file, VPNMON_PASSWORD or a systemd credential instead\n";

/// `stderr` of a run given `-pass`, without its `ps` warning: the warning must lead it exactly
/// when this machine has other accounts, and be absent otherwise.
pub fn after_pass_warning(stderr: &str) -> &str {
    if vpnmon::platform::other_users_present() {
        stderr
            .strip_prefix(PASS_WARNING)
            .unwrap_or_else(|| panic!("no -pass warning first: {stderr}"))
    } else {
        assert!(!stderr.contains(PASS_WARNING), "{stderr}");
        stderr
    }
}
