//! `vpnmon report` through the real binary: exact outage tables from synthetic datalogs, the
//! original fixture, rotated pieces read as one history, every datalog format, the SVG timeline.

mod core_support;

use core_support::Finished;
use std::path::Path;
use std::time::Duration;

/// `vpnmon report ARGS…` run to its end (cwd: the package, for tests/data).
fn report_run(args: &[&str]) -> Finished {
    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    // CSV and JSON times carry the UTC offset of the machine's zone: one zone for every run.
    c.env("TZ", "UTC").arg("report").args(args);
    core_support::run(c, Duration::from_secs(60))
}

fn report(args: &[&str]) -> String {
    let out = report_run(args);
    assert!(
        out.success(),
        "vpnmon report {args:?} failed: {}",
        out.stderr
    );
    out.stdout
}

/// Verdicts per check per cycle: `plan[cycle-1]` says which checks are not Good.
struct Step {
    open: &'static str,
    a: &'static str,
    b: &'static str,
}

const GOOD: Step = Step {
    open: "Good",
    a: "Good",
    b: "Good",
};

/// A datalog of `plan.len()` cycles, one every 30 minutes from 2024-03-01 23:00 (so it spans
/// midnight), 3 rows per minute within a cycle; `first_cycle` numbers the cycles.
fn synth(plan: &[Step], first_cycle: u64, start_min: i64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
        .unwrap()
        .and_hms_opt(23, 0, 0)
        .unwrap();
    let mut s = String::new();
    for (i, st) in plan.iter().enumerate() {
        let c = first_cycle + i as u64;
        let t0 = base + chrono::Duration::minutes(start_min + 30 * i as i64);
        let row = |s: &mut String, secs: i64, test: &str, res: &str, addr: &str, name: &str| {
            let t = t0 + chrono::Duration::seconds(secs);
            s.push_str(&format!(
                "{c},{},{},{test},{res},{addr},{}\n",
                t.format("%Y/%m/%d"),
                t.format("%H:%M:%S"),
                vpnmon::datalog::quote(name)
            ));
        };
        row(
            &mut s,
            0,
            "VPN ping",
            "Good",
            "vpn.example.org",
            "VPN Gateway",
        );
        row(
            &mut s,
            5,
            "VPN open",
            st.open,
            "vpn.example.org",
            "VPN Gateway",
        );
        if st.open == "Good" {
            row(&mut s, 10, "Target ping", st.a, "10.0.0.1", "Alpha");
            row(&mut s, 11, "Target ping", st.b, "10.0.0.2", "Beta, rack 2");
            row(
                &mut s,
                15,
                "VPN close",
                "Good",
                "vpn.example.org",
                "VPN Gateway",
            );
        }
    }
    s
}

fn plan() -> Vec<Step> {
    let f = |open, a, b| Step { open, a, b };
    vec![
        GOOD,                      // 1  23:00
        f("Good", "Fail", "Good"), // 2  23:30  Alpha down
        f("Good", "Fail", "Warn"), // 3  00:00
        f("Good", "Good", "Good"), // 4  00:30  Alpha back
        f("Fail", "Good", "Good"), // 5  01:00  VPN open fails (no target rows)
        f("Fail", "Good", "Good"), // 6  01:30
        f("Good", "Warn", "Good"), // 7  02:00  open back
        f("Good", "Good", "Fail"), // 8  02:30  Beta down until the end
        f("Good", "Good", "Fail"), // 9  03:00
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn synthetic_outages_give_the_exact_tables() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "d.csv", &synth(&plan(), 1, 0));
    // In the order the checks first appear: one CSV table, a row per check.
    let out = report(&["--format", "csv", "--sort", "file", &f]);
    assert_eq!(
        out,
        "\
test,address,name,cycles,good,warn,fail,availability_pct,outages,rtt_min_ms,rtt_avg_ms,rtt_max_ms
VPN ping,vpn.example.org,VPN Gateway,9,9,0,0,100.00,0,,,
VPN open,vpn.example.org,VPN Gateway,9,7,0,2,77.78,1,,,
VPN close,vpn.example.org,VPN Gateway,7,7,0,0,100.00,0,,,
Target ping,10.0.0.1,Alpha,7,4,1,2,71.43,1,,,
Target ping,10.0.0.2,\"Beta, rack 2\",7,4,1,2,71.43,1,,,
"
    );
    // --outages: one CSV table, a row per outage, in time order.
    assert_eq!(
        report(&["--format", "csv", "--outages", &f]),
        "\
test,address,name,start,end,duration_s,cycles,ongoing
Target ping,10.0.0.1,Alpha,2024-03-01T23:30:10+00:00,2024-03-02T00:30:10+00:00,3600,2,false
VPN open,vpn.example.org,VPN Gateway,2024-03-02T01:00:05+00:00,2024-03-02T02:00:05+00:00,3600,2,false
Target ping,10.0.0.2,\"Beta, rack 2\",2024-03-02T02:30:11+00:00,2024-03-02T03:00:11+00:00,1800,2,true
"
    );
    // Worst first by default: the lowest availability, ties by name; the gateway's checks
    // before the targets at equal availability.
    let names = |out: &str| -> Vec<String> {
        out.lines()
            .skip(1)
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(
        names(&report(&["--format", "csv", &f])),
        [
            "Target ping,10.0.0.1,Alpha",
            "Target ping,10.0.0.2,\"Beta",
            "VPN open,vpn.example.org,VPN Gateway",
            "VPN ping,vpn.example.org,VPN Gateway",
            "VPN close,vpn.example.org,VPN Gateway",
        ]
    );
    assert_eq!(
        names(&report(&["--format", "csv", "--sort", "name", &f]))[..2],
        ["Target ping,10.0.0.1,Alpha", "Target ping,10.0.0.2,\"Beta"]
    );
    let table = report(&[&f]);
    assert!(
        table.starts_with("vpnmon report: 39 rows from 1 file, 9 cycles, 2024-03-01 23:00:00 to 2024-03-02 03:00:15\n"),
        "{table}"
    );
    assert!(
        table.ends_with("\nOutages: 3 (--outages lists them)\n"),
        "{table}"
    );
    let outages = report(&["--outages", &f]);
    assert!(outages.contains("Outages: 3, in time order\n"), "{outages}");
    assert!(
        outages.contains("2024-03-02 01:00:05  02:00:05               1h 00m       2"),
        "{outages}"
    );
    assert!(
        outages.contains("2024-03-02 02:30:11  (ongoing)             30m 00s       2"),
        "{outages}"
    );
}

#[test]
fn since_and_until_cut_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "d.csv", &synth(&plan(), 1, 0));
    let out = report(&[
        "--format",
        "json",
        "--since",
        "2024-03-02",
        "--until",
        "2024-03-02 01:59",
        "--sort",
        "file",
        &f,
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Cycles 3 (00:00), 4 (00:30), 5 (01:00), 6 (01:30).
    assert_eq!(j["cycles"], 4);
    assert_eq!(j["first"], "2024-03-02T00:00:00+00:00");
    let open = &j["checks"][1];
    assert_eq!(open["test"], "VPN open");
    assert_eq!(open["fail"], 2);
    assert_eq!(open["outages"][0]["ongoing"], true);
    let alpha = &j["checks"][3];
    assert_eq!(
        (alpha["cycles"].as_u64(), alpha["fail"].as_u64()),
        (Some(2), Some(1))
    );
}

#[test]
fn the_original_datalog_reports_two_cycles_all_available() {
    let out = report(&["--format", "json", "tests/data/vpnmon-original-datalog.csv"]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["cycles"], 2);
    assert_eq!(j["rows"], 114);
    let checks = j["checks"].as_array().unwrap();
    let targets: Vec<_> = checks
        .iter()
        .filter(|c| c["test"] == "Target ping")
        .collect();
    // The fixture has 54 distinct targets (55 hosts pinged with the gateway).
    assert_eq!(targets.len(), 54);
    for c in checks {
        assert_eq!(c["cycles"], 2, "{c}");
        assert_eq!(c["availability_pct"], 100.0, "{c}");
        assert_eq!(c["outages"].as_array().unwrap().len(), 0, "{c}");
    }
    assert_eq!(checks[0]["test"], "VPN ping");
    assert_eq!(checks[1]["test"], "VPN open");
    assert_eq!(checks[2]["test"], "VPN close");
}

#[test]
fn rotated_pieces_and_restarts_read_as_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let whole = synth(&plan(), 1, 0);
    let single = write(dir.path(), "whole.csv", &whole);
    // Split at cycle boundaries into three rotated files, given out of order.
    let lines: Vec<&str> = whole.lines().collect();
    let cut = |a: usize, b: usize| lines[a..b].join("\n") + "\n";
    let p2 = write(dir.path(), "vpnmon_datalog.csv.2", &cut(0, 10));
    let p1 = write(dir.path(), "vpnmon_datalog.csv.1", &cut(10, 24));
    let p0 = write(dir.path(), "vpnmon_datalog.csv", &cut(24, lines.len()));
    let one = report(&["--format", "json", &single]);
    let rotated = report(&["--format", "json", &p0, &p2, &p1]);
    assert_eq!(one, rotated);
    // The same piece given twice adds nothing; a restart (numbers from 1 again) adds cycles.
    let twice = report(&["--format", "json", &p0, &p2, &p1, &p1]);
    assert_eq!(one, twice);
    let restarted = write(dir.path(), "restarted.csv", &synth(&plan()[..2], 1, 9 * 30));
    let j: serde_json::Value = serde_json::from_str(&report(&[
        "--format", "json", "--sort", "file", &single, &restarted,
    ]))
    .unwrap();
    assert_eq!(j["cycles"], 11);
    assert_eq!(j["checks"][0]["cycles"], 11);
}

#[test]
fn every_datalog_format_reports_the_same() {
    use chrono::TimeZone;
    use std::time::Duration;
    use vpnmon::datalog::DatalogFormat;
    use vpnmon::record::{PingStats, Record, Test, Verdict};
    use vpnmon::sinks::datalog::DatalogSink;
    let dir = tempfile::tempdir().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut outs = Vec::new();
    for (i, format) in [
        DatalogFormat::Vpnmon,
        DatalogFormat::Extended,
        DatalogFormat::Jsonl,
    ]
    .into_iter()
    .enumerate()
    {
        let p = dir.path().join(format!("d{i}"));
        let mut sink = DatalogSink::new(&p).with_format(format);
        for c in 1..=4u64 {
            let at = chrono::Local
                .with_ymd_and_hms(2024, 6, 1, 10, 0, 0)
                .unwrap()
                + chrono::Duration::minutes(30 * c as i64);
            let rtt = |ms: u64| Some(Duration::from_millis(ms));
            let recs = vec![Record {
                path: None,
                cycle: c,
                at,
                test: Test::TargetPing,
                result: if c == 2 { Verdict::Fail } else { Verdict::Good },
                address: "10.0.0.9".into(),
                name: "Gamma, \"left\"".into(),
                site: "Site".into(),
                reason: None,
                ping: Some(PingStats {
                    sent: 2,
                    received: if c == 2 { 0 } else { 2 },
                    rtt_min: rtt(c),
                    rtt_avg: rtt(2 * c),
                    rtt_max: rtt(3 * c),
                    rtt_std: rtt(c),
                }),
                duration: Duration::from_millis(5),
            }];
            sink.write_cycle(&recs, &cancel).unwrap();
        }
        outs.push(report(&["--format", "csv", p.to_str().unwrap()]));
    }
    assert!(
        outs[0].contains("Target ping,10.0.0.9,\"Gamma, \"\"left\"\"\",4,3,0,1,75.00,1,,,"),
        "{}",
        outs[0]
    );
    // Extended and jsonl carry RTTs (min of mins, mean of averages, max of maxes).
    // They also carry the mean deviation and loss (issue 14), and the site (a last column);
    // the original format has none of them.
    for o in &outs[1..] {
        assert!(o.contains(",4,3,0,1,75.00,1,1,5,12,2.5,25,Site\n"), "{o}");
        assert!(
            o.starts_with("test,address,name,")
                && o.lines()
                    .next()
                    .unwrap()
                    .ends_with(",rtt_max_ms,rtt_std_ms,loss_pct,site"),
            "{o}"
        );
    }
    let strip = |s: &str| {
        s.replace(",1,5,12,2.5,25,Site\n", ",,,\n")
            .replace(",rtt_max_ms,rtt_std_ms,loss_pct,site\n", ",rtt_max_ms\n")
    };
    assert_eq!(strip(&outs[1]), outs[0]);
    assert_eq!(strip(&outs[2]), outs[0]);
}

#[test]
fn svg_timeline_parses_and_has_one_row_per_check() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "d.csv", &synth(&plan(), 1, 0));
    let svg = dir.path().join("t.svg");
    report(&["--svg", svg.to_str().unwrap(), &f]);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let rows: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("check"))
        .collect();
    let names: Vec<_> = rows
        .iter()
        .map(|n| {
            (
                n.attribute("data-test").unwrap(),
                n.attribute("data-name").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("VPN ping", "VPN Gateway"),
            ("VPN open", "VPN Gateway"),
            ("VPN close", "VPN Gateway"),
            ("Target ping", "Alpha"),
            ("Target ping", "Beta, rack 2"),
        ]
    );
    // One mark per cycle seen, coloured by verdict; outages bracketed and labelled.
    let marks = |n: &roxmltree::Node, fill: &str| {
        n.descendants()
            .filter(|m| m.attribute("class") == Some("mark") && m.attribute("fill") == Some(fill))
            .count()
    };
    assert_eq!(marks(&rows[0], "#2e9d44"), 9);
    assert_eq!(marks(&rows[1], "#d62728"), 2);
    assert_eq!(marks(&rows[4], "#f0a500"), 1);
    assert_eq!(marks(&rows[4], "#d62728"), 2);
    let labels: Vec<_> = rows[3]
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text())
        .collect();
    assert!(labels.contains(&"1h 00m"), "{labels:?}");
    assert_eq!(
        rows[4]
            .descendants()
            .filter(|n| n.attribute("class") == Some("outage"))
            .count(),
        1
    );
    // The time axis carries the dates of both days.
    assert!(text.contains(">2024-03-01<") && text.contains(">2024-03-02<"));
}

#[test]
fn an_empty_or_filtered_out_history_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "d.csv", &synth(&plan(), 1, 0));
    let svg = dir.path().join("t.svg");
    let out = report(&["--since", "2030-01-01", "--svg", svg.to_str().unwrap(), &f]);
    assert_eq!(out, "vpnmon report: 0 rows from 1 file, 0 cycles\n\nCheck  Address  Name  Cycles  Avail%  Warn  Fail  Outages\n\nOutages: none\n");
    roxmltree::Document::parse(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    let empty = write(dir.path(), "empty.csv", "");
    let j: serde_json::Value =
        serde_json::from_str(&report(&["--format", "json", &empty])).unwrap();
    assert_eq!(j["cycles"], 0);
    assert_eq!(j["checks"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    // Not one line of it reads as a datalog: an error, naming the first bad line.
    let f = write(dir.path(), "notes.csv", "\nhello world\nsee you, then\n");
    let out = report_run(&[&f]);
    assert_eq!(out.code, Some(1));
    let err = out.stderr;
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("notes.csv:2: 1 columns, expected 7, 14, 15, 17 or 18"),
        "{err}"
    );
    let out = report_run(&["/nonexistent/vpnmon_datalog.csv"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with("Error: cannot read datalog file /nonexistent/vpnmon_datalog.csv"),
        "{}",
        out.stderr
    );
    let out = report_run(&["--since", "soon", &f]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--since"), "{}", out.stderr);
}

/// `run` of `vpnmon report`: exit code, stdout, stderr.
fn report_out(args: &[&str]) -> (Option<i32>, String, String) {
    let out = report_run(args);
    (out.code, out.stdout, out.stderr)
}

/// A line cut off by a power loss (the row after it appended to the cut one after the restart,
/// or the file's last line cut) costs only those rows: the rest of the history is reported as
/// if they had never been written, with one warning line per damaged file on stderr.
#[test]
fn lines_cut_off_by_a_power_loss_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let whole = synth(&plan(), 1, 0);
    let lines: Vec<&str> = whole.lines().collect();
    let (merged, last) = (15, lines.len() - 1);
    // What the damaged files still hold, as a datalog of its own.
    let kept: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| ![merged, merged + 1, last].contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let kept = write(dir.path(), "kept.csv", &kept);
    // .1: lines 10..24 with line 15 cut in half and line 16 written right after it.
    let mut one = String::new();
    for (i, l) in lines.iter().enumerate().take(24).skip(10) {
        if i == merged {
            one.push_str(&l[..l.len() / 2]);
        } else {
            one.push_str(l);
            one.push('\n');
        }
    }
    let p2 = write(dir.path(), "d.csv.2", &(lines[..10].join("\n") + "\n"));
    let p1 = write(dir.path(), "d.csv.1", &one);
    // The live file: its last line cut in the name (what is left would read as a row).
    let l = lines[last];
    let p0 = write(
        dir.path(),
        "d.csv",
        &(lines[24..last].join("\n") + "\n" + &l[..l.len() - 7]),
    );
    let (code, out, err) = report_out(&["--format", "json", &p0, &p1, &p2]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, report(&["--format", "json", &kept]));
    assert_eq!(
        err,
        format!(
            "{p0}:{}: skipped: no line end, the row was cut off\n{p1}:6: skipped: 11 columns, expected 7, 14, 15, 17 or 18\n",
            last - 24 + 1
        )
    );
}

/// A jsonl time with non-ASCII characters is a bad time (it used to panic on byte slicing):
/// skipped with a warning next to good lines, the one clear error line when alone.
#[test]
fn a_non_ascii_json_time_is_bad_input_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let json = |c: u32, time: &str| {
        format!("{{\"cycle\":{c},\"time\":\"{time}\",\"test\":\"VPN ping\",\"result\":\"Good\",\"address\":\"gw\",\"name\":\"G\",\"duration_ms\":1.0,\"sent\":null,\"received\":null,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":null}}\n")
    };
    let bad_time = "2024-03-01é0:00:00+01:00";
    let alone = write(dir.path(), "alone.jsonl", &json(1, bad_time));
    let (code, out, err) = report_out(&[&alone]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert_eq!(
        err,
        format!("Error: {alone}:1: bad time `{bad_time}` (expected ISO 8601); is this a vpnmon datalog (vpnmon, extended or jsonl format)?\n")
    );
    let mixed = write(
        dir.path(),
        "mixed.jsonl",
        &(json(1, "2024-03-01T10:00:00+01:00") + &json(2, bad_time)),
    );
    let (code, out, err) = report_out(&["--format", "json", &mixed]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        err,
        format!("{mixed}:2: skipped: bad time `{bad_time}` (expected ISO 8601)\n")
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["rows"].as_u64(), j["cycles"].as_u64()),
        (Some(1), Some(1))
    );
}

/// A line longer than a row can be (64 KiB) is skipped with one warning and the rows around it
/// are reported; the line is never held whole (read and dropped as it goes).
#[test]
fn a_line_longer_than_64_kib_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let whole = synth(&plan(), 1, 0);
    let lines: Vec<&str> = whole.lines().collect();
    let long = "x".repeat(4 << 20);
    let text = lines[..7].join("\n") + "\n" + &long + "\n" + &lines[7..].join("\n") + "\n";
    let f = write(dir.path(), "d.csv", &text);
    let (code, out, err) = report_out(&["--format", "json", &f]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        err,
        format!(
            "{f}:8: skipped: a line of {} bytes, longer than a row can be (65536 bytes at most)\n",
            long.len() + 1
        )
    );
    let plain = write(dir.path(), "plain.csv", &whole);
    assert_eq!(out, report(&["--format", "json", &plain]));
}

/// Random bytes (or any file that is not a datalog) are rejected after the first 1000 unreadable
/// lines, in one line naming the file and the count, without reading the rest.
#[test]
fn garbage_is_rejected_after_1000_unreadable_lines_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // Lines of bytes that are no row, NUL and ESC among them, then rows that are never reached.
    let mut bytes = Vec::new();
    for i in 0..1500u32 {
        bytes.extend_from_slice(&[0x1b, b'[', 0, 0xff, 0xfe, b',', (i % 200) as u8 + 32, b'\n']);
    }
    bytes.extend_from_slice(synth(&plan(), 1, 0).as_bytes());
    let f = dir.path().join("random.bin");
    std::fs::write(&f, &bytes).unwrap();
    let f = f.to_string_lossy().into_owned();
    let (code, out, err) = report_out(&[&f]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert_eq!(
        err,
        format!(
            "Error: {f}: its first 1000 non-blank lines are all unreadable (not one datalog row), \
so it was not read further; is this a vpnmon datalog (vpnmon, extended or jsonl format)?\n"
        )
    );
}

/// vpnmon killed and restarted at once, again and again, appending to one datalog: every run
/// numbers its cycles from 1 and may write them within the same second as the run before. Each
/// restart is a new run: all rows count, none is taken for a duplicate of another run's.
#[test]
fn runs_restarted_within_the_same_second_are_all_counted() {
    let dir = tempfile::tempdir().unwrap();
    let run = |cycles: u64| -> String {
        (1..=cycles)
            .map(|c| {
                format!(
                    "{c},2024/03/01,10:00:00,VPN ping,Good,vpn.example.org,VPN Gateway\n\
                     {c},2024/03/01,10:00:00,VPN open,Good,vpn.example.org,VPN Gateway\n\
                     {c},2024/03/01,10:00:00,Target ping,Good,127.0.0.1,Loop\n"
                )
            })
            .collect()
    };
    // Runs of 1, 2, 2, 1 and 3 cycles: 9 cycles, 25 rows; the second run killed after the
    // gateway ping of its cycle 2.
    let mut text = run(1) + &run(1);
    text.push_str("2,2024/03/01,10:00:00,VPN ping,Good,vpn.example.org,VPN Gateway\n");
    text += &(run(2) + &run(1) + &run(3));
    let f = write(dir.path(), "d.csv", &text);
    let j: serde_json::Value = serde_json::from_str(&report(&["--format", "json", &f])).unwrap();
    assert_eq!(j["rows"], 25);
    assert_eq!(j["cycles"], 9);
    let cycles: Vec<_> = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cycles"].as_u64().unwrap())
        .collect();
    assert_eq!(cycles, [9, 8, 8]);
    // The same file given twice still counts its rows once.
    let j: serde_json::Value =
        serde_json::from_str(&report(&["--format", "json", &f, &f])).unwrap();
    assert_eq!(
        (j["rows"].as_u64(), j["cycles"].as_u64()),
        (Some(25), Some(9))
    );
}

/// The table is for a terminal: control characters a datalog holds (a name written with ESC or
/// BEL) are shown escaped, never raw. A report that cannot be written (a full disk) is an error,
/// not a silent cut.
#[cfg(unix)]
#[test]
fn control_characters_are_shown_escaped_and_a_failed_write_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "d.csv",
        "1,2022/09/07,18:20:33,Target ping,Good,127.0.0.1,red \u{1b}[31mRED\u{7}\n",
    );
    let out = report(&[&f]);
    assert!(!out.contains(['\u{1b}', '\u{7}']), "{out:?}");
    assert!(out.contains("red \\e[31mRED\\a"), "{out}");

    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.arg("report")
        .arg(&f)
        .env("RUST_BACKTRACE", "0")
        .stdout(std::fs::File::create("/dev/full").unwrap());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: cannot write the report to standard output: No space left on device\n"
    );
}

/// `report -` reads standard input and `FILE.gz` is decompressed: the same report as the plain
/// file, and warnings name the input as given.
#[test]
fn stdin_and_gzip_read_as_the_plain_file() {
    use std::io::Write;
    let file = "tests/data/outages-datalog.csv";
    let want = report(&["--format", "csv", file]);
    // Standard input (not through the shared runner, which gives the child /dev/null).
    let out = std::process::Command::new(core_support::vpnmon_bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .args(["report", "--format", "csv", "-"])
        .stdin(std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    // gzip, with a line the reader skips: the warning names the .gz.
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("d.csv.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    e.write_all(&text).unwrap();
    e.write_all(b"not a row\n").unwrap();
    e.finish().unwrap();
    let out = report_run(&["--format", "csv", gz.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, want);
    assert!(out.stderr.contains(gz.to_str().unwrap()), "{}", out.stderr);
    assert!(!out.stderr.contains("/0/d.csv"), "{}", out.stderr);
}

/// JSON and CSV times carry the UTC offset the machine's zone had at that time (summer and
/// winter differ); the table keeps the datalog's wall-clock time.
#[test]
fn json_and_csv_times_carry_the_utc_offset() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.csv");
    std::fs::write(
        &f,
        "1,2024/01/15,10:00:00,Target ping,Fail,10.0.0.1,a\n\
         2,2024/07/15,10:00:00,Target ping,Good,10.0.0.1,a\n",
    )
    .unwrap();
    let run = |format: &str| {
        let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
        // A POSIX zone rule (no tz database needed): Central European, summer time from March to October.
        c.env("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
            .args(["report", "--format"])
            .args(format.split(' '))
            .arg(&f);
        let out = core_support::run(c, Duration::from_secs(60));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    let j: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(j["first"], "2024-01-15T10:00:00+01:00");
    assert_eq!(j["last"], "2024-07-15T10:00:00+02:00");
    assert_eq!(
        j["checks"][0]["outages"][0]["start"],
        "2024-01-15T10:00:00+01:00"
    );
    let csv = run("csv");
    assert!(csv.contains(",50.00,"), "{csv}");
    let j: serde_json::Value = serde_json::from_str(&run("json --outages")).unwrap();
    assert_eq!(j["outages"][0]["start"], "2024-01-15T10:00:00+01:00");
    let csv = run("csv --outages");
    assert!(csv.contains(",2024-01-15T10:00:00+01:00,"), "{csv}");
    let table = run("table");
    assert!(table.contains("2024-01-15 10:00:00"), "{table}");
}

/// The original's datalog (from ../shared/fixtures when present, else the identical copy in
/// tests/data): its table was 153 columns wide.
fn original_datalog() -> String {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/vpnmon-original-datalog.csv");
    if shared.exists() {
        shared.to_string_lossy().into_owned()
    } else {
        "tests/data/vpnmon-original-datalog.csv".into()
    }
}

/// `vpnmon report ARGS…` with `COLUMNS` set (or unset: not a terminal, so 100).
fn report_cols(columns: Option<&str>, args: &[&str]) -> String {
    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.env("TZ", "UTC").env_remove("COLUMNS");
    if let Some(n) = columns {
        c.env("COLUMNS", n);
    }
    c.arg("report").args(args);
    let out = core_support::run(c, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    out.stdout
}

fn widest(text: &str) -> usize {
    text.lines().map(vpnmon::text::width).max().unwrap_or(0)
}

/// The table fits 100 columns when not on a terminal, and the terminal's width (COLUMNS) when
/// given: long names cut with `…`; `--wide` prints them whole (the same table, over 100
/// columns: what the limit would be without the cutting).
#[test]
fn the_table_fits_100_columns_and_wide_prints_names_whole() {
    let f = original_datalog();
    let long = "Pure Storage FlashArray//X20R3 Purity 5.3.14";
    for (cols, limit) in [(None, 100), (Some("100"), 100), (Some("80"), 80)] {
        let out = report_cols(cols, &[&f]);
        assert!(
            widest(&out) <= limit,
            "{cols:?}: {} wide\n{out}",
            widest(&out)
        );
        assert!(out.contains('…'), "{out}");
        assert!(!out.contains(long), "{out}");
        assert!(out.contains("10.2.117.13"), "{out}");
    }
    let wide = report_cols(Some("80"), &["--wide", &f]);
    assert!(wide.contains(long), "{wide}");
    assert!(!wide.contains('…'), "{wide}");
    assert!(widest(&wide) > 100, "{wide}");
    // Outages of long names fit too.
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{long} {}", "x".repeat(60));
    let d = write(
        dir.path(),
        "d.csv",
        &format!(
            "1,2024/01/01,10:00:00,Target ping,Fail,10.0.0.1,{name}\n\
             2,2024/01/01,10:30:00,Target ping,Good,10.0.0.1,{name}\n"
        ),
    );
    let out = report_cols(None, &["--outages", &d]);
    assert!(widest(&out) <= 100, "{out}");
    assert!(out.contains("Pure Storage"), "{out}");
}

/// Columns line up by display width: a name of wide (CJK) characters, one with a combining
/// mark, and a long one cut with `…` all end their rows at the same column.
#[test]
fn columns_line_up_with_wide_characters() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "東京サーバー",
        "Cafe\u{301} router",
        "plain",
        "日本語の長い名前がここにありますとても長い名前ですからね本当に長い",
    ];
    let text: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("1,2024/01/01,10:00:0{i},Target ping,Good,10.0.0.{i},{n}\n"))
        .collect();
    let f = write(dir.path(), "d.csv", &text);
    let out = report_cols(Some("80"), &[&f]);
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Target ping"))
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    let w: Vec<usize> = rows.iter().map(|l| vpnmon::text::width(l)).collect();
    assert!(w.iter().all(|&x| x == w[0]), "{w:?}\n{out}");
    assert!(w[0] <= 80, "{out}");
    assert!(out.contains("東京サーバー") && out.contains('…'), "{out}");
}

/// The SVG of a short run with RTTs (extended format): it spans the run itself (the marks spread
/// over the plot, the title gives the date once and the span), has a time axis at the top and at
/// the bottom, an RTT band for each check with RTTs, and tooltips with the reason and the RTT.
#[test]
fn svg_of_a_short_run_zooms_and_draws_rtt_bands_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("t.svg");
    report(&[
        "--svg",
        svg.to_str().unwrap(),
        "tests/data/short-run-extended.csv",
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let title = doc
        .descendants()
        .find(|n| n.tag_name().name() == "text")
        .and_then(|n| n.text())
        .unwrap();
    assert!(
        title.contains("2024-05-06 21:41:00 to 21:46:38 (5m 38s)"),
        "{title}"
    );
    // Marks spread over most of the 830-px plot (a 50-px strip before).
    let xs: Vec<f64> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("mark"))
        .map(|n| n.attribute("x").unwrap().parse().unwrap())
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi - lo > 0.8 * 830.0, "{lo}..{hi}");
    // Axis labels (seconds-level ticks for a 5-minute run: minutes) at the top and the bottom.
    let axis = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("axis"))
        .unwrap();
    let labels: Vec<&str> = axis
        .descendants()
        .filter(|n| n.is_element())
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(
        labels.iter().filter(|&&l| l == "21:43").count(),
        2,
        "{labels:?}"
    );
    assert_eq!(
        labels.iter().filter(|&&l| l == "2024-05-06").count(),
        2,
        "{labels:?}"
    );
    // RTT bands: gateway ping and the three targets have RTTs; open and close none.
    let bands = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("rtt-band"))
        .count();
    assert_eq!(bands, 4);
    let tips: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "title")
        .filter_map(|n| n.text())
        .collect();
    assert!(
        tips.contains(&"2024-05-06 21:44:05 Warn — 1 of 2 echo replies — RTT 18.3/23.8/29.4 ms"),
        "{tips:?}"
    );
    assert!(
        tips.iter()
            .any(|t| t.starts_with("2024-05-06 21:44:36 Fail — no echo reply (timeout 1 s)")),
        "{tips:?}"
    );
}

/// Issue 12 item 7: the open and close times of an extended datalog (EpMonitoring's stage 2) are
/// in the report, per site: the table shows them where a ping shows its RTT, CSV and JSON as
/// `time_*_ms`; an open that failed (its time is the timeout) is not counted.
#[test]
fn open_and_close_times_per_site_failures_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let head = "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason,site\n";
    let mut text = String::from(head);
    for (c, (a, b, b_ok)) in [(1200, 800, true), (1400, 30000, false), (1000, 900, true)]
        .into_iter()
        .enumerate()
    {
        let c = c + 1;
        let t = format!("2024/06/01,10:0{c}:00");
        text += &format!("{c},{t},VPN open,Good,gw-a,A,{a},,,,,,,A\n");
        text += &format!("{c},{t},VPN close,Good,gw-a,A,100,,,,,,,A\n");
        let r = if b_ok { "Good" } else { "Fail" };
        text += &format!("{c},{t},VPN open,{r},gw-b,B,{b},,,,,,,B\n");
    }
    let f = write(dir.path(), "ext.csv", &text);
    let table = report(&["--sort", "file", &f]);
    let cells: Vec<&str> = table
        .lines()
        .filter(|l| l.contains(" VPN open ") || l.contains(" VPN close "))
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    // Site A's open: 1000/1200/1400; its close 100 each time; site B's open: the failed 30 s
    // left out (800 and 900).
    assert_eq!(
        cells,
        [
            "1000.0/1200.0/1400.0",
            "100.0/100.0/100.0",
            "800.0/850.0/900.0"
        ],
        "{table}"
    );
    assert!(
        table.contains("VPN open and close: the client's time in ms"),
        "{table}"
    );
    let csv = report(&["--format", "csv", "--sort", "file", &f]);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with("rtt_max_ms,time_min_ms,time_avg_ms,time_max_ms,site"),
        "{csv}"
    );
    assert!(
        lines.next().unwrap().ends_with(",1000,1200,1400,A"),
        "{csv}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&report(&["--format", "json", "--sort", "file", &f])).unwrap();
    let b = &json["checks"][2];
    assert_eq!(
        (b["site"].as_str(), b["time_avg_ms"].as_f64()),
        (Some("B"), Some(850.0)),
        "{json}"
    );
    // The original format has no times: its report is unchanged (no time columns).
    let orig = report(&["--format", "csv", &original_datalog()]);
    assert!(!orig.contains("time_"), "{orig}");
}
