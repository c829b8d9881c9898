//! vpnmon — monitors a facility's VPN gateway and the systems behind it.
//!
//! Data flows one way: `settings` → `monitor` → `cycle` (through `probe` and `vpn`) → `record`s
//! → `sinks`. See ARCHITECTURE in the project's shared notes and the README.
//!
//! `unsafe` is denied: the few places with no safe wrapper allow it locally, each with a
//! `SAFETY:` comment (see `platform`).

#![deny(unsafe_code)]

pub mod alert;
pub mod cli;
pub mod control;
pub mod cycle;
pub mod datalog;
pub mod error;
pub mod input;
pub mod millis;
pub mod monitor;
pub mod platform;
pub mod probe;
pub mod record;
pub mod report;
pub mod run;
pub mod service;
pub mod settings;
pub mod sinks;
pub mod targets;
pub mod text;
pub mod tui;
pub mod vitals;
pub mod vpn;

#[cfg(test)]
mod test_skip;
