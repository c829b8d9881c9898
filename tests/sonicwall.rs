//! The SonicWall Connect Tunnel driver end to end: the real `vpnmon` binary drives `startct-sim`
//! (a stand-in for `startct`, tests/sim/startct_sim.rs) through a pseudo-terminal. Gateway and
//! targets are on 127.0.0.x, answered by the built-in fake prober (`--debug-fake-ping`).
//!
//! Each bed is a folder of its own holding the client's "installation" (copies of the simulator
//! as `bin/startct`, `bin/AvConnect`, `jre/bin/java`, and `bin/SnwlConnect.jar`): vpnmon ends
//! the client's processes by executable path or, for `java`, by the jar's path inside the
//! client's folders, so beds never touch each other's processes (nor anything else).
//!
//! The scenarios are one table: the simulator's behaviour, the options, and what must come of
//! it (rows, console, exit code, the simulator's log). Every row also checks that the password is
//! nowhere (stdout, stderr, datalog, vpnmon's `--log-file`, the simulator's log) and that no
//! simulator is left.
//!
//! The clean-up tests (left-over processes, a resolver file left rewritten) need root: they run
//! in a private PID namespace (`unshare -p -f --mount-proc`; another `java` that must survive is
//! there too) and, for the resolver file, a private mount namespace with a file of the bed
//! bind-mounted over `/etc/resolv.conf` — the machine's own file is never written (checked).
#![cfg(unix)]

mod core_support;
use core_support::harness::{need_programs, need_root, trial, Ran};
use core_support::{run, startct_sim, wait_until, Finished, Running};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "Sw-4q8Rz1x";
/// vpnmon's stop: within 1 s, plus the grace a client gets (300 ms), plus a margin for a
/// loaded machine.
const STOP_WITHIN: Duration = Duration::from_millis(1500);

// ---- The table --------------------------------------------------------------------------------

type Case = (&'static str, fn() -> Scenario);

fn cases() -> Vec<Case> {
    vec![
        ("connects_and_quits_in_every_cycle", || {
            good("ok", 2)
                .log_has("start -s 127.0.0.1 -r corp -y 5")
                .log_has("typed username bob")
                .log_has("typed password (hidden)")
                .log_has("typed choice 1")
                .log_has("quit")
                .log_times("exit", 2)
        }),
        ("the_choice_asked_for_is_typed", || {
            good("ok", 1)
                .args(&["--sonicwall-choice", "2"])
                .log_has("typed choice 2")
        }),
        ("without_a_realm_no_r_is_given", || {
            let mut s = good("ok", 1).log_has("start -s 127.0.0.1 -y 5");
            s.realm = false;
            s
        }),
        ("the_clients_helpers_ended_by_quit_leave_nothing", || {
            good("ok", 1)
                .helpers()
                .never_says("ended what the SonicWall client left running")
        }),
        ("another_instance_running", || {
            open_fails(
                "busy",
                "another instance of the SonicWall client is running",
            )
            .says("Another instance of this Application is running")
        }),
        ("wrong_password_fails_once_without_looping", || {
            open_fails("ok", "login failed (wrong username or password)")
                .password("not-the-password")
                .says_times("Authentication failed", 2)
                .never_says("not-the-password")
        }),
        ("login_refused", || {
            open_fails("login_failed", "login failed (wrong username or password)")
        }),
        ("a_client_that_never_connects_times_out", || {
            open_fails(
                "hang_before",
                "the SonicWall client did not connect within 1 s",
            )
            .args(&["--vpn-timeout", "1"])
            .says("Enter your choice [1]:")
        }),
        ("a_crash_while_connecting", || {
            open_fails("crash", "the client crashed (SIGABRT) while connecting")
        }),
        ("end_of_output_while_connecting", || {
            open_fails(
                "eof",
                "the client ended its output and exited while connecting",
            )
        }),
        (
            "a_client_that_ignores_quit_is_ended_and_the_close_fails",
            || {
                good("hang_after", 1)
                .args(&["--vpn-timeout", "1"])
                .rows(&[
                    (1, "VPN ping", "Good"),
                    (1, "VPN open", "Good"),
                    (1, "Target ping", "Good"),
                    (1, "VPN close", "Fail"),
                ])
                .says("-- VPN close() -------- Fail VPN Gateway  (the SonicWall client did not leave within 1 s of `quit`; it was killed")
            },
        ),
        (
            "a_tunnel_that_drops_during_the_sweep_fails_the_close",
            || {
                // The client aborts 300 ms after CONNECT; the sweep waits 1 s for a silent host.
                good("crash_after", 1)
                .targets("198.18.0.9,silent host\n")
                .rows(&[
                    (1, "VPN ping", "Good"),
                    (1, "VPN open", "Good"),
                    (1, "Target ping", "Fail"),
                    (1, "VPN close", "Fail"),
                ])
                .says("-- VPN close() -------- Fail VPN Gateway  (the tunnel dropped before the close: the client crashed (SIGABRT)")
            },
        ),
        (
            "secrets_in_vpnmons_environment_do_not_reach_the_client",
            || {
                good("ok", 1)
                    .vpnmon_env("VPNMON_PASSWORD", PASSWORD)
                    .no_pass_arg()
            },
        ),
        // Ctrl-C in each phase: vpnmon closes what it opened and exits within 1 s + grace.
        ("control_c_before_the_first_prompt", || {
            stopped("ok", On::Log("pause start"))
                .env("STARTCT_SIM_PAUSE", "start:20000")
                .rows(&[(1, "VPN ping", "Good")])
                .log_lacks("typed username")
        }),
        ("control_c_after_the_password", || {
            stopped("ok", On::Log("pause password"))
                .env("STARTCT_SIM_PAUSE", "password:20000")
                .rows(&[(1, "VPN ping", "Good")])
                .log_lacks("connect")
        }),
        ("control_c_during_a_hung_connect", || {
            stopped("hang_before", On::Log("typed choice")).rows(&[(1, "VPN ping", "Good")])
        }),
        (
            "control_c_after_connect_during_the_sweep_quits_the_client",
            || {
                stopped("ok", On::Line("-- ping 127.0.0.2"))
                    .targets("127.0.0.2,host two\n198.18.0.9,silent host\n")
                    .args(&["--timeout", "30"])
                    .says("-- VPN close() -------- Good")
                    .says("VPN connection closed")
                    .log_has("quit")
                    .rows(&[
                        (1, "VPN ping", "Good"),
                        (1, "VPN open", "Good"),
                        (1, "VPN close", "Good"),
                    ])
            },
        ),
        // The client holds its `quit` for 20 s: cut to the grace, it gets Ctrl-C in its
        // terminal and goes; the tunnel is gone with it, so the close is a Good row.
        ("control_c_during_quit", || {
            stopped("ok", On::Log("pause quit"))
                .env("STARTCT_SIM_PAUSE", "quit:20000")
                .says("VPN connection closed")
                .says("-- VPN close() -------- Good")
                .rows(&good_rows(1))
        }),
        ("sigterm_during_a_hung_connect", || {
            stopped("hang_before", On::Log("typed choice"))
                .signal(Signal::SIGTERM)
                .rows(&[(1, "VPN ping", "Good")])
        }),
    ]
}

fn scenario(s: Scenario) {
    let bed = Bed::new();
    bed.write_targets(s.targets);
    let out = match s.stop {
        None => run(bed.command(&s), Duration::from_secs(60)),
        Some(stop) => {
            let mut vpnmon = Running::spawn(bed.command(&s));
            match stop.on {
                On::Log(marker) => wait_until(
                    &format!("{marker} in the simulator's log"),
                    Duration::from_secs(30),
                    || bed.log().contains(marker),
                ),
                On::Line(line) => {
                    vpnmon.wait_line(line, Duration::from_secs(30));
                }
            }
            vpnmon.signal(stop.signal);
            let out = vpnmon.finish(Duration::from_secs(10));
            eprintln!("STOP vpnmon exited {:?} after the signal", out.took);
            assert!(
                out.took < STOP_WITHIN,
                "took {:?}\n{}",
                out.took,
                out.stdout
            );
            out
        }
    };
    bed.check(&s, &out);
}

// ---- A row ------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum On {
    /// Once the simulator's log holds this.
    Log(&'static str),
    /// Once vpnmon printed a line containing this.
    Line(&'static str),
}

#[derive(Clone, Copy, Debug)]
struct Stop {
    on: On,
    signal: Signal,
}

#[derive(Clone, Debug)]
struct Scenario {
    sim: &'static str,
    env: Vec<(String, String)>,
    vpnmon_env: Vec<(String, String)>,
    cycles: u32,
    password: String,
    pass_arg: bool,
    realm: bool,
    targets: &'static str,
    args: Vec<String>,
    stop: Option<Stop>,
    code: i32,
    rows: Option<Vec<(u32, &'static str, &'static str)>>,
    says: Vec<String>,
    says_times: Vec<(&'static str, usize)>,
    never_says: Vec<&'static str>,
    open_says: Vec<String>,
    log_has: Vec<&'static str>,
    log_lacks: Vec<&'static str>,
    log_times: Vec<(&'static str, usize)>,
}

fn good_rows(cycles: u32) -> Vec<(u32, &'static str, &'static str)> {
    (1..=cycles)
        .flat_map(|c| {
            [
                ("VPN ping", "Good"),
                ("VPN open", "Good"),
                ("Target ping", "Good"),
                ("VPN close", "Good"),
            ]
            .map(|(t, r)| (c, t, r))
        })
        .collect()
}

fn good(sim: &'static str, cycles: u32) -> Scenario {
    Scenario {
        sim,
        env: Vec::new(),
        vpnmon_env: Vec::new(),
        cycles,
        password: PASSWORD.into(),
        pass_arg: true,
        realm: true,
        targets: "127.0.0.2,host two\n",
        args: Vec::new(),
        stop: None,
        code: 0,
        rows: Some(good_rows(cycles)),
        says: vec![format!("{cycles} vpnmon test cycles completed.")],
        says_times: Vec::new(),
        never_says: Vec::new(),
        open_says: Vec::new(),
        log_has: Vec::new(),
        log_lacks: Vec::new(),
        log_times: Vec::new(),
    }
}

/// A failed open in each of two cycles, with the reason and the client's last lines.
fn open_fails(sim: &'static str, reason: &str) -> Scenario {
    let rows = [1, 2]
        .into_iter()
        .flat_map(|c| [(c, "VPN ping", "Good"), (c, "VPN open", "Fail")])
        .collect::<Vec<_>>();
    good(sim, 2)
        .rows(&rows)
        .open_says(&format!("Fail VPN Gateway  ({reason}"))
        .says("---- Start diagnostic information ----")
        .says("----  End diagnostic information  ----")
}

/// Three cycles asked for, stopped by Ctrl-C when `on` happens.
fn stopped(sim: &'static str, on: On) -> Scenario {
    let mut s = good(sim, 3);
    s.says = vec!["---- vpnmon stopped with Control-C ----".to_string()];
    s.never_says.push("vpnmon test cycles completed");
    s.stop = Some(Stop {
        on,
        signal: Signal::SIGINT,
    });
    s
}

impl Scenario {
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    fn vpnmon_env(mut self, k: &str, v: &str) -> Self {
        self.vpnmon_env.push((k.into(), v.into()));
        self
    }
    fn no_pass_arg(mut self) -> Self {
        self.pass_arg = false;
        self
    }
    fn helpers(self) -> Self {
        self.env("STARTCT_SIM_HELPERS", "1")
    }
    fn args(mut self, a: &[&str]) -> Self {
        self.args.extend(a.iter().map(|s| s.to_string()));
        self
    }
    fn password(mut self, p: &str) -> Self {
        self.password = p.into();
        self
    }
    fn targets(mut self, t: &'static str) -> Self {
        self.targets = t;
        self
    }
    fn signal(mut self, sig: Signal) -> Self {
        self.stop.as_mut().expect("a stop row").signal = sig;
        if sig == Signal::SIGTERM {
            self.says = vec!["---- vpnmon stopped with SIGTERM ----".to_string()];
        }
        self
    }
    fn rows(mut self, r: &[(u32, &'static str, &'static str)]) -> Self {
        self.rows = Some(r.to_vec());
        self
    }
    fn says(mut self, line: &str) -> Self {
        self.says.push(line.into());
        self
    }
    fn says_times(mut self, text: &'static str, n: usize) -> Self {
        self.says_times.push((text, n));
        self
    }
    fn never_says(mut self, text: &'static str) -> Self {
        self.never_says.push(text);
        self
    }
    fn open_says(mut self, text: &str) -> Self {
        self.open_says.push(text.into());
        self
    }
    fn log_has(mut self, s: &'static str) -> Self {
        self.log_has.push(s);
        self
    }
    fn log_lacks(mut self, s: &'static str) -> Self {
        self.log_lacks.push(s);
        self
    }
    fn log_times(mut self, s: &'static str, n: usize) -> Self {
        self.log_times.push((s, n));
        self
    }
}

// ---- The test bed -----------------------------------------------------------------------------

struct Bed {
    dir: tempfile::TempDir,
}

impl Bed {
    /// A folder with the client's "installation": `bin/startct`, `bin/AvConnect`,
    /// `bin/SnwlConnect.jar`, the `java` that runs it (`jre/bin/java`) and another `java`
    /// (`other/bin/java`), all copies of the simulator.
    fn new() -> Bed {
        // vpnmon restores a resolver file that mentions SonicWall: outside a test's own mount
        // namespace that would be the machine's, so such a machine is refused outright.
        let machine = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        assert!(
            !machine.to_lowercase().contains("sonicwall"),
            "this machine's /etc/resolv.conf mentions SonicWall: the tests would restore it; not running"
        );
        let bed = Bed {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["bin", "jre/bin", "other/bin", "elsewhere", "empty"] {
            std::fs::create_dir_all(bed.path(d)).unwrap();
        }
        for exe in [
            "bin/startct",
            "bin/AvConnect",
            "jre/bin/java",
            "other/bin/java",
        ] {
            std::fs::copy(startct_sim(), bed.path(exe)).unwrap();
        }
        for jar in [
            "bin/SnwlConnect.jar",
            "elsewhere/SnwlConnect.jar",
            "other.jar",
        ] {
            std::fs::write(bed.path(jar), "").unwrap();
        }
        bed
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_targets(&self, t: &str) {
        std::fs::write(self.path("targets.csv"), t).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// vpnmon's own log (`--log-file`): results, reasons, the client's masked transcript.
    fn vpnmon_log(&self) -> String {
        std::fs::read_to_string(self.path("vpnmon.log")).unwrap_or_default()
    }

    fn datalog(&self) -> String {
        std::fs::read_to_string(self.path("datalog.csv")).unwrap_or_default()
    }

    /// The simulator's environment for this bed.
    fn sim_env(&self, s: &Scenario) -> Vec<(String, String)> {
        let mut env = vec![
            ("STARTCT_SIM_SCENARIO".to_string(), s.sim.to_string()),
            ("STARTCT_SIM_PASSWORD".into(), PASSWORD.into()),
            (
                "STARTCT_SIM_PIDS".into(),
                self.path("pids").display().to_string(),
            ),
            (
                "STARTCT_SIM_LOG".into(),
                self.path("log").display().to_string(),
            ),
            (
                "STARTCT_SIM_JAVA".into(),
                self.path("jre/bin/java").display().to_string(),
            ),
        ];
        env.extend(s.env.iter().cloned());
        env
    }

    /// vpnmon's arguments for this bed (without the program).
    fn vpnmon_args(&self, s: &Scenario) -> Vec<String> {
        let mut a: Vec<String> = [
            "--debug-fake-ping",
            "--vpnclient",
            "sonicwall",
            "-vpnurlip",
            "127.0.0.1",
            "-user",
            "bob",
            "--targets",
            "targets.csv",
            "--datalog",
            "datalog.csv",
            "--datalog-format",
            "extended",
            "--delay",
            "0",
            "--quiet",
            "--vpn-timeout",
            "5",
            "--log-file",
            "vpnmon.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push("--startct".into());
        a.push(self.path("bin/startct").display().to_string());
        a.extend(["--cycles".to_string(), s.cycles.to_string()]);
        if s.realm {
            a.extend(["--realm".to_string(), "corp".to_string()]);
        }
        if s.pass_arg {
            a.extend(["-pass".to_string(), s.password.clone()]);
        }
        a.extend(s.args.iter().cloned());
        a
    }

    fn command(&self, s: &Scenario) -> Command {
        let mut c = core_support::vpnmon(self.dir.path());
        c.args(self.vpnmon_args(s));
        for (k, v) in self.sim_env(s).iter().chain(&s.vpnmon_env) {
            c.env(k, v);
        }
        c
    }

    /// (cycle, test, result) of each datalog row (the extended format, header skipped).
    fn rows(&self) -> Vec<(u32, String, String)> {
        self.datalog()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].parse().unwrap(), f[3].to_string(), f[4].to_string())
            })
            .collect()
    }

    /// Pids of the simulators vpnmon ran in this bed and of the helpers they started (also from
    /// the log: a helper killed before it ran its first line never wrote its pid).
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = std::fs::read_to_string(self.path("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        for l in self.log().lines() {
            let f: Vec<&str> = l.split(' ').collect();
            if let (Some(&"helper"), Some(Ok(pid))) = (f.get(2), f.get(3).map(|p| p.parse())) {
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// Whether `pid` is still a live process of this bed (not a zombie, its executable in the
    /// bed: a pid the kernel gave to another program since is not ours).
    fn alive(&self, pid: u32) -> bool {
        let ours = std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|e| e.starts_with(self.dir.path()));
        ours && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    }

    fn assert_nothing_left(&self) {
        for pid in self.pids() {
            wait_until(
                &format!("simulator {pid} to end"),
                Duration::from_secs(3),
                || !self.alive(pid),
            );
        }
    }

    /// Neither the right password nor the one vpnmon was given is in any output or file.
    fn assert_secret_kept(&self, given: &str, texts: &[(&str, &str)]) {
        for (what, text) in texts.iter().copied().chain([
            ("datalog", self.datalog().as_str()),
            ("simulator log", &self.log()),
            ("--log-file", &self.vpnmon_log()),
        ]) {
            assert!(!text.contains(PASSWORD), "password in {what}:\n{text}");
            assert!(
                !text.contains(given),
                "the given password in {what}:\n{text}"
            );
        }
    }

    fn check(&self, s: &Scenario, out: &Finished) {
        let all = format!(
            "{}\n--- stderr:\n{}\n--- simulator log:\n{}",
            out.stdout,
            out.stderr,
            self.log()
        );
        self.assert_secret_kept(
            &s.password,
            &[("stdout", &out.stdout), ("stderr", &out.stderr)],
        );
        // The log is written (so the check above looked at something).
        assert!(!self.vpnmon_log().is_empty(), "no --log-file:\n{all}");
        assert_eq!(out.code, Some(s.code), "{all}");
        if let Some(want) = &s.rows {
            let want: Vec<(u32, String, String)> = want
                .iter()
                .map(|(c, t, r)| (*c, t.to_string(), r.to_string()))
                .collect();
            assert_eq!(self.rows(), want, "{all}");
        }
        for line in &s.says {
            assert!(
                out.stdout.contains(line.as_str()),
                "{line:?} missing in:\n{all}"
            );
        }
        for (text, n) in &s.says_times {
            assert_eq!(out.stdout.matches(text).count(), *n, "{text:?} in:\n{all}");
        }
        for text in &s.never_says {
            assert!(!out.stdout.contains(text), "{text:?} in:\n{all}");
        }
        let opens: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.contains("-- VPN open() --------- "))
            .collect();
        for l in &opens {
            for text in &s.open_says {
                assert!(l.contains(text.as_str()), "open line {l:?} lacks {text:?}");
            }
        }
        let log = self.log();
        for want in &s.log_has {
            assert!(log.contains(want), "{want:?} not in the log:\n{log}");
        }
        for not in &s.log_lacks {
            assert!(!log.contains(not), "{not:?} in the log:\n{log}");
        }
        for (want, n) in &s.log_times {
            let got = log
                .lines()
                .filter(|l| l.splitn(3, ' ').nth(2) == Some(want))
                .count();
            assert_eq!(got, *n, "{want:?} in the log:\n{log}");
        }
        assert!(!self.pids().is_empty(), "no simulator ran:\n{all}");
        self.assert_nothing_left();
    }
}

// ---- Start-up ---------------------------------------------------------------------------------

fn a_missing_startct_is_one_error_at_start_up() {
    let bed = Bed::new();
    bed.write_targets("127.0.0.2,host two\n");
    let out = run(
        core_support::vpnmon(bed.dir.path()).args([
            "--debug-fake-ping",
            "--vpnclient",
            "sonicwall",
            "--startct",
            "/nonexistent/startct",
            "-vpnurlip",
            "127.0.0.1",
            "--cycles",
            "1",
            "--datalog",
            "datalog.csv",
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "the SonicWall client given with --startct was not found: /nonexistent/startct"
        ),
        "{}",
        out.stderr
    );
    out.assert_no_cycle_started("a missing startct");
}

// ---- Figures ----------------------------------------------------------------------------------

/// The driver's overhead over the client's own time, in ms: the open as vpnmon measured it (the
/// datalog's duration) less the simulator's time from its start to `CONNECT`; the close less
/// the simulator's time from `quit` to its exit. The simulator takes 300 ms after the password,
/// so its own open time is not nothing. Printed for the note; asserted only
/// loosely (under 500 ms each), as the machine is shared.
fn overhead_over_the_clients_own_time() {
    let s = good("ok", 5).env("STARTCT_SIM_PAUSE", "password:300");
    let bed = Bed::new();
    bed.write_targets(s.targets);
    let out = run(bed.command(&s), Duration::from_secs(120));
    bed.check(&s, &out);
    let log = bed.log();
    let events: Vec<(u32, u128, String)> = log
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, ' ');
            (
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut sims: Vec<u32> = events.iter().map(|e| e.0).collect();
    sims.dedup();
    let at = |pid: u32, what: &str| {
        events
            .iter()
            .find(|e| e.0 == pid && e.2.starts_with(what))
            .map(|e| e.1)
            .unwrap_or_else(|| panic!("no {what} of {pid}:\n{log}"))
    };
    let opens: Vec<f64> = bed
        .datalog()
        .lines()
        .filter(|l| l.split(',').nth(3) == Some("VPN open"))
        .map(|l| l.split(',').nth(7).unwrap().parse().unwrap())
        .collect();
    let closes: Vec<f64> = bed
        .datalog()
        .lines()
        .filter(|l| l.split(',').nth(3) == Some("VPN close"))
        .map(|l| l.split(',').nth(7).unwrap().parse().unwrap())
        .collect();
    assert_eq!(sims.len(), 5, "{log}");
    let mut open_over = Vec::new();
    let mut close_over = Vec::new();
    for (i, pid) in sims.iter().enumerate() {
        let own_open = (at(*pid, "connect") - at(*pid, "start")) as f64;
        let own_close = (at(*pid, "exit") - at(*pid, "command quit")) as f64;
        open_over.push(opens[i] - own_open);
        close_over.push(closes[i] - own_close);
    }
    eprintln!(
        "FIGURE sonicwall open overhead ms (vpnmon's open less the client's start→CONNECT): {open_over:?}"
    );
    eprintln!(
        "FIGURE sonicwall close overhead ms (vpnmon's close less the client's quit→exit): {close_over:?}"
    );
    for o in open_over.iter().chain(&close_over) {
        assert!(*o < 500.0, "overhead {o} ms");
    }
}

// ---- Clean-up (root: PID and mount namespaces) --------------------------------------------------

/// Runs vpnmon for `s` inside a private PID namespace (and, with `resolv`, a private mount
/// namespace whose `/etc/resolv.conf` is the bed's `resolv.conf`, bind-mounted), after starting
/// there the processes of `pre` (`NAME COMMAND…` lines, run by bash, their pids noted in
/// `procs`). When vpnmon has finished, each noted pid and each simulator's is written to `after`
/// as `alive PID` or `gone PID`, seen from inside (the namespace ends with its first process).
fn in_namespaces(bed: &Bed, s: &Scenario, pre: &[(&str, String)], resolv: bool) -> Finished {
    let mut script = String::from("set -u\ncd \"$BED\"\n");
    if resolv {
        script.push_str("mount --bind \"$BED/resolv.conf\" /etc/resolv.conf || exit 90\n");
    }
    for (name, cmd) in pre {
        script.push_str(&format!(
            "STARTCT_SIM_PIDS=\"$BED/pre_pids\" {cmd} &\necho \"{name} $!\" >> procs\n"
        ));
    }
    // Each started process writes its pid first thing: wait until all are running.
    script.push_str(&format!(
        "n=0; while [ \"$(cat pre_pids 2>/dev/null | wc -l)\" -lt {} ] && [ $n -lt 3000 ]; do n=$((n+1)); sleep 0.01; done\n",
        pre.len()
    ));
    // vpnmon's own PATH (where it looks for resolvconf) is the row's, the script's the machine's.
    script.push_str(
        "if [ -n \"${VPNMON_TEST_PATH:-}\" ]; then PATH=\"$VPNMON_TEST_PATH\" \"$@\" > out.txt 2> err.txt; else \"$@\" > out.txt 2> err.txt; fi; echo $? > rc\n",
    );
    script.push_str(
        "for pid in $(awk '{print $2}' procs 2>/dev/null) $(cat pids 2>/dev/null) $(awk '$3 == \"helper\" {print $4}' log 2>/dev/null); do\n  if [ -e /proc/$pid ] && ! grep -q ') Z ' /proc/$pid/stat; then echo \"alive $pid\"; else echo \"gone $pid\"; fi\ndone > after\n",
    );
    std::fs::write(bed.path("ns.sh"), script).unwrap();
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    if resolv {
        c.arg("--mount");
    }
    c.arg("bash")
        .arg(bed.path("ns.sh"))
        .arg(core_support::vpnmon_bin())
        .args(bed.vpnmon_args(s))
        .current_dir(bed.dir.path())
        .env("BED", bed.dir.path())
        .env("RUST_BACKTRACE", "0")
        .env_remove("VPNMON_PASSWORD");
    for (k, v) in bed.sim_env(s).iter().chain(&s.vpnmon_env) {
        if k == "PATH" {
            c.env("VPNMON_TEST_PATH", v);
        } else {
            c.env(k, v);
        }
    }
    let ns = run(c, Duration::from_secs(60));
    let read = |f: &str| std::fs::read_to_string(bed.path(f)).unwrap_or_default();
    let code = read("rc").trim().parse().ok();
    assert!(
        code.is_some(),
        "the namespace script failed: {ns:?}\n{}",
        read("err.txt")
    );
    Finished {
        status: ns.status,
        code,
        took: ns.took,
        stdout: read("out.txt"),
        stderr: read("err.txt"),
    }
}

/// `name → (pid, alive)` of what `in_namespaces` noted.
fn fates(bed: &Bed) -> Vec<(String, u32, bool)> {
    let read = |f: &str| std::fs::read_to_string(bed.path(f)).unwrap_or_default();
    let after = read("after");
    let alive = |pid: u32| after.lines().any(|l| l == format!("alive {pid}"));
    let mut out: Vec<(String, u32, bool)> = read("procs")
        .lines()
        .map(|l| {
            let (n, p) = l.split_once(' ').unwrap();
            let pid: u32 = p.parse().unwrap();
            (n.to_string(), pid, alive(pid))
        })
        .collect();
    for pid in bed.pids() {
        if !out.iter().any(|o| o.0 == "client" && o.1 == pid) {
            out.push(("client".into(), pid, alive(pid)));
        }
    }
    out
}

fn need_namespaces() -> Ran {
    need_root("PID and mount namespaces (unshare)")?;
    need_programs(&[
        ("unshare", "util-linux"),
        ("bash", "bash"),
        ("mount", "mount"),
    ])
}

fn left_over_client_processes_are_ended_before_connecting_and_other_javas_survive() -> Ran {
    need_namespaces()?;
    let bed = Bed::new();
    let s = good("ok", 1);
    bed.write_targets(s.targets);
    let p = |f: &str| bed.path(f).display().to_string();
    let pre = [
        (
            "stale_startct",
            format!("STARTCT_SIM_SCENARIO=idle {}", p("bin/startct")),
        ),
        ("stale_avconnect", p("bin/AvConnect")),
        (
            "stale_java",
            format!("{} -jar {}", p("jre/bin/java"), p("bin/SnwlConnect.jar")),
        ),
        (
            "other_java",
            format!("{} -jar {}", p("other/bin/java"), p("other.jar")),
        ),
        // The jar's name, but outside the client's folders: not the client's.
        (
            "foreign_snwl_java",
            format!(
                "{} -jar {}",
                p("other/bin/java"),
                p("elsewhere/SnwlConnect.jar")
            ),
        ),
    ];
    let out = in_namespaces(&bed, &s, &pre, false);
    bed.check(&s, &out);
    let open = out.line_with("-- VPN open() --------- Good");
    let fates = fates(&bed);
    for (name, pid, alive) in &fates {
        let should_live = name == "other_java" || name == "foreign_snwl_java";
        assert_eq!(
            *alive, should_live,
            "{name} (pid {pid}): {fates:?}\n{}",
            out.stdout
        );
        if name.starts_with("stale") {
            assert!(
                open.contains(&format!("pid {pid} ")),
                "{name} (pid {pid}) not named in {open:?}"
            );
        }
    }
    assert!(
        open.contains("ended left-over SonicWall client programs: "),
        "{open}"
    );
    Ok(())
}

fn helpers_left_running_by_quit_are_ended_after_the_close() -> Ran {
    need_namespaces()?;
    let bed = Bed::new();
    let s = good("leave", 1).helpers();
    bed.write_targets(s.targets);
    let pre = [(
        "other_java",
        format!(
            "{} -jar {}",
            bed.path("other/bin/java").display(),
            bed.path("other.jar").display()
        ),
    )];
    let out = in_namespaces(&bed, &s, &pre, false);
    bed.check(&s, &out);
    let close = out.line_with("-- VPN close() -------- Good");
    assert!(
        close.contains("ended what the SonicWall client left running: pid "),
        "{close}"
    );
    assert!(
        close.contains("AvConnect") && close.contains("jre/bin/java"),
        "{close}"
    );
    let reason = bed
        .datalog()
        .lines()
        .find(|l| l.contains(",VPN close,"))
        .unwrap()
        .to_string();
    assert!(
        reason.contains("ended what the SonicWall client left running"),
        "{reason}"
    );
    let fates = fates(&bed);
    // The client and its two helpers are gone; the other java lives.
    assert_eq!(
        fates.iter().filter(|f| f.0 == "client").count(),
        3,
        "{fates:?}"
    );
    for (name, pid, alive) in &fates {
        assert_eq!(
            *alive,
            name == "other_java",
            "{name} (pid {pid}): {fates:?}"
        );
    }
    Ok(())
}

const RESOLV_BEFORE: &str = "# the test bed resolver file\nnameserver 127.0.0.53\n";

/// The client leaves the resolver file rewritten (it mentions SonicWall); vpnmon restores it,
/// with `resolvconf -u` (a stand-in on PATH that puts the bed's text back) or, without one, from
/// the copy it saved before the open, and says so on the console and in the close's row.
fn a_resolver_file_left_rewritten_is_restored(with_resolvconf: bool) -> Ran {
    need_namespaces()?;
    let machine_before = std::fs::read("/etc/resolv.conf").ok();
    let bed = Bed::new();
    std::fs::write(bed.path("resolv.conf"), RESOLV_BEFORE).unwrap();
    let mut s = good("ok", 1)
        .env("STARTCT_SIM_RESOLV", "/etc/resolv.conf")
        .env("STARTCT_SIM_RESOLV_LEAVE", "1");
    std::fs::create_dir_all(bed.path("sbin")).unwrap();
    if with_resolvconf {
        let stand_in = bed.path("sbin/resolvconf");
        std::fs::write(
            &stand_in,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\nprintf '{}' > /etc/resolv.conf\n",
                bed.path("resolvconf_calls").display(),
                RESOLV_BEFORE.replace('\n', "\\n")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // vpnmon looks for resolvconf on PATH: only the bed's folder, so the machine's is never run.
    s = s.vpnmon_env("PATH", &bed.path("sbin").display().to_string());
    bed.write_targets(s.targets);
    let out = in_namespaces(&bed, &s, &[], true);
    bed.check(&s, &out);
    assert_eq!(
        std::fs::read_to_string(bed.path("resolv.conf")).unwrap(),
        RESOLV_BEFORE,
        "{}",
        out.stdout
    );
    let how = if with_resolvconf {
        "restored with resolvconf -u"
    } else {
        "restored from the copy saved before the open"
    };
    let close = out.line_with("-- VPN close() -------- Good");
    assert!(
        close.contains("/etc/resolv.conf was left rewritten by the SonicWall client")
            && close.contains(how),
        "{close}"
    );
    let row = bed
        .datalog()
        .lines()
        .find(|l| l.contains(",VPN close,"))
        .unwrap()
        .to_string();
    assert!(row.contains(how), "{row}");
    let calls = std::fs::read_to_string(bed.path("resolvconf_calls")).unwrap_or_default();
    assert_eq!(calls, if with_resolvconf { "-u\n" } else { "" });
    assert_eq!(
        std::fs::read("/etc/resolv.conf").ok(),
        machine_before,
        "the machine's /etc/resolv.conf changed"
    );
    Ok(())
}

fn a_resolver_file_left_rewritten_is_restored_with_resolvconf() -> Ran {
    a_resolver_file_left_rewritten_is_restored(true)
}

fn a_resolver_file_left_rewritten_is_restored_from_the_saved_copy() -> Ran {
    a_resolver_file_left_rewritten_is_restored(false)
}

fn main() {
    let mut trials: Vec<_> = cases()
        .into_iter()
        .map(|(name, case)| trial(format!("scenario::{name}"), move || scenario(case())))
        .collect();
    trials.extend(crate::harness_trials!(
        a_missing_startct_is_one_error_at_start_up,
        overhead_over_the_clients_own_time,
        left_over_client_processes_are_ended_before_connecting_and_other_javas_survive,
        helpers_left_running_by_quit_are_ended_after_the_close,
        a_resolver_file_left_rewritten_is_restored_with_resolvconf,
        a_resolver_file_left_rewritten_is_restored_from_the_saved_copy,
    ));
    core_support::harness::run(trials)
}
