//! The datalog options through the real binary (`--vpnclient none`, pinging 127.0.0.x only):
//! `--json` on stdout, `--datalog-format`, rotation options from the params file, bad sizes.

use assert_cmd::Command;
use vpnmon::sinks::datalog::JsonRecord;

fn vpnmon(dir: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("vpnmon").unwrap();
    c.current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("VPNMON_PASSWORD")
        .timeout(std::time::Duration::from_secs(120));
    c
}

fn can_ping() -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    match vpnmon::probe::IcmpProber::new() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED datalog_cli: cannot open an ICMP socket here: {e}");
            false
        }
    }
}

#[test]
fn json_replaces_the_console_and_extended_datalog_has_header_and_timings() {
    if !can_ping() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "127.0.0.1,Loopback\n127.0.0.2,Loop two\n",
    )
    .unwrap();
    let out = vpnmon(dir.path())
        .args([
            "--vpnclient",
            "none",
            "--targets",
            "t.csv",
            "--cycles",
            "2",
            "--delay",
            "0",
            "--datalog",
            "d.csv",
            "--datalog-format",
            "extended",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("Running without a vpnmon params file"));
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4);
    for (row, rec) in rows.iter().zip(&recs) {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 14, "{row}");
        assert_eq!(f[0], rec.cycle.to_string());
        assert_eq!(f[4], rec.result);
        assert_eq!(f[8], "2");
    }
    // The report reads it back.
    let rep = vpnmon(dir.path())
        .args(["report", "d.csv"])
        .output()
        .unwrap();
    let rep = String::from_utf8(rep.stdout).unwrap();
    assert!(
        rep.starts_with("vpnmon report: 4 rows from 1 file, 2 cycles"),
        "{rep}"
    );
}

#[test]
fn params_file_sets_format_and_rotation() {
    if !can_ping() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,Loopback\n").unwrap();
    // Each jsonl row is ~250 bytes: a 300-byte limit puts every cycle in its own file.
    std::fs::write(
        dir.path().join("p.csv"),
        "datalog-format,jsonl\ndatalog-max-size,300\ndatalog-keep,2\ndatalog,d.jsonl\n",
    )
    .unwrap();
    let out = vpnmon(dir.path())
        .args([
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
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[test]
fn a_bad_size_names_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = vpnmon(dir.path())
        .args(["--datalog-max-size", "10parsecs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("'--datalog-max-size <SIZE>': expected a size such as 10MB, 512KB or 1GB"),
        "{err}"
    );
}
