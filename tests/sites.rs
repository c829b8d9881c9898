//! `--config FILE` (TOML) through the binary: several sites per cycle, globals overridden by the
//! command line, and every bad value as one line naming `file:line:column`. The fake prober
//! answers (127.0.0.0/8 answers, 198.19.0.0/16 the first echo only, anything else never), so
//! these run for any user.

mod core_support;

use core_support::runner::{run, vpnmon_fake_ping, Finished};
use std::path::Path;
use std::time::Duration;

const TWO_SITES: &str = r#"
cycles = 3
delay = 0
datalog = "d.csv"
datalog_format = "extended"
quiet = true

[[site]]
name = "Alpha"
client = "none"
ping = "127.0.0.9"
targets = [{ address = "127.0.0.1", name = "a1" }, { address = "10.9.9.9", name = "dead" }]

[[site]]
name = "Beta"
client = "none"
targets = "beta.csv"
"#;

fn bed(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    std::fs::write(
        dir.path().join("beta.csv"),
        "127.0.0.2,b1\n198.19.0.5,flaky\n",
    )
    .unwrap();
    dir
}

fn vpnmon(dir: &Path, args: &[&str]) -> Finished {
    let mut c = vpnmon_fake_ping(dir);
    c.args(["--config", "c.toml", "--timeout", "0.2"])
        .args(args);
    run(c, Duration::from_secs(30))
}

/// (cycle, test, result, address, name) of the datalog's rows, header skipped.
fn rows(dir: &Path) -> Vec<(String, String, String, String, String)> {
    std::fs::read_to_string(dir.join("d.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].into(),
                f[3].into(),
                f[4].into(),
                f[5].into(),
                f[6].into(),
            )
        })
        .collect()
}

#[test]
fn a_config_file_runs_its_sites_one_after_another() {
    let dir = bed(TWO_SITES);
    let out = vpnmon(dir.path(), &["--cycles", "1"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let got: Vec<String> = rows(dir.path())
        .into_iter()
        .map(|(c, t, r, a, n)| format!("{c} {t} {r} {a} {n}"))
        .collect();
    assert_eq!(
        got,
        [
            "1 VPN ping Good 127.0.0.9 Alpha",
            "1 Target ping Good 127.0.0.1 a1",
            "1 Target ping Fail 10.9.9.9 dead",
            "1 Target ping Good 127.0.0.2 b1",
            "1 Target ping Warn 198.19.0.5 flaky",
        ]
    );
    // The command line's --cycles 1 overrode the file's cycles = 3.
    assert!(
        out.stdout.contains("1 vpnmon test cycles completed."),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("params file"),
        "a config file replaces the params file"
    );
}

#[test]
fn the_files_globals_apply_when_the_command_line_is_silent() {
    let dir = bed(TWO_SITES);
    let out = vpnmon(dir.path(), &[]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("3 vpnmon test cycles completed."),
        "{}",
        out.stdout
    );
    assert_eq!(rows(dir.path()).len(), 15);
}

#[test]
fn a_config_without_sites_sets_the_globals_of_the_command_lines_site() {
    let dir = bed("cycles = 2\ndelay = 0\ndatalog = \"d.csv\"\nquiet = true\n");
    let out = vpnmon(
        dir.path(),
        &[
            "--vpnclient",
            "none",
            "--targets",
            "beta.csv",
            "--datalog-format",
            "extended",
        ],
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("2 vpnmon test cycles completed."),
        "{}",
        out.stdout
    );
    assert_eq!(rows(dir.path()).len(), 4);
}

#[test]
fn site_options_on_the_command_line_are_refused_beside_sites() {
    let dir = bed(TWO_SITES);
    let out = vpnmon(
        dir.path(),
        &["-vpnurlip", "10.0.0.1", "-user", "bob", "--realm", "r"],
    );
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "Error: --vpnurlip, --username, --realm cannot be used with the [[site]]s of c.toml: each site sets its own; set them in its [[site]] instead"
    );
    out.assert_no_cycle_started("site options beside sites");
}

#[test]
fn every_bad_value_is_one_line_naming_file_line_and_column() {
    for (config, want) in [
        ("cycles = 1\ndelai = 0\n", "c.toml:2:1: unknown field `delai`, expected one of"),
        ("delay = -1\n", "c.toml:1:9: bad value for delay: invalid value '-1' for delay"),
        ("[[site]]\nname = \"A\"\nclient = \"cisco\"\n", "c.toml:3:10: unknown variant `cisco`, expected one of `anyconnect`, `openconnect`, `sonicwall`, `none`"),
        ("[[site]]\nname = \"A\"\nclient = \"none\"\ntargets = [{ address = \"127.1\", name = \"x\" }]\n", "c.toml:4:12: bad target address: '127.1' is not an IPv4 address"),
        ("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\npassword_env = \"VPNMON_SITES_TEST_UNSET\"\n", "c.toml:4:16: the environment variable VPNMON_SITES_TEST_UNSET named by password_env is not set"),
        ("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\nrealm = \"x\"\n", "c.toml:4:9: realm is for sonicwall sites"),
        ("[[site]\n", "c.toml:1:"),
    ] {
        let dir = bed(config);
        let out = vpnmon(dir.path(), &[]);
        assert_eq!(out.code, Some(1), "{config:?}: {}\n{}", out.stdout, out.stderr);
        let err = out.stderr.strip_prefix("Error: ").unwrap_or(&out.stderr);
        assert!(err.starts_with(want), "{config:?} gave {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        out.assert_no_cycle_started(config);
    }
}

#[test]
fn a_password_in_the_file_is_used_with_a_warning_and_never_shown() {
    let dir = bed("cycles = 1\ndelay = 0\ndatalog = \"d.csv\"\nquiet = true\n[[site]]\nname = \"A\"\nclient = \"none\"\npassword = \"Pw-in-file-77\"\ntargets = [{ address = \"127.0.0.1\", name = \"x\" }]\n");
    let out = vpnmon(dir.path(), &[]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "Warning: c.toml:8:12: the password of site 'A' is written in the config file"
        ),
        "{}",
        out.stderr
    );
    for text in [
        &out.stdout,
        &out.stderr,
        &std::fs::read_to_string(dir.path().join("d.csv")).unwrap(),
    ] {
        assert!(!text.contains("Pw-in-file-77"), "{text}");
    }
}

#[test]
fn records_know_their_site_in_every_format_and_the_console_heads_each_site() {
    let dir = bed(TWO_SITES);
    let out = vpnmon(dir.path(), &["--cycles", "1"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    // One header per site, in the original's layout, before the site's lines.
    let lines: Vec<&str> = out.stdout.lines().map(|l| &l[24..]).collect();
    let alpha = lines
        .iter()
        .position(|l| l.starts_with("-- Site 1 of 2 -------- Alpha  (no VPN)"));
    let beta = lines
        .iter()
        .position(|l| l.starts_with("-- Site 2 of 2 -------- Beta  (no VPN)"));
    let (alpha, beta) = (alpha.expect(&out.stdout), beta.expect(&out.stdout));
    assert!(
        lines[alpha + 1].starts_with("-- VPN ping ----------- Good Alpha"),
        "{}",
        out.stdout
    );
    assert!(
        lines[beta + 1].starts_with("-- ping 127.0.0.2"),
        "{}",
        out.stdout
    );
    // extended: a site column (then rtt_std_ms, loss_pct and path).
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert!(log.starts_with("cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason,site,rtt_std_ms,loss_pct,path\n"));
    let sites: Vec<&str> = log
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').nth(3).unwrap())
        .collect();
    assert_eq!(sites, ["Alpha", "Alpha", "Alpha", "Beta", "Beta"]);
    // jsonl and --json: a site field.
    let out = vpnmon(
        dir.path(),
        &[
            "--cycles",
            "1",
            "--json",
            "--datalog-format",
            "jsonl",
            "--datalog",
            "j.jsonl",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for text in [
        out.stdout.clone(),
        std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap(),
    ] {
        let sites: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["site"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(sites, ["Alpha", "Alpha", "Alpha", "Beta", "Beta"], "{text}");
    }
}

#[test]
fn site_in_the_datalog_name_gives_one_file_per_site() {
    let dir = bed(&TWO_SITES
        .replace(
            "datalog = \"d.csv\"",
            "datalog = \"logs_{site}.csv\"\ndatalog_format = \"vpnmon\"",
        )
        .replace("datalog_format = \"extended\"\n", ""));
    let out = vpnmon(dir.path(), &["--cycles", "2"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let alpha = std::fs::read_to_string(dir.path().join("logs_Alpha.csv")).unwrap();
    let beta = std::fs::read_to_string(dir.path().join("logs_Beta.csv")).unwrap();
    // The original's format, unchanged: the gateway row names the site through its VPN name.
    assert_eq!(alpha.lines().count(), 6, "{alpha}");
    assert!(alpha.lines().all(|l| l.split(',').count() == 7), "{alpha}");
    assert!(
        alpha
            .lines()
            .next()
            .unwrap()
            .ends_with(",VPN ping,Good,127.0.0.9,Alpha"),
        "{alpha}"
    );
    assert_eq!(beta.lines().count(), 4, "{beta}");
    assert!(beta.contains(",127.0.0.2,b1") && !beta.contains("Alpha") && !alpha.contains("b1"));
    assert!(!dir.path().join("logs_{site}.csv").exists());
}

#[test]
fn the_report_groups_checks_by_site() {
    let dir = bed(TWO_SITES);
    let out = vpnmon(dir.path(), &["--cycles", "2"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut c = core_support::runner::vpnmon(dir.path());
    c.args(["report", "--sort", "name", "--format", "csv", "d.csv"]);
    let rep = run(c, Duration::from_secs(30));
    assert_eq!(rep.code, Some(0), "{}", rep.stderr);
    let rows: Vec<(String, String)> = rep
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[f.len() - 1].to_string(), f[2].to_string())
        })
        .collect();
    // Alpha's checks, then Beta's, each by name within its site.
    let want = [
        ("Alpha", "Alpha"),
        ("Alpha", "a1"),
        ("Alpha", "dead"),
        ("Beta", "b1"),
        ("Beta", "flaky"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(rows, want, "{}", rep.stdout);
    // The table shows a Site column when the datalog names several sites.
    let mut c = core_support::runner::vpnmon(dir.path());
    c.args(["report", "d.csv"]);
    let rep = run(c, Duration::from_secs(30));
    let head = rep.stdout.lines().find(|l| l.contains("Check")).unwrap();
    assert!(head.trim_start().starts_with("Site"), "{}", rep.stdout);
}

const PASSWORD: &str = "Pw-sites-4Kq9";

/// A copy of the Cisco simulator for one site, in `bin-NAME/`, with its own scenario, state,
/// pid and log files (`<sim>.env`, read by the simulator over the shared environment).
fn sim_copy(dir: &Path, name: &str, scenario: &str) -> std::path::PathBuf {
    let bin = dir.join(format!("bin-{name}"));
    std::fs::create_dir(&bin).unwrap();
    let sim = bin.join(core_support::sim::SIM_NAME);
    std::fs::copy(core_support::vpncli_sim(), &sim).unwrap();
    let mut env = std::ffi::OsString::from(sim.as_os_str());
    env.push(".env");
    std::fs::write(
        env,
        format!(
            "VPNCLI_SIM_SCENARIO={scenario}\nVPNCLI_SIM_PASSWORD={PASSWORD}\nVPNCLI_SIM_STATE={0}/state\nVPNCLI_SIM_PIDS={0}/pids\nVPNCLI_SIM_LOG={0}/log\n",
            bin.display()
        ),
    )
    .unwrap();
    sim
}

fn cisco_site(name: &str, sim: &Path, targets: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\nclient = \"anyconnect\"\ngateway = \"127.0.0.1\"\nusername = \"mon\"\npassword_env = \"SITES_TEST_PASSWORD\"\nclient_path = \"{}\"\nvpncli_delay = 0\ntargets = {targets}\n",
        sim.display()
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Every simulator a copy started has ended.
fn assert_no_sim_left(bin: &Path) {
    for pid in read(&bin.join("pids")).lines() {
        core_support::wait_until(
            &format!("simulator {pid} to end"),
            Duration::from_secs(3),
            || {
                let stat = read(Path::new(&format!("/proc/{pid}/stat")));
                stat.is_empty() || stat.contains(") Z ")
            },
        );
    }
}

#[test]
fn a_failing_site_never_stops_the_others_and_tunnels_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let bad = sim_copy(dir.path(), "bad", "failed");
    let good = sim_copy(dir.path(), "good", "ok");
    let config = format!(
        "cycles = 2\ndelay = 0\ndatalog = \"d.csv\"\ndatalog_format = \"extended\"\nquiet = true\n{}{}[[site]]\nname = \"Direct\"\nclient = \"none\"\ntargets = [{{ address = \"127.0.0.5\", name = \"d1\" }}]\n",
        cisco_site("Bad", &bad, "[{ address = \"127.0.0.3\", name = \"behind bad\" }]"),
        cisco_site("Good", &good, "[{ address = \"127.0.0.4\", name = \"behind good\" }]"),
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env("SITES_TEST_PASSWORD", PASSWORD)
        .args(["--config", "c.toml"]);
    let out = run(c, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let log = read(&dir.path().join("d.csv"));
    // (site, test, result) per row, and the row's start and duration.
    let rows: Vec<Vec<String>> = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let got: Vec<String> = rows
        .iter()
        .map(|f| format!("{} {} {} {}", f[0], f[14], f[3], f[4]))
        .collect();
    let mut want = Vec::new();
    for cycle in 1..=2 {
        for w in [
            "Bad VPN ping Good",
            "Bad VPN open Fail",
            "Good VPN ping Good",
            "Good VPN open Good",
            "Good Target ping Good",
            "Good VPN close Good",
            "Direct Target ping Good",
        ] {
            want.push(format!("{cycle} {w}"));
        }
    }
    assert_eq!(got, want, "{log}");
    // One tunnel at a time: each open starts after the previous site's close (or failed open)
    // ended: the rows' times never go back, and each site's client is gone before the next
    // site's starts (its pid file lists the clients, which have all ended).
    let times: Vec<&str> = rows.iter().map(|f| f[2].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{log}");
    assert_eq!(
        out.stdout
            .matches("-- VPN open() --------- Fail Bad  (the connection attempt failed")
            .count(),
        2,
        "{}",
        out.stdout
    );
    for b in ["bin-bad", "bin-good"] {
        assert_no_sim_left(&dir.path().join(b));
    }
    for text in [&out.stdout, &out.stderr, &log] {
        assert!(!text.contains(PASSWORD), "the password leaked:\n{text}");
    }
}

#[test]
fn control_c_while_a_site_hangs_ends_within_a_second_with_the_tunnel_closed() {
    let dir = tempfile::tempdir().unwrap();
    let first = sim_copy(dir.path(), "first", "ok");
    let hung = sim_copy(dir.path(), "hung", "hang");
    let config = format!(
        "cycles = 1\ndelay = 0\ndatalog = \"d.csv\"\nquiet = true\n{}{}",
        cisco_site(
            "First",
            &first,
            "[{ address = \"127.0.0.4\", name = \"t1\" }]"
        ),
        cisco_site(
            "Hung",
            &hung,
            "[{ address = \"127.0.0.6\", name = \"t2\" }]"
        ),
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env("SITES_TEST_PASSWORD", PASSWORD)
        .args(["--config", "c.toml"]);
    let mut vpnmon = core_support::runner::Running::spawn(c);
    vpnmon.wait_line("-- Site 2 of 2 -------- Hung", Duration::from_secs(30));
    core_support::wait_until(
        "the hung client contacting",
        Duration::from_secs(30),
        || read(&dir.path().join("bin-hung/state")).contains("phase=contacting"),
    );
    vpnmon.signal(nix::sys::signal::Signal::SIGINT);
    let out = vpnmon.finish(Duration::from_secs(10));
    eprintln!("STOP vpnmon exited {:?} after Control-C", out.took);
    assert!(
        out.took < Duration::from_secs(1),
        "took {:?}\n{}",
        out.took,
        out.stdout
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    // The first site's cycle is whole; the hung one was stopped in its open (no row for it).
    let log = read(&dir.path().join("d.csv"));
    let tests: Vec<&str> = log.lines().map(|l| l.split(',').nth(3).unwrap()).collect();
    assert_eq!(
        tests,
        [
            "VPN ping",
            "VPN open",
            "Target ping",
            "VPN close",
            "VPN ping"
        ],
        "{log}"
    );
    assert!(!read(&dir.path().join("bin-hung/state")).contains("tunnel=up"));
    assert!(read(&dir.path().join("bin-first/state")).contains("tunnel=down"));
    for b in ["bin-first", "bin-hung"] {
        assert_no_sim_left(&dir.path().join(b));
    }
    for text in [&out.stdout, &out.stderr, &log] {
        assert!(!text.contains(PASSWORD), "the password leaked:\n{text}");
    }
}

/// EpMonitoring's config.yml (its example's shape) run end to end with the SonicWall simulator
/// as `startct`: the result file (a file per UTC day in logging.dir named after logging.file),
/// one row per site per cycle, and the mail after the failing site's second failure in a row.
#[test]
fn epmonitoring_config_writes_its_result_file_and_mails_after_two_failures() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(core_support::startct_sim(), bin.join("startct")).unwrap();
    let smtp = core_support::smtp::SmtpServer::start();
    // site2's password is wrong (its login fails) and its internal address never answers.
    let config = format!(
        "---\nfrequency: 1\nlogging:\n  file: result\n  dir: result\n  email:\n    server: 127.0.0.1\n    from: monitor@example.org\n    to: noc@example.org\nsites:\n  site1:\n    external_ip: 127.0.0.1\n    vpn_gw: 127.0.0.2\n    internal_ip: 127.0.0.3\n    username: monitor\n    password: {PASSWORD}\n    realm: Staff\n    timeout: 5\n  site2:\n    external_ip: 127.0.0.4\n    vpn_gw: 127.0.0.5\n    internal_ip: 10.9.9.9\n    username: monitor\n    password: Wrong-{PASSWORD}\n    realm: Staff\n    timeout: 5\n"
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    std::fs::create_dir(dir.path().join("result")).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env("STARTCT_SIM_PASSWORD", PASSWORD)
        .env("STARTCT_SIM_PIDS", dir.path().join("pids"))
        .env("STARTCT_SIM_LOG", dir.path().join("log"))
        .args([
            "--config",
            "config.yml",
            "--cycles",
            "2",
            "--timeout",
            "0.2",
        ])
        .arg("--startct")
        .arg(bin.join("startct"))
        // EpMonitoring mails to port 25; the test's server listens elsewhere (the command line
        // overrides the file's globals).
        .args(["--smtp-server", &format!("127.0.0.1:{}", smtp.port)]);
    let out = run(c, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let result = dir.path().join(format!("result/result-{day}.csv"));
    let text = read(&result);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}\n{}", out.stdout);
    assert_eq!(
        lines[0],
        "Time,CPE Name,Summary,Stage 1 in ms,Stage 2 in ms,Stage 3 in ms"
    );
    let time = regex_lite(lines[1]);
    assert!(time, "asctime form: {}", lines[1]);
    for (i, row) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 6, "{row}");
        let number =
            |s: &str| s.parse::<f64>().is_ok() && s.split('.').nth(1).is_some_and(|d| d.len() == 3);
        if i % 2 == 0 {
            assert_eq!(&f[1..3], ["site1", "SUCCESS"], "{row}");
            assert!(number(f[3]) && number(f[4]) && number(f[5]), "{row}");
        } else {
            // All three stages ran: the ping before, the failed login, the unanswered ping.
            assert_eq!(&f[1..3], ["site2", "FAILURE"], "{row}");
            assert!(number(f[3]), "{row}");
            assert_eq!(&f[4..], ["ERROR", "TIMEOUT"], "{row}");
        }
    }
    // One mail, after site2's second failure in a row, naming it.
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}\n{}\n{}", out.stdout, out.stderr);
    assert_eq!(mails[0].rcpt, ["<noc@example.org>"]);
    assert!(mails[0].data.contains("site2"), "{}", mails[0].data);
    assert!(!mails[0].data.contains("site1 ("), "{}", mails[0].data);
    for text in [
        &out.stdout,
        &out.stderr,
        &text,
        &mails[0].data,
        &read(&dir.path().join("log")),
    ] {
        assert!(!text.contains(PASSWORD), "the password leaked:\n{text}");
    }
    for pid in read(&dir.path().join("pids")).lines() {
        core_support::wait_until(
            &format!("simulator {pid} to end"),
            Duration::from_secs(3),
            || {
                let stat = read(Path::new(&format!("/proc/{pid}/stat")));
                stat.is_empty() || stat.contains(") Z ")
            },
        );
    }
}

/// `Wed Nov 14 00:03:40 2018` (Python's asctime) at the start of a row.
fn regex_lite(row: &str) -> bool {
    let t = &row[..row.find(',').unwrap_or(0)];
    chrono::NaiveDateTime::parse_from_str(t, "%a %b %e %H:%M:%S %Y").is_ok() && t.len() == 24
}
