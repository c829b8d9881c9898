//! Finding a client program (the `which` crate: an executable file, PATH lookup).

use std::path::{Path, PathBuf};

/// The program for `program`: itself when it names a path (it must be an executable file), else
/// the first executable of that name on PATH.
pub fn find(program: &Path) -> Option<PathBuf> {
    which::which(program).ok()
}

/// The program at the path `p` (a bare name means a file in the current directory, never a
/// PATH lookup).
pub fn at(p: &Path) -> Option<PathBuf> {
    if p.is_absolute() || p.components().count() > 1 {
        find(p)
    } else {
        find(&Path::new(".").join(p))
    }
}

/// The first of `places` that is an executable file.
pub fn first_of(places: &[&str]) -> Option<PathBuf> {
    places.iter().find_map(|p| at(Path::new(p)))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_missing_programs() {
        let sh = find(Path::new("sh")).expect("sh on PATH");
        assert!(sh.is_absolute());
        assert_eq!(find(&sh), Some(sh.clone()));
        assert_eq!(at(&sh), Some(sh.clone()));
        assert_eq!(find(Path::new("/nonexistent/openconnect")), None);
        assert_eq!(find(Path::new("vpnmon-no-such-program")), None);
        // A bare name is a file here for `at`, not a PATH lookup.
        assert_eq!(at(Path::new("sh")), None);
        // A file that is not executable is not a program.
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find(&plain), None);
        let s = sh.to_str().unwrap();
        assert_eq!(first_of(&["/nonexistent/x", s]), Some(sh.clone()));
        assert_eq!(first_of(&["/nonexistent/x"]), None);
    }
}
