//! End-to-end tests of `--vpnclient openconnect` against a real ocserv gateway: the real vpnmon
//! binary runs inside the client namespace of a lab made by tests/lab/lab-up.sh (see
//! the README, "Try it against a real gateway"). Each test builds its own lab (unique name: pid + test index) and tears
//! it down on drop, also on panic; the tests run one at a time behind a lock so that timing on a
//! busy machine does not mix them up. Reported as ignored with the reason when not root or
//! a prerequisite (/dev/net/tun, a lab program) is missing; with VPNMON_TESTS_REQUIRE_ALL=1 (CI)
//! that is a failure. Labs left by a test process
//! that was killed are torn down by the next run. Every child process is waited on with a deadline.

mod core_support;

use core_support::harness::{ignore, need_root, Ignored, Ran};
use core_support::{poll_until, vpnmon_bin, Next, Running};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab")
}

/// How long any one helper program or vpnmon run may take before the test kills it and fails.
const CHILD_DEADLINE: Duration = Duration::from_secs(90);

/// Where the lab scripts keep their labs (they honour the same variable).
fn lab_base() -> PathBuf {
    std::env::var_os("VPNMON_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/vpnmon-lab"))
}

/// PATH plus the sbin directories, where ocserv, nft and ip live on Debian.
fn search_path() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// What the lab lacks on this machine, if anything.
fn missing_prerequisite() -> Option<String> {
    if !Path::new("/dev/net/tun").exists() {
        return Some("needs /dev/net/tun".into());
    }
    let path = search_path();
    for p in [
        "ip",
        "nft",
        "ocserv",
        "ocpasswd",
        "certtool",
        "occtl",
        "openconnect",
        "flock",
    ] {
        if !std::env::split_paths(&path).any(|d| d.join(p).is_file()) {
            return Some(format!(
                "{p} not installed (apt-get install ocserv openconnect gnutls-bin nftables iproute2)"
            ));
        }
    }
    None
}

/// Whether a lab can be built here: root, /dev/net/tun and the lab's programs; else why not.
fn lab_possible() -> Ran {
    need_root("network namespaces, ocserv")?;
    match missing_prerequisite() {
        Some(r) => Err(ignore(r)),
        None => Ok(()),
    }
}

/// Runs `cmd` to its end or kills it at `within`; None if it had to be killed.
fn run_within(mut cmd: Command, within: Duration) -> Option<Output> {
    cmd.env("PATH", search_path());
    let out = Running::try_spawn(cmd).ok()?.finish_within(within)?;
    Some(Output {
        status: out.status,
        stdout: out.stdout.into_bytes(),
        stderr: out.stderr.into_bytes(),
    })
}

/// `run_within` with the test's deadline; a child that does not finish fails the test.
fn output(cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    run_within(cmd, CHILD_DEADLINE)
        .unwrap_or_else(|| panic!("{what} did not finish within {CHILD_DEADLINE:?} (killed)"))
}

/// Tears down labs of this test file whose test process no longer runs (killed mid-test).
fn reap_stale_labs() {
    let Ok(dir) = std::fs::read_dir(lab_base()) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("ocl")
            .and_then(|r| r.split_once('t'))
            .and_then(|(p, _)| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !e.path().is_dir() || pid as u32 == std::process::id() {
            continue;
        }
        let dead = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if dead {
            let mut c = Command::new(lab_dir().join("lab-down.sh"));
            c.arg(&name);
            let _ = run_within(c, CHILD_DEADLINE);
            let _ = std::fs::remove_file(lab_base().join(format!("{name}.lock")));
        }
    }
}

/// A lab; torn down on drop.
struct Lab {
    name: String,
    env: HashMap<String, String>,
    work: tempfile::TempDir,
}

impl Lab {
    /// Builds lab number `idx` of this test process, or says why the test is ignored here.
    fn up(idx: u32) -> Result<Lab, Ignored> {
        lab_possible()?;
        reap_stale_labs();
        let name = format!("ocl{}t{idx}", std::process::id());
        let work = tempfile::tempdir().expect("temp dir");
        let mut lab = Lab {
            name: name.clone(),
            env: HashMap::new(),
            work,
        };
        let mut c = Command::new(lab_dir().join("lab-up.sh"));
        c.arg(&name);
        let out = output(c);
        assert!(
            out.status.success(),
            "lab-up.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env_file = lab_base().join(&name).join("lab.env");
        let text = std::fs::read_to_string(&env_file).expect("lab.env");
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                lab.env.insert(k.to_string(), v.to_string());
            }
        }
        Ok(lab)
    }

    fn get(&self, k: &str) -> &str {
        self.env.get(k).map(String::as_str).unwrap_or("")
    }

    fn client_ns(&self) -> String {
        format!("{}-client", self.name)
    }

    fn datalog(&self) -> PathBuf {
        self.work.path().join("datalog.csv")
    }

    /// `ip netns exec CLIENT vpnmon` with the lab's gateway, user, pin and targets; the password
    /// through the environment. `extra` comes last and overrides.
    fn vpnmon(&self, extra: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client_ns()])
            .arg(vpnmon_bin())
            .arg("--params=/dev/null")
            .arg("--vpnclient=openconnect")
            .arg("--vpnname=Lab Gateway")
            .arg(format!("--vpnurlip={}", self.get("GW")))
            .arg(format!("--username={}", self.get("VPN_USER")))
            .arg(format!("--servercert={}", self.get("PIN")))
            .arg(format!("--targets={}", self.get("TARGETS")))
            .arg(format!("--datalog={}", self.datalog().display()))
            .arg("--delay=0")
            .arg("--quiet")
            .args(extra)
            .env("VPNMON_PASSWORD", self.get("VPN_PASSWORD"))
            .env("RUST_BACKTRACE", "0")
            .env("PATH", search_path())
            // The connect script's private directory goes here, where the test can see it.
            .env("TMPDIR", self.work.path())
            .current_dir(self.work.path());
        c
    }

    fn run(&self, extra: &[&str]) -> Output {
        let out = output(self.vpnmon(extra));
        self.assert_no_password(&out);
        out
    }

    fn assert_no_password(&self, out: &Output) {
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            self.assert_no_password_in(what, &String::from_utf8_lossy(bytes));
        }
    }

    fn assert_no_password_in(&self, what: &str, text: &str) {
        let pw = self.get("VPN_PASSWORD");
        assert!(!pw.is_empty());
        assert!(!text.contains(pw), "password in {what}");
        if let Ok(d) = std::fs::read_to_string(self.datalog()) {
            assert!(!d.contains(pw), "password in the datalog");
        }
    }

    /// Datalog rows without the date and time columns: `cycle,test,result,address,name`.
    fn rows(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.datalog()).unwrap_or_default();
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert!(f.len() >= 7, "short datalog row {l:?}");
                [f[0], f[3], f[4], f[5], &f[6..].join(",")].join(",")
            })
            .collect()
    }

    /// PIDs of openconnect processes in the client namespace (not zombies waiting for a reaper).
    fn openconnects(&self) -> Vec<u32> {
        let mut c = Command::new("ip");
        c.args(["netns", "pids", &self.client_ns()]);
        let out = output(c);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|p| {
                let comm = std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .map(|c| c.trim() == "openconnect")
                    .unwrap_or(false);
                let zombie = std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(") ")
                            .map(|(_, r)| r.starts_with('Z') || r.starts_with('X'))
                    })
                    .unwrap_or(true);
                comm && !zombie
            })
            .collect()
    }

    /// Routes in the client namespace that the tunnel added (through a vpnmon device, to the
    /// facility or the gateway's host route).
    fn tunnel_routes(&self) -> Vec<String> {
        let mut c = Command::new("ip");
        c.args(["-n", &self.client_ns(), "route", "show"]);
        text(&output(c).stdout)
            .lines()
            .filter(|l| {
                l.contains("vpnmon") || l.starts_with("198.19.") || l.starts_with("198.18.1.1 ")
            })
            .map(str::to_string)
            .collect()
    }

    /// Sessions ocserv still has (`occtl show users`, minus the header).
    fn gateway_users(&self) -> Vec<String> {
        let out = self.gw_exec(&["occtl", "-s", self.get("OCCTL_SOCKET"), "show", "users"]);
        assert!(out.status.success(), "occtl: {}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("id "))
            .map(str::to_string)
            .collect()
    }

    /// The connect-script directories in the test's TMPDIR.
    fn script_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.work.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("vpnmon-oc-"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// openconnect processes not forked by an openconnect (it forks briefly to run its script).
    fn top_level_openconnects(&self) -> usize {
        let all = self.openconnects();
        all.iter()
            .filter(|p| {
                let ppid = std::fs::read_to_string(format!("/proc/{p}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("PPid:"))
                            .and_then(|l| l.split_whitespace().nth(1))
                            .and_then(|v| v.parse::<u32>().ok())
                    });
                !ppid.is_some_and(|pp| all.contains(&pp))
            })
            .count()
    }

    /// Names of vpnmon tun devices in the client namespace.
    fn tun_devices(&self) -> Vec<String> {
        let mut c = Command::new("ip");
        c.args(["-n", &self.client_ns(), "-o", "link", "show"]);
        let out = output(c);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
            .filter(|n| n.starts_with("vpnmon"))
            .collect()
    }

    fn assert_clean(&self) {
        assert!(self.openconnects().is_empty(), "openconnect left running");
        assert!(
            self.tun_devices().is_empty(),
            "tun device left: {:?}",
            self.tun_devices()
        );
    }

    fn gw_exec(&self, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.get("GW_NS")]).args(args);
        output(c)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let mut c = Command::new(lab_dir().join("lab-down.sh"));
        c.arg(&self.name);
        let _ = run_within(c, CHILD_DEADLINE);
        // lab-down.sh keeps lock files; this lab's name is this test's alone.
        let _ = std::fs::remove_file(lab_base().join(format!("{}.lock", self.name)));
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The rows of one good cycle; the flaky host's result is `*`.
fn good_cycle(n: u32) -> Vec<String> {
    [
        "VPN ping,Good,198.18.1.1,Lab Gateway",
        "VPN open,Good,198.18.1.1,Lab Gateway",
        "Target ping,Good,198.19.10.1,Facility host 1",
        "Target ping,Good,198.19.10.2,Facility host 2",
        "Target ping,Good,198.19.10.3,Facility host 3",
        "Target ping,*,198.19.10.4,Flaky host",
        "Target ping,Fail,198.19.10.5,Dead host",
        "VPN close,Good,198.18.1.1,Lab Gateway",
    ]
    .iter()
    .map(|r| format!("{n},{r}"))
    .collect()
}

/// Compares rows with `*` standing for Good, Warn or Fail; returns the flaky results seen.
fn match_rows(got: &[String], want: &[String]) -> Vec<String> {
    assert_eq!(
        got.len(),
        want.len(),
        "row count\n got: {got:#?}\nwant: {want:#?}"
    );
    let mut wild = Vec::new();
    for (g, w) in got.iter().zip(want) {
        if w.contains(",*,") {
            let (pre, post) = w.split_once(",*,").unwrap();
            let mid = g
                .strip_prefix(&format!("{pre},"))
                .and_then(|r| r.strip_suffix(&format!(",{post}")))
                .unwrap_or_else(|| panic!("row {g:?} does not match {w:?}"));
            assert!(
                ["Good", "Warn", "Fail"].contains(&mid),
                "row {g:?}: result {mid:?}"
            );
            wild.push(mid.to_string());
        } else {
            assert_eq!(g, w);
        }
    }
    wild
}

/// Spawns vpnmon with its stdout and stderr read line by line (the shared runner: killed and
/// reaped on drop, also on panic).
fn spawn_lines(cmd: Command) -> Running {
    Running::spawn(cmd)
}

// (a) Five cycles with delay 0: exact rows; nothing left behind.
fn a_five_good_cycles_exact_datalog() -> Ran {
    let _g = lock();
    let lab = Lab::up(1)?;
    let t = Instant::now();
    let out = lab.run(&["--cycles=5"]);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let want: Vec<String> = (1..=5).flat_map(good_cycle).collect();
    match_rows(&lab.rows(), &want);
    assert!(text(&out.stdout).contains("5 vpnmon test cycles completed"));
    lab.assert_clean();
    eprintln!("5 cycles (pings 2, timeout 1 s) took {took:?}");
    Ok(())
}

// (a) The flaky host: never a crash, Warn at least once over 20 cycles with 4 pings.
fn a_flaky_host_warns_over_twenty_cycles() -> Ran {
    let _g = lock();
    let lab = Lab::up(2)?;
    let out = lab.run(&["--cycles=20", "--pings=4", "--timeout=0.5"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let want: Vec<String> = (1..=20).flat_map(good_cycle).collect();
    let flaky = match_rows(&lab.rows(), &want);
    assert!(
        flaky.iter().any(|r| r == "Warn"),
        "flaky host never Warn: {flaky:?}"
    );
    lab.assert_clean();
    Ok(())
}

// (b) Wrong password: open Fail with the reason, no target pings, the next cycle runs.
fn b_wrong_password_fails_open_without_pings() -> Ran {
    let _g = lock();
    let lab = Lab::up(3)?;
    let out = lab.run(&["--cycles=2", "--password=not-the-password"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Good,198.18.1.1,Lab Gateway",
            "1,VPN open,Fail,198.18.1.1,Lab Gateway",
            "2,VPN ping,Good,198.18.1.1,Lab Gateway",
            "2,VPN open,Fail,198.18.1.1,Lab Gateway",
        ]
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("login failed (wrong username or password)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("not-the-password"),
        "wrong password printed"
    );
    lab.assert_clean();
    Ok(())
}

// (c) A certificate that cannot be verified is a Fail, never accepted; the CA file works.
fn c_unverifiable_certificate_fails_and_cafile_works() -> Ran {
    let _g = lock();
    let lab = Lab::up(4)?;
    let out = lab.run(&["--cycles=1", "--servercert="]);
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Good,198.18.1.1,Lab Gateway",
            "1,VPN open,Fail,198.18.1.1,Lab Gateway",
        ]
    );
    assert!(
        text(&out.stdout).contains("certificate could not be verified"),
        "{}",
        text(&out.stdout)
    );
    lab.assert_clean();

    std::fs::remove_file(lab.datalog()).expect("remove datalog");
    let ca = format!("--cafile={}", lab.get("CAFILE"));
    let out = lab.run(&["--cycles=1", "--servercert=", &ca]);
    assert!(out.status.success());
    match_rows(&lab.rows(), &good_cycle(1));
    lab.assert_clean();
    Ok(())
}

// (d) ocserv stopped: gateway ping Good, open Fail (refused). Unreachable gateway: ping Fail,
// no open attempted, and its row says Fail (as the original).
fn d_gateway_down_or_unreachable() -> Ran {
    let _g = lock();
    let lab = Lab::up(5)?;
    let pid: i32 = lab.get("OCSERV_PID").parse().expect("OCSERV_PID");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("stop ocserv");
    let gone = poll_until(Duration::from_secs(5), || {
        !lab.gw_exec(&["ss", "-Hltn", "sport = :443"])
            .stdout
            .windows(3)
            .any(|w| w == b"443")
    });
    assert!(gone.is_some(), "ocserv still listening");
    let out = lab.run(&["--cycles=1"]);
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Good,198.18.1.1,Lab Gateway",
            "1,VPN open,Fail,198.18.1.1,Lab Gateway",
        ]
    );
    assert!(
        text(&out.stdout).contains("connection refused"),
        "{}",
        text(&out.stdout)
    );
    lab.assert_clean();

    std::fs::remove_file(lab.datalog()).expect("remove datalog");
    let out = lab.run(&["--cycles=1", "--vpnurlip=198.18.1.99", "--timeout=0.3"]);
    assert!(out.status.success());
    // As the original: the open is not tried, and its row says Fail.
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Fail,198.18.1.99,Lab Gateway",
            "1,VPN open,Fail,198.18.1.99,Lab Gateway",
        ]
    );
    assert!(
        text(&out.stdout).contains(
            "-- VPN open() --------- Fail Lab Gateway  (not tried: the gateway ping was Fail)"
        ),
        "{}",
        text(&out.stdout)
    );
    lab.assert_clean();
    Ok(())
}

// (e) The gateway's worker for the session is killed (kill -9) in the middle of a long sweep.
// openconnect reconnects by itself within a fraction of a second, so the targets may well answer;
// the drop is reported on the close row: Fail, "the tunnel dropped during the cycle and openconnect
// reconnected". The next cycle is all Good.
fn e_worker_killed_mid_sweep_is_reported_and_next_cycle_recovers() -> Ran {
    let _g = lock();
    let lab = Lab::up(6)?;
    let mut run = spawn_lines(lab.vpnmon(&["--cycles=2", "--pings=5", "--timeout=3"]));
    run.wait_line_with_all(&["VPN open()", "Good"], Duration::from_secs(30));
    let opened = Instant::now();
    let users = lab.gateway_users();
    assert_eq!(users.len(), 1, "{users:?}");
    let worker: i32 = users[0]
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no worker id in {users:?}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the ocserv worker");
    // The sweep waits 3 s for the dead host; the drop must fall inside it.
    assert!(
        opened.elapsed() < Duration::from_secs(2),
        "the drop came {:?} after the open, maybe after the sweep; the test proves nothing",
        opened.elapsed()
    );
    let close = run.wait_line_with_all(&["VPN close()"], Duration::from_secs(30));
    let close = close
        .split_once("-- ")
        .map(|(_, r)| r.to_string())
        .unwrap_or(close);
    assert!(
        close.starts_with(
            "VPN close() -------- Fail Lab Gateway  (the tunnel dropped during the cycle \
             and openconnect reconnected, "
        ),
        "{close}"
    );
    let status = run.wait_exit(Duration::from_secs(60));
    lab.assert_no_password_in("output", &run.text());
    assert!(status.success(), "{}", run.text());
    let rows = lab.rows();
    assert_eq!(rows.len(), 16, "{rows:#?}");
    let mut first = good_cycle(1);
    // The facility hosts may miss a ping or two while the tunnel is re-established.
    for r in &mut first[2..5] {
        *r = r.replace(",Good,", ",*,");
    }
    first[7] = "1,VPN close,Fail,198.18.1.1,Lab Gateway".into();
    match_rows(&rows[..8], &first);
    match_rows(&rows[8..], &good_cycle(2));
    lab.assert_clean();
    assert!(lab.gateway_users().is_empty(), "{:?}", lab.gateway_users());
    Ok(())
}

// The gateway disconnects the session as the tunnel comes up (occtl, through a shim around
// openconnect): targets Fail, the close is handled (a row, no process or device left), the next
// cycle recovers.
fn e_session_disconnected_by_the_gateway_then_next_cycle_recovers() -> Ran {
    let _g = lock();
    let lab = Lab::up(10)?;
    let flag = lab.work.path().join("drop-once");
    std::fs::write(&flag, "").expect("flag");
    let shim = lab_dir().join("openconnect-drop-shim.sh");
    let oc = format!("--openconnect={}", shim.display());
    let mut cmd = lab.vpnmon(&["--cycles=2", &oc, "--timeout=0.5"]);
    cmd.env("VPNMON_LAB_DROP", &flag)
        .env("VPNMON_LAB_GW_NS", lab.get("GW_NS"))
        .env("VPNMON_LAB_OCCTL", lab.get("OCCTL_SOCKET"))
        .env("VPNMON_LAB_USER", lab.get("VPN_USER"));
    let out = output(cmd);
    lab.assert_no_password(&out);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!flag.exists(), "the drop did not happen");
    let rows = lab.rows();
    assert_eq!(rows.len(), 16, "{rows:#?}");
    let first: Vec<String> = [
        "1,VPN ping,Good,198.18.1.1,Lab Gateway",
        "1,VPN open,Good,198.18.1.1,Lab Gateway",
        "1,Target ping,Fail,198.19.10.1,Facility host 1",
        "1,Target ping,Fail,198.19.10.2,Facility host 2",
        "1,Target ping,Fail,198.19.10.3,Facility host 3",
        "1,Target ping,Fail,198.19.10.4,Flaky host",
        "1,Target ping,Fail,198.19.10.5,Dead host",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(rows[..7], first[..]);
    assert_eq!(rows[7], "1,VPN close,Fail,198.18.1.1,Lab Gateway");
    let stdout = text(&out.stdout);
    let close = stdout
        .lines()
        .find(|l| l.contains("VPN close()"))
        .unwrap_or_else(|| panic!("no close line in\n{stdout}"));
    assert!(
        close.contains("Fail Lab Gateway  (the tunnel had already dropped (openconnect exited, "),
        "{close}"
    );
    match_rows(&rows[8..], &good_cycle(2));
    lab.assert_clean();
    Ok(())
}

// (f) Ctrl-C while connected, sent to vpnmon's process group as a terminal does: openconnect and
// its tun device gone within 1 s, its routes gone, the gateway session logged off, exit status 0,
// the close row Good; the password never in openconnect's command line or environment.
fn f_ctrl_c_while_connected_cleans_up_within_a_second() -> Ran {
    let _g = lock();
    let lab = Lab::up(7)?;
    // A long echo timeout keeps the sweep (the dead host) waiting while connected.
    let mut cmd = lab.vpnmon(&["--cycles=1", "--timeout=10"]);
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut run = spawn_lines(cmd);
    let line = run.wait_line_with_all(&["VPN open()", "Good"], Duration::from_secs(20));
    let dev = line
        .split_whitespace()
        .find(|w| w.starts_with("vpnmon"))
        .map(|w| w.trim_end_matches([',', ')']).to_string())
        .expect("tun device in the open line");
    assert_eq!(lab.tun_devices(), vec![dev.clone()]);
    assert!(!lab.tunnel_routes().is_empty(), "no tunnel routes while up");
    assert_eq!(lab.gateway_users().len(), 1);
    let ocs = lab.openconnects();
    assert_eq!(ocs.len(), 1);
    let pw = lab.get("VPN_PASSWORD");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", ocs[0])).expect("cmdline");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("--passwd-on-stdin"), "{cmdline}");
    assert!(
        !cmdline.contains(pw),
        "password on openconnect's command line"
    );
    let environ = std::fs::read(format!("/proc/{}/environ", ocs[0])).expect("environ");
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        !environ.contains(pw),
        "password in openconnect's environment"
    );
    assert!(
        !environ.contains("VPNMON_PASSWORD"),
        "VPNMON_PASSWORD inherited"
    );
    let t = Instant::now();
    run.signal_group(nix::sys::signal::Signal::SIGINT);
    let gone = poll_until(Duration::from_secs(3), || {
        lab.openconnects().is_empty() && lab.tun_devices().is_empty()
    });
    let gone = gone.unwrap_or_else(|| panic!("not cleaned up 3 s after Ctrl-C"));
    assert!(
        gone <= Duration::from_secs(1),
        "openconnect/tun gone only after {gone:?}"
    );
    let status = run.wait_exit(Duration::from_secs(5));
    let whole = t.elapsed();
    lab.assert_no_password_in("output", &run.text());
    assert_eq!(status.code(), Some(0), "{}", run.text());
    assert_eq!(lab.tunnel_routes(), Vec::<String>::new());
    assert_eq!(lab.gateway_users(), Vec::<String>::new(), "not logged off");
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Good,198.18.1.1,Lab Gateway",
            "1,VPN open,Good,198.18.1.1,Lab Gateway",
            "1,VPN close,Good,198.18.1.1,Lab Gateway",
        ]
    );
    assert!(lab.script_dirs().is_empty(), "{:?}", lab.script_dirs());
    lab.assert_clean();
    eprintln!("Ctrl-C to openconnect and {dev} gone: {gone:?} (whole exit {whole:?})");
    Ok(())
}

// vpnmon killed with SIGKILL while connected (no clean-up code runs): openconnect gets its
// parent-death signal, logs off and removes its tun device; the next vpnmon removes the script.
fn f_sigkill_while_connected_leaves_no_tunnel() -> Ran {
    let _g = lock();
    let lab = Lab::up(11)?;
    let mut run = spawn_lines(lab.vpnmon(&["--cycles=1", "--timeout=10"]));
    run.wait_line_with_all(&["VPN open()", "Good"], Duration::from_secs(20));
    assert_eq!(lab.openconnects().len(), 1);
    assert_eq!(lab.script_dirs().len(), 1);
    run.kill();
    let gone = poll_until(Duration::from_secs(3), || {
        lab.openconnects().is_empty() && lab.tun_devices().is_empty()
    });
    let gone = gone.unwrap_or_else(|| {
        panic!(
            "openconnect {:?} / tun {:?} still there 3 s after vpnmon was killed",
            lab.openconnects(),
            lab.tun_devices()
        )
    });
    let logged_off = poll_until(Duration::from_secs(5), || lab.gateway_users().is_empty());
    assert!(logged_off.is_some(), "{:?}", lab.gateway_users());
    assert_eq!(lab.tunnel_routes(), Vec::<String>::new());
    // The next run's start-up check removes the dead run's script.
    let out = lab.run(&["--cycles=1", "--targets=/dev/null"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(lab.script_dirs().is_empty(), "{:?}", lab.script_dirs());
    lab.assert_clean();
    eprintln!("vpnmon SIGKILLed: openconnect and its tun gone after {gone:?}");
    Ok(())
}

// A pinned certificate that does not match is a Fail, never accepted.
fn c_wrong_pin_fails_open() -> Ran {
    let _g = lock();
    let lab = Lab::up(12)?;
    let out = lab.run(&[
        "--cycles=1",
        "--servercert=pin-sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Good,198.18.1.1,Lab Gateway",
            "1,VPN open,Fail,198.18.1.1,Lab Gateway",
        ]
    );
    assert!(
        text(&out.stdout).contains("certificate could not be verified"),
        "{}",
        text(&out.stdout)
    );
    assert!(lab.gateway_users().is_empty());
    lab.assert_clean();
    Ok(())
}

// --vpn-timeout=1 with a gateway that never answers the TLS connection: open Fail (timeout)
// within about 1.5 s, no openconnect left.
fn d_vpn_timeout_with_a_hanging_gateway() -> Ran {
    let _g = lock();
    let lab = Lab::up(13)?;
    for rule in [
        "add chain inet vpnmonlab input { type filter hook input priority 0; }",
        "add rule inet vpnmonlab input tcp dport 443 drop",
    ] {
        let args: Vec<&str> = std::iter::once("nft").chain(rule.split(' ')).collect();
        let out = lab.gw_exec(&args);
        assert!(out.status.success(), "nft {rule}: {}", text(&out.stderr));
    }
    let mut run = spawn_lines(lab.vpnmon(&["--cycles=1", "--vpn-timeout=1"]));
    run.wait_line_with_all(&["VPN ping", "Good"], Duration::from_secs(20));
    let t = Instant::now();
    let open = run.wait_line_with_all(&["VPN open()"], Duration::from_secs(10));
    let took = t.elapsed();
    assert!(
        open.contains("Fail") && open.contains("did not bring the tunnel up within 1 s"),
        "{open}"
    );
    assert!(took <= Duration::from_millis(1600), "open took {took:?}");
    let status = run.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{}", run.text());
    assert_eq!(
        lab.rows(),
        [
            "1,VPN ping,Good,198.18.1.1,Lab Gateway",
            "1,VPN open,Fail,198.18.1.1,Lab Gateway",
        ]
    );
    lab.assert_clean();
    eprintln!("--vpn-timeout=1 against a hanging gateway: open Fail after {took:?}");
    Ok(())
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

// (g) 50 cycles: never more than one openconnect, none left after, RSS stable.
fn g_fifty_cycles_leave_nothing_and_rss_is_stable() -> Ran {
    let _g = lock();
    let lab = Lab::up(8)?;
    let t = Instant::now();
    let mut run = spawn_lines(lab.vpnmon(&["--cycles=50", "--pings=1", "--timeout=0.2"]));
    let pid = run.pid();
    run.wait_line_with_all(&["End vpnmon test cycle 5 of 50"], Duration::from_secs(120));
    let rss5 = rss_kb(pid).expect("rss at cycle 5");
    let mut most = 0;
    let mut rss45 = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        most = most.max(lab.top_level_openconnects());
        match run.next_line(Duration::from_millis(20)) {
            Next::Line(l) => {
                if l.contains("End vpnmon test cycle 45 of 50") {
                    rss45 = rss_kb(pid);
                }
            }
            Next::Timeout => {}
            Next::Closed => break,
        }
        assert!(Instant::now() < deadline, "50 cycles took over 5 minutes");
    }
    let status = run.wait_exit(Duration::from_secs(60));
    let took = t.elapsed();
    assert!(status.success());
    assert!(most <= 1, "{most} openconnect processes at once");
    let rss45 = rss45.expect("rss at cycle 45");
    assert!(
        rss45 <= rss5 + 2048,
        "RSS grew from {rss5} kB (cycle 5) to {rss45} kB (cycle 45)"
    );
    let rows = lab.rows();
    assert_eq!(rows.len(), 50 * 8);
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains(",VPN close,Good,"))
            .count(),
        50
    );
    lab.assert_clean();
    eprintln!("50 cycles took {took:?}; RSS {rss5} kB at cycle 5, {rss45} kB at cycle 45");
    Ok(())
}

// Ctrl-C while openconnect hangs connecting (the gateway drops TLS connection attempts):
// openconnect gone within 1 s, no open row.
fn h_ctrl_c_during_a_hanging_open() -> Ran {
    let _g = lock();
    let lab = Lab::up(9)?;
    for rule in [
        "add chain inet vpnmonlab input { type filter hook input priority 0; }",
        "add rule inet vpnmonlab input tcp dport 443 drop",
    ] {
        let args: Vec<&str> = std::iter::once("nft").chain(rule.split(' ')).collect();
        let out = lab.gw_exec(&args);
        assert!(out.status.success(), "nft {rule}: {}", text(&out.stderr));
    }
    let mut run = spawn_lines(lab.vpnmon(&["--cycles=1"]));
    run.wait_line_with_all(&["VPN ping", "Good"], Duration::from_secs(20));
    let started = poll_until(Duration::from_secs(10), || !lab.openconnects().is_empty());
    assert!(started.is_some(), "openconnect never started");
    run.signal(nix::sys::signal::Signal::SIGINT);
    let gone = poll_until(Duration::from_secs(3), || lab.openconnects().is_empty())
        .unwrap_or_else(|| panic!("openconnect still running 3 s after Ctrl-C"));
    assert!(
        gone <= Duration::from_secs(1),
        "openconnect gone after {gone:?}"
    );
    let status = run.wait_exit(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0), "{}", run.text());
    lab.assert_no_password_in("output", &run.text());
    assert_eq!(lab.rows(), ["1,VPN ping,Good,198.18.1.1,Lab Gateway"]);
    lab.assert_clean();
    eprintln!("Ctrl-C during a hanging open: openconnect gone after {gone:?}");
    Ok(())
}

// No root or ICMP permission needed: a missing openconnect is one clear line at start-up,
// before any cycle.
fn missing_openconnect_is_a_start_up_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(vpnmon_bin());
    cmd.args([
        "--params=/dev/null",
        "--vpnclient=openconnect",
        "--openconnect=/nonexistent/openconnect",
        "--vpnurlip=127.0.0.1",
        "--cycles=1",
        // No ICMP socket needed (run.rs opens the prober before it checks the driver).
        "--debug-fake-ping",
    ])
    .env("RUST_BACKTRACE", "0")
    .current_dir(dir.path());
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim(),
        "Error: the openconnect program '/nonexistent/openconnect' was not found; \
         install the openconnect package or give its path with --openconnect PATH"
    );
    assert!(!text(&out.stdout).contains("Start vpnmon test cycle"));
    assert!(!dir.path().join("vpnmon_datalog.csv").exists());
}

// A lab left behind by a test process that was killed (its pid is in the lab's name) is torn down
// by the next Lab::up.
fn stale_lab_of_a_killed_test_run_is_reaped() -> Ran {
    let _g = lock();
    lab_possible()?;
    // A pid that no longer runs: a child that has exited and been reaped.
    let mut c = Command::new("true").spawn().expect("true");
    c.wait().expect("wait");
    let dead = c.id();
    let stale = format!("ocl{dead}t99");
    let mut up = Command::new(lab_dir().join("lab-up.sh"));
    up.arg(&stale);
    let out = output(up);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lab = Lab::up(14)?;
    let mut ls = Command::new("ip");
    ls.args(["netns", "list"]);
    let names = text(&output(ls).stdout);
    assert!(
        !names.contains(&stale),
        "stale lab's namespaces left:\n{names}"
    );
    assert!(
        !lab_base().join(&stale).exists(),
        "stale lab's directory left"
    );
    assert!(names.contains(&lab.client_ns()));
    Ok(())
}

// (i) Three sites in one run (issue 12): the lab's OpenConnect gateway, a Cisco simulator and a
// SonicWall simulator whose login fails. The failing site leaves the others whole, every row
// carries its site, the sites run one after another (one tunnel at a time) and `interval` keeps
// its rate.
fn i_three_sites_openconnect_cisco_and_a_failing_sonicwall() -> Ran {
    let _g = lock();
    let lab = Lab::up(9)?;
    let work = lab.work.path();
    let cisco = work.join("cisco");
    std::fs::create_dir(&cisco).unwrap();
    std::fs::copy(core_support::vpncli_sim(), cisco.join("vpncli-sim")).unwrap();
    std::fs::write(
        cisco.join("vpncli-sim.env"),
        format!(
            "VPNCLI_SIM_PASSWORD=Cisco-pw-1\nVPNCLI_SIM_STATE={}/state\nVPNCLI_SIM_PIDS={}/pids\n",
            cisco.display(),
            cisco.display()
        ),
    )
    .unwrap();
    let sw = work.join("sw");
    std::fs::create_dir(&sw).unwrap();
    std::fs::copy(core_support::startct_sim(), sw.join("startct")).unwrap();
    let config = format!(
        "cycles = 3\ninterval = 6\ndatalog = \"{dl}\"\ndatalog_format = \"extended\"\nquiet = true\n\
         [[site]]\nname = \"Lab\"\nclient = \"openconnect\"\ngateway = \"{gw}\"\nusername = \"{user}\"\npassword_env = \"LAB_PW\"\nservercert = \"{pin}\"\ntargets = \"{targets}\"\n\
         [[site]]\nname = \"Cisco\"\nclient = \"anyconnect\"\ngateway = \"127.0.0.1\"\nusername = \"u\"\npassword_env = \"CISCO_PW\"\nvpncli_delay = 0\nclient_path = \"{cisco}\"\ntargets = [{{ address = \"127.0.0.2\", name = \"behind cisco\" }}]\n\
         [[site]]\nname = \"SonicWall\"\nclient = \"sonicwall\"\ngateway = \"127.0.0.3\"\nusername = \"u\"\npassword_env = \"SW_PW\"\nvpn_timeout = 5\nclient_path = \"{sw}\"\ntargets = [{{ address = \"127.0.0.4\", name = \"behind sonicwall\" }}]\n",
        dl = lab.datalog().display(),
        gw = lab.get("GW"),
        user = lab.get("VPN_USER"),
        pin = lab.get("PIN"),
        targets = lab.get("TARGETS"),
        cisco = cisco.join("vpncli-sim").display(),
        sw = sw.join("startct").display(),
    );
    std::fs::write(work.join("sites.toml"), config).unwrap();
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.client_ns()])
        .arg(vpnmon_bin())
        .args(["--config", "sites.toml"])
        .env("LAB_PW", lab.get("VPN_PASSWORD"))
        .env("CISCO_PW", "Cisco-pw-1")
        .env("SW_PW", "Sonic-wrong-pw")
        .env("STARTCT_SIM_PASSWORD", "Sonic-right-pw")
        .env("STARTCT_SIM_PIDS", sw.join("pids"))
        .env("STARTCT_SIM_LOG", sw.join("log"))
        .env("RUST_BACKTRACE", "0")
        .env("PATH", search_path())
        .env("TMPDIR", work)
        .current_dir(work);
    let out = run_within(c, Duration::from_secs(120)).expect("vpnmon ended within 120 s");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    for t in [
        &stdout,
        &stderr,
        &std::fs::read_to_string(lab.datalog()).unwrap(),
    ] {
        lab.assert_no_password_in("output", t);
        for pw in ["Cisco-pw-1", "Sonic-wrong-pw"] {
            assert!(!t.contains(pw), "a password leaked:\n{t}");
        }
    }
    // Rows: (cycle, site, test, result), in the order the sites ran.
    let log = std::fs::read_to_string(lab.datalog()).unwrap();
    let got: Vec<String> = log
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let result = if f[6] == "Flaky host" { "*" } else { f[4] };
            format!("{} {} {} {}", f[0], f[14], f[3], result)
        })
        .collect();
    let mut want = Vec::new();
    for n in 1..=3 {
        for w in [
            "Lab VPN ping Good",
            "Lab VPN open Good",
            "Lab Target ping Good",
            "Lab Target ping Good",
            "Lab Target ping Good",
            "Lab Target ping *",
            "Lab Target ping Fail",
            "Lab VPN close Good",
            "Cisco VPN ping Good",
            "Cisco VPN open Good",
            "Cisco Target ping Good",
            "Cisco VPN close Good",
            "SonicWall VPN ping Good",
            "SonicWall VPN open Fail",
        ] {
            want.push(format!("{n} {w}"));
        }
    }
    assert_eq!(got, want, "{log}\n{stdout}");
    // One tunnel at a time: every site's rows follow the previous site's close (the order above),
    // their times never go back, and nothing is left: no openconnect, no simulator.
    let times: Vec<String> = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{log}");
    lab.assert_clean();
    for pids in [cisco.join("pids"), sw.join("pids")] {
        for pid in std::fs::read_to_string(pids).unwrap_or_default().lines() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                stat.is_empty() || stat.contains(") Z "),
                "simulator {pid} left: {stat}"
            );
        }
    }
    // `interval` keeps its rate: the cycles start 6 s apart whatever they last.
    let starts: Vec<chrono::NaiveDateTime> = stdout
        .lines()
        .filter(|l| l.contains("Start vpnmon test cycle"))
        .map(|l| {
            chrono::NaiveDateTime::parse_from_str(&l[4..23], "%Y/%m/%d %H:%M:%S")
                .unwrap_or_else(|e| panic!("{l}: {e}"))
        })
        .collect();
    assert_eq!(starts.len(), 3, "{stdout}");
    for w in starts.windows(2) {
        let gap = (w[1] - w[0]).num_seconds();
        assert!(
            (5..=7).contains(&gap),
            "cycles {gap} s apart, not 6:\n{stdout}"
        );
    }
    Ok(())
}

// (j) Issue 14: `--trace-on-fail` through the real tunnel. The dead facility host (its echoes
// dropped by the facility) is traced while the VPN is still open: its path starts at the
// gateway's side of the tunnel (the hop that answers TTL 1 through the tun device), then only
// stars, in the console and in the extended row; the hosts that answered are not traced.
fn j_trace_on_fail_shows_the_tunnel_s_hops() -> Ran {
    let _g = lock();
    let lab = Lab::up(15)?;
    let out = lab.run(&[
        "--cycles=1",
        "--timeout=0.5",
        "--trace-on-fail",
        "--trace-deadline=4",
        "--datalog-format=extended",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let log = std::fs::read_to_string(lab.datalog()).unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(log.as_bytes());
    let head = rd.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (addr, path, result) = (col("address"), col("path"), col("result"));
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let dead = rows
        .iter()
        .find(|r| &r[addr] == "198.19.10.5")
        .unwrap_or_else(|| panic!("no row of the dead host: {log}"));
    assert_eq!(&dead[result], "Fail", "{log}");
    let hops: Vec<&str> = dead[path].split(' ').collect();
    eprintln!("dead facility host's path: {:?}", &dead[path]);
    // The gateway's end of the tunnel answers the first hop: an address of the VPN pool
    // (198.18.100.0/24, lab-up.sh), not the gateway's outside address, not a star.
    assert!(
        hops[0].starts_with("198.18.100."),
        "first hop {:?}: {log}",
        hops[0]
    );
    assert!(
        hops.len() >= 2 && hops[1..].iter().all(|h| *h == "*"),
        "{log}"
    );
    for r in rows.iter().filter(|r| &r[result] == "Good") {
        assert_eq!(&r[path], "", "a Good row is not traced: {log}");
    }
    // The console shows the same path after the dead host's line, before the close.
    let shown = format!("(path: {})", hops.join(" → "));
    let at = stdout
        .lines()
        .position(|l| l.contains(&shown))
        .unwrap_or_else(|| panic!("{shown} not on the console: {stdout}"));
    let close = stdout
        .lines()
        .position(|l| l.contains("-- VPN close()"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(at < close, "the path comes before the close: {stdout}");
    lab.assert_clean();
    Ok(())
}

crate::harness_main!(
    a_five_good_cycles_exact_datalog,
    a_flaky_host_warns_over_twenty_cycles,
    b_wrong_password_fails_open_without_pings,
    c_unverifiable_certificate_fails_and_cafile_works,
    d_gateway_down_or_unreachable,
    e_worker_killed_mid_sweep_is_reported_and_next_cycle_recovers,
    e_session_disconnected_by_the_gateway_then_next_cycle_recovers,
    f_ctrl_c_while_connected_cleans_up_within_a_second,
    f_sigkill_while_connected_leaves_no_tunnel,
    c_wrong_pin_fails_open,
    d_vpn_timeout_with_a_hanging_gateway,
    g_fifty_cycles_leave_nothing_and_rss_is_stable,
    h_ctrl_c_during_a_hanging_open,
    missing_openconnect_is_a_start_up_error,
    stale_lab_of_a_killed_test_run_is_reaped,
    i_three_sites_openconnect_cisco_and_a_failing_sonicwall,
    j_trace_on_fail_shows_the_tunnel_s_hops,
);
