//! `vpnmon --check`, the monitoring-plugin mode: exit codes 0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN, and one status line with perfdata on stdout (nothing else there).

mod core_support;

use core_support::{run, vpnmon_fake_ping, Finished};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

/// `vpnmon --check` with `targets` (no VPN client unless `args` says otherwise) and `args`.
fn check(targets: &str, args: &[&str]) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), targets).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args([
        "--check",
        "--params",
        "/dev/null",
        "--targets",
        "t.csv",
        "--timeout",
        "0.2",
        "--datalog",
        "d.csv",
    ]);
    if !args.contains(&"--vpnclient") {
        c.args(["--vpnclient", "none"]);
    }
    c.args(args);
    run(c, DEADLINE)
}

/// The one line of stdout (a plugin prints exactly one).
fn the_line(out: &Finished) -> &str {
    assert_eq!(out.stdout.lines().count(), 1, "{:?}", out.stdout);
    out.stdout.trim_end()
}

#[test]
fn all_good_is_ok_with_rtt_perfdata() {
    let out = check("127.0.0.2,a\n127.0.0.3,b\n", &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        the_line(&out),
        "VPNMON OK - 2/2 targets Good | good=2;;;0;2 warn=0;;;0;2 fail=0;1;2;0;2 \
         rtt_127.0.0.2=0.100ms;;;0 rtt_127.0.0.3=0.100ms;;;0"
    );
}

#[test]
fn a_warned_or_failed_target_is_warning() {
    // 198.19/16 answers one echo of two (Warn).
    let out = check("127.0.0.2,a\n198.19.0.7,flaky\n", &[]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        the_line(&out).starts_with("VPNMON WARNING - 1/2 targets Good, 1 Warn (flaky) | "),
        "{}",
        out.stdout
    );
    // One dead target of four, under a critical threshold of 50%.
    let out = check(
        "127.0.0.2,a\n127.0.0.3,b\n127.0.0.4,c\n198.18.0.9,dead\n",
        &["--critical", "50%"],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        the_line(&out).starts_with("VPNMON WARNING - 3/4 targets Good, 1 Fail (dead) | "),
        "{}",
        out.stdout
    );
    assert!(
        the_line(&out).contains(" fail=1;1;2;0;4 "),
        "{}",
        out.stdout
    );
    // Below --warning it is OK.
    let out = check(
        "127.0.0.2,a\n127.0.0.3,b\n127.0.0.4,c\n198.18.0.9,dead\n",
        &["--warning", "2", "--critical", "3"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stdout);
}

#[test]
fn all_failed_is_critical() {
    let out = check("198.18.0.2,x\n198.18.0.3,y\n", &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(
        the_line(&out),
        "VPNMON CRITICAL - 0/2 targets Good, 2 Fail (x, y) | good=0;;;0;2 warn=0;;;0;2 \
         fail=2;1;2;0;2"
    );
    // A count threshold reached is critical too.
    let out = check("127.0.0.2,a\n198.18.0.3,y\n", &["--critical", "1"]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
}

#[test]
fn a_failed_open_is_critical_and_counts_the_targets_not_pinged() {
    // The gateway does not answer, so the open fails without starting the client.
    let out = check(
        "127.0.0.2,a\n127.0.0.3,b\n127.0.0.4,c\n",
        &[
            "--vpnclient",
            "openconnect",
            "--openconnect",
            "/bin/true",
            "--vpnurlip",
            "198.18.0.1",
        ],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        the_line(&out).starts_with(
            "VPNMON CRITICAL - VPN open Fail (not tried: the gateway ping was Fail), \
             3 targets not pinged | "
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_bad_option_is_unknown() {
    for args in [
        &["--warning", "0"][..],
        &["--critical", "150%"][..],
        &["--no-such-option"][..],
    ] {
        let out = check("127.0.0.2,a\n", args);
        assert_eq!(out.code, Some(3), "{args:?}: {}", out.stdout);
        assert!(
            the_line(&out).starts_with("VPNMON UNKNOWN - "),
            "{args:?}: {}",
            out.stdout
        );
    }
    // A missing targets file is UNKNOWN too (a fatal error, not a verdict on the network).
    let dir = tempfile::tempdir().unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["-check", "--vpnclient", "none", "--targets", "missing.csv"]);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(3), "{}", out.stdout);
    assert!(
        the_line(&out).starts_with("VPNMON UNKNOWN - The vpnmon targets file"),
        "{}",
        out.stdout
    );
}
