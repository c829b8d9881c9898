//! Unit tests that cannot run on this machine (no ICMP permission, not root, an optional program
//! missing). libtest cannot ignore a unit test at run time, so such a test says
//! `SKIPPED <test>: <reason>` on stderr and returns; with `VPNMON_TESTS_REQUIRE_ALL` set (CI: root,
//! every package) it fails instead, so nothing silently stops running there. Integration tests
//! use the run-time harness in tests/core_support/harness.rs, which cargo reports as ignored.

/// Skips the test `test` for `reason`, or fails it where every test must run.
pub(crate) fn skip(test: &str, reason: impl std::fmt::Display) {
    let ci = std::env::var("VPNMON_TESTS_REQUIRE_ALL");
    assert!(
        !matches!(ci.as_deref(), Ok(v) if !v.is_empty() && v != "0"),
        "{test} cannot run here ({reason}), but VPNMON_TESTS_REQUIRE_ALL is set: it must run"
    );
    eprintln!("SKIPPED {test}: {reason}");
}
