//! What a client printed, two ways: raw lines for the dialog (never shown), and the transcript
//! people may see, with the one redaction rule applied to the byte stream as it comes. Both read
//! the stream through the VT filter first (`vt.rs`): no escape sequence reaches a match or a
//! person, and a password echoed with sequences inside it (a re-rendering pseudo-console) is
//! still one piece of text for the redaction. The filter passes every printable character, tab,
//! line feed and carriage return unchanged, so a password (typed text) is never altered by it.

use super::vt::VtFilter;
use super::DIAG_LINES;
use crate::vpn::Secret;
use std::collections::VecDeque;

/// What the password is replaced with.
pub const MASK: &str = "********";

/// The one redaction rule: the password as typed, and its trimmed form (for a client that trims
/// what it echoes), are replaced by [`MASK`] wherever they appear in a client's output — inside
/// other text ("Connected to …"), at a line's end, and across a line break (a client or terminal
/// that wraps). Matching works on bytes, so a password split over two reads is masked too.
#[derive(Clone, Default)]
pub struct Redaction {
    /// Longest first; empty without a password.
    patterns: Vec<Vec<u8>>,
}

enum Match {
    /// The password ends `n` bytes into the text.
    Full(usize),
    /// The text ends while it could still be the start of the password (this many of its
    /// bytes matched so far).
    Partial(usize),
    No,
}

impl Redaction {
    pub fn new(secret: &Secret) -> Redaction {
        let exact = secret.expose();
        let trimmed = exact.trim();
        let mut patterns = Vec::new();
        if !exact.is_empty() {
            patterns.push(exact.as_bytes().to_vec());
        }
        if !trimmed.is_empty() && trimmed != exact {
            patterns.push(trimmed.as_bytes().to_vec());
        }
        Redaction { patterns }
    }

    /// Whether a pattern starts at the beginning of `text`. Line-break bytes inside a match are
    /// skipped (not before a blank of the password). A longer pattern that may still match wins over a shorter one that does.
    fn match_at(&self, text: &[u8]) -> Match {
        let mut partial = None;
        for p in &self.patterns {
            let (mut i, mut j) = (0, 0);
            loop {
                if j == p.len() {
                    return match partial {
                        Some(n) => Match::Partial(n),
                        None => Match::Full(i),
                    };
                }
                let Some(&b) = text.get(i) else {
                    partial = Some(partial.unwrap_or(0).max(j));
                    break;
                };
                if b == p[j] {
                    i += 1;
                    j += 1;
                } else if j > 0 && (b == b'\n' || b == b'\r') && !p[j].is_ascii_whitespace() {
                    // Wrapped: a line never starts with the password's own blank.
                    i += 1;
                } else {
                    break;
                }
            }
        }
        match partial {
            Some(n) => Match::Partial(n),
            None => Match::No,
        }
    }

    /// Whether a start of the password this long, cut off, gives too much away: half of it or
    /// more.
    fn too_much(&self, matched: usize) -> bool {
        self.patterns
            .last()
            .is_some_and(|shortest| matched * 2 >= shortest.len())
    }

    /// `text` as a whole (a detail for the console, such as "Connected to …") with the rule
    /// applied. Such a text is often one line of the client's output, which may end where the
    /// password was wrapped onto the next line: a cut-off start of it at the end is treated as
    /// in the diagnostics (masked when it is half of it or more).
    pub fn apply(&self, text: &str) -> String {
        let mut s = RedactingStream::default();
        let mut out = Vec::new();
        s.push(self, text.as_bytes(), &mut out);
        out.extend_from_slice(&s.cut_off(self));
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Applies the rule to a byte stream: bytes that may be the start of the password are held back
/// until the next bytes tell.
#[derive(Default)]
struct RedactingStream {
    pending: Vec<u8>,
}

impl RedactingStream {
    fn push(&mut self, rule: &Redaction, bytes: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(bytes);
        let mut i = 0;
        while i < self.pending.len() {
            match rule.match_at(&self.pending[i..]) {
                Match::Full(n) => {
                    out.extend_from_slice(MASK.as_bytes());
                    // Keep the line structure of a password split over two lines.
                    out.extend(self.pending[i..i + n].iter().filter(|b| **b == b'\n'));
                    i += n;
                }
                Match::Partial(_) => break,
                Match::No => {
                    out.push(self.pending[i]);
                    i += 1;
                }
            }
        }
        self.pending.drain(..i);
    }

    /// What is held back, for a stream that ends (or is looked at) here: a cut-off start of the
    /// password is masked when it is half of it or more; shorter starts and blanks are kept.
    fn cut_off(&self, rule: &Redaction) -> Vec<u8> {
        let keep = match rule.match_at(&self.pending) {
            Match::Partial(n) => !rule.too_much(n),
            _ => true,
        };
        if keep || self.pending.iter().all(u8::is_ascii_whitespace) {
            self.pending.clone()
        } else {
            let mut v = MASK.as_bytes().to_vec();
            v.extend(self.pending.iter().filter(|b| **b == b'\n'));
            v
        }
    }
}

/// One output stream of the client (a terminal, stdout, stderr), redacted.
#[derive(Default)]
struct ShownStream {
    vt: VtFilter,
    redact: RedactingStream,
    /// Redacted bytes of the line being written.
    line: Vec<u8>,
}

/// The client's recent output as people may see it: redacted, split into lines, trailing blanks
/// trimmed, blank lines left out, the last [`DIAG_LINES`] kept. Streams are numbered by the
/// driver (0 for a terminal or stdout, 1 for stderr); each is redacted on its own, so lines of
/// two streams never mix.
pub struct Transcript {
    rule: Redaction,
    streams: Vec<ShownStream>,
    ring: VecDeque<String>,
}

impl Transcript {
    pub fn new(secret: &Secret) -> Transcript {
        Transcript {
            rule: Redaction::new(secret),
            streams: Vec::new(),
            ring: VecDeque::new(),
        }
    }

    fn stream(&mut self, n: usize) -> &mut ShownStream {
        if self.streams.len() <= n {
            self.streams.resize_with(n + 1, ShownStream::default);
        }
        &mut self.streams[n]
    }

    fn keep(ring: &mut VecDeque<String>, line: &[u8]) {
        let l = String::from_utf8_lossy(line);
        let l = l.trim_end();
        if l.trim().is_empty() {
            return;
        }
        if ring.len() == DIAG_LINES {
            ring.pop_front();
        }
        ring.push_back(l.to_string());
    }

    fn take_lines(ring: &mut VecDeque<String>, s: &mut ShownStream, redacted: &[u8]) {
        for &b in redacted {
            match b {
                b'\n' => {
                    Self::keep(ring, &s.line);
                    s.line.clear();
                }
                b'\r' => {}
                _ => s.line.push(b),
            }
        }
    }

    /// Bytes the client wrote on stream `n`.
    pub fn feed(&mut self, n: usize, bytes: &[u8]) {
        self.stream(n);
        let s = &mut self.streams[n];
        let text = s.vt.filter(bytes);
        let mut redacted = Vec::with_capacity(text.len());
        s.redact.push(&self.rule, &text, &mut redacted);
        Self::take_lines(&mut self.ring, s, &redacted);
    }

    /// Stream `n` ended: what it held back is its last words.
    pub fn end(&mut self, n: usize) {
        self.stream(n);
        let s = &mut self.streams[n];
        let rest = s.redact.cut_off(&self.rule);
        s.redact.pending.clear();
        let mut line = std::mem::take(&mut s.line);
        line.extend(rest.iter().filter(|b| **b != b'\r'));
        for part in line.split(|b| *b == b'\n') {
            Self::keep(&mut self.ring, part);
        }
    }

    /// The lines for the diagnostic block: the kept lines, then each stream's unfinished line.
    pub fn diagnostics(&self) -> Vec<String> {
        let mut ring = self.ring.clone();
        for s in &self.streams {
            let mut line = s.line.clone();
            line.extend(s.redact.cut_off(&self.rule).iter().filter(|b| **b != b'\r'));
            for part in line.split(|b| *b == b'\n') {
                Self::keep(&mut ring, part);
            }
        }
        ring.into_iter().collect()
    }

    /// `text` (a detail for the console) with the same rule applied.
    pub fn redact(&self, text: &str) -> String {
        self.rule.apply(text)
    }
}

/// A client's raw output split into lines for the dialog logic (never shown: see
/// [`Transcript`]). Lines are trimmed at the end; carriage returns are dropped.
#[derive(Default)]
pub struct Lines {
    vt: VtFilter,
    queue: VecDeque<String>,
    tail: Vec<u8>,
}

impl Lines {
    pub fn feed(&mut self, bytes: &[u8]) {
        for b in self.vt.filter(bytes) {
            match b {
                b'\n' => {
                    let raw = String::from_utf8_lossy(&self.tail).trim_end().to_string();
                    self.tail.clear();
                    self.queue.push_back(raw);
                }
                b'\r' => {}
                _ => self.tail.push(b),
            }
        }
    }

    /// The stream ended: an unfinished last line becomes a line.
    pub fn finish(&mut self) {
        if !self.tail.is_empty() {
            self.feed(b"\n");
        }
    }

    pub fn pop(&mut self) -> Option<String> {
        self.queue.pop_front()
    }

    /// Puts a line back to be the next one popped (the rest of a line the dialog split).
    pub fn unpop(&mut self, line: String) {
        self.queue.push_front(line);
    }

    pub fn has_lines(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The line being written (a prompt waits there).
    pub fn tail(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }

    pub fn tail_is_empty(&self) -> bool {
        self.tail.is_empty()
    }

    pub fn clear_tail(&mut self) {
        self.tail.clear();
    }

    /// Forgets the complete lines not yet taken.
    pub fn drop_lines(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "Pw-7f3k9Zq";

    fn shown(secret: &str, chunks: &[&[u8]]) -> Vec<String> {
        let mut t = Transcript::new(&Secret::new(secret));
        for c in chunks {
            t.feed(0, c);
        }
        t.diagnostics()
    }

    #[test]
    fn the_password_split_over_two_reads_is_masked() {
        // Every split point of the password, and one byte at a time.
        let text = format!("  >> notice: password {PW} received\n");
        for cut in 0..text.len() {
            let (a, b) = text.as_bytes().split_at(cut);
            assert_eq!(
                shown(PW, &[a, b]),
                vec!["  >> notice: password ******** received"],
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(
            shown(PW, &bytes),
            vec!["  >> notice: password ******** received"]
        );
    }

    #[test]
    fn the_password_split_over_two_lines_is_masked() {
        for cut in 1..PW.len() {
            let text = format!("you typed {}\r\n{} ok\n", &PW[..cut], &PW[cut..]);
            let got = shown(PW, &[text.as_bytes()]);
            assert_eq!(got, vec!["you typed ********", " ok"], "cut at {cut}");
        }
    }

    #[test]
    fn the_password_inside_other_text_is_masked() {
        let t = Transcript::new(&Secret::new(PW));
        assert_eq!(
            t.redact(&format!("Connected to {PW}.example.org")),
            "Connected to ********.example.org"
        );
        assert_eq!(
            shown(
                PW,
                &[format!("  >> state: Connected to x{PW}x.\n").as_bytes()]
            ),
            vec!["  >> state: Connected to x********x."]
        );
        // A text ending in a short start of the password keeps it (it gives little away)...
        assert_eq!(t.redact("host Pw-7"), "host Pw-7");
        // ...but one line of a password wrapped onto the next gives half or more of it away.
        assert_eq!(t.redact("Connected to Pw-7f3k9"), "Connected to ********");
    }

    #[test]
    fn a_password_ending_in_a_space_is_masked_at_a_line_end() {
        let pw = format!("{PW} ");
        let got = shown(
            &pw,
            &[
                format!("  >> notice: you typed {PW} \r\n").as_bytes(),
                format!("  >> notice: password {PW}  received\n").as_bytes(),
                format!("trimmed echo {PW}\n").as_bytes(),
                b"   \n",
                b"VPN> ",
            ],
        );
        assert_eq!(
            got,
            vec![
                "  >> notice: you typed ********",
                "  >> notice: password ******** received",
                "trimmed echo ********",
                "VPN>",
            ]
        );
        // Split right before the trailing space: still masked, nothing of it left.
        let got = shown(&pw, &[format!("x {PW}").as_bytes(), b" \n"]);
        assert_eq!(got, vec!["x ********"]);
    }

    #[test]
    fn a_cut_off_start_of_the_password_is_masked_in_diagnostics() {
        // The client died (or is looked at) in the middle of echoing it.
        let mut t = Transcript::new(&Secret::new(PW));
        t.feed(0, b"Password: Pw-7f");
        assert_eq!(t.diagnostics(), vec!["Password: ********"]);
        t.end(0);
        assert_eq!(t.diagnostics(), vec!["Password: ********"]);
        // A short start is not masked (it gives little away, and is mostly other text).
        let mut t = Transcript::new(&Secret::new(PW));
        t.feed(0, b"host Pw-");
        assert_eq!(t.diagnostics(), vec!["host Pw-"]);
        // Blanks held back are kept as blanks (and trimmed).
        let mut t = Transcript::new(&Secret::new(" x"));
        t.feed(0, b"VPN> ");
        assert_eq!(t.diagnostics(), vec!["VPN>"]);
    }

    #[test]
    fn other_text_is_kept_and_streams_do_not_mix() {
        assert_eq!(
            shown("secret", &[b"a secret b\nsecrets\n"]),
            vec!["a ******** b", "********s"]
        );
        assert_eq!(shown("", &[b"no password\n"]), vec!["no password"]);
        let mut t = Transcript::new(&Secret::new("pw"));
        t.feed(0, b"out p");
        t.feed(1, b"err line\n");
        t.feed(0, b"w end\n");
        assert_eq!(t.diagnostics(), vec!["err line", "out ******** end"]);
    }

    #[test]
    fn only_the_last_lines_are_kept_and_blank_ones_are_left_out() {
        let mut t = Transcript::new(&Secret::new(PW));
        for i in 0..(DIAG_LINES + 10) {
            t.feed(0, format!("line {i}\n\n   \n").as_bytes());
        }
        let d = t.diagnostics();
        assert_eq!(d.len(), DIAG_LINES);
        assert_eq!(d[0], "line 10");
        assert_eq!(d[DIAG_LINES - 1], format!("line {}", DIAG_LINES + 9));
    }

    #[test]
    fn raw_lines_for_the_dialog() {
        let mut l = Lines::default();
        l.feed(b"one\r\ntw");
        l.feed(b"o  \nVPN> ");
        assert_eq!(l.pop().as_deref(), Some("one"));
        assert_eq!(l.pop().as_deref(), Some("two"));
        assert_eq!(l.pop(), None);
        assert_eq!(l.tail(), "VPN> ");
        l.finish();
        assert_eq!(l.pop().as_deref(), Some("VPN>"));
    }

    #[test]
    fn escape_sequences_never_reach_the_lines_or_the_transcript() {
        // A re-rendering pseudo-console: the prompt as `VPN>ESC[KESC[1C`, the screen cleared.
        let raw: &[u8] =
            b"\x1b[?25l\x1b[2J\x1b[H  >> state: Disconnected\x1b[K\r\n\x1b[?25hVPN>\x1b[K\x1b[1C";
        let mut l = Lines::default();
        l.feed(raw);
        assert_eq!(l.pop().as_deref(), Some("  >> state: Disconnected"));
        assert_eq!(l.tail(), "VPN> ");
        let shown = shown(PW, &[raw]);
        assert_eq!(shown, vec!["  >> state: Disconnected", "VPN>"]);
        assert!(shown.iter().all(|l| !l.contains('\x1b')), "{shown:?}");
    }

    #[test]
    fn the_password_with_escape_sequences_inside_is_masked_at_every_split() {
        // The echo re-rendered with sequences in and around the password, read in two pieces
        // cut anywhere (also inside a sequence).
        let (a, b) = PW.split_at(4);
        let text = format!("  >> notice: password \x1b[K{a}\x1b[1;30m{b}\x1b[0m received\r\n");
        for cut in 0..text.len() {
            let (x, y) = text.as_bytes().split_at(cut);
            let got = shown(PW, &[x, y]);
            assert_eq!(
                got,
                vec!["  >> notice: password ******** received"],
                "cut at {cut}"
            );
        }
    }
}
