//! The local store in the key directory: the startup lock, the key pair and
//! the OAuth2 credentials file.
//!
//! Guarantees:
//! - the key directory is created `0700`, `private.pem` and
//!   `oauth_credentials.json` are created `0600` (the mode is given to
//!   `open`, there is no chmod-after window), `public.pem` is `0644`;
//! - every file is replaced atomically (temporary file in the same directory,
//!   fsync, rename, fsync of the directory), so a reader never sees a
//!   half-written file, even after a crash;
//! - a key pair is never deleted: a pair that has to make room is kept
//!   aside with a timestamp;
//! - **after any failure, the directory holds at least the complete pair it
//!   held before**: a new pair is written to temporary files first, the old
//!   one is hard-linked aside, and only then do renames put the new one in
//!   place (`KeyDir::replace_keys`); a disk that fills up (`ENOSPC`) or
//!   any other I/O error on the way leaves the old pair where it was;
//! - **a concurrent reader never finds `private.pem` or `public.pem`
//!   missing** (the Python framework makes a new pair when either is):
//!   each name is replaced by a rename over it, private key first. Between
//!   the two renames (or after a crash there) the new private key sits
//!   beside the old public key, whose pair is complete aside; `read_keys`
//!   recognises that state and the public half is rewritten from the
//!   private key under the lock.
//!
//! Every file in the directory is opened by `open_in_dir`, the one place
//! that does it: symbolic links are not followed (`O_NOFOLLOW`, the lock
//! file included), only regular files are read (a FIFO, device or directory
//! is an error; opened non-blocking, so a FIFO cannot hang the run while it
//! holds the lock), reads are capped at `MAX_FILE`, and permissions are
//! judged on the opened file (`fstat`). vaultid never changes the mode of a
//! file it did not just create: a loose mode is reported, not mended.
//! The directory itself, when readable or writable by others or owned by
//! another user, is reported by `KeyDir::inspect`.
//!
//! Layout (compatible with the Python agent framework):
//! `{key_dir}/private.pem`, `{key_dir}/public.pem`,
//! `{key_dir}/oauth_credentials.json`, `{key_dir}/.lock`; and vaultid's
//! own `{key_dir}/hydra_token.json` (0600), the still-valid Hydra tokens
//! that `vaultid token` and `vaultid call` reuse.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::identity::KeyPair;
use crate::secret_string::SecretString;
use crate::sys;

mod token;
#[allow(unused_imports)] // parse_token_cache: for the fuzz targets
pub(crate) use token::{
    parse_token_cache, read_token_cache, update_token_cache, CachedToken, TOKEN_CACHE_FILE,
};

/// File name of the private key.
pub(crate) const PRIVATE_PEM: &str = "private.pem";
/// File name of the public key.
pub(crate) const PUBLIC_PEM: &str = "public.pem";
/// File name of the OAuth2 credentials file.
pub(crate) const CREDENTIALS_FILE: &str = "oauth_credentials.json";
/// File name of the startup lock.
pub(crate) const LOCK_FILE: &str = ".lock";

/// Largest file read from the key directory (1 MiB): a PEM key is a few
/// hundred bytes, a credentials file for thousands of agents fits easily.
pub(crate) const MAX_FILE: u64 = 1024 * 1024;

/// How [`open_in_dir`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Read an existing file.
    Read,
    /// The lock file: read-write, created `0600` when missing.
    Lock,
}

/// A file opened by [`open_in_dir`], with its `fstat`.
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

/// Open `path`, a file in the key directory: the one place that does,
/// through [`open_no_follow`].
///
/// `Ok(None)` when it does not exist. A symbolic link is never followed
/// and anything but a regular file is refused, both as
/// [`Error::InvalidKey`] (the content cannot be used; it is not an I/O
/// failure). Other failures are [`Error::Io`].
pub(crate) fn open_in_dir(path: &Path, mode: OpenMode) -> Result<Option<OpenedFile>> {
    match open_no_follow(path, mode) {
        Ok(opened) => Ok(opened),
        Err(OpenError::Link) => Err(Error::InvalidKey(format!(
            "{} is a symbolic link; vaultid does not follow links in the key directory: \
             replace it with the file itself",
            path.display()
        ))),
        Err(OpenError::NotRegular(kind)) => Err(Error::InvalidKey(format!(
            "{} is not a regular file (a {kind}); move it away",
            path.display()
        ))),
        // A read-only key directory: an existing lock file can still be
        // locked through a read-only descriptor.
        Err(OpenError::Io(e))
            if mode == OpenMode::Lock
                && matches!(
                    e.kind(),
                    ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied
                ) =>
        {
            open_in_dir(path, OpenMode::Read)
        }
        Err(OpenError::Io(e)) => Err(Error::io(format!("opening {}", path.display()), e)),
    }
}

/// Read a whole file opened by [`open_in_dir`], refusing more than `cap`
/// bytes (the file may grow while it is read).
fn read_capped(opened: OpenedFile, path: &Path, cap: u64) -> Result<Vec<u8>> {
    let too_big = || {
        Error::InvalidKey(format!(
            "{} is larger than {} KiB; not a key or credentials file",
            path.display(),
            cap / 1024
        ))
    };
    if opened.meta.len() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    opened
        .file
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if buf.len() as u64 > cap {
        crate::secret_string::zeroize_bytes(&mut buf);
        return Err(too_big());
    }
    Ok(buf)
}

/// A warning when a secret file can be read by group or others (judged on
/// the opened file). The mode is left alone: vaultid never changes the mode
/// of a file it did not just create.
fn loose_mode(path: &Path, meta: &fs::Metadata) -> Option<String> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} has mode {mode:o}: group/others can read it; run chmod 600 on it",
            path.display()
        )
    })
}

/// The local key directory.
#[derive(Debug, Clone)]
pub struct KeyDir {
    dir: PathBuf,
}

/// Held while the startup lock is taken; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: Option<File>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.unlock();
        }
    }
}

/// What [`KeyDir::read_keys`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct LocalKeys {
    /// The key pair.
    pub keys: KeyPair,
    /// Problems found on the way (a loose mode, reported and left alone) and
    /// mended (`KeyDir::restore_public`).
    pub repaired: Vec<String>,
    /// `public.pem` is missing, or holds the public key of a pair kept
    /// aside (`private.pem.aside-*`) because a replacement stopped between
    /// its two renames: the pair is complete, its public half can be
    /// rewritten from the private key (`KeyDir::restore_public`).
    pub public_missing: bool,
}

/// One entry of `oauth_credentials.json`, keyed there by DID.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredCredentials {
    /// The agent id.
    pub agent_id: String,
    /// The OAuth2 client id (the DID).
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: SecretString,
    /// When the client was registered (ISO 8601).
    pub created_at: String,
    /// Scopes granted to the client.
    pub scopes: Vec<String>,
}

impl StoredCredentials {
    /// Read an entry from its JSON object (Vault data or file entry).
    pub(crate) fn from_json(v: &Map<String, Value>) -> Result<StoredCredentials> {
        let s = |k: &str| -> Result<String> {
            match v.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(Error::Integrity(format!(
                    "credentials entry lacks a non-empty string field {k:?}"
                ))),
            }
        };
        let scopes = match v.get("scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_string).ok_or_else(|| {
                        Error::Integrity("credentials entry: scopes must be strings".into())
                    })
                })
                .collect::<Result<_>>()?,
            // Tolerate the space-separated form.
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(_) => {
                return Err(Error::Integrity(
                    "credentials entry: scopes must be a list of strings".into(),
                ))
            }
        };
        Ok(StoredCredentials {
            agent_id: s("agent_id")?,
            client_id: s("client_id")?,
            client_secret: SecretString::new(s("client_secret")?),
            created_at: v
                .get("created_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            scopes,
        })
    }

    /// The JSON object written to the file and to Vault.
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("agent_id".into(), self.agent_id.clone().into());
        m.insert("client_id".into(), self.client_id.clone().into());
        m.insert(
            "client_secret".into(),
            self.client_secret.expose().to_string().into(),
        );
        m.insert("created_at".into(), self.created_at.clone().into());
        m.insert(
            "scopes".into(),
            Value::Array(self.scopes.iter().cloned().map(Value::String).collect()),
        );
        m
    }
}

/// Parse the bytes of `oauth_credentials.json`: a JSON object keyed by DID.
/// Entries are kept as raw JSON so that entries of other agents survive a
/// rewrite untouched.
pub(crate) fn parse_credentials_file(bytes: &[u8]) -> Result<BTreeMap<String, Value>> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Integrity(format!("{CREDENTIALS_FILE} is not valid JSON ({e})")))?;
    match v {
        Value::Object(m) => Ok(m.into_iter().collect()),
        _ => Err(Error::Integrity(format!(
            "{CREDENTIALS_FILE} must hold a JSON object keyed by DID"
        ))),
    }
}

/// The entries of `oauth_credentials.json`, keyed by DID, as raw JSON.
pub(crate) type CredentialsMap = BTreeMap<String, Value>;

/// A UTC timestamp usable in file names: `20261122T043342Z`.
pub(crate) fn file_timestamp(t: SystemTime) -> String {
    crate::util::time::file_timestamp(t)
}

impl KeyDir {
    /// A key directory at `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> KeyDir {
        KeyDir { dir: dir.into() }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Path of a file inside the directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Create the directory (and parents) with mode `0700` if it does not
    /// exist. An existing directory is left as it is (see
    /// [`KeyDir::inspect`]).
    pub(crate) fn ensure_dir(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Error::io(format!("creating key directory {}", self.dir.display()), e))
    }

    /// What is wrong with the directory itself, one line each: owned by
    /// another user (who can replace the key), writable by group or others
    /// (anyone can replace the key), readable by group or others. Its mode
    /// and owner are left alone: it is the user's directory.
    pub(crate) fn inspect(&self) -> Vec<String> {
        let Ok(md) = fs::metadata(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mode = md.permissions().mode() & 0o7777;
        let (owner, me) = (md.uid(), sys::euid());
        if owner != me && owner != 0 {
            out.push(format!(
                "key directory {} is owned by uid {owner}, not by this user (uid {me}): \
                 that user can replace the agent's key",
                self.dir.display()
            ));
        }
        if mode & 0o022 != 0 {
            out.push(format!(
                "key directory {} has mode {:o}: group/others can replace the agent's key; run chmod 700 on it",
                self.dir.display(),
                mode & 0o777
            ));
        } else if mode & 0o077 != 0 {
            out.push(format!(
                "key directory {} has mode {:o}: group/others can list it; consider chmod 700",
                self.dir.display(),
                mode & 0o777
            ));
        }
        out
    }

    /// Take the exclusive startup lock on `{key_dir}/.lock`, waiting at most
    /// `timeout`. Creates the directory first. One process per host runs the
    /// startup flow at a time; the lock is released when the guard drops or
    /// the process dies.
    ///
    /// `.lock` is opened like every other file (`open_in_dir`): a symbolic
    /// link or a non-regular file is refused. In a read-only directory an
    /// existing lock file is locked read-only; without one the run goes on
    /// unlocked, since nobody can write there anyway.
    pub(crate) fn lock(&self, timeout: Duration) -> Result<LockGuard> {
        self.ensure_dir()?;
        let path = self.file(LOCK_FILE);
        let file = match open_in_dir(&path, OpenMode::Lock) {
            Ok(Some(f)) => f.file,
            Ok(None) => {
                log::debug!(
                    "{} cannot be created (read-only directory); going on without the lock",
                    path.display()
                );
                return Ok(LockGuard { file: None });
            }
            Err(Error::InvalidKey(m)) => return Err(Error::Config(format!("lock file: {m}"))),
            Err(e) => return Err(e),
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { file: Some(file) }),
                Err(fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= timeout {
                        return Err(Error::LockTimeout {
                            path,
                            waited: start.elapsed(),
                        });
                    }
                    std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", path.display()), e))
                }
            }
        }
    }

    /// Remove temporary files a killed writer left behind
    /// ([`remove_stale_temp_files`] for the key pair and the credentials
    /// file). Call it while holding the lock. Returns how many were removed.
    pub(crate) fn remove_stale_temp_files(&self) -> Result<usize> {
        remove_stale_temp_files(
            &self.dir,
            &[PRIVATE_PEM, PUBLIC_PEM, CREDENTIALS_FILE, TOKEN_CACHE_FILE],
        )
    }

    /// Read and validate the local key pair. Writes nothing.
    ///
    /// `Ok(None)` when there is no `private.pem` (a stray `public.pem` alone
    /// is not a key). A `public.pem` that does not match the private key is
    /// an [`Error::Integrity`], unless it is the public key of a pair kept
    /// aside (what a replacement stopped between its two renames leaves);
    /// that one and a missing one are flagged
    /// (`LocalKeys::public_missing`) for `KeyDir::restore_public`; a
    /// private key readable by group or others is reported. A link, a
    /// non-regular file or unreadable content is [`Error::InvalidKey`]; an
    /// I/O failure stays [`Error::Io`] (the key may be fine).
    pub fn read_keys(&self) -> Result<Option<LocalKeys>> {
        let priv_path = self.file(PRIVATE_PEM);
        let mut repaired = Vec::new();
        let Some(opened) = open_in_dir(&priv_path, OpenMode::Read)? else {
            return Ok(None);
        };
        if let Some(w) = loose_mode(&priv_path, &opened.meta) {
            log::warn!("{w}");
            repaired.push(w);
        }
        let private = text(read_capped(opened, &priv_path, MAX_FILE)?, &priv_path)?;
        let pub_path = self.file(PUBLIC_PEM);
        let public = match open_in_dir(&pub_path, OpenMode::Read)? {
            Some(opened) => Some(text(read_capped(opened, &pub_path, MAX_FILE)?, &pub_path)?),
            None => None,
        };
        let (keys, public_missing) = match public {
            Some(public) => match KeyPair::from_pems(private.expose(), public.expose()) {
                Ok(keys) => (keys, false),
                Err(Error::Integrity(m)) => match self.left_by_replacement(&private, &public)? {
                    // The old public half of a pair kept aside: a
                    // replacement stopped between its two renames.
                    Some(keys) => (keys, true),
                    None => {
                        return Err(Error::Integrity(format!(
                            "{} and {} do not belong together: {m}",
                            priv_path.display(),
                            pub_path.display()
                        )))
                    }
                },
                Err(Error::InvalidKey(m)) => {
                    return Err(Error::InvalidKey(format!(
                        "{} / {}: {m}",
                        priv_path.display(),
                        pub_path.display()
                    )))
                }
                Err(other) => return Err(other),
            },
            None => (
                KeyPair::from_pem(private.expose()).map_err(|e| match e {
                    Error::InvalidKey(m) => {
                        Error::InvalidKey(format!("{}: {m}", priv_path.display()))
                    }
                    other => other,
                })?,
                true,
            ),
        };
        Ok(Some(LocalKeys {
            keys,
            repaired,
            public_missing,
        }))
    }

    /// `private.pem` holds a key that `public.pem` does not belong to:
    /// is that `public.pem` the public half of a pair kept aside (a
    /// `private.pem.aside-*` it belongs to)? That is what a replacement
    /// leaves when it stops between renaming the new `private.pem` in and
    /// the new `public.pem` ([`KeyDir::replace_keys`]): the private key is
    /// then the current one, the old pair is complete aside, and rewriting
    /// `public.pem` from the private key loses nothing. The private key's
    /// pair when so; `None` when the mismatch has no such explanation.
    fn left_by_replacement(
        &self,
        private: &SecretString,
        public: &SecretString,
    ) -> Result<Option<KeyPair>> {
        let (Ok(keys), Ok(stale)) = (
            KeyPair::from_pem(private.expose()),
            crate::identity::PublicKey::from_pem(public.expose()),
        ) else {
            return Ok(None);
        };
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("listing {}", self.dir.display()), e))?;
        let prefix = format!("{PRIVATE_PEM}.aside-");
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let path = entry.path();
            // An aside file that cannot be read as a key explains nothing.
            let Ok(Some(opened)) = open_in_dir(&path, OpenMode::Read) else {
                continue;
            };
            let Ok(buf) = read_capped(opened, &path, MAX_FILE) else {
                continue;
            };
            let Ok(pem) = text(buf, &path) else {
                continue;
            };
            if KeyPair::from_pem(pem.expose()).is_ok_and(|old| old.public() == stale) {
                return Ok(Some(keys));
            }
        }
        Ok(None)
    }

    /// Rewrite a missing `public.pem` (or one left by an interrupted
    /// replacement, whose pair is kept aside) from `keys`, under the lock,
    /// which `_lock` proves is held. A failure (a full disk, a read-only
    /// directory) is returned as a warning: the pair is complete without
    /// it and nothing else is touched.
    pub(crate) fn restore_public(&self, keys: &KeyPair, _lock: &LockGuard) -> String {
        let pub_path = self.file(PUBLIC_PEM);
        let was = if fs::symlink_metadata(&pub_path).is_ok() {
            "held the public key of the pair kept aside by an interrupted replacement"
        } else {
            "was missing"
        };
        match write_atomic(&pub_path, keys.public_pem().as_bytes(), 0o644) {
            Ok(()) => format!(
                "{} {was}; rewritten from the private key",
                pub_path.display()
            ),
            Err(e) => format!(
                "{} is missing and could not be rewritten from the private key ({e}); \
                 the private key is complete and in use",
                pub_path.display()
            ),
        }
    }

    /// [`KeyDir::read_keys`] for commands that only use the key (`show`,
    /// `sign`): a missing `public.pem` is restored under the lock, waiting
    /// at most `lock_timeout` for it. A pair that does not match is read
    /// again under the lock: a replacement running in another process
    /// (which holds the lock) may have been caught between its two renames.
    #[cfg(feature = "cli")]
    pub(crate) fn read_keys_locked_repair(
        &self,
        lock_timeout: Duration,
    ) -> Result<Option<LocalKeys>> {
        match self.read_keys() {
            Ok(Some(l)) if !l.public_missing => return Ok(Some(l)),
            Ok(None) => return Ok(None),
            Ok(Some(_)) | Err(Error::Integrity(_)) => {}
            Err(e) => return Err(e),
        }
        let lock = self.lock(lock_timeout)?;
        // Read again: another process may have replaced the pair meanwhile.
        let Some(mut l) = self.read_keys()? else {
            return Ok(None);
        };
        if l.public_missing {
            let note = self.restore_public(&l.keys, &lock);
            log::info!("{note}");
            l.repaired.push(note);
        }
        Ok(Some(l))
    }

    /// Write the key pair into the directory, creating it if needed; a pair
    /// already there is kept aside, as [`KeyDir::replace_keys`] does.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn write_keys(&self, keys: &KeyPair) -> Result<()> {
        self.replace_keys(keys).map(|_| ())
    }

    /// Put `keys` in place of the current pair, keeping the current files
    /// aside as `{name}.aside-<UTC timestamp>`; returns the aside paths.
    ///
    /// The order, so that a reader never finds a name missing and every
    /// failure (a full disk included) or crash leaves a complete pair:
    ///
    /// 1. the new pair is written to temporary files and fsynced
    ///    ([`SwapStep::Written`]);
    /// 2. the current files are hard-linked aside (copied when the file
    ///    system refuses the link; a directory or other non-file is renamed
    ///    aside) and the directory is fsynced ([`SwapStep::KeptAside`]):
    ///    from here the old pair is complete under its aside names;
    /// 3. the new `private.pem` is renamed over the old one
    ///    ([`SwapStep::PrivateIn`]);
    /// 4. the new `public.pem` is renamed over the old one
    ///    ([`SwapStep::PublicIn`]);
    /// 5. the directory is fsynced.
    ///
    /// Each rename replaces a name in one step, so `private.pem` and
    /// `public.pem` exist at every instant (when they existed before).
    /// Between 3 and 4 (two system calls, or for good when the process dies
    /// there) the new private key sits beside the old public key: a
    /// [`KeyDir::read_keys`] then recognises the old public half by its
    /// copy aside and rewrites it from the private key, which is
    /// authoritative, as it does for a missing one.
    pub(crate) fn replace_keys(&self, keys: &KeyPair) -> Result<Vec<PathBuf>> {
        self.ensure_dir()?;
        let private = keys.private_pem();
        let tmp_priv = write_temp(&self.file(PRIVATE_PEM), private.expose().as_bytes(), 0o600)?;
        let tmp_pub = match write_temp(&self.file(PUBLIC_PEM), keys.public_pem().as_bytes(), 0o644)
        {
            Ok(t) => t,
            Err(e) => {
                let _ = fs::remove_file(&tmp_priv);
                return Err(e);
            }
        };
        fault::at(SwapStep::Written);
        let result = self.swap_in(&tmp_priv, &tmp_pub);
        let _ = fs::remove_file(&tmp_priv);
        let _ = fs::remove_file(&tmp_pub);
        result
    }

    fn swap_in(&self, tmp_priv: &Path, tmp_pub: &Path) -> Result<Vec<PathBuf>> {
        let stamp = file_timestamp(SystemTime::now());
        let mut aside = Vec::new();
        for name in [PRIVATE_PEM, PUBLIC_PEM] {
            let from = self.file(name);
            let Ok(md) = fs::symlink_metadata(&from) else {
                continue;
            };
            let to = self.aside_name(name, &stamp);
            // A second name for the same file (for a link, the link
            // itself, never its target), so the name stays in place; where
            // the file system refuses it, a copy of a regular file. A
            // directory (which a rename cannot replace) and any other
            // non-file that cannot be linked hold no key: renamed aside.
            let kept = if md.file_type().is_dir() {
                fs::rename(&from, &to)
            } else {
                fs::hard_link(&from, &to).or_else(|e| {
                    if md.file_type().is_file() {
                        let mode = if name == PRIVATE_PEM { 0o600 } else { 0o644 };
                        copy_aside(&from, &to, mode).map_err(|_| e)
                    } else {
                        fs::rename(&from, &to)
                    }
                })
            };
            kept.map_err(|e| {
                Error::io(
                    format!("keeping {} aside as {}", from.display(), to.display()),
                    e,
                )
            })?;
            aside.push(to);
        }
        if !aside.is_empty() {
            sync_dir(&self.dir)?;
        }
        fault::at(SwapStep::KeptAside);
        let priv_path = self.file(PRIVATE_PEM);
        fs::rename(tmp_priv, &priv_path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp_priv.display(), priv_path.display()),
                e,
            )
        })?;
        fault::at(SwapStep::PrivateIn);
        // From here the new private key is in place. A failure leaves the
        // old public.pem beside it, whose pair is complete aside:
        // read_keys recognises it and it is rewritten from the private key.
        let pub_path = self.file(PUBLIC_PEM);
        fs::rename(tmp_pub, &pub_path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp_pub.display(), pub_path.display()),
                e,
            )
        })?;
        fault::at(SwapStep::PublicIn);
        sync_dir(&self.dir)?;
        Ok(aside)
    }

    /// A free `{name}.aside-{stamp}[-n]` path.
    fn aside_name(&self, name: &str, stamp: &str) -> PathBuf {
        let mut to = self.file(&format!("{name}.aside-{stamp}"));
        let mut n = 1;
        while fs::symlink_metadata(&to).is_ok() {
            to = self.file(&format!("{name}.aside-{stamp}-{n}"));
            n += 1;
        }
        to
    }

    /// Rename the current key files aside as `private.pem.aside-<UTC
    /// timestamp>` (and the same for `public.pem`), never deleting them.
    /// Returns the new paths. Does nothing for files that do not exist.
    #[cfg(test)]
    pub(crate) fn set_keys_aside(&self) -> Result<Vec<PathBuf>> {
        let stamp = file_timestamp(SystemTime::now());
        let mut moved = Vec::new();
        for name in [PRIVATE_PEM, PUBLIC_PEM] {
            let from = self.file(name);
            if fs::symlink_metadata(&from).is_err() {
                continue;
            }
            let to = self.aside_name(name, &stamp);
            fs::rename(&from, &to).map_err(|e| {
                Error::io(
                    format!("moving {} aside to {}", from.display(), to.display()),
                    e,
                )
            })?;
            moved.push(to);
        }
        if !moved.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(moved)
    }

    /// Read `oauth_credentials.json`: `Ok(None)` when absent. A corrupt file
    /// is an [`Error::Integrity`]; [`KeyDir::write_credentials`] sets it
    /// aside before writing a new one.
    pub(crate) fn read_credentials_file(&self) -> Result<Option<BTreeMap<String, Value>>> {
        Ok(self.read_credentials_checked()?.map(|(all, _)| all))
    }

    /// Like [`KeyDir::read_credentials_file`], with a warning when the file
    /// can be read by group or others.
    pub(crate) fn read_credentials_checked(
        &self,
    ) -> Result<Option<(CredentialsMap, Option<String>)>> {
        let path = self.file(CREDENTIALS_FILE);
        let Some(opened) = open_in_dir(&path, OpenMode::Read).map_err(|e| match e {
            Error::InvalidKey(m) => Error::Integrity(m),
            other => other,
        })?
        else {
            return Ok(None);
        };
        let loose = loose_mode(&path, &opened.meta);
        let bytes = read_capped(opened, &path, MAX_FILE).map_err(|e| match e {
            Error::InvalidKey(m) => Error::Integrity(m),
            other => other,
        })?;
        let secret = SecretString::new(String::from_utf8_lossy(&bytes).into_owned());
        let mut bytes = bytes;
        crate::secret_string::zeroize_bytes(&mut bytes);
        let all = parse_credentials_file(secret.expose().as_bytes()).map_err(|e| match e {
            Error::Integrity(m) => Error::Integrity(format!("{}: {m}", path.display())),
            other => other,
        })?;
        Ok(Some((all, loose)))
    }

    /// The entry for `did` in `oauth_credentials.json`, if present and valid.
    pub fn read_credentials(&self, did: &str) -> Result<Option<StoredCredentials>> {
        let Some(all) = self.read_credentials_file()? else {
            return Ok(None);
        };
        match all.get(did) {
            Some(Value::Object(m)) => StoredCredentials::from_json(m).map(Some),
            Some(_) => Err(Error::Integrity(format!(
                "{}: entry for {did} is not an object",
                self.file(CREDENTIALS_FILE).display()
            ))),
            None => Ok(None),
        }
    }

    /// Set the entry for `did` in `oauth_credentials.json` (0600), keeping
    /// every other entry. A corrupt existing file (or a link, or not a
    /// regular file) is kept aside as `oauth_credentials.json.aside-<UTC
    /// timestamp>`, never dropped, and a new file holding this entry is
    /// written. Returns a warning when that happened.
    pub(crate) fn write_credentials(
        &self,
        did: &str,
        creds: &StoredCredentials,
    ) -> Result<Option<String>> {
        self.ensure_dir()?;
        let path = self.file(CREDENTIALS_FILE);
        let (mut all, warning) = match self.read_credentials_checked() {
            // A loose mode goes away with the rewrite (a new 0600 file).
            Ok(Some((all, _))) => (all, None),
            Ok(None) => (BTreeMap::new(), None),
            Err(Error::Integrity(m)) => {
                let to = self.aside_name(CREDENTIALS_FILE, &file_timestamp(SystemTime::now()));
                fs::rename(&path, &to).map_err(|e| {
                    Error::io(
                        format!("moving {} aside to {}", path.display(), to.display()),
                        e,
                    )
                })?;
                (
                    BTreeMap::new(),
                    Some(format!(
                        "{m}; kept aside as {} and replaced with a new file holding this agent's entry \
                         (other agents' entries, if any, are in the file kept aside)",
                        to.display()
                    )),
                )
            }
            Err(e) => return Err(e),
        };
        all.insert(did.to_string(), Value::Object(creds.to_json()));
        let map: Map<String, Value> = all.into_iter().collect();
        let mut text = serde_json::to_string_pretty(&Value::Object(map))
            .map_err(|e| Error::Integrity(format!("encoding credentials: {e}")))?;
        text.push('\n');
        let secret = SecretString::new(text);
        write_atomic(&path, secret.expose().as_bytes(), 0o600)?;
        if let Some(w) = &warning {
            log::warn!("{w}");
        }
        Ok(warning)
    }
}

/// Bytes read from a key file as text.
fn text(buf: Vec<u8>, path: &Path) -> Result<SecretString> {
    match String::from_utf8(buf) {
        Ok(s) => Ok(SecretString::new(s)),
        Err(e) => {
            let mut b = e.into_bytes();
            crate::secret_string::zeroize_bytes(&mut b);
            Err(Error::InvalidKey(format!(
                "{} is not UTF-8 text (expected PEM or JSON)",
                path.display()
            )))
        }
    }
}

/// Write `bytes` to a new temporary file beside `path`
/// (`.{name}.tmp-{pid}-{nanos}`), created with `mode`, fsynced. Removed
/// again on failure. [`rename_in`] puts it in place.
pub(crate) fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf> {
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
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(sys::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
            Error::io(
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
pub(crate) fn remove_stale_temp_files(dir: &Path, names: &[&str]) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
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

/// Copy the regular file `from` to the new name `to` (created with
/// `mode`, fsynced), for a file system without hard links. `from` is
/// opened without following links and read capped, as every file here.
fn copy_aside(from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
    let io = |e: Error| match e {
        Error::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    };
    let opened = open_in_dir(from, OpenMode::Read)
        .map_err(io)?
        .ok_or_else(|| std::io::Error::from(ErrorKind::NotFound))?;
    let mut buf = read_capped(opened, from, MAX_FILE).map_err(io)?;
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(sys::O_NOFOLLOW)
            .open(to)?;
        f.write_all(&buf)?;
        f.sync_all()
    })();
    crate::secret_string::zeroize_bytes(&mut buf);
    result
}

/// The points of [`KeyDir::replace_keys`] a crash can fall between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwapStep {
    /// The new pair is in temporary files, fsynced.
    Written,
    /// The current files have their aside names too, fsynced.
    KeptAside,
    /// The new `private.pem` is in place beside the old `public.pem`.
    PrivateIn,
    /// The new `public.pem` is in place too; the directory is not fsynced
    /// yet.
    PublicIn,
}

#[cfg(feature = "fuzzing")]
impl SwapStep {
    /// The step's name, as `VAULTID_FAULT_KILL_AT` gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SwapStep::Written => "written",
            SwapStep::KeptAside => "kept-aside",
            SwapStep::PrivateIn => "private-in",
            SwapStep::PublicIn => "public-in",
        }
    }
}

/// Fault injection for the crash tests: with the `fuzzing` feature (which
/// the crate's own tests turn on, never a release build),
/// `VAULTID_FAULT_KILL_AT=STEP` makes the process `SIGKILL` itself at that
/// step of a key replacement. Without the feature it compiles to nothing.
mod fault {
    use super::SwapStep;

    #[cfg(feature = "fuzzing")]
    pub(super) fn at(step: SwapStep) {
        if std::env::var_os("VAULTID_FAULT_KILL_AT").is_some_and(|v| v == step.name()) {
            crate::sys::kill_self(crate::sys::SIGKILL);
            // Nothing of this process runs on once the signal lands.
            loop {
                std::thread::park();
            }
        }
    }

    #[cfg(not(feature = "fuzzing"))]
    #[inline(always)]
    pub(super) fn at(_step: SwapStep) {}
}

/// Replace `path` atomically with `bytes`: a temporary file created in the
/// same directory with `mode` from the start, written, fsynced, renamed over
/// `path`, then the directory fsynced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = write_temp(path, bytes, mode)?;
    rename_in(&tmp, path)
}

/// Rename `tmp` (from [`write_temp`]) over `path`, then fsync the
/// directory, so the rename is on disk before anything that follows;
/// `tmp` is removed when that fails.
pub(crate) fn rename_in(tmp: &Path, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let result = fs::rename(tmp, path)
        .map_err(|e| {
            Error::io(
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

fn sync_dir(dir: &Path) -> Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", d.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "vaultid-cache-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        p
    }

    #[test]
    fn timestamps() {
        assert_eq!(file_timestamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_322_022);
        assert_eq!(file_timestamp(t), "20261122T043342Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(file_timestamp(t), "20000229T000000Z");
    }

    #[test]
    fn modes_and_roundtrip() {
        let d = KeyDir::new(tmpdir("modes").join("nested"));
        assert!(d.read_keys().unwrap().is_none());
        let kp = KeyPair::generate();
        d.write_keys(&kp).unwrap();
        let mode = |n: &str| fs::metadata(d.file(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(PRIVATE_PEM), 0o600);
        assert_eq!(mode(PUBLIC_PEM), 0o644);
        assert_eq!(
            fs::metadata(d.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let back = d.read_keys().unwrap().unwrap();
        assert_eq!(back.keys.public().base58(), kp.public().base58());
        assert!(back.repaired.is_empty());
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        fs::remove_dir_all(d.path().parent().unwrap()).unwrap();
    }

    #[test]
    fn loose_private_key_is_reported_not_chmodded_and_missing_public_restored() {
        let d = KeyDir::new(tmpdir("loose"));
        let kp = KeyPair::generate();
        d.write_keys(&kp).unwrap();
        fs::set_permissions(d.file(PRIVATE_PEM), fs::Permissions::from_mode(0o644)).unwrap();
        fs::remove_file(d.file(PUBLIC_PEM)).unwrap();
        let back = d.read_keys().unwrap().unwrap();
        assert_eq!(back.repaired.len(), 1, "{:?}", back.repaired);
        assert!(back.repaired[0].contains("mode 644"), "{:?}", back.repaired);
        assert!(back.public_missing);
        // Reading writes nothing and changes no mode.
        assert!(!d.file(PUBLIC_PEM).exists());
        let mode = |n: &str| fs::metadata(d.file(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(PRIVATE_PEM), 0o644);
        let lock = d.lock(Duration::from_secs(1)).unwrap();
        assert!(d.restore_public(&back.keys, &lock).contains("rewritten"));
        assert_eq!(
            fs::read_to_string(d.file(PUBLIC_PEM)).unwrap(),
            kp.public_pem()
        );
        drop(lock);
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn links_and_special_files_are_refused_and_never_followed() {
        let d = KeyDir::new(tmpdir("links"));
        d.ensure_dir().unwrap();
        // A private.pem that is a link to a loose file elsewhere.
        let outside = tmpdir("links-target");
        fs::create_dir_all(&outside).unwrap();
        let target = outside.join("victim.pem");
        let kp = KeyPair::generate();
        fs::write(&target, kp.private_pem().expose()).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&target, d.file(PRIVATE_PEM)).unwrap();
        let e = d.read_keys().unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o644,
            "the link's target was touched"
        );
        // Replacing keeps the link aside (as a link) and leaves the target alone.
        let aside = d.replace_keys(&KeyPair::generate()).unwrap();
        assert_eq!(aside.len(), 1);
        assert!(fs::symlink_metadata(&aside[0])
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            kp.private_pem().expose()
        );
        // A link as .lock is refused, and nothing is created at its target.
        let lock_target = outside.join("created-by-lock");
        std::os::unix::fs::symlink(&lock_target, d.file(LOCK_FILE)).unwrap();
        let e = d.lock(Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(!lock_target.exists());
        fs::remove_file(d.file(LOCK_FILE)).unwrap();
        // A directory as public.pem.
        fs::remove_file(d.file(PUBLIC_PEM)).unwrap();
        fs::create_dir(d.file(PUBLIC_PEM)).unwrap();
        let e = d.read_keys().unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        fs::remove_dir_all(d.path()).unwrap();
        fs::remove_dir_all(outside).unwrap();
    }

    #[test]
    fn a_fifo_does_not_hang_and_big_files_are_refused() {
        let d = KeyDir::new(tmpdir("fifo"));
        d.ensure_dir().unwrap();
        let st = std::process::Command::new("mkfifo")
            .arg(d.file(PRIVATE_PEM))
            .status()
            .unwrap();
        assert!(st.success());
        let t = Instant::now();
        let e = d.read_keys().unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
        fs::remove_file(d.file(PRIVATE_PEM)).unwrap();
        let f = File::create(d.file(PRIVATE_PEM)).unwrap();
        f.set_len(MAX_FILE + 1).unwrap();
        let e = d.read_keys().unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        fs::remove_dir_all(d.path()).unwrap();
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

    #[test]
    fn replace_keeps_the_old_pair_aside_and_puts_the_new_one_in_place() {
        let d = KeyDir::new(tmpdir("replace"));
        let old = KeyPair::generate();
        d.write_keys(&old).unwrap();
        let new = KeyPair::generate();
        let aside = d.replace_keys(&new).unwrap();
        assert_eq!(aside.len(), 2);
        assert_eq!(
            fs::read_to_string(&aside[0]).unwrap(),
            old.private_pem().expose()
        );
        let back = d.read_keys().unwrap().unwrap();
        assert_eq!(back.keys.public(), new.public());
        assert_eq!(
            fs::metadata(d.file(PRIVATE_PEM))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        fs::remove_dir_all(d.path()).unwrap();
    }

    /// The state a replacement leaves when it stops between its two
    /// renames: the new private key beside the old public key, the old
    /// pair linked aside.
    fn stopped_between_renames(d: &KeyDir, old: &KeyPair, new: &KeyPair) {
        d.write_keys(old).unwrap();
        for name in [PRIVATE_PEM, PUBLIC_PEM] {
            fs::hard_link(
                d.file(name),
                d.file(&format!("{name}.aside-20260101T000000Z")),
            )
            .unwrap();
        }
        write_atomic(
            &d.file(PRIVATE_PEM),
            new.private_pem().expose().as_bytes(),
            0o600,
        )
        .unwrap();
    }

    #[test]
    fn a_replacement_stopped_between_its_renames_is_recognised_and_repaired() {
        let d = KeyDir::new(tmpdir("stopped"));
        let (old, new) = (KeyPair::generate(), KeyPair::generate());
        stopped_between_renames(&d, &old, &new);
        let l = d.read_keys().unwrap().unwrap();
        assert_eq!(
            l.keys.public(),
            new.public(),
            "the private key is the current one"
        );
        assert!(l.public_missing, "the old public.pem is to be rewritten");
        let lock = d.lock(Duration::from_secs(1)).unwrap();
        let note = d.restore_public(&l.keys, &lock);
        assert!(note.contains("interrupted replacement"), "{note}");
        drop(lock);
        let l = d.read_keys().unwrap().unwrap();
        assert!(!l.public_missing);
        assert_eq!(l.keys.public(), new.public());
        // The old pair is still complete aside.
        let aside = fs::read_to_string(d.file("private.pem.aside-20260101T000000Z")).unwrap();
        assert_eq!(KeyPair::from_pem(&aside).unwrap().public(), old.public());
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn a_mismatch_no_pair_aside_explains_stays_an_integrity_error() {
        let d = KeyDir::new(tmpdir("unexplained"));
        let (old, new) = (KeyPair::generate(), KeyPair::generate());
        stopped_between_renames(&d, &old, &new);
        // The aside private key no longer pairs with public.pem.
        fs::write(
            d.file("private.pem.aside-20260101T000000Z"),
            KeyPair::generate().private_pem().expose(),
        )
        .unwrap();
        let e = d.read_keys().unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        // The command's reader retries under the lock, then reports it.
        let e = d
            .read_keys_locked_repair(Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn mismatched_pair_is_integrity_error() {
        let d = KeyDir::new(tmpdir("mismatch"));
        d.write_keys(&KeyPair::generate()).unwrap();
        let other = KeyPair::generate();
        fs::write(d.file(PUBLIC_PEM), other.public_pem()).unwrap();
        let e = d.read_keys().unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn set_aside_keeps_files() {
        let d = KeyDir::new(tmpdir("aside"));
        let kp = KeyPair::generate();
        d.write_keys(&kp).unwrap();
        let moved = d.set_keys_aside().unwrap();
        assert_eq!(moved.len(), 2);
        assert!(d.read_keys().unwrap().is_none());
        let text = fs::read_to_string(&moved[0]).unwrap();
        assert_eq!(text, kp.private_pem().expose());
        // A second set-aside in the same second does not overwrite the first.
        d.write_keys(&KeyPair::generate()).unwrap();
        let moved2 = d.set_keys_aside().unwrap();
        assert_ne!(moved[0], moved2[0]);
        assert!(moved[0].exists() && moved2[0].exists());
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn lock_times_out_while_held() {
        let d = KeyDir::new(tmpdir("lock"));
        let g = d.lock(Duration::from_secs(1)).unwrap();
        // A second open file description cannot take it.
        let t = Instant::now();
        let e = d.lock(Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(g);
        d.lock(Duration::from_millis(200)).unwrap();
        fs::remove_dir_all(d.path()).unwrap();
    }

    fn creds(secret: &str) -> StoredCredentials {
        StoredCredentials {
            agent_id: "a".into(),
            client_id: "did:bindu:x:y:a".into(),
            client_secret: SecretString::new(secret),
            created_at: "2026-01-01T00:00:00+00:00".into(),
            scopes: vec!["openid".into()],
        }
    }

    #[test]
    fn credentials_file_keeps_other_entries() {
        let d = KeyDir::new(tmpdir("creds"));
        d.ensure_dir().unwrap();
        fs::write(
            d.file(CREDENTIALS_FILE),
            r#"{"did:other":{"agent_id":"o","client_id":"did:other","client_secret":"s","created_at":"","scopes":[]}}"#,
        )
        .unwrap();
        assert!(d
            .write_credentials("did:me", &creds("s3cr3t"))
            .unwrap()
            .is_none());
        let all = d.read_credentials_file().unwrap().unwrap();
        assert!(all.contains_key("did:other") && all.contains_key("did:me"));
        assert_eq!(
            d.read_credentials("did:me").unwrap().unwrap(),
            creds("s3cr3t")
        );
        assert_eq!(
            fs::metadata(d.file(CREDENTIALS_FILE))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn corrupt_credentials_file_is_set_aside_not_dropped() {
        let d = KeyDir::new(tmpdir("corrupt"));
        d.ensure_dir().unwrap();
        let corrupt = r#"{"did:other":{"agent_id":"o","client_secret":"keep-me" "#;
        fs::write(d.file(CREDENTIALS_FILE), corrupt).unwrap();
        assert!(d.read_credentials("did:me").is_err());
        let w = d.write_credentials("did:me", &creds("x")).unwrap().unwrap();
        assert!(
            w.contains("not valid JSON") && w.contains("kept aside"),
            "{w}"
        );
        assert_eq!(d.read_credentials("did:me").unwrap().unwrap(), creds("x"));
        let aside: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".aside-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(fs::read_to_string(&aside[0]).unwrap(), corrupt);
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn loose_credentials_file_is_reported() {
        let d = KeyDir::new(tmpdir("loose-creds"));
        d.ensure_dir().unwrap();
        d.write_credentials("did:me", &creds("x")).unwrap();
        fs::set_permissions(d.file(CREDENTIALS_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let (_, loose) = d.read_credentials_checked().unwrap().unwrap();
        assert!(loose.unwrap().contains("mode 644"));
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn open_key_dir_is_reported() {
        let d = KeyDir::new(tmpdir("opendir"));
        d.ensure_dir().unwrap();
        assert!(d.inspect().is_empty());
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let w = d.inspect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("mode 777") && w[0].contains("replace"),
            "{w:?}"
        );
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn credentials_parser_rejects_non_objects() {
        for bad in [&b"[]"[..], b"1", b"", b"\xff"] {
            assert!(parse_credentials_file(bad).is_err());
        }
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"agent_id":"a","client_id":"c"}"#).unwrap();
        let e = StoredCredentials::from_json(&m).unwrap_err().to_string();
        assert!(e.contains("client_secret"), "{e}");
    }
}
