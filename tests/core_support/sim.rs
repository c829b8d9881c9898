//! `vpncli-sim`, the stand-in for Cisco's CLI (tests/sim/vpncli_sim.rs). It is a cargo example,
//! not a `[[bin]]`, so `cargo install` leaves it out. A plain `cargo test` builds examples before
//! it runs any test; a filtered run (`cargo test --test anyconnect`) does not, so the first use
//! here asks cargo (the one running the tests, `$CARGO`) to build it: a no-op when it is fresh,
//! and never a stale binary from an earlier build.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const SIM_NAME: &str = "vpncli-sim";
/// The stand-in for SonicWall's `startct` (tests/sim/startct_sim.rs), built the same way.
pub const STARTCT_SIM_NAME: &str = "startct-sim";

/// The path of the freshly built simulator. Panics with what to do when it cannot be built.
pub fn vpncli_sim() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build(SIM_NAME))
}

/// The path of the freshly built `startct` simulator.
pub fn startct_sim() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build(STARTCT_SIM_NAME))
}

fn build(name: &str) -> PathBuf {
    let mut cargo = escargot::CargoBuild::new();
    // Cargo gives the test process the package's variables (CARGO_PKG_NAME, …). Build scripts
    // that watch them (ring's) would see them "changed" and rebuild, and the next `cargo test`
    // rebuild again: the nested cargo gets the environment the outer one had.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_EXE_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&k.as_ref())
        {
            cargo = cargo.env_remove(k.as_ref());
        }
    }
    let built = cargo
        .example(name)
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .current_release()
        // The packages are already there (the tests were built from them): never the network.
        .arg("--offline")
        .run();
    match built {
        Ok(run) => run.path().to_path_buf(),
        Err(e) => {
            // A test binary started by hand (not by cargo, e.g. as another user without a
            // toolchain) uses the simulator that `cargo test` built next to it.
            let beside = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.join("examples").join(name)));
            match beside {
                Some(p) if std::env::var_os("CARGO").is_none() && p.is_file() => p,
                _ => panic!(
                    "cannot build the {name} example ({e}); build it with \
                     `cargo build --example {name}` or run the plain `cargo test`"
                ),
            }
        }
    }
}
