//! What `vpnmon report` reads besides plain datalog files: `-` (standard input) and files
//! compressed with gzip (`.gz`, as logrotate leaves them). Each is copied, decompressed, into a
//! private temporary folder under the name the reader needs (a rotated piece keeps its name
//! without `.gz`, so the pieces still chain), and read from there as a plain file: the reader
//! opens a file twice (its first row's time, then its rows), which a pipe cannot do.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The files to read, with their names as the user gave them for warnings.
pub struct Inputs {
    /// Kept until the report is done: the copies live in it.
    _dir: Option<tempfile::TempDir>,
    pub files: Vec<PathBuf>,
    /// (copy, as given): warnings name what the user gave.
    pub renames: Vec<(String, String)>,
}

/// Why an input could not be made readable.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what}: {reason}")]
pub struct InputError {
    pub what: String,
    pub reason: String,
}

fn is_gz(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Copies `-` and `.gz` files into a temporary folder; other files are read in place.
pub fn prepare(given: &[PathBuf]) -> Result<Inputs, InputError> {
    if !given.iter().any(|p| p.as_os_str() == "-" || is_gz(p)) {
        return Ok(Inputs {
            _dir: None,
            files: given.to_vec(),
            renames: Vec::new(),
        });
    }
    let fail = |what: &str, e: std::io::Error| InputError {
        what: what.to_string(),
        reason: crate::error::io_reason(&e),
    };
    let dir = tempfile::tempdir().map_err(|e| fail("a temporary folder", e))?;
    let mut files = Vec::with_capacity(given.len());
    let mut renames = Vec::new();
    for (i, p) in given.iter().enumerate() {
        let (source, name): (Box<dyn Read>, String) = if p.as_os_str() == "-" {
            (Box::new(std::io::stdin().lock()), "stdin".to_string())
        } else if is_gz(p) {
            let f = std::fs::File::open(p).map_err(|e| fail(&p.display().to_string(), e))?;
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "datalog".into());
            (Box::new(flate2::read::MultiGzDecoder::new(f)), stem)
        } else {
            files.push(p.clone());
            continue;
        };
        // One sub-folder per input, so two inputs of the same name do not collide.
        let sub = dir.path().join(i.to_string());
        std::fs::create_dir(&sub).map_err(|e| fail("a temporary folder", e))?;
        let copy = sub.join(&name);
        let given_name = if p.as_os_str() == "-" {
            "standard input".to_string()
        } else {
            p.display().to_string()
        };
        let mut out = std::fs::File::create(&copy).map_err(|e| fail("a temporary file", e))?;
        let mut source = source;
        std::io::copy(&mut source, &mut out).map_err(|e| fail(&given_name, e))?;
        renames.push((copy.display().to_string(), given_name));
        files.push(copy);
    }
    Ok(Inputs {
        _dir: Some(dir),
        files,
        renames,
    })
}

impl Inputs {
    /// A warning line with the copies' paths replaced by the names the user gave.
    pub fn named(&self, line: &str) -> String {
        let mut s = line.to_string();
        for (copy, given) in &self.renames {
            s = s.replace(copy.as_str(), given);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gz_files_are_decompressed_under_their_name_without_gz() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("d.csv.1.gz");
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        e.write_all(b"1,2022/09/07,18:20:33,VPN ping,Good,gw,GW\n")
            .unwrap();
        e.finish().unwrap();
        let plain = dir.path().join("d.csv");
        std::fs::write(&plain, "x").unwrap();
        let inputs = prepare(&[gz.clone(), plain.clone()]).unwrap();
        assert_eq!(inputs.files[1], plain);
        assert!(
            inputs.files[0].ends_with("0/d.csv.1"),
            "{:?}",
            inputs.files[0]
        );
        assert_eq!(
            std::fs::read_to_string(&inputs.files[0]).unwrap(),
            "1,2022/09/07,18:20:33,VPN ping,Good,gw,GW\n"
        );
        let copy = inputs.files[0].display().to_string();
        assert_eq!(
            inputs.named(&format!("{copy}: 1 line skipped")),
            format!("{}: 1 line skipped", gz.display())
        );
        // A .gz that is not gzip is an error naming it.
        let bad = dir.path().join("bad.gz");
        std::fs::write(&bad, "not gzip").unwrap();
        let e = prepare(std::slice::from_ref(&bad)).err().unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read {}: ", bad.display())),
            "{e}"
        );
    }
}
