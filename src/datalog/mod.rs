//! The datalog: the one owner of its row schema, both ways. It writes one CSV row per test,
//! `cycle,YYYY/MM/DD,HH:MM:SS,test,result,address,name`, no header, appended, and reads every
//! format it writes back for `vpnmon report`.
//!
//! - [`schema`]: the columns and formats (the original `vpnmon`, byte-identical; `extended` with a
//!   header and timing/echo columns; `jsonl`, whose objects `--json` prints too), and vpnmon's
//!   CSV dialect (the `csv` crate, quoting as Python's csv module does).
//! - [`read`]: any format (also mixed, line by line) back into rows, skipping and naming the
//!   lines that cannot be read.
//! - [`rotate`]: new files by size (keeping N old ones) and/or per local day.
//! - [`writer`]: a cycle's rows in one write, flushed and synced, on a thread that owns the
//!   file; a file held busy by another program is retried, and a stop ends the wait at once.

pub mod journal;
pub mod read;
pub mod rotate;
pub mod schema;
pub mod writer;

pub use read::{DatalogRow, ReadError, Skipped};
pub use rotate::{Clock, Rotation, SystemClock};
pub use schema::{
    format_extended_row, format_json_row, format_record, format_row, quote, JsonRecord,
    EXTENDED_HEADER,
};
pub use writer::{DatalogError, DatalogWriter, Ends, Lost, Problem};

use std::path::PathBuf;

/// The datalog's row format (`--datalog-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DatalogFormat {
    /// The original's 7 columns, no header (the default; downstream scripts rely on it).
    #[default]
    Vpnmon,
    /// A header line, the original columns, then timings, echo counts, RTTs and the reason.
    Extended,
    /// One JSON object per record, ISO 8601 timestamps with the UTC offset.
    Jsonl,
    /// EpMonitoring's result file: `Time,CPE Name,Summary,Stage 1 in ms,Stage 2 in ms,Stage 3
    /// in ms`, one row per site per cycle; with daily rotation, a file per UTC day.
    Epmon,
}

/// When to start a new datalog file besides the size limit (`--datalog-rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RotateEvery {
    /// One file per local day, the date in its name (`vpnmon_datalog-2026-11-22.csv`).
    Daily,
}

/// Default for `--datalog-keep`.
pub const DEFAULT_KEEP: u32 = 5;
/// Default for `--datalog`.
pub const DEFAULT_DATALOG: &str = "vpnmon_datalog.csv";

/// The datalog's resolved configuration (built by `settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatalogConfig {
    pub path: PathBuf,
    pub format: DatalogFormat,
    pub rotation: Rotation,
}

impl Default for DatalogConfig {
    fn default() -> Self {
        DatalogConfig {
            path: PathBuf::from(DEFAULT_DATALOG),
            format: DatalogFormat::default(),
            rotation: Rotation {
                max_size: None,
                keep: DEFAULT_KEEP,
                daily: false,
            },
        }
    }
}

/// Parses a size such as `10MB`, `512KB`, `1GB`, `5000` (bytes); K/M/G are powers of 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("expected a size such as 10MB, 512KB or 1GB, not `{s}`");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size(" 1 GB"), Ok(1 << 30));
        assert_eq!(parse_size("5000"), Ok(5000));
        assert!(parse_size("10 parsecs").unwrap_err().contains("10MB"));
        assert!(parse_size("0").is_err());
    }
}

/// The placeholder in the datalog's path that gives one file per site.
pub const SITE_PLACEHOLDER: &str = "{site}";

/// The datalog's path holds `{site}`: one file per site.
pub fn per_site(path: &std::path::Path) -> bool {
    path.to_string_lossy().contains(SITE_PLACEHOLDER)
}

/// `path` with `{site}` replaced by the site's name made safe as part of a file name: path
/// separators, `:` and control characters become `_` (a name never climbs out of the folder).
pub fn site_path(path: &std::path::Path, site: &str) -> PathBuf {
    let safe: String = site
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let safe = match safe.trim() {
        "" | "." | ".." => "_".to_string(),
        s => s.to_string(),
    };
    PathBuf::from(path.to_string_lossy().replace(SITE_PLACEHOLDER, &safe))
}

#[cfg(test)]
mod site_path_tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_site_name_never_leaves_the_folder() {
        let p = Path::new("logs/vpnmon_{site}.csv");
        assert!(per_site(p));
        assert!(!per_site(Path::new("logs/vpnmon.csv")));
        assert_eq!(site_path(p, "East"), Path::new("logs/vpnmon_East.csv"));
        assert_eq!(site_path(p, "a/../b"), Path::new("logs/vpnmon_a_.._b.csv"));
        assert_eq!(site_path(p, ".."), Path::new("logs/vpnmon__.csv"));
        assert_eq!(
            site_path(p, "x\u{1b}y:z"),
            Path::new("logs/vpnmon_x_y_z.csv")
        );
    }
}
