//! Both option forms and the precedence defaults < params file < command line, table-driven,
//! through the library's one merge (`settings::load`), plus the binary's own messages.

mod core_support;

use std::ffi::OsString;
use std::time::Duration;
use vpnmon::settings::{self, Settings};
use vpnmon::vpn::VpnClientKind;

fn load(params: Option<&str>, args: &[&str]) -> Result<(Settings, Vec<String>), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut argv: Vec<OsString> = vec!["vpnmon".into()];
    if let Some(text) = params {
        let p = dir.path().join("p.csv");
        std::fs::write(&p, text).unwrap();
        argv.push("--params".into());
        argv.push(p.into());
    }
    argv.extend(args.iter().map(OsString::from));
    let mut notes = Vec::new();
    settings::load(argv, &mut notes)
        .map(|s| (s, notes))
        .map_err(|e| e.to_string())
}

#[test]
fn both_forms_set_every_original_option() {
    let forms: &[&[&str]] = &[
        &[
            "-vpnname",
            "Site A",
            "-vpnurlip",
            "vpn.example.org",
            "-user",
            "bob",
            "-pass",
            "-s3cret",
            "-targets",
            "t.csv",
            "-cycles",
            "-1",
            "-delay",
            "5",
            "-datalog",
            "d.csv",
            "-quiet",
        ],
        &[
            "--vpnname",
            "Site A",
            "--vpnurlip",
            "vpn.example.org",
            "--username",
            "bob",
            "--password",
            "-s3cret",
            "--targets",
            "t.csv",
            "--cycles",
            "-1",
            "--delay",
            "5",
            "--datalog",
            "d.csv",
            "--quiet",
        ],
        &[
            "--vpnname=Site A",
            "--vpnurlip=vpn.example.org",
            "--user=bob",
            "--pass=-s3cret",
            "--targets=t.csv",
            "--cycles=-1",
            "--delay=5",
            "--datalog=d.csv",
            "--quiet=True",
        ],
    ];
    for args in forms {
        let (s, _) = load(None, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(s.sites[0].vpnname, "Site A", "{args:?}");
        assert_eq!(s.sites[0].vpnurlip, "vpn.example.org");
        assert_eq!(s.sites[0].credentials.username, "bob");
        assert_eq!(s.sites[0].credentials.password.expose(), "-s3cret");
        assert_eq!(s.sites[0].targets.to_str(), Some("t.csv"));
        assert_eq!(s.schedule.cycles, None, "-1 runs until stopped");
        assert_eq!(s.schedule.delay, Duration::from_secs(5));
        assert_eq!(s.datalog.path.to_str(), Some("d.csv"));
        assert!(!s.alerts.beep);
    }
}

#[test]
fn precedence_defaults_then_params_then_command_line() {
    // (params file, command line, expected vpnname, cycles, delay, quiet, pings, timeout ms, client)
    type Row<'a> = (
        Option<&'a str>,
        &'a [&'a str],
        &'a str,
        Option<u64>,
        u64,
        bool,
        u32,
        u64,
        VpnClientKind,
    );
    let table: &[Row] = &[
        (None, &["-vpnurlip", "gw"], "VPN Gateway", Some(200), 1800, false, 2, 1000, VpnClientKind::Anyconnect),
        (Some("vpnurlip,gw\ncycles,7\ndelay,9\nquiet,True\nvpnname,From File\npings,4\ntimeout,0.5\nvpnclient,none\n"), &[], "From File", Some(7), 9, true, 4, 500, VpnClientKind::None),
        (Some("vpnurlip,gw\ncycles,7\ndelay,9\nquiet,True\n"), &["-cycles", "3", "--delay=0", "-quiet=false"], "VPN Gateway", Some(3), 0, false, 2, 1000, VpnClientKind::Anyconnect),
        (Some("VPNURLIP , gw \r\nCycles,-1\r\n"), &["--vpnclient", "openconnect", "--timeout", "2.5", "--pings", "1"], "VPN Gateway", None, 1800, false, 1, 2500, VpnClientKind::Openconnect),
        (Some("quiet,False\n"), &["--vpnclient", "none", "-quiet"], "VPN Gateway", Some(200), 1800, true, 2, 1000, VpnClientKind::None),
    ];
    for (params, args, name, cycles, delay, quiet, pings, timeout_ms, client) in table {
        let (s, _) = load(*params, args).unwrap_or_else(|e| panic!("{params:?} {args:?}: {e}"));
        let got = (
            s.sites[0].vpnname.as_str(),
            s.schedule.cycles,
            s.schedule.delay.as_secs(),
            !s.alerts.beep,
            s.probe.target.count,
            s.probe.target.timeout.as_millis() as u64,
            s.sites[0].client.kind(),
        );
        assert_eq!(
            got,
            (*name, *cycles, *delay, *quiet, *pings, *timeout_ms, *client),
            "params {params:?} args {args:?}"
        );
        assert_eq!(
            s.probe.gateway.count, 2,
            "the gateway is pinged twice as the original"
        );
    }
}

#[test]
fn usage_and_params_errors() {
    let e = load(None, &[]).unwrap_err();
    assert!(
        e.starts_with("Cannot run without a VPN site URL or IP address."),
        "{e}"
    );
    let e = load(Some("vpnurlip,gw\n\ncycles,abc\n"), &[]).unwrap_err();
    assert!(
        e.contains("p.csv:3: bad value for cycles: invalid value 'abc' for cycles"),
        "{e}"
    );
    let (_, notes) = load(Some("vpnurlip,gw\nfrobnicate,1\n"), &[]).unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.ends_with("p.csv:2: unknown parameter 'frobnicate' ignored")),
        "{notes:?}"
    );
    let e = load(
        None,
        &["--params", "/nonexistent/p.csv", "--vpnclient", "none"],
    )
    .unwrap_err();
    assert!(
        e.starts_with(
            "Failed to read the vpnmon params file /nonexistent/p.csv: No such file or directory"
        ),
        "{e}"
    );
}

/// The binary in `dir` with `args`, run to its end.
fn bin(dir: &std::path::Path, args: &[&str]) -> core_support::Finished {
    let mut c = core_support::vpnmon(dir);
    c.args(args);
    core_support::run(c, Duration::from_secs(60))
}

#[test]
fn binary_exit_codes_and_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    // No params file in the working directory, no vpnurlip: usage error, exit 2.
    let out = bin(dir.path(), &["-user", "bob", "-pass", "Pw-9f3k"]);
    assert_eq!(out.code, Some(2));
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(stdout.trim(), "Running without a vpnmon params file");
    // A -pass password on a machine with other accounts gets the one-line `ps` warning first,
    // on stderr (stdout keeps the original's lines).
    let stderr = core_support::after_pass_warning(stderr);
    assert!(
        stderr.starts_with("Error: Cannot run without a VPN site URL or IP address."),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1);

    // A bad value in ./vpnmon_params.csv: exit 1, one line naming file:line.
    std::fs::write(
        dir.path().join("vpnmon_params.csv"),
        "password,Pw-9f3k\ndelay,soon\n",
    )
    .unwrap();
    let out = bin(dir.path(), &["--vpnclient", "none"]);
    assert_eq!(out.code, Some(1));
    let stderr = &out.stderr;
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("vpnmon_params.csv:2: bad value for delay"),
        "{stderr}"
    );
    for text in [stderr, &out.stdout] {
        assert!(!text.contains("Pw-9f3k"), "password leaked: {text}");
    }

    // -v prints the version, -vpnurlip is not read as -v.
    let out = bin(dir.path(), &["-v"]);
    assert_eq!(
        out.stdout.trim(),
        format!("vpnmon {}", env!("CARGO_PKG_VERSION"))
    );
    let out = bin(dir.path(), &["-V"]);
    assert!(out.success());
    let out = bin(dir.path(), &["-h"]);
    let help = &out.stdout;
    assert!(help.contains("-vpnname, -vpnurlip, -user, -pass"), "{help}");
    assert!(help.contains("--vpnclient"));
}

#[test]
fn shipped_params_file_holds_the_defaults_and_keeps_the_env_password() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vpnmon_params.csv")).unwrap();
    // The only test in this binary that reads VPNMON_PASSWORD; the others pass -pass or no password.
    std::env::set_var("VPNMON_PASSWORD", "from-the-environment");
    let r = load(Some(&shipped), &["--vpnclient", "none"]);
    std::env::remove_var("VPNMON_PASSWORD");
    let (s, notes) = r.unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(s.sites[0].vpnname, "VPN Gateway");
    assert_eq!(s.sites[0].vpnurlip, "");
    assert_eq!(s.sites[0].targets.to_str(), Some("vpnmon_targets.csv"));
    assert_eq!(s.datalog.path.to_str(), Some("vpnmon_datalog.csv"));
    assert_eq!(
        (
            s.schedule.cycles,
            s.schedule.delay.as_secs(),
            !s.alerts.beep
        ),
        (Some(200), 1800, false)
    );
    // `password,` (empty) in the template must not hide the environment variable.
    assert_eq!(
        s.sites[0].credentials.password.expose(),
        "from-the-environment"
    );
}

/// argparse's habits (issue 10.4): unambiguous beginnings of long names in both forms, any
/// negative cycle count runs until stopped; 0 cycles, an ambiguous beginning and values above
/// the stated maxima are usage errors naming the option.
#[test]
fn prefixes_negative_cycles_and_limits() {
    for args in [
        &["-cyc", "2", "-del", "0", "-qui", "-vpnclie", "none"][..],
        &["--cyc", "2", "--del=0", "--qui", "--vpnclien=none"][..],
    ] {
        let (s, _) = load(None, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(s.schedule.cycles, Some(2), "{args:?}");
        assert_eq!(s.schedule.delay, Duration::ZERO);
        assert!(!s.alerts.beep);
        assert_eq!(s.sites[0].client.kind(), VpnClientKind::None);
    }
    for n in ["-1", "-3", "-9223372036854775808"] {
        let (s, _) = load(None, &["-cycles", n, "--vpnclient", "none"]).unwrap();
        assert_eq!(s.schedule.cycles, None, "{n} runs until stopped");
    }
    let (s, _) = load(
        None,
        &[
            "--delay",
            "604800",
            "--timeout",
            "3600",
            "--vpnclient",
            "none",
        ],
    )
    .unwrap();
    assert_eq!(s.schedule.delay, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(s.probe.target.timeout, Duration::from_secs(3600));
    for (args, names) in [
        (&["-cycles", "0"][..], "'--cycles <CYCLES>'"),
        (&["--delay", "604801"][..], "'--delay <SECONDS>'"),
        (&["--timeout", "3600.5"][..], "'--timeout <SECONDS>'"),
        (&["-vpn", "x"][..], "--vpnname, --vpnurlip"),
    ] {
        let mut argv: Vec<OsString> = vec!["vpnmon".into()];
        argv.extend(args.iter().map(OsString::from));
        argv.extend(["--vpnclient".into(), "none".into()]);
        match settings::load(argv, &mut Vec::new()) {
            Err(settings::SettingsError::Clap(e)) => {
                assert_eq!(e.exit_code(), 2, "{args:?}");
                assert!(e.to_string().contains(names), "{args:?}: {e}");
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }
}
