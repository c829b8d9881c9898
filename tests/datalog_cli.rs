//! The datalog options through the real binary (`--vpnclient none`, pings answered by the
//! built-in fake, so any user runs them): `--json` on stdout, `--datalog-format`, rotation
//! options from the params file, bad sizes, Ctrl-C while the datalog is busy.

mod core_support;

use core_support::harness::{ignore, need_programs, Ran};
use core_support::{run, vpnmon_fake_ping, Finished, Running};
use std::process::Command;
use std::time::Duration;
use vpnmon::datalog::JsonRecord;

fn output(c: Command) -> Finished {
    run(c, Duration::from_secs(120))
}

fn json_replaces_the_console_and_extended_datalog_has_header_and_timings() {
    let (dir, mut c) =
        core_support::without_vpn_in_temp("127.0.0.1,Loopback\n127.0.0.2,Loop two\n");
    c.args([
        "--cycles",
        "2",
        "--datalog",
        "d.csv",
        "--datalog-format",
        "extended",
        "--json",
    ]);
    let out = output(c);
    assert!(out.success(), "{}", out.stderr);
    let stdout = out.stdout.clone();
    let recs: Vec<JsonRecord> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert_eq!(recs.len(), 4, "{stdout}");
    assert_eq!(
        recs.iter()
            .map(|r| (r.cycle, r.name.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "Loopback"),
            (1, "Loop two"),
            (2, "Loopback"),
            (2, "Loop two")
        ]
    );
    for r in &recs {
        chrono::DateTime::parse_from_rfc3339(&r.time).unwrap();
        assert_eq!(r.sent, Some(2));
    }
    // The operator's notices went to stderr.
    assert!(out.stderr.contains("Running without a vpnmon params file"));
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason,site,rtt_std_ms,loss_pct,path")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4);
    for (row, rec) in rows.iter().zip(&recs) {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 18, "{row}");
        // A one-site run's site is its VPN name.
        assert_eq!(f[14], "VPN Gateway");
        assert_eq!(rec.site.as_deref(), Some("VPN Gateway"));
        assert_eq!(f[0], rec.cycle.to_string());
        assert_eq!(f[4], rec.result);
        assert_eq!(f[8], "2");
        // The deviation and the loss come last, as the --json line has them.
        let (sent, received) = (rec.sent.unwrap(), rec.received.unwrap());
        let loss = f64::from(sent - received) * 100.0 / f64::from(sent);
        assert_eq!(f[16].parse::<f64>().unwrap(), loss, "{row}");
        assert_eq!(rec.loss_pct, Some(loss));
        assert_eq!(f[15].is_empty(), received == 0, "{row}");
        assert_eq!(rec.rtt_std_ms.is_none(), received == 0, "{row}");
    }
    // The report reads it back.
    let mut c = core_support::vpnmon(dir.path());
    c.args(["report", "d.csv"]);
    let rep = output(c).stdout;
    assert!(
        rep.starts_with("vpnmon report: 4 rows from 1 file, 2 cycles"),
        "{rep}"
    );
}

fn params_file_sets_format_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,Loopback\n").unwrap();
    // Each jsonl row is ~250 bytes: a 300-byte limit puts every cycle in its own file.
    std::fs::write(
        dir.path().join("p.csv"),
        "datalog-format,jsonl\ndatalog-max-size,300\ndatalog-keep,2\ndatalog,d.jsonl\n",
    )
    .unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args([
        "--params",
        "p.csv",
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "4",
        "--delay",
        "0",
    ]);
    let out = output(c);
    assert!(out.success(), "{}", out.stderr);
    let read = |n: &str| -> Vec<JsonRecord> {
        std::fs::read_to_string(dir.path().join(n))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let cycles = |n: &str| read(n).iter().map(|r| r.cycle).collect::<Vec<_>>();
    assert_eq!(cycles("d.jsonl"), [4]);
    assert_eq!(cycles("d.jsonl.1"), [3]);
    assert_eq!(cycles("d.jsonl.2"), [2]);
    assert!(!dir.path().join("d.jsonl.3").exists());
}

fn a_bad_size_names_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = core_support::vpnmon(dir.path());
    c.args(["--datalog-max-size", "10parsecs"]);
    let out = output(c);
    assert_eq!(out.code, Some(2));
    let err = out.stderr;
    assert!(
        err.contains("'--datalog-max-size <SIZE>': expected a size such as 10MB, 512KB or 1GB"),
        "{err}"
    );
}

/// Makes a file refuse writes (permission denied): read-only, or immutable for root, whom
/// permissions do not stop. Undone on drop, also on panic.
#[cfg(unix)]
struct Unwritable(std::path::PathBuf);

#[cfg(unix)]
impl Unwritable {
    fn make(p: &std::path::Path) -> Result<Unwritable, String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o444))
            .map_err(|e| e.to_string())?;
        let guard = Unwritable(p.to_path_buf());
        if core_support::is_root() {
            let out = std::process::Command::new("chattr")
                .arg("+i")
                .arg(p)
                .output()
                .map_err(|e| format!("chattr: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "chattr +i: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(guard)
    }
}

#[cfg(unix)]
impl Drop for Unwritable {
    fn drop(&mut self) {
        if core_support::is_root() {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .output();
        }
    }
}

/// A datalog that can never be written is fatal at start-up, before the first cycle (which
/// would open the VPN), with the true reason: its folder does not exist, it is a folder,
/// permission denied. Not retried, not "in use by another program".
#[cfg(unix)]
fn a_datalog_that_can_never_be_written_is_fatal_before_the_first_cycle() -> Ran {
    never_written(false)
}

/// The same for a file that refuses writes: read-only (immutable for root, through `chattr`).
#[cfg(unix)]
fn a_read_only_datalog_is_fatal_before_the_first_cycle() -> Ran {
    never_written(true)
}

/// The cases of a datalog that can never be written, or (`read_only`) the read-only file's.
#[cfg(unix)]
fn never_written(read_only: bool) -> Ran {
    // In the target dir, whose file system takes `chattr +i` more likely than a tmpfs /tmp.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,Loopback\n").unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let mut cases = vec![
        (
            "no/such/d.csv",
            "(its folder no/such does not exist); create the folder or choose another --datalog",
        ),
        (
            "folder",
            "(it is a folder); choose a file name with --datalog",
        ),
        // A path through a regular file can never be written.
        (
            "t.csv/d.csv",
            "(t.csv is not a folder); choose another --datalog",
        ),
        ("t.csv/", "(Not a directory); choose another --datalog"),
    ];
    // Kept until the end of the test: undone on drop.
    let mut _guard = None;
    if read_only {
        if core_support::is_root() {
            need_programs(&[("chattr", "e2fsprogs")])?;
        }
        let ro = dir.path().join("ro.csv");
        std::fs::write(&ro, "").unwrap();
        let guard = Unwritable::make(&ro);
        let writable = std::fs::OpenOptions::new().append(true).open(&ro).is_ok();
        cases = match (&guard, writable) {
            // Root is stopped by the immutable attribute (EPERM), anyone else by the mode (EACCES).
            (Ok(_), false) if core_support::is_root() => vec![("ro.csv", "(operation not permitted (an immutable or append-only file? see lsattr)); remove the attribute (chattr -i -a) or choose another --datalog")],
            (Ok(_), false) => vec![("ro.csv", "(permission denied); make the file and its folder writable for this user, or choose another --datalog; vpnmon checks this before the first cycle")],
            _ => return Err(ignore(format!("cannot make a file unwritable here ({:?})", guard.as_ref().err()))),
        };
        _guard = Some(guard);
    }
    for (log, says) in cases {
        let mut c = vpnmon_fake_ping(dir.path());
        c.args([
            "--vpnclient",
            "none",
            "--targets",
            "t.csv",
            "--cycles",
            "1",
            "--delay",
            "0",
            "--datalog",
            log,
        ]);
        let started = std::time::Instant::now();
        let out = output(c);
        assert_eq!(out.code, Some(1), "{log}: {}", out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{log}: not retried"
        );
        assert_eq!(
            out.stderr.trim_end(),
            format!("Error: Cannot write the vpnmon datalog file {log} {says}"),
            "{log}"
        );
        out.assert_no_cycle_started(log);
    }
    Ok(())
}

/// Ctrl-C while the datalog is locked by another program (vpnmon waiting 1 s to retry): the
/// wait ends at once, one last try fails, the rows are kept, the try at the end fails too, and
/// the error says which rows were not written.
#[cfg(unix)]
fn ctrl_c_while_the_datalog_is_locked_says_which_rows_were_lost() {
    use nix::fcntl::{Flock, FlockArg};
    let (dir, mut c) =
        core_support::without_vpn_in_temp("127.0.0.1,Loopback\n127.0.0.2,Loop two\n");
    let log = dir.path().join("d.csv");
    std::fs::write(&log, "").unwrap();
    let file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let _lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    c.args(["--cycles", "1", "--datalog", "d.csv"]);
    let mut run = Running::spawn(c);
    run.wait_stderr_line("the retry notice", Duration::from_secs(60), |l| {
        l.trim_end()
            == "Datalog file d.csv is in use by another program (locked); retrying in 1 s (try 2 of 3)"
    });
    run.signal(nix::sys::signal::Signal::SIGINT);
    // The wait for the locked file ends at once; the deadline is only a guard.
    let out = run.finish(Duration::from_secs(10));
    let err: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(out.code, Some(1), "{err:?}");
    assert_eq!(
        err,
        [
            "Datalog file d.csv cannot be written now (in use by another program (locked)); vpnmon monitors anyway and keeps the rows in memory until it can",
            "Datalog file d.csv is in use by another program (locked); retrying in 1 s (try 2 of 3)",
            "Datalog file d.csv cannot be written (in use by another program (locked)): the 2 rows of cycle 1 were not written; no row of this run is in the datalog; 1 cycle (2 rows) kept in memory, to be written with the next cycle",
            "Error: The vpnmon datalog file d.csv could not be written when vpnmon ended (in use by another program (locked)); the 2 rows of cycle 1 were not written; no row of this run is in the datalog",
        ]
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
}

/// `--datalog /dev/null` means no datalog: written as a stream, no journal beside it (which
/// would be a file in /dev), no sync error. A FIFO (which could block every write) is refused
/// before the first cycle.
#[cfg(unix)]
fn dev_null_is_no_datalog_and_a_fifo_is_refused_at_start_up() {
    let journal = std::path::Path::new("/dev/null.journal");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,Loopback\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--quiet"])
        .args(["--cycles", "2", "--delay", "0", "--datalog", "/dev/null"]);
    let out = output(c);
    let made_journal = journal.exists();
    if made_journal {
        // Made by the run under test (never by anything else): take it away again.
        let _ = std::fs::remove_file(journal);
    }
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stderr, "");
    assert!(!made_journal, "a journal was written next to /dev/null");
    assert!(out.stdout.contains("2 vpnmon test cycles completed."));

    nix::unistd::mkfifo(&dir.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env("RUST_BACKTRACE", "0")
        .args(["--vpnclient", "none", "--targets", "t.csv", "--quiet"])
        .args(["--cycles", "1", "--datalog", "fifo"]);
    let out = output(c);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        "Error: Cannot write the vpnmon datalog file fifo (it is a FIFO (named pipe), not a regular file); choose a regular file with --datalog (or /dev/null for no datalog)\n"
    );
    out.assert_no_cycle_started("");
}

/// `--tcp` through the real binary against loopback: a port the test listens on connects
/// (Good, its connect time), a closed one is `refused` (Fail); the rows come after the target's
/// ping in `--json`, the extended datalog and the console, and the vpnmon-format datalog keeps
/// its four tests.
fn tcp_ports_are_checked_and_left_out_of_the_original_format() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    // A port nobody listens on: bound, read, then closed again.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ports = format!("{open_port},{closed_port}");
    let (dir, mut c) = core_support::without_vpn_in_temp("127.0.0.1,Loopback\n");
    c.args([
        "--cycles",
        "1",
        "--tcp",
        &ports,
        "--datalog",
        "d.csv",
        "--datalog-format",
        "extended",
        "--json",
    ]);
    let out = output(c);
    assert!(out.success(), "{}", out.stderr);
    let recs: Vec<JsonRecord> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let got: Vec<(&str, &str, &str)> = recs
        .iter()
        .map(|r| (r.test.as_str(), r.result.as_str(), r.address.as_str()))
        .collect();
    let open_addr = format!("127.0.0.1:{open_port}");
    let closed_addr = format!("127.0.0.1:{closed_port}");
    assert_eq!(
        got,
        [
            ("Target ping", "Good", "127.0.0.1"),
            ("TCP port", "Good", open_addr.as_str()),
            ("TCP port", "Fail", closed_addr.as_str()),
        ],
        "{}",
        out.stdout
    );
    assert_eq!(recs[1].reason, None);
    assert_eq!(recs[1].name, "Loopback");
    assert!(recs[1].duration_ms.unwrap() < 3000.0, "{:?}", recs[1]);
    assert_eq!(recs[2].reason.as_deref(), Some("refused"));
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let tests: Vec<&str> = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(tests, ["Target ping", "TCP port", "TCP port"], "{log}");
    assert!(
        log.contains(&format!(",TCP port,Fail,{closed_addr},Loopback,")),
        "{log}"
    );

    // The original format: only the ping's row. The console: a line per port.
    let mut c = core_support::vpnmon_fake_ping(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--delay",
        "0",
        "--cycles",
        "1",
        "--tcp",
        &ports,
        "--datalog",
        "o.csv",
    ]);
    let out = output(c);
    assert!(out.success(), "{}", out.stderr);
    let log = std::fs::read_to_string(dir.path().join("o.csv")).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.contains(",Target ping,Good,127.0.0.1,Loopback"),
        "{log}"
    );
    let line = |addr: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(&format!("-- tcp  {addr} ")))
            .unwrap_or_else(|| panic!("no line for {addr}: {}", out.stdout))
            .to_string()
    };
    assert!(
        line(&open_addr).contains("Good Loopback  (connect "),
        "{}",
        out.stdout
    );
    assert!(
        line(&closed_addr).contains("Fail Loopback  (refused)"),
        "{}",
        out.stdout
    );
    drop(open);
}

fn main() {
    #[allow(unused_mut)]
    let mut trials = crate::harness_trials!(
        json_replaces_the_console_and_extended_datalog_has_header_and_timings,
        params_file_sets_format_and_rotation,
        a_bad_size_names_the_option,
        tcp_ports_are_checked_and_left_out_of_the_original_format,
    );
    #[cfg(unix)]
    trials.extend(crate::harness_trials!(
        a_datalog_that_can_never_be_written_is_fatal_before_the_first_cycle,
        a_read_only_datalog_is_fatal_before_the_first_cycle,
        ctrl_c_while_the_datalog_is_locked_says_which_rows_were_lost,
        dev_null_is_no_datalog_and_a_fifo_is_refused_at_start_up,
    ));
    core_support::harness::run(trials)
}
