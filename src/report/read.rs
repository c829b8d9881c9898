//! The report's history: every row of the datalogs read, compact, with each check interned once.
//! Reading the files (any format, bad lines skipped and named) is `crate::datalog::read`'s.

use crate::datalog::read::{ReadError, Reader, Skipped};
use crate::datalog::DatalogRow;
use crate::record::{CheckId, Verdict};
use std::collections::HashMap;
use std::path::Path;

/// One row of a datalog, compact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Naive local time in seconds (see [`crate::datalog::read::to_naive`]).
    pub t: i64,
    pub cycle: u64,
    /// Index into [`History::checks`].
    pub check: u32,
    pub verdict: Verdict,
    /// Round-trip times in ms, NaN when unknown.
    pub rtt_min: f32,
    pub rtt_avg: f32,
    pub rtt_max: f32,
}

/// Every row of the files read so far, in file order until [`History::sort`].
#[derive(Debug, Default)]
pub struct History {
    pub checks: Vec<CheckId>,
    pub rows: Vec<Row>,
    index: HashMap<String, u32>,
    keybuf: String,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    fn check_index(&mut self, r: &DatalogRow<'_>) -> u32 {
        self.keybuf.clear();
        self.keybuf.push_str(r.test.as_str());
        self.keybuf.push('\0');
        self.keybuf.push_str(r.address);
        self.keybuf.push('\0');
        self.keybuf.push_str(r.name);
        if let Some(&i) = self.index.get(self.keybuf.as_str()) {
            return i;
        }
        let i = self.checks.len() as u32;
        self.checks.push(CheckId {
            test: r.test,
            address: r.address.to_string(),
            name: r.name.to_string(),
        });
        self.index.insert(self.keybuf.clone(), i);
        i
    }

    fn push(&mut self, r: DatalogRow<'_>) {
        let check = self.check_index(&r);
        let nan = |v: Option<f32>| v.unwrap_or(f32::NAN);
        self.rows.push(Row {
            t: r.t,
            cycle: r.cycle,
            check,
            verdict: r.verdict,
            rtt_min: nan(r.rtt_min_ms),
            rtt_avg: nan(r.rtt_avg_ms),
            rtt_max: nan(r.rtt_max_ms),
        });
    }

    /// Reads one datalog file, any format (also mixed, line by line), streaming. Lines that
    /// cannot be read are skipped and returned for a warning, unless no line could be read.
    pub fn read_file(&mut self, path: &Path) -> Result<Skipped, ReadError> {
        Reader::new().read_file(path, |r| self.push(r))
    }

    /// Reads datalog text as [`History::read_file`] does; `path` only names it in messages.
    pub fn read_str(&mut self, path: &Path, text: &str) -> Result<Skipped, ReadError> {
        Reader::new().read_str(path, text, |r| self.push(r))
    }

    /// Puts the rows of all files in time order and drops exact duplicates (the same row read
    /// twice, e.g. from overlapping copies); distinct rows are all kept.
    pub fn sort(&mut self) {
        fn key(r: &Row) -> (i64, u64, u32, u8, u32, u32, u32) {
            (
                r.t,
                r.cycle,
                r.check,
                r.verdict as u8,
                r.rtt_min.to_bits(),
                r.rtt_avg.to_bits(),
                r.rtt_max.to_bits(),
            )
        }
        self.rows.sort_unstable_by_key(key);
        self.rows.dedup_by(|a, b| key(a) == key(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datalog::read::from_naive;
    use crate::datalog::schema::HEADER_START;

    #[test]
    fn reads_all_formats_alike() {
        let mut h = History::new();
        let p = Path::new("x");
        h.read_str(
            p,
            "\u{FEFF}1,2022/09/07,18:20:33,VPN ping,Good,gw.example,VPN Gateway\r\n",
        )
        .unwrap();
        h.read_str(p, "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason\n2,2022/09/07,18:50:33,Target ping,Warn,10.0.0.1,\"Rack 1, left\",1002,2,1,1.5,2.5,3.5,\"1 of 2, lost\"\n").unwrap();
        h.read_str(p, "{\"cycle\":3,\"time\":\"2022-09-07T19:20:33+02:00\",\"test\":\"Target ping\",\"result\":\"Fail\",\"address\":\"10.0.0.1\",\"name\":\"Rack 1, left\",\"duration_ms\":2000.0,\"sent\":2,\"received\":0,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":\"no reply\"}\n").unwrap();
        assert_eq!(h.rows.len(), 3);
        assert_eq!(h.checks.len(), 2);
        assert_eq!(h.checks[1].name, "Rack 1, left");
        assert_eq!(h.rows[1].check, h.rows[2].check);
        assert_eq!(h.rows[1].rtt_avg, 2.5);
        assert!(h.rows[2].rtt_avg.is_nan());
        assert_eq!(h.rows[2].t - h.rows[0].t, 3600);
        assert_eq!(from_naive(h.rows[0].t).to_string(), "2022-09-07 18:20:33");
    }

    #[test]
    fn a_file_with_no_readable_line_is_an_error_naming_file_and_line() {
        let mut h = History::new();
        let e = h
            .read_str(Path::new("d.csv"), "\nhello\nworld,2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("d.csv:2: 1 columns, expected 7 or 14; is this a vpnmon datalog"),
            "{e}"
        );
        let e = h
            .read_str(
                Path::new("d.csv"),
                "1,2022/13/07,18:20:33,VPN ping,Good,a,b\n",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad date/time"), "{e}");
        assert!(h.rows.is_empty());
        // Blank lines alone, or nothing at all, are an empty history, not an error.
        assert_eq!(h.read_str(Path::new("e"), "\n\n").unwrap().count, 0);
    }

    /// Lines cut off (a power loss mid-write, the next row appended to the cut one) or edited
    /// are skipped, counted and named; every good line around them is read.
    #[test]
    fn bad_lines_are_skipped_and_named_when_others_read() {
        let mut h = History::new();
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
        let s = h.read_str(Path::new("d.csv"), &text).unwrap();
        assert_eq!(h.rows.len(), 3);
        assert_eq!(
            h.rows.iter().map(|r| r.cycle).collect::<Vec<_>>(),
            [1, 5, 7]
        );
        assert_eq!(s.count, 5);
        let w = s.warning();
        assert_eq!(w.len(), 4, "{w:?}");
        assert_eq!(w[0], "d.csv:2: skipped: 9 columns, expected 7 or 14");
        assert!(w[1].starts_with("d.csv:3: skipped: bad JSON: "), "{w:?}");
        assert_eq!(w[2], "d.csv:5: skipped: 1 columns, expected 7 or 14");
        assert_eq!(w[3], "d.csv: 2 more bad lines skipped (5 in all)");
        // A file without bad lines warns nothing.
        assert!(h
            .read_str(Path::new("x"), &good(9))
            .unwrap()
            .warning()
            .is_empty());
        // An extended file cut off in its first row after the header: its header was read.
        let s = h
            .read_str(
                Path::new("x"),
                &format!("{HEADER_START}test,result\n1,2022/0"),
            )
            .unwrap();
        assert_eq!(
            s.warning(),
            ["x:2: skipped: no line end, the row was cut off"]
        );
        // A last line cut where what is left still reads as a row (the name cut short).
        let s = h
            .read_str(
                Path::new("y"),
                &(good(10) + "11,2022/09/07,18:50:00,VPN ping,Good,gw,Gate"),
            )
            .unwrap();
        assert_eq!(
            s.warning(),
            ["y:2: skipped: no line end, the row was cut off"]
        );
        assert!(h.checks.iter().all(|c| c.name == "G"), "{:?}", h.checks);
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
            let mut h = History::new();
            let line = format!("{{\"cycle\":3,\"time\":\"{time}\",\"test\":\"VPN ping\",\"result\":\"Good\",\"address\":\"a\",\"name\":\"b\",\"duration_ms\":null,\"sent\":null,\"received\":null,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":null}}\n");
            let e = h
                .read_str(Path::new("d.jsonl"), &line)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("d.jsonl:1: bad time `{time}` (expected ISO 8601)")),
                "{e}"
            );
        }
    }

    #[test]
    fn sort_orders_and_drops_only_exact_duplicates() {
        let mut h = History::new();
        let p = Path::new("x");
        let b =
            "1,2022/09/07,19:00:00,VPN ping,Good,a,b\n1,2022/09/07,19:00:00,VPN ping,Fail,a,b\n";
        let a = "1,2022/09/07,18:00:00,VPN ping,Good,a,b\n";
        h.read_str(p, b).unwrap();
        h.read_str(p, a).unwrap();
        h.read_str(p, b).unwrap();
        h.sort();
        assert_eq!(h.rows.len(), 3);
        assert!(h.rows.windows(2).all(|w| w[0].t <= w[1].t));
    }
}
