//! Reading the small input files users write (params, targets, alert state): bounded, never
//! blocking, and decoded the one way for all of them. A leaf module: imports nothing of the crate.
//!
//! - Only regular files are read (and the null device, as an empty file). A FIFO is opened with `O_NONBLOCK` (so the open itself cannot
//!   wait for a writer) and refused, as are directories, devices (`/dev/zero`) and sockets: a
//!   start-up or a cycle never waits on a pipe, and Ctrl-C/SIGTERM are never held back by a read.
//! - At most `MAX_INPUT_BYTES` are read; a larger file is refused without being held in memory.
//! - Text is UTF-8 (with or without a byte-order mark) or UTF-16 LE/BE with a byte-order mark
//!   (what Windows Notepad saves as "Unicode"). Anything else — invalid UTF-8 such as a Windows
//!   code page (cp1252 `é` = byte 0xE9), NUL bytes without a byte-order mark (UTF-16 saved
//!   without one), UTF-32 — is refused with the line and the encoding to use, never guessed.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The most an input file may hold: 64 MiB (a targets file of a million lines is 30 MB).
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Why an input file could not be read as text. `Display` is the reason alone (the caller names
/// the file); each is one line.
#[derive(Debug)]
pub enum InputError {
    /// Opening or reading failed (`NotFound` included: see `is_not_found`).
    Io(std::io::Error),
    /// Not a regular file; the words say what it is (`a directory`, `a FIFO (named pipe)`).
    NotAFile(&'static str),
    /// Larger than `MAX_INPUT_BYTES`.
    TooLarge,
    /// Not text in an encoding vpnmon reads.
    Encoding(String),
}

impl InputError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Io(e) => {
                let s = e.to_string();
                let s = s.find(" (os error").map_or(s.as_str(), |i| &s[..i]);
                f.write_str(s)
            }
            InputError::NotAFile(what) => write!(f, "it is {what}, not a regular file"),
            InputError::TooLarge => write!(
                f,
                "it is larger than {} MiB",
                MAX_INPUT_BYTES / (1024 * 1024)
            ),
            InputError::Encoding(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for InputError {
    fn from(e: std::io::Error) -> Self {
        InputError::Io(e)
    }
}

/// Reads `path` as text (`read_bounded`, then `decode`).
pub fn read_text(path: &Path) -> Result<String, InputError> {
    decode(&read_bounded(path)?)
}

/// The bytes of the regular file `path`, at most `MAX_INPUT_BYTES`, without ever blocking on a
/// FIFO or reading a device.
/// `read_bounded` for callers that report an `io::Error` (the sound file, the SMTP password
/// file): what is not a system error comes as `InvalidData` with the reason as its text.
pub fn read_bounded_io(path: &Path) -> std::io::Result<Vec<u8>> {
    read_bounded(path).map_err(InputError::into_io)
}

impl InputError {
    pub fn into_io(self) -> std::io::Error {
        match self {
            InputError::Io(e) => e,
            e => std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        }
    }
}

pub fn read_bounded(path: &Path) -> Result<Vec<u8>, InputError> {
    if refuse_device_name(path)? {
        return Ok(Vec::new());
    }
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    let ft = meta.file_type();
    if !ft.is_file() {
        // `--params /dev/null` is the usual way to say "no params file": the null device reads
        // as an empty file (it holds nothing and never blocks).
        if is_null_device(&meta) {
            return Ok(Vec::new());
        }
        return Err(InputError::NotAFile(kind_of(&ft)));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge);
    }
    // The file may grow while it is read: never read more than the cap (+1 to notice).
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge);
    }
    Ok(buf)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> Result<std::fs::File, InputError> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer
    // (it is refused right after, by its type). It changes nothing for a regular file.
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> Result<std::fs::File, InputError> {
    // Windows: a directory cannot be opened for reading at all; say what it is.
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(InputError::NotAFile("a directory"));
    }
    Ok(std::fs::File::open(path)?)
}

/// Windows' device names (`CON`, `COM1`, `\\.\pipe\x`) open a device whatever the folder;
/// reading `CON` would wait for the keyboard. Refused by name on Windows; elsewhere the file type
/// tells. True for `NUL`, which reads as an empty file as `/dev/null` does.
fn refuse_device_name(path: &Path) -> Result<bool, InputError> {
    if !cfg!(windows) {
        return Ok(false);
    }
    let s = path.to_string_lossy();
    if s.starts_with(r"\\.\") || s.starts_with(r"\\?\GLOBALROOT") {
        return Err(InputError::NotAFile("a device"));
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().trim_end().to_ascii_uppercase())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("");
    if stem == "NUL" {
        return Ok(true);
    }
    let reserved = matches!(stem, "CON" | "PRN" | "AUX" | "CONIN$" | "CONOUT$")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        return Err(InputError::NotAFile("a device"));
    }
    Ok(false)
}

/// A character device (`/dev/null`, a terminal): written to as a stream, never a disk.
#[cfg(unix)]
pub fn is_char_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device()
}

#[cfg(not(unix))]
pub fn is_char_device(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn is_null_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device()
        && std::fs::metadata("/dev/null").is_ok_and(|null| null.rdev() == meta.rdev())
}

#[cfg(not(unix))]
fn is_null_device(_meta: &std::fs::Metadata) -> bool {
    false
}

/// What a file that is not a regular file is, in words (`a directory`, `a FIFO (named pipe)`).
pub fn kind_of(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

const SAVE_AS: &str = "save the file as UTF-8";

/// Decodes a file's bytes: UTF-8 with or without a byte-order mark, UTF-16 LE/BE with one.
/// Line ends are left as they are (callers split on `\n` and drop a `\r`).
pub fn decode(bytes: &[u8]) -> Result<String, InputError> {
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(InputError::Encoding(format!(
            "it is UTF-32 text, which vpnmon does not read; {SAVE_AS}"
        )));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest);
    }
    for (bom, enc, name) in [
        (&[0xFF, 0xFE], encoding_rs::UTF_16LE, "UTF-16 LE"),
        (&[0xFE, 0xFF], encoding_rs::UTF_16BE, "UTF-16 BE"),
    ] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            let (text, had_errors) = enc.decode_without_bom_handling(rest);
            if had_errors {
                // The first replacement character marks where the file stops being UTF-16.
                let at = text.find('\u{FFFD}').unwrap_or(text.len());
                let line = text[..at].matches('\n').count() + 1;
                return Err(InputError::Encoding(format!(
                    "line {line} is not valid {name} text (the file starts with a {name} byte-order mark); {SAVE_AS}"
                )));
            }
            return Ok(text.into_owned());
        }
    }
    let text = utf8(bytes)?;
    // Valid UTF-8 where NUL bytes are a good part of the text (every other byte of ASCII saved
    // as UTF-16): UTF-16 without a byte-order mark. A stray NUL is left to the parsers, which
    // refuse that line alone (naming it).
    let nuls = bytes.iter().filter(|&&b| b == 0).count();
    if nuls > 0 && nuls * 4 >= bytes.len() {
        let at = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(InputError::Encoding(format!(
            "line {line} holds NUL bytes, so this is not UTF-8 text (UTF-16 without a byte-order mark?); {SAVE_AS}"
        )));
    }
    Ok(text)
}

fn utf8(bytes: &[u8]) -> Result<String, InputError> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(t.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(InputError::Encoding(format!(
                "line {line} is not UTF-8 text (byte 0x{:02X}; a Windows code page such as cp1252?); {SAVE_AS}",
                bytes[at]
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, le: bool) -> Vec<u8> {
        let mut v = if le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for u in text.encode_utf16() {
            v.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        v
    }

    #[test]
    fn the_encodings_windows_tools_save_are_read() {
        let text = "10.1.1.1,Café\r\n::1,Zürich\r\n";
        assert_eq!(decode(text.as_bytes()).unwrap(), text);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(text.as_bytes());
        assert_eq!(decode(&bom).unwrap(), text);
        assert_eq!(decode(&utf16(text, true)).unwrap(), text);
        assert_eq!(decode(&utf16(text, false)).unwrap(), text);
        assert_eq!(decode(b"").unwrap(), "");
    }

    #[test]
    fn what_is_not_text_names_the_line_and_the_encoding_to_use() {
        let cases: &[(&[u8], &str)] = &[
            (b"a,b\n10.0.0.1,Caf\xE9\n", "line 2 is not UTF-8 text (byte 0xE9; a Windows code page such as cp1252?); save the file as UTF-8"),
            (b"1\x000\x00.\x00", "line 1 holds NUL bytes, so this is not UTF-8 text (UTF-16 without a byte-order mark?); save the file as UTF-8"),
            (b"\xFF\xFEa\x00\n\x00\x00\xD8", "line 2 is not valid UTF-16 LE text (the file starts with a UTF-16 LE byte-order mark); save the file as UTF-8"),
            (b"\xFE\xFF\x00a\x00", "line 1 is not valid UTF-16 BE text (the file starts with a UTF-16 BE byte-order mark); save the file as UTF-8"),
            (b"\xFF\xFE\x00\x00a\x00\x00\x00", "it is UTF-32 text, which vpnmon does not read; save the file as UTF-8"),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode(bytes).unwrap_err().to_string(), *want, "{bytes:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Nobody writes to it: a blocking open would wait forever.
        assert_eq!(
            read_bounded(&fifo).unwrap_err().to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        assert_eq!(
            read_bounded(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string(),
            "it is a device, not a regular file"
        );
        assert_eq!(
            read_bounded(dir.path()).unwrap_err().to_string(),
            "it is a directory, not a regular file"
        );
        assert!(read_bounded(&dir.path().join("none"))
            .unwrap_err()
            .is_not_found());
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_INPUT_BYTES + 1).unwrap();
        assert_eq!(
            read_bounded(&big).unwrap_err().to_string(),
            "it is larger than 64 MiB"
        );
        f.set_len(3).unwrap();
        assert_eq!(read_bounded(&big).unwrap(), vec![0, 0, 0]);
        assert_eq!(
            read_bounded(Path::new("/dev/null")).unwrap(),
            Vec::<u8>::new()
        );
    }
}
