//! The test harness of the files whose tests need something this machine may lack (root, a
//! program, ICMP): `libtest-mimic` with `harness = false`, so whether a test runs is decided when
//! it runs, and one that cannot run here is reported by cargo as `ignored (needs …)`, counted in
//! the summary's "ignored", never a silent pass or a failure.
//!
//! A test is a `fn() -> Ran` (or `fn()` when it needs nothing); it asks for what it needs with
//! `need_root`, `need_programs`, `need_ping`, or gives up with `ignore(reason)`, all through `?`.
//! With `VPNMON_TESTS_REQUIRE_ALL=1` (CI: root, every package installed) a test that would be
//! ignored fails instead, naming what was missing, so nothing silently stops running there.

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Why a test cannot run on this machine.
#[derive(Debug)]
pub struct Ignored(pub String);

/// What a conditional test returns: `Ok(())` when it ran (its assertions panic as usual), or
/// why it could not run here.
pub type Ran = Result<(), Ignored>;

/// The environment variable that turns every would-be-ignored test into a failure.
pub const REQUIRE_ALL: &str = "VPNMON_TESTS_REQUIRE_ALL";

/// Gives up the test: it cannot run here, for `reason`.
pub fn ignore(reason: impl Into<String>) -> Ignored {
    Ignored(reason.into())
}

/// The test needs root (network namespaces, mounts, another user's process).
pub fn need_root(what: &str) -> Ran {
    if super::is_root() {
        Ok(())
    } else {
        Err(ignore(format!("needs root: {what}")))
    }
}

/// The test needs these programs on PATH, each given with the package that has it, e.g.
/// `("ip", "iproute2")`.
pub fn need_programs(programs: &[(&str, &str)]) -> Ran {
    let missing: Vec<String> = programs
        .iter()
        .filter(|(p, _)| which::which(p).is_err())
        .map(|(p, pkg)| format!("{p} ({pkg})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ignore(format!("needs {} on PATH", missing.join(", "))))
    }
}

/// The programs the namespace labs of `core_support::netns` run.
pub const NETNS_PROGRAMS: &[(&str, &str)] = &[("ip", "iproute2"), ("nft", "nftables")];

/// Whether vpnmon can ping from here: an unprivileged ping socket or a raw socket is allowed
/// (`super::icmp_available`), or there is a `ping` program for its fallback.
pub fn can_ping() -> bool {
    super::icmp_available() || which::which("ping").is_ok()
}

/// The test needs real ICMP (not the fake prober).
pub fn need_ping() -> Ran {
    if can_ping() {
        Ok(())
    } else {
        Err(ignore(
            "needs ICMP: no ping socket (net.ipv4.ping_group_range), no raw socket and no ping program",
        ))
    }
}

/// The test needs the `sound` cargo feature (a real tone into an ALSA device).
pub fn need_sound() -> Ran {
    if cfg!(feature = "sound") {
        Ok(())
    } else {
        Err(ignore("vpnmon built without the `sound` cargo feature"))
    }
}

/// What a test function may return: nothing (it needs nothing) or `Ran`.
pub trait Outcome {
    fn into_ran(self) -> Ran;
}

impl Outcome for () {
    fn into_ran(self) -> Ran {
        Ok(())
    }
}

impl Outcome for Ran {
    fn into_ran(self) -> Ran {
        self
    }
}

/// Whether `VPNMON_TESTS_REQUIRE_ALL` asks that every test run.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn completion(ran: Ran) -> Result<Completion, Failed> {
    match ran {
        Ok(()) => Ok(Completion::Completed),
        Err(Ignored(reason)) if require_all() => Err(format!(
            "this test would be ignored here ({reason}), but {REQUIRE_ALL} is set: it must run"
        )
        .into()),
        Err(Ignored(reason)) => Ok(Completion::ignored_with(reason)),
    }
}

/// One test named `name` running `f` (a panic is a failure, as with `#[test]`).
pub fn trial<O: Outcome>(name: impl Into<String>, f: impl FnOnce() -> O + Send + 'static) -> Trial {
    Trial::ignorable_test(name, move || completion(f().into_ran()))
}

/// Runs the trials with cargo test's arguments (filters, `--test-threads`, `--list`, …) and
/// exits with libtest's status.
pub fn run(trials: Vec<Trial>) -> ! {
    libtest_mimic::run(&Arguments::from_args(), trials).exit()
}

/// `harness_trials![a, b, c]`: the trials running the test functions `a`, `b`, `c` under their
/// own names.
#[macro_export]
macro_rules! harness_trials {
    ($($f:ident),* $(,)?) => {
        vec![$($crate::core_support::harness::trial(stringify!($f), $f)),*]
    };
}

/// `harness_main!(a, b, c)`: the `main` of a test file running the test functions `a`, `b`, `c`.
#[macro_export]
macro_rules! harness_main {
    ($($f:ident),* $(,)?) => {
        fn main() {
            $crate::core_support::harness::run($crate::harness_trials![$($f),*])
        }
    };
}
