//! Output files: checked before a command does its work, written under a temporary name and
//! renamed into place, so a failure (a full disk, a bad path) never leaves a half-written or
//! stray file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bad_input;

/// `DIR/.NAME.part`: where a file is written before it is renamed into place.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.part"))
}

/// Refuses (exit 2) an output path that cannot be a file: a directory, no file name, or a
/// parent that is not an existing directory. `flag` names the option in the message.
pub(crate) fn check(flag: &str, path: &Path) -> Result<()> {
    if path.is_dir() || path.file_name().is_none() {
        bad_input!(
            "{flag} {}: is a directory, expected a file name",
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bad_input!(
            "{flag} {}: the directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Writes `bytes` to [`tmp_path`] and renames it over `path`; on any failure the temporary
/// file is removed. A path that cannot be a file is bad input (see [`check`]).
pub(crate) fn write_atomic(flag: &str, path: &Path, bytes: &[u8]) -> Result<()> {
    check(flag, path)?;
    let tmp = tmp_path(path);
    let r = std::fs::write(&tmp, bytes)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
        });
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn a_directory_is_refused_and_leaves_nothing() {
        let d = std::env::temp_dir().join(format!("mrc-output-test-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let e = write_atomic("--out", &d.join("sub"), b"x").unwrap_err();
        assert!(e.downcast_ref::<crate::BadInput>().is_some());
        assert!(!d.join(".sub.part").exists());
        let e = write_atomic("--out", &d.join("missing/f.json"), b"x").unwrap_err();
        assert!(e.downcast_ref::<crate::BadInput>().is_some());
        write_atomic("--out", &d.join("f.json"), b"x").unwrap();
        assert_eq!(std::fs::read(d.join("f.json")).unwrap(), b"x");
        assert!(!d.join(".f.json.part").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
