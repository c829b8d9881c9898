//! The thin binary: parse, run, exit code.

fn main() {
    let code = vpnmon::run::main_with_args(std::env::args_os().collect());
    std::process::exit(code);
}
