//! Helpers for the core's integration tests: running the real binary with live output, sending
//! signals, and network namespaces with hosts that answer, answer sometimes, or never.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub fn vpnmon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vpnmon"))
}

/// A running vpnmon whose stdout lines arrive as they are printed.
pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    pub stderr: Receiver<String>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        cmd.env("RUST_BACKTRACE", "0");
        let mut child = cmd.spawn().expect("spawn vpnmon");
        let (tx, rx) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let (etx, erx) = channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = etx.send(l);
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr: erx,
        }
    }

    /// Waits for a stdout line containing `needle`; panics with what was seen after `within`.
    pub fn wait_line(&mut self, needle: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Waits for exit; returns the exit code and how long it took.
    pub fn wait_exit(&mut self, within: Duration) -> (Option<i32>, Duration) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st.code(), t.elapsed());
            }
            if t.elapsed() > within {
                let _ = self.child.kill();
                panic!("vpnmon did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything printed so far plus the rest after exit.
    pub fn drain(&mut self) -> (String, String) {
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(l);
        }
        let err: Vec<String> = self.stderr.try_iter().collect();
        (self.seen.join("\n"), err.join("\n"))
    }
}

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

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?}: {}",
            args,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace of a test's own, with its loopback up; deleted on drop (also on panic).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: impl Into<String>) -> Result<Netns, String> {
        let name = name.into();
        sh(&["ip", "netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ARGS…`
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "-n", self.name.as_str()];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Runs `prog ARGS…` inside the namespace.
    pub fn exec(&self, prog: &str, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", self.name.as_str(), prog];
        all.extend_from_slice(args);
        sh(&all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// Two namespaces joined by a veth pair: `client` (where vpnmon runs) and `facility`, whose
/// loopback answers for 198.18.16.0/20 (and the named hosts), except for addresses nft drops.
///   198.18.1.1 answers, 198.18.1.2 drops about half the echo requests, 198.18.1.3 drops all,
///   198.18.31.0/24 drops all (dead hosts for the benchmark), the rest of 198.18.16.0/20 answers.
pub struct Lab {
    pub client: String,
    pub facility: String,
    // Dropped last, deleting the namespaces.
    _ns: Vec<Netns>,
}

pub const GOOD_HOST: &str = "198.18.1.1";
pub const FLAKY_HOST: &str = "198.18.1.2";
pub const DEAD_HOST: &str = "198.18.1.3";

impl Lab {
    /// Builds the lab, or says why it cannot be built here (not root). As root, a failure to
    /// build it is a test failure, never a skip.
    pub fn new(tag: &str) -> Result<Lab, String> {
        if !is_root() {
            return Err("needs root to create network namespaces".into());
        }
        let id = format!("{}{}", tag, std::process::id() % 100000);
        let (client, facility) = (format!("vmc-{id}"), format!("vmf-{id}"));
        let made = Netns::new(&client).and_then(|c| Netns::new(&facility).map(|f| vec![c, f]));
        let ns = made.unwrap_or_else(|e| panic!("cannot build the namespace lab as root: {e}"));
        let lab = Lab {
            client,
            facility,
            _ns: ns,
        };
        if let Err(e) = lab.build(&id) {
            panic!("cannot build the namespace lab as root: {e}");
        }
        Ok(lab)
    }

    fn build(&self, id: &str) -> Result<(), String> {
        let (c, f) = (self.client.as_str(), self.facility.as_str());
        let (vc, vf) = (format!("vc{id}"), format!("vf{id}"));
        sh(&[
            "ip", "-n", c, "link", "add", &vc, "type", "veth", "peer", "name", &vf, "netns", f,
        ])?;
        sh(&["ip", "-n", c, "addr", "add", "198.18.0.1/24", "dev", &vc])?;
        sh(&["ip", "-n", f, "addr", "add", "198.18.0.2/24", "dev", &vf])?;
        sh(&["ip", "-n", c, "link", "set", &vc, "up"])?;
        sh(&["ip", "-n", f, "link", "set", &vf, "up"])?;
        for a in [GOOD_HOST, FLAKY_HOST, DEAD_HOST] {
            sh(&[
                "ip",
                "-n",
                f,
                "addr",
                "add",
                &format!("{a}/32"),
                "dev",
                "lo",
            ])?;
        }
        sh(&[
            "ip",
            "-n",
            f,
            "route",
            "add",
            "local",
            "198.18.16.0/20",
            "dev",
            "lo",
        ])?;
        sh(&[
            "ip",
            "-n",
            c,
            "route",
            "add",
            "198.18.1.0/24",
            "via",
            "198.18.0.2",
        ])?;
        sh(&[
            "ip",
            "-n",
            c,
            "route",
            "add",
            "198.18.16.0/20",
            "via",
            "198.18.0.2",
        ])?;
        let rules = format!(
            "table inet vpnmon_lab {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  \
             ip daddr {DEAD_HOST} icmp type echo-request drop\n  \
             ip daddr 198.18.31.0/24 icmp type echo-request drop\n  \
             ip daddr {FLAKY_HOST} icmp type echo-request numgen random mod 2 == 0 drop\n }}\n}}\n"
        );
        let rules_file = std::env::temp_dir().join(format!("vpnmon-lab-{id}.nft"));
        std::fs::write(&rules_file, rules).map_err(|e| e.to_string())?;
        let r = sh(&[
            "ip",
            "netns",
            "exec",
            f,
            "nft",
            "-f",
            rules_file.to_str().unwrap(),
        ]);
        let _ = std::fs::remove_file(&rules_file);
        r
    }

    /// A command that runs `program` inside the client namespace.
    pub fn command_in_client(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client]).arg(program);
        c
    }
}
