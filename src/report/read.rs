//! The report's input: the rows of every datalog file given, merged into one stream in time
//! order, each check interned once. Rows are handed on one at a time and never kept, so memory
//! depends on the number of checks (and files), not on the number of rows. Reading a file (any
//! format, bad lines skipped and named, long lines and garbage bounded) is
//! `crate::datalog::read`'s.

use crate::datalog::read::{FileReader, ReadError, Reader, Skipped};
use crate::datalog::DatalogRow;
use crate::record::{CheckId, Test, Verdict};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

trait Is {
    /// This check is the row's.
    fn is(&self, r: &DatalogRow<'_>) -> bool;
}

impl Is for CheckId {
    fn is(&self, r: &DatalogRow<'_>) -> bool {
        self.test == r.test
            && self.address == r.address
            && self.name == r.name
            && self.site == r.site
    }
}

/// One row of a datalog, compact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Naive local time in seconds (see [`crate::datalog::read::to_naive`]).
    pub t: i64,
    pub cycle: u64,
    /// Index into [`Checks::list`].
    pub check: u32,
    pub verdict: Verdict,
    /// Round-trip times in ms, NaN when unknown.
    pub rtt_min: f32,
    pub rtt_avg: f32,
    pub rtt_max: f32,
    /// The time a `VPN open` or `VPN close` that did not fail took, in ms; NaN otherwise (a
    /// failed open's time is its timeout, not the client's speed).
    pub time: f32,
    /// The RTTs' standard deviation in ms and the loss in percent, NaN when unknown (the
    /// original format, and rows written before issue 14).
    pub rtt_std: f32,
    pub loss_pct: f32,
    /// Why the check was not Good: an index into [`Checks::reasons`] (0: none given, or one of
    /// more than [`MAX_REASONS`] distinct reasons).
    pub reason: u32,
}

/// Distinct reasons remembered at most (they label the timeline's tooltips); a history with
/// more (a reason quoting changing numbers) shows the first ones only, so memory stays bounded.
pub const MAX_REASONS: usize = 4096;

/// Every check seen, each once, numbered in the order they first appeared.
#[derive(Debug, Default, Clone)]
pub struct Checks {
    pub list: Vec<CheckId>,
    index: HashMap<String, u32>,
    keybuf: String,
    /// The check of the last row, and per check the one that followed it last time: a cycle
    /// writes its checks in the same order as the one before, so this nearly always names the
    /// next row's check without a lookup.
    last: u32,
    next: Vec<u32>,
    /// Every distinct reason seen (up to [`MAX_REASONS`]); index 0 is the empty one.
    pub reasons: Vec<String>,
    reason_index: HashMap<String, u32>,
}

impl Checks {
    fn index_of(&mut self, r: &DatalogRow<'_>) -> u32 {
        let guess = self.next.get(self.last as usize).copied();
        let i = match guess {
            Some(g) if self.list[g as usize].is(r) => g,
            _ => self.look_up(r),
        };
        if let Some(n) = self.next.get_mut(self.last as usize) {
            *n = i;
        }
        self.last = i;
        i
    }

    fn look_up(&mut self, r: &DatalogRow<'_>) -> u32 {
        self.keybuf.clear();
        self.keybuf.push_str(r.test.as_str());
        self.keybuf.push('\0');
        self.keybuf.push_str(r.address);
        self.keybuf.push('\0');
        self.keybuf.push_str(r.name);
        self.keybuf.push('\0');
        self.keybuf.push_str(r.site);
        if let Some(&i) = self.index.get(self.keybuf.as_str()) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(CheckId {
            test: r.test,
            address: r.address.to_string(),
            name: r.name.to_string(),
            site: r.site.to_string(),
        });
        self.index.insert(self.keybuf.clone(), i);
        self.next.push(i);
        i
    }

    fn reason_of(&mut self, reason: &str) -> u32 {
        let reason = reason.trim();
        if reason.is_empty() {
            return 0;
        }
        if let Some(&i) = self.reason_index.get(reason) {
            return i;
        }
        if self.reasons.is_empty() {
            self.reasons.push(String::new());
        }
        if self.reasons.len() > MAX_REASONS {
            return 0;
        }
        let i = self.reasons.len() as u32;
        self.reasons.push(reason.to_string());
        self.reason_index.insert(reason.to_string(), i);
        i
    }

    /// The reason a row's index stands for ("" for none).
    pub fn reason(&self, i: u32) -> &str {
        self.reasons.get(i as usize).map_or("", String::as_str)
    }

    /// The compact row of a row read.
    pub fn row(&mut self, r: DatalogRow<'_>) -> Row {
        let nan = |v: Option<f32>| v.unwrap_or(f32::NAN);
        let reason = self.reason_of(r.reason);
        Row {
            t: r.t,
            cycle: r.cycle,
            check: self.index_of(&r),
            verdict: r.verdict,
            rtt_min: nan(r.rtt_min_ms),
            rtt_avg: nan(r.rtt_avg_ms),
            rtt_max: nan(r.rtt_max_ms),
            time: match (r.test, r.verdict) {
                (Test::VpnOpen | Test::VpnClose, Verdict::Good | Verdict::Warn) => {
                    nan(r.duration_ms)
                }
                _ => f32::NAN,
            },
            rtt_std: nan(r.rtt_std_ms),
            loss_pct: nan(r.loss_pct),
            reason,
        }
    }
}

/// What one reading of the files found besides the rows.
#[derive(Debug)]
pub struct Pass {
    /// Per file, in the order given: the lines skipped, for the warning.
    pub skipped: Vec<Skipped>,
    /// Per file, in the order given: the bytes read (a second reading reads only these, so a
    /// datalog still being appended to reads the same both times).
    pub bytes: Vec<u64>,
}

/// One open file of the merge and its next row.
struct Source {
    file: usize,
    reader: FileReader,
    head: Option<Row>,
}

impl Source {
    fn advance(&mut self, lines: &mut Reader, checks: &mut Checks) -> Result<(), ReadError> {
        let mut got = None;
        self.reader
            .next_row(lines, &mut |d| got = Some(checks.row(d)))?;
        self.head = got;
        Ok(())
    }
}

/// Tells a row read twice from different datalogs (overlapping copies) from distinct rows. Rows arrive in time order, so copies of a row arrive within the same second:
/// only the rows of the current second are remembered. Rows of one file are never copies of
/// each other: equal rows within a file are different runs (a restarted vpnmon numbers its
/// cycles from 1 again, and may do so within the same second).
#[derive(Default)]
struct Copies {
    t: i64,
    /// (cycle, check, result, RTT bits) → the datalog (chain of pieces) that gave it first.
    seen: HashMap<(u64, u32, u8, [u32; 3]), usize>,
}

impl Copies {
    fn is_copy(&mut self, r: &Row, chain: usize) -> bool {
        if r.t != self.t {
            self.seen.clear();
            self.t = r.t;
        }
        let key = (
            r.cycle,
            r.check,
            r.verdict as u8,
            [
                r.rtt_min.to_bits(),
                r.rtt_avg.to_bits(),
                r.rtt_max.to_bits(),
            ],
        );
        *self.seen.entry(key).or_insert(chain) != chain
    }
}

/// Which datalog each file is a piece of: rotated pieces (`d.csv`, `d.csv.1`, `d.csv.2`) and
/// daily files (`d-2022-09-07.csv`) of one datalog share a number. Pieces of one datalog never
/// hold the same row twice (each cycle was written once), so equal rows in them are different
/// runs (restarts within one second); only rows of another datalog can be copies.
fn chains_of(files: &[PathBuf]) -> Vec<usize> {
    let mut ids: HashMap<PathBuf, usize> = HashMap::new();
    files
        .iter()
        .map(|f| {
            let n = ids.len();
            *ids.entry(chain_name(f)).or_insert(n)
        })
        .collect()
}

/// The datalog a file is a piece of: its folder and its name without a rotation number
/// (`.N`) or a day (`-YYYY-MM-DD` before the extension).
fn chain_name(f: &Path) -> PathBuf {
    let dir = f
        .parent()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()))
        .unwrap_or_default();
    let mut name = f
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some((base, n)) = name.rsplit_once('.') {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            name = base.to_string();
        }
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((st, e)) => (st.to_string(), format!(".{e}")),
        None => (name.clone(), String::new()),
    };
    let day = day_suffix_len(&stem);
    dir.join(format!("{}{ext}", &stem[..stem.len() - day]))
}

/// The length of a `-YYYY-MM-DD` suffix of `stem` (0 when it has none).
fn day_suffix_len(stem: &str) -> usize {
    let b = stem.as_bytes();
    if b.len() < 11 {
        return 0;
    }
    let tail = &b[b.len() - 11..];
    let digits = |r: std::ops::Range<usize>| tail[r].iter().all(u8::is_ascii_digit);
    if tail[0] == b'-'
        && digits(1..5)
        && tail[5] == b'-'
        && digits(6..8)
        && tail[8] == b'-'
        && digits(9..11)
    {
        11
    } else {
        0
    }
}

/// The time of a file's first row (`None`: it has none), reading no further than that row.
fn first_time(path: &Path, limit: Option<u64>) -> Result<Option<i64>, ReadError> {
    let mut r = FileReader::open(path, limit)?;
    let mut t = None;
    if r.next_row(&mut Reader::new(), &mut |d| t = Some(d.t))? {
        return Ok(t);
    }
    // No row at all: an error unless the file is empty, blank or only a header.
    r.finish().map(|_| None)
}

/// Reads `files` as one history: every row, in time order across the files (each file in its
/// own order), goes to `each`; a row that another file already gave (the same second, cycle,
/// check, result and RTTs) is read once. A file is opened only when the merge reaches the time
/// of its first row, so rotated pieces or daily files are read one after the other. With
/// `limits`, each file is read only up to that many bytes (see [`Pass::bytes`]).
pub fn stream(
    files: &[PathBuf],
    limits: Option<&[u64]>,
    checks: &mut Checks,
    mut each: impl FnMut(&Row),
) -> Result<Pass, ReadError> {
    let limit = |i: usize| limits.and_then(|l| l.get(i).copied());
    let chains = chains_of(files);
    // (first row's time, file), popped from the end: the earliest first. A file given twice
    // (the same path, or a link to it) is read once.
    let mut pending = Vec::with_capacity(files.len());
    let mut seen_paths = std::collections::HashSet::new();
    for (i, f) in files.iter().enumerate() {
        let real = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        if !seen_paths.insert(real) {
            continue;
        }
        pending.push((first_time(f, limit(i))?.unwrap_or(i64::MIN), i));
    }
    pending.sort_by(|a, b| b.cmp(a));
    let mut skipped: Vec<Option<Skipped>> = files.iter().map(|_| None).collect();
    let mut bytes = vec![0; files.len()];
    let mut lines = Reader::new();
    let mut active: Vec<Source> = Vec::new();
    let mut copies = Copies::default();
    let several = files.len() > 1;
    loop {
        // Open every file whose first row is no later than the earliest row of the open ones.
        loop {
            let earliest = active.iter().filter_map(|s| s.head.map(|h| h.t)).min();
            match pending.last() {
                Some(&(t, i)) if earliest.is_none_or(|e| t <= e) => {
                    pending.pop();
                    let mut s = Source {
                        file: i,
                        reader: FileReader::open(&files[i], limit(i))?,
                        head: None,
                    };
                    s.advance(&mut lines, checks)?;
                    active.push(s);
                }
                _ => break,
            }
            // A file without rows is done at once.
            if let Some(k) = active.iter().position(|s| s.head.is_none()) {
                let s = active.swap_remove(k);
                bytes[s.file] = s.reader.bytes();
                skipped[s.file] = Some(s.reader.finish()?);
            }
        }
        // The earliest row; between files at the same time, the file given first.
        let Some(k) = active
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.head.map(|h| ((h.t, s.file), k)))
            .min()
            .map(|(_, k)| k)
        else {
            break;
        };
        let s = &mut active[k];
        if let Some(row) = s.head {
            if !(several && copies.is_copy(&row, chains[s.file])) {
                each(&row);
            }
        }
        s.advance(&mut lines, checks)?;
        if s.head.is_none() {
            let s = active.swap_remove(k);
            bytes[s.file] = s.reader.bytes();
            skipped[s.file] = Some(s.reader.finish()?);
        }
    }
    Ok(Pass {
        skipped: skipped.into_iter().flatten().collect(),
        bytes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::datalog::read::from_naive;

    /// The rows of datalog files with these contents, as the report reads them.
    pub(crate) fn read_texts(texts: &[&str]) -> Result<(Checks, Vec<Row>, Pass), ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = dir.path().join(format!("d{i}.csv"));
                std::fs::write(&p, t).unwrap();
                p
            })
            .collect();
        let mut checks = Checks::default();
        let mut rows = Vec::new();
        let pass = stream(&files, None, &mut checks, |r| rows.push(*r))?;
        Ok((checks, rows, pass))
    }

    #[test]
    fn reads_all_formats_alike() {
        let (checks, rows, _) = read_texts(&[
            "\u{FEFF}1,2022/09/07,18:20:33,VPN ping,Good,gw.example,VPN Gateway\r\n",
            "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason\n2,2022/09/07,18:50:33,Target ping,Warn,10.0.0.1,\"Rack 1, left\",1002,2,1,1.5,2.5,3.5,\"1 of 2, lost\"\n",
            "{\"cycle\":3,\"time\":\"2022-09-07T19:20:33+02:00\",\"test\":\"Target ping\",\"result\":\"Fail\",\"address\":\"10.0.0.1\",\"name\":\"Rack 1, left\",\"duration_ms\":2000.0,\"sent\":2,\"received\":0,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":\"no reply\"}\n",
        ])
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(checks.list.len(), 2);
        assert_eq!(checks.list[1].name, "Rack 1, left");
        assert_eq!(rows[1].check, rows[2].check);
        assert_eq!(rows[1].rtt_avg, 2.5);
        assert!(rows[2].rtt_avg.is_nan());
        assert_eq!(rows[2].t - rows[0].t, 3600);
        assert_eq!(from_naive(rows[0].t).to_string(), "2022-09-07 18:20:33");
    }

    #[test]
    fn files_merge_in_time_order_and_copies_count_once() {
        let b =
            "1,2022/09/07,19:00:00,VPN ping,Good,a,b\n1,2022/09/07,19:00:00,VPN ping,Fail,a,b\n";
        let a = "1,2022/09/07,18:00:00,VPN ping,Good,a,b\n";
        let (_, rows, pass) = read_texts(&[b, a, b]).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.windows(2).all(|w| w[0].t <= w[1].t));
        assert_eq!(pass.bytes, [b.len() as u64, a.len() as u64, b.len() as u64]);
    }

    /// A restarted vpnmon numbers its cycles from 1 again, possibly within the same second as
    /// the run before (killed, restarted at once): its rows are rows of their own, not copies.
    #[test]
    fn equal_rows_of_different_runs_in_one_file_all_count() {
        let run = "1,2022/09/07,19:00:00,VPN ping,Good,a,b\n\
                   1,2022/09/07,19:00:00,Target ping,Good,10.0.0.1,t\n";
        let text = run.repeat(5);
        let (_, rows, _) = read_texts(&[&text]).unwrap();
        assert_eq!(rows.len(), 10);
        // The same file given twice: its rows once.
        let (_, rows, _) = read_texts(&[&text, &text]).unwrap();
        assert_eq!(rows.len(), 10);
    }

    /// Rotated pieces of one datalog (and daily files) never hold a row twice: equal rows in
    /// them are runs restarted within one second, and all count. A copy of the same rows in
    /// another datalog (a backup) counts once; the same file given twice is read once.
    #[test]
    fn rotated_pieces_are_one_datalog_and_only_other_datalogs_hold_copies() {
        let run = "1,2022/09/07,19:00:00,VPN ping,Good,a,b\n\
                   1,2022/09/07,19:00:00,Target ping,Good,10.0.0.1,t\n";
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = [
            "d.csv.2",
            "d.csv.1",
            "d.csv",
            "d-2022-09-07.csv",
            "backup.csv",
        ]
        .iter()
        .map(|n| {
            let p = dir.path().join(n);
            std::fs::write(&p, run).unwrap();
            p
        })
        .collect();
        let count = |files: &[PathBuf]| {
            let mut checks = Checks::default();
            let mut n = 0;
            stream(files, None, &mut checks, |_| n += 1).unwrap();
            n
        };
        assert_eq!(count(&files[..3]), 6, "three pieces of one datalog");
        assert_eq!(count(&files[..4]), 8, "a daily file of the same datalog");
        assert_eq!(count(&files), 8, "a backup holds copies");
        let twice = [files[0].clone(), files[0].clone(), files[1].clone()];
        assert_eq!(count(&twice), 4, "a file given twice is read once");
        assert_eq!(chain_name(&files[0]), chain_name(&files[3]));
        assert_ne!(chain_name(&files[0]), chain_name(&files[4]));
    }

    #[test]
    fn a_file_with_no_readable_line_is_an_error_naming_file_and_line() {
        let e = read_texts(&["\nhello\nworld,2\n"]).unwrap_err().to_string();
        assert!(
            e.contains(
                "d0.csv:2: 1 columns, expected 7, 14, 15, 17 or 18; is this a vpnmon datalog"
            ),
            "{e}"
        );
        let e = read_texts(&["1,2022/13/07,18:20:33,VPN ping,Good,a,b\n"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad date/time"), "{e}");
        // Blank lines alone, or nothing at all, are an empty history, not an error.
        let (_, rows, pass) = read_texts(&["\n\n", ""]).unwrap();
        assert!(rows.is_empty());
        assert_eq!(pass.skipped.iter().map(|s| s.count).sum::<usize>(), 0);
    }

    /// The warning lines of reading one file with this content (the file named `d.csv`) and
    /// the cycle numbers of its rows.
    fn warnings_and_cycles(text: &str) -> (Vec<String>, Vec<u64>) {
        let (_, rows, pass) = read_texts(&[text]).unwrap();
        let dir = pass.skipped[0].path.parent().unwrap().to_path_buf();
        let w = pass.skipped[0]
            .warning()
            .iter()
            .map(|l| l.replace(&format!("{}/d0.csv", dir.display()), "d.csv"))
            .collect();
        (w, rows.iter().map(|r| r.cycle).collect())
    }

    /// Lines cut off (a power loss mid-write, the next row appended to the cut one) or edited
    /// are skipped, counted and named; every good line around them is read.
    #[test]
    fn bad_lines_are_skipped_and_named_when_others_read() {
        let good = |c: u32| format!("{c},2022/09/07,18:{c:02}:33,VPN ping,Good,gw,G\n");
        let mut text = good(1);
        text.push_str("2,2022/09/07,18:0"); // cut off, then the next row on the same line
        text.push_str(&good(3));
        text.push_str("{\"cycle\":4,\"time\":\"2022-09-07T18:");
        text.push('\n');
        text.push_str(&good(5));
        text.push_str("hello\n");
        text.push_str("6,2022/09/07,18:40:00,VPN ping,Perfect,gw,G\n");
        text.push_str(&good(7));
        text.push_str("7,2022/09/07,18:5"); // the last line, cut off
        let (w, cycles) = warnings_and_cycles(&text);
        assert_eq!(cycles, [1, 5, 7]);
        assert_eq!(w.len(), 4, "{w:?}");
        assert_eq!(
            w[0],
            "d.csv:2: skipped: 9 columns, expected 7, 14, 15, 17 or 18"
        );
        assert!(w[1].starts_with("d.csv:3: skipped: bad JSON: "), "{w:?}");
        assert_eq!(
            w[2],
            "d.csv:5: skipped: 1 columns, expected 7, 14, 15, 17 or 18"
        );
        assert_eq!(w[3], "d.csv: 2 more bad lines skipped (5 in all)");
        // A file without bad lines warns nothing.
        assert!(warnings_and_cycles(&good(9)).0.is_empty());
        // An extended file cut off in its first row after the header: its header was read.
        let (w, _) = warnings_and_cycles(&format!(
            "{}test,result\n1,2022/0",
            crate::datalog::schema::HEADER_START
        ));
        assert_eq!(w, ["d.csv:2: skipped: no line end, the row was cut off"]);
        // A last line cut where what is left still reads as a row (the name cut short).
        let (w, cycles) =
            warnings_and_cycles(&(good(10) + "11,2022/09/07,18:50:00,VPN ping,Good,gw,Gate"));
        assert_eq!(w, ["d.csv:2: skipped: no line end, the row was cut off"]);
        assert_eq!(cycles, [10]);
    }

    /// A jsonl time with non-ASCII characters where the date and time are expected is a bad
    /// time, not a panic (byte slicing inside a character).
    #[test]
    fn a_non_ascii_json_time_is_a_bad_time() {
        for time in [
            "2022-09-07é8:20:47+02:00",
            "2022-09-0éT18:20:47",
            "2022-09-07T18:20:4é",
            "ééééééééééé",
        ] {
            let line = format!("{{\"cycle\":3,\"time\":\"{time}\",\"test\":\"VPN ping\",\"result\":\"Good\",\"address\":\"a\",\"name\":\"b\",\"duration_ms\":null,\"sent\":null,\"received\":null,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":null}}\n");
            let e = read_texts(&[&line]).unwrap_err().to_string();
            assert!(
                e.contains(&format!("d0.csv:1: bad time `{time}` (expected ISO 8601)")),
                "{e}"
            );
        }
    }

    /// A line longer than [`MAX_LINE`] is skipped with a warning and never held whole; the rows
    /// around it are read.
    #[test]
    fn a_long_line_is_skipped_with_a_warning() {
        use crate::datalog::read::MAX_LINE;
        let good = |c: u32| format!("{c},2022/09/07,18:{c:02}:33,VPN ping,Good,gw,G\n");
        let long = "x".repeat(3 * MAX_LINE + 5);
        let text = format!("{}{long}\n{}", good(1), good(2));
        let (w, cycles) = warnings_and_cycles(&text);
        assert_eq!(cycles, [1, 2]);
        assert_eq!(
            w,
            [format!(
                "d.csv:2: skipped: a line of {} bytes, longer than a row can be (65536 bytes at most)",
                long.len() + 1
            )]
        );
        // A row of exactly the longest length is read.
        let name = "n".repeat(MAX_LINE - good(3).len());
        let row = good(3).replace(",G\n", &format!(",G{name}\n"));
        assert_eq!(row.len(), MAX_LINE);
        let (w, cycles) = warnings_and_cycles(&row);
        assert_eq!((w.len(), cycles), (0, vec![3]));
        // One byte more is too long (and alone in the file, the file is no datalog).
        let row = good(3).replace(",G\n", &format!(",GG{name}\n"));
        let e = read_texts(&[&row]).unwrap_err().to_string();
        assert!(e.contains("d0.csv:1: a line of 65537 bytes"), "{e}");
    }

    /// Random bytes are rejected after the first [`GARBAGE_LINES`] unreadable lines, in one
    /// line naming the file and the count; garbage after good rows is only skipped.
    #[test]
    fn garbage_is_rejected_after_the_first_thousand_bad_lines() {
        use crate::datalog::read::GARBAGE_LINES;
        assert_eq!(GARBAGE_LINES, 1000);
        let junk = "\u{1}garbage, not a row\n\n".repeat(5000);
        let e = read_texts(&[&junk]).unwrap_err();
        let dir = match &e {
            ReadError::Garbage { path, lines } => {
                assert_eq!(*lines, 1000);
                path.parent().unwrap().to_path_buf()
            }
            e => panic!("{e}"),
        };
        assert_eq!(
            e.to_string(),
            format!(
                "{}/d0.csv: its first 1000 non-blank lines are all unreadable (not one datalog \
row), so it was not read further; is this a vpnmon datalog (vpnmon, extended or jsonl format)?",
                dir.display()
            )
        );
        // 999 bad lines and then a row: a datalog with 999 bad lines.
        let text = "junk\n".repeat(999) + "1,2022/09/07,18:00:33,VPN ping,Good,gw,G\n";
        let (w, cycles) = warnings_and_cycles(&text);
        assert_eq!(cycles, [1]);
        assert_eq!(
            w.last().unwrap(),
            "d.csv: 996 more bad lines skipped (999 in all)"
        );
        // Garbage after a row is skipped, however much of it.
        let text = "1,2022/09/07,18:00:33,VPN ping,Good,gw,G\n".to_string() + &junk;
        let (w, cycles) = warnings_and_cycles(&text);
        assert_eq!(cycles, [1]);
        assert_eq!(
            w.last().unwrap(),
            "d.csv: 4997 more bad lines skipped (5000 in all)"
        );
    }
}
