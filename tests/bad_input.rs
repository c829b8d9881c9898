//! The bad-input corpus: hostile or mistaken params files, targets files, state files and command
//! lines given to the real binary (`--debug-fake-ping`, `RUST_BACKTRACE=0`). Each case asserts the
//! exact one-line message, the exit code, that nothing panicked, and that no raw NUL, ESC or BEL
//! from the input reached the output. Plus: a property test that targets and params parsing never
//! panic on arbitrary bytes, SIGTERM while the inputs are FIFOs, and closed output pipes.

mod core_support;

use core_support::{run, vpnmon_fake_ping, Running};
use std::path::Path;
use std::time::Duration;
use test_case::test_case;

const DEADLINE: Duration = Duration::from_secs(60);

/// A file a case puts in its working directory.
enum F {
    Bytes(Vec<u8>),
    Fifo,
    Dir,
    /// A sparse file of this many zero bytes.
    Sparse(u64),
}

fn t(s: &str) -> F {
    F::Bytes(s.as_bytes().to_vec())
}

fn b(bytes: &[u8]) -> F {
    F::Bytes(bytes.to_vec())
}

fn utf16(s: &str, le: bool) -> Vec<u8> {
    let mut v = if le {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in s.encode_utf16() {
        v.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
    }
    v
}

fn le(s: &str) -> F {
    F::Bytes(utf16(s, true))
}

fn be(s: &str) -> F {
    F::Bytes(utf16(s, false))
}

/// `prefix` followed by `n` times `c` and `suffix`: a very long line.
fn long(prefix: &str, c: char, n: usize, suffix: &str) -> F {
    let mut s = String::with_capacity(n + prefix.len() + suffix.len());
    s.push_str(prefix);
    s.extend(std::iter::repeat_n(c, n));
    s.push_str(suffix);
    F::Bytes(s.into_bytes())
}

/// What a case must print.
enum W {
    /// The first line of stderr, exactly (an error).
    E(&'static str),
    /// A line of stdout, exactly (a notice or warning).
    O(&'static str),
    /// A line of stdout containing this (a console record line, whose start holds the time).
    C(&'static str),
    /// An owned `O` (built from constants).
    Os(String),
    /// An owned `C`.
    Cs(String),
    /// An owned `E`.
    Es(String),
}

fn make(dir: &Path, name: &str, f: &F) {
    let p = dir.join(name);
    match f {
        F::Bytes(b) => std::fs::write(&p, b).unwrap(),
        F::Fifo => nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRWXU).unwrap(),
        F::Dir => std::fs::create_dir(&p).unwrap(),
        F::Sparse(n) => std::fs::File::create(&p).unwrap().set_len(*n).unwrap(),
    }
}

const BASE: &[&str] = &[
    "--vpnclient",
    "none",
    "--cycles",
    "1",
    "--delay",
    "0",
    "--quiet",
    "--datalog",
    "d.csv",
];

fn check(files: Vec<(&str, F)>, args: &[&str], code: i32, want: W) {
    let dir = tempfile::tempdir().unwrap();
    for (name, f) in &files {
        make(dir.path(), name, f);
    }
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(BASE).args(args);
    let out = run(c, DEADLINE);
    let all = format!("--- stdout:\n{}\n--- stderr:\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{all}");
    assert_eq!(out.code, Some(code), "{all}");
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(['\0', '\x1b', '\x07']),
            "raw control bytes in the output: {all}"
        );
        for line in text.lines() {
            assert!(line.len() < 2000, "an unbounded line: {all}");
        }
    }
    match want {
        W::E(line) => {
            assert_eq!(out.stderr.lines().next(), Some(line), "{all}");
            if code == 1 {
                assert_eq!(out.stderr.lines().count(), 1, "one line: {all}");
            }
        }
        W::Es(line) => assert_eq!(out.stderr.lines().next(), Some(line.as_str()), "{all}"),
        W::O(line) => assert!(out.stdout.lines().any(|l| l == line), "{line:?}\n{all}"),
        W::Os(line) => assert!(out.stdout.lines().any(|l| l == line), "{line:?}\n{all}"),
        W::C(part) => assert!(
            out.stdout.lines().any(|l| l.contains(part)),
            "{part:?}\n{all}"
        ),
        W::Cs(part) => assert!(
            out.stdout.lines().any(|l| l.contains(part.as_str())),
            "{part:?}\n{all}"
        ),
    }
}

const T: &[&str] = &["--targets", "t.csv"];
const P: &[&str] = &["--params", "p.csv"];

// ---- Targets files: addresses that do not mean what they say (issue 11.4) ----
#[test_case("127.1,x\n", "t.csv:1: ignored: '127.1' is not an IPv4 address: it has 2 parts, an IPv4 address has 4 (such as 10.1.1.10)" ; "short ipv4 127.1")]
#[test_case("0x7f.0.0.1,x\n", "t.csv:1: ignored: '0x7f.0.0.1' is not an IPv4 address: '0x7f' is not a decimal number from 0 to 255" ; "hex ipv4")]
#[test_case("1.2.3,x\n", "t.csv:1: ignored: '1.2.3' is not an IPv4 address: it has 3 parts, an IPv4 address has 4 (such as 10.1.1.10)" ; "three part ipv4")]
#[test_case("# typo\n10.1.10,x\n", "t.csv:2: ignored: '10.1.10' is not an IPv4 address: it has 3 parts, an IPv4 address has 4 (such as 10.1.1.10)" ; "typo ipv4 on line 2")]
#[test_case("999.1.1.1,x\n", "t.csv:1: ignored: '999.1.1.1' is not an IPv4 address: 999 is above 255" ; "ipv4 above 255")]
#[test_case("010.1.1.1,x\n", "t.csv:1: ignored: '010.1.1.1' is not an IPv4 address: '010' has a leading zero (some programs read it as octal)" ; "octal ipv4")]
#[test_case("2130706433,x\n", "t.csv:1: ignored: '2130706433' is not an IPv4 address: it has 1 part, an IPv4 address has 4 (such as 10.1.1.10)" ; "ipv4 as one number")]
#[test_case("1.2.3.4.5,x\n", "t.csv:1: ignored: '1.2.3.4.5' is not an IPv4 address: it has 5 parts, an IPv4 address has 4 (such as 10.1.1.10)" ; "five part ipv4")]
#[test_case("a..b,x\n", "t.csv:1: ignored: 'a..b' is not a host name: it has an empty label (two dots in a row, or a dot at the start)" ; "empty label")]
#[test_case("-gw.example,x\n", "t.csv:1: ignored: '-gw.example' is not a host name: a label starts or ends with '-'" ; "label starting with dash")]
#[test_case("file_server,x\n", "t.csv:1: ignored: 'file_server' is not a host name: '_' is not allowed (RFC 1123: letters, digits, '-' and '.')" ; "underscore")]
#[test_case("not a host!,x\n", "t.csv:1: ignored: 'not a host!' is not an IP address, host name or URL" ; "spaces and punctuation")]
#[test_case("0.0.0.0,x\n", "t.csv:1: ignored: '0.0.0.0' is the unspecified address, which is no host" ; "unspecified ipv4")]
#[test_case("::,x\n", "t.csv:1: ignored: '::' is the unspecified address, which is no host" ; "unspecified ipv6")]
#[test_case("255.255.255.255,x\n", "t.csv:1: ignored: '255.255.255.255' is the broadcast address, not one host" ; "broadcast")]
#[test_case("224.0.0.1,x\n", "t.csv:1: ignored: '224.0.0.1' is a multicast address, not one host" ; "multicast ipv4")]
#[test_case("239.255.255.250,x\n", "t.csv:1: ignored: '239.255.255.250' is a multicast address, not one host" ; "multicast ssdp")]
#[test_case("ff02::1,x\n", "t.csv:1: ignored: 'ff02::1' is a multicast address, not one host" ; "multicast ipv6")]
#[test_case("::ffff:224.0.0.1,x\n", "t.csv:1: ignored: '::ffff:224.0.0.1' is a multicast address, not one host" ; "mapped multicast")]
#[test_case("1:2:3,x\n", "t.csv:1: ignored: '1:2:3' is not a valid IPv6 address" ; "bad ipv6")]
#[test_case("[::1,x\n", "t.csv:1: ignored: '[::1' has a '[' without its ']'" ; "open bracket")]
#[test_case("gw.example:0,x\n", "t.csv:1: ignored: 'gw.example:0' has a bad port '0' (a number from 1 to 65535)" ; "port zero")]
#[test_case("fe80::1%,x\n", "t.csv:1: ignored: 'fe80::1%' has a bad zone id after '%' (an interface name or number)" ; "empty zone id")]
#[test_case("http://127.1/,x\n", "t.csv:1: ignored: 'http://127.1/' is not an IPv4 address: it has 2 parts, an IPv4 address has 4 (such as 10.1.1.10)" ; "url with short ipv4")]
#[test_case("http://,x\n", "t.csv:1: ignored: 'http://' has no host" ; "url without host")]
#[test_case("https://gw.example:99999/,x\n", "t.csv:1: ignored: 'https://gw.example:99999/' has a bad port '99999' (a number from 1 to 65535)" ; "url with bad port")]
#[test_case("127.0.0.1\x1b[31m,x\n", "t.csv:1: ignored: '127.0.0.1\\e[31m' holds a control character, so it is not an IP address, host name or URL" ; "esc in address")]
#[test_case("lonely line\n", "t.csv:1: ignored: expected address,name (for example 10.1.1.10,File server)" ; "line without comma")]
fn targets_address_rejected(text: &str, warning: &'static str) {
    check(vec![("t.csv", t(text))], T, 0, W::O(warning));
}

#[test]
fn targets_label_longer_than_63() {
    let label = "a".repeat(64);
    check(
        vec![("t.csv", t(&format!("{label}.example,x\n")))],
        T,
        0,
        W::Os(format!(
            "t.csv:1: ignored: '{label}.example' is not a host name: a label is longer than 63 characters"
        )),
    );
}

/// A 10 MB address is named cut to 80 characters, never echoed whole.
#[test]
fn targets_ten_megabyte_address() {
    check(
        vec![("t.csv", long("", 'a', 10_000_000, ",x\n"))],
        T,
        0,
        W::Os(format!(
            "t.csv:1: ignored: '{}…' is longer than 2048 characters",
            "a".repeat(80)
        )),
    );
}

/// A 10 MB name is refused (a row holding it would be longer than `vpnmon report` reads), and
/// a name at the limit is pinged and shown cut on the console.
#[test]
fn targets_ten_megabyte_name() {
    check(
        vec![("t.csv", long("127.0.0.1,", 'n', 10_000_000, "\n"))],
        T,
        0,
        W::O("t.csv:1: ignored: the name of '127.0.0.1' is longer than 1024 characters"),
    );
    check(
        vec![("t.csv", long("127.0.0.1,", 'n', 1024, "\n"))],
        T,
        0,
        W::Cs(format!("Good {}…", "n".repeat(80))),
    );
}

// ---- Targets files: encodings and names (issue 11.3, 11.6) ----
#[test_case(le("127.0.0.1,Zürich\r\n") ; "utf16 le")]
#[test_case(be("127.0.0.1,Zürich\r\n") ; "utf16 be")]
#[test_case(b(b"\xEF\xBB\xBF127.0.0.1,Z\xC3\xBCrich\r\n") ; "utf8 with bom")]
#[test_case(t("127.0.0.1,Zürich") ; "utf8 without final newline")]
fn targets_encodings_that_work(f: F) {
    check(vec![("t.csv", f)], T, 0, W::C("Good Zürich"));
}

#[test_case(t("127.0.0.1,a\x1b[31mred\n"), "Good a\\e[31mred" ; "esc in name")]
#[test_case(t("127.0.0.1,ding\x07dong\n"), "Good ding\\adong" ; "bel in name")]
#[test_case(t("127.0.0.1,\u{202e}evil\n"), "Good \\u{202e}evil" ; "bidi override in name")]
fn targets_control_characters_in_names_are_escaped(f: F, shown: &'static str) {
    check(vec![("t.csv", f)], T, 0, W::C(shown));
}

#[test]
fn targets_nul_in_a_name_is_rejected() {
    check(
        vec![("t.csv", le("127.0.0.1,a\0b\r\n127.0.0.2,ok\r\n"))],
        T,
        0,
        W::O("t.csv:1: ignored: the name of '127.0.0.1' holds a NUL character"),
    );
}

/// Naming the default file (the shipped params file does: `targets,vpnmon_targets.csv`) keeps the
/// default's rule: missing means no targets, as the original.
#[test_case(vec![("p.csv", t("targets,vpnmon_targets.csv\n"))], &["--params", "p.csv"] ; "in the params file")]
#[test_case(vec![], &["--targets", "vpnmon_targets.csv"] ; "on the command line")]
fn the_default_targets_name_missing_is_no_targets(files: Vec<(&str, F)>, args: &[&str]) {
    check(
        files,
        args,
        0,
        W::O("Running without a vpnmon targets file"),
    );
}

/// Names and addresses have a length a datalog row (and `vpnmon report`, which reads lines of at
/// most 64 KiB) can carry: a longer one is refused where it is written.
#[test]
fn overlong_names_and_addresses_are_refused_where_written() {
    let name = format!("127.0.0.1,{}\n127.0.0.2,ok\n", "n".repeat(1025));
    check(
        vec![("t.csv", t(&name))],
        T,
        0,
        W::O("t.csv:1: ignored: the name of '127.0.0.1' is longer than 1024 characters"),
    );
    let url = format!("https://a.example/{},n\n", "p".repeat(2100));
    check(
        vec![("t.csv", t(&url))],
        T,
        0,
        W::Os(format!(
            "t.csv:1: ignored: 'https://a.example/{}…' is longer than 2048 characters",
            "p".repeat(62)
        )),
    );
    let params = format!("vpnname,{}\n", "x".repeat(1025));
    check(
        vec![("p.csv", t(&params))],
        &["--params", "p.csv"],
        1,
        W::Es(format!(
            "Error: p.csv:1: bad value for vpnname: invalid value '{}…' for vpnname: the name is longer than 1024 characters (the line should read vpnname,VALUE)",
            "x".repeat(80)
        )),
    );
}

/// A stray NUL in a UTF-8 file is that line's problem alone, not the file's.
#[test]
fn targets_nul_in_a_utf8_name_rejects_that_line_only() {
    check(
        vec![("t.csv", b(b"127.0.0.1,a\0b\n127.0.0.2,ok\n"))],
        T,
        0,
        W::O("t.csv:1: ignored: the name of '127.0.0.1' holds a NUL character"),
    );
    check(
        vec![("t.csv", b(b"127.0.0.1,a\0b\n127.0.0.2,ok\n"))],
        T,
        0,
        W::C("-- ping 127.0.0.2       Good ok"),
    );
}

/// A file that is read but is not text vpnmon takes: the reason carries its own advice (no
/// "check its path and permissions").
const TARGETS_ERR: &str = "Error: Failed to read the vpnmon targets file t.csv: ";

#[test_case(b(b"127.0.0.1,Caf\xE9\n"), "line 1 is not UTF-8 text (byte 0xE9; a Windows code page such as cp1252?); save the file as UTF-8" ; "cp1252")]
#[test_case(b(b"1\x002\x007\x00.\x00"), "line 1 holds NUL bytes, so this is not UTF-8 text (UTF-16 without a byte-order mark?); save the file as UTF-8" ; "utf16 without bom")]
#[test_case(b(b"\xFF\xFE1\x00\n\x00\x00\xD8"), "line 2 is not valid UTF-16 LE text (the file starts with a UTF-16 LE byte-order mark); save the file as UTF-8" ; "broken utf16 le")]
#[test_case(b(b"\xFE\xFF\x001\x00"), "line 1 is not valid UTF-16 BE text (the file starts with a UTF-16 BE byte-order mark); save the file as UTF-8" ; "odd length utf16 be")]
#[test_case(b(b"\xFF\xFE\x00\x001\x00\x00\x00"), "it is UTF-32 text, which vpnmon does not read; save the file as UTF-8" ; "utf32")]
#[test_case(b(b"\x89PNG\r\n\x1a\n\x00\x00"), "line 1 is not UTF-8 text (byte 0x89; a Windows code page such as cp1252?); save the file as UTF-8" ; "binary file")]
#[test_case(F::Fifo, "it is a FIFO (named pipe), not a regular file" ; "fifo")]
#[test_case(F::Dir, "it is a directory, not a regular file" ; "directory")]
#[test_case(F::Sparse(64 * 1024 * 1024 + 1), "it is larger than 64 MiB" ; "larger than the cap")]
fn targets_file_not_read(f: F, reason: &str) {
    let want: &'static str = Box::leak(format!("{TARGETS_ERR}{reason}").into_boxed_str());
    check(vec![("t.csv", f)], T, 1, W::E(want));
}

#[test]
fn targets_dev_zero() {
    check(
        vec![],
        &["--targets", "/dev/zero"],
        1,
        W::E("Error: Failed to read the vpnmon targets file /dev/zero: it is a device, not a regular file"),
    );
}

// ---- Targets files that are missing (issue 10.7) ----
#[test]
fn targets_named_but_missing() {
    check(
        vec![],
        &["--targets", "missing.csv"],
        1,
        W::E("Error: The vpnmon targets file missing.csv does not exist; check its path (without the targets option, vpnmon runs without a targets file when vpnmon_targets.csv is missing)"),
    );
}

#[test]
fn targets_named_in_the_params_file_but_missing() {
    check(
        vec![("p.csv", t("targets,gone.csv\n"))],
        P,
        1,
        W::E("Error: The vpnmon targets file gone.csv does not exist; check its path (without the targets option, vpnmon runs without a targets file when vpnmon_targets.csv is missing)"),
    );
}

#[test]
fn targets_default_missing_runs_without() {
    check(
        vec![],
        &[],
        0,
        W::O("Running without a vpnmon targets file"),
    );
}

// ---- Params files (issue 11.3, 11.4, 11.5, 11.6) ----
#[test_case(le("vpnname,Zürich GW\r\nvpnurlip,127.0.0.1\r\n") ; "utf16 le")]
#[test_case(be("vpnname,Zürich GW\r\nvpnurlip,127.0.0.1\r\n") ; "utf16 be")]
#[test_case(b(b"\xEF\xBB\xBFvpnname,Z\xC3\xBCrich GW\r\nvpnurlip,127.0.0.1\r\n") ; "utf8 with bom")]
fn params_encodings_that_work(f: F) {
    check(vec![("p.csv", f)], P, 0, W::C("Good Zürich GW"));
}

const PARAMS_ERR: &str = "Error: Failed to read the vpnmon params file ";

#[test_case(b(b"cycles,1\nvpnname,Caf\xE9\n"), "p.csv: line 2 is not UTF-8 text (byte 0xE9; a Windows code page such as cp1252?); save the file as UTF-8" ; "cp1252")]
#[test_case(b(b"c\x00y\x00c\x00"), "p.csv: line 1 holds NUL bytes, so this is not UTF-8 text (UTF-16 without a byte-order mark?); save the file as UTF-8" ; "utf16 without bom")]
#[test_case(b(b"\xFF\xFEc\x00\x00\xDC"), "p.csv: line 1 is not valid UTF-16 LE text (the file starts with a UTF-16 LE byte-order mark); save the file as UTF-8" ; "broken utf16")]
#[test_case(F::Fifo, "p.csv: it is a FIFO (named pipe), not a regular file" ; "fifo")]
#[test_case(F::Dir, "p.csv: it is a directory, not a regular file" ; "directory")]
#[test_case(F::Sparse(64 * 1024 * 1024 + 1), "p.csv: it is larger than 64 MiB" ; "larger than the cap")]
fn params_file_not_read(f: F, reason: &str) {
    let want: &'static str = Box::leak(format!("{PARAMS_ERR}{reason}").into_boxed_str());
    check(vec![("p.csv", f)], P, 1, W::E(want));
}

#[test]
fn params_dev_zero() {
    check(
        vec![],
        &["--params", "/dev/zero"],
        1,
        W::E("Error: Failed to read the vpnmon params file /dev/zero: it is a device, not a regular file"),
    );
}

#[test]
fn params_named_but_missing() {
    check(
        vec![],
        &["--params", "missing.csv"],
        1,
        W::E("Error: Failed to read the vpnmon params file missing.csv: No such file or directory; check the path and its permissions"),
    );
}

#[test_case("vpnurlip,127.1\n", "Error: p.csv:1: bad value for vpnurlip: invalid value '127.1' for vpnurlip: '127.1' is not an IPv4 address: it has 2 parts, an IPv4 address has 4 (such as 10.1.1.10) (the line should read vpnurlip,VALUE)" ; "short gateway")]
#[test_case("\nvpnurlip,0.0.0.0\n", "Error: p.csv:2: bad value for vpnurlip: invalid value '0.0.0.0' for vpnurlip: '0.0.0.0' is the unspecified address, which is no host (the line should read vpnurlip,VALUE)" ; "unspecified gateway")]
#[test_case("vpnurlip,a..b\n", "Error: p.csv:1: bad value for vpnurlip: invalid value 'a..b' for vpnurlip: 'a..b' is not a host name: it has an empty label (two dots in a row, or a dot at the start) (the line should read vpnurlip,VALUE)" ; "bad gateway name")]
#[test_case("delay,604801\n", "Error: p.csv:1: bad value for delay: invalid value '604801' for delay: expected a whole number of seconds from 0 to 604800 (7 days) (the line should read delay,VALUE)" ; "delay above a week")]
#[test_case("timeout,3601\n", "Error: p.csv:1: bad value for timeout: invalid value '3601' for timeout: expected a number of seconds greater than 0 and at most 3600 (1 hour), such as 1 or 0.5 (the line should read timeout,VALUE)" ; "timeout above an hour")]
#[test_case("cycles,0\n", "Error: p.csv:1: bad value for cycles: invalid value '0' for cycles: expected a whole number of cycles (1 or more), or -1 (any negative number) to run until stopped (the line should read cycles,VALUE)" ; "zero cycles")]
#[test_case("cycles,\x1b[31m\n", "Error: p.csv:1: bad value for cycles: it holds a control character ('\\e') (the line should read cycles,VALUE)" ; "esc in a value")]
#[test_case("vpnname,ding\x07\n", "Error: p.csv:1: bad value for vpnname: it holds a control character ('\\a') (the line should read vpnname,VALUE)" ; "bel in a value")]
fn params_bad_values(text: &str, want: &'static str) {
    check(vec![("p.csv", t(text))], P, 1, W::E(want));
}

#[test]
fn params_nul_in_a_value() {
    check(
        vec![("p.csv", le("vpnname,a\0b\r\n"))],
        P,
        1,
        W::E("Error: p.csv:1: bad value for vpnname: it holds a NUL character (the line should read vpnname,VALUE)"),
    );
}

#[test]
fn params_ten_megabyte_bad_value_is_cut() {
    check(
        vec![("p.csv", long("delay,", '9', 10_000_000, "\n"))],
        P,
        1,
        W::Es(format!(
            "Error: p.csv:1: bad value for delay: invalid value '{}…' for delay: expected a whole number of seconds from 0 to 604800 (7 days) (the line should read delay,VALUE)",
            "9".repeat(80)
        )),
    );
}

#[test_case(t("a\x1bbc,1\n"), "p.csv:1: unknown parameter 'a\\ebc' ignored" ; "esc in key")]
#[test_case(t("b\x07ell,1\n"), "p.csv:1: unknown parameter 'b\\aell' ignored" ; "bel in key")]
fn params_unknown_keys_are_escaped(f: F, want: &'static str) {
    check(vec![("p.csv", f)], P, 0, W::O(want));
}

#[test]
fn params_ten_megabyte_key_is_cut() {
    check(
        vec![("p.csv", long("", 'k', 10_000_000, ",1\n"))],
        P,
        0,
        W::Os(format!(
            "p.csv:1: unknown parameter '{}…' ignored",
            "k".repeat(80)
        )),
    );
}

// ---- Command line: addresses, limits, prefixes (issue 10.4, 11.4, 11.7) ----
#[test_case(&["--vpnurlip", "127.1"], "error: invalid value '127.1' for '--vpnurlip <VPNADDRESS>': '127.1' is not an IPv4 address: it has 2 parts, an IPv4 address has 4 (such as 10.1.1.10)" ; "short gateway")]
#[test_case(&["-vpnurlip", "0x7f.0.0.1"], "error: invalid value '0x7f.0.0.1' for '--vpnurlip <VPNADDRESS>': '0x7f.0.0.1' is not an IPv4 address: '0x7f' is not a decimal number from 0 to 255" ; "hex gateway")]
#[test_case(&["--vpnurlip", "255.255.255.255"], "error: invalid value '255.255.255.255' for '--vpnurlip <VPNADDRESS>': '255.255.255.255' is the broadcast address, not one host" ; "broadcast gateway")]
#[test_case(&["--vpnurlip", "224.0.0.1"], "error: invalid value '224.0.0.1' for '--vpnurlip <VPNADDRESS>': '224.0.0.1' is a multicast address, not one host" ; "multicast gateway")]
#[test_case(&["--vpnurlip", "ff02::1"], "error: invalid value 'ff02::1' for '--vpnurlip <VPNADDRESS>': 'ff02::1' is a multicast address, not one host" ; "ipv6 multicast gateway")]
#[test_case(&["--vpnurlip", "https://999.1.1.1/"], "error: invalid value 'https://999.1.1.1/' for '--vpnurlip <VPNADDRESS>': 'https://999.1.1.1/' is not an IPv4 address: 999 is above 255" ; "url gateway above 255")]
#[test_case(&["--delay", "604801"], "error: invalid value '604801' for '--delay <SECONDS>': expected a whole number of seconds from 0 to 604800 (7 days)" ; "delay above a week")]
#[test_case(&["-delay", "18446744073709551615"], "error: invalid value '18446744073709551615' for '--delay <SECONDS>': expected a whole number of seconds from 0 to 604800 (7 days)" ; "delay u64 max")]
#[test_case(&["--delay", "-5"], "error: invalid value '-5' for '--delay <SECONDS>': expected a whole number of seconds from 0 to 604800 (7 days)" ; "negative delay")]
#[test_case(&["--timeout", "3601"], "error: invalid value '3601' for '--timeout <SECONDS>': expected a number of seconds greater than 0 and at most 3600 (1 hour), such as 1 or 0.5" ; "timeout above an hour")]
#[test_case(&["--timeout", "inf"], "error: invalid value 'inf' for '--timeout <SECONDS>': expected a number of seconds greater than 0 and at most 3600 (1 hour), such as 1 or 0.5" ; "infinite timeout")]
#[test_case(&["-cycles", "0"], "error: invalid value '0' for '--cycles <CYCLES>': expected a whole number of cycles (1 or more), or -1 (any negative number) to run until stopped" ; "zero cycles")]
#[test_case(&["-vpn", "x"], "error: the option '-vpn' is ambiguous: it could be --vpn-timeout, --vpncli, --vpncli-delay, --vpnclient, --vpnname, --vpnurlip (write more of its name)" ; "ambiguous single dash")]
#[test_case(&["--vpnc=x"], "error: the option '--vpnc' is ambiguous: it could be --vpncli, --vpncli-delay, --vpnclient (write more of its name)" ; "ambiguous double dash")]
#[test_case(&["-smtp", "x"], "error: the option '-smtp' is ambiguous: it could be --smtp-from, --smtp-password-file, --smtp-server, --smtp-tls, --smtp-to, --smtp-user (write more of its name)" ; "ambiguous smtp")]
fn command_line_usage_errors(args: &[&str], want: &'static str) {
    check(vec![], args, 2, W::E(want));
}

/// argparse's habit: unambiguous beginnings work in both forms (with 200 cycles of 1800 s, an
/// option not understood would not end within the deadline, or would be a usage error).
#[test_case(&["-cyc", "1", "-del", "0", "-qui"] ; "single dash prefixes")]
#[test_case(&["--cyc", "1", "--del=0", "--qui"] ; "double dash prefixes")]
#[test_case(&["-CYC", "1", "-vpnn", "Site"] ; "upper case prefix")]
#[test_case(&["-cyc", "1", "-del", "0", "-dat", "d.csv"] ; "a beginning unique among the original's options")]
#[test_case(&["-c", "1", "-del", "0", "-q", "--t", "vpnmon_targets.csv"] ; "one letter beginnings as in argparse")]
fn command_line_prefixes_work(args: &[&str]) {
    check(
        vec![],
        args,
        0,
        W::O("Running without a vpnmon targets file"),
    );
}

// ---- The alert state file (issue 11.5) ----
#[test_case(F::Fifo, "it is a FIFO (named pipe), not a regular file" ; "fifo")]
#[test_case(F::Dir, "it is a directory, not a regular file" ; "directory")]
#[test_case(F::Sparse(64 * 1024 * 1024 + 1), "it is larger than 64 MiB" ; "larger than the cap")]
fn state_file_not_read(f: F, reason: &str) {
    let want: &'static str = Box::leak(
        format!("Error: cannot read --state-file s.json: {reason}; fix or delete it")
            .into_boxed_str(),
    );
    check(
        vec![("s.json", f)],
        &["--state-file", "s.json"],
        1,
        W::E(want),
    );
}

#[test]
fn state_file_dev_zero() {
    check(
        vec![],
        &["--state-file", "/dev/zero"],
        1,
        W::E("Error: cannot read --state-file /dev/zero: it is a device, not a regular file; fix or delete it"),
    );
}

// ---- The other files vpnmon reads: the sound file and the SMTP password file ----
const MAIL: [&str; 10] = [
    "--smtp-user",
    "u",
    "--smtp-server",
    "127.0.0.1:2525",
    "--smtp-from",
    "a@example.org",
    "--smtp-to",
    "b@example.org",
    "--smtp-tls",
    "none",
];

#[test_case("--sound-file", F::Fifo, "Error: cannot read --sound-file f: it is a FIFO (named pipe), not a regular file; give a readable WAV file" ; "sound fifo")]
#[test_case("--sound-file", F::Sparse(64 * 1024 * 1024 + 1), "Error: cannot read --sound-file f: it is larger than 64 MiB; give a readable WAV file" ; "sound too large")]
#[test_case("--smtp-password-file", F::Fifo, "Error: cannot read --smtp-password-file f: it is a FIFO (named pipe), not a regular file" ; "smtp password fifo")]
#[test_case("--smtp-password-file", F::Dir, "Error: cannot read --smtp-password-file f: it is a directory, not a regular file" ; "smtp password directory")]
fn other_input_files_never_block(option: &str, f: F, want: &'static str) {
    let mut args = vec![option, "f"];
    if option.starts_with("--smtp") {
        args.extend(MAIL);
    } else {
        args.push("--quiet=false");
    }
    check(vec![("f", f)], &args, 1, W::E(want));
}

#[test_case("--sound-file", "Error: cannot read --sound-file /dev/zero: it is a device, not a regular file; give a readable WAV file" ; "sound dev zero")]
#[test_case("--smtp-password-file", "Error: cannot read --smtp-password-file /dev/zero: it is a device, not a regular file" ; "smtp password dev zero")]
fn other_input_files_are_never_read_endlessly(option: &str, want: &'static str) {
    let mut args = vec![option, "/dev/zero"];
    if option.starts_with("--smtp") {
        args.extend(MAIL);
    } else {
        args.push("--quiet=false");
    }
    check(vec![], &args, 1, W::E(want));
}

// ---- Property: parsing never panics ----
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    #[test]
    fn targets_parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let l = vpnmon::targets::parse("t.csv", &bytes);
        for w in &l.warnings {
            proptest::prop_assert!(!w.contains(['\0', '\x1b', '\x07', '\n']), "{w:?}");
        }
        for t in &l.targets {
            proptest::prop_assert!(!t.name.contains('\0'));
            proptest::prop_assert_eq!(vpnmon::targets::check_address(&t.address), Ok(t.host.clone()));
        }
    }

    #[test]
    fn targets_lines_of_address_like_text_never_panic(text in "[0-9a-fx.:%\\[\\]/-]{0,40}(,[ -~]{0,10})?(\r?\n[0-9a-fx.:%\\[\\]/-]{0,40},n)*") {
        let l = vpnmon::targets::parse("t.csv", text.as_bytes());
        for t in &l.targets {
            // What is pinged is never a short or numeric form a resolver would reinterpret.
            let host = t.host.split('%').next().unwrap_or("");
            if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                proptest::prop_assert!(host.parse::<std::net::Ipv4Addr>().is_ok(), "{host}");
            }
        }
    }

    #[test]
    fn params_parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let mut notices = Vec::new();
        match vpnmon::settings::params_to_args(Path::new("p.csv"), &bytes, &mut notices) {
            Ok(_) => {}
            Err(e) => {
                let s = e.to_string();
                proptest::prop_assert!(!s.contains(['\0', '\x1b', '\x07', '\n']), "{s:?}");
            }
        }
        for n in &notices {
            proptest::prop_assert!(!n.contains(['\0', '\x1b', '\x07', '\n']), "{n:?}");
        }
    }

    #[test]
    fn params_lines_never_panic(text in "([a-z-]{1,12},[ -~\\x1b\\x00]{0,20}\r?\n){0,8}") {
        let mut notices = Vec::new();
        let _ = vpnmon::settings::params_to_args(Path::new("p.csv"), text.as_bytes(), &mut notices);
    }
}

// ---- Cancellation: FIFOs never block, SIGTERM ends vpnmon within 1 s ----

/// A FIFO as the params file: nobody writes to it, so a blocking open or read would wait
/// forever (and start-up has no way to be cancelled then). vpnmon refuses it at once, by itself,
/// within 1 s.
#[test]
fn a_fifo_params_file_never_blocks_start_up() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), "p.fifo", &F::Fifo);
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(BASE).args(["--params", "p.fifo", "--cycles", "-1"]);
    let out = Running::spawn(c).finish(Duration::from_secs(1));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "Error: Failed to read the vpnmon params file p.fifo: it is a FIFO (named pipe), not a regular file\n"
    );
}

/// The targets file is re-read every cycle: replaced by a FIFO mid-run, it is refused (the last
/// list is kept, as for any unreadable targets file) instead of blocking the monitor, and a
/// SIGTERM then ends the run within 1 s.
#[test]
fn targets_replaced_by_a_fifo_mid_run_never_blocks_and_sigterm_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), "t.csv", &t("127.0.0.1,loop\n"));
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(BASE)
        .args(["--targets", "t.csv", "--cycles", "-1", "--delay", "1"]);
    let mut r = Running::spawn(c);
    r.wait_line("Good loop", DEADLINE);
    std::fs::remove_file(dir.path().join("t.csv")).unwrap();
    make(dir.path(), "t.csv", &F::Fifo);
    r.wait_line(
        "Cannot read the vpnmon targets file t.csv (it is a FIFO (named pipe), not a regular file); using its previous 1 targets",
        DEADLINE,
    );
    r.signal(nix::sys::signal::Signal::SIGTERM);
    let status = r.wait_exit(Duration::from_secs(1));
    assert!(r.since_signal() < Duration::from_secs(1));
    assert_eq!(status.code(), Some(0), "{}", r.stderr());
}

/// Any negative -cycles runs until stopped, as the original's did.
#[test]
fn negative_cycles_run_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), "t.csv", &t("127.0.0.1,loop\n"));
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(BASE).args(["--targets", "t.csv", "-cycles", "-3"]);
    let mut r = Running::spawn(c);
    // More cycles than any positive reading of -3 would run.
    r.wait_line("Start vpnmon test cycle 5", DEADLINE);
    r.signal(nix::sys::signal::Signal::SIGINT);
    let status = r.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", r.stderr());
}

// ---- Closed output: never a panic (exit 1 or 2, not 101) ----

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> std::os::fd::OwnedFd {
    let (rd, wr) = nix::unistd::pipe().unwrap();
    drop(rd);
    wr
}

#[test_case(&["--vpnurlip", "127.1"], 2 ; "usage error with stderr closed")]
#[test_case(&["--targets", "missing.csv"], 1 ; "fatal error with stderr closed")]
fn errors_with_a_closed_stderr_exit_without_panic(args: &[&str], code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(BASE)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(closed_pipe());
    let status = c.status().unwrap();
    assert_eq!(status.code(), Some(code));
}

#[test_case(&["-h"], 0 ; "help with stdout closed")]
#[test_case(&["--cycles", "3"], 0 ; "a run with stdout closed")]
#[test_case(&["--targets", "missing.csv"], 1 ; "fatal error with both closed")]
fn output_with_a_closed_stdout_exits_without_panic(args: &[&str], code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(BASE)
        .args(args)
        .stdout(closed_pipe())
        .stderr(closed_pipe());
    let status = c.status().unwrap();
    assert_eq!(status.code(), Some(code));
}
