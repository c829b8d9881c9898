//! The datalog's journal: before a cycle's bytes are appended, they are written, with the
//! file's length before them, to a small file next to the datalog (`<datalog>.journal`) and
//! synced. Then the datalog is appended and synced, and the journal removed. A journal found
//! later means the append may have been cut (a kill, a power loss): the datalog is rolled back
//! to the recorded length and the journaled bytes appended again, which is the same whether
//! the append had not begun, was cut, or had finished. A journal that is itself cut short (its
//! length or checksum does not match) was never followed by an append and is discarded.
//!
//! Layout, one header line then the bytes:
//! `vpnmon-journal 1 <target> <offset> <first-cycle> <last-cycle> <rows> <len> <crc32>\n<bytes>`
//! where `<target>` is `live` (the datalog's own name) or a date `YYYY-MM-DD` (the day's file
//! of a daily datalog) and the CRC-32 covers the header fields before it and the bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "vpnmon-journal 1";

/// Which file a journaled append goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The datalog's own path.
    Live,
    /// A daily datalog's file of that date (`YYYY-MM-DD`).
    Day(String),
}

/// One journaled append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub target: Target,
    /// The file's length before the append.
    pub offset: u64,
    /// The cycles and rows the bytes hold (for messages).
    pub first_cycle: u64,
    pub last_cycle: u64,
    pub rows: usize,
    pub bytes: Vec<u8>,
}

/// The journal of the datalog `base` (`vpnmon_datalog.csv.journal`).
pub fn journal_path(base: &Path) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(".journal");
    PathBuf::from(s)
}

fn fields(e: &Entry) -> String {
    let target = match &e.target {
        Target::Live => "live",
        Target::Day(d) => d.as_str(),
    };
    format!(
        "{MAGIC} {target} {} {} {} {} {}",
        e.offset,
        e.first_cycle,
        e.last_cycle,
        e.rows,
        e.bytes.len()
    )
}

fn crc(head: &str, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head.as_bytes());
    h.update(bytes);
    h.finalize()
}

/// The journal file's contents for `e`.
pub fn encode(e: &Entry) -> Vec<u8> {
    let mut out = head_line(e).into_bytes();
    out.extend_from_slice(&e.bytes);
    out
}

/// The header line of `e`'s journal, which its bytes follow.
fn head_line(e: &Entry) -> String {
    let head = fields(e);
    format!("{head} {:08x}\n", crc(&head, &e.bytes))
}

/// The entry in a journal file's contents, or `None` when it is cut short or damaged.
pub fn decode(raw: &[u8]) -> Option<Entry> {
    let nl = raw.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&raw[..nl]).ok()?;
    let bytes = &raw[nl + 1..];
    let rest = head.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let f: Vec<&str> = rest.split(' ').collect();
    let [target, offset, first, last, rows, len, sum] = f.as_slice() else {
        return None;
    };
    let len: usize = len.parse().ok()?;
    if bytes.len() != len {
        return None;
    }
    let checked = &head[..head.len() - sum.len() - 1];
    if *sum != format!("{:08x}", crc(checked, bytes)) {
        return None;
    }
    let target = match *target {
        "live" => Target::Live,
        d if d.len() == 10 && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => {
            Target::Day(d.to_string())
        }
        _ => return None,
    };
    Some(Entry {
        target,
        offset: offset.parse().ok()?,
        first_cycle: first.parse().ok()?,
        last_cycle: last.parse().ok()?,
        rows: rows.parse().ok()?,
        bytes: bytes.to_vec(),
    })
}

/// Writes the journal at `path` and syncs it and its folder, so it survives a power loss
/// before the datalog is touched.
pub fn write(path: &Path, e: &Entry) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    // `encode`'s contents, written as two parts rather than copied into one (a large cycle's
    // bytes are megabytes).
    f.write_all(head_line(e).as_bytes())?;
    f.write_all(&e.bytes)?;
    f.sync_all()?;
    sync_dir(path)
}

/// What a journal file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    None,
    /// Cut short by a kill while it was written: its append never began.
    Torn,
    Entry(Entry),
}

/// Reads the journal at `path`. Nothing there, or an empty file (created, nothing written yet:
/// the start-up check's probe, or a kill right after the create), is [`Found::None`].
pub fn read(path: &Path) -> std::io::Result<Found> {
    match std::fs::read(path) {
        Ok(raw) if raw.is_empty() => Ok(Found::None),
        Ok(raw) => Ok(decode(&raw).map_or(Found::Torn, Found::Entry)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::None),
        Err(e) => Err(e),
    }
}

/// Removes the journal (nothing there is fine).
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Syncs the folder holding `path`, so a file just created there (or renamed into it) is
/// still there after a power loss. Folders cannot be opened for syncing on Windows, where
/// NTFS journals its metadata itself.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            target: Target::Day("2026-12-01".into()),
            offset: 4096,
            first_cycle: 48,
            last_cycle: 49,
            rows: 2,
            bytes: b"48,a\n49,b\n".to_vec(),
        }
    }

    #[test]
    fn an_entry_reads_back_and_every_cut_or_change_is_torn() {
        let raw = encode(&entry());
        assert_eq!(decode(&raw), Some(entry()));
        let live = Entry {
            target: Target::Live,
            ..entry()
        };
        assert_eq!(decode(&encode(&live)), Some(live));
        // A kill can stop the journal's write after any byte.
        for cut in 0..raw.len() {
            assert_eq!(decode(&raw[..cut]), None, "cut at {cut}");
        }
        // A power loss can leave zeros or old bytes in place of what was written.
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x20;
            assert_eq!(decode(&bad), None, "byte {i} changed");
        }
        let mut longer = raw.clone();
        longer.push(b'x');
        assert_eq!(decode(&longer), None);
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let p = journal_path(&dir.path().join("d.csv"));
        assert!(p.ends_with("d.csv.journal"));
        assert_eq!(read(&p).unwrap(), Found::None);
        write(&p, &entry()).unwrap();
        assert_eq!(read(&p).unwrap(), Found::Entry(entry()));
        std::fs::write(&p, &encode(&entry())[..10]).unwrap();
        assert_eq!(read(&p).unwrap(), Found::Torn);
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert_eq!(read(&p).unwrap(), Found::None);
    }
}
