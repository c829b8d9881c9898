//! Network namespaces of the tests' own: `Netns` (one, deleted on drop) and `Lab` (a client and a
//! facility joined by a veth pair, with good, flaky and dead hosts).

use super::harness::{need_programs, need_root, Ignored, NETNS_PROGRAMS};
use super::runner::Running;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs `args` (an `ip` or `nft` command) to its end; Err with its stderr when it fails.
fn sh(args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    let out = Running::try_spawn(cmd)
        .map_err(|e| format!("{}: {e}", args[0]))?
        .finish(Duration::from_secs(60));
    if out.success() {
        Ok(())
    } else {
        Err(format!("{:?}: {}", args, out.stderr.trim()))
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
    /// Builds the lab, or says why it cannot be built here (not root, or `ip`/`nft` missing: the
    /// test is ignored with that reason). As root with the programs, a failure to build it is a
    /// test failure, never a skip.
    pub fn new(tag: &str) -> Result<Lab, Ignored> {
        need_root("network namespaces")?;
        need_programs(NETNS_PROGRAMS)?;
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
