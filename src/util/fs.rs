//! The file helpers every writer of vaultid shares (the key directory,
//! the agent's destinations and sink, the token file): opening a file
//! without following links ([`open_no_follow`]), the atomic write
//! (temporary file in the same directory, fsync, rename, fsync of the
//! directory: [`write_atomic`], or [`write_temp`] then [`rename_in`]) and
//! removing the temporary files a killed writer left
//! ([`remove_stale_temp_files`]).
//!
//! Failures are [`FsError`]s, what was being done and the I/O error,
//! which become [`crate::Error::Io`] where they meet the crate's errors
//! (this module is below `error`).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys;

/// A file operation that failed: what was being done (naming the path)
/// and why.
#[derive(Debug)]
pub(crate) struct FsError {
    /// What was being done, e.g. `renaming /a to /b`.
    pub(crate) context: String,
    /// The operating system's error.
    pub(crate) source: std::io::Error,
}

impl FsError {
    fn new(context: impl Into<String>, source: std::io::Error) -> FsError {
        FsError {
            context: context.into(),
            source,
        }
    }
}

/// How [`open_no_follow`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Read an existing file.
    Read,
    /// The lock file: read-write, created `0600` when missing.
    Lock,
}

/// A file opened by [`open_no_follow`], with its `fstat`.
#[derive(Debug)]
pub(crate) struct OpenedFile {
    /// The open file.
    pub file: File,
    /// Its metadata, from the descriptor (not the path).
    pub meta: fs::Metadata,
}

/// Why [`open_no_follow`] opened nothing.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The path is a symbolic link (never followed).
    Link,
    /// The path is not a regular file: what it is (`directory`, `FIFO`,
    /// `socket`, `device`).
    NotRegular(&'static str),
    /// Any other failure to open or inspect it.
    Io(std::io::Error),
}

/// What a file that is not a regular file is, in a word.
pub(crate) fn kind_of(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else if t.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Open `path` the way vaultid opens every file it reads back (the key
/// directory's files, the agent's destinations): `Ok(None)` when it does
/// not exist; a symbolic link is never followed (`O_NOFOLLOW`); anything
/// but a regular file is refused before it is opened (`lstat`), and again
/// on the open descriptor (`fstat`, for a file swapped in between); the
/// open is non-blocking, so a FIFO swapped in cannot hang the caller.
/// Reads are then the caller's to cap.
pub(crate) fn open_no_follow(
    path: &Path,
    mode: OpenMode,
) -> std::result::Result<Option<OpenedFile>, OpenError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(OpenError::Link),
        Ok(m) if !m.file_type().is_file() => {
            return Err(OpenError::NotRegular(kind_of(m.file_type())))
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound && mode == OpenMode::Read => return Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(OpenError::Io(e)),
    }
    let mut o = OpenOptions::new();
    o.read(true).custom_flags(sys::O_NOFOLLOW | sys::O_NONBLOCK);
    if mode == OpenMode::Lock {
        o.write(true).create(true).truncate(false).mode(0o600);
    }
    let file = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(sys::ELOOP) => return Err(OpenError::Link),
        Err(e) => return Err(OpenError::Io(e)),
    };
    let meta = file.metadata().map_err(OpenError::Io)?;
    if !meta.file_type().is_file() {
        return Err(OpenError::NotRegular(kind_of(meta.file_type())));
    }
    Ok(Some(OpenedFile { file, meta }))
}

/// Write `bytes` to a new temporary file beside `path`
/// (`.{name}.tmp-{pid}-{nanos}`), created with `mode`, fsynced. Removed
/// again on failure. [`rename_in`] puts it in place.
pub(crate) fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = create_new(&tmp, mode)
            .map_err(|e| FsError::new(format!("creating {}", tmp.display()), e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
            FsError::new(
                format!("writing {} (as {})", path.display(), tmp.display()),
                e,
            )
        })
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Whether `file` is a temporary file [`write_temp`] made for `name`:
/// exactly `.{name}.tmp-{digits}-{digits}`.
pub(crate) fn is_temp_name_of(file: &str, name: &str) -> bool {
    let Some(rest) = file
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(".tmp-"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.split_once('-')
        .is_some_and(|(pid, nanos)| digits(pid) && digits(nanos))
}

/// Remove from `dir` the temporary files a killed writer left for the
/// files called `names`: entries named exactly as [`write_temp`] names
/// them (`.{name}.tmp-{pid}-{nanos}`) that are regular files; a link, a
/// directory or anything else of that name is left alone (never followed:
/// the type is the entry's own). Returns how many were removed; a missing
/// `dir` has none.
pub(crate) fn remove_stale_temp_files(dir: &Path, names: &[&str]) -> Result<usize, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(FsError::new(format!("listing {}", dir.display()), e)),
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if !names.iter().any(|name| is_temp_name_of(file, name)) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// Create the file at `path` for writing, with its final `mode` from the
/// start (no chmod after), failing when anything, a link included, is
/// already there (`O_EXCL | O_NOFOLLOW`).
pub(crate) fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(sys::O_NOFOLLOW)
        .open(path)
}

/// Replace `path` atomically with `bytes`: a temporary file created in the
/// same directory with `mode` from the start, written, fsynced, renamed over
/// `path`, then the directory fsynced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let tmp = write_temp(path, bytes, mode)?;
    rename_in(&tmp, path)
}

/// Rename `tmp` (from [`write_temp`]) over `path`, then fsync the
/// directory, so the rename is on disk before anything that follows;
/// `tmp` is removed when that fails.
pub(crate) fn rename_in(tmp: &Path, path: &Path) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let result = fs::rename(tmp, path)
        .map_err(|e| {
            FsError::new(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })
        .and_then(|()| sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Fsync directory `dir` (`.` when empty), so a rename in it is on disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), FsError> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| FsError::new(format!("syncing directory {}", d.display()), e))
}

/// A path under the system's temporary directory that no other test
/// uses, `vaultid-{tag}-{pid}-{nanoseconds}`, not created (for tests).
#[cfg(test)]
pub(crate) fn test_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "vaultid-{tag}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        test_path(&format!("fs-{tag}"))
    }

    #[test]
    fn stale_temp_files_are_removed_by_exact_name_and_only_when_regular() {
        let dir = tmpdir("stale");
        fs::create_dir_all(&dir).unwrap();
        assert!(is_temp_name_of(".a.env.tmp-12-345", "a.env"));
        for (file, name) in [
            (".a.env.tmp-12-", "a.env"),
            (".a.env.tmp--1", "a.env"),
            (".a.env.tmp-1-2x", "a.env"),
            (".a.env.tmp-1-2-3", "a.env"),
            ("a.env.tmp-1-2", "a.env"),
            (".a.env.tmp-1-2", "a"),
            (".b.a.env.tmp-1-2", "a.env"),
        ] {
            assert!(!is_temp_name_of(file, name), "{file} for {name}");
        }
        // What write_temp makes is what is recognised.
        let real = write_temp(&dir.join("a.env"), b"secret", 0o600).unwrap();
        let real_name = real.file_name().unwrap().to_str().unwrap().to_string();
        assert!(is_temp_name_of(&real_name, "a.env"), "{real_name}");
        fs::write(dir.join(".a.env.tmp-1-2"), "old secret").unwrap();
        fs::write(dir.join(".b.env.tmp-1-2"), "not asked for").unwrap();
        let outside = dir.join("outside");
        fs::write(&outside, "kept").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(".a.env.tmp-3-4")).unwrap();
        fs::create_dir(dir.join(".a.env.tmp-5-6")).unwrap();
        assert_eq!(remove_stale_temp_files(&dir, &["a.env"]).unwrap(), 2);
        assert!(!real.exists() && !dir.join(".a.env.tmp-1-2").exists());
        assert!(dir.join(".b.env.tmp-1-2").exists());
        assert!(fs::symlink_metadata(dir.join(".a.env.tmp-3-4")).is_ok());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "kept");
        assert!(dir.join(".a.env.tmp-5-6").is_dir());
        assert_eq!(
            remove_stale_temp_files(&dir.join("missing"), &["a.env"]).unwrap(),
            0
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
