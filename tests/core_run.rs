//! The real binary with `--vpnclient none` against loopback targets (real ICMP: every
//! 127.0.0.0/8 address answers), the datalog's bytes, live re-reading of the targets file, and
//! Ctrl-C/SIGTERM during the wait.

mod core_support;

use core_support::{icmp_available, vpnmon_bin, Running};
use regex::Regex;
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "Zq7-secret-pw";

fn cmd(dir: &std::path::Path) -> Command {
    let mut c = Command::new(vpnmon_bin());
    c.current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("VPNMON_PASSWORD");
    c
}

#[test]
fn loopback_run_prints_the_original_lines_and_appends_exact_rows() {
    if !icmp_available() {
        eprintln!("SKIPPED loopback_run: no ICMP socket allowed for this user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("targets.csv"),
        "\u{FEFF}# address,name\r\n127.0.0.1,Loopback one\r\n127.0.0.2,Rack 1, \"left\"\r\n no,comment\r\nbroken line\r\n",
    )
    .unwrap();
    // An existing datalog is appended to, never rewritten.
    std::fs::write(
        dir.path().join("d.csv"),
        "0,2022/09/07,18:20:33,VPN ping,Good,old,Old\n",
    )
    .unwrap();
    let out = cmd(dir.path())
        .args([
            "-vpnurlip",
            "127.0.0.9",
            "-vpnname",
            "Loop GW",
            "--vpnclient",
            "none",
            "-targets",
            "targets.csv",
        ])
        .args([
            "-cycles", "2", "-delay", "0", "-datalog", "d.csv", "-quiet", "-user", "mon", "-pass",
            PASSWORD,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let p = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}";
    let want = [
        "Running without a vpnmon params file".to_string(),
        "targets.csv:5: ignored: expected address,name (for example 10.1.1.10,File server)"
            .to_string(),
        format!(r"  1 {p} Start vpnmon test cycle 1 of 2"),
        format!(r"  1 {p} -- VPN ping ----------- Good Loop GW  \(rtt [0-9.]+ ms\)"),
        format!(r"  1 {p} -- ping 127.0.0.1       Good Loopback one  \(rtt [0-9.]+ ms\)"),
        format!(r#"  1 {p} -- ping 127.0.0.2       Good Rack 1, "left"  \(rtt [0-9.]+ ms\)"#),
        format!(r"  1 {p} End vpnmon test cycle 1 of 2  \(took [0-9.]+ s\)"),
        format!(r"  1 {p} vpnmon test cycle ping results:  Good: 2,  Warn: 0,  Fail: 0"),
        format!(r"  1 {p} Waiting to run next test cycle."),
        format!(r"  2 {p} Start vpnmon test cycle 2 of 2"),
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    for (i, w) in want.iter().enumerate() {
        let re = Regex::new(&format!(
            "^{}$",
            if i < 2 { regex::escape(w) } else { w.clone() }
        ))
        .unwrap();
        assert!(
            re.is_match(lines[i]),
            "line {i}: {:?} !~ {w}\n{stdout}",
            lines[i]
        );
    }
    assert_eq!(lines.last(), Some(&"2 vpnmon test cycles completed."));
    assert_eq!(
        stdout.matches("targets.csv:5").count(),
        1,
        "a warning is shown once, not every cycle"
    );

    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let row = Regex::new(r"^\d,\d{4}/\d{2}/\d{2},\d{2}:\d{2}:\d{2},").unwrap();
    let rows: Vec<String> = log
        .lines()
        .skip(1)
        .map(|l| row.replace(l, "N,D,T,").into_owned())
        .collect();
    assert!(log.starts_with("0,2022/09/07,18:20:33,VPN ping,Good,old,Old\n1,"));
    assert!(log.ends_with('\n'));
    assert_eq!(
        rows,
        [
            "N,D,T,VPN ping,Good,127.0.0.9,Loop GW",
            "N,D,T,Target ping,Good,127.0.0.1,Loopback one",
            "N,D,T,Target ping,Good,127.0.0.2,\"Rack 1, \"\"left\"\"\"",
        ]
        .repeat(2)
    );
    assert!(log.lines().skip(1).take(3).all(|l| l.starts_with("1,")));
    assert!(log.lines().skip(4).all(|l| l.starts_with("2,")));
    for text in [stdout.as_ref(), stderr.as_ref(), log.as_str()] {
        assert!(!text.contains(PASSWORD));
    }
}

#[test]
fn targets_file_is_reread_every_cycle() {
    if !icmp_available() {
        eprintln!(
            "SKIPPED targets_file_is_reread_every_cycle: no ICMP socket allowed for this user"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("t.csv");
    std::fs::write(&targets, "127.0.0.1,First\n").unwrap();
    let mut c = cmd(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "2",
        "--delay",
        "3",
        "--datalog",
        "d.csv",
        "--quiet",
    ]);
    let mut run = Running::spawn(c);
    run.wait_line("Waiting to run next test cycle", Duration::from_secs(10));
    // Replaced whole (write then rename), as editors save, so the next read sees one version.
    let new = dir.path().join("t.csv.new");
    std::fs::write(&new, "127.0.0.1,First\n127.0.0.3,Added while running\n").unwrap();
    std::fs::rename(&new, &targets).unwrap();
    run.wait_line("2 vpnmon test cycles completed.", Duration::from_secs(10));
    let (out, _) = run.drain();
    assert!(
        out.contains("-- ping 127.0.0.3       Good Added while running"),
        "{out}"
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(log.lines().filter(|l| l.starts_with("1,")).count(), 1);
    assert_eq!(log.lines().filter(|l| l.starts_with("2,")).count(), 2);
}

fn stop_during_wait(sig: libc::c_int) {
    if !icmp_available() {
        eprintln!("SKIPPED stop_during_wait: no ICMP socket allowed for this user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,One\n127.0.0.2,Two\n").unwrap();
    let mut c = cmd(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "-1",
        "--delay",
        "600",
        "--datalog",
        "d.csv",
        "--quiet",
        "--password",
        PASSWORD,
    ]);
    let mut run = Running::spawn(c);
    run.wait_line("Waiting to run next test cycle", Duration::from_secs(10));
    run.signal(sig);
    let (code, took) = run.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
    let (out, err) = run.drain();
    assert!(out.contains("1 of Infinite"), "{out}");
    assert!(
        out.ends_with(
            "---- vpnmon stopped with Control-C ----\nVPN connection closed\nDatalog file closed"
        ),
        "{out}"
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(log.lines().count(), 2, "cycle 1 complete: {log}");
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD) && !log.contains(PASSWORD));
}

#[test]
fn ctrl_c_during_the_wait_stops_within_a_second() {
    stop_during_wait(libc::SIGINT);
}

#[test]
fn sigterm_during_the_wait_stops_within_a_second() {
    stop_during_wait(libc::SIGTERM);
}

#[test]
fn unreadable_datalog_is_fatal_with_one_line() {
    if !icmp_available() {
        eprintln!("SKIPPED unreadable_datalog: no ICMP socket allowed for this user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,One\n").unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    let out = cmd(dir.path())
        .args([
            "--vpnclient",
            "none",
            "--targets",
            "t.csv",
            "--cycles",
            "3",
            "--delay",
            "0",
            "--datalog",
            "adir",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error: Failed to access the vpnmon datalog file adir"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
