//! `--log-file`: vpnmon's own diagnostics with timestamps and levels, through `tracing` (the
//! ecosystem's logging facade; its fmt layer writes one line per event) into `file-rotate`'s
//! size-rotating writer (FILE, FILE.1 newest … FILE.N; tracing-appender rotates by time only).
//! Rotation happens after the write that passed the size, so no line is ever split. The lines
//! come from `sinks::log`, which sees only what the console sees: the password never.

use super::LogConfig;
use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot open the log file {}: {}",
    crate::text::shown_path(path),
    crate::error::io_reason(source)
)]
pub struct LogFileError {
    path: std::path::PathBuf,
    #[source]
    source: std::io::Error,
}

/// Installs the global subscriber writing to the rotating file. Call once.
pub fn init(cfg: &LogConfig) -> Result<(), LogFileError> {
    // The file is opened here so that an unwritable path is a start-up error, not silence.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.path)
        .map_err(|source| LogFileError {
            path: cfg.path.clone(),
            source,
        })?;
    let writer = FileRotate::new(
        &cfg.path,
        AppendCount::new(cfg.keep as usize),
        ContentLimit::BytesSurpassed(cfg.max_size as usize),
        Compression::None,
        None,
    );
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Mutex::new(writer))
        .with_ansi(false)
        .with_target(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    // A second init (tests in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}
