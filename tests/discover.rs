//! Finding one's way: `vpnmon help [report]`, the usage lines naming the subcommands, examples
//! at the end of `--help`, shell completions (`bash -n` must accept the bash script) and the man
//! page (`man -l` must render it).

mod core_support;

use core_support::{run, vpnmon, Finished};
use std::path::Path;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn vpnmon_with(args: &[&str]) -> Finished {
    let mut c = vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.env("COLUMNS", "100").args(args);
    run(c, DEADLINE)
}

fn ok(args: &[&str]) -> String {
    let out = vpnmon_with(args);
    assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

#[test]
fn help_is_a_subcommand_too() {
    assert_eq!(ok(&["help"]), ok(&["--help"]));
    assert_eq!(ok(&["help", "report"]), ok(&["report", "--help"]));
    assert_eq!(ok(&["help", "vitals"]), ok(&["vitals", "--help"]));
    let out = vpnmon_with(&["help", "vitals-or-anything"]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("no help on 'vitals-or-anything': try `vpnmon help`, `vpnmon help report` or `vpnmon help vitals`"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_lists_the_subcommands_and_help_ends_with_examples() {
    let help = ok(&["--help"]);
    for line in [
        "Usage: vpnmon [OPTIONS]\n",
        "       vpnmon report [OPTIONS] <FILE>...\n",
        "       vpnmon vitals [OPTIONS] <HOST>...\n",
        "       vpnmon help [report|vitals]\n",
        "       vpnmon completions <bash|zsh|fish|powershell>\n",
        "       vpnmon man\n",
    ] {
        assert!(help.contains(line), "{line:?} missing:\n{help}");
    }
    let tail: Vec<&str> = help.lines().rev().take(8).collect();
    assert_eq!(tail.last(), Some(&"Examples:"), "{help}");
    assert!(
        tail.iter()
            .any(|l| l.contains("vpnmon -vpnurlip vpn.example.org")),
        "{tail:?}"
    );
    // A usage error shows the same usage lines.
    let out = vpnmon_with(&["--no-such-option"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("       vpnmon report [OPTIONS] <FILE>..."),
        "{}",
        out.stderr
    );
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = ok(&["completions", shell]);
        // Every option and the subcommands are offered.
        for word in ["vpnurlip", "critical", "report", "completions"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vpnmon.bash");
    std::fs::write(&file, ok(&["completions", "bash"])).unwrap();
    let mut c = std::process::Command::new("bash");
    c.arg("-n").arg(&file);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "bash -n: {}", out.stderr);
    // And loads: `complete -p vpnmon` then names its function.
    let mut c = std::process::Command::new("bash");
    c.arg("-c")
        .arg(format!("source {} && complete -p vpnmon", file.display()));
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("vpnmon"), "{}", out.stdout);
    // A shell vpnmon does not know is a usage error.
    let out = vpnmon_with(&["completions", "tcsh"]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(
        out.stderr.contains("invalid value 'tcsh'"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_man_page_renders() {
    let page = ok(&["man"]);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &page[..80.min(page.len())]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vpnmon.1");
    std::fs::write(&file, &page).unwrap();
    let mut c = std::process::Command::new("man");
    c.env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .arg("-l")
        .arg(&file);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "man -l: {}", out.stderr);
    for words in ["NAME", "SYNOPSIS", "--vpnurlip", "--check", "Examples:"] {
        assert!(
            out.stdout.contains(words),
            "{words} missing:\n{}",
            out.stdout
        );
    }
    let out = vpnmon_with(&["man", "extra"]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
}
