//! Terminal escape sequences out of a client's output, before anything matches or shows it.
//!
//! A pseudo-console (Windows ConPTY) does not pass the client's bytes through: it re-renders the
//! screen with VT sequences (`ESC[?25l`, `ESC[2J`, `ESC[K`, cursor moves), so `VPN> ` arrives as
//! `VPN>ESC[KESC[1C`. The stream goes through a VT parser (`vte`, which keeps its state across
//! reads, so a sequence split over two reads is still recognised) and only the text comes out:
//! - printed characters as UTF-8;
//! - line feeds, carriage returns and tabs; other control bytes (BEL, BS, …) dropped;
//! - "cursor forward n" as n spaces (the re-rendered blank after a prompt);
//! - a move to another row (cursor position, next/previous line, erase display) as a line break,
//!   but only once something is printed after it: a prompt followed by a cursor move stays the
//!   line being written.
//!
//! Every other sequence (colours, erase-in-line, cursor visibility, titles, …) is dropped.

use vte::{Params, Parser, Perform};

/// The most spaces one "cursor forward" stands for (a screen's width).
const MAX_FORWARD: u16 = 250;

/// A streaming filter: feed it raw bytes, get plain text bytes.
pub struct VtFilter {
    parser: Parser,
    text: Text,
}

#[derive(Default)]
struct Text {
    out: Vec<u8>,
    /// Something was printed since the last line break.
    in_line: bool,
    /// The cursor went to another row: a line break before the next printed character.
    moved: bool,
}

impl Default for VtFilter {
    fn default() -> Self {
        VtFilter {
            parser: Parser::new(),
            text: Text::default(),
        }
    }
}

impl VtFilter {
    /// The text in `bytes` (bytes of an unfinished sequence or character are kept for the next
    /// call).
    pub fn filter(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.parser.advance(&mut self.text, bytes);
        std::mem::take(&mut self.text.out)
    }
}

/// `bytes` without escape sequences, in one piece (for a text that is complete).
pub fn strip(bytes: &[u8]) -> Vec<u8> {
    VtFilter::default().filter(bytes)
}

impl Text {
    fn text(&mut self, s: &[u8]) {
        if self.moved && self.in_line {
            self.out.push(b'\n');
            self.in_line = false;
        }
        self.moved = false;
        self.out.extend_from_slice(s);
        self.in_line = true;
    }

    fn line_break(&mut self, b: u8) {
        self.out.push(b);
        if b == b'\n' {
            self.in_line = false;
            self.moved = false;
        }
    }
}

impl Perform for Text {
    fn print(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.text(c.encode_utf8(&mut buf).as_bytes());
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' | b'\r' => self.line_break(byte),
            b'\t' => self.text(b"\t"),
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: char) {
        if ignore || !intermediates.is_empty() {
            return;
        }
        let first = params
            .iter()
            .next()
            .and_then(|p| p.first().copied())
            .unwrap_or(0);
        match action {
            // Cursor forward: what it skipped reads as blanks.
            'C' => {
                let n = first.clamp(1, MAX_FORWARD);
                self.text(&vec![b' '; usize::from(n)]);
            }
            // Cursor position, next/previous line, line position, erase display: another row.
            'H' | 'f' | 'E' | 'F' | 'd' | 'J' => self.moved = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> String {
        String::from_utf8(strip(b)).unwrap()
    }

    #[test]
    fn a_re_rendered_prompt_reads_as_the_prompt() {
        assert_eq!(text(b"VPN>\x1b[K\x1b[1C"), "VPN> ");
        assert_eq!(
            text(b"\x1b[?25l\x1b[2J\x1b[m\x1b[H  >> state: Disconnected\r\n\x1b[?25hVPN> "),
            "  >> state: Disconnected\r\nVPN> "
        );
        // Colours, titles and a bell are dropped.
        assert_eq!(
            text(b"\x1b]0;C:\\vpncli.exe\x07\x1b[32mok\x1b[0m\x07"),
            "ok"
        );
    }

    #[test]
    fn a_move_to_another_row_breaks_the_line_only_before_more_text() {
        assert_eq!(text(b"one\x1b[2;1Htwo"), "one\ntwo");
        // A cursor move after a prompt leaves the prompt the line being written.
        assert_eq!(text(b"VPN> \x1b[3;6H"), "VPN> ");
        assert_eq!(text(b"one\r\n\x1b[2;1Htwo"), "one\r\ntwo");
    }

    #[test]
    fn a_sequence_split_over_reads_is_still_removed() {
        let raw = b"VPN>\x1b[K\x1b[1C  >> notice: caf\xc3\xa9\r\n";
        for cut in 0..raw.len() {
            let mut f = VtFilter::default();
            let mut got = f.filter(&raw[..cut]);
            got.extend(f.filter(&raw[cut..]));
            assert_eq!(
                String::from_utf8(got).unwrap(),
                "VPN>   >> notice: café\r\n",
                "cut at {cut}"
            );
        }
    }
}
