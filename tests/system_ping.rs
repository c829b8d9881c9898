//! The `ping`-program fallback chosen for real: the built binary run as an unprivileged user
//! (`setpriv`, no capabilities) inside the namespace lab, where `net.ipv4.ping_group_range` is
//! closed, so neither an ICMP ping socket nor a raw socket is allowed and vpnmon must fall back to
//! the system's `ping` (setuid or file-capability). Needs root (to create the user and the
//! namespaces; CI has it) and `setpriv` + `ping`; reported ignored with the reason otherwise.

mod core_support;

use core_support::harness::{need_programs, need_root, Ignored, Ran};
use core_support::{vpnmon_bin, Lab, Running, DEAD_HOST, GOOD_HOST};
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The unprivileged user the tests run vpnmon as (created if absent; tests share it).
const USER: &str = "vpnmon-test";

/// The uid and gid of `USER`, creating it if needed (two tests may race: a second `useradd`
/// that finds the user made is fine).
fn test_user() -> (u32, u32) {
    let lookup = || nix::unistd::User::from_name(USER).ok().flatten();
    if lookup().is_none() {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .output()
            .expect("run useradd");
        assert!(
            out.status.success() || lookup().is_some(),
            "useradd {USER}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let u = lookup().expect("the test user exists");
    (u.uid.as_raw(), u.gid.as_raw())
}

/// The lab, a folder owned by the test user holding `t.csv`, and vpnmon run as that user in the
/// lab's client namespace with `ping_group_range` closed there (and only there).
fn setup(tag: &str, targets: &str) -> Result<(Lab, tempfile::TempDir, Command), Ignored> {
    need_root("to create a user and network namespaces")?;
    need_programs(&[
        ("setpriv", "util-linux"),
        ("useradd", "passwd"),
        ("ping", "iputils-ping"),
        ("ip", "iproute2"),
        ("nft", "nftables"),
    ])?;
    let (uid, gid) = test_user();
    let lab = Lab::new(tag)?;
    // A new namespace starts closed ("1 0"); said explicitly, in the lab's namespace only.
    let st = Command::new("ip")
        .args(["netns", "exec", &lab.client, "sysctl", "-q", "-w"])
        .arg("net.ipv4.ping_group_range=1 0")
        .status()
        .expect("sysctl in the lab");
    assert!(st.success());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), targets).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let bin = vpnmon_bin();
    let mut c = lab.command_in_client(Path::new("setpriv"));
    c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()])
        .args(["--clear-groups", "--inh-caps=-all"])
        .arg(&bin)
        .args(["--vpnclient", "none", "--targets", "t.csv", "--delay", "0"])
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "0")
        .env_remove("VPNMON_PASSWORD")
        .env_remove("VPNMON_SMTP_PASSWORD");
    Ok((lab, dir, c))
}

crate::harness_main!(
    unprivileged_user_falls_back_to_the_system_ping,
    ctrl_c_ends_and_reaps_the_ping_children_within_a_second,
);

fn unprivileged_user_falls_back_to_the_system_ping() -> Ran {
    let targets = format!("127.0.0.1,Loopback\n{GOOD_HOST},Good host\n{DEAD_HOST},Dead host\n");
    let (_lab, dir, mut c) = setup("p", &targets)?;
    c.args(["--cycles", "1", "--pings", "3", "--timeout", "1", "--json"])
        .args(["--datalog", "d.csv"]);
    let f = Running::spawn(c).finish(Duration::from_secs(30));
    assert!(f.success(), "stdout:\n{}\nstderr:\n{}", f.stdout, f.stderr);
    // One notice, naming the method and the two ways to the faster one.
    let notices: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.contains("pinging with the system's ping program"))
        .collect();
    assert_eq!(notices.len(), 1, "stderr:\n{}", f.stderr);
    for words in [
        "neither an ICMP ping socket nor a raw socket",
        "net.ipv4.ping_group_range=\"0 2147483647\"",
        "setcap cap_net_raw+ep",
    ] {
        assert!(notices[0].contains(words), "{words:?} in {}", notices[0]);
    }
    let rows: Vec<serde_json::Value> = f
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["test"] == "Target ping")
        .collect();
    let row = |addr: &str| {
        rows.iter()
            .find(|r| r["address"] == addr)
            .unwrap_or_else(|| panic!("no row for {addr} in:\n{}", f.stdout))
    };
    for addr in ["127.0.0.1", GOOD_HOST] {
        let r = row(addr);
        assert_eq!(r["result"], "Good", "{r}");
        assert_eq!(
            (r["sent"].as_u64(), r["received"].as_u64()),
            (Some(3), Some(3))
        );
        // Plausible RTTs: above zero, far below the timeout (loopback and a veth: ~0.05 ms).
        let (min, max) = (
            r["rtt_min_ms"].as_f64().unwrap(),
            r["rtt_max_ms"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= max && max < 100.0, "{r}");
    }
    let dead = row(DEAD_HOST);
    assert_eq!(dead["result"], "Fail", "{dead}");
    assert_eq!(dead["received"].as_u64(), Some(0));
    assert_eq!(dead["reason"], "no reply to 3 echo requests within 1 s");
    // The datalog's rows are the same as any prober's.
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert!(
        log.contains(",Target ping,Good,127.0.0.1,Loopback"),
        "{log}"
    );
    assert!(
        log.contains(&format!(",Target ping,Fail,{DEAD_HOST},Dead host")),
        "{log}"
    );
    Ok(())
}

/// The `ping` children of `pid` (from /proc: their parent is vpnmon).
fn ping_children(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = tail.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        if ppid == Some(pid) && head.ends_with("(ping") {
            kids.push(p);
        }
    }
    kids
}

fn ctrl_c_ends_and_reaps_the_ping_children_within_a_second() -> Ran {
    let targets = format!("{DEAD_HOST},Dead host\n198.18.31.7,Dead too\n127.0.0.1,Loopback\n");
    let (_lab, _dir, mut c) = setup("q", &targets)?;
    // Echoes that wait 5 s: a child is certainly running when Ctrl-C comes.
    c.args(["--cycles", "1", "--pings", "2", "--timeout", "5"])
        .args(["--datalog", "d.csv"]);
    let mut r = Running::spawn(c);
    r.wait_line("Start vpnmon test cycle 1", Duration::from_secs(20));
    let pid = r.pid();
    let mut kids = Vec::new();
    core_support::wait_until(
        "the ping children of vpnmon",
        Duration::from_secs(5),
        || {
            kids = ping_children(pid);
            kids.len() >= 2
        },
    );
    r.signal(Signal::SIGINT);
    let st = r.wait_exit(Duration::from_secs(3));
    let took = r.since_signal();
    assert!(st.success(), "{st:?}: {}", r.text());
    assert!(took < Duration::from_secs(1), "Ctrl-C took {took:?}");
    // Ended and reaped by vpnmon: no such process any more (not even a zombie).
    for k in kids {
        assert!(
            !Path::new(&format!("/proc/{k}")).exists(),
            "ping child {k} outlived vpnmon"
        );
    }
    Ok(())
}
