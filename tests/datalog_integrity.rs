//! The datalog holds whole cycles only, whatever happens to vpnmon or its disk: kill -9 at
//! random moments of the real binary, a full disk (a tiny tmpfs, every format, with and without
//! rotation), a datalog locked by another program then freed (no row lost, the monitor never
//! stopped), and a property test that a written cycle reads back identically in every format.
//! Pings are answered by the built-in fake (`--debug-fake-ping`), so no ICMP is needed.

mod core_support;

use core_support::harness::{ignore, need_programs, need_root, Ran};
use core_support::{vpnmon_fake_ping, Running};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vpnmon::datalog::read::Reader;

/// The rows of datalog text as (cycle, name), or the lines that could not be read.
fn rows_of(text: &str) -> Result<Vec<(u64, String)>, String> {
    let mut rows = Vec::new();
    let skipped = Reader::new()
        .read_str(Path::new("datalog"), text, |r| {
            rows.push((r.cycle, r.name.to_string()))
        })
        .map_err(|e| e.to_string())?;
    if skipped.count > 0 || !(text.is_empty() || text.ends_with('\n')) {
        return Err(format!(
            "{} lines could not be read: {:?}; ends with a line end: {}",
            skipped.count,
            skipped.warning(),
            text.ends_with('\n')
        ));
    }
    Ok(rows)
}

/// Consecutive rows with the same cycle number, as (cycle, rows).
fn cycles_of(rows: &[(u64, String)]) -> Vec<(u64, Vec<String>)> {
    let mut out: Vec<(u64, Vec<String>)> = Vec::new();
    for (c, name) in rows {
        match out.last_mut() {
            Some((last, names)) if last == c => names.push(name.clone()),
            _ => out.push((*c, vec![name.clone()])),
        }
    }
    out
}

/// The highest `End vpnmon test cycle N` on stdout: the cycles whose rows vpnmon had written
/// (the console hears of a cycle's end after the datalog has synced it).
fn confirmed(stdout: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("End vpnmon test cycle ")? + "End vpnmon test cycle ".len()..];
            rest.split(' ').next()?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// kill -9 of the real binary at random moments (start-up, the journal's write, the append,
/// between cycles), all runs appending to one datalog of 200-row cycles. After every kill the
/// file is only ever extended (what a kill left is a prefix of what the next start makes of
/// it); at the end, after one clean run, every line reads, every cycle is whole (200 rows of
/// one run), each run's cycles are 1, 2, … in order, and every cycle a run reported complete
/// before its kill is there (at most the one it was writing besides).
fn kill_9_at_random_moments_never_tears_a_line_or_a_cycle_or_loses_a_completed_one() {
    const KILLS: usize = 250;
    const TARGETS: usize = 200;
    // Long names make each cycle's write ~60 KB (15 pages), so more kills land inside one.
    const PAD: &str = concat!(
        "padding-padding-padding-padding-padding-padding-padding-padding-padding-padding-",
        "padding-padding-padding-padding-padding-padding-padding-padding-padding-padding-",
        "padding-padding-padding-padding-padding-padding-padding-padding-padding-padding-"
    );
    let seed = std::env::var("VPNMON_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill -9 test seed: {seed} (VPNMON_KILL_SEED={seed} repeats it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("d.csv");
    let targets = |run: usize| -> String {
        (0..TARGETS)
            .map(|k| format!("127.0.{}.{},r{run}-t{k}-{PAD}\n", k / 250, k % 250 + 1))
            .collect()
    };
    let command = || {
        let mut c = vpnmon_fake_ping(dir.path());
        c.args([
            "--vpnclient",
            "none",
            "--targets",
            "t.csv",
            "--delay",
            "0",
            "--datalog",
            "d.csv",
        ]);
        c
    };
    let started = Instant::now();
    let mut before: Vec<u8> = Vec::new();
    let mut done: Vec<u64> = Vec::new();
    let mut shapes: BTreeMap<&str, usize> = BTreeMap::new();
    for run in 0..KILLS {
        std::fs::write(dir.path().join("t.csv"), targets(run)).unwrap();
        let mut c = command();
        c.args(["--cycles", "-1"]);
        let mut p = Running::spawn(c);
        // Mostly within the first cycles (a few ms each here), sometimes in the start-up.
        let wait = if rng.u8(..) < 40 {
            rng.u64(0..3_000)
        } else {
            rng.u64(0..150_000)
        };
        std::thread::sleep(Duration::from_micros(wait));
        p.signal(Signal::SIGKILL);
        let out = p.finish(Duration::from_secs(30));
        assert_eq!(
            out.code, None,
            "run {run} ended before the kill: {}",
            out.stderr
        );
        done.push(confirmed(&out.stdout));
        let now = std::fs::read(&log).unwrap_or_default();
        assert!(
            now.starts_with(&before),
            "run {run} (seed {seed}): the datalog lost bytes it had ({} before, {} now)",
            before.len(),
            now.len()
        );
        let journal = dir.path().join("d.csv.journal").exists();
        let torn = !now.is_empty() && now.last() != Some(&b'\n');
        *shapes
            .entry(match (journal, torn) {
                (true, true) => "killed mid-append (journal and a cut line)",
                (true, false) => "killed with a journal",
                (false, true) => "cut line without a journal",
                (false, false) => "clean",
            })
            .or_default() += 1;
        before = now;
    }
    // One clean run finishes what the last kill left, and adds one cycle.
    std::fs::write(dir.path().join("t.csv"), targets(KILLS)).unwrap();
    let mut c = command();
    c.args(["--cycles", "1"]);
    let out = core_support::run(c, Duration::from_secs(60));
    assert!(out.success(), "{}", out.stderr);
    done.push(1);
    assert!(!dir.path().join("d.csv.journal").exists());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.as_bytes().starts_with(&before), "seed {seed}");
    assert_eq!(shapes.get("cut line without a journal"), None, "{shapes:?}");
    let rows = rows_of(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let mut per_run: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut last_run = 0;
    // Consecutive rows of one run (named `r<run>-t<k>`) and one cycle number.
    let run_of = |name: &str| -> usize { name[1..name.find('-').unwrap()].parse().unwrap() };
    let mut groups: Vec<(u64, Vec<String>)> = Vec::new();
    for (c, name) in rows {
        match groups.last_mut() {
            Some((last, names)) if *last == c && run_of(&names[0]) == run_of(&name) => {
                names.push(name)
            }
            _ => groups.push((c, vec![name])),
        }
    }
    for (cycle, names) in groups {
        assert_eq!(
            names.len(),
            TARGETS,
            "seed {seed}: cycle {cycle} is not whole"
        );
        let run = run_of(&names[0]);
        for (k, n) in names.iter().enumerate() {
            assert_eq!(
                n,
                &format!("r{run}-t{k}-{PAD}"),
                "seed {seed}: cycle {cycle}"
            );
        }
        assert!(run >= last_run, "seed {seed}: runs out of order");
        last_run = run;
        per_run.entry(run).or_default().push(cycle);
    }
    let mut complete = 0;
    for (run, &reported) in done.iter().enumerate() {
        let cycles = per_run.remove(&run).unwrap_or_default();
        let expected: Vec<u64> = (1..=cycles.len() as u64).collect();
        assert_eq!(cycles, expected, "seed {seed}: run {run}'s cycles");
        let written = cycles.len() as u64;
        assert!(
            written >= reported,
            "seed {seed}: run {run} reported {reported} cycles complete, the datalog has {written}"
        );
        assert!(written <= reported + 1, "seed {seed}: run {run}");
        complete += written;
    }
    eprintln!(
        "{KILLS} kills in {:.1} s: {complete} whole cycles of {TARGETS} rows, {} bytes; after the kills: {shapes:?}",
        started.elapsed().as_secs_f64(),
        text.len()
    );
    // The test is worth something only if kills hit cycles being written.
    assert!(
        shapes.get("killed with a journal").copied().unwrap_or(0)
            + shapes
                .get("killed mid-append (journal and a cut line)")
                .copied()
                .unwrap_or(0)
            > 0,
        "seed {seed}: no kill landed during a write: {shapes:?}"
    );
}

/// A process holding a tmpfs of `size` mounted on `disk` in a private mount namespace of its
/// own (root only); vpnmon joins it with `nsenter`, the test reaches its files through
/// `/proc/<pid>/root`. Killed on drop, which unmounts it.
struct TinyDisk {
    holder: Running,
    disk: PathBuf,
}

/// What a `TinyDisk` needs: root (mounts) and util-linux's `unshare` and `nsenter`.
fn need_tiny_disk() -> Ran {
    need_root("mounting a tmpfs")?;
    need_programs(&[("unshare", "util-linux"), ("nsenter", "util-linux")])
}

impl TinyDisk {
    /// A tmpfs with a file of `filler` bytes on it; `filler` None mounts it read-only.
    fn mount(disk: &Path, size: &str, filler: Option<usize>) -> Result<TinyDisk, String> {
        let d = disk.display();
        let then = match filler {
            Some(n) => format!("&& head -c {n} /dev/zero > '{d}/filler'"),
            None => format!("&& mount -o remount,ro '{d}'"),
        };
        let mut c = std::process::Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"]).arg(format!(
            "mount -t tmpfs -o size={size} vpnmon-full '{d}' {then} && echo mounted && exec sleep 600"
        ));
        let mut holder = Running::try_spawn(c).map_err(|e| format!("unshare: {e}"))?;
        match holder.next_line(Duration::from_secs(10)) {
            core_support::Next::Line(l) if l.trim() == "mounted" => {}
            _ => {
                holder.kill();
                return Err(format!("cannot mount a tmpfs: {}", holder.stderr()));
            }
        }
        Ok(TinyDisk {
            holder,
            disk: disk.to_path_buf(),
        })
    }

    /// A path on the tiny disk as the test sees it.
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.holder.pid()))
            .join(self.disk.strip_prefix("/").unwrap())
            .join(name)
    }

    /// `vpnmon` inside the namespace.
    fn vpnmon(&self, dir: &Path) -> std::process::Command {
        let mut c = std::process::Command::new("nsenter");
        c.current_dir(dir)
            .env("RUST_BACKTRACE", "0")
            .args(["-t", &self.holder.pid().to_string(), "-m"])
            .arg(format!("--wd={}", dir.display()))
            .arg("--")
            .arg(core_support::vpnmon_bin())
            .arg("--debug-fake-ping");
        c
    }
}

/// The datalog's files oldest first (`.2`, `.1`, the live one), read from the tiny disk.
fn joined_files(d: &TinyDisk, keep: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in (1..=keep)
        .rev()
        .map(|i| format!("d.log.{i}"))
        .chain(["d.log".to_string()])
    {
        if let Ok(t) = std::fs::read_to_string(d.path(&name)) {
            out.push((name, t));
        }
    }
    out
}

/// The cycles in the datalog's files: every line reads, every cycle whole (21 rows) and in one
/// file, the cycles consecutive. Returns them, oldest first.
fn whole_cycles(files: &[(String, String)], what: &str) -> Vec<u64> {
    let mut all = Vec::new();
    for (name, text) in files {
        let rows = rows_of(text).unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
        for (c, names) in cycles_of(&rows) {
            assert_eq!(names.len(), 20, "{what}: {name}: cycle {c} is not whole");
            all.push(c);
        }
    }
    for w in all.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{what}: cycles not consecutive: {all:?}");
    }
    all
}

/// A full disk (64 KiB tmpfs, 40 KiB taken by another file) in every format, with and without
/// rotation: the datalog only ever holds whole cycles; the console says what was not written
/// and that the rows are kept; once space is freed the kept rows are written, in order,
/// nothing glued onto a fragment; and at the end every cycle is in the file or named as lost.
fn a_full_disk_leaves_whole_cycles_and_the_kept_rows_are_written_once_space_is_free() -> Ran {
    need_tiny_disk()?;
    for format in ["vpnmon", "extended", "jsonl"] {
        for rotation in [false, true] {
            let what = format!("{format}, rotation {rotation}");
            let dir = tempfile::tempdir().unwrap();
            let disk = dir.path().join("disk");
            std::fs::create_dir(&disk).unwrap();
            let targets: String = (1..=20).map(|k| format!("127.0.0.{k},T{k}\n")).collect();
            std::fs::write(dir.path().join("t.csv"), targets).unwrap();
            let d = TinyDisk::mount(&disk, "64k", Some(40 * 1024)).map_err(ignore)?;
            let mut c = d.vpnmon(dir.path());
            c.args([
                "--vpnclient",
                "none",
                "--targets",
                "t.csv",
                "--cycles",
                "-1",
            ]);
            c.args(["--delay", "0", "--datalog-format", format, "--datalog"]);
            c.arg(disk.join("d.log"));
            if rotation {
                c.args(["--datalog-max-size", "12KB", "--datalog-keep", "2"]);
            }
            let mut p = Running::spawn(c);
            let full = |l: &str| {
                l.contains("cannot be written (no space left on device)")
                    && l.contains("kept in memory, to be written with the next cycle")
            };
            let first =
                p.wait_stderr_line("the first full-disk notice", Duration::from_secs(60), full);
            // Whole cycles only while full, and the notice names the cycle not written.
            let files = joined_files(&d, 2);
            let before = whole_cycles(&files, &what);
            let last = *before.last().expect("some cycles fit");
            assert!(
                first.contains(&format!(
                    ": the 20 rows of cycle {} were not written; the datalog ends at cycle {last}; 1 cycle (20 rows) kept in memory",
                    last + 1
                )),
                "{what}: {first}"
            );
            p.wait_stderr_line("a second cycle kept", Duration::from_secs(60), |l| {
                full(l) && l.contains("; 2 cycles (40 rows) kept in memory")
            });
            std::fs::remove_file(d.path("filler")).unwrap();
            let wrote = p.wait_stderr_line("the kept rows written", Duration::from_secs(60), |l| {
                l.contains("held cycle") && l.contains("kept in memory") && l.contains("wrote")
            });
            assert!(
                wrote.contains(&format!("rows of cycles {} to", last + 1)),
                "{what}: {wrote}"
            );
            let files = joined_files(&d, 2);
            let after = whole_cycles(&files, &what);
            assert!(
                after.contains(&(last + 1)) && after.contains(&(last + 2)),
                "{what}: {after:?}"
            );
            if format == "extended" {
                for (name, text) in &files {
                    assert!(
                        text.starts_with("cycle,date,time,"),
                        "{what}: {name} lacks its header"
                    );
                }
            }
            p.signal(Signal::SIGINT);
            // The disk is gone with the namespace once vpnmon's nsenter and the holder end:
            // read the files while the holder still runs.
            let out = p.finish(Duration::from_secs(30));
            let files = joined_files(&d, 2);
            let end = whole_cycles(&files, &what);
            let ran = confirmed(&out.stdout);
            let err = out.stderr.lines().last().unwrap_or_default().to_string();
            // Every cycle that ran is in the files (apart from those rotated away), or named
            // as not written in the last line.
            if out.code == Some(0) {
                assert!(
                    *end.last().unwrap() >= ran,
                    "{what}: ran {ran}, files {end:?}"
                );
            } else {
                assert_eq!(out.code, Some(1), "{what}: {}", out.stderr);
                assert!(
                    err.contains(
                        "could not be written when vpnmon ended (no space left on device)"
                    ) && err.contains(&format!("of cycles {} to ", end.last().unwrap() + 1))
                        && err.ends_with(&format!(
                            "the datalog ends at cycle {}",
                            end.last().unwrap()
                        )),
                    "{what}: {err}"
                );
            }
            assert!(!d.path("d.log.journal").exists(), "{what}");
            eprintln!(
                "{what}: full after cycle {last}; {}; ended with exit {:?} after {ran} cycles, files hold cycles {}..={} in {} files; {err}",
                wrote.trim(),
                out.code,
                end[0],
                end.last().unwrap(),
                files.len()
            );
            if rotation {
                assert!(files.len() > 1, "{what}: never rotated");
            }
        }
    }
    Ok(())
}

/// A datalog on a read-only file system is fatal at start-up with that reason, before the
/// first cycle: not "in use by another program", not retried.
fn a_datalog_on_a_read_only_file_system_is_fatal_before_the_first_cycle() -> Ran {
    need_tiny_disk()?;
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,One\n").unwrap();
    let d = TinyDisk::mount(&disk, "64k", None).map_err(ignore)?;
    let mut c = d.vpnmon(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "1",
        "--datalog",
    ]);
    c.arg(disk.join("d.csv"));
    let out = core_support::run(c, Duration::from_secs(30));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        format!("Error: Cannot write the vpnmon datalog file {} (read-only file system); its file system is mounted read-only; choose a datalog on a writable one with --datalog", disk.join("d.csv").display())
    );
    out.assert_no_cycle_started("");
    Ok(())
}

/// A datalog locked by another program (`flock`, honoured by vpnmon's writer; a spreadsheet's
/// sharing violation on Windows) for several cycles, then freed: the monitor never stopped
/// (cycles kept ending while it was locked), the console said the rows were kept, then written,
/// and no row was lost: every cycle is in the file, whole and in order.
fn a_datalog_locked_then_freed_loses_no_row_and_the_monitor_never_stops() {
    use nix::fcntl::{Flock, FlockArg};
    let (dir, mut c) =
        core_support::without_vpn_in_temp("127.0.0.1,One\n127.0.0.2,Two\n127.0.0.3,Three\n");
    let log = dir.path().join("d.csv");
    c.args(["--cycles", "-1", "--datalog", "d.csv"]);
    let mut p = Running::spawn(c);
    p.wait_line("End vpnmon test cycle 3 of", Duration::from_secs(60));
    let file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    // Waits for vpnmon's own lock between its writes.
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    let locked_at = std::fs::read_to_string(&log).unwrap().lines().count();
    let cycle_at_lock = confirmed(&p.stdout());
    let kept = |n: usize| {
        move |l: &str| {
            l.contains("cannot be written (in use by another program (locked))")
                && l.contains(&format!("; {n} cycles ("))
        }
    };
    p.wait_stderr_line("a retry", Duration::from_secs(60), |l| {
        l.contains("is in use by another program (locked); retrying in 1 s (try 2 of 3)")
    });
    p.wait_stderr_line("2 cycles kept", Duration::from_secs(60), kept(2));
    let during = p.wait_stderr_line("3 cycles kept", Duration::from_secs(60), kept(3));
    assert!(during.contains("(9 rows) kept in memory"), "{during}");
    // The monitor went on: cycles ended while the file was locked.
    let ended_while_locked = confirmed(&p.stdout());
    assert!(
        ended_while_locked >= cycle_at_lock + 2,
        "cycles went on while locked: {cycle_at_lock} then {ended_while_locked}"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        locked_at,
        "nothing was written while locked"
    );
    drop(lock);
    let wrote = p.wait_stderr_line("the kept rows written", Duration::from_secs(60), |l| {
        l.contains(": wrote ") && l.contains("held cycles kept in memory")
    });
    // `wrote K held cycles kept in memory (3K rows of cycles A to B) before cycle B+1`, K >= 3.
    let nums: Vec<u64> = wrote
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [.., k, rows, a, b, next] = nums[..] else {
        panic!("{wrote}")
    };
    assert!(
        k >= 3 && rows == 3 * k && b - a + 1 == k && next == b + 1,
        "{wrote}"
    );
    p.wait_line(
        &format!("End vpnmon test cycle {} of", ended_while_locked + 2),
        Duration::from_secs(60),
    );
    p.signal(Signal::SIGINT);
    let out = p.finish(Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let ran = confirmed(&out.stdout);
    let rows = rows_of(&std::fs::read_to_string(&log).unwrap()).unwrap();
    let cycles = cycles_of(&rows);
    for (i, (c, names)) in cycles.iter().enumerate() {
        assert_eq!(*c, i as u64 + 1, "cycles in order, none missing");
        if *c <= ran {
            assert_eq!(names, &["One", "Two", "Three"], "cycle {c}");
        }
    }
    assert!(
        cycles.len() as u64 >= ran,
        "ran {ran}, wrote {}",
        cycles.len()
    );
}

mod round_trip {
    use super::*;
    use chrono::{Local, TimeZone};
    use proptest::prelude::*;
    use vpnmon::datalog::{DatalogFormat, DatalogWriter};
    use vpnmon::record::{Record, Test, Verdict};

    fn test_kind() -> impl Strategy<Value = Test> {
        prop_oneof![
            Just(Test::VpnPing),
            Just(Test::VpnOpen),
            Just(Test::TargetPing),
            Just(Test::VpnClose)
        ]
    }

    fn verdict() -> impl Strategy<Value = Verdict> {
        prop_oneof![
            Just(Verdict::Good),
            Just(Verdict::Warn),
            Just(Verdict::Fail)
        ]
    }

    /// Names and addresses as people write them: commas, quotes, spaces, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        "[ -~äöüßéñ€中文日本語🙂,\"']{0,30}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// A cycle written through the datalog writer reads back identically through the
        /// datalog reader, in every format.
        fn a_written_cycle_reads_back_identically(
            cycle in 1u64..1_000_000,
            secs in 0i64..86_400 * 365,
            rows in proptest::collection::vec((test_kind(), verdict(), text(), text()), 1..12),
        ) {
            let at = Local.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs);
            let records: Vec<Record> = rows
                .iter()
                .map(|(test, result, address, name)| Record { path: None,
                    cycle,
                    at,
                    test: *test,
                    result: *result,
                    address: address.clone(),
                    name: name.clone(),
                    site: "Site".into(),
                    reason: None,
                    ping: None,
                    duration: Duration::ZERO,
                })
                .collect();
            for format in [DatalogFormat::Vpnmon, DatalogFormat::Extended, DatalogFormat::Jsonl] {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("d.csv");
                let mut w = DatalogWriter::new(&p)
                    .with_format(format)
                    .with_messages(Box::new(|m| panic!("unexpected message: {m}")));
                w.write_cycle(&records, &tokio_util::sync::CancellationToken::new()).unwrap();
                let mut back = Vec::new();
                let skipped = Reader::new()
                    .read_file(&p, |r| {
                        back.push((r.cycle, r.t, r.test, r.verdict, r.address.to_string(), r.name.to_string()))
                    })
                    .unwrap();
                prop_assert_eq!(skipped.count, 0, "{:?}: {:?}", format, skipped.warning());
                let t = vpnmon::datalog::read::to_naive(at.naive_local());
                let want: Vec<_> = records
                    .iter()
                    .map(|r| (r.cycle, t, r.test, r.result, r.address.clone(), r.name.clone()))
                    .collect();
                prop_assert_eq!(back, want, "{:?}", format);
            }
        }
    }

    /// The property test as a trial of the harness (`proptest!` makes it a plain function here).
    pub fn trials() -> Vec<libtest_mimic::Trial> {
        vec![core_support::harness::trial(
            "round_trip::a_written_cycle_reads_back_identically",
            a_written_cycle_reads_back_identically,
        )]
    }
}

fn main() {
    let mut trials = crate::harness_trials!(
        kill_9_at_random_moments_never_tears_a_line_or_a_cycle_or_loses_a_completed_one,
        a_full_disk_leaves_whole_cycles_and_the_kept_rows_are_written_once_space_is_free,
        a_datalog_on_a_read_only_file_system_is_fatal_before_the_first_cycle,
        a_datalog_locked_then_freed_loses_no_row_and_the_monitor_never_stops,
    );
    trials.extend(round_trip::trials());
    core_support::harness::run(trials)
}
