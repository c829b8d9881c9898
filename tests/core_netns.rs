//! The real binary with `--vpnclient none` against hosts in network namespaces built here: one
//! that answers, one that drops about half the echo requests (nft numgen), one that drops all,
//! and a thousand at once. Needs root, `ip` and `nft` (CI has them); reported as ignored with the reason otherwise.

mod core_support;

use core_support::harness::Ran;
use core_support::{run, vpnmon_bin, Lab, Running, DEAD_HOST, FLAKY_HOST, GOOD_HOST};
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::time::Duration;

fn good_flaky_and_dead_hosts_over_cycles() -> Ran {
    let lab = Lab::new("a")?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        format!("127.0.0.1,Loopback\n{GOOD_HOST},Good host\n{FLAKY_HOST},Flaky host\n{DEAD_HOST},Dead host\n"),
    )
    .unwrap();
    let mut c = lab.command_in_client(&vpnmon_bin());
    c.current_dir(dir.path())
        .env("RUST_BACKTRACE", "0")
        .args([
            "--vpnclient",
            "none",
            "-vpnurlip",
            GOOD_HOST,
            "--targets",
            "t.csv",
            "--datalog",
            "d.csv",
        ])
        .args([
            "--cycles",
            "6",
            "--delay",
            "0",
            "--pings",
            "4",
            "--timeout",
            "0.3",
            "--quiet",
        ]);
    let out = run(c, Duration::from_secs(120));
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(0), "{stdout}\n{}", out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let mut results: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in log.lines() {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 7, "{l}");
        results.entry(f[5]).or_default().push(f[4]);
    }
    assert_eq!(
        results[GOOD_HOST].len(),
        12,
        "gateway ping and target ping, 6 cycles"
    );
    assert!(results[GOOD_HOST].iter().all(|r| *r == "Good"));
    assert!(results["127.0.0.1"].iter().all(|r| *r == "Good"));
    assert_eq!(results[DEAD_HOST], vec!["Fail"; 6]);
    // 4 echoes at 50% loss: Warn with probability 7/8 per cycle; never Warn in 6 cycles ≈ 4e-6.
    assert!(
        results[FLAKY_HOST].contains(&"Warn"),
        "{:?}",
        results[FLAKY_HOST]
    );
    assert!(
        stdout.contains(&format!(
            "-- ping {DEAD_HOST:<15} Fail Dead host  (no reply to 4 echo requests within 0.3 s)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("vpnmon test cycle ping results:  Good: 2,"),
        "{stdout}"
    );
    Ok(())
}

fn stop_during_sweep(sig: Signal) -> Ran {
    let lab = Lab::new(if sig == Signal::SIGINT { "b" } else { "c" })?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        format!("{GOOD_HOST},Good host\n{DEAD_HOST},Dead host\n"),
    )
    .unwrap();
    let mut c = lab.command_in_client(&vpnmon_bin());
    c.current_dir(dir.path())
        .args([
            "--vpnclient",
            "none",
            "-vpnurlip",
            GOOD_HOST,
            "--targets",
            "t.csv",
            "--datalog",
            "d.csv",
        ])
        .args([
            "--cycles",
            "3",
            "--delay",
            "0",
            "--timeout",
            "30",
            "--quiet",
        ]);
    let mut run = Running::spawn(c);
    // Lines come as results arrive, in file order: the good host's shows while the dead target
    // below it still holds the sweep for 30 s, so the signal lands in the sweep.
    run.wait_line(&format!("-- ping {GOOD_HOST}"), Duration::from_secs(10));
    // `ip netns exec` execs vpnmon in place, so the child's pid is vpnmon's.
    run.signal(sig);
    let end = run.finish(Duration::from_secs(5));
    let out = &end.stdout;
    assert_eq!(end.code, Some(0), "{out}");
    assert!(
        end.took < Duration::from_secs(1),
        "stopped in {:?}",
        end.took
    );
    // The stop line names the signal; without a VPN client it says nothing about a VPN.
    let words = if sig == Signal::SIGINT {
        "Control-C"
    } else {
        "SIGTERM"
    };
    assert!(
        out.ends_with(&format!(
            "---- vpnmon stopped with {words} ----\nDatalog file closed\n"
        )),
        "{out}"
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    // The completed gateway test of the cut cycle is kept, whole; of the cut sweep no row (a
    // cycle's targets are in the datalog whole or not at all); nothing is invented.
    let rows: Vec<&str> = log.lines().collect();
    assert_eq!(rows.len(), 1, "{log}");
    assert!(
        rows[0].starts_with("1,")
            && rows[0].ends_with(&format!(",VPN ping,Good,{GOOD_HOST},VPN Gateway")),
        "{log}"
    );
    Ok(())
}

fn ctrl_c_during_a_sweep_stops_within_a_second() -> Ran {
    stop_during_sweep(Signal::SIGINT)
}

fn sigterm_during_a_sweep_stops_within_a_second() -> Ran {
    stop_during_sweep(Signal::SIGTERM)
}

/// 1,000 targets in one sweep, 100 of them dead: every live one must be Good (one socket's
/// default buffer drops replies at ~500 in flight; the prober must not).
fn a_thousand_targets_give_no_false_timeouts() -> Ran {
    let lab = Lab::new("d")?;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let mut live = 0;
    for i in 0..1000u32 {
        let addr = if i < 100 {
            format!("198.18.31.{}", i + 1)
        } else {
            live += 1;
            let n = i - 100;
            format!("198.18.{}.{}", 16 + n / 250, 1 + n % 250)
        };
        text.push_str(&format!("{addr},host {i}\n"));
    }
    std::fs::write(dir.path().join("t.csv"), text).unwrap();
    let mut c = lab.command_in_client(&vpnmon_bin());
    c.current_dir(dir.path()).args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--datalog",
        "d.csv",
        "--cycles",
        "2",
        "--delay",
        "0",
        "--quiet",
    ]);
    let out = run(c, Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let mut false_fails = 0;
    let mut dead_fails = 0;
    for l in log.lines() {
        let f: Vec<&str> = l.split(',').collect();
        let dead = f[5].starts_with("198.18.31.");
        match (dead, f[4]) {
            (true, "Fail") => dead_fails += 1,
            (false, "Good") => {}
            _ => false_fails += 1,
        }
    }
    assert_eq!(live, 900);
    assert_eq!(dead_fails, 200, "100 dead hosts × 2 cycles");
    assert_eq!(false_fails, 0, "live hosts reported not Good");
    Ok(())
}

/// A list larger than one wave (4,000 targets × 2 echoes: more than the 4,096 echoes at most
/// in flight) with 250 dead hosts spread through it: the console says the list was split, every
/// live host is Good, and every dead host still Fails at the timeout (its row's duration is at
/// least the 1 s timeout, its reason says so), in about one timeout.
fn a_list_larger_than_one_wave_splits_without_false_fails() -> Ran {
    let lab = Lab::new("e")?;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let (mut live, mut dead) = (0u32, 0u32);
    for i in 0..4000u32 {
        // Every 16th host is dead (198.18.31.0/24 drops every echo), the others answer.
        let addr = if i % 16 == 15 {
            dead += 1;
            format!("198.18.31.{dead}")
        } else {
            let n = live;
            live += 1;
            format!("198.18.{}.{}", 16 + n / 250, 1 + n % 250)
        };
        text.push_str(&format!("{addr},host {i}\n"));
    }
    assert_eq!((live, dead), (3750, 250));
    std::fs::write(dir.path().join("t.csv"), text).unwrap();
    let mut c = lab.command_in_client(&vpnmon_bin());
    c.current_dir(dir.path()).args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--datalog",
        "d.csv",
        "--datalog-format",
        "extended",
        "--cycles",
        "1",
        "--delay",
        "0",
        "--timeout",
        "1",
        "--quiet",
    ]);
    let out = run(c, Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("Pinging 4000 targets in waves: 8000 echo requests, at most "),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let mut false_results = Vec::new();
    let mut dead_fails = 0;
    // cycle,date,time,test,result,address,name,duration_ms,sent,received,min,avg,max,reason
    for l in log.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[5].starts_with("198.18.31.") {
            let ms: f64 = f[7].parse().unwrap();
            assert!(ms >= 1000.0, "a dead host ended before its timeout: {l}");
            assert_eq!(f[13], "no reply to 2 echo requests within 1 s", "{l}");
            if f[4] == "Fail" {
                dead_fails += 1;
            } else {
                false_results.push(l.to_string());
            }
        } else if f[4] != "Good" {
            false_results.push(l.to_string());
        }
    }
    assert_eq!(log.lines().count(), 4001, "a header and a row per target");
    assert_eq!(dead_fails, 250);
    assert_eq!(false_results, Vec::<String>::new(), "live hosts not Good");
    // One timeout for the dead hosts plus the round trips; generous for a loaded machine.
    let took: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.split("(took ").nth(1))
        .and_then(|t| t.strip_suffix(" s)"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no took in {}", out.stdout));
    assert!((1.0..10.0).contains(&took), "the sweep took {took} s");
    Ok(())
}

crate::harness_main!(
    good_flaky_and_dead_hosts_over_cycles,
    ctrl_c_during_a_sweep_stops_within_a_second,
    sigterm_during_a_sweep_stops_within_a_second,
    a_thousand_targets_give_no_false_timeouts,
    a_list_larger_than_one_wave_splits_without_false_fails,
);
